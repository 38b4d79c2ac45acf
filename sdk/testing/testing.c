/*
 * testing.c - the fake host of agenthost/testing.h: every ah_host member,
 * in the test's process. Completions go to a queue that aht_run drains,
 * so that no service calls back inside the call that asked.
 */
#include <agenthost/testing.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testing_priv.h"

static const ah_host table;

/* ---- the queue ------------------------------------------------------------- */

int aht_later(aht *t, job_fn fn, void *cb, void *ud, int status, json_t *data, uint64_t n)
{
    job *j = calloc(1, sizeof(*j));
    if (!j) {
        json_decref(data);
        return AH_ENOMEM;
    }
    *j = (job){.run = fn, .cb = cb, .ud = ud, .status = status, .data = data, .n = n};
    if (t->tail)
        t->tail->next = j;
    else
        t->head = j;
    t->tail = j;
    return AH_OK;
}

void aht_run(aht *t)
{
    while (t->head) {
        job *j = t->head;
        t->head = j->next;
        if (!t->head) t->tail = NULL;
        j->run(t, j);
        json_decref(j->data);
        free(j);
    }
}

/* ---- identity, logs, secrets, metrics ---------------------------------------- */

static const char *f_instance_id(ah_ctx *c)
{
    return c->t->instance;
}

static void f_set_userdata(ah_ctx *c, void *ud)
{
    c->t->userdata = ud;
}

static void *f_userdata(ah_ctx *c)
{
    return c->t->userdata;
}

static const char *level_name(ah_log_level l)
{
    return l == AH_LOG_DEBUG   ? "debug"
           : l == AH_LOG_WARN  ? "warn"
           : l == AH_LOG_ERROR ? "error"
                               : "info";
}

static void f_log(ah_ctx *c, ah_log_level level, const char *fmt, ...)
{
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_array_append_new(c->t->logs,
                          json_pack("{s:s,s:s}", "level", level_name(level), "msg", msg));
}

static int f_log_record(ah_ctx *c, const char *channel, ah_log_level level, const json_t *fields,
                        const char *msg)
{
    if (!channel || !msg) return AH_EINVAL;
    json_array_append_new(c->t->logs, json_pack("{s:s,s:s,s:s,s:O?}", "level", level_name(level),
                                                "msg", msg, "channel", channel, "fields", fields));
    return AH_OK;
}

static const char *f_secret(ah_ctx *c, const char *name)
{
    return json_string_value(json_object_get(c->t->secrets, name));
}

static int f_metric(ah_ctx *c, const char *name, ah_metric_kind kind, double value,
                    const char *labels)
{
    if (!name) return AH_EINVAL;
    json_array_append_new(c->t->metrics, json_pack("{s:s,s:i,s:f,s:s?}", "name", name, "kind",
                                                   (int)kind, "value", value, "labels", labels));
    return AH_OK;
}

/* ---- publish --------------------------------------------------------------- */

static void publish_done(aht *t, job *j)
{
    (void)t;
    if (j->cb) ((ah_publish_cb)j->cb)(&t->ctx, j->status, j->n, j->ud);
}

static int publish_one(aht *t, const char *topic, const json_t *body, const ah_publish_opts *o)
{
    if (!topic || !body) return AH_EINVAL;
    if (t->deny && !strncmp(topic, t->deny, strlen(t->deny))) return AH_EDENIED;
    json_t *e = json_pack("{s:s,s:O}", "topic", topic, "body", body);
    if (o && o->key) json_object_set_new(e, "key", json_string(o->key));
    if (o && o->idempotency_key)
        json_object_set_new(e, "idempotency_key", json_string(o->idempotency_key));
    json_array_append_new(t->published, e);
    return AH_OK;
}

static int f_publish(ah_ctx *c, const char *topic, const json_t *body, const ah_publish_opts *opts,
                     ah_publish_cb cb, void *ud)
{
    int rc = publish_one(c->t, topic, body, opts);
    if (rc) return rc;
    return aht_later(c->t, publish_done, (void *)cb, ud, 0, NULL, ++c->t->next_offset);
}

