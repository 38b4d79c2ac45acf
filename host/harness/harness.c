/*
 * harness.c - the composition root of `agenthost plugin run`: a loop, a
 * temporary store with its bus, KV and secrets, a supervisor with one
 * instance, and handlers that print what the plugin does (see harness.h).
 */
#include "harness.h"

#include "../../sdk/ipc/frame.h"
#include "../../sdk/ipc/idmap.h"
#include "../bus/bus.h"
#include "../core/config.h"
#include "../core/fsutil.h"
#include "../core/log.h"
#include "../core/secrets.h"
#include "../core/util.h"
#include "../plugin/kv.h"
#include "../plugin/supervisor.h"
#include "replay.h"
#include "script.h"

#include <agenthost/plugin.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define INPUT_MAX_BYTES (1u << 20)

enum { PENDING = 0, DONE, TIMED_OUT };

typedef struct hx hx;

typedef struct slot {
    hx *h;
    size_t i;
    int state;
    bool started;
} slot;

typedef struct delayed {
    uv_timer_t t;
    hx *h;
    inst_req req;
    json_t *answer;
    json_t *chunks;
    struct delayed *next, *prev;
} delayed;

typedef struct counts {
    unsigned events, acked, nacked, unsettled;
    unsigned calls, replied, unanswered;
    unsigned publishes, denied;
    unsigned http, unmatched;
    unsigned protocol;
} counts;

struct hx {
    const harness_opts *o;
    char tmp[PATH_MAX];
    char instance_id[72];
    manifest *m;
    script sc;
    replay *rp;
    ah_loop *loop;
    store *st;
    secrets *sec;
    bus *bus;
    supervisor *sup;
    kv_service *kv;
    instance *inst;
    slot *slots;
    size_t cursor;
    long waiting; /* index of the item being waited on, -1 when none */
    size_t outstanding;
    uint64_t next_delivery;
    ah_idmap deliveries; /* delivery id -> slot */
    uv_timer_t timer;    /* a sleep, or how long an event may stay unsettled */
    uv_timer_t kick;     /* advance() outside of callbacks */
    bool timer_open, kick_open;
    bool ready, crashed, finishing, stopped, end_wait;
    delayed *delayed;
    counts n;
    pthread_mutex_t out_mu;
};

/* ---- output --------------------------------------------------------------- */

static int current_line(hx *h)
{
    if (h->waiting >= 0) return h->sc.items[h->waiting].line;
    return 0;
}

/* Print one record (stolen). Secret values the host read are masked, as
 * in its logs (records from the logger's tap are masked already, and the
 * tap holds the logger's lock). */
static void emit_as(hx *h, json_t *o, bool redact)
{
    if (!o) return;
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s) return;
    if (redact) log_redact_inplace(s);
    pthread_mutex_lock(&h->out_mu);
    fputs(s, h->o->out);
    fputc('\n', h->o->out);
    fflush(h->o->out);
    pthread_mutex_unlock(&h->out_mu);
    free(s);
}

static void emit(hx *h, json_t *o)
{
    emit_as(h, o, true);
}

/* A new record; line 0: the item being waited on, if any. */
static json_t *record(hx *h, const char *type, int line)
{
    if (!line) line = current_line(h);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(type));
    if (line > 0) json_object_set_new(o, "line", json_integer(line));
    return o;
}

/* The logger's tap: the plugin's own log lines and its security events. */
static void on_log_line(void *ud, const char *kind, log_level level, const char *line)
{
    hx *h = ud;
    char mine[96];
    snprintf(mine, sizeof(mine), "plugins/%s", h->instance_id);
    bool plugin = !strcmp(kind, mine), security = !strcmp(kind, "security");
    if (!plugin && !security) return;
    json_t *rec = json_loads(line, 0, NULL);
    const char *inst = json_string_value(json_object_get(rec, "instance"));
    if (rec && (plugin || (inst && !strcmp(inst, h->instance_id)))) {
        json_t *o = record(h, plugin ? "log" : "security", 0);
        json_object_set_new(o, "level", json_string(log_level_name(level)));
        if (plugin)
            json_object_set(o, "stream", json_object_get(rec, "stream"));
        else
            json_object_set(o, "event", json_object_get(rec, "event"));
        json_object_set(o, "msg", json_object_get(rec, "msg"));
        emit_as(h, o, false);
    }
    json_decref(rec);
}

