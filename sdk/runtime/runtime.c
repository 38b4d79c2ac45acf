/*
 * runtime.c - the plugin process's loop: frames from the host become
 * plugin callbacks; the ah_host services become frames to the host.
 * Single-threaded; the only blocking call is poll(2) when idle.
 */
#include "runtime.h"

#include "../ipc/b64.h"
#include "../ipc/chan.h"
#include "../ipc/frame.h"
#include "../ipc/idmap.h"
#include "../ipc/jsonw.h"
#include "exports.h"
#include "rt_priv.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct rt_req {
    req_kind kind;
    void *cb;
    void *ud;
    uint64_t call; /* the call being served when it was made */
    void (*on_chunk)(ah_ctx *, const void *, size_t, void *);
} rt_req;

struct ah_call {
    ah_ctx *ctx;
    uint64_t id;
};

typedef struct rt_event {
    ah_event ev;       /* first, so an ah_event * is an rt_event * */
    uint64_t delivery; /* the frame id to ack */
    json_t *msg;       /* keeps the strings alive */
} rt_event;

struct ah_ctx {
    int fd;
    const ah_plugin *plugin;
    void *dl;
    void *userdata;
    char *instance;
    const char *storage_dir; /* the runner's, for the life of the process */
    json_t *config;
    json_t *secrets;
    uint64_t next_id;
    ah_idmap pending;
    ah_msg_asm in;
    rt_timers timers;
    int initialised;
    int stopping;
    /* The host's id of the call being served: set while the plugin's call
     * callback runs, and again while the callbacks of the requests and
     * timers it started run, so that logs and HTTP requests carry it and
     * the host can tie them to the API request (its request id). */
    uint64_t cur_call;
    uint8_t frame[AH_FRAME_MAX];
};

/* Tag a message with the call being served, if any. */
json_t *rt_traced(ah_ctx *c, json_t *o)
{
    if (o && c->cur_call) json_object_set_new(o, "call", json_integer((json_int_t)c->cur_call));
    return o;
}

static const ah_host host_table;

/* ---- sending ----------------------------------------------------------- */

static int send_raw(ah_ctx *c, uint16_t type, uint64_t id, const char *body, size_t len)
{
    size_t off = 0;
    /* A small message needs a small frame buffer (most are far below 64 KiB). */
    uint8_t *buf = malloc(AH_FRAME_HDR + (len < AH_FRAME_PAYLOAD_MAX ? len : AH_FRAME_PAYLOAD_MAX));
    if (!buf) return AH_ENOMEM;
    int rc = 0;
    do {
        size_t n = ah_frame_next(buf, type, id, body, len, &off);
        if (ah_chan_send(c->fd, buf, n, 0) < 0) {
            rc = AH_EIO;
            break;
        }
    } while (off < len);
    free(buf);
    return rc;
}

/* Send a message whose body is `o` (stolen). */
static int send_json(ah_ctx *c, uint16_t type, uint64_t id, json_t *o)
{
    size_t len = 0;
    char *s = o ? ah_json_dumps(o, &len) : NULL; /* json_dumps's bytes, faster */
    json_decref(o);
    if (o && !s) return AH_ENOMEM;
    int rc = send_raw(c, type, id, s ? s : "", len);
    free(s);
    return rc;
}

static int send_error_result(ah_ctx *c, uint64_t id, const char *code, const char *message)
{
    return send_json(
        c, AH_MSG_RESULT, id,
        json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message ? message : code));
}

/* Register a request and send it; on failure nothing stays registered. */
static int request(ah_ctx *c, uint16_t type, json_t *body, req_kind kind, void *cb, void *ud,
                   void (*on_chunk)(ah_ctx *, const void *, size_t, void *))
{
    if (!body) return AH_ENOMEM;
    if (c->stopping) {
        json_decref(body);
        return AH_ECLOSED;
    }
    rt_req *r = malloc(sizeof(*r));
    if (!r) {
        json_decref(body);
        return AH_ENOMEM;
    }
    *r = (rt_req){.kind = kind, .cb = cb, .ud = ud, .on_chunk = on_chunk, .call = c->cur_call};
    uint64_t id = ++c->next_id;
    if (ah_idmap_put(&c->pending, id, r) < 0) {
        free(r);
        json_decref(body);
        return AH_ENOMEM;
    }
    int rc = send_json(c, type, id, body);
    if (rc) {
        free(ah_idmap_take(&c->pending, id));
        return rc;
    }
    return AH_OK;
}