static void batch_done(aht *t, job *j)
{
    uint64_t *offs = calloc(j->n ? j->n : 1, sizeof(*offs));
    for (uint64_t i = 0; offs && i < j->n; i++)
        offs[i] = (uint64_t)json_integer_value(json_array_get(j->data, i));
    if (j->cb) ((ah_publish_batch_cb)j->cb)(&t->ctx, offs ? 0 : AH_ENOMEM, offs, j->n, j->ud);
    free(offs);
}

static int f_publish_batch(ah_ctx *c, const ah_publish_item *items, size_t n,
                           ah_publish_batch_cb cb, void *ud)
{
    if (!items || n == 0 || n > 1000) return AH_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!items[i].topic || !items[i].body)
            return AH_EINVAL;
        else if (c->t->deny && !strncmp(items[i].topic, c->t->deny, strlen(c->t->deny)))
            return AH_EDENIED;
    json_t *offs = json_array();
    for (size_t i = 0; i < n; i++) {
        publish_one(c->t, items[i].topic, items[i].body, items[i].opts);
        json_array_append_new(offs, json_integer((json_int_t)++c->t->next_offset));
    }
    return aht_later(c->t, batch_done, (void *)cb, ud, 0, offs, n);
}

/* ---- calls and events ---------------------------------------------------------- */

static int f_reply(ah_call *call, json_t *result)
{
    if (!call || call->answer) {
        json_decref(result);
        return AH_EINVAL;
    }
    call->answer = json_pack("{s:o}", "result", result ? result : json_null());
    return AH_OK;
}

static int f_reply_error(ah_call *call, const char *code, const char *message)
{
    if (!call || call->answer) return AH_EINVAL;
    call->answer = json_pack("{s:{s:s,s:s}}", "error", "code", code ? code : "error", "message",
                             message ? message : "");
    return AH_OK;
}

static int f_reply_partial(ah_call *call, const json_t *partial)
{
    if (!call || call->answer || !partial) return AH_EINVAL;
    json_array_append(call->partials, (json_t *)partial);
    return AH_OK;
}

static int settle(ah_ctx *c, const ah_event *ev, bool ack)
{
    if (!ev) return AH_EINVAL;
    fake_event *e = (fake_event *)ev;
    json_decref(e->msg);
    free(e);
    if (ack)
        c->t->acked++;
    else
        c->t->nacked++;
    return AH_OK;
}

static int f_ack(ah_ctx *c, const ah_event *ev)
{
    return settle(c, ev, true);
}

static int f_nack(ah_ctx *c, const ah_event *ev, const char *error, uint32_t retry_after_ms)
{
    (void)error;
    (void)retry_after_ms;
    return settle(c, ev, false);
}

/* ABI 1.6: publish and settle in one commit. Like the host, a refused
 * commit (an undeclared topic, more than 1,000 events) is answered through
 * cb with nothing published, and the event counts as nacked (it would come
 * again); a commit that is taken counts as acked once cb has run. */
typedef struct commit_job {
    ah_publish_batch_cb cb;
    void *ud;
    const ah_event *ev;
} commit_job;

static void commit_done(aht *t, job *j)
{
    commit_job *cj = j->ud;
    size_t n = j->status ? 0 : (size_t)j->n;
    uint64_t *offs = calloc(n ? n : 1, sizeof(*offs));
    for (size_t i = 0; offs && i < n; i++)
        offs[i] = (uint64_t)json_integer_value(json_array_get(j->data, i));
    if (cj->cb) cj->cb(&t->ctx, j->status ? j->status : offs ? 0 : AH_ENOMEM, offs, n, cj->ud);
    free(offs);
    settle(&t->ctx, cj->ev, j->status == 0);
    free(cj);
}

