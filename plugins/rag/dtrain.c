/*
 * Training a base's IVF in slices (disk.h, ADR 0058): the sandbox gives the
 * plugin no thread, so k-means runs on its loop a bounded amount at a time
 * while searches go on (exact, or through the IVF trained before). Phases:
 * a sample of the base's vectors read in key order, spherical k-means on it
 * a few vectors per slice, every vector's nearest centroid noted by id, and
 * the switch: one write transaction putting the centroids and moving every
 * vector into its list (vectors added since their scan listed under their
 * nearest centroid, vectors dropped since absent; vec keeps the list's
 * number, the vector stored once). Until that commits the index on disk is
 * the one before: a crash or a restart loses only the work in memory.
 */
#include "disk_priv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { T_SAMPLE, T_KMEANS, T_LIST, T_SWITCH };

struct rag_train {
    char kb[RAG_KEY_MAX];
    int phase;
    size_t dim, nlist, m; /* lists; sample size wanted */
    unsigned iters, it;   /* k-means rounds: wanted, done */
    uint64_t rng;
    size_t stride, seen;   /* the sample: every stride-th vector seen */
    uint32_t next;         /* the next vector id to read */
    rag_vecs smp;          /* the sample, unit vectors */
    float *cent, *sum;     /* nlist centroids; a round's sums */
    size_t *count, i;      /* a round's counts; its position in the sample */
    uint32_t *aid, *alist; /* ids (ascending) and their nearest list */
    size_t an, acap;
};

void rag_train_free(rag_train *t)
{
    if (!t) return;
    rag_vecs_free(&t->smp);
    free(t->cent);
    free(t->sum);
    free(t->count);
    free(t->aid);
    free(t->alist);
    free(t);
}

void rag_disk_on_train(rag_disk *d, void (*fn)(void *ud), void *ud)
{
    d->on_train = fn;
    d->on_train_ud = ud;
}

int rag_disk_training(const rag_disk *d, const char *kb)
{
    return d->train && (!kb || !strcmp(d->train->kb, kb));
}

int rag_disk_train_begin(rag_disk *d, const char *kb, const rag_ann_opts *o)
{
    if (d->train) return 1;
    rag_disk_stats st;
    if (strlen(kb) >= RAG_KEY_MAX || rag_disk_stats_get(d, kb, &st) < 0) return -1;
    if (!st.vecs || !st.dim) return -1;
    rag_train *t = calloc(1, sizeof *t);
    if (!t) return -1;
    strcpy(t->kb, kb);
    size_t nlist = o && o->nlist ? o->nlist : (size_t)sqrt((double)st.vecs);
    if (!(o && o->nlist)) nlist = nlist < 16 ? 16 : nlist > 4096 ? 4096 : nlist;
    if (nlist > st.vecs) nlist = (size_t)st.vecs;
    size_t m = o && o->train_max ? o->train_max : 64 * nlist;
    t->dim = st.dim;
    t->nlist = nlist;
    t->m = m < nlist ? nlist : m;
    t->iters = o && o->iters ? o->iters : 8;
    t->rng = o && o->seed ? o->seed : 0x9E3779B97F4A7C15ull;
    t->stride = st.vecs > t->m ? (size_t)((st.vecs + t->m - 1) / t->m) : 1;
    t->smp.dim = st.dim;
    d->train = t;
    return 0;
}

/* Reads up to max vectors of the base from id t->next on, calling fn with
 * each; *end set when the base has no more. */
