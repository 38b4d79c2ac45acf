/*
 * wh_deliver.c - one event to one subscriber (webhooks.h): its type and
 * filter, the signed POST through the broker, and what it leaves behind
 * (the acknowledgement and the delivery log in one commit, or a retry).
 */
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "model/collections.h"
#include "model/ids.h"
#include "webhooks/wh_priv.h"

#include <agenthost/plugin.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dlv {
    dlv *next; /* taken, not started yet */
    bool skip; /* not wanted: acknowledged without sending */
    wh_sub *s;
    uint64_t id; /* the bus delivery; 0 for a redelivery by hand */
    char event_id[64];
    char topic[256];
    char key[BUS_KEY_MAX + 1];
    bool has_key;
    uint64_t offset;
    int64_t time_ms; /* the event's commit */
    uint32_t attempt;
    const event_type *et;
    json_t *payload; /* what is POSTed */
    char *body;      /* its text */
    uint64_t t0_ms;  /* the attempt's start (monotonic) */
    /* a redelivery by hand */
    char dlv_id[64];
    json_t *doc;
    webhooks_done_fn done;
    void *done_ud;
    /* the outcome */
    int http_status;
    char error[500];
    doc_op *op;
};

static void dlv_free(dlv *x)
{
    json_decref(x->payload);
    json_decref(x->doc);
    free(x->body);
    wh_sub_unref(x->s);
    free(x);
}

json_t *wh_request(wh_sub *s, const char *event_id, const char *type, uint32_t attempt,
                   const char *body)
{
    char sig[160] = "";
    if (s->secret)
        webhooks_signature(s->secret, s->secret_len, ah_now_ms() / 1000, body, strlen(body), sig,
                           sizeof(sig));
    json_t *h =
        json_pack("[s,s]", "Content-Type: application/json", "User-Agent: agenthost-webhooks/1");
    json_array_append_new(h, json_sprintf("X-Agenthost-Event: %s", type));
    json_array_append_new(h, json_sprintf("X-Agenthost-Delivery: %s", event_id));
    json_array_append_new(h, json_sprintf("X-Agenthost-Webhook: %s", s->id));
    json_array_append_new(h, json_sprintf("X-Agenthost-Attempt: %" PRIu32, attempt));
    if (sig[0]) json_array_append_new(h, json_sprintf("X-Agenthost-Signature: %s", sig));
    return json_pack("{s:s,s:s,s:o,s:s,s:I}", "method", "POST", "url", s->url, "headers", h, "body",
                     body, "timeout_ms", (json_int_t)s->w->o.timeout_ms);
}

/* ---- the outcome ----------------------------------------------------------------- */

/* The delivery-log entry of x's outcome at now (a new reference). Its id is
 * made once, so a write that runs again writes the same entry. */
static json_t *log_doc(dlv *x, int64_t now)
{
    char at[40];
    ah_rfc3339_ms(now, at, sizeof(at));
    bool dead = x->http_status < 200 || x->http_status > 299;
    json_t *doc;
    if (x->doc) { /* a redelivery: the dead letter as it is now */
        doc = json_deep_copy(x->doc);
        json_object_set_new(doc, "attempts",
                            json_integer(json_integer_value(json_object_get(doc, "attempts")) + 1));
    } else {
        if (!x->dlv_id[0]) id_new("dlv", now, x->dlv_id, sizeof(x->dlv_id));
        doc = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:o,s:i,s:s}", "id", x->dlv_id, "webhook_id",
                        x->s->id, "event_id", x->event_id, "event_type", x->et->type, "topic",
                        x->topic, "offset", (json_int_t)x->offset, "key",
                        x->has_key ? json_string(x->key) : json_null(), "attempts", (int)x->attempt,
                        "created_at", at);
    }
    json_object_set_new(doc, "status",
                        json_string(dead     ? "dead"
                                    : x->doc ? "redelivered"
                                             : "delivered"));
    json_object_set_new(doc, "http_status",
                        x->http_status ? json_integer(x->http_status) : json_null());
    json_object_set_new(doc, "latency_ms", json_integer((json_int_t)(ah_mono_ms() - x->t0_ms)));
    if (x->time_ms) json_object_set_new(doc, "lag_ms", json_integer(ah_now_ms() - x->time_ms));
    json_object_set_new(doc, "updated_at", json_string(at));
    if (dead) {
        json_object_set_new(doc, "error", json_string(x->error[0] ? x->error : "failed"));
        json_object_set(doc, "payload", x->payload);
    } else {
        json_object_del(doc, "error");
        json_object_del(doc, "payload");
    }
    return doc;
}