int rt_request(ah_ctx *c, uint16_t type, json_t *body, req_kind kind, void *cb, void *ud)
{
    return request(c, type, body, kind, cb, ud, NULL);
}

/* ---- the host services table --------------------------------------------- */

static const char *svc_instance_id(ah_ctx *c)
{
    return c->instance ? c->instance : "";
}

static const char *svc_storage_dir(ah_ctx *c)
{
    return c->storage_dir;
}

static void svc_set_userdata(ah_ctx *c, void *ud)
{
    c->userdata = ud;
}

static void *svc_userdata(ah_ctx *c)
{
    return c->userdata;
}

static void svc_log(ah_ctx *c, ah_log_level level, const char *fmt, ...)
{
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* jansson needs UTF-8; a plugin may print anything. */
    json_t *m = json_string(msg);
    if (!m) m = json_string("(log message was not valid UTF-8)");
    send_json(c, AH_MSG_LOG, 0,
              rt_traced(c, json_pack("{s:i,s:o}", "level", (int)level, "msg", m)));
}

static int svc_log_record(ah_ctx *c, const char *channel, ah_log_level level, const json_t *fields,
                          const char *msg)
{
    if (!channel || !msg) return AH_EINVAL;
    json_t *m = json_string(msg);
    if (!m) return AH_EINVAL; /* not UTF-8 */
    json_t *o = json_pack("{s:i,s:o,s:s}", "level", (int)level, "msg", m, "channel", channel);
    if (!o) return AH_EINVAL;
    if (json_is_object(fields)) json_object_set(o, "fields", (json_t *)fields);
    return send_json(c, AH_MSG_LOG, 0, rt_traced(c, o));
}

static const char *svc_secret(ah_ctx *c, const char *name)
{
    return json_string_value(json_object_get(c->secrets, name));
}

/* One event as the PUBLISH message carries it, or NULL. */
static json_t *publish_json(const char *topic, const json_t *body, const ah_publish_opts *opts)
{
    if (!topic || !body) return NULL;
    json_t *o = json_pack("{s:s,s:O}", "topic", topic, "body", body);
    if (o && opts) {
        if (opts->key) json_object_set_new(o, "key", json_string(opts->key));
        if (opts->idempotency_key)
            json_object_set_new(o, "idempotency_key", json_string(opts->idempotency_key));
        if (opts->headers) json_object_set(o, "headers", (json_t *)opts->headers);
    }
    return o;
}

static int svc_publish(ah_ctx *c, const char *topic, const json_t *body,
                       const ah_publish_opts *opts, ah_publish_cb cb, void *ud)
{
    json_t *o = publish_json(topic, body, opts);
    if (!o) return AH_EINVAL;
    return request(c, AH_MSG_PUBLISH, o, REQ_PUBLISH, (void *)cb, ud, NULL);
}

/* The n items as the PUBLISH and COMMIT messages carry them, or NULL when
 * one is incomplete or memory runs out. */
static json_t *publish_items_json(const ah_publish_item *items, size_t n)
{
    json_t *events = json_array();
    for (size_t i = 0; events && i < n; i++) {
        json_t *e = publish_json(items[i].topic, items[i].body, items[i].opts);
        if (!e || json_array_append_new(events, e) < 0) {
            json_decref(events);
            return NULL;
        }
    }
    return events;
}

static int svc_publish_batch(ah_ctx *c, const ah_publish_item *items, size_t n,
                             ah_publish_batch_cb cb, void *ud)
{
    if (!items || n == 0 || n > 1000) return AH_EINVAL;
    json_t *events = publish_items_json(items, n);
    if (!events) return AH_EINVAL;
    return request(c, AH_MSG_PUBLISH, json_pack("{s:o}", "events", events), REQ_PUBLISH_BATCH,
                   (void *)cb, ud, NULL);
}

