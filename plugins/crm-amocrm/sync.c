/*
 * sync.c - a linked contact's profile changes reach amoCRM (ADR 0039).
 *
 * contact.updated on platform.contact names the contact's links; for a
 * link to this instance the host hands the event over with the contact's
 * current profile. Its name, phone (E.164) and e-mail are written to the
 * CRM contact:
 *  - debounced: the first change of a contact opens a window of
 *    config.sync_debounce_ms; every change within it makes ONE PATCH, of
 *    the latest values; changes during a write wait for the next window.
 *    The bus hands over one event of a contact at a time (per-key order),
 *    so each is acked as soon as its values are kept in KV
 *    ("pending:<crm id>"); a start writes what a stop left there;
 *  - idempotent: KV "sync:<crm id>" holds a hash of the values last
 *    written (or created with, by contact.find_or_create); values equal to
 *    it write nothing, so a redelivered event or a change of something
 *    else (tags, language) costs no call. The hash is stored after the
 *    write with a compare-and-set on the revision read before it;
 *  - through the scheduler like every call (the rate, retries, 401);
 *  - a failed write stays pending and is tried again, backing off from 5 s
 *    to 5 min; the pending record goes once the latest values are written.
 */
#include "amo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYNC_RETRY_MS 5000       /* the first retry of a failed write */
#define SYNC_RETRY_MAX_MS 300000 /* backing off to */
#define SYNC_SCAN_PAGE 100

typedef struct pending pending;
struct pending {
    pending *next;
    amo *a;
    json_int_t crm_id;
    json_t *values;  /* the latest: {name?, phone?, email?} */
    json_t *wvalues; /* what the write in flight writes, or NULL */
    char hash[20];
    uint64_t rev;
    uint32_t backoff_ms;
    ah_timer *timer;
};

static pending *Pending;

/* ---- values and their hash -------------------------------------------------------------- */

json_t *amo_sync_values(amo *a, const char *name, const char *phone, const char *email)
{
    json_t *v = json_object();
    char e164[24];
    if (name && *name) json_object_set_new(v, "name", json_string(name));
    if (phone && *phone && !amo_phone_e164(phone, a->country, e164, sizeof(e164)))
        json_object_set_new(v, "phone", json_string(e164));
    if (email && *email) json_object_set_new(v, "email", json_string(email));
    return v;
}

/* FNV-1a (64 bits) of the values' compact JSON with sorted keys, in hex:
 * equal values, equal hash; not a secret, only a fingerprint. */
static void values_hash(const json_t *v, char out[20])
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = s ? s : ""; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ULL;
    }
    free(s);
    snprintf(out, 20, "%016llx", (unsigned long long)h);
}

static void sync_key(json_int_t crm_id, char *out, size_t n)
{
    snprintf(out, n, "sync:%lld", (long long)crm_id);
}

static void put_done(ah_ctx *ctx, int status, uint64_t rev, void *ud)
{
    (void)ctx, (void)rev, (void)ud, (void)status;
}

void amo_sync_remember(amo *a, json_int_t crm_id, const json_t *values)
{
    if (!crm_id || !AH_HOST_HAS(a->host, kv_put_ex)) return;
    char key[40], hash[20];
    sync_key(crm_id, key, sizeof(key));
    values_hash(values, hash);
    json_t *v = json_pack("{s:s}", "hash", hash);
    a->host->kv_put_ex(a->ctx, key, v, NULL, put_done, NULL);
    json_decref(v);
}

/* ---- the windows -------------------------------------------------------------------------- */

static void sync_log(amo *a, const pending *p, const char *msg)
{
    json_t *f = json_pack("{s:s,s:I}", "kind", "sync", "contact_id", (json_int_t)p->crm_id);
    amo_log(a, AH_LOG_INFO, f, msg);
    json_decref(f);
}

static void pending_key(json_int_t crm_id, char *out, size_t n)
{
    snprintf(out, n, "pending:%lld", (long long)crm_id);
}

static void window_closed(ah_ctx *ctx, ah_timer *timer, void *ud);

