/*
 * webhooks.c - the subscriptions (webhooks.h): loaded from their
 * documents, each with its own durable bus consumer, taken up again after
 * every change.
 */
#include "core/fault.h"
#include "core/log.h"
#include "model/collections.h"
#include "webhooks/wh_priv.h"

#include <agenthost/plugin.h>

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every topic of the catalogue: a consumer reads them all and keeps the
 * types it wants, so a change of types never changes its patterns. */
static const char *const patterns[] = {"platform.>", "message.in", "message.out"};

int webhooks_new(webhooks **out, const webhooks_deps *d, const webhooks_opts *o, char *err,
                 size_t errlen)
{
    webhooks *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    w->d = *d;
    w->o = *o;
    if (!w->o.max_attempts) w->o.max_attempts = 8;
    if (!w->o.timeout_ms) w->o.timeout_ms = 10000;
    if (!w->o.concurrency) w->o.concurrency = 4;
    strmap_init(&w->subs);
    w->starting_tail = &w->starting;
    w->log_batch = json_array();
    if (o->allow && json_array_size(o->allow)) {
        char why[300] = "";
        if (policy_compile(&w->pol, NULL, NULL, NULL, o->allow, why, sizeof(why))) {
            snprintf(err, errlen, "webhooks.allow: %s", why);
            free(w);
            return AH_EINVAL;
        }
        w->has_pol = true;
    }
    w->has_key = d->sec && secrets_derive_key(d->sec, "ahwhook1", w->key) == 0;
    *out = w;
    return 0;
}

bool wh_sub_wants(const wh_sub *s, const event_type *et)
{
    size_t i;
    const json_t *v;
    json_array_foreach(s->events, i, v)
    {
        const char *t = json_string_value(v);
        if (t && (!strcmp(t, "*") || !strcmp(t, et->type))) return true;
    }
    return false;
}

static void sub_clear(wh_sub *s)
{
    free(s->url);
    s->url = NULL;
    json_decref(s->events);
    s->events = NULL;
    free(s->filter);
    s->filter = NULL;
    wh_free_secret(s->secret, s->secret_len);
    s->secret = NULL;
}

void wh_sub_unref(wh_sub *s)
{
    if (--s->refs > 0) return;
    sub_clear(s);
    free(s);
}

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Take doc's fields into s. */
static void sub_set(wh_sub *s, const json_t *doc)
{
    sub_clear(s);
    webhooks *w = s->w;
    s->url = strdup(str_of(doc, "url") ? str_of(doc, "url") : "");
    s->events = json_deep_copy(json_object_get(doc, "events"));
    if (!s->events) s->events = json_array();
    s->filter = str_of(doc, "filter") ? strdup(str_of(doc, "filter")) : NULL;
    s->secret = wh_open_secret(w, s->id, str_of(doc, "secret_sealed"), &s->secret_len);
    if (str_of(doc, "secret_sealed") && !s->secret)
        log_error("webhooks",
                  "webhook %s: its secret cannot be opened; deliveries fail until "
                  "it is set again",
                  s->id);
    s->active = !str_of(doc, "status") || !strcmp(str_of(doc, "status"), "active");
}

static void sub_attach(wh_sub *s, bool on)
{
    if (!s->c || s->attached == on || s->w->stopped) return;
    s->attached = on;
    if (on)
        bus_consumer_attach(s->c);
    else
        bus_consumer_detach(s->c, NULL); /* in flight: delivered again later, no attempt counted */
}

static void consumer_deleted(void *ud, int status)
{
    char *name = ud;
    if (status)
        log_error("webhooks",
                  "%s: deleting its bus consumer failed (%s); it is tried again at "
                  "the next start",
                  name, ah_strerror(status));
    free(name);
}

/* Delete the bus consumer named (the subscription's, open or only stored). */
static void delete_consumer(webhooks *w, const char *name)
{
    char err[300];
    char *n = strdup(name);
    int rc =
        n ? bus_consumer_delete(w->d.bus, n, consumer_deleted, n, err, sizeof(err)) : AH_ENOMEM;
    if (rc && rc != AH_ENOTFOUND)
        log_error("webhooks", "%s: its bus consumer cannot be deleted now: %s", name, err);
    if (rc) free(n);
}

