/* bl_dlq.c - dead letters: moving an event that failed max_attempts times
 * to "$dlq.<topic>" (with its attempts and last error, in the same commit
 * as the consumer's "settled" record), and requeueing or dropping one. */
#include "core/topic.h"
#include "core/util.h"
#include "bl.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DLQ_PREFIX "$dlq."

size_t bl_settled_record(bl_ctopic *ct, uint64_t seq, uint8_t *key, size_t keycap, uint8_t *val);
void bl_dead_letter_done(bl_ctopic *ct, uint64_t seq, int status);

typedef struct dead_arg {
    store *st;
    bl_ctopic *ct;
    uint64_t seq;
    uint8_t key[160];
    size_t klen;
    uint8_t val[5];
} dead_arg;

static int apply_settled(store_txn *stx, void *arg)
{
    MDB_txn *txn = store_lmdb_txn(stx);
    dead_arg *a = arg;
    MDB_val k = {a->klen, a->key}, v = {5, a->val};
    return mdb_put(txn, store_dbi(a->st, STORE_DB_PENDING), &k, &v, 0);
}

static void done_settled(int status, void *arg)
{
    dead_arg *a = arg;
    if (!a->ct->c->b->closing) bl_dead_letter_done(a->ct, a->seq, status);
    free(a);
}

int bl_dead_letter(bl_ctopic *ct, uint64_t seq, const char *error)
{
    bl *b = ct->c->b;
    MDB_txn *txn;
    if (store_lmdb_read_begin(b->st, &txn) != 0) return AH_EIO;
    uint8_t ek[12];
    bl_event_key(ek, ct->t->id, seq);
    MDB_val k = {12, ek}, v;
    bl_event e;
    int rc = mdb_get(txn, store_dbi(b->st, STORE_DB_EVENTS), &k, &v);
    if (rc == MDB_NOTFOUND) {
        store_lmdb_read_end(b->st, txn);
        bl_dead_letter_done(ct, seq, 0); /* gone already: nothing to move */
        return 0;
    }
    if (rc || bl_event_read(&k, &v, ct->t->name, &e) < 0) {
        store_lmdb_read_end(b->st, txn);
        return AH_EIO; /* damaged: it stays, and the move is tried again later */
    }
    json_t *headers = e.headers_len ? json_loadb(e.headers, e.headers_len, 0, NULL) : NULL;
    json_t *body = json_loadb(e.body, e.body_len, JSON_DECODE_ANY, NULL);
    char *key = e.key ? strndup(e.key, e.key_len) : NULL;
    uint8_t id[1][16];
    memcpy(id[0], e.id, 16);
    store_lmdb_read_end(b->st, txn);
    if (!headers) headers = json_object();
    char num[32], t[40];
    snprintf(num, sizeof(num), "%llu", (unsigned long long)seq);
    json_object_set_new(headers, "x-dlq-topic", json_string(ct->t->name));
    json_object_set_new(headers, "x-dlq-offset", json_string(num));
    slot *s = bl_slot(ct, seq);
    snprintf(num, sizeof(num), "%u", s ? s->attempts : 0);
    json_object_set_new(headers, "x-dlq-attempts", json_string(num));
    json_t *err = json_string(error ? error : "failed");
    json_object_set_new(headers, "x-dlq-error", err ? err : json_string("(not UTF-8)"));
    json_object_set_new(headers, "x-dlq-consumer", json_string(ct->c->name));
    ah_rfc3339_ms(bl_now_ms(b), t, sizeof(t));
    json_object_set_new(headers, "x-dlq-at", json_string(t));

    char dlq[TOPIC_MAX + 8];
    snprintf(dlq, sizeof(dlq), DLQ_PREFIX "%s", ct->t->name);
    bus_msg m = {.topic = dlq, .key = key, .headers = headers, .body = body};
    dead_arg *a = calloc(1, sizeof(*a));
    char perr[256];
    rc = AH_ENOMEM;
    if (a) {
        a->st = b->st;
        a->ct = ct;
        a->seq = seq;
        a->klen = bl_settled_record(ct, seq, a->key, sizeof(a->key), a->val);
        bl_extra x = {.apply = apply_settled, .done = done_settled, .arg = a};
        rc = bl_publish_ex(b, &m, 1, true, (const uint8_t(*)[16])id, &x, NULL, NULL, perr,
                           sizeof(perr));
        if (rc) free(a);
    }
    json_decref(headers);
    json_decref(body);
    free(key);
    return rc;
}