/* ---- driving the script ---------------------------------------------------- */

static void advance(hx *h);

static void on_kick(uv_timer_t *t)
{
    advance(t->data);
}

static void kick(hx *h)
{
    uv_timer_start(&h->kick, on_kick, 0, 0);
}

static void settle(slot *s, int state)
{
    if (s->state != PENDING) return;
    s->state = state;
    s->h->outstanding--;
    if ((long)s->i == s->h->waiting || s->h->end_wait) kick(s->h);
}

static void on_stopped(void *ud)
{
    hx *h = ud;
    h->stopped = true;
    loop_stop(h->loop);
}

static void finish(hx *h)
{
    if (h->finishing) return;
    h->finishing = true;
    h->waiting = -1;
    uv_timer_stop(&h->timer);
    for (size_t i = 0; i < h->sc.n; i++) {
        slot *s = &h->slots[i];
        if (!s->started || s->state != PENDING || h->sc.items[i].kind != SCRIPT_EVENT) continue;
        emit(h, json_pack("{s:s,s:i,s:s}", "type", "unsettled", "line", h->sc.items[i].line, "msg",
                          "the plugin neither acked nor nacked this event"));
        h->n.unsettled++;
        s->state = TIMED_OUT;
        h->outstanding--;
    }
    supervisor_stop_all(h->sup, on_stopped, h);
}

static uint32_t settle_timeout(hx *h)
{
    return h->o->timeout_ms ? h->o->timeout_ms : h->m->limits.stall_ms;
}

static void on_timer(uv_timer_t *t)
{
    hx *h = t->data;
    if (h->end_wait) {
        finish(h);
        return;
    }
    if (h->waiting < 0) return;
    slot *s = &h->slots[h->waiting];
    const script_item *it = &h->sc.items[h->waiting];
    if (it->kind == SCRIPT_EVENT && s->state == PENDING) {
        char msg[160];
        snprintf(msg, sizeof(msg), "event neither acked nor nacked within %u ms (--timeout)",
                 settle_timeout(h));
        emit(h, json_pack("{s:s,s:i,s:s}", "type", "timeout", "line", it->line, "msg", msg));
        h->n.unsettled++;
    }
    settle(s, it->kind == SCRIPT_EVENT ? TIMED_OUT : DONE);
}

static void on_call_done(void *ud, const json_t *result, const char *err_code, const char *message)
{
    slot *s = ud;
    hx *h = s->h;
    const script_item *it = &h->sc.items[s->i];
    json_t *o = record(h, "reply", it->line);
    json_object_set_new(o, "action", json_string(it->action));
    if (err_code) {
        json_object_set_new(
            o, "error",
            json_pack("{s:s,s:s}", "code", err_code, "message", message ? message : ""));
        if (!strcmp(err_code, "instance_crashed") || !strcmp(err_code, "instance_stopped"))
            h->n.unanswered++;
        else
            h->n.replied++;
    } else {
        json_object_set(o, "result", (json_t *)result);
        h->n.replied++;
    }
    emit(h, o);
    settle(s, DONE);
}

