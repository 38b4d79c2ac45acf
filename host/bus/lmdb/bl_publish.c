/* bl_publish.c - publishing: validation and encoding on the loop, the
 * append (with idempotency and the key index) in the store's writer
 * thread, and the mirror update once durable. */
#include "sdk/ipc/jsonw.h"
#include "core/fault.h"
#include "core/topic.h"
#include "core/util.h"
#include "bl.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bl_pub_item {
    bl_topic *t; /* the loop's record of the topic (topics live as long as the bus) */
    char topic[TOPIC_MAX + 1];
    uint8_t *rec;
    size_t rec_len;
    char *key;
    char *idem;
    int64_t time_ms;
    /* results, written by the writer thread */
    uint64_t seq;
    bool dup;
    uint32_t topic_id;
};

typedef struct pub_op {
    bl *b;
    store *st;
    bus_publish_cb cb;
    void *ud;
    bl_extra extra;
    uint64_t window_ms;
    int64_t now_ms;
    size_t n;
    bl_pub_item items[];
} pub_op;

static void free_op(pub_op *op)
{
    for (size_t i = 0; i < op->n; i++) {
        free(op->items[i].rec);
        free(op->items[i].key);
        free(op->items[i].idem);
    }
    free(op);
}

/* ---- writer thread ---------------------------------------------------------- */

static int append(store_txn *stx, pub_op *op, bl_pub_item *it, topic_rec *rec)
{
    MDB_txn *txn = store_lmdb_txn(stx);
    store *st = op->st;
    int rc;
    uint8_t idk[4 + BUS_IDEMPOTENCY_KEY_MAX];
    size_t idlen = 0;
    if (it->idem) {
        idlen = 4 + strlen(it->idem);
        store_be32(idk, rec->id);
        memcpy(idk + 4, it->idem, idlen - 4);
        MDB_val k = {idlen, idk}, v;
        rc = mdb_get(txn, store_dbi(st, STORE_DB_IDEMPOTENCY), &k, &v);
        if (rc == 0 && v.mv_size == 16) {
            /* A key stored ahead of the clock (the clock stepped back
             * since) is within the window, not expired. */
            int64_t t = (int64_t)store_rd64((const uint8_t *)v.mv_data + 8);
            if (t >= op->now_ms || (uint64_t)(op->now_ms - t) <= op->window_ms) {
                it->seq = store_rd64(v.mv_data);
                it->dup = true;
                return 0;
            }
        } else if (rc && rc != MDB_NOTFOUND) {
            return rc;
        }
    }
    uint64_t seq = rec->next_seq++;
    uint8_t ek[12];
    bl_event_key(ek, rec->id, seq);
    bl_event_seal(it->rec, it->rec_len, ek);
    MDB_val k = {12, ek}, v = {it->rec_len, it->rec};
    /* The newest topic's events are the last keys: append them (full
     * pages, no search). LMDB refuses an append that is not past the last
     * key (MDB_KEYEXIST); the ordinary insert then decides. */
    rc = MDB_KEYEXIST;
    if (bl_txn_topic_is_newest(stx, rec->id))
        rc = mdb_put(txn, store_dbi(st, STORE_DB_EVENTS), &k, &v, MDB_NOOVERWRITE | MDB_APPEND);
    if (rc == MDB_KEYEXIST)
        rc = mdb_put(txn, store_dbi(st, STORE_DB_EVENTS), &k, &v, MDB_NOOVERWRITE);
    if (rc) return rc;
    rec->count++;
    rec->bytes += it->rec_len;
    rec->last_ms = it->time_ms;
    if (it->key) {
        size_t klen = strlen(it->key);
        uint8_t kk[4 + BUS_KEY_MAX + 1 + 8];
        store_be32(kk, rec->id);
        memcpy(kk + 4, it->key, klen);
        kk[4 + klen] = 0;
        store_be64(kk + 5 + klen, seq);
        MDB_val ik = {13 + klen, kk}, iv = {0, ""};
        if ((rc = mdb_put(txn, store_dbi(st, STORE_DB_KEYS), &ik, &iv, 0)) != 0) return rc;
    }
    if (it->idem) {
        uint8_t val[16];
        store_be64(val, seq);
        store_be64(val + 8, (uint64_t)it->time_ms);
        MDB_val ik = {idlen, idk}, iv = {16, val};
        if ((rc = mdb_put(txn, store_dbi(st, STORE_DB_IDEMPOTENCY), &ik, &iv, 0)) != 0) return rc;
    }
    it->seq = seq;
    it->dup = false;
    return 0;
}

