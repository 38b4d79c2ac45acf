/*
 * store_txn.c - the store's typed face: records read, written, scanned and
 * deleted inside a transaction, with LMDB's codes translated here once.
 */
#include "store_lmdb.h"
#include "store_rec.h"

#include <agenthost/plugin.h>

#include <stdlib.h>
#include <string.h>

#define KEY_MAX 511 /* LMDB's default maximum key size */

int store_txn_fail(store_txn *t, int rc)
{
    if (rc && !t->read_only && !t->err) t->err = rc;
    return rc;
}

int store_txn_attach(store_txn *t, const void *owner, void *data, store_txn_flush_fn flush,
                     store_txn_drop_fn drop)
{
    if (t->read_only) return AH_EINVAL;
    if (t->owner) return AH_EEXIST;
    t->owner = owner;
    t->data = data;
    t->flush = flush;
    t->drop = drop;
    return 0;
}

int store_txn_flush_state(store_txn *t)
{
    if (!t->flush) return t->err;
    int rc = t->flush(t, t->data);
    return rc ? rc : t->err;
}

void store_txn_drop_state(store_txn *t)
{
    if (t->drop) t->drop(t->data);
    t->owner = NULL;
    t->data = NULL;
    t->flush = NULL;
    t->drop = NULL;
}

/* The handle of db; false when an older store opened read-only lacks it
 * (reads then see nothing: 0 and 1 are LMDB's own databases). */
static bool dbi_of(store_txn *t, store_db db, MDB_dbi *out)
{
    *out = store_dbi(t->st, db);
    return *out > 1;
}

static bool key_ok(size_t klen)
{
    return klen > 0 && klen <= KEY_MAX;
}

