/*
 * bus_service.c - plugin instances on the bus. See bus_service.h.
 */
#include "bus_service.h"

#include "sdk/ipc/frame.h"
#include "sdk/ipc/jsonw.h"
#include "sdk/ipc/idmap.h"
#include "core/fault.h"
#include "core/log.h"
#include "core/util.h"

#include <agenthost/plugin.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct inst_consumer {
    bus_service *bs;
    instance *inst;
    bus_consumer *c;
} inst_consumer;

struct bus_service {
    bus *b;
    supervisor *sup;
    inst_consumer **v;
    size_t n, cap;
    ah_idmap owners; /* delivery id -> instance it went to */
    bus_service_enrich_fn enrich;
    void *enrich_ud;
    char enrich_topic[128];
};

void bus_service_set_enrich(bus_service *bs, const char *topic, bus_service_enrich_fn fn, void *ud)
{
    bs->enrich = fn;
    bs->enrich_ud = ud;
    snprintf(bs->enrich_topic, sizeof(bs->enrich_topic), "%s", topic ? topic : "");
}

static void security(instance *inst, const char *event, const char *fmt, const char *a)
{
    log_ctx c = {.plugin = instance_manifest(inst)->name, .instance = instance_id(inst)};
    json_t *f = json_pack("{s:s}", "event", event);
    char msg[400];
    snprintf(msg, sizeof(msg), fmt, a);
    log_write("security", LOG_WARN, "bus", &c, f, "instance %s: %s", instance_id(inst), msg);
    json_decref(f);
}

/* ---- publishing ------------------------------------------------------------ */

#define PUBLISH_BATCH_MAX 1000

size_t bus_service_publish_count(const json_t *body)
{
    const json_t *events = json_object_get(body, "events");
    if (!events) return json_is_object(body) ? 1 : 0;
    size_t n = json_is_array(events) ? json_array_size(events) : 0;
    return n <= PUBLISH_BATCH_MAX ? n : 0;
}

int bus_service_publish_parse(const manifest *m, const json_t *body, bus_msg *msgs, size_t count,
                              const char **denied, char *err, size_t errlen)
{
    const json_t *events = json_object_get(body, "events");
    *denied = NULL;
    for (size_t i = 0; i < count; i++) {
        const json_t *e = events ? json_array_get(events, i) : body;
        const char *topic = json_string_value(json_object_get(e, "topic"));
        if (!topic || !json_object_get(e, "body")) {
            snprintf(err, errlen, "%s needs a topic and a body",
                     events ? "every event" : "publish");
            return AH_EINVAL;
        }
        if (topic[0] == '$' || !manifest_may_publish(m, topic)) {
            *denied = topic;
            snprintf(err, errlen, "the manifest does not declare this topic in publishes");
            return AH_EDENIED;
        }
        msgs[i] =
            (bus_msg){.topic = topic,
                      .key = json_string_value(json_object_get(e, "key")),
                      .idempotency_key = json_string_value(json_object_get(e, "idempotency_key")),
                      .headers = json_object_get(e, "headers"),
                      .body = json_object_get(e, "body")};
    }
    return 0;
}

json_t *bus_service_publish_answer(const json_t *request, const uint64_t *offsets, const bool *dup,
                                   size_t n)
{
    if (!json_object_get(request, "events"))
        return json_pack("{s:I,s:b}", "offset", (json_int_t)offsets[0], "duplicate", dup[0]);
    json_t *o = json_array(), *d = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(o, json_integer((json_int_t)offsets[i]));
        json_array_append_new(d, json_boolean(dup[i]));
    }
    return json_pack("{s:o,s:o}", "offsets", o, "duplicates", d);
}

typedef struct pub_op {
    inst_req req;
    json_t *request; /* to shape the answer */
} pub_op;

