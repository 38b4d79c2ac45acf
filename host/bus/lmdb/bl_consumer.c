/* bl_consumer.c - durable consumers: opening (positions and failure
 * records from disk), topics they match, persisting positions, seeking,
 * and their stats. Delivery itself is in bl_delivery.c. */
#include "core/fault.h"
#include "core/log.h"
#include "core/topic.h"
#include "core/util.h"
#include "bl.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONSUMER_NAME_MAX BL_CONSUMER_NAME_MAX
#define PENDING_FAILED 1
#define PENDING_SETTLED 2

bool bl_pattern_matches(const char *pattern, const char *topic)
{
    /* Reserved topics ($dlq...) match only patterns that name them. */
    if (topic[0] == '$' && pattern[0] != '$') return false;
    return topic_matches(pattern, topic);
}

static bool matches_any(const bl_consumer *c, const char *topic)
{
    for (size_t i = 0; i < c->npatterns; i++)
        if (bl_pattern_matches(c->patterns[i], topic)) return true;
    return false;
}

static int push_ptr(void ***v, size_t *n, size_t *cap, void *p)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        void **nv = realloc(*v, nc * sizeof(void *));
        if (!nv) return -1;
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = p;
    return 0;
}

/* ---- loading a consumer's state on one topic ----------------------------- */

static uint64_t start_floor(bl_consumer *c, bl_topic *t, bool new_topic)
{
    uint64_t first = t->rec.first_seq, head = bl_topic_head(t);
    if (new_topic) return first - 1;
    switch (c->start) {
    case BUS_START_EARLIEST:
        return first - 1;
    case BUS_START_OFFSET:
        return c->start_value > first ? c->start_value - 1 : first - 1;
    case BUS_START_TIME: {
        uint64_t off;
        if (bl_offset_at(c->b->bus, t->name, (int64_t)c->start_value, &off) == 0) return off - 1;
        return head;
    }
    case BUS_START_LATEST:
    default:
        return head;
    }
}

static void load_pending(bl_ctopic *ct, MDB_txn *txn)
{
    bl *b = ct->c->b;
    uint8_t prefix[CONSUMER_NAME_MAX + 5];
    size_t plen = bl_pos_key(prefix, sizeof(prefix), ct->c->name, ct->t->id);
    MDB_cursor *cur;
    if (!plen || mdb_cursor_open(txn, store_dbi(b->st, STORE_DB_PENDING), &cur) != 0) return;
    MDB_val k = {plen, prefix}, v;
    for (int r = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); r == 0;
         r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != plen + 8 || memcmp(k.mv_data, prefix, plen) != 0) break;
        ct->has_pending = true;
        uint64_t seq = store_rd64((const uint8_t *)k.mv_data + plen);
        slot *s = bl_slot(ct, seq);
        const uint8_t *p = v.mv_data;
        if (!s || v.mv_size < 5) continue;
        s->attempts = store_rd32(p + 1);
        s->settled = p[0] == PENDING_SETTLED;
        if (v.mv_size > 5) {
            free(s->error);
            s->error = strndup((const char *)p + 5, v.mv_size - 5);
        }
    }
    mdb_cursor_close(cur);
}