static int f_commit(ah_ctx *c, const ah_event *ev, const ah_publish_item *items, size_t n,
                    ah_publish_batch_cb cb, void *ud)
{
    if (!ev || (n && !items)) return AH_EINVAL;
    int status = n > 1000 ? AH_ETOOBIG : 0;
    for (size_t i = 0; !status && i < n; i++)
        if (!items[i].topic || !items[i].body)
            status = AH_EINVAL;
        else if (c->t->deny && !strncmp(items[i].topic, c->t->deny, strlen(c->t->deny)))
            status = AH_EDENIED;
    commit_job *cj = malloc(sizeof(*cj));
    if (!cj) return AH_ENOMEM;
    *cj = (commit_job){.cb = cb, .ud = ud, .ev = ev};
    json_t *offs = status ? NULL : json_array();
    for (size_t i = 0; !status && i < n; i++) {
        publish_one(c->t, items[i].topic, items[i].body, items[i].opts);
        json_array_append_new(offs, json_integer((json_int_t)++c->t->next_offset));
    }
    int rc = aht_later(c->t, commit_done, NULL, cj, status, offs, n);
    if (rc) free(cj);
    return rc;
}

/* ---- KV ---------------------------------------------------------------------- */

/* The live value under key (NULL: absent or expired, then dropped). */
static json_t *kv_live(aht *t, const char *key, uint64_t *rev)
{
    json_t *v = json_object_get(t->kv, key), *m = json_object_get(t->kv_meta, key);
    json_int_t exp = json_integer_value(json_object_get(m, "exp"));
    if (v && exp > 0 && (uint64_t)exp <= t->now) {
        json_object_del(t->kv, key);
        json_object_set_new(m, "exp", json_integer(0));
        v = NULL;
    }
    if (rev) *rev = v ? (m ? (uint64_t)json_integer_value(json_object_get(m, "rev")) : 1) : 0;
    return v;
}

/* Write (value NULL: delete); the new revision. */
static uint64_t kv_set(aht *t, const char *key, const json_t *value, uint64_t ttl_ms)
{
    json_t *m = json_object_get(t->kv_meta, key);
    uint64_t rev = m ? (uint64_t)json_integer_value(json_object_get(m, "rev")) : 0;
    if (!m && json_object_get(t->kv, key)) rev = 1; /* seeded by the test */
    if (!value) {
        json_object_del(t->kv, key);
        json_object_del(t->kv_meta, key);
        return 0;
    }
    json_object_set_new(t->kv, key, json_deep_copy(value));
    json_object_set_new(t->kv_meta, key,
                        json_pack("{s:I,s:I}", "rev", (json_int_t)(rev + 1), "exp",
                                  (json_int_t)(ttl_ms ? t->now + ttl_ms : 0)));
    return rev + 1;
}

static void kv_get_done(aht *t, job *j)
{
    const json_t *v = json_object_get(j->data, "value");
    if (j->n)
        ((ah_kv_get_rev_cb)j->cb)(&t->ctx, j->status, v,
                                  (uint64_t)json_integer_value(json_object_get(j->data, "rev")),
                                  j->ud);
    else
        ((ah_kv_get_cb)j->cb)(&t->ctx, j->status, v, j->ud);
}

static int kv_get_any(ah_ctx *c, const char *key, void *cb, void *ud, bool with_rev)
{
    if (!key || !*key || !cb) return AH_EINVAL;
    uint64_t rev;
    json_t *v = kv_live(c->t, key, &rev);
    json_t *d = json_pack("{s:O?,s:I}", "value", v, "rev", (json_int_t)rev);
    return aht_later(c->t, kv_get_done, cb, ud, v ? 0 : AH_ENOTFOUND, d, with_rev);
}

static int f_kv_get(ah_ctx *c, const char *key, ah_kv_get_cb cb, void *ud)
{
    return kv_get_any(c, key, (void *)cb, ud, false);
}

static int f_kv_get_rev(ah_ctx *c, const char *key, ah_kv_get_rev_cb cb, void *ud)
{
    return kv_get_any(c, key, (void *)cb, ud, true);
}

static void done_cb(aht *t, job *j)
{
    if (j->cb) ((ah_done_cb)j->cb)(&t->ctx, j->status, j->ud);
}

static void rev_cb(aht *t, job *j)
{
    if (j->cb) ((ah_kv_rev_cb)j->cb)(&t->ctx, j->status, j->n, j->ud);
}