static int apply_publish(store_txn *stx, void *arg)
{
    pub_op *op = arg;
    int rc = 0;
    /* Topic records: read once per transaction, written back before the
     * commit (bl_txn.c). */
    for (size_t i = 0; i < op->n && !rc; i++) {
        bl_pub_item *it = &op->items[i];
        topic_rec *rec;
        if ((rc = bl_txn_topic(stx, it->topic, true, op->now_ms, &rec)) != 0) break;
        it->topic_id = rec->id;
        rc = append(stx, op, it, rec);
    }
    if (!rc && op->extra.apply) rc = op->extra.apply(stx, op->extra.arg);
    return rc;
}

/* ---- loop thread ------------------------------------------------------------- */

static void refresh_topic(bl *b, MDB_txn *txn, bl_topic *t)
{
    MDB_val k = {strlen(t->name), t->name}, v;
    topic_rec rec;
    if (mdb_get(txn, store_dbi(b->st, STORE_DB_TOPICS), &k, &v) == 0 &&
        bl_topic_rec_decode(v.mv_data, v.mv_size, &rec) == 0)
        t->rec = rec;
}

static void done_publish(int status, void *arg)
{
    pub_op *op = arg;
    bl *b = op->b;
    uint64_t offs[64], *offsets = op->n <= 64 ? offs : malloc(op->n * sizeof(uint64_t));
    bool dups[64], *dup = op->n <= 64 ? dups : malloc(op->n * sizeof(bool));
    bl_topic *touched[16];
    size_t ntouched = 0;
    if (status == 0) {
        AH_FAULT("bus.after_commit_before_ack");
        /* A read only when a topic's mirror is older than the snapshot
         * (once per topic and commit: every publish a commit answers
         * reads the same durable snapshot, store.h). */
        uint64_t snap = store_lmdb_snapshot_id(b->st);
        MDB_txn *txn = NULL;
        bool read = false;
        for (size_t i = 0; i < op->n; i++) {
            bl_pub_item *it = &op->items[i];
            if (offsets) offsets[i] = it->seq;
            if (dup) dup[i] = it->dup;
            bl_topic *t = it->t ? it->t : bl_topic_get(b, it->topic, true);
            if (!t) continue;
            bool is_new = t->id == 0;
            if (is_new) {
                t->id = it->topic_id;
                ah_idmap_put(&b->topic_ids, t->id, t);
            }
            if (!snap || t->mirror_txn != snap) {
                if (!read) read = store_lmdb_read_begin(b->st, &txn) == 0;
                if (read && t->mirror_txn != mdb_txn_id(txn)) {
                    refresh_topic(b, txn, t);
                    t->mirror_txn = mdb_txn_id(txn);
                }
            }
            if (!it->dup) bl_topic_count_rate(t, 1);
            if (is_new && !b->closing) bl_consumers_on_new_topic(b, t);
            bool seen = false;
            for (size_t k = 0; k < ntouched && !seen; k++)
                seen = touched[k] == t;
            if (!seen && ntouched < 16) touched[ntouched++] = t;
        }
        if (read) store_lmdb_read_end(b->st, txn);
    }
    if (op->extra.done) op->extra.done(status, op->extra.arg);
    if (op->cb) op->cb(op->ud, status, offsets, dup, offsets && dup ? op->n : 0);
    if (status == 0 && !b->closing)
        for (size_t k = 0; k < ntouched; k++)
            bl_pump_topic(b, touched[k]);
    if (offsets != offs) free(offsets);
    if (dup != dups) free(dup);
    free_op(op);
}

static bool headers_ok(const json_t *h)
{
    if (!h) return true;
    if (!json_is_object(h) || json_object_size(h) > 64) return false;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)h, k, v) if (!json_is_string(v) || strlen(k) > 128) return false;
    return true;
}