static int each_vec(rag_disk *d, rag_train *t, size_t max, int *end,
                    int (*fn)(rag_train *t, uint32_t id, const float *v))
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    float *buf = malloc(t->dim * sizeof *buf);
    if (!buf || rag_disk_fail(d, mdb_txn_begin(d->env, NULL, MDB_RDONLY, &txn))) {
        free(buf);
        return -1;
    }
    int rc = mdb_cursor_open(txn, d->vec, &cur);
    rag_key p;
    rag_key_kb(&p, t->kb);
    rag_key from = p;
    rag_key_id(&from, t->next);
    MDB_val key = {from.n, from.b}, v;
    if (!rc) rc = mdb_cursor_get(cur, &key, &v, MDB_SET_RANGE);
    size_t n = 0;
    *end = 0;
    for (; !rc && n < max; rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT), n++) {
        if (!rag_key_in_base(&p, &key) || key.mv_size != p.n + 4) {
            *end = 1;
            break;
        }
        uint32_t id = rag_be32((const char *)key.mv_data + p.n), list;
        t->next = id + 1;
        if (t->phase == T_SAMPLE && (t->seen++ % t->stride || t->smp.n >= t->m)) continue;
        int got = rag_vec_read(d, txn, t->kb, id, &v, t->dim, buf, &list);
        if (got < 0) {
            rc = d->rc;
            break;
        }
        if (got && fn(t, id, buf) < 0) {
            rc = ENOMEM;
            break;
        }
    }
    if (rc == MDB_NOTFOUND) *end = 1, rc = 0;
    if (cur) mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    free(buf);
    return rag_disk_fail(d, rc);
}

static int sample_one(rag_train *t, uint32_t id, const float *v)
{
    (void)id; /* every stride-th: each_vec skips the others unread */
    return rag_vecs_add(&t->smp, v) < 0 ? -1 : 0;
}

static int assign_one(rag_train *t, uint32_t id, const float *v)
{
    if (t->an == t->acap) {
        size_t cap = t->acap ? t->acap * 2 : 1024;
        uint32_t *a = realloc(t->aid, cap * sizeof *a);
        if (!a) return -1;
        t->aid = a;
        uint32_t *l = realloc(t->alist, cap * sizeof *l);
        if (!l) return -1;
        t->alist = l;
        t->acap = cap;
    }
    t->aid[t->an] = id;
    t->alist[t->an++] = rag_ivf_nearest(t->cent, t->nlist, t->dim, v);
    return 0;
}

