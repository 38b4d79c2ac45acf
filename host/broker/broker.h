/*
 * broker.h - egress: the only way out of the host to the network for
 * plugins (through the egress service, host/services/egress_service.h)
 * and, later, for the host's own outgoing requests. The broker knows
 * nothing of plugins: a caller hands it a request, the client it is made
 * for and a sink for its answer.
 *
 * A request {method, url, headers: ["Name: value"], body | body_b64,
 * timeout_ms, idle_timeout_ms, flags} is validated, checked against the
 * client's allowlist (policy.h), run on libcurl's multi interface driven
 * by the host's loop (driver.h), retried and guarded by per-host circuit
 * breakers (resilience.h), logged and measured (egress_log.h), and
 * answered once with {status, headers: {lower-case name: value}, body |
 * body_b64, retries, redirects, error?: {errno, code, message}}. With
 * AH_HTTP_STREAM, a 2xx body goes to the sink's partial() as chunks
 * {data | data_b64} as it arrives, and the answer carries no body.
 *
 * Mail goes the same way (mail.h, docs/adr/0034): a request whose URL is
 * smtp(s):// sends a message (method "SEND", headers Mail-From and
 * Rcpt-To, the message as body), one whose URL is imap(s):// fetches by
 * UID or runs an IMAP command (the method); credentials only in an
 * "Authorization: Basic" header. Its answer is {status: SMTP reply code
 * or 0, headers: {}, body: the message or the server's untagged answers,
 * retries, redirects: 0, error?}; a server's refusal is error code
 * "rejected". An optional "kind" must agree with the URL's scheme.
 */
#ifndef AH_BROKER_H
#define AH_BROKER_H

#include "core/loop.h"
#include "policy.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct broker broker;

typedef struct broker_opts {
    uint32_t connect_timeout_ms; /* per connection attempt */
    uint32_t timeout_ms;         /* total, when the request gives none */
    uint32_t max_timeout_ms;     /* cap on what a request may ask for */
    uint32_t idle_timeout_ms;    /* streams: longest silence */
    size_t max_request_bytes;    /* request body */
    size_t max_response_bytes;   /* buffered (non-streamed) body */
    size_t max_stream_bytes;     /* a whole streamed body */
    size_t max_header_bytes;     /* response headers */
    uint32_t max_in_flight;      /* the whole host (file descriptors) */
    uint32_t max_retries;        /* 0: none */
    uint32_t retry_base_ms, retry_max_ms;
    uint32_t max_retry_after_ms; /* a longer Retry-After is not waited for (0: none is) */
    uint32_t breaker_failures;   /* consecutive failures that open a breaker */
    uint32_t breaker_cooldown_ms;
    uint32_t max_redirects;        /* 0: none followed */
    uint32_t max_idle_connections; /* kept open for reuse across requests */
    const char *listen;            /* the host's own HOST:PORT (refused as a destination) */
} broker_opts;

/* Defaults for the fields left 0 where 0 means nothing useful (the
 * counts max_retries, max_redirects and max_retry_after_ms stay as given). */
void broker_opts_defaults(broker_opts *o);

/* 0, or -1 with err (libcurl cannot start, or lacks an asynchronous
 * resolver; out of memory). */
int broker_new(broker **out, ah_loop *loop, const broker_opts *o, char *err, size_t errlen);
/* Running transfers are dropped unanswered (each sink's dropped runs). */
void broker_free(broker *b);

/* The port the host's HTTP server actually bound (when configured as 0). */
void broker_set_listen_port(broker *b, int port);

/* Who requests are made for. The caller owns it and keeps it, unchanged
 * but for in_flight, until every request made for it has ended (answered
 * or dropped; broker_free drops whatever still runs). */
typedef struct egress_client {
    const char *id;           /* "instance" in logs and metrics */
    const char *name;         /* "plugin" in logs */
    const egress_policy *pol; /* the allowlist; NULL: every request is refused */
    const char *refusal;      /* the reason given when pol is NULL */
    long in_flight;           /* its running requests, counted by the broker (start at 0) */
    /* Its requests skip the circuit breakers: neither counted nor refused
     * by them. For a caller that paces its own retries per client (a
     * webhook subscription: webhooks.h), so that one subscriber's failures
     * never open a breaker for others on the same host, and its events are
     * retried on its own schedule rather than refused at once. */
    bool no_breakers;
} egress_client;

/* Where a request's outcome goes; every callback is required. Exactly one
 * of answer or dropped runs for every request, now or later. */
typedef struct egress_sink {
    /* The answer (stolen): the object above, or {error} alone for a
     * request refused before a transfer began. */
    void (*answer)(void *ud, json_t *answer);
    /* A chunk of a streamed 2xx body (stolen), before the answer. */
    void (*partial)(void *ud, json_t *chunk);
    /* False once whoever asked is gone: the request is then dropped. */
    bool (*live)(void *ud);
    /* The request ended unanswered (its asker gone, or broker_free). */
    void (*dropped)(void *ud);
} egress_sink;

/* Validate and start `request` (borrowed) for client c. request_id (may
 * be NULL) is the API request behind it, for the logs. A request refused
 * before its transfer starts is answered {error: {errno, code, message}}
 * with code "busy" (AH_EBUSY: broker.max_in_flight reached; AH_ENOMEM:
 * out of memory), "invalid" (AH_EINVAL), "too_large" (AH_ETOOBIG) or
 * "unsupported" (AH_EUNSUPPORTED); a transfer's own failures are the
 * answer's "error" (refused, timeout, connect, tls, ...). */
void broker_request(broker *b, egress_client *c, const json_t *request, const char *request_id,
                    const egress_sink *sink, void *ud);

/* A new object for /ready: {"ok": true, "in_flight": n, "breakers": {...}}. */
json_t *broker_status(broker *b);

#endif
