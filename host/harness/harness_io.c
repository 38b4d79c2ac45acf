/*
 * harness_io.c - what the plugin under the harness asks of the host, and
 * the lines the harness prints: publishes go to the bus of the temporary
 * store once the manifest allows them; acks and nacks settle script items;
 * HTTP requests pass the egress allowlist as the broker builds it, then are
 * answered from the recorded responses; the plugin's logs arrive through a
 * tap on the host's logger.
 */
#include "sdk/ipc/frame.h"
#include "services/bus_service.h"
#include "core/redact.h"
#include "harness_priv.h"

#include <agenthost/plugin.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- output --------------------------------------------------------------- */

static int current_line(hx *h)
{
    if (h->waiting >= 0) return h->sc.items[h->waiting].line;
    return 0;
}

/* Print one record (stolen). Secret values the host read are masked, as
 * in its logs; a record that cannot be masked is not printed. */
void hx_emit(hx *h, json_t *o)
{
    if (!o) return;
    char *line = NULL, *s = NULL;
    if (redact_json(o) == 0) line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (line) s = redact_line(line);
    free(line);
    if (!s) return;
    pthread_mutex_lock(&h->out_mu);
    fputs(s, h->o->out);
    fputc('\n', h->o->out);
    fflush(h->o->out);
    pthread_mutex_unlock(&h->out_mu);
    free(s);
}

json_t *hx_record(hx *h, const char *type, int line)
{
    if (!line) line = current_line(h);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(type));
    if (line > 0) json_object_set_new(o, "line", json_integer(line));
    return o;
}

/* The logger's tap: the plugin's own log lines and its security events. */
void hx_on_log_line(void *ud, const char *kind, log_level level, const char *line)
{
    hx *h = ud;
    char mine[96];
    snprintf(mine, sizeof(mine), "plugins/%s", h->instance_id);
    bool plugin = !strcmp(kind, mine), security = !strcmp(kind, "security");
    /* The host's own records ("host", "errors") are not the plugin's doing. */
    if (!plugin &&
        (!strcmp(kind, "host") || !strcmp(kind, "errors") || !strncmp(kind, "plugins/", 8)))
        return;
    json_t *rec = json_loads(line, 0, NULL);
    const char *inst = json_string_value(json_object_get(rec, "instance"));
    if (rec && (plugin || (inst && !strcmp(inst, h->instance_id)))) {
        json_t *o = hx_record(h, security ? "security" : "log", 0);
        json_object_set_new(o, "level", json_string(log_level_name(level)));
        if (plugin)
            json_object_set(o, "stream", json_object_get(rec, "stream"));
        else if (security)
            json_object_set(o, "event", json_object_get(rec, "event"));
        else
            json_object_set_new(o, "channel", json_string(kind)); /* log_record */
        json_object_set(o, "msg", json_object_get(rec, "msg"));
        hx_emit(h, o);
    }
    json_decref(rec);
}

/* ---- the plugin's requests ---------------------------------------------- */

typedef struct pub_op {
    hx *h;
    inst_req req;
    json_t *request; /* the PUBLISH message, to shape the answer */
    json_t *recs;    /* one "publish" line per event */
    uint64_t settle; /* a COMMIT (ABI 1.6): the delivery it settles, or 0 */
} pub_op;

static void on_settle(hx *h, inst_req req, json_t *body, bool ack);

/* A commit's settle, once its events are published (ack) or refused (nack:
 * the event is not done). */
static void commit_settle(hx *h, inst_req req, uint64_t delivery, int status, const char *err)
{
    inst_req d = {.inst = req.inst, .gen = req.gen, .id = delivery};
    json_t *b = status ? json_pack("{s:s,s:i}", "error", err, "retry_after_ms", 0) : NULL;
    on_settle(h, d, b, status == 0);
    json_decref(b);
}

static void emit_all(hx *h, json_t *recs)
{
    size_t i;
    json_t *rec;
    json_array_foreach(recs, i, rec) hx_emit(h, json_incref(rec));
    json_decref(recs);
}