/* ---- requeue and drop -------------------------------------------------------- */

/* Find a dead letter by event id: its sequence and a copy of its record. */
static int find_dead(bl *b, bl_topic *dt, const uint8_t id[16], uint64_t *seq, uint8_t **rec,
                     size_t *len)
{
    MDB_txn *txn;
    if (store_lmdb_read_begin(b->st, &txn) != 0) return AH_EIO;
    MDB_cursor *cur;
    int found = AH_ENOTFOUND;
    bool damaged = false;
    if (mdb_cursor_open(txn, store_dbi(b->st, STORE_DB_EVENTS), &cur) == 0) {
        uint8_t ek[12];
        bl_event_key(ek, dt->id, 0);
        MDB_val k = {12, ek}, v;
        for (int r = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); r == 0;
             r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (k.mv_size != 12 || store_rd32(k.mv_data) != dt->id) break;
            bl_event e;
            if (bl_event_read(&k, &v, dt->name, &e) < 0) {
                damaged = true; /* it may be the one sought: say so if none is found */
                continue;
            }
            if (!memcmp(e.id, id, 16)) {
                *seq = store_rd64((const uint8_t *)k.mv_data + 4);
                *rec = malloc(v.mv_size);
                if (*rec) memcpy(*rec, v.mv_data, v.mv_size);
                *len = v.mv_size;
                found = *rec ? 0 : AH_ENOMEM;
                break;
            }
        }
        mdb_cursor_close(cur);
    }
    store_lmdb_read_end(b->st, txn);
    return found == AH_ENOTFOUND && damaged ? AH_EIO : found;
}

typedef struct drop_arg {
    bl *b;
    char topic[TOPIC_MAX + 8];
    uint64_t seq;
    uint8_t *rec;
    size_t len;
    bus_done_cb cb;
    void *ud;
} drop_arg;

/* Delete one event and keep its topic record right (count, bytes, first). */
static int apply_drop(store_txn *stx, void *arg)
{
    MDB_txn *txn = store_lmdb_txn(stx);
    drop_arg *a = arg;
    store *st = a->b->st;
    /* Through the transaction's topic records (bl.h): a dead letter
     * published to this topic earlier in the batch changed it there. */
    topic_rec *tr;
    int rc = bl_txn_topic(stx, a->topic, false, 0, &tr);
    if (rc) return rc;
    topic_rec r = *tr;
    uint8_t ek[12];
    bl_event_key(ek, r.id, a->seq);
    MDB_val k = {12, ek};
    rc = mdb_del(txn, store_dbi(st, STORE_DB_EVENTS), &k, NULL);
    if (rc) return rc == MDB_NOTFOUND ? AH_ENOTFOUND : rc;
    bl_event e;
    if (bl_event_decode(a->rec, a->len, &e) == 0 && e.key) {
        uint8_t kk[4 + BUS_KEY_MAX + 1 + 8];
        store_be32(kk, r.id);
        memcpy(kk + 4, e.key, e.key_len);
        kk[4 + e.key_len] = 0;
        store_be64(kk + 5 + e.key_len, a->seq);
        MDB_val ik = {13 + e.key_len, kk};
        mdb_del(txn, store_dbi(st, STORE_DB_KEYS), &ik, NULL);
    }
    r.count--;
    r.bytes -= a->len < r.bytes ? a->len : r.bytes;
    if (a->seq == r.first_seq) {
        MDB_cursor *cur;
        r.first_seq = r.next_seq;
        if (mdb_cursor_open(txn, store_dbi(st, STORE_DB_EVENTS), &cur) == 0) {
            bl_event_key(ek, r.id, a->seq + 1);
            MDB_val ck = {12, ek}, cv;
            if (mdb_cursor_get(cur, &ck, &cv, MDB_SET_RANGE) == 0 && ck.mv_size == 12 &&
                store_rd32(ck.mv_data) == r.id)
                r.first_seq = store_rd64((const uint8_t *)ck.mv_data + 4);
            mdb_cursor_close(cur);
        }
    }
    *tr = r; /* written back before the commit */
    return 0;
}

