/* /api/v1/topics..., /api/v1/consumers: the bus over HTTP. */
#include "bus/bus.h"
#include "core/topic.h"
#include "core/util.h"
#include "api_priv.h"
#include "event_json.h"

#include <agenthost/plugin.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_MAX 1000
#define BATCH_MAX 1000

/* What this family uses. */
typedef struct bus_ctx {
    bus *bus;
} bus_ctx;

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || !*s || s[0] == '-') return false;
    *out = v;
    return true;
}

static bool topic_param(http_req *req, const route_params *p, const char **topic)
{
    *topic = route_param(p, "topic");
    if (!*topic || !topic_valid(*topic, true)) {
        http_respond_error(req, 422, "invalid_topic", "not a valid topic name", "topic");
        return false;
    }
    return true;
}

static void h_topics(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    bus_ctx *x = ctx;
    http_respond_json(
        req, 200,
        json_pack("{s:o,s:s}", "topics", bus_topics(x->bus), "backend", bus_backend_name(x->bus)));
}

static void h_topic(void *ctx, http_req *req, const route_params *p)
{
    bus_ctx *x = ctx;
    const char *topic;
    if (!topic_param(req, p, &topic)) return;
    json_t *t = bus_topic(x->bus, topic);
    if (!t) {
        http_respond_error(req, 404, "not_found", "no such topic", NULL);
        return;
    }
    http_respond_json(req, 200, t);
}

/* false after answering 422 naming the first query parameter the route does
 * not know (a typo must not be read as "no filter"). */
static bool only_known_query(http_req *req, const char *const *known)
{
    json_t *args = http_req_query_json(req);
    const char *k;
    json_t *v;
    json_object_foreach(args, k, v)
    {
        bool ok = false;
        for (size_t i = 0; known[i] && !ok; i++)
            ok = !strcmp(k, known[i]);
        if (!ok) {
            char msg[160];
            snprintf(msg, sizeof(msg),
                     "unknown query parameter %.64s (known: from, after, limit, since, key)", k);
            http_respond_error(req, 422, "invalid_query", msg, k);
            json_decref(args);
            return false;
        }
    }
    json_decref(args);
    return true;
}

static void read_events(bus_ctx *x, http_req *req, const char *topic)
{
    static const char *const known[] = {"from", "after", "limit", "since", "key", NULL};
    if (!only_known_query(req, known)) return;
    uint64_t from = 0, limit = 100;
    const char *q = http_req_query(req, "from");
    if (q && !parse_u64(q, &from)) {
        http_respond_error(req, 422, "invalid_query", "from must be an offset", "from");
        return;
    }
    q = http_req_query(req, "after");
    if (q) {
        uint64_t after;
        if (http_req_query(req, "from")) {
            http_respond_error(req, 422, "invalid_query",
                               "give from (inclusive) or after (exclusive), not both", "after");
            return;
        }
        if (!parse_u64(q, &after) || after == UINT64_MAX) {
            http_respond_error(req, 422, "invalid_query", "after must be an offset", "after");
            return;
        }
        from = after + 1;
    }
    q = http_req_query(req, "limit");
    if (q && (!parse_u64(q, &limit) || limit < 1 || limit > PAGE_MAX)) {
        http_respond_error(req, 422, "invalid_query", "limit must be 1 to 1000", "limit");
        return;
    }
    q = http_req_query(req, "since");
    if (q) {
        int64_t ms;
        if (!ah_parse_time(q, &ms)) {
            http_respond_error(req, 422, "invalid_query",
                               "since must be RFC 3339 UTC (2026-01-02T03:04:05Z) or Unix ms",
                               "since");
            return;
        }
        uint64_t off;
        if (bus_offset_at(x->bus, topic, ms, &off) == 0 && off > from) from = off;
    }
    const char *key = http_req_query(req, "key");
    json_t *events;
    uint64_t next;
    char err[256];
    int rc = bus_read(x->bus, topic, from, (size_t)limit, key, &events, &next, err, sizeof(err));
    if (rc) {
        http_respond_error(req, rc == AH_ENOTFOUND ? 404 : 503,
                           rc == AH_ENOTFOUND ? "not_found" : "unavailable", err, NULL);
        return;
    }
    http_respond_json(req, 200, json_pack("{s:o,s:I}", "events", events, "next", (json_int_t)next));
}