static void published(void *ud, int status, const uint64_t *offsets, const bool *dup, size_t n)
{
    pub_op *op = ud;
    size_t i;
    json_t *rec;
    if (status || n != json_array_size(op->recs)) {
        int code = status ? status : AH_EIO;
        json_array_foreach(op->recs, i, rec)
            json_object_set_new(rec, "error", json_string(ah_strerror(code)));
        instance_answer_error(op->req, code, "store", ah_strerror(code));
    } else {
        json_array_foreach(op->recs, i, rec)
        {
            json_object_set_new(rec, "offset", json_integer((json_int_t)offsets[i]));
            if (dup[i]) json_object_set_new(rec, "duplicate", json_true());
        }
        instance_answer(op->req, bus_service_publish_answer(op->request, offsets, dup, n));
    }
    emit_all(op->h, op->recs);
    if (op->settle)
        commit_settle(op->h, op->req, op->settle,
                      status ? status
                      : n    ? 0
                             : AH_EIO,
                      "commit failed");
    json_decref(op->request);
    free(op);
}

/* The lines printed for a publish: topic, key, idempotency key, headers and
 * body of each event. */
static json_t *publish_records(hx *h, const json_t *body, size_t n)
{
    json_t *recs = json_array();
    const json_t *events = json_object_get(body, "events");
    static const char *const fields[] = {"topic", "key", "idempotency_key", "headers", "body"};
    for (size_t i = 0; i < (n ? n : 1); i++) {
        const json_t *e = events ? json_array_get(events, i) : body;
        json_t *rec = hx_record(h, "publish", 0);
        for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
            if (json_object_get(e, fields[k]))
                json_object_set(rec, fields[k], json_object_get(e, fields[k]));
        json_array_append_new(recs, rec);
    }
    return recs;
}

static void publish_or_commit(hx *h, inst_req req, json_t *body, uint64_t settle)
{
    size_t n = bus_service_publish_count(body);
    json_t *recs = publish_records(h, body, n);
    h->n.publishes += json_array_size(recs);
    bus_msg *msgs = n ? calloc(n, sizeof(*msgs)) : NULL;
    pub_op *op = malloc(sizeof(*op));
    char err[300] = "publish needs an event, or a batch of 1 to 1000 events";
    const char *denied = NULL;
    int rc = !n ? AH_EINVAL
             : !msgs || !op
                 ? AH_ENOMEM
                 : bus_service_publish_parse(h->m, body, msgs, n, &denied, err, sizeof(err));
    if (rc == 0) {
        *op = (pub_op){
            .h = h, .req = req, .request = json_incref(body), .recs = recs, .settle = settle};
        rc = bus_publish(h->bus, msgs, n, false, published, op, err, sizeof(err));
        if (rc) json_decref(body);
    }
    free(msgs);
    if (!rc) return;
    free(op);
    size_t i;
    json_t *rec;
    if (rc == AH_EDENIED) h->n.denied++;
    json_array_foreach(recs, i, rec)
    {
        if (rc == AH_EDENIED) json_object_set_new(rec, "denied", json_true());
        json_object_set_new(rec, "error", json_string(err));
    }
    emit_all(h, recs);
    if (settle) commit_settle(h, req, settle, rc, err);
    instance_answer_error(req, rc,
                          rc == AH_EDENIED   ? "denied"
                          : rc == AH_ETOOBIG ? "too_large"
                          : rc == AH_ENOMEM  ? "no_memory"
                                             : "invalid",
                          err);
}

static void on_settle(hx *h, inst_req req, json_t *body, bool ack)
{
    slot *s = ah_idmap_get(&h->deliveries, req.id);
    if (!s || s->state == DONE) {
        h->n.protocol++;
        hx_emit(h,
                json_pack("{s:s,s:s}", "type", "protocol", "msg",
                          s ? "an event settled twice" : "ack or nack of a delivery never made"));
        return;
    }
    const script_item *it = &h->sc.items[s->i];
    json_t *o = hx_record(h, ack ? "ack" : "nack", it->line);
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
    hx_emit(h, o);
    if (s->state == PENDING)
        hx_settle(s, DONE);
    else
        s->state = DONE;
}