static int write_log(doc_txn *t, void *ud)
{
    dlv *x = ud;
    json_t *doc = log_doc(x, doc_txn_now(t));
    uint64_t rev = 0;
    int rc = doc_put(t, COLL_WEBHOOK_DELIVERIES, doc, x->doc ? STORE_REV_ANY : 0, &rev);
    if (!rc && x->doc) {
        json_decref(x->doc);
        x->doc = json_incref(doc);
        json_object_set_new(x->doc, "revision", json_integer((json_int_t)rev));
    }
    json_decref(doc);
    return rc;
}

/* ---- delivered: acknowledged at once, logged in batches ----------------------------- */

static int put_batch(doc_txn *t, void *ud)
{
    size_t i;
    json_t *doc;
    json_array_foreach((json_t *)ud, i, doc)
    {
        int rc = doc_put(t, COLL_WEBHOOK_DELIVERIES, doc, 0, NULL);
        if (rc) return rc;
    }
    return 0;
}

static void batch_done(int status, const doc_error *e, void *ud)
{
    json_t *batch = ud;
    if (status)
        log_error("webhooks", "%zu delivery-log entries were not written: %s",
                  json_array_size(batch), e && e->message[0] ? e->message : "failed");
    json_decref(batch);
}

void wh_flush_log(webhooks *w)
{
    if (!json_array_size(w->log_batch)) return;
    json_t *batch = w->log_batch;
    w->log_batch = json_array();
    if (docs_write(w->d.docs, put_batch, batch, batch_done) != 0) {
        log_error("webhooks", "%zu delivery-log entries were not written", json_array_size(batch));
        json_decref(batch);
    }
}

static void count(dlv *x, const char *outcome)
{
    char labels[200];
    metrics_labels(labels, sizeof(labels), "outcome", outcome, NULL);
    metrics_counter_add("agenthost_webhook_deliveries_total", labels, 1);
}

static void settled(void *ud, int status, const uint64_t *offsets, const bool *dup, size_t n)
{
    (void)offsets, (void)dup, (void)n;
    dlv *x = ud;
    doc_error e = {0};
    docs_op_finish(x->op, status, &e);
    if (status)
        log_error("webhooks",
                  "webhook %s: event %s: recording the delivery failed (%s); it is "
                  "delivered again",
                  x->s->id, x->event_id, e.message);
    dlv_free(x);
}

/* Settle the bus delivery and write its log, in one commit. */
static void settle(dlv *x, bool dead)
{
    count(x, dead ? "dead" : "delivered");
    if (dead)
        log_write("host", LOG_WARN, "webhooks", NULL, NULL,
                  "webhook %s: event %s is dead after %" PRIu32 " attempts: %s", x->s->id,
                  x->event_id, x->attempt, x->error);
    x->op = docs_op_new(x->s->w->d.docs, write_log, x);
    char err[300] = "out of memory";
    bus_commit_req r = {.settle = x->id, .apply = docs_op_apply, .apply_arg = x->op};
    int rc = x->op ? bus_commit(x->s->w->d.bus, &r, settled, x, err, sizeof(err)) : AH_ENOMEM;
    if (rc) {
        if (x->op) docs_op_finish(x->op, rc, NULL);
        log_error("webhooks", "webhook %s: event %s: %s", x->s->id, x->event_id, err);
        bus_nack(x->s->w->d.bus, x->id, err, wh_backoff_ms(&x->s->w->o, x->attempt));
        dlv_free(x);
    }
}

/* ---- a redelivery by hand ------------------------------------------------------------ */

static void redelivered(int status, const doc_error *e, void *ud)
{
    dlv *x = ud;
    if (status)
        x->done(x->done_ud, status, NULL, 0, e ? e->message : "failed");
    else
        x->done(x->done_ud, 0, json_incref(x->doc),
                (uint64_t)json_integer_value(json_object_get(x->doc, "revision")),
                x->http_status >= 200 && x->http_status < 300 ? NULL : x->error);
    dlv_free(x);
}

/* ---- the attempt ------------------------------------------------------------------- */