static int f_kv_put(ah_ctx *c, const char *key, const json_t *value, ah_done_cb cb, void *ud)
{
    if (!key || !*key || !value) return AH_EINVAL;
    kv_set(c->t, key, value, 0);
    return aht_later(c->t, done_cb, (void *)cb, ud, 0, NULL, 0);
}

static int f_kv_put_ex(ah_ctx *c, const char *key, const json_t *value, const ah_kv_put_opts *o,
                       ah_kv_rev_cb cb, void *ud)
{
    if (!key || !*key || !value) return AH_EINVAL;
    uint64_t cur;
    kv_live(c->t, key, &cur);
    if (o && (o->flags & AH_KV_IF_REV) && o->if_rev != cur)
        return aht_later(c->t, rev_cb, (void *)cb, ud, AH_ECONFLICT, NULL, 0);
    uint64_t rev = kv_set(c->t, key, value, o ? o->ttl_ms : 0);
    return aht_later(c->t, rev_cb, (void *)cb, ud, 0, NULL, rev);
}

static int f_kv_delete(ah_ctx *c, const char *key, ah_done_cb cb, void *ud)
{
    if (!key || !*key) return AH_EINVAL;
    kv_set(c->t, key, NULL, 0);
    return aht_later(c->t, done_cb, (void *)cb, ud, 0, NULL, 0);
}

static void incr_cb(aht *t, job *j)
{
    if (j->cb)
        ((ah_kv_incr_cb)j->cb)(&t->ctx, j->status, (int64_t)json_integer_value(j->data), j->ud);
}

static int f_kv_incr(ah_ctx *c, const char *key, int64_t delta, ah_kv_incr_cb cb, void *ud)
{
    if (!key || !*key) return AH_EINVAL;
    uint64_t rev;
    json_t *v = kv_live(c->t, key, &rev);
    int64_t sum = 0;
    if ((v && !json_is_integer(v)) ||
        __builtin_add_overflow(v ? (int64_t)json_integer_value(v) : 0, delta, &sum))
        return aht_later(c->t, incr_cb, (void *)cb, ud, AH_EINVAL, NULL, 0);
    json_int_t exp =
        json_integer_value(json_object_get(json_object_get(c->t->kv_meta, key), "exp"));
    json_t *n = json_integer(sum);
    kv_set(c->t, key, n, 0);
    if (exp) json_object_set_new(json_object_get(c->t->kv_meta, key), "exp", json_integer(exp));
    return aht_later(c->t, incr_cb, (void *)cb, ud, 0, n, 0);
}

static void scan_cb(aht *t, job *j)
{
    size_t n = json_array_size(json_object_get(j->data, "items"));
    ah_kv_item *v = calloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; v && i < n; i++) {
        json_t *it = json_array_get(json_object_get(j->data, "items"), i);
        v[i].key = json_string_value(json_object_get(it, "key"));
        v[i].value = json_object_get(it, "value");
    }
    ((ah_kv_scan_cb)j->cb)(&t->ctx, v ? 0 : AH_ENOMEM, v, v ? n : 0,
                           json_string_value(json_object_get(j->data, "next")), j->ud);
    free(v);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int f_kv_scan(ah_ctx *c, const char *prefix, const char *after, uint32_t limit,
                     ah_kv_scan_cb cb, void *ud)
{
    if (!cb) return AH_EINVAL;
    size_t n = json_object_size(c->t->kv), k = 0, plen = prefix ? strlen(prefix) : 0;
    const char **keys = calloc(n ? n : 1, sizeof(*keys));
    if (!keys) return AH_ENOMEM;
    const char *key;
    json_t *v;
    json_object_foreach(c->t->kv, key, v) keys[k++] = key;
    qsort(keys, k, sizeof(*keys), cmp_str);
    json_t *items = json_array(), *next = NULL;
    size_t lim = limit ? (limit > 1000 ? 1000 : limit) : 100;
    for (size_t i = 0; i < k; i++) {
        if ((plen && strncmp(keys[i], prefix, plen)) || (after && strcmp(keys[i], after) <= 0))
            continue;
        json_t *val = kv_live(c->t, keys[i], NULL);
        if (!val) continue;
        if (json_array_size(items) == lim) {
            next = json_incref(json_object_get(json_array_get(items, lim - 1), "key"));
            break;
        }
        json_array_append_new(items, json_pack("{s:s,s:O}", "key", keys[i], "value", val));
    }
    free(keys);
    return aht_later(c->t, scan_cb, (void *)cb, ud, 0,
                     json_pack("{s:o,s:o}", "items", items, "next", next ? next : json_null()), 0);
}