static void start_item(hx *h, size_t i)
{
    slot *s = &h->slots[i];
    const script_item *it = &h->sc.items[i];
    char err[700];
    s->started = true;
    h->outstanding++;
    switch (it->kind) {
    case SCRIPT_SLEEP:
        uv_timer_start(&h->timer, on_timer, it->sleep_ms, 0);
        return;
    case SCRIPT_CALL:
        h->n.calls++;
        if (instance_call(h->inst, it->action, it->args, it->timeout_ms, on_call_done, s, err,
                          sizeof(err)) < 0) {
            /* Refused before reaching the plugin: "code: message". */
            char *colon = strstr(err, ": ");
            if (colon) *colon = 0;
            on_call_done(s, NULL, err, colon ? colon + 2 : "");
        }
        return;
    case SCRIPT_EVENT: {
        h->n.events++;
        uint64_t id = ++h->next_delivery;
        if (ah_idmap_put(&h->deliveries, id, s) < 0 ||
            instance_deliver(h->inst, id, it->event) < 0) {
            ah_idmap_take(&h->deliveries, id);
            emit(h, json_pack("{s:s,s:i,s:s}", "type", "unsettled", "line", it->line, "msg",
                              "the instance could not take the event"));
            h->n.unsettled++;
            settle(s, TIMED_OUT);
            return;
        }
        if (!it->async) uv_timer_start(&h->timer, on_timer, settle_timeout(h), 0);
        return;
    }
    }
}

static void report_crash(hx *h)
{
    json_t *st = instance_status(h->inst);
    const char *why = json_string_value(json_object_get(st, "last_error"));
    emit(h, json_pack("{s:s,s:s}", "type", h->ready ? "crash" : "failed", "reason",
                      why ? why : "the instance stopped"));
    json_decref(st);
}

static void advance(hx *h)
{
    if (h->finishing) return;
    if (h->crashed) {
        report_crash(h);
        finish(h);
        return;
    }
    if (!h->ready) return;
    if (h->waiting >= 0 && h->slots[h->waiting].state == PENDING) return;
    h->waiting = -1;
    uv_timer_stop(&h->timer);
    while (h->cursor < h->sc.n) {
        size_t i = h->cursor++;
        h->waiting = (long)i;
        start_item(h, i);
        if (h->crashed || h->finishing) return;
        bool sync = !h->sc.items[i].async || h->sc.items[i].kind == SCRIPT_SLEEP;
        if (sync && h->slots[i].state == PENDING) return;
        h->waiting = -1;
    }
    if (h->outstanding == 0) {
        finish(h);
    } else if (!h->end_wait) {
        h->end_wait = true;
        uv_timer_start(&h->timer, on_timer, settle_timeout(h), 0);
    }
}

static void on_ready(void *ud, instance *inst)
{
    hx *h = ud;
    if (inst != h->inst || h->ready) return;
    h->ready = true;
    const manifest *m = instance_manifest(inst);
    emit(h, json_pack("{s:s,s:s,s:s,s:s}", "type", "ready", "plugin", m->name, "version",
                      m->version, "instance", h->instance_id));
    kick(h);
}

static void on_down(void *ud, instance *inst)
{
    hx *h = ud;
    if (inst != h->inst || h->finishing) return;
    h->crashed = true;
    kick(h); /* the reason is recorded after the listeners ran */
}

/* ---- the plugin's requests ---------------------------------------------- */

typedef struct pub_op {
    hx *h;
    inst_req req;
    json_t *rec;
} pub_op;

static void published(void *ud, int status, const uint64_t *offsets, const bool *dup, size_t n)
{
    pub_op *op = ud;
    if (status || n != 1) {
        int code = status ? status : AH_EIO;
        json_object_set_new(op->rec, "error", json_string(ah_strerror(code)));
        instance_answer_error(op->req, code, "store", ah_strerror(code));
    } else {
        json_object_set_new(op->rec, "offset", json_integer((json_int_t)offsets[0]));
        if (dup[0]) json_object_set_new(op->rec, "duplicate", json_true());
        instance_answer(
            op->req, json_pack("{s:I,s:b}", "offset", (json_int_t)offsets[0], "duplicate", dup[0]));
    }
    emit(op->h, op->rec);
    free(op);
}