static int svc_nack(ah_ctx *c, const ah_event *ev, const char *error, uint32_t retry_after_ms);

/* ABI 1.6: a commit in flight; its event is freed once cb has run. */
typedef struct rt_commit {
    ah_publish_batch_cb cb;
    void *ud;
    rt_event *e;
} rt_commit;

static int svc_commit(ah_ctx *c, const ah_event *ev, const ah_publish_item *items, size_t n,
                      ah_publish_batch_cb cb, void *ud)
{
    if (!ev || (n && !items)) return AH_EINVAL; /* the host refuses more than 1,000 */
    json_t *events = publish_items_json(items, n);
    if (!events) return AH_EINVAL;
    rt_commit *op = malloc(sizeof(*op));
    if (!op) {
        json_decref(events);
        return AH_ENOMEM;
    }
    *op = (rt_commit){.cb = cb, .ud = ud, .e = (rt_event *)ev};
    int rc =
        request(c, AH_MSG_COMMIT,
                json_pack("{s:I,s:o}", "delivery", (json_int_t)op->e->delivery, "events", events),
                REQ_COMMIT, NULL, op, NULL);
    if (rc) free(op);
    return rc;
}

/* A commit the host answered before its bus service took the delivery
 * (limits.in_flight: "busy"; a host without the service: "unsupported"):
 * the event is still unsettled there, so it is nacked here, to come again. */
static bool commit_not_taken(const json_t *msg)
{
    const char *code = json_string_value(json_object_get(json_object_get(msg, "error"), "code"));
    return code && (!strcmp(code, "busy") || !strcmp(code, "unsupported"));
}

static void commit_result(ah_ctx *c, rt_commit *op, int status, const json_t *msg)
{
    const json_t *offs = json_object_get(msg, "offsets");
    size_t n = status ? 0 : json_array_size(offs);
    uint64_t *v = calloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; v && i < n; i++)
        v[i] = (uint64_t)json_integer_value(json_array_get(offs, i));
    if (op->cb) op->cb(c, (v || status) ? status : AH_ENOMEM, v, v ? n : 0, op->ud);
    free(v);
    if (status && commit_not_taken(msg)) {
        svc_nack(c, &op->e->ev, ah_strerror(status), 0); /* frees the event */
    } else {
        json_decref(op->e->msg);
        free(op->e);
    }
    free(op);
}

static int svc_reply(ah_call *call, json_t *result)
{
    ah_ctx *c = call->ctx;
    json_t *o = json_object();
    json_object_set_new(o, "result", result ? result : json_null());
    int rc = send_json(c, AH_MSG_RESULT, call->id, o);
    free(call);
    return rc;
}

static int svc_reply_partial(ah_call *call, const json_t *partial)
{
    if (!call || !partial) return AH_EINVAL;
    return send_json(call->ctx, AH_MSG_PARTIAL, call->id,
                     json_pack("{s:O}", "partial", (json_t *)partial));
}

static int svc_reply_error(ah_call *call, const char *code, const char *message)
{
    int rc = send_error_result(call->ctx, call->id, code ? code : "error", message);
    free(call);
    return rc;
}

static int settle(ah_ctx *c, const ah_event *ev, uint16_t type, json_t *body)
{
    if (!ev) return AH_EINVAL;
    rt_event *e = (rt_event *)ev;
    int rc = send_json(c, type, e->delivery, body);
    json_decref(e->msg);
    free(e);
    return rc;
}

static int svc_ack(ah_ctx *c, const ah_event *ev)
{
    return settle(c, ev, AH_MSG_ACK, NULL);
}

static int svc_nack(ah_ctx *c, const ah_event *ev, const char *error, uint32_t retry_after_ms)
{
    json_t *b = json_pack("{s:s,s:I}", "error", error ? error : "nack", "retry_after_ms",
                          (json_int_t)retry_after_ms);
    return settle(c, ev, AH_MSG_NACK, b);
}