static void published(void *ud, int status, const uint64_t *offsets, const bool *dup, size_t n)
{
    pub_op *op = ud;
    if (status || n == 0)
        instance_answer_error(op->req, status ? status : AH_EIO,
                              status == AH_ENOSPC ? "store_full" : "store",
                              ah_strerror(status ? status : AH_EIO));
    else
        instance_answer(op->req, bus_service_publish_answer(op->request, offsets, dup, n));
    json_decref(op->request);
    free(op);
}

static void on_publish(void *ud, inst_req req, json_t *body)
{
    bus_service *bs = ud;
    size_t n = bus_service_publish_count(body);
    if (!n) {
        instance_answer_error(req, AH_EINVAL, "invalid",
                              "publish needs an event, or a batch of 1 to 1000 events");
        return;
    }
    bus_msg one, *msgs = n == 1 ? &one : calloc(n, sizeof(*msgs)); /* one: the common case */
    pub_op *op = malloc(sizeof(*op));
    char err[300];
    const char *denied;
    int rc = msgs && op ? bus_service_publish_parse(instance_manifest(req.inst), body, msgs, n,
                                                    &denied, err, sizeof(err))
                        : AH_ENOMEM;
    if (rc == AH_EDENIED)
        security(req.inst, "publish_denied", "publish to undeclared topic \"%.200s\" refused",
                 denied);
    if (rc == 0) {
        *op = (pub_op){.req = req, .request = json_incref(body)};
        rc = bus_publish(bs->b, msgs, n, false, published, op, err, sizeof(err));
        if (rc) json_decref(body);
    }
    if (msgs != &one) free(msgs);
    if (rc) {
        free(op);
        instance_answer_error(req, rc,
                              rc == AH_EDENIED   ? "denied"
                              : rc == AH_ETOOBIG ? "too_large"
                              : rc == AH_ENOMEM  ? "no_memory"
                                                 : "invalid",
                              rc == AH_ENOMEM ? "out of memory" : err);
    }
}

/* ---- deliveries ---------------------------------------------------------------- */

/* The event as the plugin gets it, parsed: for a body the host enriches. */
static int deliver_parsed(inst_consumer *ic, const bus_delivery *d)
{
    bus_service *bs = ic->bs;
    json_t *headers =
        d->headers_json ? json_loadb(d->headers_json, d->headers_json_len, 0, NULL) : NULL;
    json_t *body = json_loadb(d->body_json, d->body_json_len, JSON_DECODE_ANY, NULL);
    if (!headers) headers = json_object();
    if (!body) body = json_null();
    json_t *more = bs->enrich(bs->enrich_ud, instance_id(ic->inst), d->topic, body);
    json_t *msg =
        json_pack("{s:s,s:s,s:I,s:I,s:i,s:o,s:o}", "topic", d->topic, "id", d->event_id, "offset",
                  (json_int_t)d->offset, "time_ms", (json_int_t)d->time_ms, "attempt",
                  (int)d->attempt, "headers", headers, "body", more ? more : json_incref(body));
    json_decref(body);
    if (d->key) json_object_set_new(msg, "key", json_string(d->key));
    int rc = msg ? instance_deliver(ic->inst, d->id, msg) : -1;
    json_decref(msg);
    return rc;
}

/* A JSON string's encoding (quotes included) appended at *o; false when s
 * is not UTF-8. */
static bool put_json_string(char **o, const char *s)
{
    json_t *j = json_string(s);
    size_t n = 0;
    char *t = j ? ah_json_dumps(j, &n) : NULL;
    json_decref(j);
    if (t) memcpy(*o, t, n), *o += n;
    free(t);
    return t != NULL;
}

/* The event as stored, spliced into the message unparsed: the same message
 * as deliver_parsed's for a body not enriched (its fields in the same
 * order), without decoding the body and headers to encode them again. */
