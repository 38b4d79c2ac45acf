/* bl_retention.c - retention: delete a topic's oldest events beyond its
 * count, bytes or age limits, never past the position of any consumer
 * (open or not) unless the topic allows dropping unacknowledged events;
 * and expire idempotency keys older than the window. */
#include "core/log.h"
#include "core/topic.h"
#include "core/util.h"
#include "bl.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SWEEP_MAX_DELETES 10000
#define IDEM_SWEEP_MAX 10000

typedef struct ret_op {
    bl *b;
    char topic[TOPIC_MAX + 8];
    uint64_t max_count, max_bytes, max_age_ms;
    bool drop_unacked;
    int64_t now_ms;
    uint64_t deleted; /* result */
    bool blocked;     /* result: a consumer held events back */
} ret_op;

/* The lowest position any consumer (open or not) has on this topic. */
static uint64_t min_position(MDB_txn *txn, store *st, uint32_t id)
{
    uint64_t m = UINT64_MAX;
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, store_dbi(st, STORE_DB_CONSUMERS), &cur) != 0) return 0;
    MDB_val k, v;
    for (int r = mdb_cursor_get(cur, &k, &v, MDB_FIRST); r == 0;
         r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *p = k.mv_data;
        if (k.mv_size < 6 || v.mv_size != 8 || p[k.mv_size - 5] != 0 ||
            store_rd32(p + k.mv_size - 4) != id)
            continue;
        uint64_t pos = store_rd64(v.mv_data);
        if (pos < m) m = pos;
    }
    mdb_cursor_close(cur);
    return m;
}

static int apply_retention(store_txn *stx, void *arg)
{
    MDB_txn *txn = store_lmdb_txn(stx);
    ret_op *op = arg;
    store *st = op->b->st;
    op->deleted = 0;
    op->blocked = false;
    /* Through the transaction's topic records (bl.h): a publish to this
     * topic earlier in the batch changed it there. */
    topic_rec *tr;
    int rc = bl_txn_topic(stx, op->topic, false, 0, &tr);
    if (rc) return rc == AH_ENOTFOUND ? 0 : rc;
    topic_rec r = *tr;
    uint64_t floor = op->drop_unacked ? UINT64_MAX : min_position(txn, st, r.id);
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, store_dbi(st, STORE_DB_EVENTS), &cur)) != 0) return rc;
    uint8_t ek[12];
    bl_event_key(ek, r.id, r.first_seq);
    MDB_val k = {12, ek}, v;
    int got = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (got == 0 && op->deleted < SWEEP_MAX_DELETES) {
        if (k.mv_size != 12 || store_rd32(k.mv_data) != r.id) break;
        uint64_t seq = store_rd64((const uint8_t *)k.mv_data + 4);
        bl_event e;
        if (bl_event_read(&k, &v, op->topic, &e) < 0) {
            rc = AH_EIO; /* damaged (logged): this sweep fails alone and stops there */
            break;
        }
        bool over = (op->max_count && r.count > op->max_count) ||
                    (op->max_bytes && r.bytes > op->max_bytes) ||
                    (op->max_age_ms && e.time_ms < op->now_ms - (int64_t)op->max_age_ms);
        if (!over) break;
        if (seq > floor) {
            op->blocked = true;
            break;
        }
        size_t len = v.mv_size;
        if (e.key) {
            uint8_t kk[4 + BUS_KEY_MAX + 1 + 8];
            store_be32(kk, r.id);
            memcpy(kk + 4, e.key, e.key_len);
            kk[4 + e.key_len] = 0;
            store_be64(kk + 5 + e.key_len, seq);
            MDB_val ik = {13 + e.key_len, kk};
            mdb_del(txn, store_dbi(st, STORE_DB_KEYS), &ik, NULL);
        }
        if ((rc = mdb_cursor_del(cur, 0)) != 0) break;
        r.count--;
        r.bytes -= len < r.bytes ? len : r.bytes;
        op->deleted++;
        got = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
    }
    /* The first remaining event, or empty. */
    if (!rc) {
        r.first_seq = r.next_seq;
        bl_event_key(ek, r.id, 0);
        MDB_val fk = {12, ek}, fv;
        if (mdb_cursor_get(cur, &fk, &fv, MDB_SET_RANGE) == 0 && fk.mv_size == 12 &&
            store_rd32(fk.mv_data) == r.id)
            r.first_seq = store_rd64((const uint8_t *)fk.mv_data + 4);
    }
    mdb_cursor_close(cur);
    if (rc || !op->deleted) return rc;
    *tr = r; /* written back before the commit */
    return 0;
}

static void done_retention(int status, void *arg)
{
    ret_op *op = arg;
    bl *b = op->b;
    bl_topic *t = bl_topic_get(b, op->topic, false);
    if (status == 0 && t && op->deleted) {
        MDB_txn *txn;
        if (store_lmdb_read_begin(b->st, &txn) == 0) {
            MDB_val k = {strlen(t->name), t->name}, v;
            topic_rec r;
            if (mdb_get(txn, store_dbi(b->st, STORE_DB_TOPICS), &k, &v) == 0 &&
                bl_topic_rec_decode(v.mv_data, v.mv_size, &r) == 0)
                t->rec = r;
            store_lmdb_read_end(b->st, txn);
        }
        json_t *f = json_pack("{s:s,s:I}", "topic", t->name, "deleted", (json_int_t)op->deleted);
        log_write("events", LOG_INFO, "bus", NULL, f, "retention removed %llu events from %s",
                  (unsigned long long)op->deleted, t->name);
        json_decref(f);
        /* Consumers that were behind now start at the first remaining event. */
        for (size_t i = 0; i < t->nsubs; i++)
            bl_pump(t->subs[i]->c);
    }
    b->sweeping = false;
    free(op);
}