static int svc_http(ah_ctx *c, const ah_http_request *req, ah_http_cb cb, void *ud)
{
    if (!req || !req->url || !cb) return AH_EINVAL;
    json_t *o =
        json_pack("{s:s,s:s,s:I,s:I}", "method", req->method ? req->method : "GET", "url", req->url,
                  "timeout_ms", (json_int_t)req->timeout_ms, "flags", (json_int_t)req->flags);
    if (!o) return AH_EINVAL; /* not UTF-8 */
    if (req->size >= offsetof(ah_http_request, idle_timeout_ms) + sizeof(req->idle_timeout_ms) &&
        req->idle_timeout_ms)
        json_object_set_new(o, "idle_timeout_ms", json_integer(req->idle_timeout_ms));
    json_t *h = json_array();
    for (const char *const *p = req->headers; p && *p; p++)
        json_array_append_new(h, json_string(*p));
    json_object_set_new(o, "headers", h);
    if (req->body && req->body_len) {
        if (ah_utf8_valid(req->body, req->body_len)) {
            json_object_set_new(o, "body", json_stringn(req->body, req->body_len));
        } else {
            char *b = ah_b64_encode(req->body, req->body_len);
            json_object_set_new(o, "body_b64", json_string(b));
            free(b);
        }
    }
    return request(c, AH_MSG_HTTP, rt_traced(c, o), REQ_HTTP, (void *)cb, ud,
                   (req->flags & AH_HTTP_STREAM) ? req->on_chunk : NULL);
}

static int svc_metric(ah_ctx *c, const char *name, ah_metric_kind kind, double value,
                      const char *labels)
{
    if (!name) return AH_EINVAL;
    json_t *o = json_pack("{s:s,s:i,s:f}", "name", name, "kind", (int)kind, "value", value);
    if (o && labels) json_object_set_new(o, "labels", json_string(labels));
    return send_json(c, AH_MSG_METRIC, 0, o);
}

ah_timer *rt_timer_start(ah_ctx *c, uint64_t after_ms, uint64_t repeat_ms, ah_timer_cb cb, void *ud)
{
    return rt_timers_add(&c->timers, after_ms, repeat_ms, cb, ud, c->cur_call);
}

void rt_timer_stop(ah_ctx *c, ah_timer *t)
{
    rt_timers_remove(&c->timers, t);
}

static const ah_host host_table = {
    .size = sizeof(ah_host),
    .abi_major = AH_ABI_MAJOR,
    .abi_minor = AH_ABI_MINOR,
    .instance_id = svc_instance_id,
    .set_userdata = svc_set_userdata,
    .userdata = svc_userdata,
    .log = svc_log,
    .secret = svc_secret,
    .publish = svc_publish,
    .reply = svc_reply,
    .reply_error = svc_reply_error,
    .ack = svc_ack,
    .nack = svc_nack,
    .kv_get = rt_kv_get,
    .kv_put = rt_kv_put,
    .kv_delete = rt_kv_delete,
    .kv_scan = rt_kv_scan,
    .http = svc_http,
    .metric = svc_metric,
    .timer_start = rt_timer_start,
    .timer_stop = rt_timer_stop,
    .reply_partial = svc_reply_partial,
    .log_record = svc_log_record,
    .publish_batch = svc_publish_batch,
    .kv_get_rev = rt_kv_get_rev,
    .kv_put_ex = rt_kv_put_ex,
    .kv_incr = rt_kv_incr,
    .kv_get_many = rt_kv_get_many,
    .kv_put_many = rt_kv_put_many,
    .call = rt_call,
    .storage_dir = svc_storage_dir,
    .commit = svc_commit,
};

/* ---- incoming messages --------------------------------------------------- */

static int error_code_of(const json_t *err)
{
    const json_t *n = json_object_get(err, "errno");
    return json_is_integer(n) ? (int)json_integer_value(n) : AH_EIO;
}

