/* bl_topics.c - the LMDB bus backend: opening, the topic mirror, stats and
 * reading events back (pages, key replay, time lookups). */
#include "core/log.h"
#include "core/topic.h"
#include "core/util.h"
#include "bl.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bl *bl_of(bus *b)
{
    return b->impl;
}

int64_t bl_now_ms(const bl *b)
{
    return b->o.now_ms ? b->o.now_ms() : ah_now_ms();
}

uint64_t bl_topic_head(const bl_topic *t)
{
    return t->rec.next_seq ? t->rec.next_seq - 1 : 0;
}

bl_topic *bl_topic_get(bl *b, const char *name, bool create)
{
    bl_topic *t = strmap_get(&b->topics, name);
    if (t || !create) return t;
    t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->name = strdup(name);
    t->rec.first_seq = t->rec.next_seq = 1;
    if (!t->name || strmap_put(&b->topics, name, t) < 0) {
        free(t->name);
        free(t);
        return NULL;
    }
    return t;
}

void bl_topic_free(bl_topic *t)
{
    free(t->name);
    free(t->subs);
    free(t);
}

void bl_topic_count_rate(bl_topic *t, uint64_t n)
{
    int64_t sec = (int64_t)(ah_mono_ms() / 1000);
    if (sec != t->rate_sec) {
        int64_t gap = sec - t->rate_sec;
        for (int64_t s = 1; s <= gap && s <= BL_RATE_SLOTS; s++)
            t->rate[(t->rate_sec + s) % BL_RATE_SLOTS] = 0;
        t->rate_sec = sec;
    }
    t->rate[sec % BL_RATE_SLOTS] += n;
    t->published_total += n;
}

static double rate_per_s(bl_topic *t)
{
    bl_topic_count_rate(t, 0); /* age the ring */
    uint64_t sum = 0;
    for (int i = 0; i < BL_RATE_SLOTS; i++)
        sum += t->rate[i];
    return (double)sum / BL_RATE_SLOTS;
}

int bl_load_topics(bl *b, char *err, size_t errlen)
{
    MDB_txn *txn;
    int rc = store_lmdb_read_begin(b->st, &txn);
    if (rc) {
        snprintf(err, errlen, "bus: cannot read topics: %s", ah_strerror(rc));
        return rc;
    }
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, store_dbi(b->st, STORE_DB_TOPICS), &cur);
    MDB_val k, v;
    for (int r = rc ? MDB_NOTFOUND : mdb_cursor_get(cur, &k, &v, MDB_FIRST); r == 0;
         r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char name[TOPIC_MAX + 1];
        topic_rec rec;
        if (k.mv_size > TOPIC_MAX || bl_topic_rec_decode(v.mv_data, v.mv_size, &rec) < 0) {
            snprintf(err, errlen, "bus: a topic record is corrupt");
            rc = AH_EIO;
            break;
        }
        memcpy(name, k.mv_data, k.mv_size);
        name[k.mv_size] = 0;
        bl_topic *t = bl_topic_get(b, name, true);
        if (!t || ah_idmap_put(&b->topic_ids, rec.id, t) < 0) {
            rc = AH_ENOMEM;
            break;
        }
        t->id = rec.id;
        t->rec = rec;
        t->last_time = rec.last_ms;
    }
    if (!rc) mdb_cursor_close(cur);
    store_lmdb_read_end(b->st, txn);
    return rc;
}

/* ---- stats ---------------------------------------------------------------- */

static int64_t event_time(bl *b, MDB_txn *txn, const bl_topic *t, uint64_t seq)
{
    uint8_t key[12];
    bl_event_key(key, t->id, seq);
    MDB_val k = {12, key}, v;
    bl_event e;
    if (mdb_get(txn, store_dbi(b->st, STORE_DB_EVENTS), &k, &v) == 0 &&
        bl_event_read(&k, &v, t->name, &e) == 0)
        return e.time_ms;
    return 0;
}

