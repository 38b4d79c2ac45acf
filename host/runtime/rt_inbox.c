/*
 * rt_inbox.c - where turns come from: the engine's bus consumer
 * (message.in: a person wrote; engine.start: a trigger step started an
 * agent), the REST channel (a message published on message.in, its sender
 * waiting for the answer), and the timers of waiting steps (the
 * conversations' wake_at, looked for every timer_scan_ms). See rt_priv.h.
 */
#include "runtime/rt_priv.h"

#include "core/log.h"
#include "core/util.h"
#include "engine/command.h"
#include "model/collections.h"
#include "model/ids.h"

#include <agenthost/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMERS_PER_SCAN 64

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- deliveries: taken now, run on the next loop pass ----------------------------- */

/* The bus registers a delivery after its deliver callback returns: a job
 * settles its delivery only from a later callback. */
static void submit(void *ud)
{
    rt_submit(ud);
}

static void dropped(void *ud) /* the job never ran: its delivery comes back after a restart */
{
    rt_job_free(ud);
}

static int submit_soon(runtime *rt, rt_job *j)
{
    return rt_soon(rt, submit, dropped, j);
}

/* Too many inputs from one chat this minute: the rest of the minute's are
 * dropped (logged, counted), so a flood cannot starve the others. */
static bool flooded(runtime *rt, const char *key)
{
    uint32_t limit = rt->o.flood_per_minute ? rt->o.flood_per_minute : 60;
    int64_t minute = ah_now_ms() / 60000;
    rt_flood *f = strmap_get(&rt->flood, key);
    if (!f) {
        if (rt->flood.n > 100000) { /* forget the old minutes */
            size_t pos = 0;
            const char *k;
            void *v;
            while (strmap_next(&rt->flood, &pos, &k, &v))
                free(v);
            strmap_free(&rt->flood);
            strmap_init(&rt->flood);
        }
        f = calloc(1, sizeof(*f));
        if (!f || strmap_put(&rt->flood, key, f) != 0) {
            free(f);
            return false;
        }
    }
    if (f->minute != minute) {
        f->minute = minute;
        f->n = 0;
    }
    return ++f->n > limit;
}

/* message.in's body as the turn's input and who sent it. */
static rt_job *message_job(runtime *rt, const bus_delivery *d)
{
    const json_t *b = d->body;
    const char *dir = str_of(b, "direction");
    const json_t *ch = json_object_get(b, "channel");
    if (!json_is_object(b) || !dir || strcmp(dir, "in") != 0 || !str_of(ch, "kind") ||
        !str_of(ch, "instance") || !str_of(json_object_get(b, "chat"), "id"))
        return NULL;
    rt_job *j = rt_job_new(rt, JOB_MESSAGE);
    if (!j) return NULL;
    j->msg = json_deep_copy(b);
    const json_t *action = json_object_get(b, "action");
    j->input = json_object();
    const char *text = str_of(b, "text");
    if (!text) text = str_of(action, "text");
    if (text) json_object_set_new(j->input, "text", json_string(text));
    if (str_of(action, "data"))
        json_object_set(j->input, "payload", json_object_get(action, "data"));
    if (!json_object_get(b, "command") && text) { /* a channel that left commands to us */
        json_t *cmd = command_parse(text);
        if (cmd) json_object_set_new(j->msg, "command", cmd);
        b = j->msg;
    }
    static const char *const kept[] = {"attachments", "command", "language", "id"};
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        if (json_object_get(b, kept[i]))
            json_object_set(j->input, kept[i], json_object_get(b, kept[i]));
    const json_t *from = json_object_get(b, "from");
    const char *who = str_of(from, "id");
    if (!who) who = str_of(json_object_get(b, "chat"), "id");
    j->identity =
        json_pack("{s:O,s:s,s:O,s:O?,s:O?}", "channel", json_object_get(ch, "kind"), "id", who,
                  "instance", json_object_get(ch, "instance"), "name",
                  json_object_get(from, "name"), "language", json_object_get(b, "language"));
    const char *agent = str_of(d->headers, "agent");
    if (agent) snprintf(j->agent_id, sizeof(j->agent_id), "%s", agent);
    const char *req = str_of(d->headers, "rest_request");
    if (req) snprintf(j->rest_request, sizeof(j->rest_request), "%s", req);
    return j;
}

