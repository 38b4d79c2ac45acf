/* bl_txn.c - topic records inside one write transaction: each read from
 * the store once and written back once, just before the commit, however
 * many writes of the batch change it (issue 21; docs/benchmarks.md). */
#include "core/topic.h"
#include "bl.h"

#include <agenthost/plugin.h>

#include <stdlib.h>
#include <string.h>

#define META_NEXT_TOPIC "bus.next_topic_id"
#define CACHE_MAX 64
#define NAME_MAX_LEN (TOPIC_MAX + 7) /* "$dlq." and a topic */

typedef struct cached {
    char name[NAME_MAX_LEN + 1];
    size_t len;
    uint32_t hash;
    bool is_new;                    /* no record on disk before this transaction */
    uint8_t orig[BL_TOPIC_REC_LEN]; /* the record as read: written back only if changed */
    topic_rec rec;
} cached;

typedef struct topic_cache {
    size_t n, last;
    uint32_t newest; /* the highest topic id given out; 0 until read */
    cached e[CACHE_MAX];
} topic_cache;

static const char owner; /* this file's mark on a transaction */

static uint32_t hash_of(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

/* Write back every record that is new or changed; the cache stays. */
static int write_back(store_txn *stx, void *data)
{
    topic_cache *c = data;
    MDB_txn *txn = store_lmdb_txn(stx);
    for (size_t i = 0; i < c->n; i++) {
        cached *e = &c->e[i];
        uint8_t enc[BL_TOPIC_REC_LEN];
        bl_topic_rec_encode(&e->rec, enc);
        if (!e->is_new && !memcmp(enc, e->orig, sizeof(enc))) continue;
        MDB_val k = {e->len, e->name}, v = {BL_TOPIC_REC_LEN, enc};
        int rc = mdb_put(txn, store_dbi(stx->st, STORE_DB_TOPICS), &k, &v, 0);
        if (rc) return store_txn_fail(stx, rc);
        memcpy(e->orig, enc, sizeof(enc));
        e->is_new = false;
    }
    return 0;
}

static void drop(void *data)
{
    free(data);
}

static int next_topic_id(MDB_txn *txn, store *st, uint32_t *id)
{
    MDB_val k = {strlen(META_NEXT_TOPIC), META_NEXT_TOPIC}, v;
    uint32_t next = 1;
    int rc = mdb_get(txn, store_dbi(st, STORE_DB_META), &k, &v);
    if (rc == 0 && v.mv_size == 4)
        next = store_rd32(v.mv_data);
    else if (rc && rc != MDB_NOTFOUND)
        return rc;
    uint8_t buf[4];
    store_be32(buf, next + 1);
    MDB_val nv = {4, buf};
    rc = mdb_put(txn, store_dbi(st, STORE_DB_META), &k, &nv, 0);
    *id = next;
    return rc;
}

int bl_txn_topic(store_txn *stx, const char *name, bool create, int64_t now_ms, topic_rec **out)
{
    size_t len = strlen(name);
    if (len == 0 || len > NAME_MAX_LEN) return AH_ENOTFOUND;
    topic_cache *c = store_txn_state(stx, &owner);
    if (!c) {
        if (!(c = malloc(sizeof(*c)))) return AH_ENOMEM;
        c->n = c->last = 0;
        c->newest = 0;
        int rc = store_txn_attach(stx, &owner, c, write_back, drop);
        if (rc) {
            free(c);
            return rc;
        }
    }
    uint32_t h = hash_of(name, len);
    if (c->last < c->n) {
        cached *e = &c->e[c->last];
        if (e->hash == h && e->len == len && !memcmp(e->name, name, len)) {
            *out = &e->rec;
            return 0;
        }
    }
    for (size_t i = 0; i < c->n; i++) {
        cached *e = &c->e[i];
        if (e->hash == h && e->len == len && !memcmp(e->name, name, len)) {
            c->last = i;
            *out = &e->rec;
            return 0;
        }
    }
    if (c->n == CACHE_MAX) {
        /* Full: write everything back and start again (a pointer handed
         * out earlier is not used past the next call: bl.h). */
        int rc = write_back(stx, c);
        if (rc) return rc;
        c->n = 0;
    }
    store *st = stx->st;
    MDB_txn *txn = store_lmdb_txn(stx);
    cached *e = &c->e[c->n];
    MDB_val k = {len, (void *)name}, v;
    int rc = mdb_get(txn, store_dbi(st, STORE_DB_TOPICS), &k, &v);
    if (rc == 0) {
        if (bl_topic_rec_decode(v.mv_data, v.mv_size, &e->rec) < 0) return MDB_CORRUPTED;
        bl_topic_rec_encode(&e->rec, e->orig);
        e->is_new = false;
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    } else if (!create) {
        return AH_ENOTFOUND;
    } else {
        memset(&e->rec, 0, sizeof(e->rec));
        e->rec.first_seq = e->rec.next_seq = 1;
        e->rec.created_ms = now_ms;
        if ((rc = next_topic_id(txn, st, &e->rec.id)) != 0) return rc;
        c->newest = e->rec.id;
        e->is_new = true;
    }
    memcpy(e->name, name, len);
    e->name[len] = 0;
    e->len = len;
    e->hash = h;
    c->last = c->n++;
    *out = &e->rec;
    return 0;
}

bool bl_txn_topic_is_newest(store_txn *stx, uint32_t id)
{
    topic_cache *c = store_txn_state(stx, &owner);
    if (!c) return false;
    if (!c->newest) {
        MDB_val k = {strlen(META_NEXT_TOPIC), META_NEXT_TOPIC}, v;
        if (mdb_get(store_lmdb_txn(stx), store_dbi(stx->st, STORE_DB_META), &k, &v) != 0 ||
            v.mv_size != 4)
            return false;
        c->newest = store_rd32(v.mv_data) - 1;
    }
    return id == c->newest;
}