static void drop(pending *p)
{
    for (pending **pp = &Pending; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    if (p->timer) p->a->host->timer_stop(p->a->ctx, p->timer);
    json_decref(p->values);
    json_decref(p->wvalues);
    free(p);
}

static void arm(pending *p, uint32_t after_ms)
{
    amo *a = p->a;
    if (p->timer || p->wvalues) return; /* a window is open, or a write runs */
    p->timer = a->host->timer_start(a->ctx, after_ms, 0, window_closed, p);
    if (!p->timer) window_closed(a->ctx, NULL, p);
}

static pending *pending_of(amo *a, json_int_t id)
{
    pending *p = Pending;
    while (p && p->crm_id != id)
        p = p->next;
    if (p) return p;
    p = calloc(1, sizeof(*p));
    if (!p) return NULL;
    *p = (pending){.next = Pending, .a = a, .crm_id = id};
    Pending = p;
    return p;
}

static void key_done(ah_ctx *ctx, int status, void *ud)
{
    (void)ctx, (void)status, (void)ud;
}

/* The write in flight is over (or was not needed). With the latest values
 * written, the pending record goes; a change that came meanwhile opens
 * another window. */
static void write_over(pending *p)
{
    amo *a = p->a;
    bool latest = json_equal(p->values, p->wvalues);
    json_decref(p->wvalues);
    p->wvalues = NULL;
    p->backoff_ms = 0;
    if (!latest) {
        arm(p, (uint32_t)a->sync_debounce_ms);
        return;
    }
    char key[48];
    pending_key(p->crm_id, key, sizeof(key));
    a->host->kv_delete(a->ctx, key, key_done, NULL);
    drop(p);
}

/* The write failed: the pending record stays; again later, backing off. */
static void write_failed(pending *p, const char *why)
{
    amo *a = p->a;
    json_decref(p->wvalues);
    p->wvalues = NULL;
    p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : SYNC_RETRY_MS;
    if (p->backoff_ms > SYNC_RETRY_MAX_MS) p->backoff_ms = SYNC_RETRY_MAX_MS;
    json_t *f = json_pack("{s:s,s:I,s:s,s:I}", "kind", "sync", "contact_id", (json_int_t)p->crm_id,
                          "error", why, "retry_in_ms", (json_int_t)p->backoff_ms);
    amo_log(a, AH_LOG_WARN, f, "sync failed: written again later");
    json_decref(f);
    uint32_t after = p->backoff_ms;
    arm(p, after);
}

static void stored(ah_ctx *ctx, int status, uint64_t rev, void *ud)
{
    (void)ctx, (void)rev;
    pending *p = ud;
    if (status == AH_ECONFLICT) {
        /* Written meanwhile (a find_or_create of this contact): what amoCRM
         * holds now is what was just written. */
        amo_sync_remember(p->a, p->crm_id, p->wvalues);
    } else if (status) {
        sync_log(p->a, p, "the sync hash was not stored: the next change writes again");
    }
    write_over(p);
}

static void patched(amo *a, const amo_res *r, void *ud)
{
    pending *p = ud;
    if (r->error) {
        write_failed(p, r->error);
        return;
    }
    a->calls_synced++;
    sync_log(a, p, "contact synced");
    char key[40];
    sync_key(p->crm_id, key, sizeof(key));
    json_t *v = json_pack("{s:s}", "hash", p->hash);
    ah_kv_put_opts o = {.size = sizeof(o), .flags = AH_KV_IF_REV, .if_rev = p->rev};
    if (a->host->kv_put_ex(a->ctx, key, v, &o, stored, p) != AH_OK) write_over(p);
    json_decref(v);
}

static void got_last(ah_ctx *ctx, int status, const json_t *value, uint64_t rev, void *ud)
{
    (void)ctx;
    pending *p = ud;
    amo *a = p->a;
    if (status && status != AH_ENOTFOUND) {
        write_failed(p, "the sync state could not be read");
        return;
    }
    p->rev = status ? 0 : rev;
    const char *last = json_string_value(json_object_get(value, "hash"));
    if (last && !strcmp(last, p->hash)) {
        a->sync_unchanged++;
        sync_log(a, p, "contact unchanged since the last write: nothing sent");
        write_over(p);
        return;
    }
    json_t *cfv = json_array();
    amo_add_multitext(cfv, "PHONE", json_string_value(json_object_get(p->wvalues, "phone")));
    amo_add_multitext(cfv, "EMAIL", json_string_value(json_object_get(p->wvalues, "email")));
    json_t *body = json_object();
    if (json_object_get(p->wvalues, "name"))
        json_object_set(body, "name", json_object_get(p->wvalues, "name"));
    if (json_array_size(cfv)) json_object_set(body, "custom_fields_values", cfv);
    json_decref(cfv);
    char path[80];
    snprintf(path, sizeof(path), "/api/v4/contacts/%lld", (long long)p->crm_id);
    int rc = json_object_size(body) ? amo_request(a, "PATCH", path, body, NULL, patched, p) : 1;
    json_decref(body);
    if (rc > 0) write_over(p); /* nothing to write */
    if (rc < 0) write_failed(p, "out of memory");
}

static void window_closed(ah_ctx *ctx, ah_timer *timer, void *ud)
{
    (void)ctx, (void)timer;
    pending *p = ud;
    amo *a = p->a;
    p->timer = NULL;
    p->wvalues = json_incref(p->values);
    values_hash(p->wvalues, p->hash);
    char key[40];
    sync_key(p->crm_id, key, sizeof(key));
    if (a->host->kv_get_rev(a->ctx, key, got_last, p) != AH_OK)
        write_failed(p, "the sync state could not be read");
}

/* ---- the events --------------------------------------------------------------------------- */

/* The CRM contact this instance's link names, or 0. */
static json_int_t linked_id(amo *a, const json_t *links)
{
    size_t i;
    const json_t *l;
    json_array_foreach(links, i, l)
    {
        const char *in = json_string_value(json_object_get(l, "instance"));
        const char *id = json_string_value(json_object_get(l, "id"));
        if (in && id && !strcmp(in, a->instance)) return strtoll(id, NULL, 10);
    }
    return 0;
}

static amo *Amo; /* for the callbacks that get an event */

static void pending_saved(ah_ctx *ctx, int status, uint64_t rev, void *ud)
{
    (void)ctx, (void)rev;
    const ah_event *ev = ud;
    if (status)
        Amo->host->nack(Amo->ctx, ev, "the change could not be kept", SYNC_RETRY_MS);
    else
        Amo->host->ack(Amo->ctx, ev);
}

void amo_sync_event(amo *a, const ah_event *ev)
{
    Amo = a;
    const json_t *b = ev->body;
    const char *type = json_string_value(json_object_get(b, "type"));
    const json_t *profile = json_object_get(b, "profile");
    json_int_t id =
        type && !strcmp(type, "contact.updated") ? linked_id(a, json_object_get(b, "links")) : 0;
    if (id <= 0 || !json_is_object(profile) || a->sync_debounce_ms < 0 ||
        !AH_HOST_HAS(a->host, kv_get_rev)) {
        a->host->ack(a->ctx, ev);
        return;
    }
    pending *p = pending_of(a, id);
    if (!p) {
        a->host->nack(a->ctx, ev, "out of memory", SYNC_RETRY_MS);
        return;
    }
    json_decref(p->values);
    p->values = amo_sync_values(a, json_string_value(json_object_get(profile, "name")),
                                json_string_value(json_object_get(profile, "phone")),
                                json_string_value(json_object_get(profile, "email")));
    /* Kept before the event is acked: the next change of this contact is
     * delivered only then (one at a time per key), and a restart finds it. */
    char key[48];
    pending_key(id, key, sizeof(key));
    json_t *rec = json_pack("{s:O}", "values", p->values);
    if (a->host->kv_put_ex(a->ctx, key, rec, NULL, pending_saved, (void *)ev) != AH_OK)
        a->host->nack(a->ctx, ev, "the change could not be kept", SYNC_RETRY_MS);
    json_decref(rec);
    arm(p, (uint32_t)a->sync_debounce_ms);
}

/* ---- start and stop ------------------------------------------------------------------------ */

static void scanned(ah_ctx *ctx, int status, const ah_kv_item *items, size_t n, const char *next,
                    void *ud)
{
    (void)ctx;
    amo *a = ud;
    if (status || a->stopping) return;
    for (size_t i = 0; i < n; i++) {
        json_int_t id = strtoll(items[i].key + strlen("pending:"), NULL, 10);
        const json_t *v = json_object_get(items[i].value, "values");
        pending *p = id > 0 && json_is_object(v) ? pending_of(a, id) : NULL;
        if (!p || p->values) continue; /* an event came first: it is newer */
        p->values = json_deep_copy(v);
        arm(p, (uint32_t)a->sync_debounce_ms);
    }
    if (next) a->host->kv_scan(a->ctx, "pending:", next, SYNC_SCAN_PAGE, scanned, a);
}

void amo_sync_start(amo *a)
{
    if (a->sync_debounce_ms >= 0)
        a->host->kv_scan(a->ctx, "pending:", NULL, SYNC_SCAN_PAGE, scanned, a);
}

void amo_sync_stop(amo *a)
{
    (void)a;
    /* What was not written is in KV (pending:<id>): the next start writes it. */
    while (Pending)
        drop(Pending);
}
