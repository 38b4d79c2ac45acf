/*
 * rt_events.c - on_event triggers (docs/schemas/trigger.json): an event on
 * a bus topic starts an agent.
 *
 * Each enabled on_event trigger reads its topic through its own durable
 * bus consumer, "trigger:<id>", opened when the trigger is saved (from the
 * events published from then on) or at start (from its position). When the
 * trigger is deleted, disabled or no longer on_event, its consumer is
 * deleted (bus_consumer_delete), so a trigger that is gone holds no event
 * back from the topic's retention; one left behind by a crash is deleted
 * at the next start. A change of topic deletes the consumer and opens a
 * new one once the deletion is durable.
 *
 * An event becomes {topic, offset, id, key, time, headers, body}: the
 * trigger's jq `filter` over it decides (its first output neither false nor
 * null; none: every event), its jq `map` gives the variables merged over
 * the trigger's own (none: {"event": <body>}), both in the sandboxed
 * expression workers, which bound a hostile program (a deadline, memory,
 * output). The start is an engine.start published in the commit that
 * settles the delivery, with the event's id in its idempotency key: an
 * event starts the agent at most once per trigger. A filter or map that
 * fails is retried with backoff, then dead-lettered ($dlq.<topic>) by the
 * bus, and logged.
 */
#include "runtime/rt_priv.h"

#include "core/fault.h"
#include "core/log.h"
#include "core/util.h"
#include "model/collections.h"

#include <agenthost/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EV_IN_FLIGHT 16
#define EV_ATTEMPTS 5

typedef struct evtrg {
    runtime *rt;
    char id[40];
    char consumer[64]; /* "trigger:<id>" */
    json_t *doc;       /* the trigger */
    bus_consumer *c;
    long refs; /* the map's, and one per delivery under way */
    bool gone;
} evtrg;

typedef struct ev_dlv {
    evtrg *e;
    json_t *doc; /* the trigger when the event came */
    uint64_t id; /* the bus delivery */
    json_t *event;
    size_t bytes;
} ev_dlv;

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void evtrg_unref(evtrg *e)
{
    if (--e->refs > 0) return;
    json_decref(e->doc);
    free(e);
}

static void ev_free(ev_dlv *x)
{
    json_decref(x->event);
    json_decref(x->doc);
    evtrg_unref(x->e);
    free(x);
}

/* Whether x may still settle its delivery: the engine runs (the bus is
 * there) and the trigger still has its consumer. */
static bool live(const ev_dlv *x)
{
    return !x->e->rt->stopped && !x->e->gone;
}

static void fail_event(ev_dlv *x, const char *fmt, const char *why)
{
    char msg[600];
    snprintf(msg, sizeof(msg), fmt, why);
    json_t *f =
        json_pack("{s:s,s:s,s:I,s:s}", "trigger", x->e->id, "topic", str_of(x->event, "topic"),
                  "offset", json_integer_value(json_object_get(x->event, "offset")), "error", msg);
    log_write("errors", LOG_ERROR, "triggers", NULL, f, "on_event trigger %s: %s", x->e->id, msg);
    json_decref(f);
    bus_nack(x->e->rt->d.bus, x->id, msg, 0);
    ev_free(x);
}

/* ---- the start ------------------------------------------------------------------------- */

static void started(void *ud, int status, const uint64_t *offsets, const bool *dup, size_t n)
{
    ev_dlv *x = ud;
    json_t *f = json_pack("{s:s,s:s?,s:s,s:I,s:s?,s:I,s:b}", "trigger", x->e->id, "agent_id",
                          str_of(x->doc, "agent_id"), "topic", str_of(x->event, "topic"), "offset",
                          json_integer_value(json_object_get(x->event, "offset")), "event_id",
                          str_of(x->event, "id"), "bytes", (json_int_t)x->bytes, "duplicate",
                          status == 0 && n == 1 && dup[0]);
    if (status)
        log_write("errors", LOG_ERROR, "engine", NULL, f, "an on_event start was not committed");
    else
        log_write("agent_launch", LOG_INFO, "engine", NULL, f, "event matched: start %llu",
                  n ? (unsigned long long)offsets[0] : 0ull);
    json_decref(f);
    ev_free(x); /* on failure the bus delivers it again after a backoff */
}