int store_get(store_txn *t, store_db db, const void *key, size_t klen, store_val *out)
{
    MDB_dbi dbi;
    if (!key_ok(klen) || !dbi_of(t, db, &dbi)) return AH_ENOTFOUND;
    MDB_val k = {klen, (void *)key}, v;
    int rc = mdb_get(t->txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return AH_ENOTFOUND;
    if (rc) return AH_EIO;
    out->data = v.mv_data;
    out->len = v.mv_size;
    return 0;
}

static int put_flags(store_txn *t, store_db db, const void *key, size_t klen, const void *val,
                     size_t vlen, unsigned flags)
{
    if (t->read_only) return AH_EINVAL;
    if (t->err) return t->err;
    if (!key_ok(klen)) return AH_ETOOBIG;
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    int rc = mdb_put(t->txn, store_dbi(t->st, db), &k, &v, flags);
    if (rc == MDB_KEYEXIST) return AH_EEXIST;
    return store_txn_fail(t, rc);
}

int store_put(store_txn *t, store_db db, const void *key, size_t klen, const void *val, size_t vlen)
{
    return put_flags(t, db, key, klen, val, vlen, 0);
}

int store_insert(store_txn *t, store_db db, const void *key, size_t klen, const void *val,
                 size_t vlen)
{
    return put_flags(t, db, key, klen, val, vlen, MDB_NOOVERWRITE);
}

int store_del(store_txn *t, store_db db, const void *key, size_t klen)
{
    if (t->read_only) return AH_EINVAL;
    if (t->err) return t->err;
    if (!key_ok(klen)) return AH_ENOTFOUND;
    MDB_val k = {klen, (void *)key};
    int rc = mdb_del(t->txn, store_dbi(t->st, db), &k, NULL);
    if (rc == MDB_NOTFOUND) return AH_ENOTFOUND;
    return store_txn_fail(t, rc);
}

int store_count(store_txn *t, store_db db, size_t *n)
{
    MDB_stat ms;
    MDB_dbi dbi;
    *n = 0;
    if (!dbi_of(t, db, &dbi)) return 0;
    if (mdb_stat(t->txn, dbi, &ms) != 0) return AH_EIO;
    *n = ms.ms_entries;
    return 0;
}

/* ---- revisions ------------------------------------------------------------ */

/* A revisioned record is a checksummed one (store_rec.h) whose payload is
 * the revision (8 bytes, big-endian) then the value. */

int store_rev_decode(store_val key, store_val raw, store_val *out, uint64_t *rev)
{
    MDB_val k = {key.len, (void *)key.data}, v = {raw.len, (void *)raw.data}, p;
    if (store_rec_verify(&k, &v, &p) != 1 || p.mv_size < 8) return AH_EIO;
    *rev = store_rd64(p.mv_data);
    out->data = (const uint8_t *)p.mv_data + 8;
    out->len = p.mv_size - 8;
    return 0;
}

int store_get_rev(store_txn *t, store_db db, const void *key, size_t klen, store_val *out,
                  uint64_t *rev)
{
    MDB_dbi dbi;
    if (!key_ok(klen) || !dbi_of(t, db, &dbi)) return AH_ENOTFOUND;
    MDB_val k = {klen, (void *)key}, p;
    int rc = store_rec_get(t->txn, t->st, db, &k, &p); /* a damaged one is logged there */
    if (rc) return rc;
    if (p.mv_size < 8) return AH_EIO;
    *rev = store_rd64(p.mv_data);
    out->data = (const uint8_t *)p.mv_data + 8;
    out->len = p.mv_size - 8;
    return 0;
}

int store_put_rev(store_txn *t, store_db db, const void *key, size_t klen, const void *val,
                  size_t vlen, uint64_t expect, uint64_t *rev)
{
    if (t->read_only) return AH_EINVAL;
    if (t->err) return t->err;
    if (!key_ok(klen)) return AH_ETOOBIG;
    store_val cur;
    uint64_t have = 0;
    int rc = store_get_rev(t, db, key, klen, &cur, &have);
    if (rc && rc != AH_ENOTFOUND) return rc;
    if (expect != STORE_REV_ANY) {
        if (rc == AH_ENOTFOUND && expect > 0) return AH_ENOTFOUND;
        if (rc == 0 && expect == 0) return AH_EEXIST;
        if (rc == 0 && have != expect) return AH_ECONFLICT;
    }
    uint8_t *payload = malloc(8 + vlen);
    if (!payload) return AH_ENOMEM;
    store_be64(payload, have + 1);
    if (vlen) memcpy(payload + 8, val, vlen);
    MDB_val k = {klen, (void *)key};
    rc = store_rec_put(t->txn, t->st, db, &k, payload, 8 + vlen, 0);
    free(payload);
    if (rc) return store_txn_fail(t, rc);
    if (rev) *rev = have + 1;
    return 0;
}

/* ---- scans ---------------------------------------------------------------- */

static bool has_prefix(const MDB_val *k, const void *prefix, size_t plen)
{
    return k->mv_size >= plen && (plen == 0 || !memcmp(k->mv_data, prefix, plen));
}

/* Position c on the first record of the scan: 0 or MDB_NOTFOUND. */
static int scan_first(MDB_cursor *c, MDB_val *k, MDB_val *v, const void *prefix, size_t plen,
                      const void *after, size_t alen, bool rev)
{
    int rc;
    if (!rev) {
        if (alen && plen && memcmp(after, prefix, alen < plen ? alen : plen) < 0)
            alen = 0; /* a page mark before the range: from its start */
        *k = alen ? (MDB_val){alen, (void *)after} : (MDB_val){plen, (void *)prefix};
        rc = plen || alen ? mdb_cursor_get(c, k, v, MDB_SET_RANGE)
                          : mdb_cursor_get(c, k, v, MDB_FIRST);
        if (rc == 0 && alen && k->mv_size == alen && !memcmp(k->mv_data, after, alen))
            rc = mdb_cursor_get(c, k, v, MDB_NEXT); /* strictly after */
        return rc;
    }
    if (alen) {
        /* The last key before `after`: land at or past it, then step back. */
        *k = (MDB_val){alen, (void *)after};
        rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
        return rc == MDB_NOTFOUND ? mdb_cursor_get(c, k, v, MDB_LAST)
                                  : mdb_cursor_get(c, k, v, MDB_PREV);
    }
    if (!plen) return mdb_cursor_get(c, k, v, MDB_LAST);
    /* The last key with the prefix: the first key past every such key
     * (the prefix with its last non-0xff byte incremented), one back. */
    uint8_t up[KEY_MAX];
    size_t n = plen;
    memcpy(up, prefix, plen);
    while (n > 0 && up[n - 1] == 0xff)
        n--;
    if (n == 0) return mdb_cursor_get(c, k, v, MDB_LAST);
    up[n - 1]++;
    *k = (MDB_val){n, up};
    rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
    return rc == MDB_NOTFOUND ? mdb_cursor_get(c, k, v, MDB_LAST)
                              : mdb_cursor_get(c, k, v, MDB_PREV);
}

int store_scan(store_txn *t, store_db db, const void *prefix, size_t plen, const void *after,
               size_t alen, unsigned flags, store_scan_fn fn, void *ud)
{
    if (plen > KEY_MAX || alen > KEY_MAX) return AH_EINVAL;
    bool rev = flags & STORE_SCAN_REVERSE;
    MDB_cursor *c;
    MDB_dbi dbi;
    if (!dbi_of(t, db, &dbi)) return 0;
    if (mdb_cursor_open(t->txn, dbi, &c) != 0) return AH_EIO;
    MDB_val k, v;
    int rc = scan_first(c, &k, &v, prefix, plen, after, alen, rev), out = 0;
    for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, rev ? MDB_PREV : MDB_NEXT)) {
        if (!has_prefix(&k, prefix, plen)) {
            /* Backwards from past the prefix's range: skip down to it. */
            if (rev && plen && memcmp(k.mv_data, prefix, k.mv_size < plen ? k.mv_size : plen) > 0)
                continue;
            break;
        }
        out = fn(ud, (store_val){k.mv_data, k.mv_size}, (store_val){v.mv_data, v.mv_size});
        if (out) break;
    }
    mdb_cursor_close(c);
    if (out < 0) return out;
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : AH_EIO;
}

int store_del_prefix(store_txn *t, store_db db, const void *prefix, size_t plen, size_t *n)
{
    if (n) *n = 0;
    if (t->read_only) return AH_EINVAL;
    if (t->err) return t->err;
    if (plen > KEY_MAX) return AH_EINVAL;
    MDB_cursor *c;
    int rc = mdb_cursor_open(t->txn, store_dbi(t->st, db), &c);
    if (rc) return store_txn_fail(t, rc);
    MDB_val k, v;
    for (;;) {
        /* Seek again after each delete rather than trust where it left us. */
        k = (MDB_val){plen, (void *)prefix};
        rc = plen ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(c, &k, &v, MDB_FIRST);
        if (rc || !has_prefix(&k, prefix, plen)) break;
        if ((rc = mdb_cursor_del(c, 0)) != 0) break;
        if (n) (*n)++;
    }
    mdb_cursor_close(c);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_txn_fail(t, rc);
}