static void on_publish(void *ud, inst_req req, json_t *body)
{
    hx *h = ud;
    const char *topic = json_string_value(json_object_get(body, "topic"));
    json_t *rec = record(h, "publish", 0);
    json_object_set_new(rec, "topic", topic ? json_string(topic) : json_null());
    static const char *const fields[] = {"key", "idempotency_key", "headers", "body"};
    for (size_t i = 0; i < 4; i++)
        if (json_object_get(body, fields[i]))
            json_object_set(rec, fields[i], json_object_get(body, fields[i]));
    h->n.publishes++;
    if (!topic || topic[0] == '$' || !manifest_may_publish(h->m, topic)) {
        h->n.denied++;
        json_object_set_new(rec, "denied", json_true());
        json_object_set_new(rec, "error",
                            json_string("the manifest does not declare this topic in publishes"));
        emit(h, rec);
        instance_answer_error(req, AH_EDENIED, "denied",
                              "the manifest does not declare this topic in publishes");
        return;
    }
    pub_op *op = malloc(sizeof(*op));
    char err[300];
    if (!op) {
        json_decref(rec);
        instance_answer_error(req, AH_ENOMEM, "no_memory", "out of memory");
        return;
    }
    *op = (pub_op){.h = h, .req = req, .rec = rec};
    bus_msg msg = {.topic = topic,
                   .key = json_string_value(json_object_get(body, "key")),
                   .idempotency_key = json_string_value(json_object_get(body, "idempotency_key")),
                   .headers = json_object_get(body, "headers"),
                   .body = json_object_get(body, "body")};
    int rc = bus_publish(h->bus, &msg, 1, false, published, op, err, sizeof(err));
    if (rc) {
        json_object_set_new(rec, "error", json_string(err));
        emit(h, rec);
        free(op);
        instance_answer_error(req, rc, rc == AH_ETOOBIG ? "too_large" : "invalid", err);
    }
}

static void on_settle(hx *h, inst_req req, json_t *body, bool ack)
{
    slot *s = ah_idmap_get(&h->deliveries, req.id);
    if (!s || s->state == DONE) {
        h->n.protocol++;
        emit(h, json_pack("{s:s,s:s}", "type", "protocol", "msg",
                          s ? "an event settled twice" : "ack or nack of a delivery never made"));
        return;
    }
    const script_item *it = &h->sc.items[s->i];
    json_t *o = record(h, ack ? "ack" : "nack", it->line);
    json_object_set(o, "id", json_object_get(it->event, "id"));
    if (!ack) {
        json_object_set(o, "error", json_object_get(body, "error"));
        json_object_set(o, "retry_after_ms", json_object_get(body, "retry_after_ms"));
    }
    if (s->state == TIMED_OUT) {
        json_object_set_new(o, "late", json_true());
    } else if (ack) {
        h->n.acked++;
    } else {
        h->n.nacked++;
    }
    emit(h, o);
    if (s->state == PENDING)
        settle(s, DONE);
    else
        s->state = DONE;
}

static void on_ack(void *ud, inst_req req, json_t *body)
{
    on_settle(ud, req, body, true);
}

static void on_nack(void *ud, inst_req req, json_t *body)
{
    on_settle(ud, req, body, false);
}

static void on_metric(void *ud, inst_req req, json_t *body)
{
    (void)req;
    static const char *const kinds[] = {"counter", "gauge", "histogram"};
    json_int_t k = json_integer_value(json_object_get(body, "kind"));
    json_t *o = record(ud, "metric", 0);
    json_object_set(o, "name", json_object_get(body, "name"));
    json_object_set_new(o, "kind", json_string(k >= 0 && k < 3 ? kinds[k] : "unknown"));
    json_object_set(o, "value", json_object_get(body, "value"));
    if (json_object_get(body, "labels"))
        json_object_set(o, "labels", json_object_get(body, "labels"));
    emit(ud, o);
}

static void send_answer(inst_req req, json_t *answer, json_t *chunks)
{
    size_t i;
    json_t *c;
    json_array_foreach(chunks, i, c) instance_send_partial(req, AH_MSG_HTTP_CHUNK, json_incref(c));
    json_decref(chunks);
    instance_answer(req, answer);
}

static void on_delayed_closed(uv_handle_t *t)
{
    free(t->data);
}

static void drop_delayed(hx *h, delayed *d)
{
    if (d->prev)
        d->prev->next = d->next;
    else
        h->delayed = d->next;
    if (d->next) d->next->prev = d->prev;
    uv_close((uv_handle_t *)&d->t, on_delayed_closed);
}

