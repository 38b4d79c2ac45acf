/*
 * Vectors on disk (disk.h): the exact scan over a base's vectors, and the
 * IVF whose lists are consecutive keys kb\0 'L' list id holding the
 * vectors themselves, so a probe reads each list's vectors one after
 * another instead of chasing ids into the base. A vector is stored once
 * per base (ADR 0058): under vec while it is in no list, in its list once
 * it is (vec then holds the list's number), so the exact scan reads vec
 * while the base has no IVF and every list once it has one. The IVF is trained in dtrain.c; the
 * previous layout (a copy in both) is converted at open (disk.c).
 */
#include "disk_priv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static float dotf(const float *a, const float *b, size_t d)
{
    float s = 0;
    for (size_t i = 0; i < d; i++)
        s += a[i] * b[i];
    return s;
}

uint32_t rag_ivf_nearest(const float *cent, size_t nlist, size_t dim, const float *v)
{
    uint32_t best = 0;
    float bs = -INFINITY;
    for (size_t c = 0; c < nlist; c++) {
        float s = dotf(cent + c * dim, v, dim);
        if (s > bs) bs = s, best = (uint32_t)c;
    }
    return best;
}

float *rag_ivf_centroids(rag_disk *d, MDB_txn *txn, const char *kb, const rag_disk_stats *st)
{
    rag_key k;
    if (rag_key_kb(&k, kb) < 0) return NULL;
    rag_key_add(&k, "C", 1);
    MDB_val key = {k.n, k.b}, v;
    size_t bytes = (size_t)st->nlist * st->dim * sizeof(float);
    if (rag_disk_fail(d, mdb_get(txn, d->ivf, &key, &v)) || v.mv_size != bytes) return NULL;
    float *c = malloc(bytes);
    if (c) memcpy(c, v.mv_data, bytes);
    return c;
}

int rag_vec_read(rag_disk *d, MDB_txn *txn, const char *kb, uint32_t id, const MDB_val *v,
                 size_t dim, float *out, uint32_t *list)
{
    *list = UINT32_MAX;
    if (v->mv_size == dim * sizeof(float)) {
        memcpy(out, v->mv_data, v->mv_size); /* the map's values are not float-aligned */
        return 1;
    }
    if (v->mv_size != sizeof(uint32_t)) return 0;
    memcpy(list, v->mv_data, sizeof *list);
    rag_key lk;
    if (rag_key_kb(&lk, kb) < 0) return 0;
    rag_key_add(&lk, "L", 1);
    rag_key_id(&lk, *list);
    rag_key_id(&lk, id);
    MDB_val key = {lk.n, lk.b}, lv;
    int rc = mdb_get(txn, d->ivf, &key, &lv);
    if (rc == MDB_NOTFOUND || (!rc && lv.mv_size != dim * sizeof(float))) return 0;
    if (rag_disk_fail(d, rc)) return -1;
    memcpy(out, lv.mv_data, lv.mv_size);
    return 1;
}

int rag_vec_migrate(rag_disk *d, MDB_txn *txn, uint32_t *format)
{
    static const char fk[] = "\0format";
    MDB_val key = {sizeof fk - 1, (void *)fk}, v;
    int rc = mdb_get(txn, d->meta, &key, &v);
    *format = 1;
    if (!rc && v.mv_size == sizeof *format) memcpy(format, v.mv_data, sizeof *format);
    if (rc && rc != MDB_NOTFOUND) return rag_disk_fail(d, rc);
    if (*format > RAG_FORMAT) return -1;
    if (*format == RAG_FORMAT) return 0;
    /* Every list entry kb\0 'L' list id: vec's copy deleted (LMDB merges the
     * emptied pages; shrinking values in place would leave them a tenth
     * full), the list's number put back after the scan. */
    char *mv = NULL; /* records: key length (u16), vec's key, the list */
    size_t mn = 0, mcap = 0;
    MDB_cursor *cur;
    if (rag_disk_fail(d, mdb_cursor_open(txn, d->ivf, &cur))) return -1;
    MDB_val k, lv;
    for (rc = mdb_cursor_get(cur, &k, &lv, MDB_FIRST); !rc;
         rc = mdb_cursor_get(cur, &k, &lv, MDB_NEXT)) {
        const char *b = k.mv_data, *nul = memchr(b, 0, k.mv_size);
        size_t base = nul ? (size_t)(nul - b) + 1 : 0;
        if (!nul || k.mv_size != base + 9 || b[base] != 'L' || base + 4 > RAG_KEY_MAX) continue;
        uint16_t kn = (uint16_t)(base + 4);
        if (mn + 2u + kn + 4 > mcap) {
            size_t cap = mcap ? mcap * 2 : 65536;
            char *m = realloc(mv, cap);
            if (!m) {
                rc = ENOMEM;
                break;
            }
            mv = m;
            mcap = cap;
        }
        char *r = mv + mn;
        uint32_t l = rag_be32(b + base + 1);
        memcpy(r, &kn, 2);
        memcpy(r + 2, b, base);
        memcpy(r + 2 + base, b + base + 5, 4);
        memcpy(r + 2 + kn, &l, 4);
        mn += 2u + kn + 4;
        MDB_val vkey = {kn, r + 2};
        if ((rc = mdb_del(txn, d->vec, &vkey, NULL)) == MDB_NOTFOUND) rc = 0;
        if (rc) break;
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND) rc = 0;
    for (size_t o = 0; !rc && o < mn;) {
        uint16_t kn;
        memcpy(&kn, mv + o, 2);
        MDB_val vkey = {kn, mv + o + 2}, vv = {4, mv + o + 2 + kn};
        rc = mdb_put(txn, d->vec, &vkey, &vv, 0);
        o += 2u + kn + 4;
    }
    free(mv);
    if (rc) return rag_disk_fail(d, rc);
    uint32_t f = RAG_FORMAT;
    v = (MDB_val){sizeof f, &f};
    return rag_disk_fail(d, mdb_put(txn, d->meta, &key, &v, 0));
}