static void h_topic_events(void *ctx, http_req *req, const route_params *p)
{
    const char *topic;
    if (topic_param(req, p, &topic)) read_events(ctx, req, topic);
}

typedef struct pub_ctx {
    http_req *req;
    size_t n;
    bool array;
} pub_ctx;

static void published(void *ud, int status, const uint64_t *offsets, const bool *dup, size_t n)
{
    pub_ctx *c = ud;
    if (status) {
        http_respond_error(c->req, status == AH_ENOSPC ? 503 : 500,
                           status == AH_ENOSPC ? "store_full" : "store_error",
                           status == AH_ENOSPC ? "the store is full; nothing was stored"
                                               : "the store failed; nothing was stored",
                           NULL);
        free(c);
        return;
    }
    json_t *offs = json_array(), *dups = json_array();
    bool all_dup = n > 0;
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(offs, json_integer((json_int_t)offsets[i]));
        json_array_append_new(dups, json_boolean(dup[i]));
        all_dup &= dup[i];
    }
    http_respond_json(c->req, all_dup ? 200 : 201,
                      json_pack("{s:o,s:o}", "offsets", offs, "duplicates", dups));
    free(c);
}

static bool to_msg(http_req *req, const json_t *e, size_t i, bool array, const char *topic,
                   bus_msg *m)
{
    char field[64];
    const char *msg;
    if (api_event_from_json(e, i, array, topic, m, field, sizeof(field), &msg) == 0) return true;
    http_respond_error(req, 422, "invalid_event", msg, field[0] ? field : NULL);
    return false;
}

static void h_topic_publish(void *ctx, http_req *req, const route_params *p)
{
    bus_ctx *x = ctx;
    const char *topic;
    if (!topic_param(req, p, &topic)) return;
    if (topic[0] == '$') {
        http_respond_error(req, 403, "forbidden", "topics starting with $ are the host's", "topic");
        return;
    }
    if (!strncmp(topic, API_HOOK_TOPIC_PREFIX, strlen(API_HOOK_TOPIC_PREFIX))) {
        http_respond_error(req, 403, "forbidden",
                           "hooks.* topics are the webhook ingress's: their events come only "
                           "through POST /hooks/INSTANCE/..., which checks the instance's secret",
                           "topic");
        return;
    }
    json_t *body;
    if (api_body_json(req, &body, NULL) < 0) return;
    bool array = json_is_array(body);
    size_t n = array ? json_array_size(body) : 1;
    if (n == 0 || n > BATCH_MAX) {
        json_decref(body);
        http_respond_error(req, 422, "invalid_batch", "a batch holds 1 to 1000 events", NULL);
        return;
    }
    bus_msg *msgs = calloc(n, sizeof(*msgs));
    bool ok = msgs != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = to_msg(req, array ? json_array_get(body, i) : body, i, array, topic, &msgs[i]);
    const char *idem = http_req_header(req, "Idempotency-Key");
    if (ok && idem && !array && !msgs[0].idempotency_key) msgs[0].idempotency_key = idem;
    pub_ctx *c = ok ? calloc(1, sizeof(*c)) : NULL;
    if (ok && c) {
        c->req = req;
        char err[300];
        int rc = bus_publish(x->bus, msgs, n, false, published, c, err, sizeof(err));
        if (rc) {
            free(c);
            http_respond_error(req,
                               rc == AH_ETOOBIG   ? 413
                               : rc == AH_ECLOSED ? 503
                                                  : 422,
                               rc == AH_ETOOBIG ? "payload_too_large" : "invalid_event", err, NULL);
        }
    } else if (ok) {
        http_respond_error(req, 500, "internal", "out of memory", NULL);
    }
    free(msgs);
    json_decref(body);
}

static void h_consumers(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    bus_ctx *x = ctx;
    http_respond_json(req, 200, json_pack("{s:o}", "consumers", bus_consumers(x->bus)));
}

static void consumer_deleted(void *ud, int status)
{
    http_req *req = ud;
    if (status == 0)
        http_respond(req, 204, NULL, "", 0, NULL);
    else
        http_respond_error(req, 503, status == AH_ENOSPC ? "store_full" : "store_error",
                           ah_strerror(status), NULL);
}

/* Delete a consumer (one left behind by a plugin or subscription that is
 * gone holds its topics' events back from retention). */