static void refresh(bl *b, const char *topic)
{
    bl_topic *t = bl_topic_get(b, topic, false);
    MDB_txn *txn;
    if (!t || store_lmdb_read_begin(b->st, &txn) != 0) return;
    MDB_val k = {strlen(topic), (void *)topic}, v;
    topic_rec r;
    if (mdb_get(txn, store_dbi(b->st, STORE_DB_TOPICS), &k, &v) == 0 &&
        bl_topic_rec_decode(v.mv_data, v.mv_size, &r) == 0)
        t->rec = r;
    store_lmdb_read_end(b->st, txn);
}

static void done_drop(int status, void *arg)
{
    drop_arg *a = arg;
    if (status == 0) refresh(a->b, a->topic);
    if (a->cb) a->cb(a->ud, status);
    free(a->rec);
    free(a);
}

static drop_arg *prepare(bl *b, const char *topic, const char *event_id, bus_done_cb cb, void *ud,
                         char *err, size_t errlen, int *rc)
{
    char dlq[TOPIC_MAX + 8];
    uint8_t id[16];
    if (bl_id_parse(event_id, id) < 0) {
        snprintf(err, errlen, "an event id is 32 hex digits");
        *rc = AH_EINVAL;
        return NULL;
    }
    snprintf(dlq, sizeof(dlq), DLQ_PREFIX "%s", topic);
    bl_topic *dt = bl_topic_get(b, dlq, false);
    drop_arg *a = calloc(1, sizeof(*a));
    if (!a) {
        *rc = AH_ENOMEM;
        return NULL;
    }
    *rc = dt && dt->id ? find_dead(b, dt, id, &a->seq, &a->rec, &a->len) : AH_ENOTFOUND;
    if (*rc == AH_EIO) {
        snprintf(err, errlen,
                 "no intact dead letter %s for topic %s: some of its dead letters are damaged "
                 "in the store; run `agenthost check`",
                 event_id, topic);
        free(a);
        return NULL;
    }
    if (*rc) {
        snprintf(err, errlen, "no dead letter %s for topic %s", event_id, topic);
        free(a);
        return NULL;
    }
    a->b = b;
    a->cb = cb;
    a->ud = ud;
    snprintf(a->topic, sizeof(a->topic), "%s", dlq);
    return a;
}

int bl_dlq_drop(bus *bb, const char *topic, const char *event_id, bus_done_cb cb, void *ud,
                char *err, size_t errlen)
{
    bl *b = bl_of(bb);
    int rc;
    drop_arg *a = prepare(b, topic, event_id, cb, ud, err, errlen, &rc);
    if (!a) return rc;
    rc = store_write(b->st, apply_drop, done_drop, a);
    if (rc) {
        snprintf(err, errlen, "the store cannot take writes");
        free(a->rec);
        free(a);
    }
    return rc;
}

int bl_dlq_requeue(bus *bb, const char *topic, const char *event_id, bus_done_cb cb, void *ud,
                   char *err, size_t errlen)
{
    bl *b = bl_of(bb);
    int rc;
    drop_arg *a = prepare(b, topic, event_id, cb, ud, err, errlen, &rc);
    if (!a) return rc;
    bl_event e;
    if (bl_event_decode(a->rec, a->len, &e) < 0) {
        snprintf(err, errlen, "the dead letter is unreadable");
        free(a->rec);
        free(a);
        return AH_EIO;
    }
    json_t *headers = e.headers_len ? json_loadb(e.headers, e.headers_len, 0, NULL) : NULL;
    json_t *body = json_loadb(e.body, e.body_len, JSON_DECODE_ANY, NULL);
    char *key = e.key ? strndup(e.key, e.key_len) : NULL;
    /* The original goes back without the dead-letter annotations. */
    const char *strip[] = {"x-dlq-topic", "x-dlq-offset",   "x-dlq-attempts",
                           "x-dlq-error", "x-dlq-consumer", "x-dlq-at"};
    for (size_t i = 0; headers && i < sizeof(strip) / sizeof(strip[0]); i++)
        json_object_del(headers, strip[i]);
    uint8_t id[1][16];
    memcpy(id[0], e.id, 16);
    bus_msg m = {.topic = topic, .key = key, .headers = headers, .body = body};
    /* The dead letter's removal commits with the publish (the extra). */
    bl_extra x = {.apply = apply_drop, .done = done_drop, .arg = a};
    rc = bl_publish_ex(b, &m, 1, false, (const uint8_t(*)[16])id, &x, NULL, NULL, err, errlen);
    json_decref(headers);
    json_decref(body);
    free(key);
    if (rc) {
        free(a->rec);
        free(a);
    }
    return rc;
}