/* Publish the engine.start with mapped (stolen) over the trigger's
 * variables, settling the delivery in the same commit. */
static void start(ev_dlv *x, json_t *mapped)
{
    const json_t *trg = x->doc;
    json_t *vars = json_deep_copy(json_object_get(trg, "variables"));
    if (!vars) vars = json_object();
    json_object_update(vars, mapped);
    json_decref(mapped);
    json_t *body = json_pack(
        "{s:s,s:o,s:{s:s,s:s,s:s?,s:O,s:O,s:O,s:I}}", "agent", str_of(trg, "agent_id"), "input",
        vars, "trigger", "id", x->e->id, "kind", "on_event", "name", str_of(trg, "name"), "topic",
        json_object_get(x->event, "topic"), "offset", json_object_get(x->event, "offset"),
        "event_id", json_object_get(x->event, "id"), "bytes", (json_int_t)x->bytes);
    if (str_of(trg, "contact_id"))
        json_object_set(body, "contact_id", json_object_get(trg, "contact_id"));
    char idem[BUS_IDEMPOTENCY_KEY_MAX];
    snprintf(idem, sizeof(idem), "trge:%s:%s", x->e->id, str_of(x->event, "id"));
    bus_msg m = {.topic = "engine.start",
                 .key = str_of(trg, "agent_id"),
                 .idempotency_key = idem,
                 .body = body};
    bus_commit_req r = {.settle = x->id, .msgs = &m, .n = 1};
    char err[300];
    int rc = bus_commit(x->e->rt->d.bus, &r, started, x, err, sizeof(err));
    json_decref(body);
    if (rc == AH_ENOTFOUND) { /* timed out meanwhile: it comes again */
        ev_free(x);
    } else if (rc) {
        fail_event(x, "the start cannot be published: %s", err);
    }
}

/* ---- filter and map --------------------------------------------------------------------- */

static void mapped(void *ud, const expr_result *r)
{
    ev_dlv *x = ud;
    if (!live(x)) {
        ev_free(x);
        return;
    }
    const json_t *out = r->error ? NULL : json_array_get(r->outputs, 0);
    if (!json_is_object(out)) {
        fail_event(x, "its map %s",
                   r->error ? (r->message ? r->message : r->error)
                            : "gave no object: it must give an object");
        return;
    }
    start(x, json_deep_copy(out));
}

static void run_map(ev_dlv *x)
{
    const char *map = str_of(json_object_get(x->doc, "event"), "map");
    if (!map) {
        start(x, json_pack("{s:O}", "event", json_object_get(x->event, "body")));
        return;
    }
    char err[300];
    if (expr_eval(x->e->rt->d.expr, map, x->event, NULL, NULL, mapped, x, err, sizeof(err)) != 0)
        fail_event(x, "its map cannot run: %s", err);
}

static void filtered(void *ud, const expr_result *r)
{
    ev_dlv *x = ud;
    if (!live(x)) {
        ev_free(x);
        return;
    }
    if (r->error) {
        fail_event(x, "its filter failed: %s", r->message ? r->message : r->error);
        return;
    }
    const json_t *first = json_array_get(r->outputs, 0);
    if (!first || json_is_false(first) || json_is_null(first)) {
        bus_ack(x->e->rt->d.bus, x->id); /* not for this trigger */
        ev_free(x);
        return;
    }
    run_map(x);
}

static void begin(ev_dlv *x)
{
    if (!live(x)) {
        ev_free(x);
        return;
    }
    const char *filter = str_of(json_object_get(x->doc, "event"), "filter");
    if (!filter) {
        run_map(x);
        return;
    }
    char err[300];
    if (expr_eval(x->e->rt->d.expr, filter, x->event, NULL, NULL, filtered, x, err, sizeof(err)) !=
        0)
        fail_event(x, "its filter cannot run: %s", err);
}

/* ---- deliveries: taken now, begun on the next loop pass (rt_soon) ------------------------- */

static void begin_soon(void *ud)
{
    begin(ud);
}

static void dropped(void *ud) /* runtime_free: never begun */
{
    ev_free(ud);
}