static void deliver_http_result(ah_ctx *c, rt_req *r, const json_t *res)
{
    ah_http_response resp = {.size = sizeof(resp)};
    const json_t *err = json_object_get(res, "error");
    unsigned char *decoded = NULL;
    resp.status = (int)json_integer_value(json_object_get(res, "status"));
    resp.headers = json_object_get(res, "headers");
    resp.retries = (uint32_t)json_integer_value(json_object_get(res, "retries"));
    if (err) {
        resp.error = error_code_of(err);
        resp.error_code = json_string_value(json_object_get(err, "code"));
        resp.error_message = json_string_value(json_object_get(err, "message"));
    }
    const json_t *body = json_object_get(res, "body");
    const json_t *b64 = json_object_get(res, "body_b64");
    if (json_is_string(body)) {
        resp.body = json_string_value(body);
        resp.body_len = json_string_length(body);
    } else if (json_is_string(b64)) {
        decoded = ah_b64_decode(json_string_value(b64), &resp.body_len);
        resp.body = decoded;
    }
    ((ah_http_cb)r->cb)(c, &resp, r->ud);
    free(decoded);
}

static void on_result(ah_ctx *c, uint64_t id, json_t *msg)
{
    rt_req *r = ah_idmap_take(&c->pending, id);
    if (!r) {
        fprintf(stderr, "agenthost runtime: result for unknown request %llu\n",
                (unsigned long long)id);
        return;
    }
    const json_t *err = json_object_get(msg, "error");
    int status = err ? error_code_of(err) : 0;
    uint64_t outer = c->cur_call;
    c->cur_call = r->call;
    switch (r->kind) {
    case REQ_PUBLISH:
        if (r->cb)
            ((ah_publish_cb)r->cb)(
                c, status, (uint64_t)json_integer_value(json_object_get(msg, "offset")), r->ud);
        break;
    case REQ_PUBLISH_BATCH: {
        const json_t *offs = json_object_get(msg, "offsets");
        size_t n = status ? 0 : json_array_size(offs);
        uint64_t *v = calloc(n ? n : 1, sizeof(*v));
        for (size_t i = 0; v && i < n; i++)
            v[i] = (uint64_t)json_integer_value(json_array_get(offs, i));
        if (r->cb) ((ah_publish_batch_cb)r->cb)(c, v ? status : AH_ENOMEM, v, v ? n : 0, r->ud);
        free(v);
        break;
    }
    case REQ_COMMIT:
        commit_result(c, r->ud, status, msg);
        break;
    case REQ_HTTP:
        deliver_http_result(c, r, msg);
        break;
    case REQ_CALL_OUT:
        rt_call_result(c, r->ud, status, msg);
        break;
    default:
        rt_kv_result(c, r->kind, r->cb, r->ud, status, msg);
        break;
    }
    c->cur_call = outer;
    free(r);
}

static void on_init(ah_ctx *c, uint64_t id, json_t *msg)
{
    if (c->initialised) {
        send_error_result(c, id, "protocol", "init twice");
        return;
    }
    c->instance = strdup(json_string_value(json_object_get(msg, "instance")) ?: "");
    c->config = json_incref(json_object_get(msg, "config"));
    if (!c->config) c->config = json_object();
    c->secrets = json_incref(json_object_get(msg, "secrets"));
    if (!c->secrets) c->secrets = json_object();
    int rc = ah_exports_prepare(c->dl, json_object_get(msg, "exports"));
    if (rc) {
        send_error_result(c, id, "exports", ah_exports_error());
        return;
    }
    rc = c->plugin->init ? c->plugin->init(c, &host_table, c->config) : AH_OK;
    if (rc != AH_OK) {
        char m[128];
        snprintf(m, sizeof(m), "init returned %d (%s)", rc, ah_strerror(rc));
        send_error_result(c, id, "init_failed", m);
        return;
    }
    c->initialised = 1;
    send_json(c, AH_MSG_RESULT, id, json_pack("{s:b}", "ok", 1));
}