static int deliver_text(inst_consumer *ic, const bus_delivery *d)
{
    size_t topic_n = strlen(d->topic), key_n = d->key ? strlen(d->key) : 0;
    /* Escaping at most sextuples a byte (\u00XX); the rest is bounded. */
    size_t cap = 160 + 6 * (topic_n + key_n) + strlen(d->event_id) +
                 (d->headers_json ? d->headers_json_len : 2) + d->body_json_len;
    char *msg = malloc(cap), *o = msg;
    if (!msg) return -1;
    o += sprintf(o, "{\"topic\":");
    if (!put_json_string(&o, d->topic)) {
        free(msg);
        return -1; /* as json_pack would have refused it */
    }
    o += sprintf(o,
                 ",\"id\":\"%s\",\"offset\":%" PRIu64 ",\"time_ms\":%" PRId64
                 ",\"attempt\":%d,\"headers\":",
                 d->event_id, d->offset, d->time_ms, (int)d->attempt);
    if (d->headers_json)
        memcpy(o, d->headers_json, d->headers_json_len), o += d->headers_json_len;
    else
        memcpy(o, "{}", 2), o += 2;
    memcpy(o, ",\"body\":", 8), o += 8;
    memcpy(o, d->body_json, d->body_json_len), o += d->body_json_len;
    if (d->key) { /* a key not UTF-8 is left out, as json_string leaves it */
        char *mark = o;
        memcpy(o, ",\"key\":", 7), o += 7;
        if (!put_json_string(&o, d->key)) o = mark;
    }
    *o++ = '}';
    int rc = instance_deliver_text(ic->inst, d->id, msg, (size_t)(o - msg));
    free(msg);
    return rc;
}

static int deliver(void *ud, const bus_delivery *d)
{
    inst_consumer *ic = ud;
    bus_service *bs = ic->bs;
    bool enriched = bs->enrich && !strcmp(d->topic, bs->enrich_topic);
    int rc = enriched ? deliver_parsed(ic, d) : deliver_text(ic, d);
    if (rc == 0) ah_idmap_put(&ic->bs->owners, d->id, ic->inst);
    return rc;
}

static void settle(bus_service *bs, inst_req req, json_t *body, bool ack)
{
    instance *owner = ah_idmap_get(&bs->owners, req.id);
    if (owner != req.inst) {
        if (owner || req.id)
            security(req.inst, "settle_denied",
                     "%s of a delivery that was not made to this instance ignored",
                     ack ? "ack" : "nack");
        return;
    }
    ah_idmap_take(&bs->owners, req.id);
    if (ack) {
        bus_ack(bs->b, req.id);
        return;
    }
    const char *error = json_string_value(json_object_get(body, "error"));
    json_int_t after = json_integer_value(json_object_get(body, "retry_after_ms"));
    bus_nack(bs->b, req.id, error ? error : "nacked by the plugin",
             after > 0 && after < 86400000 ? (uint32_t)after : 0);
}

static void on_ack(void *ud, inst_req req, json_t *body)
{
    settle(ud, req, body, true);
}

static void on_nack(void *ud, inst_req req, json_t *body)
{
    settle(ud, req, body, false);
}

/* ---- publish and settle in one commit (ABI 1.6) ---------------------------------- */

typedef struct commit_op {
    inst_req req;
    size_t n;
} commit_op;

static void committed(void *ud, int status, const uint64_t *offsets, const bool *dup, size_t n)
{
    commit_op *op = ud;
    if (status == 0) AH_FAULT("plugin.after_commit"); /* durable, the plugin not told */
    if (status) { /* nothing written; the bus delivers the event again */
        instance_answer_error(op->req, status, status == AH_ENOSPC ? "store_full" : "store",
                              ah_strerror(status));
    } else {
        json_t *o = json_array(), *d = json_array();
        for (size_t i = 0; i < n && i < op->n; i++) {
            json_array_append_new(o, json_integer((json_int_t)offsets[i]));
            json_array_append_new(d, json_boolean(dup[i]));
        }
        instance_answer(op->req, json_pack("{s:o,s:o}", "offsets", o, "duplicates", d));
    }
    free(op);
}

