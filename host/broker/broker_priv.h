/*
 * broker_priv.h - what broker.c (options, validating a request) and
 * transfer.c (one request's life on curl: attempts, redirects, retries,
 * streaming, the answer) share. Not a public header.
 */
#ifndef AH_BROKER_PRIV_H
#define AH_BROKER_PRIV_H

#include "broker.h"
#include "driver.h"
#include "policy.h"
#include "proxy.h"
#include "resilience.h"

#include <stdbool.h>

/* What a request speaks: HTTP, or mail (docs/adr/0034). */
typedef enum mail_kind { MAIL_NONE = 0, MAIL_SMTP, MAIL_IMAP } mail_kind;

/* A validated request (owned by the transfer once started). */
typedef struct xfer_spec {
    char method[16];
    char *url;
    char **headers; /* "Name: value" */
    size_t nheaders;
    char *body;
    size_t body_len;
    uint32_t timeout_ms, idle_timeout_ms;
    uint32_t flags;
    char request_id[64]; /* of the API request behind it; "" if none */
    /* mail (mail.h): method is then the verb for the logs */
    mail_kind mail;
    char *command;   /* IMAP: the command line sent after login/select, or NULL */
    char *mail_from; /* SMTP: the envelope sender ("" for a bounce) */
    char **rcpt;     /* SMTP: envelope recipients */
    size_t nrcpt;
    char *user, *password; /* from "Authorization: Basic", wiped when freed */
} xfer_spec;

typedef struct xfer xfer;

struct broker {
    ah_loop *loop;
    uv_loop_t *uv;
    broker_opts o;
    char listen[160];
    driver *drv;
    breaker_table *breakers;
    policy_self self;
    proxy_conf proxy;
    xfer *active; /* running transfers (a list) */
    uint32_t in_flight;
};

void xfer_spec_free(xfer_spec *s);

/* Start a transfer for client c; takes over spec's contents. It ends
 * through the sink exactly once (egress_sink). */
void xfer_start(broker *b, egress_client *c, xfer_spec *spec, const egress_sink *sink, void *ud);
/* The driver's completion callback. */
void xfer_on_curl_done(void *ud, CURL *easy, CURLcode rc);
/* Drop every running transfer unanswered (shutdown): each sink's dropped
 * runs. */
void xfer_drop_all(broker *b);

/* Answer {error: {errno, code, message}} before any transfer exists. */
void broker_answer_error(const egress_sink *sink, void *ud, int errnum, const char *code,
                         const char *message);

#endif