int bl_consumer_add_topic(bl_consumer *c, bl_topic *t, bool new_topic)
{
    bl *b = c->b;
    for (size_t i = 0; i < c->ntopics; i++)
        if (c->topics[i]->t == t) return 0;
    bl_ctopic *ct = calloc(1, sizeof(*ct));
    if (!ct) return AH_ENOMEM;
    ct->c = c;
    ct->t = t;
    ct->cap = c->max_in_flight * 4 > BL_WINDOW_MIN ? c->max_in_flight * 4 : BL_WINDOW_MIN;
    ct->ring = calloc(ct->cap, sizeof(slot));
    strmap_init(&ct->keys);
    if (!ct->ring) {
        free(ct);
        return AH_ENOMEM;
    }
    MDB_txn *txn;
    bool known = false;
    if (store_lmdb_read_begin(b->st, &txn) == 0) {
        uint8_t pk[CONSUMER_NAME_MAX + 5];
        size_t plen = bl_pos_key(pk, sizeof(pk), c->name, t->id);
        MDB_val k = {plen, pk}, v;
        if (plen && mdb_get(txn, store_dbi(b->st, STORE_DB_CONSUMERS), &k, &v) == 0 &&
            v.mv_size == 8) {
            ct->floor = ct->durable_floor = store_rd64(v.mv_data);
            known = true;
        }
        store_lmdb_read_end(b->st, txn);
    }
    if (!known) {
        /* A topic made after this consumer was last open is new to it too:
         * its first events were published before its position was written. */
        bool since = c->opened_before_ms && t->rec.created_ms >= c->opened_before_ms;
        ct->floor = start_floor(c, t, new_topic || since);
        ct->durable_floor = (uint64_t)-1; /* never written: persist it */
        ct->dirty = true;
        push_ptr((void ***)&b->dirty, &b->ndirty, &b->capdirty, ct);
    }
    if (ct->floor + 1 < t->rec.first_seq)
        ct->floor = t->rec.first_seq - 1; /* the events before are gone */
    ct->read_pos = ct->floor + 1;
    if (known && store_lmdb_read_begin(b->st, &txn) == 0) {
        load_pending(ct, txn);
        store_lmdb_read_end(b->st, txn);
    }
    if (push_ptr((void ***)&t->subs, &t->nsubs, &t->capsubs, ct) < 0 ||
        push_ptr((void ***)&c->topics, &c->ntopics, &c->captopics, ct) < 0)
        return AH_ENOMEM;
    return 0;
}

void bl_consumers_on_new_topic(bl *b, bl_topic *t)
{
    size_t pos = 0;
    const char *name;
    void *v;
    while (strmap_next(&b->consumers, &pos, &name, &v)) {
        bl_consumer *c = v;
        if (matches_any(c, t->name)) bl_consumer_add_topic(c, t, true);
    }
}

/* ---- positions ----------------------------------------------------------------- */

typedef struct pos_write {
    char *consumer;
    uint32_t topic_id;
    uint64_t floor;
    bool prune; /* delete failure records <= floor */
    bl_ctopic *ct;
} pos_write;

typedef struct pos_op {
    bl *b;
    size_t n;
    pos_write w[];
} pos_op;

static int apply_positions(store_txn *stx, void *arg)
{
    MDB_txn *txn = store_lmdb_txn(stx);
    pos_op *op = arg;
    store *st = op->b->st;
    for (size_t i = 0; i < op->n; i++) {
        pos_write *w = &op->w[i];
        uint8_t key[CONSUMER_NAME_MAX + 5 + 8];
        size_t klen = bl_pos_key(key, sizeof(key), w->consumer, w->topic_id);
        uint8_t val[8];
        store_be64(val, w->floor);
        MDB_val k = {klen, key}, v = {8, val};
        int rc = mdb_put(txn, store_dbi(st, STORE_DB_CONSUMERS), &k, &v, 0);
        if (rc) return rc;
        if (!w->prune) continue;
        MDB_cursor *cur;
        if ((rc = mdb_cursor_open(txn, store_dbi(st, STORE_DB_PENDING), &cur)) != 0) return rc;
        MDB_val pk = {klen, key}, pv;
        for (rc = mdb_cursor_get(cur, &pk, &pv, MDB_SET_RANGE); rc == 0;
             rc = mdb_cursor_get(cur, &pk, &pv, MDB_NEXT)) {
            if (pk.mv_size != klen + 8 || memcmp(pk.mv_data, key, klen) != 0 ||
                store_rd64((const uint8_t *)pk.mv_data + klen) > w->floor)
                break;
            if ((rc = mdb_cursor_del(cur, 0)) != 0) break;
        }
        mdb_cursor_close(cur);
        if (rc && rc != MDB_NOTFOUND) return rc;
    }
    return 0;
}