/* The delivery named by a commit, taken from the instance that owns it; 0
 * (and a security record) when it was not made to this instance. */
static uint64_t take_owned(bus_service *bs, inst_req req, const json_t *body)
{
    const json_t *d = json_object_get(body, "delivery");
    uint64_t id =
        json_is_integer(d) && json_integer_value(d) > 0 ? (uint64_t)json_integer_value(d) : 0;
    if (!id || ah_idmap_get(&bs->owners, id) != req.inst) {
        security(req.inst, "settle_denied", "%s", "commit of a delivery not made to it refused");
        return 0;
    }
    ah_idmap_take(&bs->owners, id);
    return id;
}

static void on_commit(void *ud, inst_req req, json_t *body)
{
    bus_service *bs = ud;
    uint64_t delivery = take_owned(bs, req, body);
    if (!delivery) {
        instance_answer_error(req, AH_ENOTFOUND, "not_found",
                              "delivery: no delivery of this instance in flight with that id");
        return;
    }
    const json_t *events = json_object_get(body, "events");
    size_t n = json_array_size(events);
    char err[300] = "";
    const char *denied = NULL;
    int rc = 0;
    if (!json_is_array(events) || n > PUBLISH_BATCH_MAX) {
        rc = json_is_array(events) ? AH_ETOOBIG : AH_EINVAL;
        snprintf(err, sizeof(err), "events: an array of 0 to %d events", PUBLISH_BATCH_MAX);
    }
    bus_msg *msgs = rc ? NULL : calloc(n ? n : 1, sizeof(*msgs));
    commit_op *op = rc ? NULL : malloc(sizeof(*op));
    if (!rc && (!msgs || !op)) rc = AH_ENOMEM;
    if (!rc)
        rc = bus_service_publish_parse(instance_manifest(req.inst), body, msgs, n, &denied, err,
                                       sizeof(err));
    if (rc == AH_EDENIED)
        security(req.inst, "publish_denied", "commit to undeclared topic \"%.200s\" refused",
                 denied);
    if (!rc) {
        AH_FAULT("plugin.before_commit"); /* taken and checked, nothing written */
        *op = (commit_op){.req = req, .n = n};
        bus_commit_req r = {.settle = delivery, .msgs = msgs, .n = n};
        rc = bus_commit(bs->b, &r, committed, op, err, sizeof(err));
    }
    free(msgs);
    if (!rc) return;
    free(op);
    /* Refused whole: nothing published, and the event comes again as after
     * a nack (a stale delivery is the bus's already). */
    if (rc != AH_ENOTFOUND) bus_nack(bs->b, delivery, err[0] ? err : "commit refused", 0);
    instance_answer_error(req, rc,
                          rc == AH_EDENIED     ? "denied"
                          : rc == AH_ETOOBIG   ? "too_large"
                          : rc == AH_ENOMEM    ? "no_memory"
                          : rc == AH_ENOTFOUND ? "not_found"
                                               : "invalid",
                          rc == AH_ENOMEM ? "out of memory" : err);
}

/* ---- instance lifecycle ---------------------------------------------------------- */

static inst_consumer *find(bus_service *bs, instance *inst)
{
    for (size_t i = 0; i < bs->n; i++)
        if (bs->v[i]->inst == inst) return bs->v[i];
    return NULL;
}

static int open_consumer(bus_service *bs, instance *inst, const json_t *instances, char *err,
                         size_t errlen);
static void forget_owned(bus_service *bs, instance *inst);

static void on_ready(void *ud, instance *inst)
{
    bus_service *bs = ud;
    inst_consumer *ic = find(bs, inst);
    if (!ic) {
        /* An instance added while the host runs (POST /api/v1/instances):
         * its consumer is opened the first time it is ready, with the
         * default options. */
        char why[300];
        int rc = open_consumer(bs, inst, NULL, why, sizeof(why));
        if (rc) log_error("bus", "instance %s: %s", instance_id(inst), why);
        ic = find(bs, inst);
    }
    if (ic) bus_consumer_attach(ic->c);
}