static void on_publish(void *ud, inst_req req, json_t *body)
{
    publish_or_commit(ud, req, body, 0);
}

/* ABI 1.6: publish the events and settle the delivery, all or nothing. */
static void on_commit(void *ud, inst_req req, json_t *body)
{
    hx *h = ud;
    json_int_t d = json_integer_value(json_object_get(body, "delivery"));
    if (d <= 0) {
        instance_answer_error(req, AH_EINVAL, "invalid", "delivery: the id of an event to settle");
        return;
    }
    if (json_array_size(json_object_get(body, "events")) == 0) { /* a settle alone */
        commit_settle(h, req, (uint64_t)d, 0, NULL);
        instance_answer(req, json_pack("{s:[],s:[]}", "offsets", "duplicates"));
        return;
    }
    publish_or_commit(h, req, body, (uint64_t)d);
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
    json_t *o = hx_record(ud, "metric", 0);
    json_object_set(o, "name", json_object_get(body, "name"));
    json_object_set_new(o, "kind", json_string(k >= 0 && k < 3 ? kinds[k] : "unknown"));
    json_object_set(o, "value", json_object_get(body, "value"));
    if (json_object_get(body, "labels"))
        json_object_set(o, "labels", json_object_get(body, "labels"));
    hx_emit(ud, o);
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

/* The broker's first checks on a request: a usable URL, a scheme the
 * broker speaks (http(s), or smtp(s) and imap(s): ADR 0034), an allowlist entry, and for an IP
 * literal its address class. No name is resolved (the recorded responses stand in for the network).
 */
static bool allowed(hx *h, const char *url, char *why, size_t len)
{
    egress_target t;
    char perr[300];
    if (!url || policy_parse_url(url, &t, perr, sizeof(perr)) < 0) {
        snprintf(why, len, "invalid URL: %s", url ? perr : "none");
        return false;
    }
    const char *bad = NULL;
    if (!h->egress_ok)
        bad = h->egress_err;
    else if (!policy_match(&h->egress, &t))
        bad = "destination not in the manifest's egress allowlist";
    else if (t.ip_literal) {
        policy_self self;
        memset(&self, 0, sizeof(self));
        if (policy_self_init(&self, "127.0.0.1:0") == 0) {
            bad = policy_check_target_address(&h->egress, &t, (const struct sockaddr *)&t.ip,
                                              t.port, &self);
            policy_self_free(&self);
        }
    }
    if (bad) snprintf(why, len, "egress to %s://%s:%d refused: %s", t.scheme, t.host, t.port, bad);
    return bad == NULL;
}

/* The request's headers for the record, credentials masked: a value such
 * as Basic base64(user:password) is not a registered secret (mail logins,
 * ADR 0034), so redaction alone would not hide it. */
static json_t *recorded_headers(const json_t *hs)
{
    json_t *out = json_array();
    size_t i;
    const json_t *h;
    json_array_foreach(hs, i, h)
    {
        const char *line = json_string_value(h);
        if (line && (!strncasecmp(line, "authorization:", 14) ||
                     !strncasecmp(line, "proxy-authorization:", 20)))
            json_array_append_new(out,
                                  json_sprintf("%.*s: " REDACTED, (int)strcspn(line, ":"), line));
        else
            json_array_append(out, (json_t *)h);
    }
    return out;
}

static void on_http(void *ud, inst_req req, json_t *body)
{
    hx *h = ud;
    json_t *rec = hx_record(h, "http", 0);
    static const char *const fields[] = {"method", "url", "headers", "body", "body_b64"};
    for (size_t i = 0; i < 5; i++) {
        const json_t *v = json_object_get(body, fields[i]);
        if (v && json_is_array(v) && json_array_size(v))
            json_object_set_new(rec, fields[i], recorded_headers(v));
        else if (v && !json_is_array(v))
            json_object_set(rec, fields[i], (json_t *)v);
    }
    bool stream = json_integer_value(json_object_get(body, "flags")) & AH_HTTP_STREAM;
    if (stream) json_object_set_new(rec, "stream", json_true());
    h->n.http++;
    char why[400];
    if (!allowed(h, json_string_value(json_object_get(body, "url")), why, sizeof(why))) {
        h->n.refused++;
        json_object_set_new(rec, "refused", json_true());
        json_object_set_new(rec, "error", json_string(why));
        hx_emit(h, rec);
        instance_answer(req, json_pack("{s:i,s:I,s:{s:i,s:s,s:s}}", "status", 0, "retries",
                                       (json_int_t)0, "error", "errno", AH_EDENIED, "code",
                                       "refused", "message", why));
        return;
    }
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
    hx_emit(h, rec);
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

/* A call to another instance: declared in the manifest's calls (the
 * answer line's plugin), then answered from --calls. */
static void on_call_out(void *ud, inst_req req, json_t *body)
{
    hx *h = ud;
    const char *inst = json_string_value(json_object_get(body, "instance")) ?: "";
    const char *action = json_string_value(json_object_get(body, "action")) ?: "";
    json_t *rec = hx_record(h, "call_out", 0);
    json_object_set_new(rec, "instance", json_string(inst));
    json_object_set_new(rec, "action", json_string(action));
    h->n.outcalls++;
    int i = outcalls_match(h->oc, inst, action);
    const char *plugin = i >= 0 ? outcalls_plugin(h->oc, i) : NULL;
    char why[300];
    if (i < 0) {
        h->n.outcalls_failed++;
        snprintf(why, sizeof(why), "no answer for %s's %s (--calls)", inst, action);
        json_object_set_new(rec, "unmatched", json_true());
        json_object_set_new(rec, "error", json_string(why));
        hx_emit(h, rec);
        instance_answer_error(req, AH_ENOTFOUND, "not_found", why);
        return;
    }
    json_object_set_new(rec, "entry", json_integer(outcalls_line(h->oc, i)));
    if (!manifest_may_call(h->m, plugin, action)) {
        h->n.outcalls_failed++;
        snprintf(why, sizeof(why),
                 "the manifest's calls do not declare action \"%s\" of plugin \"%s\"", action,
                 plugin);
        json_object_set_new(rec, "denied", json_true());
        json_object_set_new(rec, "error", json_string(why));
        hx_emit(h, rec);
        instance_answer_error(req, AH_EDENIED, "denied", why);
        return;
    }
    const json_t *a = outcalls_answer(h->oc, i), *e = json_object_get(a, "error");
    if (e) json_object_set(rec, "error", json_object_get(e, "code"));
    hx_emit(h, rec);
    if (e)
        instance_answer_error(req, AH_EIO, json_string_value(json_object_get(e, "code")),
                              json_string_value(json_object_get(e, "message")) ?: "");
    else
        instance_answer(req, json_pack("{s:O}", "result", json_object_get(a, "result")));
}

void hx_attach_requests(hx *h)
{
    supervisor_set_handler(h->sup, AH_MSG_CALL_OUT, on_call_out, h);
    supervisor_set_handler(h->sup, AH_MSG_PUBLISH, on_publish, h);
    supervisor_set_handler(h->sup, AH_MSG_ACK, on_ack, h);
    supervisor_set_handler(h->sup, AH_MSG_NACK, on_nack, h);
    supervisor_set_handler(h->sup, AH_MSG_COMMIT, on_commit, h);
    supervisor_set_handler(h->sup, AH_MSG_HTTP, on_http, h);
    supervisor_set_handler(h->sup, AH_MSG_METRIC, on_metric, h);
}

void hx_detach_requests(hx *h)
{
    while (h->delayed) {
        json_decref(h->delayed->answer);
        json_decref(h->delayed->chunks);
        drop_delayed(h, h->delayed);
    }
}
