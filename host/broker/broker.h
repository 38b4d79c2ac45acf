/*
 * broker.h - egress for plugins: the only way a plugin reaches the network.
 *
 * A plugin's AH_MSG_HTTP request {method, url, headers: ["Name: value"],
 * body | body_b64, timeout_ms, idle_timeout_ms, flags} is checked against
 * its instance's allowlist (policy.h), run on libcurl's multi interface
 * driven by the host's loop (driver.h), retried and guarded by per-host
 * circuit breakers (resilience.h), logged and measured (egress_log.h), and
 * answered once with {status, headers: {lower-case name: value}, body |
 * body_b64, retries, redirects, error?: {errno, code, message}}. With
 * AH_HTTP_STREAM, a 2xx body goes to the plugin as AH_MSG_HTTP_CHUNK
 * frames {data | data_b64} as it arrives (never through the bus), and the
 * answer carries no body.
 *
 * The request shape has a "kind" (default "http") so that smtp(s) and
 * imap(s) transfers can join later; only http(s) is served today.
 */
#ifndef AH_BROKER_H
#define AH_BROKER_H

#include "../core/loop.h"
#include "../plugin/supervisor.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct broker broker;

typedef struct broker_opts {
    uint32_t connect_timeout_ms; /* per connection attempt */
    uint32_t timeout_ms;         /* total, when the plugin gives none */
    uint32_t max_timeout_ms;     /* cap on what a plugin may ask for */
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

int broker_new(broker **out, ah_loop *loop, const broker_opts *o, char *err, size_t errlen);
/* Running transfers are dropped without answers. */
void broker_free(broker *b);

/* The port the host's HTTP server actually bound (when configured as 0). */
void broker_set_listen_port(broker *b, int port);

/* Serve AH_MSG_HTTP requests of sup's instances. */
void broker_attach(broker *b, supervisor *sup);

/* A new object for /ready: {"ok": true, "in_flight": n, "breakers": {...}}. */
json_t *broker_status(broker *b);

#endif