static void h_consumer_delete(void *ctx, http_req *req, const route_params *p)
{
    bus_ctx *x = ctx;
    char err[256];
    int rc = bus_consumer_delete(x->bus, route_param(p, "name"), consumer_deleted, req, err,
                                 sizeof(err));
    if (rc)
        http_respond_error(req,
                           rc == AH_ENOTFOUND ? 404
                           : rc == AH_EINVAL  ? 422
                           : rc == AH_EBUSY   ? 409
                                              : 503,
                           rc == AH_ENOTFOUND ? "not_found"
                           : rc == AH_EINVAL  ? "invalid"
                           : rc == AH_EBUSY   ? "conflict"
                                              : "unavailable",
                           err, rc == AH_EINVAL ? "name" : NULL);
}

static void h_dlq(void *ctx, http_req *req, const route_params *p)
{
    const char *topic;
    if (!topic_param(req, p, &topic)) return;
    char dlq[TOPIC_MAX + 8];
    snprintf(dlq, sizeof(dlq), "$dlq.%s", topic);
    bus_ctx *x = ctx;
    json_t *info = bus_topic(x->bus, dlq); /* a new reference, or NULL */
    if (!info) {
        http_respond_json(req, 200, json_pack("{s:[],s:i}", "events", "next", 1));
        return;
    }
    json_decref(info);
    read_events(ctx, req, dlq);
}

static void dlq_done(void *ud, int status)
{
    http_req *req = ud;
    if (status == 0)
        http_respond(req, 204, NULL, "", 0, NULL);
    else
        http_respond_error(req, status == AH_ENOTFOUND ? 404 : 503,
                           status == AH_ENOTFOUND ? "not_found" : "store_error",
                           status == AH_ENOTFOUND ? "no such dead letter" : ah_strerror(status),
                           NULL);
}

static void dlq_op(void *ctx, http_req *req, const route_params *p, bool requeue)
{
    bus_ctx *x = ctx;
    const char *topic;
    if (!topic_param(req, p, &topic)) return;
    char err[256];
    const char *id = route_param(p, "id");
    int rc = requeue ? bus_dlq_requeue(x->bus, topic, id, dlq_done, req, err, sizeof(err))
                     : bus_dlq_drop(x->bus, topic, id, dlq_done, req, err, sizeof(err));
    if (rc)
        http_respond_error(req,
                           rc == AH_ENOTFOUND ? 404
                           : rc == AH_EINVAL  ? 422
                                              : 503,
                           rc == AH_ENOTFOUND ? "not_found" : "invalid", err,
                           rc == AH_EINVAL ? "id" : NULL);
}

static void h_dlq_requeue(void *ctx, http_req *req, const route_params *p)
{
    dlq_op(ctx, req, p, true);
}

static void h_dlq_drop(void *ctx, http_req *req, const route_params *p)
{
    dlq_op(ctx, req, p, false);
}

static const route routes[] = {
    {"GET", "/api/v1/topics", h_topics, "bus:read", "Topics with stats"},
    {"GET", "/api/v1/topics/{topic}", h_topic, "bus:read", "One topic's stats"},
    {"GET", "/api/v1/topics/{topic}/events", h_topic_events, "bus:read",
     "Read a topic's events (paged; by key or time)"},
    {"POST", "/api/v1/topics/{topic}/events", h_topic_publish, "bus:write",
     "Publish one event or a batch; answered once durable"},
    {"GET", "/api/v1/consumers", h_consumers, "bus:read", "Durable consumers with lag"},
    {"DELETE", "/api/v1/consumers/{name}", h_consumer_delete, "bus:write",
     "Delete a durable consumer (its positions stop holding events back)"},
    {"GET", "/api/v1/topics/{topic}/dlq", h_dlq, "bus:read", "A topic's dead letters"},
    {"POST", "/api/v1/topics/{topic}/dlq/{id}/requeue", h_dlq_requeue, "bus:write",
     "Publish a dead letter again and drop it"},
    {"DELETE", "/api/v1/topics/{topic}/dlq/{id}", h_dlq_drop, "bus:write", "Drop a dead letter"},
};

int api_bus_routes(api_table *t, const api_deps *deps)
{
    bus_ctx *c = NULL;
    if (deps) {
        if (!(c = calloc(1, sizeof(*c)))) return AH_ENOMEM;
        c->bus = deps->bus;
        int rc = api_table_own(t, c, free);
        if (rc) return rc;
    }
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), c);
}