static void on_delay_over(uv_timer_t *t)
{
    delayed *d = t->data;
    send_answer(d->req, d->answer, d->chunks);
    drop_delayed(d->h, d);
}

static void on_http(void *ud, inst_req req, json_t *body)
{
    hx *h = ud;
    json_t *rec = record(h, "http", 0);
    static const char *const fields[] = {"method", "url", "headers", "body", "body_b64"};
    for (size_t i = 0; i < 5; i++) {
        const json_t *v = json_object_get(body, fields[i]);
        if (v && !(json_is_array(v) && !json_array_size(v)))
            json_object_set(rec, fields[i], (json_t *)v);
    }
    bool stream = json_integer_value(json_object_get(body, "flags")) & AH_HTTP_STREAM;
    if (stream) json_object_set_new(rec, "stream", json_true());
    h->n.http++;
    int i = replay_match(h->rp, body);
    json_t *answer, *chunks = NULL;
    if (i < 0) {
        h->n.unmatched++;
        answer = replay_unmatched(body);
        json_object_set_new(rec, "unmatched", json_true());
        json_object_set(rec, "error", json_object_get(json_object_get(answer, "error"), "message"));
    } else {
        answer = replay_answer(h->rp, i, stream, &chunks);
        json_object_set_new(rec, "entry", json_integer(replay_line(h->rp, i)));
        const json_t *e = json_object_get(answer, "error");
        if (e)
            json_object_set(rec, "error", json_object_get(e, "code"));
        else
            json_object_set(rec, "status", json_object_get(answer, "status"));
    }
    emit(h, rec);
    uint32_t delay = i >= 0 ? replay_delay_ms(h->rp, i) : 0;
    delayed *d = delay ? calloc(1, sizeof(*d)) : NULL;
    if (!d) {
        send_answer(req, answer, chunks);
        return;
    }
    *d = (delayed){.h = h, .req = req, .answer = answer, .chunks = chunks, .next = h->delayed};
    if (h->delayed) h->delayed->prev = d;
    h->delayed = d;
    uv_timer_init(loop_uv(h->loop), &d->t);
    d->t.data = d;
    uv_timer_start(&d->t, on_delay_over, delay, 0);
}

/* ---- inputs ---------------------------------------------------------------- */