static void consumer_deleted(void *ud, int status)
{
    char *name = ud;
    if (status) log_error("bus", "deleting consumer %s failed: %s", name, ah_strerror(status));
    free(name);
}

/* The instance goes for good: so does its consumer, with its position. */
static void on_removed(void *ud, instance *inst)
{
    bus_service *bs = ud;
    inst_consumer *ic = find(bs, inst);
    if (!ic) return;
    forget_owned(bs, inst);
    for (size_t i = 0; i < bs->n; i++)
        if (bs->v[i] == ic) {
            bs->v[i] = bs->v[--bs->n];
            break;
        }
    char *name = strdup(bus_consumer_name(ic->c));
    free(ic);
    char err[300];
    if (name && bus_consumer_delete(bs->b, name, consumer_deleted, name, err, sizeof(err)) != 0) {
        log_error("bus", "deleting consumer %s: %s", name, err);
        free(name);
    }
}

static void forget_owned(bus_service *bs, instance *inst)
{
    size_t pos = 0, k = 0;
    uint64_t id;
    void *v;
    uint64_t *ids = calloc(bs->owners.n ? bs->owners.n : 1, sizeof(*ids));
    while (ids && ah_idmap_next(&bs->owners, &pos, &id, &v))
        if (v == inst) ids[k++] = id;
    for (size_t i = 0; i < k; i++)
        ah_idmap_take(&bs->owners, ids[i]);
    free(ids);
}

static void on_down(void *ud, instance *inst)
{
    bus_service *bs = ud;
    inst_consumer *ic = find(bs, inst);
    if (!ic) return;
    forget_owned(bs, inst);
    /* A stop we asked for puts events back; a crash counts an attempt. */
    if (instance_get_state(inst) == INST_STOPPING) {
        bus_consumer_detach(ic->c, NULL);
        return;
    }
    json_t *st = instance_status(inst);
    char reason[400];
    snprintf(reason, sizeof(reason), "instance %s went away: %s", instance_id(inst),
             json_string_value(json_object_get(st, "last_error")) ?: "unknown");
    json_decref(st);
    bus_consumer_detach(ic->c, reason);
}

static const json_t *instance_cfg(const json_t *instances, const char *id)
{
    size_t i;
    const json_t *it;
    json_array_foreach(instances, i, it)
    {
        if (!strcmp(json_string_value(json_object_get(it, "id")) ?: "", id)) return it;
    }
    return NULL;
}

/* Where an instance's consumer starts the first time: "latest" (default),
 * "earliest", "offset" (start_offset) or "time" (start_time). */
static int start_of(const json_t *co, bus_start *where, uint64_t *value, char *err, size_t errlen)
{
    const char *start = json_string_value(json_object_get(co, "start"));
    *value = 0;
    *where = BUS_START_LATEST;
    if (!start || !strcmp(start, "latest")) return 0;
    if (!strcmp(start, "earliest")) {
        *where = BUS_START_EARLIEST;
        return 0;
    }
    if (!strcmp(start, "offset")) {
        json_int_t off = json_integer_value(json_object_get(co, "start_offset"));
        if (off < 1) {
            snprintf(err, errlen, "consumer.start_offset: needed with start \"offset\"");
            return -1;
        }
        *where = BUS_START_OFFSET;
        *value = (uint64_t)off;
        return 0;
    }
    int64_t ms;
    const char *t = json_string_value(json_object_get(co, "start_time"));
    if (!strcmp(start, "time") && t && ah_parse_time(t, &ms) && ms >= 0) {
        *where = BUS_START_TIME;
        *value = (uint64_t)ms;
        return 0;
    }
    snprintf(err, errlen,
             "consumer.start_time: needed with start \"time\", as RFC 3339 or Unix ms");
    return -1;
}