static int deliver(void *ud, const bus_delivery *d)
{
    evtrg *e = ud;
    runtime *rt = e->rt;
    if (rt->stopped || e->gone) return -1;
    ev_dlv *x = calloc(1, sizeof(*x));
    if (!x) return -1;
    *x = (ev_dlv){.e = e, .doc = json_incref(e->doc), .id = d->id};
    e->refs++;
    x->event = json_pack("{s:s,s:I,s:s,s:s?,s:I,s:O,s:O}", "topic", d->topic, "offset",
                         (json_int_t)d->offset, "id", d->event_id, "key", d->key, "time",
                         (json_int_t)d->time_ms, "headers", d->headers, "body", d->body);
    char *text = json_dumps(d->body, JSON_COMPACT | JSON_ENCODE_ANY);
    x->bytes = text ? strlen(text) : 0;
    free(text);
    if (!x->event || rt_soon(rt, begin_soon, dropped, x) != 0) { /* the bus tries again later */
        ev_free(x);
        return -1;
    }
    return 0;
}

static const bus_consumer_ops OPS = {.deliver = deliver};

/* ---- the triggers' consumers ------------------------------------------------------------- */

typedef struct retake {
    runtime *rt;
    char id[40]; /* take this trigger up again once deleted, or "" */
    char consumer[64];
} retake;

static void consumer_deleted(void *ud, int status)
{
    retake *r = ud;
    if (status)
        log_error("triggers",
                  "%s: deleting its bus consumer failed (%s); it is tried again at "
                  "the next start",
                  r->consumer, ah_strerror(status));
    else if (r->id[0] && !r->rt->stopped)
        runtime_trigger_changed(r->rt, r->id); /* its new topic, if it still wants one */
    free(r);
}

static void delete_consumer(runtime *rt, const char *consumer, const char *retake_id)
{
    retake *r = calloc(1, sizeof(*r));
    char err[300] = "out of memory";
    int rc = AH_ENOMEM;
    if (r) {
        *r = (retake){.rt = rt};
        snprintf(r->id, sizeof(r->id), "%s", retake_id ? retake_id : "");
        snprintf(r->consumer, sizeof(r->consumer), "%s", consumer);
        rc = bus_consumer_delete(rt->d.bus, consumer, consumer_deleted, r, err, sizeof(err));
    }
    if (rc) free(r);
    /* AH_EBUSY: a deletion under way takes the trigger up when it is done */
    if (rc && rc != AH_ENOTFOUND && rc != AH_EBUSY)
        log_error("triggers", "%s: its bus consumer cannot be deleted now: %s", consumer, err);
}

/* The trigger's consumer goes. Once the deletion is durable the trigger
 * is taken up again as it is then: enabled again meanwhile, or on another
 * topic, it gets a new consumer (which could not be opened while the
 * deletion was under way). */
static void evtrg_drop(runtime *rt, const char *id)
{
    char consumer[64];
    snprintf(consumer, sizeof(consumer), "trigger:%s", id);
    evtrg *e = strmap_del(&rt->evtrgs, id);
    if (e) {
        e->gone = true; /* deliveries under way find it so and stop */
        e->c = NULL;
        evtrg_unref(e);
        AH_FAULT("triggers.before_consumer_delete"); /* left behind: deleted at the next start */
    }
    delete_consumer(rt, consumer, id);
}

static bool wants_consumer(const json_t *doc)
{
    const char *kind = str_of(doc, "kind");
    return doc && kind && !strcmp(kind, "on_event") &&
           !json_is_false(json_object_get(doc, "enabled"));
}

static const char *topic_of(const json_t *doc)
{
    return str_of(json_object_get(doc, "event"), "topic");
}