/* A subscription deleted: its consumer goes, so it holds no event back
 * from retention; deliveries under way find it gone (start() skips them,
 * and the bus answers their settling AH_ENOTFOUND). */
static void sub_gone(webhooks *w, const char *id)
{
    char name[80];
    snprintf(name, sizeof(name), "webhook:%s", id);
    wh_sub *s = strmap_del(&w->subs, id);
    if (s) {
        s->gone = true;
        s->attached = false;
        s->c = NULL;
        wh_sub_unref(s);
        AH_FAULT("webhooks.before_consumer_delete"); /* left behind: deleted at the next start */
    }
    delete_consumer(w, name);
}

static int sub_open(webhooks *w, const char *id, const json_t *doc, char *err, size_t errlen)
{
    if (!doc) {
        sub_gone(w, id);
        return 0;
    }
    wh_sub *s = strmap_get(&w->subs, id);
    if (!s) {
        if (!(s = calloc(1, sizeof(*s)))) return AH_ENOMEM;
        s->w = w;
        s->refs = 1;
        snprintf(s->id, sizeof(s->id), "%s", id);
        snprintf(s->client_name, sizeof(s->client_name), "webhook:%s", id);
        s->client = (egress_client){.id = s->client_name,
                                    .no_breakers = true,
                                    .name = "webhook",
                                    .pol = w->has_pol ? &w->pol : NULL,
                                    .refusal = "no destination is allowed: add it to "
                                               "webhooks.allow"};
        snprintf(s->by_hand_name, sizeof(s->by_hand_name), "webhook:%s:by-hand", id);
        s->by_hand = s->client;
        s->by_hand.id = s->by_hand_name;
        if (strmap_put(&w->subs, s->id, s) != 0) {
            free(s);
            return AH_ENOMEM;
        }
    }
    sub_set(s, doc);
    if (!s->c) {
        uint32_t timeout = w->o.timeout_ms;
        bus_consumer_opts co = {.name = s->client_name,
                                .patterns = patterns,
                                .npatterns = sizeof(patterns) / sizeof(patterns[0]),
                                .start = BUS_START_LATEST,
                                .max_in_flight = w->o.concurrency,
                                /* an attempt, its filter and its commit */
                                .ack_timeout_ms = timeout + EXPR_MAX_TIMEOUT_MS + 30000,
                                /* dead letters are ours (the delivery log): the bus never
                                 * gives up on its own */
                                .max_attempts = w->o.max_attempts + 1};
        int rc = bus_consumer_open(w->d.bus, &co, &wh_consumer_ops, s, &s->c, err, errlen);
        if (rc) return rc;
    }
    sub_attach(s, s->active);
    return 0;
}

typedef struct load_arg {
    webhooks *w;
    json_t *docs;
    const char *one; /* load only this id */
} load_arg;

static int load_id(void *ud, const char *id)
{
    load_arg *a = ud;
    json_array_append_new(a->docs, json_string(id));
    return 0;
}

static int run_load(doc_txn *t, void *ud)
{
    load_arg *a = ud;
    json_t *ids = json_array();
    a->docs = ids;
    int rc = 0;
    if (a->one) {
        json_array_append_new(ids, json_string(a->one));
    } else {
        json_t *none = json_array();
        rc = doc_scan_ids(t, COLL_WEBHOOKS, "by_status", none, false, load_id, a);
        json_decref(none);
    }
    json_t *found = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        json_t *doc = NULL;
        int r = doc_get(t, COLL_WEBHOOKS, json_string_value(v), &doc, NULL);
        if (r == AH_ENOTFOUND) continue;
        if (r) {
            rc = r;
            break;
        }
        json_array_append_new(found, doc);
    }
    json_decref(ids);
    a->docs = found;
    return rc;
}

static void on_idle(uv_idle_t *h)
{
    webhooks *w = h->data;
    uv_idle_stop(h);
    wh_start_taken(w);
    wh_flush_log(w);
}

void wh_wake(webhooks *w)
{
    uv_idle_start(&w->idle, on_idle);
}

/* Consumers of subscriptions deleted while their consumer's deletion
 * could not finish (a crash between the document's commit and it). */