/* The k best candidates so far: a min-heap of at most k (worst on top),
 * so a scan of a whole base holds k hits, not a score per vector. */
typedef struct {
    rag_hit *h;
    size_t n, k;
} cands;

static int worse(const rag_hit *a, const rag_hit *b)
{
    return a->score < b->score || (a->score == b->score && a->doc > b->doc);
}

static void sift_down(rag_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(&h[l], &h[m])) m = l;
        if (r < n && worse(&h[r], &h[m])) m = r;
        if (m == i) return;
        rag_hit t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static int cand_add(cands *c, uint32_t id, double s)
{
    rag_hit x = {id, s};
    if (c->n < c->k) {
        size_t i = c->n++;
        c->h[i] = x;
        while (i && worse(&c->h[i], &c->h[(i - 1) / 2])) {
            rag_hit t = c->h[i];
            c->h[i] = c->h[(i - 1) / 2];
            c->h[(i - 1) / 2] = t;
            i = (i - 1) / 2;
        }
    } else if (c->k && worse(&c->h[0], &x)) {
        c->h[0] = x;
        sift_down(c->h, c->n, 0);
    }
    return 0;
}

/* Best first into the caller's hits (c->h is them). */
static int cands_top(cands *c)
{
    for (size_t m = c->n; m > 1; m--) {
        rag_hit t = c->h[0];
        c->h[0] = c->h[m - 1];
        c->h[m - 1] = t;
        sift_down(c->h, m - 1, 0);
    }
    return (int)c->n;
}

static int keep_id(rag_disk *d, MDB_txn *txn, const char *kb, uint32_t id, rag_disk_keep keep,
                   void *ud)
{
    if (!keep) return 1;
    rag_key k;
    rag_key_kb(&k, kb);
    rag_key_id(&k, id);
    MDB_val key = {k.n, k.b}, v;
    rag_disk_chunk_view cv;
    if (mdb_get(txn, d->chunk, &key, &v) || rag_chunk_decode(&v, &cv) < 0) return 0;
    return keep(ud, cv.doc, cv.doc_len);
}

/* Scans the keys from prefix p (of n bytes) on while they start with it;
 * the id is the key's last 4 bytes. */
static int scan(rag_disk *d, MDB_txn *txn, MDB_dbi dbi, const char *kb, const void *p, size_t pn,
                const float *q, size_t dim, rag_disk_keep keep, void *ud, cands *c, float *buf)
{
    MDB_cursor *cur;
    if (rag_disk_fail(d, mdb_cursor_open(txn, dbi, &cur))) return -1;
    MDB_val key = {pn, (void *)p}, v;
    int rc = mdb_cursor_get(cur, &key, &v, MDB_SET_RANGE);
    for (; !rc; rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT)) {
        if (key.mv_size < pn + 4 || memcmp(key.mv_data, p, pn) != 0) break;
        if (v.mv_size != dim * sizeof(float)) continue;
        uint32_t id = rag_be32((const char *)key.mv_data + key.mv_size - 4);
        if (!keep_id(d, txn, kb, id, keep, ud)) continue;
        memcpy(buf, v.mv_data, v.mv_size); /* the map's values are not float-aligned */
        if (cand_add(c, id, dotf(buf, q, dim)) < 0) {
            rc = ENOMEM;
            break;
        }
    }
    mdb_cursor_close(cur);
    return rc && rc != MDB_NOTFOUND ? rag_disk_fail(d, rc) : 0;
}