static void done_positions(int status, void *arg)
{
    pos_op *op = arg;
    for (size_t i = 0; i < op->n; i++) {
        if (status == 0 && !op->b->closing) {
            op->w[i].ct->durable_floor = op->w[i].floor;
            if (op->w[i].prune) op->w[i].ct->has_pending = false;
        }
        free(op->w[i].consumer);
    }
    if (status && !op->b->closing) {
        /* Try again at the next tick. */
        for (size_t i = 0; i < op->n; i++) {
            bl_ctopic *ct = op->w[i].ct;
            if (!ct->dirty && !ct->c->deleted) {
                ct->dirty = true;
                push_ptr((void ***)&op->b->dirty, &op->b->ndirty, &op->b->capdirty, ct);
            }
        }
    }
    free(op);
}

void bl_flush_positions(void *ud)
{
    bl *b = ud;
    if (!b->ndirty || b->closing) return;
    pos_op *op = calloc(1, sizeof(*op) + b->ndirty * sizeof(pos_write));
    if (!op) return;
    op->b = b;
    for (size_t i = 0; i < b->ndirty; i++) {
        bl_ctopic *ct = b->dirty[i];
        ct->dirty = false;
        if (ct->floor == ct->durable_floor) continue;
        if (ct->commit_pos_set && ct->floor <= ct->commit_pos) continue; /* the commit writes it */
        pos_write *w = &op->w[op->n++];
        w->consumer = strdup(ct->c->name);
        w->topic_id = ct->t->id;
        w->floor = ct->floor;
        w->prune = ct->has_pending;
        w->ct = ct;
    }
    b->ndirty = 0;
    if (op->n) AH_FAULT("bus.before_position_write");
    if (!op->n || store_write(b->st, apply_positions, done_positions, op) != 0) {
        for (size_t i = 0; i < op->n; i++)
            free(op->w[i].consumer);
        free(op);
    }
}

/* ---- failure records ----------------------------------------------------------- */

typedef struct fail_op {
    uint8_t key[CONSUMER_NAME_MAX + 5 + 8];
    size_t klen;
    uint8_t *val;
    size_t vlen;
    store *st;
} fail_op;

static int apply_failure(store_txn *stx, void *arg)
{
    MDB_txn *txn = store_lmdb_txn(stx);
    fail_op *op = arg;
    MDB_val k = {op->klen, op->key}, v = {op->vlen, op->val};
    return mdb_put(txn, store_dbi(op->st, STORE_DB_PENDING), &k, &v, 0);
}

static void done_failure(int status, void *arg)
{
    (void)status;
    fail_op *op = arg;
    free(op->val);
    free(op);
}

/* Record a failed attempt, so counts survive a host restart. */
void bl_record_failure(bl_ctopic *ct, uint64_t seq, uint32_t attempts, const char *error)
{
    fail_op *op = calloc(1, sizeof(*op));
    if (!op) return;
    op->st = ct->c->b->st;
    size_t plen = bl_pos_key(op->key, sizeof(op->key) - 8, ct->c->name, ct->t->id);
    store_be64(op->key + plen, seq);
    op->klen = plen + 8;
    size_t elen = error ? strlen(error) : 0;
    if (elen > 500) elen = 500;
    op->vlen = 5 + elen;
    op->val = malloc(op->vlen);
    if (!op->val) {
        free(op);
        return;
    }
    op->val[0] = PENDING_FAILED;
    store_be32(op->val + 1, attempts);
    memcpy(op->val + 5, error ? error : "", elen);
    ct->has_pending = true;
    if (store_write(op->st, apply_failure, done_failure, op) != 0) done_failure(0, op);
}

/* The apply of a "settled" marker, written with the dead letter. */
size_t bl_settled_record(bl_ctopic *ct, uint64_t seq, uint8_t *key, size_t keycap, uint8_t *val)
{
    size_t plen = bl_pos_key(key, keycap - 8, ct->c->name, ct->t->id);
    store_be64(key + plen, seq);
    val[0] = PENDING_SETTLED;
    store_be32(val + 1, bl_slot(ct, seq) ? bl_slot(ct, seq)->attempts : 0);
    ct->has_pending = true;
    return plen + 8;
}