static void answered(dlv *x)
{
    bool ok = x->http_status >= 200 && x->http_status <= 299;
    if (x->s->gone && !x->done) { /* deleted meanwhile: nothing left to settle or log */
        dlv_free(x);
        return;
    }
    if (x->done) { /* by hand */
        int rc = docs_write(x->s->w->d.docs, write_log, x, redelivered);
        if (rc) {
            x->done(x->done_ud, rc, NULL, 0, "cannot record it");
            dlv_free(x);
        }
        return;
    }
    if (ok) {
        /* The acknowledgement is the bus's (at least once); the log entry
         * joins the next batch, one write for all answered in a tick. */
        count(x, "delivered");
        bus_ack(x->s->w->d.bus, x->id);
        json_array_append_new(x->s->w->log_batch, log_doc(x, ah_now_ms()));
        wh_wake(x->s->w);
        dlv_free(x);
        return;
    }
    if (x->attempt >= x->s->w->o.max_attempts) {
        settle(x, true);
        return;
    }
    count(x, "retried");
    bus_nack(x->s->w->d.bus, x->id, x->error, wh_backoff_ms(&x->s->w->o, x->attempt));
    dlv_free(x);
}

static void on_answer(void *ud, json_t *a)
{
    dlv *x = ud;
    const json_t *err = json_object_get(a, "error");
    x->http_status = (int)json_integer_value(json_object_get(a, "status"));
    if (err)
        snprintf(x->error, sizeof(x->error), "%s: %s",
                 json_string_value(json_object_get(err, "code")),
                 json_string_value(json_object_get(err, "message")));
    else if (x->http_status < 200 || x->http_status > 299)
        snprintf(x->error, sizeof(x->error), "the subscriber answered %d", x->http_status);
    json_decref(a);
    answered(x);
}

static void on_partial(void *ud, json_t *chunk)
{
    (void)ud;
    json_decref(chunk);
}

static bool on_live(void *ud)
{
    (void)ud;
    return true;
}

static void on_dropped(void *ud)
{
    dlv *x = ud;
    snprintf(x->error, sizeof(x->error), "the request was dropped (the host is stopping)");
    if (x->done) {
        x->done(x->done_ud, AH_ECLOSED, NULL, 0, x->error);
        dlv_free(x);
        return;
    }
    dlv_free(x); /* unsettled: the bus delivers it again */
}

static const egress_sink SINK = {on_answer, on_partial, on_live, on_dropped};

static void send_attempt(dlv *x)
{
    wh_sub *s = x->s;
    if (!s->secret) {
        x->http_status = 0;
        snprintf(x->error, sizeof(x->error), "the webhook's secret cannot be opened");
        x->t0_ms = ah_mono_ms();
        answered(x);
        return;
    }
    if (!x->body) x->body = json_dumps(x->payload, JSON_COMPACT);
    json_t *req = wh_request(s, x->event_id, x->et ? x->et->type : "", x->attempt, x->body);
    x->t0_ms = ah_mono_ms();
    broker_request(s->w->d.egress, x->done ? &s->by_hand : &s->client, req, NULL, &SINK, x);
    json_decref(req);
}

static void filtered(void *ud, const expr_result *r)
{
    dlv *x = ud;
    if (r->error) {
        x->http_status = 0;
        snprintf(x->error, sizeof(x->error), "filter: %s: %s", r->error,
                 r->message ? r->message : "");
        x->t0_ms = ah_mono_ms();
        /* a filter that cannot run: retried (busy), else it is dead at once */
        if (strcmp(r->error, "busy") != 0 && strcmp(r->error, "unavailable") != 0)
            x->attempt = x->s->w->o.max_attempts;
        answered(x);
        return;
    }
    const json_t *first = json_array_get(r->outputs, 0);
    if (!first || json_is_false(first) || json_is_null(first)) {
        count(x, "filtered");
        bus_ack(x->s->w->d.bus, x->id);
        dlv_free(x);
        return;
    }
    send_attempt(x);
}

/* The bus's deliver callback may not settle what it hands over: every
 * delivery starts from the idle handle, after it returns. */
static void start(dlv *x)
{
    wh_sub *s = x->s;
    if (s->gone) { /* deleted meanwhile: its consumer is gone, nothing to settle */
        dlv_free(x);
        return;
    }
    if (x->skip) {
        bus_ack(s->w->d.bus, x->id);
        dlv_free(x);
        return;
    }
    if (!s->filter) {
        send_attempt(x);
        return;
    }
    char err[300] = "";
    int rc =
        expr_eval(s->w->d.expr, s->filter, x->payload, NULL, NULL, filtered, x, err, sizeof(err));
    if (rc) {
        x->t0_ms = ah_mono_ms();
        snprintf(x->error, sizeof(x->error), "filter: %s", err);
        if (rc != AH_EBUSY && rc != AH_ECLOSED) x->attempt = s->w->o.max_attempts;
        answered(x);
    }
}