/* engine.start: {"agent", "contact_id", "input", "from_conversation"}. */
static rt_job *start_job(runtime *rt, const bus_delivery *d)
{
    const char *agent = str_of(d->body, "agent");
    if (!agent || strlen(agent) >= sizeof(((rt_job *)0)->agent_id)) return NULL;
    rt_job *j = rt_job_new(rt, JOB_START);
    if (!j) return NULL;
    snprintf(j->agent_id, sizeof(j->agent_id), "%s", agent);
    const char *contact = str_of(d->body, "contact_id");
    if (contact) j->identity = json_pack("{s:s}", "contact_id", contact);
    const json_t *input = json_object_get(d->body, "input");
    j->vars = json_is_object(input) ? json_deep_copy(input) : json_object();
    const char *from = str_of(d->body, "from_conversation");
    if (from) snprintf(j->from_conv, sizeof(j->from_conv), "%s", from);
    const json_t *trg = json_object_get(d->body, "trigger");
    j->trigger = json_is_object(trg) ? json_deep_copy(trg)
                                     : json_pack("{s:s,s:s}", "kind", "event", "name", "trigger");
    return j;
}

static int deliver(void *ud, const bus_delivery *d)
{
    runtime *rt = ud;
    if (rt->stopped) return -1;
    bool message = !strcmp(d->topic, "message.in");
    rt_job *j = message ? message_job(rt, d) : start_job(rt, d);
    if (!j) {
        rt_job *drop = rt_job_new(rt, JOB_DROP); /* settled on the next pass */
        if (!drop) return -1;
        drop->delivery = d->id;
        snprintf(drop->error, sizeof(drop->error), "%s at %llu: not the shape of its topic",
                 d->topic, (unsigned long long)d->offset);
        if (submit_soon(rt, drop) == 0) return 0;
        rt_job_free(drop);
        return -1;
    }
    j->delivery = d->id;
    if (message) {
        char key[400];
        snprintf(key, sizeof(key), "%s:%s", str_of(json_object_get(d->body, "channel"), "instance"),
                 str_of(json_object_get(d->body, "chat"), "id"));
        if (flooded(rt, key)) {
            j->kind = JOB_DROP;
            snprintf(j->error, sizeof(j->error),
                     "flood: more than engine.flood_per_minute messages this minute from %s", key);
        }
    }
    if (submit_soon(rt, j) != 0) {
        rt_job_free(j);
        return -1;
    }
    return 0;
}

static const bus_consumer_ops OPS = {.deliver = deliver};

int rt_inbox_open(runtime *rt, char *err, size_t errlen)
{
    static const char *const patterns[] = {"message.in", "engine.start"};
    bus_consumer_opts co = {.name = "engine",
                            .patterns = patterns,
                            .npatterns = 2,
                            .start = BUS_START_EARLIEST,
                            .max_in_flight = rt->o.max_in_flight ? rt->o.max_in_flight : 64,
                            .ack_timeout_ms =
                                rt->o.turn_timeout_ms ? rt->o.turn_timeout_ms : 300000};
    int rc = bus_consumer_open(rt->d.bus, &co, &OPS, rt, &rt->inbox, err, errlen);
    if (rc) return rc;
    bus_consumer_attach(rt->inbox);
    return rt_failover_open(rt, err, errlen);
}

static void waiter_closed(uv_handle_t *h)
{
    free(h->data);
}

void rt_inbox_close(runtime *rt)
{
    if (rt->inbox) bus_consumer_detach(rt->inbox, NULL);
    rt_failover_close(rt);
    if (rt->scan_open) {
        rt->scan_open = false;
        uv_close((uv_handle_t *)&rt->scan, NULL);
    }
    size_t pos = 0;
    const char *k;
    void *v;
    while (strmap_next(&rt->waiters, &pos, &k, &v)) {
        rt_waiter *w = v;
        runtime_outcome o = {
            .status = AH_ECLOSED, .error = "unavailable", .message = "the engine is stopping"};
        if (!w->answered) w->cb(w->ud, &o);
        w->answered = true;
        uv_close((uv_handle_t *)&w->timer, waiter_closed);
    }
    strmap_free(&rt->waiters);
    strmap_init(&rt->waiters);
}

/* ---- the REST channel ---------------------------------------------------------------- */

static void waiter_end(rt_waiter *w, const runtime_outcome *o)
{
    strmap_del(&w->rt->waiters, w->id);
    if (!w->answered) {
        w->answered = true;
        w->cb(w->ud, o);
    }
    uv_close((uv_handle_t *)&w->timer, waiter_closed);
}

static void waiter_timeout(uv_timer_t *h)
{
    rt_waiter *w = h->data;
    runtime_outcome o = {.status = AH_ETIMEDOUT,
                         .error = "pending",
                         .message = "the message is in; the answer is not ready yet"};
    waiter_end(w, &o);
}