static void on_call(ah_ctx *c, uint64_t id, json_t *msg)
{
    const char *action = json_string_value(json_object_get(msg, "action"));
    const json_t *args = json_object_get(msg, "args");
    if (!action) {
        send_error_result(c, id, "bad_request", "call without an action");
        return;
    }
    json_t *result = NULL;
    char errbuf[256];
    int handled = ah_exports_call(action, args, &result, errbuf, sizeof(errbuf));
    if (handled > 0) {
        send_json(c, AH_MSG_RESULT, id,
                  json_pack("{s:o}", "result", result ? result : json_null()));
        return;
    }
    if (handled < 0) {
        send_error_result(c, id, "invalid_args", errbuf);
        return;
    }
    if (!c->plugin->call) {
        send_error_result(c, id, "unknown_action", "the plugin exports no actions");
        return;
    }
    ah_call *call = malloc(sizeof(*call));
    if (!call) {
        send_error_result(c, id, "no_memory", "out of memory");
        return;
    }
    call->ctx = c;
    call->id = id;
    json_t *a = json_incref((json_t *)args);
    if (!a) a = json_object();
    uint64_t outer = c->cur_call;
    c->cur_call = id;
    c->plugin->call(c, call, action, a);
    c->cur_call = outer;
    json_decref(a);
}

static void on_event(ah_ctx *c, uint64_t id, json_t *msg)
{
    rt_event *e = calloc(1, sizeof(*e));
    if (!e) {
        send_json(c, AH_MSG_NACK, id, json_pack("{s:s}", "error", "out of memory"));
        return;
    }
    e->delivery = id;
    e->msg = json_incref(msg);
    e->ev.size = sizeof(ah_event);
    e->ev.topic = json_string_value(json_object_get(msg, "topic"));
    e->ev.key = json_string_value(json_object_get(msg, "key"));
    e->ev.id = json_string_value(json_object_get(msg, "id"));
    e->ev.offset = (uint64_t)json_integer_value(json_object_get(msg, "offset"));
    e->ev.time_ms = json_integer_value(json_object_get(msg, "time_ms"));
    e->ev.attempt = (uint32_t)json_integer_value(json_object_get(msg, "attempt"));
    e->ev.headers = json_object_get(msg, "headers");
    e->ev.body = json_object_get(msg, "body");
    if (!c->plugin->on_event) {
        svc_ack(c, &e->ev);
        return;
    }
    c->plugin->on_event(c, &e->ev);
}

static void on_http_chunk(ah_ctx *c, uint64_t id, json_t *msg)
{
    rt_req *r = ah_idmap_get(&c->pending, id);
    if (!r || r->kind != REQ_HTTP || !r->on_chunk) return;
    const json_t *d = json_object_get(msg, "data");
    const json_t *b = json_object_get(msg, "data_b64");
    uint64_t outer = c->cur_call;
    c->cur_call = r->call;
    if (json_is_string(d)) {
        r->on_chunk(c, json_string_value(d), json_string_length(d), r->ud);
    } else if (json_is_string(b)) {
        size_t n;
        unsigned char *raw = ah_b64_decode(json_string_value(b), &n);
        if (raw) r->on_chunk(c, raw, n, r->ud);
        free(raw);
    }
    c->cur_call = outer;
}

/* Returns 1 to keep going, 0 to exit cleanly. */
static int dispatch(ah_ctx *c, const ah_msg *m)
{
    json_error_t je;
    json_t *msg = m->len ? json_loadb((const char *)m->body, m->len, 0, &je) : json_object();
    if (!msg) {
        fprintf(stderr, "agenthost runtime: bad %s message from host: %s\n",
                ah_msg_type_name(m->type), je.text);
        return 1;
    }
    int keep = 1;
    if (!c->initialised && m->type != AH_MSG_INIT && m->type != AH_MSG_SHUTDOWN &&
        m->type != AH_MSG_PING) {
        if (m->type == AH_MSG_CALL)
            send_error_result(c, m->id, "not_ready", "instance not initialised");
        json_decref(msg);
        return 1;
    }
    switch (m->type) {
    case AH_MSG_INIT:
        on_init(c, m->id, msg);
        break;
    case AH_MSG_PING: {
        int h = c->initialised && c->plugin->health ? c->plugin->health(c) : AH_OK;
        send_json(c, AH_MSG_RESULT, m->id,
                  json_pack("{s:b,s:i}", "healthy", h == AH_OK, "code", h));
        break;
    }
    case AH_MSG_CALL:
        on_call(c, m->id, msg);
        break;
    case AH_MSG_EVENT:
        on_event(c, m->id, msg);
        break;
    case AH_MSG_RESULT:
        on_result(c, m->id, msg);
        break;
    case AH_MSG_HTTP_CHUNK:
        on_http_chunk(c, m->id, msg);
        break;
    case AH_MSG_SHUTDOWN:
        c->stopping = 1;
        if (c->initialised && c->plugin->shutdown) c->plugin->shutdown(c);
        keep = 0;
        break;
    default:
        fprintf(stderr, "agenthost runtime: unexpected %s message from host\n",
                ah_msg_type_name(m->type));
        break;
    }
    json_decref(msg);
    return keep;
}