static json_t *load_object(const char *path, const char *what, char *err, size_t errlen)
{
    size_t len;
    char *text = ah_read_file(path, INPUT_MAX_BYTES, &len);
    if (!text) {
        snprintf(err, errlen, "%s: %s", path,
                 errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
        return NULL;
    }
    json_error_t je;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!o) {
        snprintf(err, errlen, "%s: invalid JSON: line %d, column %d: %s", path, je.line, je.column,
                 je.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        snprintf(err, errlen, "%s: expected a JSON object (%s)", path, what);
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Seal the secrets file's values into the temporary store, as
 * `agenthost secret set` would. */
static int seed_secrets(hx *h, const char *data, const char *key, char *err, size_t errlen)
{
    json_t *vals = load_object(h->o->secrets, "secret name -> value", err, errlen);
    if (!vals) return -1;
    store *st = NULL;
    secrets *sec = NULL;
    store_opts so = {.dir = data};
    int rc = -1;
    if (store_open(&st, NULL, &so, err, errlen) != 0 ||
        secrets_open(&sec, st, key, true, err, errlen) != 0)
        goto out;
    const char *name;
    json_t *v;
    json_object_foreach(vals, name, v)
    {
        if (!json_is_string(v) || !json_string_length(v) ||
            json_string_length(v) > SECRET_MAX_BYTES) {
            snprintf(err, errlen, "%s: %s: expected a non-empty string of at most %u bytes",
                     h->o->secrets, name, SECRET_MAX_BYTES);
            goto out;
        }
        if (!manifest_declares_secret(h->m, name))
            fprintf(stderr,
                    "agenthost: %s: \"%s\" is not declared in the manifest's secrets; the plugin "
                    "will not receive it\n",
                    h->o->secrets, name);
        int r = secrets_set(sec, h->instance_id, name, json_string_value(v), json_string_length(v),
                            NULL, NULL);
        if (r) {
            snprintf(err, errlen, "%s: %s: cannot store: %s", h->o->secrets, name, ah_strerror(r));
            goto out;
        }
    }
    rc = 0;
out:
    secrets_close(sec);
    store_close(st);
    json_decref(vals);
    return rc;
}

static int open_modules(hx *h, char *err, size_t errlen)
{
    const harness_opts *o = h->o;
    char data[PATH_MAX + 16], key[PATH_MAX + 16];
    if (fs_make_temp_dir(NULL, "agenthost-run-", 0700, h->tmp, sizeof(h->tmp)) < 0) {
        snprintf(err, errlen, "cannot create a temporary directory: %s", strerror(errno));
        return -1;
    }
    snprintf(data, sizeof(data), "%s/data", h->tmp);
    snprintf(key, sizeof(key), "%s/master.key", h->tmp);
    if (o->secrets && seed_secrets(h, data, key, err, errlen) < 0) return -1;
    if (loop_new(&h->loop) < 0) {
        snprintf(err, errlen, "cannot create the event loop");
        return -1;
    }
    store_opts so = {.dir = data};
    if (store_open(&h->st, h->loop, &so, err, errlen) != 0 ||
        secrets_open(&h->sec, h->st, key, true, err, errlen) != 0)
        return -1;
    /* The bus as the host configures it by default. */
    config c;
    if (config_load(&c, NULL, err, errlen) < 0) return -1;
    config_finalize(&c, NULL, err, errlen);
    bus_opts bo = {
        .max_event_bytes = (size_t)config_int(&c, "bus", "max_event_kb") << 10,
        .idempotency_window_ms = (uint64_t)config_int(&c, "bus", "idempotency_window_s") * 1000u,
        .ack_timeout_ms = (uint32_t)config_int(&c, "bus", "ack_timeout_ms"),
        .max_attempts = (uint32_t)config_int(&c, "bus", "max_attempts"),
        .backoff_ms = (uint32_t)config_int(&c, "bus", "backoff_ms"),
        .max_backoff_ms = (uint32_t)config_int(&c, "bus", "max_backoff_ms"),
        .max_in_flight = (uint32_t)config_int(&c, "bus", "max_in_flight"),
    };
    config_free(&c);
    if (bus_open(&h->bus, h->loop, h->st, &bo, err, errlen) != 0) return -1;
    supervisor_opts sv = {
        .runner = o->runner, .shutdown_grace_ms = 2000, .no_sandbox = o->no_sandbox};
    if (supervisor_new(&h->sup, h->loop, h->st, h->sec, &sv) != 0 ||
        kv_attach(&h->kv, h->sup, h->st) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    json_t *cfg = NULL;
    if (o->config && !(cfg = load_object(o->config, "the instance's configuration", err, errlen)))
        return -1;
    /* A crash ends the run: no restarts. */
    json_t *over = json_pack("{s:{s:s}}", "restart", "policy", "never");
    char aerr[700];
    int rc = supervisor_add(h->sup, h->instance_id, h->m, cfg, over, true, aerr, sizeof(aerr));
    json_decref(over);
    json_decref(cfg);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", o->config ? o->config : o->manifest, aerr);
        return -1;
    }
    h->inst = supervisor_find(h->sup, h->instance_id);
    supervisor_set_handler(h->sup, AH_MSG_PUBLISH, on_publish, h);
    supervisor_set_handler(h->sup, AH_MSG_ACK, on_ack, h);
    supervisor_set_handler(h->sup, AH_MSG_NACK, on_nack, h);
    supervisor_set_handler(h->sup, AH_MSG_HTTP, on_http, h);
    supervisor_set_handler(h->sup, AH_MSG_METRIC, on_metric, h);
    sup_listener l = {.on_ready = on_ready, .on_down = on_down};
    supervisor_set_listener(h->sup, &l, h);
    uv_timer_init(loop_uv(h->loop), &h->timer);
    uv_timer_init(loop_uv(h->loop), &h->kick);
    h->timer.data = h->kick.data = h;
    h->timer_open = h->kick_open = true;
    return 0;
}

static void close_modules(hx *h)
{
    while (h->delayed) {
        json_decref(h->delayed->answer);
        json_decref(h->delayed->chunks);
        drop_delayed(h, h->delayed);
    }
    if (h->timer_open) uv_close((uv_handle_t *)&h->timer, NULL);
    if (h->kick_open) uv_close((uv_handle_t *)&h->kick, NULL);
    if (h->bus) bus_close(h->bus);
    if (h->st) store_close(h->st);
    bus_free(h->bus);
    if (h->sup) supervisor_free(h->sup);
    kv_detach(h->kv);
    secrets_close(h->sec);
    if (h->loop) loop_free(h->loop);
}

static void summary(hx *h, bool ok)
{
    const counts *n = &h->n;
    json_t *o =
        json_pack("{s:s,s:b,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "type", "summary",
                  "ok", ok, "events", n->events, "acked", n->acked, "nacked", n->nacked,
                  "unsettled", n->unsettled, "calls", n->calls, "replied", n->replied, "unanswered",
                  n->unanswered, "publishes", n->publishes, "denied", n->denied, "http", n->http,
                  "unmatched", n->unmatched, "protocol_errors", n->protocol);
    json_object_set_new(o, "crashed", json_boolean(h->crashed));
    json_t *unused = replay_unused(h->rp);
    if (json_array_size(unused))
        json_object_set_new(o, "unused_responses", unused);
    else
        json_decref(unused);
    h->waiting = -1;
    emit(h, o);
}

int harness_run(const harness_opts *o, char *err, size_t errlen)
{
    hx hstore, *h = &hstore;
    memset(h, 0, sizeof(*h));
    h->o = o;
    h->waiting = -1;
    pthread_mutex_init(&h->out_mu, NULL);
    ah_idmap_init(&h->deliveries);
    int rc = 2;
    if (manifest_load(o->manifest, true, &h->m, err, errlen) < 0) goto out;
    snprintf(h->instance_id, sizeof(h->instance_id), "%s", o->instance ? o->instance : h->m->name);
    if (!ah_valid_id(h->instance_id)) {
        snprintf(err, errlen, "instance id \"%s\": 1-64 characters of a-z, 0-9, '-', '_', '.'",
                 h->instance_id);
        goto out;
    }
    if (script_load(o->events, h->m, h->instance_id, &h->sc, err, errlen) < 0) goto out;
    if (o->http && replay_load(o->http, &h->rp, err, errlen) < 0) goto out;
    h->slots = calloc(h->sc.n ? h->sc.n : 1, sizeof(*h->slots));
    if (!h->slots) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < h->sc.n; i++)
        h->slots[i] = (slot){.h = h, .i = i};
    log_opts lo = {.dir = NULL, .to_stderr = false, .min_level = LOG_DEBUG};
    log_init(&lo);
    log_set_tap(on_log_line, h);
    if (open_modules(h, err, errlen) < 0) goto out;
    supervisor_start_all(h->sup);
    loop_run(h->loop);
    if (!h->stopped) {
        /* The loop ran dry (nothing left to wait for): stop what is left. */
        finish(h);
        while (!h->stopped && uv_run(loop_uv(h->loop), UV_RUN_ONCE))
            ;
    }
    bool ok = h->ready && !h->crashed && !h->n.unsettled && !h->n.unanswered && !h->n.unmatched &&
              !h->n.denied && !h->n.protocol;
    summary(h, ok);
    rc = ok ? 0 : 1;
out:
    close_modules(h);
    log_set_tap(NULL, NULL);
    if (h->tmp[0]) fs_remove_tree(h->tmp);
    ah_idmap_free(&h->deliveries);
    free(h->slots);
    script_free(&h->sc);
    replay_free(h->rp);
    manifest_free(h->m);
    pthread_mutex_destroy(&h->out_mu);
    return rc;
}
