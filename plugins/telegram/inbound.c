/*
 * inbound.c - updates in. Long polling: getUpdates from the offset kept in
 * the instance's KV ("offset"); the batch's messages are published on
 * message.in in one commit, each with the idempotency key
 * INSTANCE:update_id, and only then is the new offset stored. A crash
 * between the two asks for the same updates again and the bus stores
 * nothing twice: no update lost, none repeated. Webhook: setWebhook with
 * the secret_token the host checks at /hooks/INSTANCE/...; each delivery
 * (already durable on hooks.INSTANCE) is mapped, published the same way,
 * and acked once the publish is durable.
 */
#include "map.h"
#include "tg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALLOWED_UPDATES                                                                            \
    "[\"message\", \"edited_message\", \"channel_post\", \"edited_channel_post\", "                \
    "\"business_message\", \"edited_business_message\", \"callback_query\", "                      \
    "\"my_chat_member\", \"chat_member\"]"

static json_t *allowed_updates(const tg *t)
{
    const json_t *a = json_object_get(t->config, "allowed_updates");
    return json_is_array(a) ? json_incref((json_t *)a) : json_loads(ALLOWED_UPDATES, 0, NULL);
}

/* What an update says: a message (on message.in), or a change of
 * membership (on platform.chat; the bot blocked or unblocked is recorded
 * too), or nothing (NULL). *topic says where it goes. */
static json_t *take(tg *t, const json_t *u, const char **topic)
{
    char chat[64], why[200];
    int change = tg_member_change(u, chat, sizeof(chat));
    if (change >= 0) tg_set_blocked(t, chat, change == 1, "my_chat_member: the bot was blocked");
    json_t *e = tg_member_event(u, t->instance);
    if (e) {
        *topic = "platform.chat";
        return e;
    }
    *topic = "message.in";
    json_t *m =
        tg_map_update(u, t->instance, t->bot[0] ? t->bot : NULL, tg_now_ms(), why, sizeof(why));
    if (!m)
        t->host->log(t->ctx, AH_LOG_DEBUG, "update %lld: %s",
                     (long long)json_integer_value(json_object_get(u, "update_id")), why);
    return m;
}

static void key_of(const tg *t, const json_t *m, char *key, size_t n)
{
    snprintf(key, n, "%s:%s", t->instance,
             json_string_value(json_object_get(json_object_get(m, "chat"), "id")));
}

static void idem_of(const tg *t, const json_t *u, char *idem, size_t n)
{
    snprintf(idem, n, "%s:%lld", t->instance,
             (long long)json_integer_value(json_object_get(u, "update_id")));
}

static void no_answer(tg *t, const tg_result *r, void *ud)
{
    (void)ud;
    if (!r->ok) t->host->log(t->ctx, AH_LOG_DEBUG, "answerCallbackQuery: %s", r->description);
}

/* Once published, best effort: a button press gets its answer (or the
 * client keeps a spinner). */
static void answer_callbacks(tg *t, const json_t *mapped)
{
    size_t i;
    const json_t *m;
    json_array_foreach(mapped, i, m)
    {
        const char *q =
            json_string_value(json_object_get(json_object_get(m, "action"), "query_id"));
        if (!q) continue;
        json_t *p = json_pack("{s:s}", "callback_query_id", q);
        tg_call(t, "answerCallbackQuery", p, 10000, no_answer, NULL);
        json_decref(p);
    }
}

/* ---- long polling ----------------------------------------------------------------------- */

static void poll_now(tg *t);

static void poll_later(ah_ctx *ctx, ah_timer *timer, void *ud)
{
    (void)ctx;
    (void)timer;
    poll_now(ud);
}

static void retry_poll(tg *t, const char *why)
{
    t->backoff_ms = t->backoff_ms ? t->backoff_ms * 2 : 500;
    if (t->backoff_ms > 30000) t->backoff_ms = 30000;
    t->host->log(t->ctx, AH_LOG_WARN, "polling: %s; again in %u ms", why, t->backoff_ms);
    t->host->timer_start(t->ctx, t->backoff_ms, 0, poll_later, t);
}

typedef struct batch {
    tg *t;
    json_t *mapped; /* the published bodies */
    int64_t next;   /* the offset once they are durable */
} batch;

static void offset_stored(ah_ctx *ctx, int status, void *ud)
{
    (void)ctx;
    batch *b = ud;
    tg *t = b->t;
    if (status) {
        /* Published but the offset not stored: the next poll asks again and
         * the idempotency keys store nothing twice. */
        t->host->log(t->ctx, AH_LOG_WARN, "storing the offset: %s", ah_strerror(status));
    }
    t->offset = b->next;
    answer_callbacks(t, b->mapped);
    json_decref(b->mapped);
    free(b);
    t->backoff_ms = 0;
    if (!t->stopping) poll_now(t);
}

