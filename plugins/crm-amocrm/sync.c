/*
 * sync.c - a linked contact's profile changes reach amoCRM (ADR 0039).
 *
 * contact.updated on platform.contact names the contact's links; for a
 * link to this instance the host hands the event over with the contact's
 * current profile. Its name, phone (E.164) and e-mail are written to the
 * CRM contact:
 *  - debounced: the first change of a contact opens a window of
 *    config.sync_debounce_ms; every change within it makes ONE PATCH, of
 *    the latest values; changes during a write wait for the next window;
 *  - idempotent: KV "sync:<crm id>" holds a hash of the values last
 *    written (or created with, by contact.find_or_create); values equal to
 *    it write nothing, so a redelivered event or a change of something
 *    else (tags, language) costs no call. The hash is stored after the
 *    write with a compare-and-set on the revision read before it;
 *  - through the scheduler like every call (the rate, retries, 401);
 *  - the events are acked once the write is done (or found unneeded), and
 *    nacked to come again when it fails: a crash in between redelivers
 *    them, and the hash makes the second pass write nothing new.
 */
#include "amo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYNC_RETRY_MS 5000
#define SYNC_MAX_HELD 64 /* events of one contact in a window: past that it closes at once */

typedef struct pending pending;
struct pending {
    pending *next;
    amo *a;
    json_int_t crm_id;
    json_t *values;        /* the latest: {name?, phone?, email?} */
    const ah_event **held; /* changes waiting for the next write */
    size_t nheld, cap;
    const ah_event **writing; /* settled when the write in flight ends */
    size_t nwriting;
    json_t *wvalues; /* what is being written */
    char hash[20];
    uint64_t rev;
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
    free(p->held);
    free(p->writing);
    free(p);
}

/* The write in flight is over: settle its events; another window for the
 * changes that came meanwhile. */
static void finish(pending *p, bool ok, const char *why)
{
    amo *a = p->a;
    for (size_t i = 0; i < p->nwriting; i++) {
        if (ok)
            a->host->ack(a->ctx, p->writing[i]);
        else
            a->host->nack(a->ctx, p->writing[i], why, SYNC_RETRY_MS);
    }
    free(p->writing);
    p->writing = NULL;
    p->nwriting = 0;
    json_decref(p->wvalues);
    p->wvalues = NULL;
    if (!p->nheld) {
        drop(p);
        return;
    }
    p->timer = a->host->timer_start(a->ctx, (uint64_t)a->sync_debounce_ms, 0, window_closed, p);
    if (!p->timer) window_closed(a->ctx, NULL, p);
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
    finish(p, true, NULL);
}

static void patched(amo *a, const amo_res *r, void *ud)
{
    pending *p = ud;
    if (r->error) {
        sync_log(a, p, "sync failed: the changes come again");
        finish(p, false, r->error);
        return;
    }
    a->calls_synced++;
    sync_log(a, p, "contact synced");
    char key[40];
    sync_key(p->crm_id, key, sizeof(key));
    json_t *v = json_pack("{s:s}", "hash", p->hash);
    ah_kv_put_opts o = {.size = sizeof(o), .flags = AH_KV_IF_REV, .if_rev = p->rev};
    if (a->host->kv_put_ex(a->ctx, key, v, &o, stored, p) != AH_OK) finish(p, true, NULL);
    json_decref(v);
}

static void got_last(ah_ctx *ctx, int status, const json_t *value, uint64_t rev, void *ud)
{
    (void)ctx;
    pending *p = ud;
    amo *a = p->a;
    if (status && status != AH_ENOTFOUND) {
        finish(p, false, "the sync state could not be read");
        return;
    }
    p->rev = status ? 0 : rev;
    const char *last = json_string_value(json_object_get(value, "hash"));
    if (last && !strcmp(last, p->hash)) {
        a->sync_unchanged++;
        sync_log(a, p, "contact unchanged since the last write: nothing sent");
        finish(p, true, NULL);
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
    if (rc) finish(p, rc > 0, rc > 0 ? NULL : "out of memory"); /* nothing to write: done */
}

static void window_closed(ah_ctx *ctx, ah_timer *timer, void *ud)
{
    (void)ctx, (void)timer;
    pending *p = ud;
    amo *a = p->a;
    p->timer = NULL;
    p->writing = p->held;
    p->nwriting = p->nheld;
    p->held = NULL;
    p->nheld = p->cap = 0;
    p->wvalues = json_incref(p->values);
    values_hash(p->wvalues, p->hash);
    char key[40];
    sync_key(p->crm_id, key, sizeof(key));
    if (a->host->kv_get_rev(a->ctx, key, got_last, p) != AH_OK)
        finish(p, false, "the sync state could not be read");
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

void amo_sync_event(amo *a, const ah_event *ev)
{
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
    pending *p = Pending;
    while (p && p->crm_id != id)
        p = p->next;
    if (!p) {
        p = calloc(1, sizeof(*p));
        if (!p) {
            a->host->nack(a->ctx, ev, "out of memory", SYNC_RETRY_MS);
            return;
        }
        *p = (pending){.next = Pending, .a = a, .crm_id = id};
        Pending = p;
    }
    if (p->nheld == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4;
        const ah_event **h = realloc(p->held, cap * sizeof(*h));
        if (!h) {
            a->host->nack(a->ctx, ev, "out of memory", SYNC_RETRY_MS);
            return;
        }
        p->held = h;
        p->cap = cap;
    }
    p->held[p->nheld++] = ev;
    json_decref(p->values);
    p->values = amo_sync_values(a, json_string_value(json_object_get(profile, "name")),
                                json_string_value(json_object_get(profile, "phone")),
                                json_string_value(json_object_get(profile, "email")));
    if (p->nwriting) return; /* the next window opens when the write ends */
    if (!p->timer)
        p->timer = a->host->timer_start(a->ctx, (uint64_t)a->sync_debounce_ms, 0, window_closed, p);
    if (!p->timer || p->nheld >= SYNC_MAX_HELD) {
        if (p->timer) a->host->timer_stop(a->ctx, p->timer);
        p->timer = NULL;
        window_closed(a->ctx, NULL, p);
    }
}

void amo_sync_stop(amo *a)
{
    (void)a;
    /* Events still held are neither acked nor nacked: the host puts them
     * back for the next start. */
    while (Pending) {
        Pending->nwriting = 0;
        drop(Pending);
    }
}