void wh_start_taken(webhooks *w)
{
    dlv *x = w->starting;
    w->starting = NULL;
    w->starting_tail = &w->starting;
    while (x) {
        dlv *next = x->next;
        x->next = NULL;
        start(x);
        x = next;
    }
}

void wh_drop_taken(webhooks *w)
{
    while (w->starting) {
        dlv *x = w->starting;
        w->starting = x->next;
        dlv_free(x); /* unsettled: delivered again after a restart */
    }
    w->starting_tail = &w->starting;
}

static int deliver(void *ud, const bus_delivery *d)
{
    wh_sub *s = ud;
    webhooks *w = s->w;
    if (w->stopped || !w->idle_init) return -1;
    const event_type *et = events_of(d->topic, d->body);
    dlv *x = calloc(1, sizeof(*x));
    if (!x) return -1;
    x->s = s;
    s->refs++;
    x->id = d->id;
    x->skip = !et || !wh_sub_wants(s, et);
    x->et = et;
    x->attempt = d->attempt;
    x->offset = d->offset;
    x->time_ms = d->time_ms;
    snprintf(x->event_id, sizeof(x->event_id), "%s", d->event_id);
    snprintf(x->topic, sizeof(x->topic), "%s", d->topic);
    if (d->key) snprintf(x->key, sizeof(x->key), "%s", d->key);
    x->has_key = d->key != NULL;
    if (!x->skip) {
        char at[40];
        ah_rfc3339_ms(d->time_ms, at, sizeof(at));
        x->payload = json_pack("{s:s,s:s,s:s,s:I,s:s,s:O}", "id", d->event_id, "type", et->type,
                               "topic", d->topic, "offset", (json_int_t)d->offset, "created_at", at,
                               "data", d->body ? d->body : json_null());
        if (!x->payload) {
            dlv_free(x);
            return -1;
        }
    }
    *w->starting_tail = x;
    w->starting_tail = &x->next;
    wh_wake(w);
    return 0;
}

const bus_consumer_ops wh_consumer_ops = {.deliver = deliver};

/* ---- by hand ------------------------------------------------------------------------ */

typedef struct find_arg {
    const char *id;
    json_t *doc;
    uint64_t rev;
} find_arg;

static int run_find(doc_txn *t, void *ud)
{
    find_arg *a = ud;
    return doc_get(t, COLL_WEBHOOK_DELIVERIES, a->id, &a->doc, &a->rev);
}

int webhooks_redeliver(webhooks *w, const char *delivery_id, webhooks_done_fn done, void *ud,
                       char *err, size_t errlen)
{
    find_arg a = {.id = delivery_id};
    doc_error e = {0};
    int rc = docs_read(w->d.docs, run_find, &a, &e);
    if (rc) {
        snprintf(err, errlen, rc == AH_ENOTFOUND ? "no delivery %s" : "cannot read delivery %s",
                 delivery_id);
        return rc;
    }
    const char *status = json_string_value(json_object_get(a.doc, "status"));
    const char *sub = json_string_value(json_object_get(a.doc, "webhook_id"));
    wh_sub *s = sub ? strmap_get(&w->subs, sub) : NULL;
    rc = !status || strcmp(status, "dead") != 0 ? AH_EINVAL : !s || s->gone ? AH_ENOTFOUND : 0;
    if (rc) {
        snprintf(err, errlen,
                 rc == AH_EINVAL ? "delivery %s is %s: only a dead one is sent again"
                                 : "delivery %s: its webhook is gone",
                 delivery_id, status ? status : "?");
        json_decref(a.doc);
        return rc;
    }
    dlv *x = calloc(1, sizeof(*x));
    if (!x) {
        json_decref(a.doc);
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    x->s = s;
    s->refs++;
    x->doc = a.doc;
    json_object_set_new(x->doc, "revision", json_integer((json_int_t)a.rev));
    x->payload = json_incref(json_object_get(a.doc, "payload"));
    x->et = events_find(json_string_value(json_object_get(a.doc, "event_type")));
    snprintf(x->event_id, sizeof(x->event_id), "%s",
             json_string_value(json_object_get(a.doc, "event_id")));
    x->attempt = (uint32_t)json_integer_value(json_object_get(a.doc, "attempts")) + 1;
    x->done = done;
    x->done_ud = ud;
    send_attempt(x);
    return 0;
}