static void many_cb(aht *t, job *j)
{
    size_t n = json_array_size(j->data);
    ah_kv_entry *v = calloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; v && i < n; i++) {
        json_t *it = json_array_get(j->data, i);
        v[i].key = json_string_value(json_object_get(it, "key"));
        v[i].value = json_object_get(it, "value");
        v[i].rev = (uint64_t)json_integer_value(json_object_get(it, "rev"));
    }
    ((ah_kv_many_cb)j->cb)(&t->ctx, v ? 0 : AH_ENOMEM, v, v ? n : 0, j->ud);
    free(v);
}

static int f_kv_get_many(ah_ctx *c, const char *const *keys, size_t n, ah_kv_many_cb cb, void *ud)
{
    if (!keys || !cb || n == 0 || n > 1000) return AH_EINVAL;
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!keys[i] || !*keys[i]) {
            json_decref(a);
            return AH_EINVAL;
        }
        uint64_t rev;
        json_t *v = kv_live(c->t, keys[i], &rev);
        json_array_append_new(
            a, json_pack("{s:s,s:O?,s:I}", "key", keys[i], "value", v, "rev", (json_int_t)rev));
    }
    return aht_later(c->t, many_cb, (void *)cb, ud, 0, a, 0);
}

static int f_kv_put_many(ah_ctx *c, const ah_kv_entry *items, size_t n, ah_done_cb cb, void *ud)
{
    if (!items || n == 0 || n > 1000) return AH_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!items[i].key || !*items[i].key) return AH_EINVAL;
    for (size_t i = 0; i < n; i++)
        kv_set(c->t, items[i].key, items[i].value, items[i].ttl_ms);
    return aht_later(c->t, done_cb, (void *)cb, ud, 0, NULL, 0);
}

/* ---- HTTP ---------------------------------------------------------------------- */

static void http_cb(aht *t, job *j)
{
    const json_t *a = j->data;
    const char *body = json_string_value(json_object_get(a, "body"));
    ah_http_response r = {.status = (int)json_integer_value(json_object_get(a, "status")),
                          .error = j->status,
                          .error_code = j->status ? "unmatched" : NULL,
                          .error_message = j->status ? "no canned answer (aht_http_answer)" : NULL,
                          .headers = json_object_get(a, "headers"),
                          .body = body,
                          .body_len = body ? strlen(body) : 0};
    ((ah_http_cb)j->cb)(&t->ctx, &r, j->ud);
}

static int f_http(ah_ctx *c, const ah_http_request *req, ah_http_cb cb, void *ud)
{
    if (!req || !req->url || !cb) return AH_EINVAL;
    aht *t = c->t;
    const char *method = req->method ? req->method : "GET";
    json_array_append_new(t->requests,
                          json_pack("{s:s,s:s,s:s%}", "method", method, "url", req->url, "body",
                                    req->body ? (const char *)req->body : "", req->body_len));
    size_t i;
    json_t *a;
    json_array_foreach(t->answers, i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "method")), method) ||
            strcmp(json_string_value(json_object_get(a, "url")), req->url))
            continue;
        json_t *ans = json_incref(a);
        if (!json_is_true(json_object_get(a, "repeat"))) json_array_remove(t->answers, i);
        return aht_later(t, http_cb, (void *)cb, ud, 0, ans, 0);
    }
    return aht_later(t, http_cb, (void *)cb, ud, AH_ENOTFOUND, json_object(), 0);
}