/* The first nlist of a shuffled sample are the first centroids. */
static int kmeans_start(rag_train *t)
{
    size_t n = t->smp.n, d = t->dim;
    if (t->nlist > n) t->nlist = n;
    uint32_t *perm = malloc(n * sizeof *perm);
    t->cent = malloc(t->nlist * d * sizeof *t->cent);
    t->sum = calloc(t->nlist * d, sizeof *t->sum);
    t->count = calloc(t->nlist, sizeof *t->count);
    if (!perm || !t->cent || !t->sum || !t->count) {
        free(perm);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    for (size_t i = 0; i < t->nlist; i++) {
        size_t j = i + (size_t)(rag_rand_next(&t->rng) % (n - i));
        uint32_t x = perm[i];
        perm[i] = perm[j];
        perm[j] = x;
        memcpy(t->cent + i * d, t->smp.v + (size_t)perm[i] * d, d * sizeof(float));
    }
    free(perm);
    t->i = 0;
    t->it = 0;
    return 0;
}

/* Up to max sample vectors of the current round; the round's end moves
 * the centroids (an empty list starts again from a random vector). */
static void kmeans_some(rag_train *t, size_t max)
{
    size_t d = t->dim;
    for (size_t k = 0; k < max && t->i < t->smp.n; k++, t->i++) {
        const float *v = t->smp.v + t->i * d;
        uint32_t c = rag_ivf_nearest(t->cent, t->nlist, d, v);
        float *s = t->sum + (size_t)c * d;
        for (size_t j = 0; j < d; j++)
            s[j] += v[j];
        t->count[c]++;
    }
    if (t->i < t->smp.n) return;
    for (size_t c = 0; c < t->nlist; c++) {
        float *ce = t->cent + c * d;
        if (t->count[c]) {
            memcpy(ce, t->sum + c * d, d * sizeof(float));
            rag_normalise(ce, d);
        } else {
            size_t r = (size_t)(rag_rand_next(&t->rng) % t->smp.n);
            memcpy(ce, t->smp.v + r * d, d * sizeof(float));
        }
    }
    memset(t->sum, 0, t->nlist * d * sizeof *t->sum);
    memset(t->count, 0, t->nlist * sizeof *t->count);
    t->i = 0;
    t->it++;
}

/* The list noted for id, or the nearest centroid's (a vector added since
 * the scan passed it). */
static uint32_t list_of(const rag_train *t, uint32_t id, const float *v)
{
    size_t lo = 0, hi = t->an;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->aid[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < t->an && t->aid[lo] == id) return t->alist[lo];
    return rag_ivf_nearest(t->cent, t->nlist, t->dim, v);
}

/* Every vector of the base into its new list, moved out of vec or out of
 * its old list (keys per id: no other vector's entry is touched), vec
 * left holding the list's number: each vector stored once (ADR 0058). A
 * vector moved out of vec is deleted there (LMDB merges the emptied pages;
 * shrinking it in place would leave them a tenth full) and its number put
 * back after the scan, densely. */
static int list_all(rag_disk *d, MDB_txn *txn, const rag_train *t)
{
    rag_key p;
    rag_key_kb(&p, t->kb);
    MDB_cursor *cur;
    float *buf = malloc(t->dim * sizeof *buf);
    uint32_t *mid = NULL, *ml = NULL; /* moved out of vec: ids and lists */
    size_t mn = 0, mcap = 0;
    if (!buf || rag_disk_fail(d, mdb_cursor_open(txn, d->vec, &cur))) {
        free(buf);
        return -1;
    }
    MDB_val key = {p.n, p.b}, v;
    int rc = mdb_cursor_get(cur, &key, &v, MDB_SET_RANGE);
    while (!rc && rag_key_in_base(&p, &key)) {
        if (key.mv_size != p.n + 4) {
            rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT);
            continue;
        }
        uint32_t id = rag_be32((const char *)key.mv_data + p.n), old;
        int got = rag_vec_read(d, txn, t->kb, id, &v, t->dim, buf, &old);
        if (got < 0) {
            rc = d->rc;
            break;
        }
        uint32_t l = got ? list_of(t, id, buf) : old;
        rag_key lk = p, vk = p;
        rag_key_id(&vk, id); /* a copy: the cursor's key points into a page the writes change */
        MDB_val vkey = {vk.n, vk.b}, nv = {sizeof l, &l};
        if (l == old) { /* already there (same list number, same vector) */
            rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT);
            continue;
        }
        rag_key_add(&lk, "L", 1);
        if (old != UINT32_MAX) {
            rag_key_id(&lk, old);
            rag_key_id(&lk, id);
            MDB_val okey = {lk.n, lk.b};
            if ((rc = mdb_del(txn, d->ivf, &okey, NULL))) break;
            lk = p;
            rag_key_add(&lk, "L", 1);
        }
        rag_key_id(&lk, l);
        rag_key_id(&lk, id);
        MDB_val lkey = {lk.n, lk.b}, lv = {t->dim * sizeof(float), buf};
        if ((rc = mdb_put(txn, d->ivf, &lkey, &lv, 0))) break;
        if (old != UINT32_MAX) { /* a list number already: the same size, in place */
            if ((rc = mdb_cursor_put(cur, &vkey, &nv, MDB_CURRENT))) break;
            rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT);
            continue;
        }
        if (mn == mcap) {
            size_t cap = mcap ? mcap * 2 : 1024;
            uint32_t *a = realloc(mid, cap * sizeof *a);
            if (a) mid = a;
            uint32_t *b = a ? realloc(ml, cap * sizeof *b) : NULL;
            if (!b) {
                rc = ENOMEM;
                break;
            }
            ml = b;
            mcap = cap;
        }
        mid[mn] = id;
        ml[mn++] = l;
        if ((rc = mdb_cursor_del(cur, 0))) break;
        rag_key next = p; /* from the next id on: the deleted key is gone */
        rag_key_id(&next, id + 1);
        key = (MDB_val){next.n, next.b};
        rc = mdb_cursor_get(cur, &key, &v, MDB_SET_RANGE);
    }
    mdb_cursor_close(cur);
    free(buf);
    if (rc == MDB_NOTFOUND) rc = 0;
    for (size_t i = 0; !rc && i < mn; i++) {
        rag_key vk = p;
        rag_key_id(&vk, mid[i]);
        MDB_val vkey = {vk.n, vk.b}, nv = {sizeof ml[i], &ml[i]};
        rc = mdb_put(txn, d->vec, &vkey, &nv, 0); /* ids ascending: pages filled in turn */
    }
    free(mid);
    free(ml);
    return rag_disk_fail(d, rc);
}