/* ---- opening ---------------------------------------------------------------------- */

typedef struct rec_op {
    store *st;
    char *name;
    char *json;
} rec_op;

static int apply_record(store_txn *stx, void *arg)
{
    MDB_txn *txn = store_lmdb_txn(stx);
    rec_op *op = arg;
    MDB_val k = {strlen(op->name), op->name}, v = {strlen(op->json), op->json};
    return mdb_put(txn, store_dbi(op->st, STORE_DB_CONSUMERS), &k, &v, 0);
}

static void done_record(int status, void *arg)
{
    (void)status;
    rec_op *op = arg;
    free(op->name);
    free(op->json);
    free(op);
}

static void write_record(bl_consumer *c)
{
    json_t *pats = json_array();
    for (size_t i = 0; i < c->npatterns; i++)
        json_array_append_new(pats, json_string(c->patterns[i]));
    json_t *o = json_pack("{s:o,s:i,s:I}", "patterns", pats, "start", (int)c->start, "updated_ms",
                          (json_int_t)bl_now_ms(c->b));
    rec_op *op = calloc(1, sizeof(*op));
    if (!op) {
        json_decref(o);
        return;
    }
    op->st = c->b->st;
    op->name = strdup(c->name);
    op->json = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!op->name || !op->json || store_write(op->st, apply_record, done_record, op) != 0)
        done_record(0, op);
}

void bl_consumer_free(bl_consumer *c)
{
    for (size_t i = 0; i < c->ntopics; i++) {
        bl_ctopic *ct = c->topics[i];
        for (size_t s = 0; s < ct->cap; s++) {
            free(ct->ring[s].key);
            free(ct->ring[s].error);
        }
        size_t pos = 0;
        const char *k;
        void *v;
        while (strmap_next(&ct->keys, &pos, &k, &v)) {
            keystate *ks = v;
            seqq_free(&ks->held);
            free(ks);
        }
        strmap_free(&ct->keys);
        free(ct->ring);
        seqq_free(&ct->ready);
        free(ct);
    }
    for (size_t i = 0; i < c->npatterns; i++)
        free(c->patterns[i]);
    free(c->patterns);
    free(c->topics);
    free(c->name);
    free(c);
}

/* When the consumer named was last opened (its record's updated_ms), or 0. */
static int64_t last_opened(bl *b, const char *name)
{
    MDB_txn *txn;
    int64_t at = 0;
    if (store_lmdb_read_begin(b->st, &txn) != 0) return 0;
    MDB_val k = {strlen(name), (void *)name}, v;
    if (mdb_get(txn, store_dbi(b->st, STORE_DB_CONSUMERS), &k, &v) == 0) {
        json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        at = (int64_t)json_integer_value(json_object_get(rec, "updated_ms"));
        json_decref(rec);
    }
    store_lmdb_read_end(b->st, txn);
    return at;
}