void aht_http_answer(aht *t, const char *method, const char *url, int status, const char *body,
                     int repeat)
{
    json_array_append_new(t->answers,
                          json_pack("{s:s,s:s,s:i,s:s,s:b,s:{}}", "method", method ? method : "GET",
                                    "url", url, "status", status, "body", body ? body : "",
                                    "repeat", repeat, "headers"));
}

/* ---- timers --------------------------------------------------------------------- */

static ah_timer *f_timer_start(ah_ctx *c, uint64_t after_ms, uint64_t repeat_ms, ah_timer_cb cb,
                               void *ud)
{
    if (!cb) return NULL;
    ah_timer *tm = calloc(1, sizeof(*tm));
    if (!tm) return NULL;
    *tm = (ah_timer){
        .due = c->t->now + after_ms, .repeat = repeat_ms, .cb = cb, .ud = ud, .next = c->t->timers};
    c->t->timers = tm;
    return tm;
}

static void f_timer_stop(ah_ctx *c, ah_timer *tm)
{
    (void)c;
    if (tm) tm->stopped = 1; /* freed by aht_advance or aht_free */
}

static void reap_timers(aht *t)
{
    for (ah_timer **p = &t->timers; *p;) {
        if ((*p)->stopped) {
            ah_timer *dead = *p;
            *p = dead->next;
            free(dead);
        } else {
            p = &(*p)->next;
        }
    }
}

void aht_advance(aht *t, uint64_t ms)
{
    uint64_t end = t->now + ms;
    for (;;) {
        aht_run(t);
        ah_timer *first = NULL;
        for (ah_timer *tm = t->timers; tm; tm = tm->next)
            if (!tm->stopped && tm->due <= end && (!first || tm->due < first->due)) first = tm;
        if (!first) break;
        t->now = first->due;
        if (first->repeat)
            first->due += first->repeat;
        else
            first->stopped = 1; /* a one-shot timer is freed after its callback */
        first->cb(&t->ctx, first, first->ud);
        reap_timers(t);
    }
    t->now = end;
    reap_timers(t);
}

/* ---- the table and the test's side ------------------------------------------------ */

/* The fake host grants private storage (ABI 1.5) only when the test named a
 * directory with aht_storage_dir; otherwise NULL, as for a manifest without
 * `storage`. */
static const char *fake_storage_dir(ah_ctx *c)
{
    return c->t->storage;
}

static const ah_host table = {
    .size = sizeof(ah_host),
    .abi_major = AH_ABI_MAJOR,
    .abi_minor = AH_ABI_MINOR,
    .instance_id = f_instance_id,
    .set_userdata = f_set_userdata,
    .userdata = f_userdata,
    .log = f_log,
    .secret = f_secret,
    .publish = f_publish,
    .reply = f_reply,
    .reply_error = f_reply_error,
    .ack = f_ack,
    .nack = f_nack,
    .kv_get = f_kv_get,
    .kv_put = f_kv_put,
    .kv_delete = f_kv_delete,
    .kv_scan = f_kv_scan,
    .http = f_http,
    .metric = f_metric,
    .timer_start = f_timer_start,
    .timer_stop = f_timer_stop,
    .reply_partial = f_reply_partial,
    .log_record = f_log_record,
    .publish_batch = f_publish_batch,
    .commit = f_commit,
    .kv_get_rev = f_kv_get_rev,
    .kv_put_ex = f_kv_put_ex,
    .kv_incr = f_kv_incr,
    .kv_get_many = f_kv_get_many,
    .kv_put_many = f_kv_put_many,
    .call = aht_fake_call,
    .storage_dir = fake_storage_dir,
};

aht *aht_new(const ah_plugin *plugin, const char *instance_id)
{
    aht *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->p = plugin;
    t->ctx.t = t;
    t->instance = strdup(instance_id ? instance_id : plugin->name);
    t->secrets = json_object();
    t->kv = json_object();
    t->kv_meta = json_object();
    t->published = json_array();
    t->logs = json_array();
    t->metrics = json_array();
    t->answers = json_array();
    t->requests = json_array();
    t->calls = json_array();
    t->out_answers = json_array();
    t->out_calls = json_array();
    return t;
}