json_t *bl_topic_stats(bl *b, bl_topic *t)
{
    char created[40], last[40];
    ah_rfc3339_ms(t->rec.created_ms, created, sizeof(created));
    ah_rfc3339_ms(t->rec.last_ms, last, sizeof(last));
    uint64_t head = bl_topic_head(t);
    json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:s,s:f,s:I}", "name", t->name, "first_offset",
                          (json_int_t)t->rec.first_seq, "last_offset", (json_int_t)head, "depth",
                          (json_int_t)t->rec.count, "bytes", (json_int_t)t->rec.bytes, "created_at",
                          created, "rate_per_s", rate_per_s(t), "published",
                          (json_int_t)t->published_total);
    json_object_set_new(o, "last_event_at", t->rec.count ? json_string(last) : json_null());
    json_t *cons = json_array();
    uint64_t oldest = 0;
    for (size_t i = 0; i < t->nsubs; i++) {
        bl_ctopic *ct = t->subs[i];
        json_array_append_new(cons, json_pack("{s:s,s:I,s:I,s:i,s:i}", "consumer", ct->c->name,
                                              "position", (json_int_t)ct->floor, "lag",
                                              (json_int_t)(head > ct->floor ? head - ct->floor : 0),
                                              "in_flight", (int)ct->inflight, "retrying",
                                              (int)ct->retrying));
        if (ct->floor < head && (!oldest || ct->floor + 1 < oldest)) oldest = ct->floor + 1;
    }
    json_object_set_new(o, "consumers", cons);
    json_t *ou = json_null();
    if (oldest && t->id) {
        MDB_txn *txn;
        if (oldest < t->rec.first_seq) oldest = t->rec.first_seq;
        if (store_lmdb_read_begin(b->st, &txn) == 0) {
            char ts[40];
            ah_rfc3339_ms(event_time(b, txn, t, oldest), ts, sizeof(ts));
            ou = json_pack("{s:I,s:s}", "offset", (json_int_t)oldest, "time", ts);
            store_lmdb_read_end(b->st, txn);
        }
    }
    json_object_set_new(o, "oldest_unacked", ou);
    return o;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
                  json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

json_t *bl_topics(bus *bb)
{
    bl *b = bl_of(bb);
    size_t n = b->topics.n, k = 0, pos = 0;
    json_t **v = calloc(n ? n : 1, sizeof(*v));
    const char *name;
    void *val;
    while (v && strmap_next(&b->topics, &pos, &name, &val))
        if (((bl_topic *)val)->id) v[k++] = bl_topic_stats(b, val);
    if (k) qsort(v, k, sizeof(*v), cmp_names);
    json_t *arr = json_array();
    for (size_t i = 0; i < k; i++)
        json_array_append_new(arr, v[i]);
    free(v);
    return arr;
}

json_t *bl_topic_info(bus *bb, const char *name)
{
    bl *b = bl_of(bb);
    bl_topic *t = bl_topic_get(b, name, false);
    return t && t->id ? bl_topic_stats(b, t) : NULL;
}

/* ---- reading -------------------------------------------------------------- */

/* The event at seq appended to arr (nothing when it is gone): 0, or -1
 * when it is damaged (logged). */
static int event_at(bl *b, MDB_txn *txn, bl_topic *t, uint64_t seq, json_t *arr)
{
    uint8_t key[12];
    bl_event_key(key, t->id, seq);
    MDB_val k = {12, key}, v;
    bl_event e;
    int rc = mdb_get(txn, store_dbi(b->st, STORE_DB_EVENTS), &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc || bl_event_read(&k, &v, t->name, &e) < 0) return -1;
    json_array_append_new(arr, bl_event_json(&e, t->name, seq));
    return 0;
}

static int damaged(const bl_topic *t, uint64_t seq, char *err, size_t errlen)
{
    snprintf(err, errlen,
             "the event at offset %llu of topic %s is damaged in the store; run `agenthost "
             "check` (docs/operations.md, \"Damaged store\")",
             (unsigned long long)seq, t->name);
    return AH_EIO;
}

