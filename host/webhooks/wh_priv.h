/*
 * wh_priv.h - what the webhooks' files share. Not a public header.
 */
#ifndef AH_WH_PRIV_H
#define AH_WH_PRIV_H

#include "core/strmap.h"
#include "webhooks/events.h"
#include "webhooks/webhooks.h"

#include <stdbool.h>

/* A subscription as delivery sees it (from its document). */
typedef struct wh_sub {
    webhooks *w;
    char id[64];
    char *url;
    json_t *events; /* array of type names, or ["*"] */
    char *filter;   /* or NULL */
    char *secret;   /* opened, or NULL (not set, or cannot be opened) */
    size_t secret_len;
    bool active;
    bool gone;     /* deleted: its consumer is deleted, deliveries under way dropped */
    bool attached; /* its consumer takes deliveries */
    bus_consumer *c;
    egress_client client;
    egress_client by_hand; /* redeliveries by hand, counted apart */
    char client_name[80], by_hand_name[96];
    long refs; /* the table's, and one per delivery in flight */
} wh_sub;

typedef struct dlv dlv;

struct webhooks {
    webhooks_deps d;
    uv_idle_t idle; /* starts the deliveries taken, out of the bus's callback */
    bool idle_init;
    dlv *starting, **starting_tail;
    json_t *log_batch; /* delivery-log entries of delivered events, not written yet */
    webhooks_opts o;
    egress_policy pol;
    bool has_pol;
    uint8_t key[32]; /* seals secrets */
    bool has_key;
    strmap subs; /* id -> wh_sub */
    bool stopped;
};

/* ---- webhooks.c ---- */
void wh_sub_unref(wh_sub *s);
bool wh_sub_wants(const wh_sub *s, const event_type *et);
/* Have wh_start_taken run soon, from the loop. */
void wh_wake(webhooks *w);

/* ---- wh_sign.c ---- */
/* Open a sealed secret of subscription id: a malloc'd string (registered
 * with the logs' redaction) with *len, or NULL. */
char *wh_open_secret(webhooks *w, const char *id, const char *sealed, size_t *len);
void wh_free_secret(char *s, size_t len);
/* A delay in ms before attempt `attempt + 1`: exponential with jitter. */
uint32_t wh_backoff_ms(const webhooks_opts *o, uint32_t attempt);

/* ---- wh_deliver.c ---- */
/* Start the deliveries taken since the last call. */
void wh_start_taken(webhooks *w);
/* Write the delivery-log entries gathered since the last call. */
void wh_flush_log(webhooks *w);
/* Free them unstarted (the host is stopping). */
void wh_drop_taken(webhooks *w);
extern const bus_consumer_ops wh_consumer_ops;
/* The request for a body to s: {method, url, headers, body, timeout_ms}. */
json_t *wh_request(wh_sub *s, const char *event_id, const char *type, uint32_t attempt,
                   const char *body);

#endif