/* Take the trigger id (doc: as it is now, NULL when deleted) up. */
static void take_up(runtime *rt, const char *id, const json_t *doc)
{
    evtrg *e = strmap_get(&rt->evtrgs, id);
    if (!wants_consumer(doc) || !topic_of(doc)) {
        evtrg_drop(rt, id);
        return;
    }
    if (e && strcmp(topic_of(e->doc), topic_of(doc)) != 0) {
        evtrg_drop(rt, id); /* another topic: a new consumer, once this one is gone */
        return;
    }
    if (e) { /* filter, map, variables: the next events use them */
        json_decref(e->doc);
        e->doc = json_deep_copy(doc);
        return;
    }
    if (!(e = calloc(1, sizeof(*e)))) return;
    *e = (evtrg){.rt = rt, .doc = json_deep_copy(doc), .refs = 1};
    snprintf(e->id, sizeof(e->id), "%s", id);
    snprintf(e->consumer, sizeof(e->consumer), "trigger:%s", id);
    const char *patterns[] = {topic_of(doc)};
    bus_consumer_opts co = {.name = e->consumer,
                            .patterns = patterns,
                            .npatterns = 1,
                            .start = BUS_START_LATEST,
                            .max_in_flight = EV_IN_FLIGHT,
                            /* a filter and a map at their longest, and the commit */
                            .ack_timeout_ms = 2 * EXPR_MAX_TIMEOUT_MS + 30000,
                            .max_attempts = EV_ATTEMPTS};
    char err[300];
    int rc = bus_consumer_open(rt->d.bus, &co, &OPS, e, &e->c, err, sizeof(err));
    if (rc == AH_EBUSY) { /* its deletion is under way: taken up again when it is done */
        evtrg_unref(e);
        return;
    }
    if (rc || strmap_put(&rt->evtrgs, e->id, e) != 0) {
        log_error("triggers", "on_event trigger %s: its consumer cannot be opened: %s", id,
                  rc ? err : "out of memory");
        evtrg_unref(e);
        return;
    }
    bus_consumer_attach(e->c);
}

typedef struct load_arg {
    const char *one; /* this trigger, or every on_event one */
    json_t *docs;    /* found */
} load_arg;

static int load_id(void *ud, const char *id)
{
    json_array_append_new(((load_arg *)ud)->docs, json_string(id));
    return 0;
}

static int run_load(doc_txn *t, void *ud)
{
    load_arg *a = ud;
    json_t *ids = json_array();
    int rc = 0;
    if (a->one) {
        json_array_append_new(ids, json_string(a->one));
    } else {
        a->docs = ids;
        json_t *kind = json_pack("[s]", "on_event");
        rc = doc_scan_ids(t, COLL_TRIGGERS, "by_kind", kind, false, load_id, a);
        json_decref(kind);
    }
    a->docs = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        json_t *doc = NULL;
        int r = rc ? rc : doc_get(t, COLL_TRIGGERS, json_string_value(v), &doc, NULL);
        if (r && r != AH_ENOTFOUND) rc = r;
        if (doc) json_array_append_new(a->docs, doc);
    }
    json_decref(ids);
    return rc;
}

void runtime_trigger_changed(runtime *rt, const char *id)
{
    if (!rt || rt->stopped || !id) return;
    load_arg a = {.one = id};
    doc_error e = {0};
    if (docs_read(rt->d.docs, run_load, &a, &e) != 0) {
        log_error("triggers", "trigger %s: cannot take up its change: %s", id, e.message);
    } else {
        take_up(rt, id, json_array_get(a.docs, 0));
    }
    json_decref(a.docs);
}

int rt_events_start(runtime *rt, char *err, size_t errlen)
{
    load_arg a = {0};
    doc_error e = {0};
    int rc = docs_read(rt->d.docs, run_load, &a, &e);
    if (rc) {
        snprintf(err, errlen, "loading the on_event triggers: %s", e.message);
        json_decref(a.docs);
        return rc;
    }
    size_t i;
    json_t *doc;
    json_array_foreach(a.docs, i, doc) take_up(rt, str_of(doc, "id"), doc);
    json_decref(a.docs);
    /* Consumers of triggers gone while their deletion could not finish. */
    json_t *all = bus_consumers(rt->d.bus);
    json_array_foreach(all, i, doc)
    {
        const char *name = str_of(doc, "name");
        if (json_is_true(json_object_get(doc, "open")) || strncmp(name, "trigger:", 8) != 0)
            continue;
        log_info("triggers", "%s: its trigger is gone: deleting the consumer left behind", name);
        delete_consumer(rt, name, NULL);
    }
    json_decref(all);
    return 0;
}

void rt_events_stop(runtime *rt)
{
    size_t pos = 0;
    const char *k;
    void *v;
    while (strmap_next(&rt->evtrgs, &pos, &k, &v))
        if (((evtrg *)v)->c) bus_consumer_detach(((evtrg *)v)->c, NULL);
}

void rt_events_free(runtime *rt)
{
    size_t pos = 0;
    const char *k;
    void *v;
    while (strmap_next(&rt->evtrgs, &pos, &k, &v))
        evtrg_unref(v);
    strmap_free(&rt->evtrgs);
}