void rt_waiter_answer(rt_job *j, const runtime_outcome *o)
{
    if (!j->rest_request[0]) return;
    rt_waiter *w = strmap_get(&j->rt->waiters, j->rest_request);
    if (!w) return;
    /* An input dropped or failed before a turn is still an answer for the
     * sender; a failed commit is retried by the bus: wait for it. */
    if (o->status && j->ran) return;
    waiter_end(w, o);
}

static void published(void *ud, int status, const uint64_t *offsets, const bool *dup, size_t n)
{
    (void)offsets, (void)n;
    rt_waiter *w = ud;
    if (status || (dup && dup[0])) {
        runtime_outcome o = {.status = status ? status : AH_ETIMEDOUT,
                             .error = status ? "unavailable" : "pending",
                             .message = status ? ah_strerror(status)
                                               : "a message with this idempotency key was taken "
                                                 "already; its answer is in the conversation"};
        waiter_end(w, &o);
    }
}

/* message.in's body for a message from a person on a host-served channel. */
static json_t *in_body(const char *kind, const char *inst, const char *external_id,
                       const json_t *msg)
{
    const char *user = str_of(msg, "user"), *text = str_of(msg, "text");
    const char *payload = str_of(msg, "payload");
    char at[40];
    ah_rfc3339_ms(ah_now_ms(), at, sizeof(at));
    json_t *body =
        json_pack("{s:i,s:s,s:s,s:{s:s,s:s},s:s,s:s,s:{s:s},s:{s:s,s:s}}", "event_version", 1,
                  "direction", "in", "kind", payload && !text ? "action" : "message", "channel",
                  "kind", kind, "instance", inst, "external_id", external_id, "at", at, "chat",
                  "id", user, "from", "id", user, "type", "user");
    if (text) json_object_set_new(body, "text", json_string(text));
    if (payload) {
        json_t *a = json_pack("{s:s}", "data", payload);
        if (text) json_object_set_new(a, "text", json_string(text));
        json_object_set_new(body, "action", a);
    }
    if (str_of(msg, "name"))
        json_object_set(json_object_get(body, "from"), "name", json_object_get(msg, "name"));
    if (str_of(msg, "language"))
        json_object_set(body, "language", json_object_get(msg, "language"));
    if (json_is_array(json_object_get(msg, "attachments")))
        json_object_set(body, "attachments", json_object_get(msg, "attachments"));
    return body;
}

static int check_message(const char *agent_id, const json_t *msg, char *err, size_t errlen)
{
    const char *user = str_of(msg, "user");
    if (!agent_id || !id_valid(agent_id, "agt")) {
        snprintf(err, errlen, "not an agent id");
        return AH_EINVAL;
    }
    if (!user || !*user || strlen(user) > 256) {
        snprintf(err, errlen, "user: required, 1 to 256 characters (who is writing)");
        return AH_EINVAL;
    }
    if (!str_of(msg, "text") && !str_of(msg, "payload") &&
        !json_array_size(json_object_get(msg, "attachments"))) {
        snprintf(err, errlen, "text: required (or payload, a button's)");
        return AH_EINVAL;
    }
    return 0;
}

int runtime_rest_message(runtime *rt, const char *agent_id, const json_t *msg,
                         const char *idempotency_key, uint32_t wait_ms, runtime_cb cb, void *ud,
                         char *err, size_t errlen)
{
    int rc = check_message(agent_id, msg, err, errlen);
    if (rc) return rc;
    const char *user = str_of(msg, "user");
    rt_waiter *w = calloc(1, sizeof(*w));
    if (!w) return AH_ENOMEM;
    w->rt = rt;
    w->cb = cb;
    w->ud = ud;
    id_new("req", ah_now_ms(), w->id, sizeof(w->id));
    json_t *body = in_body("rest", "rest", w->id, msg);
    json_t *headers = json_pack("{s:s,s:s}", "agent", agent_id, "rest_request", w->id);
    char key[400], idem[400];
    snprintf(key, sizeof(key), "rest:%s:%s", agent_id, user);
    if (idempotency_key) snprintf(idem, sizeof(idem), "rest:%s:%s", agent_id, idempotency_key);
    bus_msg m = {.topic = "message.in",
                 .key = key,
                 .idempotency_key = idempotency_key ? idem : NULL,
                 .headers = headers,
                 .body = body};
    uv_timer_init(loop_uv(rt->d.loop), &w->timer);
    w->timer.data = w;
    rc = strmap_put(&rt->waiters, w->id, w);
    if (!rc) rc = bus_publish(rt->d.bus, &m, 1, false, published, w, err, errlen);
    json_decref(body);
    json_decref(headers);
    if (rc) {
        strmap_del(&rt->waiters, w->id);
        w->answered = true;
        uv_close((uv_handle_t *)&w->timer, waiter_closed);
        return rc;
    }
    uv_timer_start(&w->timer, waiter_timeout, wait_ms ? wait_ms : 1, 0);
    return 0;
}