static void store_offset(batch *b)
{
    json_t *v = json_integer(b->next);
    int rc = b->t->host->kv_put(b->t->ctx, "offset", v, offset_stored, b);
    json_decref(v);
    if (rc) offset_stored(b->t->ctx, rc, b);
}

static void batch_published(ah_ctx *ctx, int status, const uint64_t *offsets, size_t n, void *ud)
{
    (void)ctx;
    (void)offsets;
    batch *b = ud;
    if (status) {
        tg *t = b->t;
        json_decref(b->mapped);
        free(b);
        retry_poll(t, ah_strerror(status)); /* same offset: the same updates again */
        return;
    }
    b->t->host->metric(b->t->ctx, "telegram_updates_in", AH_METRIC_COUNTER, (double)n, NULL);
    store_offset(b);
}

static void publish_updates(tg *t, const json_t *updates)
{
    batch *b = calloc(1, sizeof(*b));
    size_t n = json_array_size(updates), k = 0;
    ah_publish_item *items = calloc(n ? n : 1, sizeof(*items));
    ah_publish_opts *opts = calloc(n ? n : 1, sizeof(*opts));
    char(*keys)[200] = calloc(n ? n : 1, sizeof(*keys));
    char(*idems)[200] = calloc(n ? n : 1, sizeof(*idems));
    if (!b || !items || !opts || !keys || !idems) {
        free(b), free(items), free(opts), free(keys), free(idems);
        retry_poll(t, "out of memory");
        return;
    }
    *b = (batch){.t = t, .mapped = json_array(), .next = t->offset};
    size_t i;
    const json_t *u;
    json_array_foreach(updates, i, u)
    {
        int64_t id = json_integer_value(json_object_get(u, "update_id"));
        if (id + 1 > b->next) b->next = id + 1;
        const char *topic;
        json_t *m = take(t, u, &topic);
        if (!m) continue;
        json_array_append_new(b->mapped, m);
        key_of(t, m, keys[k], sizeof(keys[k]));
        idem_of(t, u, idems[k], sizeof(idems[k]));
        opts[k] =
            (ah_publish_opts){.size = sizeof(opts[k]), .key = keys[k], .idempotency_key = idems[k]};
        items[k] = (ah_publish_item){.topic = topic, .body = m, .opts = &opts[k]};
        k++;
    }
    int rc = k ? t->host->publish_batch(t->ctx, items, k, batch_published, b) : 0;
    free(items), free(opts), free(keys), free(idems);
    if (!k) {
        store_offset(b);
    } else if (rc) {
        json_decref(b->mapped);
        free(b);
        retry_poll(t, ah_strerror(rc));
    }
}

static void got_updates(tg *t, const tg_result *r, void *ud)
{
    (void)ud;
    if (t->stopping) return;
    if (!r->ok) {
        if (r->error_code == 401) {
            t->failed = true;
            t->host->log(t->ctx, AH_LOG_ERROR, "getUpdates: the bot token was refused (%s)",
                         r->description);
            return;
        }
        if (r->error_code == 409) /* a webhook is set (or another poller runs) */
            tg_call(t, "deleteWebhook", NULL, 30000, NULL, NULL);
        char why[400];
        snprintf(why, sizeof(why), "getUpdates: %d %s", r->error_code, r->description);
        retry_poll(t, why);
        return;
    }
    if (!json_array_size(r->result)) {
        t->backoff_ms = 0;
        poll_now(t);
        return;
    }
    publish_updates(t, r->result);
}

static void poll_now(tg *t)
{
    if (t->stopping) return;
    json_t *p = json_pack("{s:I,s:i,s:i,s:o}", "offset", (json_int_t)t->offset, "limit", 100,
                          "timeout", (int)t->poll_timeout_s, "allowed_updates", allowed_updates(t));
    int rc = tg_call(t, "getUpdates", p, (t->poll_timeout_s + 15) * 1000, got_updates, NULL);
    json_decref(p);
    if (rc) retry_poll(t, ah_strerror(rc));
}

static void got_offset(ah_ctx *ctx, int status, const json_t *value, void *ud)
{
    (void)ctx;
    tg *t = ud;
    if (status && status != AH_ENOTFOUND) {
        t->host->log(t->ctx, AH_LOG_WARN, "reading the offset: %s", ah_strerror(status));
        t->host->timer_start(t->ctx, 1000, 0, poll_later, t); /* read again below */
        return;
    }
    t->offset = json_is_integer(value) ? json_integer_value(value) : 0;
    tg_became_ready(t);
    poll_now(t);
}