int bl_read(bus *bb, const char *topic, uint64_t from, size_t limit, const char *key,
            json_t **events, uint64_t *next, char *err, size_t errlen)
{
    bl *b = bl_of(bb);
    *events = NULL;
    bl_topic *t = bl_topic_get(b, topic, false);
    if (!t || !t->id) {
        snprintf(err, errlen, "no topic \"%s\"", topic);
        return AH_ENOTFOUND;
    }
    if (from < t->rec.first_seq) from = t->rec.first_seq;
    MDB_txn *txn;
    int rc = store_lmdb_read_begin(b->st, &txn);
    if (rc) {
        snprintf(err, errlen, "the store cannot be read");
        return rc;
    }
    json_t *arr = json_array();
    uint64_t last = from ? from - 1 : 0;
    MDB_cursor *cur;
    if (key) {
        /* The key index: id + key + NUL + seq. */
        size_t klen = strlen(key);
        uint8_t *ik = malloc(4 + klen + 1 + 8);
        store_be32(ik, t->id);
        memcpy(ik + 4, key, klen);
        ik[4 + klen] = 0;
        store_be64(ik + 5 + klen, from);
        size_t plen = 5 + klen;
        if (ik && mdb_cursor_open(txn, store_dbi(b->st, STORE_DB_KEYS), &cur) == 0) {
            MDB_val k = {plen + 8, ik}, v;
            for (int r = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
                 r == 0 && json_array_size(arr) < limit;
                 r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                if (k.mv_size != plen + 8 || memcmp(k.mv_data, ik, plen) != 0) break;
                uint64_t seq = store_rd64((const uint8_t *)k.mv_data + plen);
                if (event_at(b, txn, t, seq, arr) < 0) {
                    rc = damaged(t, seq, err, errlen);
                    break;
                }
                last = seq;
            }
            mdb_cursor_close(cur);
        }
        free(ik);
    } else if (mdb_cursor_open(txn, store_dbi(b->st, STORE_DB_EVENTS), &cur) == 0) {
        uint8_t ek[12];
        bl_event_key(ek, t->id, from);
        MDB_val k = {12, ek}, v;
        for (int r = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
             r == 0 && json_array_size(arr) < limit; r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (k.mv_size != 12 || store_rd32(k.mv_data) != t->id) break;
            uint64_t seq = store_rd64((const uint8_t *)k.mv_data + 4);
            bl_event e;
            if (bl_event_read(&k, &v, t->name, &e) < 0) {
                rc = damaged(t, seq, err, errlen);
                break;
            }
            json_array_append_new(arr, bl_event_json(&e, t->name, seq));
            last = seq;
        }
        mdb_cursor_close(cur);
    }
    store_lmdb_read_end(b->st, txn);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *events = arr;
    *next = last + 1;
    return 0;
}

int bl_offset_at(bus *bb, const char *topic, int64_t time_ms, uint64_t *offset)
{
    bl *b = bl_of(bb);
    bl_topic *t = bl_topic_get(b, topic, false);
    if (!t || !t->id) return AH_ENOTFOUND;
    MDB_txn *txn;
    int rc = store_lmdb_read_begin(b->st, &txn);
    if (rc) return rc;
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, store_dbi(b->st, STORE_DB_EVENTS), &cur);
    if (rc) {
        store_lmdb_read_end(b->st, txn);
        return AH_EIO;
    }
    /* Event times never decrease within a topic: binary search. */
    uint64_t lo = t->rec.first_seq, hi = bl_topic_head(t) + 1;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        uint8_t ek[12];
        bl_event_key(ek, t->id, mid);
        MDB_val k = {12, ek}, v;
        bl_event e;
        int r = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (r != 0 || k.mv_size != 12 || store_rd32(k.mv_data) != t->id) {
            hi = mid; /* nothing at or after mid */
            continue;
        }
        if (bl_event_read(&k, &v, t->name, &e) < 0) {
            rc = AH_EIO; /* damaged: no offset is better than a wrong one */
            break;
        }
        uint64_t seq = store_rd64((const uint8_t *)k.mv_data + 4);
        if (e.time_ms < time_ms)
            lo = seq + 1;
        else
            hi = mid;
    }
    mdb_cursor_close(cur);
    store_lmdb_read_end(b->st, txn);
    *offset = lo;
    return rc;
}

/* ---- open and close --------------------------------------------------------- */