typedef struct idem_op {
    bl *b;
    uint8_t cursor[512];
    size_t cursor_len;
    int64_t now_ms;
    uint64_t window_ms;
} idem_op;

static int apply_idem(store_txn *stx, void *arg)
{
    MDB_txn *txn = store_lmdb_txn(stx);
    idem_op *op = arg;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, store_dbi(op->b->st, STORE_DB_IDEMPOTENCY), &cur);
    if (rc) return rc;
    MDB_val k = {op->cursor_len, op->cursor}, v;
    int got = op->cursor_len ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)
                             : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    size_t seen = 0;
    while (got == 0 && seen++ < IDEM_SWEEP_MAX) {
        if (v.mv_size == 16 && op->now_ms - (int64_t)store_rd64((const uint8_t *)v.mv_data + 8) >
                                   (int64_t)op->window_ms) {
            if ((rc = mdb_cursor_del(cur, 0)) != 0) break;
            got = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
        } else {
            got = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
    }
    /* Resume from here next time, or from the start after the end. */
    op->cursor_len = 0;
    if (!rc && got == 0 && k.mv_size <= sizeof(op->cursor)) {
        memcpy(op->cursor, k.mv_data, k.mv_size);
        op->cursor_len = k.mv_size;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static void done_idem(int status, void *arg)
{
    idem_op *op = arg;
    if (status == 0) {
        memcpy(op->b->idem_cursor, op->cursor, op->cursor_len);
        op->b->idem_cursor_len = op->cursor_len;
    }
    free(op);
}

static void limits_for(bl *b, const char *topic, ret_op *op)
{
    op->max_count = b->o.retention_max_count;
    op->max_bytes = b->o.retention_max_bytes;
    op->max_age_ms = b->o.retention_max_age_ms;
    op->drop_unacked = false;
    const json_t *over = b->o.topic_overrides;
    const char *pattern;
    const json_t *o;
    json_object_foreach((json_t *)over, pattern, o)
    {
        if (!bl_pattern_matches(pattern, topic)) continue;
        const json_t *v;
        if ((v = json_object_get(o, "max_count"))) op->max_count = (uint64_t)json_integer_value(v);
        if ((v = json_object_get(o, "max_bytes"))) op->max_bytes = (uint64_t)json_integer_value(v);
        if ((v = json_object_get(o, "max_age_s")))
            op->max_age_ms = (uint64_t)json_integer_value(v) * 1000u;
        op->drop_unacked = json_is_true(json_object_get(o, "drop_unacked"));
        break;
    }
}

/* Time of the topic's first event (a cheap read, to skip needless writes). */
static int64_t oldest_time(bl *b, bl_topic *t)
{
    MDB_txn *txn;
    int64_t when = INT64_MAX;
    if (store_lmdb_read_begin(b->st, &txn) != 0) return when;
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, store_dbi(b->st, STORE_DB_EVENTS), &cur) == 0) {
        uint8_t ek[12];
        bl_event_key(ek, t->id, t->rec.first_seq);
        MDB_val k = {12, ek}, v;
        bl_event e;
        if (mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) == 0 && k.mv_size == 12 &&
            store_rd32(k.mv_data) == t->id && bl_event_read(&k, &v, t->name, &e) == 0)
            when = e.time_ms;
        mdb_cursor_close(cur);
    }
    store_lmdb_read_end(b->st, txn);
    return when;
}

void bl_retention_sweep(bl *b)
{
    if (b->sweeping || b->closing) return;
    /* One topic per sweep, resuming after the one swept last: a topic that
     * stays over its limits (a consumer holds it back) must not take every
     * sweep from the topics after it. */
    size_t start = b->sweep_cursor, pos = start;
    bool wrapped = false;
    const char *name;
    void *v;
    for (;;) {
        if (!strmap_next(&b->topics, &pos, &name, &v)) {
            if (wrapped) break;
            wrapped = true;
            pos = 0;
            continue;
        }
        if (wrapped && pos > start) break; /* every topic looked at */
        bl_topic *t = v;
        if (!t->id || !t->rec.count) continue;
        ret_op probe;
        limits_for(b, t->name, &probe);
        int64_t now = bl_now_ms(b);
        bool over = (probe.max_count && t->rec.count > probe.max_count) ||
                    (probe.max_bytes && t->rec.bytes > probe.max_bytes) ||
                    (probe.max_age_ms && oldest_time(b, t) < now - (int64_t)probe.max_age_ms);
        if (!over) continue;
        ret_op *op = calloc(1, sizeof(*op));
        if (!op) return;
        *op = probe;
        op->b = b;
        op->now_ms = now;
        snprintf(op->topic, sizeof(op->topic), "%s", t->name);
        if (store_write(b->st, apply_retention, done_retention, op) == 0)
            b->sweeping = true; /* one sweep op in flight at a time */
        else
            free(op);
        b->sweep_cursor = pos;
        break; /* the next topic at the next sweep */
    }
    if (b->o.idempotency_window_ms) {
        idem_op *io = calloc(1, sizeof(*io));
        if (!io) return;
        io->b = b;
        io->now_ms = bl_now_ms(b);
        io->window_ms = b->o.idempotency_window_ms;
        memcpy(io->cursor, b->idem_cursor, b->idem_cursor_len);
        io->cursor_len = b->idem_cursor_len;
        if (store_write(b->st, apply_idem, done_idem, io) != 0) free(io);
    }
}