static void webhook_deleted(tg *t, const tg_result *r, void *ud)
{
    (void)ud;
    if (!r->ok)
        t->host->log(t->ctx, AH_LOG_WARN, "deleteWebhook: %s (getUpdates will say more)",
                     r->description);
    t->host->kv_get(t->ctx, "offset", got_offset, t);
}

/* ---- webhook ---------------------------------------------------------------------------- */

static void set_webhook(ah_ctx *ctx, ah_timer *timer, void *ud);

static void webhook_set(tg *t, const tg_result *r, void *ud)
{
    (void)ud;
    if (r->ok) {
        t->backoff_ms = 0;
        if (!t->ready) tg_became_ready(t);
        t->host->log(t->ctx, AH_LOG_INFO, "webhook set");
        return;
    }
    t->backoff_ms = t->backoff_ms ? t->backoff_ms * 2 : 1000;
    if (t->backoff_ms > 60000) t->backoff_ms = 60000;
    t->host->log(t->ctx, tg_permanent(r) ? AH_LOG_ERROR : AH_LOG_WARN,
                 "setWebhook: %d %s; again in %u ms", r->error_code, r->description, t->backoff_ms);
    t->host->timer_start(t->ctx, t->backoff_ms, 0, set_webhook, t);
}

static void set_webhook(ah_ctx *ctx, ah_timer *timer, void *ud)
{
    (void)ctx;
    (void)timer;
    tg *t = ud;
    if (t->stopping || t->webhook_removed) return;
    const json_t *c = t->config;
    json_t *p =
        json_pack("{s:O,s:s,s:o,s:b}", "url", json_object_get(c, "webhook_url"), "secret_token",
                  t->host->secret(t->ctx, "webhook_secret"), "allowed_updates", allowed_updates(t),
                  "drop_pending_updates", json_is_true(json_object_get(c, "drop_pending_updates")));
    if (json_is_integer(json_object_get(c, "max_connections")))
        json_object_set(p, "max_connections", json_object_get(c, "max_connections"));
    if (tg_call(t, "setWebhook", p, 30000, webhook_set, NULL))
        t->host->timer_start(t->ctx, 1000, 0, set_webhook, t);
    json_decref(p);
}

void tg_inbound_start(tg *t)
{
    if (t->mode == TG_WEBHOOK) {
        set_webhook(t->ctx, NULL, t);
        return;
    }
    if (tg_call(t, "deleteWebhook", NULL, 30000, webhook_deleted, NULL))
        t->host->kv_get(t->ctx, "offset", got_offset, t);
}

typedef struct hook {
    tg *t;
    const ah_event *ev;
    json_t *mapped;
} hook;

static void hook_published(ah_ctx *ctx, int status, uint64_t offset, void *ud)
{
    (void)offset;
    hook *h = ud;
    tg *t = h->t;
    if (status) {
        t->host->nack(ctx, h->ev, ah_strerror(status), 0);
    } else {
        t->host->ack(ctx, h->ev);
        t->host->metric(t->ctx, "telegram_updates_in", AH_METRIC_COUNTER, 1, NULL);
        answer_callbacks(t, h->mapped);
    }
    json_decref(h->mapped);
    free(h);
}

void tg_on_hook(tg *t, const ah_event *ev)
{
    if (!t->ready) { /* the bot's name is not known yet */
        t->host->nack(t->ctx, ev, "not ready", 1000);
        return;
    }
    const json_t *u = json_object_get(ev->body, "body");
    if (!json_is_object(u) || !json_is_integer(json_object_get(u, "update_id"))) {
        t->host->log(t->ctx, AH_LOG_WARN, "webhook %s: not a Telegram Update; dropped", ev->id);
        t->host->ack(t->ctx, ev);
        return;
    }
    const char *topic;
    json_t *m = take(t, u, &topic);
    if (!m) {
        t->host->ack(t->ctx, ev);
        return;
    }
    char key[200], idem[200];
    key_of(t, m, key, sizeof(key));
    idem_of(t, u, idem, sizeof(idem));
    ah_publish_opts o = {.size = sizeof(o), .key = key, .idempotency_key = idem};
    hook *h = calloc(1, sizeof(*h));
    if (!h) {
        json_decref(m);
        t->host->nack(t->ctx, ev, "out of memory", 0);
        return;
    }
    *h = (hook){.t = t, .ev = ev, .mapped = json_pack("[o]", m)};
    int rc = t->host->publish(t->ctx, topic, m, &o, hook_published, h);
    if (rc) {
        json_decref(h->mapped);
        free(h);
        t->host->nack(t->ctx, ev, ah_strerror(rc), 0);
    }
}