void aht_free(aht *t)
{
    if (!t) return;
    if (t->p->shutdown) t->p->shutdown(&t->ctx);
    aht_run(t);
    for (ah_timer *tm = t->timers, *next; tm; tm = next) {
        next = tm->next;
        free(tm);
    }
    json_t *all[] = {t->secrets, t->config,  t->kv,       t->kv_meta, t->published,   t->logs,
                     t->metrics, t->answers, t->requests, t->calls,   t->out_answers, t->out_calls};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        json_decref(all[i]);
    free(t->deny);
    free(t->storage);
    free(t->instance);
    free(t);
}

void aht_secret(aht *t, const char *name, const char *value)
{
    json_object_set_new(t->secrets, name, json_string(value));
}

int aht_init(aht *t, const char *config_json)
{
    json_decref(t->config);
    t->config = config_json ? json_loads(config_json, 0, NULL) : json_object();
    if (!t->config) return AH_EINVAL;
    int rc = t->p->init ? t->p->init(&t->ctx, &table, t->config) : AH_OK;
    aht_run(t);
    return rc;
}

int aht_event(aht *t, const char *topic, const char *body_json, const char *key)
{
    json_t *body = json_loads(body_json ? body_json : "null", JSON_DECODE_ANY, NULL);
    fake_event *e = calloc(1, sizeof(*e));
    if (!body || !e || !topic) {
        json_decref(body);
        free(e);
        return -1;
    }
    char id[32];
    snprintf(id, sizeof(id), "test-%d", ++t->nevents);
    e->msg = json_pack("{s:s,s:s?,s:s,s:o,s:{}}", "topic", topic, "key", key, "id", id, "body",
                       body, "headers");
    e->ev = (ah_event){.size = sizeof(ah_event),
                       .topic = json_string_value(json_object_get(e->msg, "topic")),
                       .key = json_string_value(json_object_get(e->msg, "key")),
                       .id = json_string_value(json_object_get(e->msg, "id")),
                       .offset = (uint64_t)t->nevents,
                       .time_ms = (int64_t)t->now,
                       .attempt = 1,
                       .headers = json_object_get(e->msg, "headers"),
                       .body = json_object_get(e->msg, "body")};
    if (t->p->on_event)
        t->p->on_event(&t->ctx, &e->ev);
    else
        f_ack(&t->ctx, &e->ev);
    return t->nevents;
}

const json_t *aht_call(aht *t, const char *action, const char *args_json)
{
    json_t *args = json_loads(args_json ? args_json : "{}", JSON_DECODE_ANY, NULL);
    ah_call call = {.t = t, .partials = json_array()};
    if (!args || !t->p->call) {
        json_decref(args);
        json_decref(call.partials);
        return NULL;
    }
    t->p->call(&t->ctx, &call, action, args);
    json_decref(args);
    while (!call.answer && t->head)
        aht_run(t);
    if (!call.answer) {
        json_decref(call.partials);
        return NULL; /* unanswered: a reply later would use a dead handle */
    }
    if (json_array_size(call.partials)) json_object_set(call.answer, "partials", call.partials);
    json_decref(call.partials);
    json_array_append_new(t->calls, call.answer);
    return call.answer;
}

size_t aht_acked(const aht *t)
{
    return t->acked;
}

size_t aht_nacked(const aht *t)
{
    return t->nacked;
}

const json_t *aht_published(const aht *t)
{
    return t->published;
}

const json_t *aht_logs(const aht *t)
{
    return t->logs;
}

const json_t *aht_metrics(const aht *t)
{
    return t->metrics;
}

json_t *aht_kv(aht *t)
{
    return t->kv;
}

const json_t *aht_http_requests(const aht *t)
{
    return t->requests;
}

void aht_deny_topics(aht *t, const char *prefix)
{
    free(t->deny);
    t->deny = prefix ? strdup(prefix) : NULL;
}

void aht_storage_dir(aht *t, const char *dir)
{
    free(t->storage);
    t->storage = dir ? strdup(dir) : NULL;
}