const char *ah_runtime_check_descriptor(const ah_plugin *p)
{
    if (!p) return "the library exports no agenthost_plugin descriptor";
    if (p->abi_major != AH_ABI_MAJOR) return "plugin built for another ABI major";
    if (p->abi_minor > AH_ABI_MINOR) return "plugin built for a newer ABI minor than this host";
    if (p->size < offsetof(ah_plugin, shutdown) + sizeof(p->shutdown))
        return "plugin descriptor smaller than ABI 1.0's";
    if (!p->name || !p->version) return "plugin descriptor has no name or version";
    return NULL;
}

static int hello(ah_ctx *c, const ah_plugin *p, const char *why, const ah_runtime_opts *ro)
{
    json_t *o = json_pack("{s:i,s:s,s:i}", "pid", (int)getpid(), "library",
                          ro->library ? ro->library : "", "runtime_abi_major", AH_ABI_MAJOR);
    json_t *conf = ro->confinement ? json_loads(ro->confinement, 0, NULL) : NULL;
    if (conf) json_object_set_new(o, "confinement", conf);
    json_object_set_new(o, "runtime_abi_minor", json_integer(AH_ABI_MINOR));
    if (p) {
        /* Only the first 8 bytes are read unless the major matches. */
        json_object_set_new(o, "abi_major", json_integer(p->abi_major));
        json_object_set_new(o, "abi_minor", json_integer(p->abi_minor));
        json_object_set_new(o, "size", json_integer(p->size));
        if (!why || p->abi_major == AH_ABI_MAJOR) {
            if (p->name) json_object_set_new(o, "name", json_string(p->name));
            if (p->version) json_object_set_new(o, "version", json_string(p->version));
        }
    }
    if (why) json_object_set_new(o, "error", json_string(why));
    return send_json(c, AH_MSG_HELLO, 0, o);
}

int ah_runtime_run(const ah_plugin *plugin, const char *why_unusable, const ah_runtime_opts *o)
{
    static ah_ctx ctx;
    ah_ctx *c = &ctx;
    c->fd = o->ipc_fd;
    c->plugin = plugin;
    c->dl = o->dl_handle;
    c->storage_dir = o->storage_dir;
    ah_idmap_init(&c->pending);
    ah_asm_init(&c->in, AH_MSG_MAX_DEFAULT);

    if (hello(c, plugin, why_unusable, o) != 0) return 2;
    if (why_unusable) return 3;

    for (;;) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int n = poll(&pfd, 1, rt_timers_timeout(&c->timers));
        if (n < 0 && errno != EINTR) return 2;
        rt_timers_run(&c->timers, c, &c->cur_call);
        if (n <= 0) continue;
        for (;;) {
            const char *why = NULL;
            ssize_t got = ah_chan_recv(c->fd, c->frame, &why);
            if (got == 0) return 0; /* the host closed the channel */
            if (got == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            if (got == -1) return 2;
            ah_frame_hdr h;
            ah_msg m;
            if (got == -2 || ah_frame_parse(c->frame, (size_t)got, &h, &why) < 0) {
                fprintf(stderr, "agenthost runtime: bad frame from host: %s\n", why);
                return 2;
            }
            int r = ah_asm_feed(&c->in, &h, c->frame, &m, &why);
            if (r < 0) {
                fprintf(stderr, "agenthost runtime: bad message from host: %s\n", why);
                return 2;
            }
            if (r == 1 && !dispatch(c, &m)) return 0;
        }
    }
}