/* Every vector of the base: in vec while it has no IVF, in the lists once
 * it has one (every vector is listed then: vec holds only list numbers). */
static int exact(rag_disk *d, MDB_txn *txn, const char *kb, const rag_disk_stats *st,
                 const float *q, size_t dim, rag_disk_keep keep, void *ud, rag_hit *hits, size_t k)
{
    rag_key p, l;
    cands c = {hits, 0, k};
    float *buf = malloc(dim * sizeof *buf);
    if (!buf || rag_key_kb(&p, kb) < 0) {
        free(buf);
        return -1;
    }
    l = p;
    rag_key_add(&l, "L", 1);
    if (st->nlist ? scan(d, txn, d->ivf, kb, l.b, l.n, q, dim, keep, ud, &c, buf) < 0
                  : scan(d, txn, d->vec, kb, p.b, p.n, q, dim, keep, ud, &c, buf) < 0) {
        free(buf);
        return -1;
    }
    free(buf);
    return cands_top(&c);
}

static int ivf(rag_disk *d, MDB_txn *txn, const char *kb, const rag_disk_stats *st, const float *q,
               size_t nprobe, rag_disk_keep keep, void *ud, rag_hit *hits, size_t k)
{
    float *cent = rag_ivf_centroids(d, txn, kb, st), *buf = malloc(st->dim * sizeof *buf);
    double *cs = malloc(st->nlist * sizeof *cs);
    uint32_t *ci = malloc(st->nlist * sizeof *ci);
    if (nprobe > st->nlist) nprobe = st->nlist;
    if (!nprobe) nprobe = 1;
    rag_hit *probe = malloc(nprobe * sizeof *probe);
    cands c = {hits, 0, k};
    int rc = -1;
    if (!cent || !buf || !cs || !ci || !probe) goto out;
    for (uint32_t l = 0; l < st->nlist; l++) {
        cs[l] = dotf(cent + (size_t)l * st->dim, q, st->dim);
        ci[l] = l;
    }
    size_t np = rag_topk(cs, ci, st->nlist, probe, nprobe);
    rc = 0;
    for (size_t i = 0; !rc && i < np; i++) {
        rag_key p;
        rag_key_kb(&p, kb);
        rag_key_add(&p, "L", 1);
        rag_key_id(&p, probe[i].doc);
        rc = scan(d, txn, d->ivf, kb, p.b, p.n, q, st->dim, keep, ud, &c, buf);
    }
out:
    free(cent);
    free(buf);
    free(cs);
    free(ci);
    free(probe);
    return rc < 0 ? -1 : cands_top(&c);
}

int rag_disk_vsearch(rag_disk *d, const char *kb, const float *q, size_t dim,
                     const rag_vsearch_opts *o, rag_disk_keep keep, void *ud, rag_hit *hits,
                     size_t k, int *approx)
{
    rag_disk_stats st;
    *approx = 0;
    if (rag_disk_stats_get(d, kb, &st) < 0) return -1;
    if (!st.vecs || dim != st.dim) return 0;
    int want = o && st.vecs >= o->min_vectors;
    if (want && (!st.nlist || st.vecs >= 2 * st.trained)) { /* none yet, or drifted: train */
        if (!d->on_train) {                                 /* nothing drives slices: train now */
            if (rag_disk_ivf_train(d, kb, NULL) < 0 || rag_disk_stats_get(d, kb, &st) < 0) want = 0;
        } else if (rag_disk_train_begin(d, kb, NULL) == 0) {
            d->on_train(d->on_train_ud); /* meanwhile: the IVF before, or exact */
        }
    }
    MDB_txn *txn;
    if (rag_disk_fail(d, mdb_txn_begin(d->env, NULL, MDB_RDONLY, &txn))) return -1;
    int n = -1;
    if (want && st.nlist) {
        n = ivf(d, txn, kb, &st, q, o->nprobe ? o->nprobe : 32, keep, ud, hits, k);
        *approx = n >= 0;
        if (n >= 0 && (size_t)n < k && keep) { /* a narrow filter must not lose hits */
            n = -1;
            *approx = 0;
        }
    }
    if (n < 0) n = exact(d, txn, kb, &st, q, dim, keep, ud, hits, k);
    mdb_txn_abort(txn);
    return n;
}