static int open_consumer(bus_service *bs, instance *inst, const json_t *instances, char *err,
                         size_t errlen)
{
    const manifest *m = instance_manifest(inst);
    const json_t *subs = json_object_get(m->json, "subscribes");
    const char *pats[65];
    size_t np = 0, i;
    const json_t *p;
    json_array_foreach(subs, i, p) if (np < 64) pats[np++] = json_string_value(p);
    /* An instance that takes webhooks reads its own ingress topic. */
    char hooks[96];
    if (json_object_get(m->json, "webhook")) {
        snprintf(hooks, sizeof(hooks), "hooks.%s", instance_id(inst));
        pats[np++] = hooks;
    }
    if (!np) return 0;
    const json_t *co = json_object_get(instance_cfg(instances, instance_id(inst)), "consumer");
    bus_start where;
    uint64_t value;
    if (start_of(co, &where, &value, err, errlen) < 0) return AH_EINVAL;
    char name[96];
    snprintf(name, sizeof(name), "instance:%s", instance_id(inst));
    bus_consumer_opts o = {
        .name = name,
        .patterns = pats,
        .npatterns = np,
        .start = where,
        .start_value = value,
        .max_in_flight = (uint32_t)json_integer_value(json_object_get(co, "max_in_flight")),
        .ack_timeout_ms = (uint32_t)json_integer_value(json_object_get(co, "ack_timeout_ms")),
        .max_attempts = (uint32_t)json_integer_value(json_object_get(co, "max_attempts")),
    };
    if (bs->n == bs->cap) {
        size_t cap = bs->cap ? bs->cap * 2 : 8;
        inst_consumer **nv = realloc(bs->v, cap * sizeof(*nv));
        if (!nv) return AH_ENOMEM;
        bs->v = nv;
        bs->cap = cap;
    }
    inst_consumer *ic = calloc(1, sizeof(*ic));
    if (!ic) return AH_ENOMEM;
    ic->bs = bs;
    ic->inst = inst;
    static const bus_consumer_ops ops = {.deliver = deliver, .text = true};
    int rc = bus_consumer_open(bs->b, &o, &ops, ic, &ic->c, err, errlen);
    if (rc) {
        free(ic);
        return rc;
    }
    bs->v[bs->n++] = ic;
    return 0;
}

int bus_service_attach(bus_service **out, bus *b, supervisor *sup, const json_t *instances,
                       char *err, size_t errlen)
{
    bus_service *bs = calloc(1, sizeof(*bs));
    size_t n = supervisor_count(sup);
    if (!bs || !(bs->v = calloc(n ? n : 1, sizeof(*bs->v)))) {
        free(bs);
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    bs->b = b;
    bs->sup = sup;
    bs->cap = n ? n : 1;
    ah_idmap_init(&bs->owners);
    for (size_t i = 0; i < n; i++) {
        instance *inst = supervisor_at(sup, i);
        char why[300];
        if (open_consumer(bs, inst, instances, why, sizeof(why)) != 0)
            log_error("bus", "instance %s: %s", instance_id(inst), why);
    }
    supervisor_set_handler(sup, AH_MSG_PUBLISH, on_publish, bs);
    supervisor_set_handler(sup, AH_MSG_ACK, on_ack, bs);
    supervisor_set_handler(sup, AH_MSG_NACK, on_nack, bs);
    supervisor_set_handler(sup, AH_MSG_COMMIT, on_commit, bs);
    sup_listener l = {.on_ready = on_ready, .on_down = on_down, .on_removed = on_removed};
    supervisor_add_listener(sup, &l, bs); /* the first one: cannot be full */
    *out = bs;
    return 0;
}

void bus_service_detach(bus_service *bs)
{
    if (!bs) return;
    for (size_t i = 0; i < bs->n; i++)
        free(bs->v[i]);
    free(bs->v);
    ah_idmap_free(&bs->owners);
    free(bs);
}
