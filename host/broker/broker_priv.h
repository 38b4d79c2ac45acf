/*
 * broker_priv.h - what broker.c (the IPC side: validating a plugin's
 * request, per-instance state) and transfer.c (one request's life on
 * curl: attempts, redirects, retries, streaming, the answer) share. Not a
 * public header.
 */
#ifndef AH_BROKER_PRIV_H
#define AH_BROKER_PRIV_H

#include "broker.h"
#include "driver.h"
#include "policy.h"
#include "proxy.h"
#include "resilience.h"

#include <stdbool.h>

/* An instance as the broker knows it: its compiled allowlist. */
typedef struct inst_egress {
    const instance *inst;
    char id[72];
    char plugin[72];
    egress_policy pol;
    int compiled; /* 0 not yet, 1 ok, -1 failed (compile_err) */
    char compile_err[300];
    long in_flight;
} inst_egress;

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
    char request_id[64]; /* of the API call the plugin was serving; "" if none */
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
    supervisor *sup;
    inst_egress **insts;
    size_t ninsts;
    xfer *active; /* running transfers (a list) */
    uint32_t in_flight;
};

void xfer_spec_free(xfer_spec *s);

/* Start a transfer for request `req` of instance `ie`; takes over spec's
 * contents. The request is answered exactly once (or dropped when its
 * process is gone). */
void xfer_start(broker *b, inst_egress *ie, inst_req req, xfer_spec *spec);
/* The driver's completion callback. */
void xfer_on_curl_done(void *ud, CURL *easy, CURLcode rc);
/* Drop every running transfer without answering (shutdown). */
void xfer_drop_all(broker *b);

/* Answer with an error before any transfer exists. */
void broker_answer_error(inst_req req, int errnum, const char *code, const char *message);

#endif