static void delete_orphans(webhooks *w)
{
    json_t *all = bus_consumers(w->d.bus);
    size_t i;
    json_t *c;
    json_array_foreach(all, i, c)
    {
        const char *name = str_of(c, "name");
        if (json_is_true(json_object_get(c, "open")) || strncmp(name, "webhook:", 8) != 0) continue;
        log_info("webhooks", "%s: its subscription is gone: deleting the consumer left behind",
                 name);
        delete_consumer(w, name);
    }
    json_decref(all);
}

int webhooks_start(webhooks *w, char *err, size_t errlen)
{
    if (uv_idle_init(loop_uv(w->d.loop), &w->idle) != 0) {
        snprintf(err, errlen, "cannot start the webhooks' idle handle");
        return AH_ENOMEM;
    }
    w->idle.data = w;
    w->idle_init = true;
    load_arg a = {.w = w};
    doc_error e = {0};
    int rc = docs_read(w->d.docs, run_load, &a, &e);
    if (rc) {
        snprintf(err, errlen, "loading the webhooks: %s", e.message[0] ? e.message : "failed");
        json_decref(a.docs);
        return rc;
    }
    size_t i;
    json_t *doc;
    json_array_foreach(a.docs, i, doc)
    {
        if ((rc = sub_open(w, str_of(doc, "id"), doc, err, errlen)) != 0) break;
    }
    json_decref(a.docs);
    if (!rc) delete_orphans(w);
    return rc;
}

void webhooks_changed(webhooks *w, const char *id)
{
    if (!w || w->stopped) return;
    load_arg a = {.w = w, .one = id};
    doc_error e = {0};
    char err[300] = "";
    int rc = docs_read(w->d.docs, run_load, &a, &e);
    if (!rc) rc = sub_open(w, id, json_array_get(a.docs, 0), err, sizeof(err));
    if (rc)
        log_error("webhooks", "webhook %s: cannot take up its change: %s", id,
                  err[0] ? err : e.message);
    json_decref(a.docs);
}

void webhooks_stop(webhooks *w)
{
    if (!w) return;
    size_t pos = 0;
    const char *k;
    void *v;
    while (strmap_next(&w->subs, &pos, &k, &v))
        sub_attach(v, false);
    wh_flush_log(w); /* before the store closes */
    w->stopped = true;
    if (w->idle_init) uv_idle_stop(&w->idle);
    wh_drop_taken(w);
}

static void idle_closed(uv_handle_t *h)
{
    free(h->data);
}

void webhooks_free(webhooks *w)
{
    if (!w) return;
    wh_drop_taken(w);
    size_t pos = 0;
    const char *k;
    void *v;
    while (strmap_next(&w->subs, &pos, &k, &v))
        wh_sub_unref(v);
    strmap_free(&w->subs);
    if (w->has_pol) policy_free(&w->pol);
    json_decref(w->log_batch);
    sodium_memzero(w->key, sizeof(w->key));
    if (w->idle_init) {
        uv_close((uv_handle_t *)&w->idle, idle_closed); /* freed once closed */
        return;
    }
    free(w);
}

int webhooks_check_url(webhooks *w, const char *url, char *err, size_t errlen)
{
    egress_target t;
    char why[256] = "";
    if (!url || policy_parse_url(url, &t, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "not a URL the host can call: %s", why);
        return AH_EINVAL;
    }
    if (strcmp(t.scheme, "http") != 0 && strcmp(t.scheme, "https") != 0) {
        snprintf(err, errlen, "the scheme is %s: webhooks go over http or https", t.scheme);
        return AH_EINVAL;
    }
    if (w && (!w->has_pol || !policy_match(&w->pol, &t))) {
        snprintf(err, errlen, "%s://%s:%d is not allowed by webhooks.allow", t.scheme, t.host,
                 t.port);
        return AH_EINVAL;
    }
    return 0;
}

int webhooks_check_filter(webhooks *w, const char *filter, expr_cb cb, void *ud, char *err,
                          size_t errlen)
{
    if (!w || !w->d.expr) {
        snprintf(err, errlen, "the host has no expression pool");
        return AH_ECLOSED;
    }
    return expr_check(w->d.expr, filter, NULL, cb, ud, err, errlen);
}
