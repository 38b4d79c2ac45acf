/*
 * webhooks.h - outgoing webhooks (docs/webhooks.md): subscriptions of
 * outside systems to the platform's events (events.h), kept as documents
 * (collection "webhooks"), each delivered by its own durable bus consumer
 * ("webhook:<id>") through the egress broker.
 *
 * What delivery promises:
 *  - Every event of a subscribed type committed while the subscription
 *    exists is POSTed to its URL at least once; the consumer's position is
 *    durable, so a restart loses nothing (an attempt cut by a crash is
 *    made again: X-Agenthost-Delivery, the event's id, lets the receiver
 *    drop a repeat).
 *  - Signed: X-Agenthost-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
 *    "<t>.<body>" under the subscription's secret>.
 *  - In order per key (a conversation, a contact): the next event of a key
 *    waits until the one before is delivered or dead.
 *  - A failed attempt (no answer, not 2xx) is retried after an
 *    exponential backoff with jitter; after max_attempts the event is dead:
 *    recorded with its payload in the delivery log (status "dead"),
 *    re-deliverable by hand (webhooks_redeliver), and the key flows on.
 *  - Each subscription has its own consumer, at most `concurrency`
 *    requests in flight: a slow or dead subscriber delays no other.
 *  - Every settled event is one delivery-log document (collection
 *    "webhook_deliveries"): a dead one's (with its payload) is written in
 *    the same commit as the consumer's acknowledgement; delivered ones are
 *    acknowledged at once and their entries written in batches, one write
 *    per loop tick (a crash in between may lose an entry, never an event).
 *  - A paused subscription's events wait on the bus; a deleted one's
 *    consumer is deleted (bus_consumer_delete), so it holds nothing back
 *    from the bus's retention; one left behind by a crash is deleted at
 *    the next start.
 *  - The delivery log is kept webhooks.log_retention_days (entries older
 *    are removed in the background, hourly).
 */
#ifndef AH_WEBHOOKS_H
#define AH_WEBHOOKS_H

#include "broker/broker.h"
#include "bus/bus.h"
#include "core/loop.h"
#include "expr/expr.h"
#include "model/docs.h"
#include "store/secrets.h"

#include <jansson.h>
#include <stdint.h>

typedef struct webhooks webhooks;

typedef struct webhooks_opts {
    const json_t *allow;     /* egress entries where webhooks may go (webhooks.allow) */
    uint32_t max_attempts;   /* attempts before an event is dead */
    uint32_t backoff_ms;     /* the first retry's delay */
    uint32_t max_backoff_ms; /* the longest */
    uint32_t timeout_ms;     /* one attempt */
    uint32_t concurrency;    /* requests in flight per subscription */
} webhooks_opts;

typedef struct webhooks_deps {
    ah_loop *loop;
    bus *bus;
    docs *docs;
    broker *egress;
    expr_pool *expr; /* filters; NULL: a subscription with a filter is refused */
    secrets *sec;    /* seals the subscriptions' secrets */
} webhooks_deps;

/* 0, or AH_EINVAL (webhooks.allow not valid) / AH_ENOMEM with err. */
int webhooks_new(webhooks **out, const webhooks_deps *d, const webhooks_opts *o, char *err,
                 size_t errlen);
/* Load the subscriptions and start their consumers. 0 or AH_E* with err. */
int webhooks_start(webhooks *w, char *err, size_t errlen);
/* Stop delivering (requests in flight are left to the broker's end). */
void webhooks_stop(webhooks *w);
void webhooks_free(webhooks *w);

/* A subscription was written or deleted (after its commit): take it up. */
void webhooks_changed(webhooks *w, const char *id);

/* Checks of a subscription's fields before it is saved. 0, or AH_EINVAL
 * with the reason in err: a URL that is not http(s) or that
 * webhooks.allow does not allow; an event type not in the catalogue. */
int webhooks_check_url(webhooks *w, const char *url, char *err, size_t errlen);

/* The secret sealed for subscription id: a new base64 string, or NULL
 * (no master key, out of memory). */
char *webhooks_seal_secret(webhooks *w, const char *id, const char *secret);

/* The filter compiles? cb as expr_check's (see expr.h); returns as it. */
int webhooks_check_filter(webhooks *w, const char *filter, expr_cb cb, void *ud, char *err,
                          size_t errlen);

/* Send a dead delivery again, now (outside the bus: order is the
 * caller's). done gets 0 and the delivery document as it is afterwards
 * ("redelivered", or still "dead" with one more attempt and the error), or
 * AH_ENOTFOUND / AH_EINVAL (not dead) / AH_EIO. 0 when done will run; else
 * the code, with err. */
typedef void (*webhooks_done_fn)(void *ud, int status, json_t *delivery, uint64_t rev,
                                 const char *message);
int webhooks_redeliver(webhooks *w, const char *delivery_id, webhooks_done_fn done, void *ud,
                       char *err, size_t errlen);

/* The signature header's value for body at time t (Unix seconds). */
void webhooks_signature(const char *secret, size_t secret_len, int64_t t, const char *body,
                        size_t len, char *out, size_t outlen);

#endif