/* ---- channels the host serves (the web chat) ----------------------------------------- */

typedef struct accept_req {
    runtime_cb cb;
    void *ud;
} accept_req;

static void accepted(void *ud, int status, const uint64_t *offsets, const bool *dup, size_t n)
{
    (void)offsets, (void)dup, (void)n;
    accept_req *a = ud;
    runtime_outcome o = {.status = status,
                         .error = status ? "unavailable" : NULL,
                         .message = status ? ah_strerror(status) : NULL,
                         .stop = status ? NULL : "accepted"};
    a->cb(a->ud, &o);
    free(a);
}

int runtime_channel_message(runtime *rt, const char *kind, const char *inst, const char *agent_id,
                            const json_t *msg, const char *idempotency_key, runtime_cb cb, void *ud,
                            char *err, size_t errlen)
{
    int rc = check_message(agent_id, msg, err, errlen);
    if (rc) return rc;
    accept_req *a = calloc(1, sizeof(*a));
    if (!a) return AH_ENOMEM;
    a->cb = cb;
    a->ud = ud;
    char ext[40], key[400], idem[400];
    id_new("msg", ah_now_ms(), ext, sizeof(ext));
    json_t *body = in_body(kind, inst, ext, msg);
    json_t *headers = json_pack("{s:s}", "agent", agent_id);
    snprintf(key, sizeof(key), "%s:%s:%s", kind, inst, str_of(msg, "user"));
    if (idempotency_key) snprintf(idem, sizeof(idem), "%s:%s:%s", kind, inst, idempotency_key);
    bus_msg m = {.topic = "message.in",
                 .key = key,
                 .idempotency_key = idempotency_key ? idem : NULL,
                 .headers = headers,
                 .body = body};
    rc = bus_publish(rt->d.bus, &m, 1, false, accepted, a, err, errlen);
    json_decref(body);
    json_decref(headers);
    if (rc) free(a);
    return rc;
}

void runtime_watch(runtime *rt, runtime_watch_fn fn, void *ud)
{
    rt->watch = fn;
    rt->watch_ud = ud;
}

/* ---- timers ----------------------------------------------------------------------------- */

typedef struct due_scan {
    doc_txn *t;
    int64_t now;
    json_t *ids;
} due_scan;

static int due_one(void *ud, const char *id)
{
    due_scan *s = ud;
    json_t *doc = NULL;
    if (doc_get(s->t, COLL_CONVERSATIONS, id, &doc, NULL) != 0) return 0;
    const json_t *at = json_object_get(doc, "wake_at");
    bool due = json_is_integer(at) && json_integer_value(at) <= s->now;
    json_decref(doc);
    if (!due) return 1; /* in wake order: the rest are later */
    json_array_append_new(s->ids, json_string(id));
    return json_array_size(s->ids) >= TIMERS_PER_SCAN ? 1 : 0;
}

static int scan_txn(doc_txn *t, void *ud)
{
    due_scan *s = ud;
    s->t = t;
    json_t *none = json_array();
    int rc = doc_scan_ids(t, COLL_CONVERSATIONS, "by_wake", none, false, due_one, s);
    json_decref(none);
    return rc < 0 ? rc : 0;
}

static void scan_fire(uv_timer_t *h)
{
    runtime *rt = h->data;
    if (rt->stopped) return;
    due_scan s = {.now = ah_now_ms(), .ids = json_array()};
    if (docs_read(rt->d.docs, scan_txn, &s, NULL) == 0) {
        size_t i;
        json_t *id;
        json_array_foreach(s.ids, i, id)
        {
            if (rt_busy_has(rt, json_string_value(id))) continue; /* its turn comes after */
            rt_job *j = rt_job_new(rt, JOB_TIMER);
            if (!j) break;
            snprintf(j->conv_id, sizeof(j->conv_id), "%s", json_string_value(id));
            rt_submit(j);
        }
    }
    json_decref(s.ids);
    rt_triggers_scan(rt);
}

void rt_timers_start(runtime *rt)
{
    uv_timer_init(loop_uv(rt->d.loop), &rt->scan);
    rt->scan.data = rt;
    rt->scan_open = true;
    uint32_t every = rt->o.timer_scan_ms ? rt->o.timer_scan_ms : 250;
    uv_timer_start(&rt->scan, scan_fire, every, every);
}