static void on_timer(uv_timer_t *h)
{
    bl *b = h->data;
    uint64_t now = ah_mono_ms();
    bl_check_timers(b, now);
    uint32_t every = b->o.sweep_interval_ms ? b->o.sweep_interval_ms : 1000;
    if (now - b->last_sweep_ms >= every) {
        b->last_sweep_ms = now;
        bl_retention_sweep(b);
    }
}

static int bl_open(bus *bb, ah_loop *loop, store *st, const bus_opts *o, char *err, size_t errlen)
{
    bl *b = calloc(1, sizeof(*b));
    if (!b) return AH_ENOMEM;
    b->bus = bb;
    b->loop = loop;
    b->st = st;
    b->o = *o;
    if (!b->o.max_event_bytes) b->o.max_event_bytes = 1u << 20;
    strmap_init(&b->topics);
    strmap_init(&b->consumers);
    strmap_init(&b->deleting);
    ah_idmap_init(&b->topic_ids);
    ah_idmap_init(&b->deliveries);
    bb->impl = b;
    int rc = bl_load_topics(b, err, errlen);
    if (rc) {
        bb->impl = NULL;
        size_t pos = 0;
        const char *k;
        void *v;
        while (strmap_next(&b->topics, &pos, &k, &v))
            bl_topic_free(v);
        strmap_free(&b->topics);
        ah_idmap_free(&b->topic_ids);
        free(b);
        return rc;
    }
    b->timer = malloc(sizeof(*b->timer));
    uv_timer_init(loop_uv(loop), b->timer);
    b->timer->data = b;
    uv_timer_start(b->timer, on_timer, BL_TICK_MS, BL_TICK_MS);
    uv_unref((uv_handle_t *)b->timer);
    b->last_sweep_ms = ah_mono_ms();
    loop_on_tick_early(loop, bl_flush_positions, b); /* before the store's hand-off */
    return 0;
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

/* Stop timers and deliveries; the memory lives on until every queued
 * write has answered (store_close), so done callbacks stay valid. */
static void bl_close(bus *bb)
{
    bl *b = bl_of(bb);
    if (!b || b->closing) return;
    bl_flush_positions(b);
    b->closing = true;
    uv_timer_stop(b->timer);
    uv_close((uv_handle_t *)b->timer, free_handle);
    loop_remove_tick(b->loop, bl_flush_positions, b);
}

/* Free everything once the store is closed. */
static void bl_free(bus *bb)
{
    bl *b = bl_of(bb);
    if (b) {
        size_t pos = 0;
        const char *k;
        void *v;
        while (strmap_next(&b->consumers, &pos, &k, &v))
            bl_consumer_free(v);
        pos = 0;
        while (strmap_next(&b->topics, &pos, &k, &v))
            bl_topic_free(v);
        pos = 0;
        uint64_t id;
        while (ah_idmap_next(&b->deliveries, &pos, &id, &v))
            free(v);
        pos = 0;
        while (strmap_next(&b->deleting, &pos, &k, &v))
            bl_consumer_free(v);
        strmap_free(&b->consumers);
        strmap_free(&b->deleting);
        strmap_free(&b->topics);
        ah_idmap_free(&b->topic_ids);
        ah_idmap_free(&b->deliveries);
        free(b->dirty);
        free(b);
    }
}

const bus_backend bus_lmdb_backend = {
    .name = "lmdb",
    .open = bl_open,
    .close = bl_close,
    .free = bl_free,
    .publish = bl_publish,
    .consumer_open = bl_consumer_open,
    .consumer_attach = bl_consumer_attach,
    .consumer_detach = bl_consumer_detach,
    .consumer_seek = bl_consumer_seek,
    .consumer_name = bl_consumer_name,
    .consumer_delete = bl_consumer_delete,
    .commit = bl_commit,
    .ack = bl_ack,
    .nack = bl_nack,
    .topics = bl_topics,
    .topic = bl_topic_info,
    .consumers = bl_consumers,
    .read = bl_read,
    .offset_at = bl_offset_at,
    .dlq_requeue = bl_dlq_requeue,
    .dlq_drop = bl_dlq_drop,
};