/* One transaction: the centroids, the lists, the counters. 0, or 1 when
 * the base changed under the training (dropped, another dimension). */
static int train_switch(rag_disk *d, rag_train *t)
{
    MDB_txn *txn;
    rag_disk_stats st;
    if (rag_disk_fail(d, mdb_txn_begin(d->env, NULL, 0, &txn))) return -1;
    int rc = rag_stats_read(d, txn, t->kb, &st);
    if (!rc && (!st.vecs || st.dim != t->dim)) {
        mdb_txn_abort(txn);
        return 1;
    }
    if (!rc) {
        st.nlist = (uint32_t)t->nlist;
        rag_key k;
        rag_key_kb(&k, t->kb);
        rag_key_add(&k, "C", 1);
        MDB_val key = {k.n, k.b}, v = {t->nlist * t->dim * sizeof(float), t->cent};
        rc = rag_disk_fail(d, mdb_put(txn, d->ivf, &key, &v, 0));
    }
    if (!rc) rc = list_all(d, txn, t);
    st.trained = st.vecs;
    if (!rc) rc = rag_stats_write(d, txn, t->kb, &st);
    if (!rc && rag_disk_fault) rag_disk_fault("train.switch");
    if (!rc) return rag_disk_fail(d, mdb_txn_commit(txn));
    mdb_txn_abort(txn);
    return -1;
}

int rag_disk_train_step(rag_disk *d, size_t budget)
{
    rag_train *t = d->train;
    if (!t) return 0;
    if (!budget) budget = 1;
    /* A vector read from the map (a cursor step, page faults on a cold
     * file, a copy) costs about what 16 multiply-adds per float do: at 1M
     * vectors of 128 floats a slice reading budget / dim of them took 103
     * ms against about 10 for the others (bench_rag_ann). */
    size_t read = budget / (16 * t->dim);
    size_t per = budget / t->dim / (t->nlist ? t->nlist : 1); /* vectors against every centroid */
    if (!read) read = 1;
    if (!per) per = 1;
    int rc = 0, end = 0;
    switch (t->phase) {
    case T_SAMPLE:
        rc = each_vec(d, t, read, &end, sample_one);
        if (!rc && end) {
            if (!t->smp.n) {
                rc = 1; /* the base has no vector left */
                break;
            }
            rc = kmeans_start(t);
            t->phase = T_KMEANS;
        }
        break;
    case T_KMEANS:
        kmeans_some(t, per);
        if (t->it == t->iters) {
            rag_vecs_free(&t->smp);
            t->next = 0;
            t->phase = T_LIST;
        }
        break;
    case T_LIST:
        rc = each_vec(d, t, per, &end, assign_one);
        if (!rc && end) t->phase = T_SWITCH;
        break;
    default:
        rc = train_switch(d, t);
        if (!rc) rc = 1; /* done */
    }
    if (!rc) return 1;
    rag_train_free(t);
    d->train = NULL;
    return rc > 0 ? 0 : -1;
}

int rag_disk_ivf_train(rag_disk *d, const char *kb, const rag_ann_opts *o)
{
    rag_train_free(d->train); /* now, and this base's: whatever was under way starts again */
    d->train = NULL;
    if (rag_disk_train_begin(d, kb, o) < 0) return -1;
    int rc;
    while ((rc = rag_disk_train_step(d, SIZE_MAX)) > 0) {
    }
    return rc;
}