int bl_consumer_open(bus *bb, const bus_consumer_opts *o, const bus_consumer_ops *ops, void *ud,
                     bus_consumer **out, char *err, size_t errlen)
{
    bl *b = bl_of(bb);
    if (!o->name || !*o->name || strlen(o->name) > CONSUMER_NAME_MAX) {
        snprintf(err, errlen, "a consumer name is 1-%d bytes", CONSUMER_NAME_MAX);
        return AH_EINVAL;
    }
    if (strmap_get(&b->deleting, o->name)) {
        snprintf(err, errlen, "consumer %s is being deleted", o->name);
        return AH_EBUSY;
    }
    if (strmap_get(&b->consumers, o->name)) {
        snprintf(err, errlen, "consumer %s is already open", o->name);
        return AH_EINVAL;
    }
    if (!o->npatterns) {
        snprintf(err, errlen, "consumer %s subscribes to nothing", o->name);
        return AH_EINVAL;
    }
    for (size_t i = 0; i < o->npatterns; i++)
        if (!topic_pattern_valid(o->patterns[i])) {
            snprintf(err, errlen, "\"%s\" is not a valid topic pattern", o->patterns[i]);
            return AH_EINVAL;
        }
    bl_consumer *c = calloc(1, sizeof(*c));
    if (!c) return AH_ENOMEM;
    c->base.b = bb;
    c->b = b;
    c->name = strdup(o->name);
    c->patterns = calloc(o->npatterns, sizeof(char *));
    c->npatterns = o->npatterns;
    for (size_t i = 0; c->patterns && i < o->npatterns; i++)
        c->patterns[i] = strdup(o->patterns[i]);
    c->start = o->start;
    c->start_value = o->start_value;
    c->max_in_flight = o->max_in_flight ? o->max_in_flight : b->o.max_in_flight;
    c->ack_timeout_ms = o->ack_timeout_ms ? o->ack_timeout_ms : b->o.ack_timeout_ms;
    c->max_attempts = o->max_attempts ? o->max_attempts : b->o.max_attempts;
    if (!c->max_in_flight) c->max_in_flight = 256;
    if (!c->ack_timeout_ms) c->ack_timeout_ms = 30000;
    if (!c->max_attempts) c->max_attempts = 5;
    c->ops = *ops;
    c->ud = ud;
    if (!c->name || !c->patterns || strmap_put(&b->consumers, c->name, c) < 0) {
        bl_consumer_free(c);
        return AH_ENOMEM;
    }
    c->opened_before_ms = last_opened(b, c->name);
    size_t pos = 0;
    const char *name;
    void *v;
    while (strmap_next(&b->topics, &pos, &name, &v)) {
        bl_topic *t = v;
        if (t->id && matches_any(c, t->name)) bl_consumer_add_topic(c, t, false);
    }
    write_record(c);
    *out = &c->base;
    return 0;
}

const char *bl_consumer_name(const bus_consumer *bc)
{
    return ((const bl_consumer *)bc)->name;
}

json_t *bl_consumer_json(bl_consumer *c)
{
    json_t *pats = json_array();
    for (size_t i = 0; i < c->npatterns; i++)
        json_array_append_new(pats, json_string(c->patterns[i]));
    json_t *tops = json_array();
    json_int_t lag = 0;
    for (size_t i = 0; i < c->ntopics; i++) {
        bl_ctopic *ct = c->topics[i];
        uint64_t head = bl_topic_head(ct->t);
        json_int_t l = (json_int_t)(head > ct->floor ? head - ct->floor : 0);
        lag += l;
        json_array_append_new(tops, json_pack("{s:s,s:I,s:I,s:I,s:i,s:i}", "topic", ct->t->name,
                                              "position", (json_int_t)ct->floor, "head",
                                              (json_int_t)head, "lag", l, "in_flight",
                                              (int)ct->inflight, "retrying", (int)ct->retrying));
    }
    return json_pack("{s:s,s:b,s:o,s:b,s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:o}", "name", c->name, "open",
                     1, "patterns", pats, "attached", c->attached, "in_flight", (int)c->inflight,
                     "max_in_flight", (int)c->max_in_flight, "lag", lag, "delivered",
                     (json_int_t)c->delivered, "acked", (json_int_t)c->acked, "nacked",
                     (json_int_t)c->nacked, "dead_lettered", (json_int_t)c->dead, "topics", tops);
}

json_t *bl_consumers(bus *bb)
{
    bl *b = bl_of(bb);
    json_t *arr = json_array();
    size_t pos = 0;
    const char *name;
    void *v;
    while (strmap_next(&b->consumers, &pos, &name, &v))
        json_array_append_new(arr, bl_consumer_json(v));
    bl_stored_consumers(b, arr);
    return arr;
}

uint64_t bl_min_floor(const bl_topic *t)
{
    uint64_t m = UINT64_MAX;
    for (size_t i = 0; i < t->nsubs; i++)
        if (t->subs[i]->floor < m) m = t->subs[i]->floor;
    return m;
}