static int fill_item(bl *b, bl_pub_item *it, const bus_msg *m, bool reserved, const uint8_t *id,
                     char *err, size_t errlen)
{
    /* A name once found valid is not checked again (topics are never
     * renamed); a reserved one ('$') still only for the host's publishes. */
    bl_topic *t = m->topic ? bl_topic_get(b, m->topic, false) : NULL;
    bool checked = t && t->name_checked && (reserved || m->topic[0] != '$');
    if (!checked && (!m->topic || !topic_valid(m->topic, reserved))) {
        snprintf(err, errlen, "topic \"%.64s\" is not a valid name (dot-separated A-Z a-z 0-9 _ -)",
                 m->topic ? m->topic : "");
        return AH_EINVAL;
    }
    if (m->key && (!*m->key || strlen(m->key) > BUS_KEY_MAX)) {
        snprintf(err, errlen, "a key is 1-%d bytes", BUS_KEY_MAX);
        return AH_EINVAL;
    }
    if (m->idempotency_key &&
        (!*m->idempotency_key || strlen(m->idempotency_key) > BUS_IDEMPOTENCY_KEY_MAX)) {
        snprintf(err, errlen, "an idempotency key is 1-%d bytes", BUS_IDEMPOTENCY_KEY_MAX);
        return AH_EINVAL;
    }
    if (!headers_ok(m->headers)) {
        snprintf(err, errlen, "headers must be an object of at most 64 string values");
        return AH_EINVAL;
    }
    /* The headers first (rare), then the body dumped straight into the
     * record after its header (ah_json_dumps_after: json_dumps's exact
     * output, several times faster, and no copy; see docs/benchmarks.md). */
    size_t blen = 0, hlen = 0, klen = m->key ? strlen(m->key) : 0;
    bool has_headers = m->headers && json_object_size(m->headers);
    char *headers = has_headers ? ah_json_dumps(m->headers, &hlen) : NULL;
    uint8_t *rec = NULL;
    if (!has_headers || headers)
        rec = (uint8_t *)ah_json_dumps_after(m->body ? m->body : json_null(),
                                             BL_EVENT_HDR + klen + hlen, &blen);
    if (!rec) {
        free(headers);
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    size_t total = blen + hlen + klen;
    if (total > b->o.max_event_bytes) {
        snprintf(err, errlen, "event of %zu bytes is larger than the %zu-byte limit", total,
                 b->o.max_event_bytes);
        free(rec);
        free(headers);
        return AH_ETOOBIG;
    }
    /* Times never go backwards within a topic (offset_at relies on it). */
    if (!t) t = bl_topic_get(b, m->topic, true);
    if (t) t->name_checked = true;
    int64_t now = bl_now_ms(b);
    if (t && t->last_time > now) now = t->last_time;
    if (t) t->last_time = now;
    uint8_t idb[16];
    if (id)
        memcpy(idb, id, 16);
    else
        ah_randpool_take(&b->ids, idb, sizeof(idb));   /* core/randpool.h */
    memcpy(it->topic, m->topic, strlen(m->topic) + 1); /* topic_valid: <= TOPIC_MAX */
    it->t = t;
    it->time_ms = now;
    bl_event_head(rec, now, idb, m->key, headers ? headers : "", hlen, blen);
    it->rec = rec;
    it->rec_len = BL_EVENT_HDR + klen + hlen + blen;
    it->key = m->key ? strdup(m->key) : NULL;
    it->idem = m->idempotency_key ? strdup(m->idempotency_key) : NULL;
    free(headers);
    if ((m->key && !it->key) || (m->idempotency_key && !it->idem)) {
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    return 0;
}

int bl_publish_ex(bl *b, const bus_msg *msgs, size_t n, bool reserved, const uint8_t (*ids)[16],
                  const bl_extra *extra, bus_publish_cb cb, void *ud, char *err, size_t errlen)
{
    if (b->closing) {
        snprintf(err, errlen, "the host is shutting down");
        return AH_ECLOSED;
    }
    if (n == 0 && !extra) {
        snprintf(err, errlen, "nothing to publish");
        return AH_EINVAL;
    }
    /* malloc, not calloc: an item's 200-byte topic name is copied, not
     * zeroed first (every publish pays this). */
    pub_op *op = malloc(sizeof(*op) + n * sizeof(bl_pub_item));
    if (!op) {
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    *op = (pub_op){.b = b,
                   .st = b->st,
                   .cb = cb,
                   .ud = ud,
                   .window_ms = b->o.idempotency_window_ms,
                   .now_ms = bl_now_ms(b)};
    if (extra) op->extra = *extra;
    for (size_t i = 0; i < n; i++) {
        bl_pub_item *it = &op->items[i];
        it->rec = NULL; /* what free_op frees if this item fails */
        it->key = it->idem = NULL;
        op->n = i + 1;
        int rc = fill_item(b, it, &msgs[i], reserved, ids ? ids[i] : NULL, err, errlen);
        if (rc) {
            if (n > 1) {
                char tmp[300];
                snprintf(tmp, sizeof(tmp), "event %zu: %s", i, err);
                snprintf(err, errlen, "%s", tmp);
            }
            free_op(op);
            return rc;
        }
    }
    int rc = store_write(b->st, apply_publish, done_publish, op);
    if (rc) {
        snprintf(err, errlen, "the store cannot take writes");
        free_op(op);
    }
    return rc;
}

int bl_publish(bus *bb, const bus_msg *msgs, size_t n, bool reserved, bus_publish_cb cb, void *ud,
               char *err, size_t errlen)
{
    return bl_publish_ex(bl_of(bb), msgs, n, reserved, NULL, NULL, cb, ud, err, errlen);
}
