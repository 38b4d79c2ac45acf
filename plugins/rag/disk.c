/*
 * The index on disk: the environment, the counters, embeddings and the
 * documents' chunks written and dropped (disk.h, ADR 0054).
 */
#include "disk_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void (*rag_disk_fault)(const char *point);

static size_t resident, resident_peak;

void rag_resident_add(long delta)
{
    resident = (size_t)((long)resident + delta);
    if (resident > resident_peak) resident_peak = resident;
}

size_t rag_disk_resident(void)
{
    return resident;
}

size_t rag_disk_resident_peak(void)
{
    return resident_peak;
}

static void fault(const char *point)
{
    if (rag_disk_fault) rag_disk_fault(point);
}

int rag_disk_fail(rag_disk *d, int rc)
{
    if (rc == MDB_SUCCESS) return 0;
    d->rc = rc;
    return -1;
}

const char *rag_disk_error(const rag_disk *d)
{
    if (d->rc == MDB_MAP_FULL) return "the index is full (raise index_max_mb)";
    return d->rc ? mdb_strerror(d->rc) : "out of memory, or a malformed record in the index";
}

/* ---- keys -------------------------------------------------------------------- */

int rag_key_kb(rag_key *k, const char *kb)
{
    size_t n = strlen(kb);
    k->n = k->base = 0;
    if (n + 1 + 64 > RAG_KEY_MAX) return -1;
    memcpy(k->b, kb, n + 1);
    k->n = k->base = n + 1;
    return 0;
}

void rag_key_add(rag_key *k, const void *p, size_t n)
{
    if (n > RAG_KEY_MAX - k->n) n = RAG_KEY_MAX - k->n;
    memcpy(k->b + k->n, p, n);
    k->n += n;
}

void rag_key_id(rag_key *k, uint32_t id)
{
    unsigned char b[4] = {(unsigned char)(id >> 24), (unsigned char)(id >> 16),
                          (unsigned char)(id >> 8), (unsigned char)id};
    rag_key_add(k, b, 4);
}

uint32_t rag_be32(const void *p)
{
    const unsigned char *b = p;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

int rag_key_in_base(const rag_key *k, const MDB_val *key)
{
    return key->mv_size >= k->base && memcmp(key->mv_data, k->b, k->base) == 0;
}

static MDB_val val(const void *p, size_t n)
{
    return (MDB_val){n, (void *)p};
}

/* kb\0 and the FNV-1a hash of the document id in hex (ids may be longer
 * than a key). */
static int key_doc(rag_key *k, const char *kb, const char *doc)
{
    if (rag_key_kb(k, kb) < 0) return -1;
    uint64_t h = 1469598103934665603ull;
    for (const char *s = doc; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    rag_key_add(k, hex, 16);
    return 0;
}

/* ---- the environment ------------------------------------------------------------ */

int rag_disk_open(rag_disk **out, const char *dir, size_t map_mb, char *err, size_t errn)
{
    rag_disk *d = calloc(1, sizeof *d);
    MDB_txn *txn = NULL;
    int rc = d ? mdb_env_create(&d->env) : ENOMEM;
    if (!rc) rc = mdb_env_set_maxdbs(d->env, 8);
    if (!rc) rc = mdb_env_set_mapsize(d->env, (size_t)map_mb << 20);
    if (!rc) rc = mdb_env_open(d->env, dir, MDB_NOTLS, 0600);
    if (!rc) rc = mdb_txn_begin(d->env, NULL, 0, &txn);
    struct {
        const char *name;
        MDB_dbi *dbi;
        unsigned flags;
    } dbs[] = {{"meta", &d->meta, 0},
               {"chunk", &d->chunk, 0},
               {"post", &d->post, MDB_DUPSORT | MDB_DUPFIXED},
               {"dchunk", &d->dchunk, MDB_DUPSORT | MDB_DUPFIXED},
               {"ddoc", &d->ddoc, 0},
               {"vec", &d->vec, 0},
               {"ivf", &d->ivf, 0},
               {"emb", &d->emb, 0}};
    for (size_t i = 0; !rc && i < sizeof dbs / sizeof *dbs; i++)
        rc = mdb_dbi_open(txn, dbs[i].name, dbs[i].flags | MDB_CREATE, dbs[i].dbi);
    uint32_t format = 0;
    if (!rc && rag_vec_migrate(d, txn, &format) < 0) rc = d->rc ? d->rc : MDB_INCOMPATIBLE;
    if (!rc)
        rc = mdb_txn_commit(txn);
    else if (txn)
        mdb_txn_abort(txn);
    if (rc == MDB_INCOMPATIBLE && format > RAG_FORMAT) {
        snprintf(err, errn, "%s: the index is of format %u, newer than this plugin's %u", dir,
                 format, RAG_FORMAT);
        mdb_env_close(d->env);
        free(d);
        return -1;
    }
    if (rc) {
        snprintf(err, errn, "%s: the index cannot be opened: %s", dir, mdb_strerror(rc));
        if (d && d->env) mdb_env_close(d->env);
        free(d);
        return -1;
    }
    *out = d;
    return 0;
}

void rag_disk_close(rag_disk *d)
{
    if (!d) return;
    rag_train_free(d->train);
    mdb_env_close(d->env);
    free(d);
}

size_t rag_disk_used_bytes(rag_disk *d)
{
    MDB_txn *txn;
    MDB_envinfo ei;
    MDB_stat es;
    if (mdb_env_info(d->env, &ei) || mdb_env_stat(d->env, &es) ||
        rag_disk_fail(d, mdb_txn_begin(d->env, NULL, MDB_RDONLY, &txn)))
        return 0;
    MDB_dbi dbs[] = {d->meta, d->chunk, d->post, d->dchunk, d->ddoc, d->vec, d->ivf, d->emb};
    size_t pages = 0;
    for (size_t i = 0; i < sizeof dbs / sizeof *dbs; i++) {
        MDB_stat st;
        if (!mdb_stat(txn, dbs[i], &st))
            pages += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
    }
    mdb_txn_abort(txn);
    return pages * es.ms_psize;
}

/* ---- counters ------------------------------------------------------------------ */

int rag_stats_read(rag_disk *d, MDB_txn *txn, const char *kb, rag_disk_stats *st)
{
    rag_key k;
    memset(st, 0, sizeof *st);
    if (rag_key_kb(&k, kb) < 0) return -1;
    MDB_val key = val(k.b, k.n), v;
    int rc = mdb_get(txn, d->meta, &key, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return rag_disk_fail(d, rc);
    memcpy(st, v.mv_data, v.mv_size < sizeof *st ? v.mv_size : sizeof *st);
    return 0;
}

int rag_stats_write(rag_disk *d, MDB_txn *txn, const char *kb, const rag_disk_stats *st)
{
    rag_key k;
    if (rag_key_kb(&k, kb) < 0) return -1;
    MDB_val key = val(k.b, k.n), v = val(st, sizeof *st);
    return rag_disk_fail(d, mdb_put(txn, d->meta, &key, &v, 0));
}

int rag_disk_stats_get(rag_disk *d, const char *kb, rag_disk_stats *st)
{
    MDB_txn *txn;
    if (rag_disk_fail(d, mdb_txn_begin(d->env, NULL, MDB_RDONLY, &txn))) return -1;
    int rc = rag_stats_read(d, txn, kb, st);
    mdb_txn_abort(txn);
    return rc;
}

/* ---- embeddings ------------------------------------------------------------------ */

static int emb_in(rag_disk *d, MDB_txn *txn, const char *hash, const char *model, float *out,
                  size_t outn, size_t *dim)
{
    MDB_val key = val(hash, 16), v;
    int rc = mdb_get(txn, d->emb, &key, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return rag_disk_fail(d, rc);
    uint16_t ml;
    if (v.mv_size < 2) return 0;
    memcpy(&ml, v.mv_data, 2);
    const char *m = (const char *)v.mv_data + 2;
    if (v.mv_size < 2u + ml || strlen(model) != ml || memcmp(m, model, ml) != 0) return 0;
    *dim = (v.mv_size - 2 - ml) / sizeof(float);
    if (!*dim) return 0;
    if (out && outn >= *dim) memcpy(out, m + ml, *dim * sizeof(float));
    return 1;
}

int rag_disk_emb_get(rag_disk *d, const char *hash, const char *model, float *out, size_t outn,
                     size_t *dim)
{
    MDB_txn *txn;
    if (rag_disk_fail(d, mdb_txn_begin(d->env, NULL, MDB_RDONLY, &txn))) return -1;
    int rc = emb_in(d, txn, hash, model, out, outn, dim);
    mdb_txn_abort(txn);
    return rc;
}

int rag_disk_emb_put(rag_disk *d, const char (*hashes)[17], const float *const *vecs,
                     const size_t *dims, size_t n, const char *model)
{
    MDB_txn *txn;
    size_t ml = strlen(model);
    if (ml > 1000 || rag_disk_fail(d, mdb_txn_begin(d->env, NULL, 0, &txn))) return -1;
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        MDB_val key = val(hashes[i], 16), v = {2 + ml + dims[i] * sizeof(float), NULL};
        rc = mdb_put(txn, d->emb, &key, &v, MDB_RESERVE);
        if (rc) break;
        uint16_t l = (uint16_t)ml;
        memcpy(v.mv_data, &l, 2);
        memcpy((char *)v.mv_data + 2, model, ml);
        memcpy((char *)v.mv_data + 2 + ml, vecs[i], dims[i] * sizeof(float));
    }
    fault("emb.commit");
    if (!rc) return rag_disk_fail(d, mdb_txn_commit(txn));
    mdb_txn_abort(txn);
    return rag_disk_fail(d, rc);
}

/* ---- chunk records --------------------------------------------------------------- */

/* seq u32, tokens u32, start u64, end u64, doc length u16, path length
 * u32, text length u32, then the document id, the path and the text. */
#define HDR 34

int rag_chunk_decode(const MDB_val *v, rag_disk_chunk_view *o)
{
    const char *p = v->mv_data;
    uint16_t dl;
    uint32_t pl, tl;
    if (v->mv_size < HDR) return -1;
    memcpy(&o->seq, p, 4);
    memcpy(&o->tokens, p + 4, 4);
    memcpy(&o->start, p + 8, 8);
    memcpy(&o->end, p + 16, 8);
    memcpy(&dl, p + 24, 2);
    memcpy(&pl, p + 26, 4);
    memcpy(&tl, p + 30, 4);
    if ((size_t)HDR + dl + pl + tl != v->mv_size) return -1;
    o->doc = p + HDR;
    o->doc_len = dl;
    o->path = o->doc + dl;
    o->path_len = pl;
    o->text = o->path + pl;
    o->text_len = tl;
    return 0;
}

static int chunk_put(rag_disk *d, MDB_txn *txn, const rag_key *k, const char *doc,
                     const rag_disk_chunk *c)
{
    size_t dl = strlen(doc), pl = c->path ? strlen(c->path) : 0;
    if (dl > 65535 || pl > UINT32_MAX || c->len > UINT32_MAX) return -1;
    MDB_val key = val(k->b, k->n), v = {HDR + dl + pl + c->len, NULL};
    if (rag_disk_fail(d, mdb_put(txn, d->chunk, &key, &v, MDB_RESERVE))) return -1;
    char *p = v.mv_data;
    uint32_t seq = c->seq, tok = (uint32_t)c->tokens, p32 = (uint32_t)pl, t32 = (uint32_t)c->len;
    uint64_t s = c->start, e = c->end;
    uint16_t d16 = (uint16_t)dl;
    memcpy(p, &seq, 4);
    memcpy(p + 4, &tok, 4);
    memcpy(p + 8, &s, 8);
    memcpy(p + 16, &e, 8);
    memcpy(p + 24, &d16, 2);
    memcpy(p + 26, &p32, 4);
    memcpy(p + 30, &t32, 4);
    memcpy(p + HDR, doc, dl);
    if (pl) memcpy(p + HDR + dl, c->path, pl);
    memcpy(p + HDR + dl + pl, c->text, c->len);
    return 0;
}

/* ---- terms of a chunk --------------------------------------------------------------- */

typedef struct {
    char **t;
    size_t n, cap;
    int oom;
} terms;

static int term_add(void *ud, const char *t, size_t n, const rag_token *tok)
{
    (void)tok;
    terms *ts = ud;
    if (ts->n == ts->cap) {
        size_t cap = ts->cap ? ts->cap * 2 : 64;
        char **nt = realloc(ts->t, cap * sizeof *nt);
        if (!nt) return ts->oom = -1;
        ts->t = nt;
        ts->cap = cap;
    }
    if (!(ts->t[ts->n] = strndup(t, n))) return ts->oom = -1;
    ts->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void terms_free(terms *ts)
{
    for (size_t i = 0; i < ts->n; i++)
        free(ts->t[i]);
    free(ts->t);
}

/* The text's terms, sorted (repeats together). */
static int terms_of(rag_analyzer *a, const char *s, size_t n, terms *ts)
{
    memset(ts, 0, sizeof *ts);
    rag_analyze(a, s, n, term_add, ts);
    if (ts->oom) return -1;
    if (ts->n) qsort(ts->t, ts->n, sizeof *ts->t, cmp_str);
    return 0;
}

/* ---- dropping a document ---------------------------------------------------------------- */

/* Drops chunk id of the base: its postings, vector, IVF entry and record. */
static int chunk_drop(rag_disk *d, MDB_txn *txn, rag_analyzer *a, const char *kb, uint32_t id,
                      rag_disk_stats *st, const float *cent)
{
    rag_key k;
    rag_key_kb(&k, kb);
    rag_key_id(&k, id);
    MDB_val key = val(k.b, k.n), v;
    int rc = mdb_get(txn, d->chunk, &key, &v);
    if (rc == MDB_NOTFOUND) return 0;
    rag_disk_chunk_view cv;
    if (rag_disk_fail(d, rc) || rag_chunk_decode(&v, &cv) < 0) return -1;
    terms ts;
    if (terms_of(a, cv.text, cv.text_len, &ts) < 0) return -1;
    MDB_cursor *cur;
    if (rag_disk_fail(d, mdb_cursor_open(txn, d->post, &cur))) {
        terms_free(&ts);
        return -1;
    }
    unsigned char want[12] = {0};
    memcpy(want, k.b + k.base, 4);
    uint32_t dl = 0;
    for (size_t i = 0; !rc && i < ts.n; i++) {
        if (i && !strcmp(ts.t[i], ts.t[i - 1])) continue;
        rag_key tk;
        rag_key_kb(&tk, kb);
        rag_key_add(&tk, ts.t[i], strlen(ts.t[i]));
        MDB_val pk = val(tk.b, tk.n), pv = val(want, 12);
        rc = mdb_cursor_get(cur, &pk, &pv, MDB_GET_BOTH_RANGE);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            continue;
        }
        if (!rc && pv.mv_size == 12 && !memcmp(pv.mv_data, want, 4)) {
            memcpy(&dl, (char *)pv.mv_data + 8, 4);
            rc = mdb_cursor_del(cur, 0);
        }
    }
    mdb_cursor_close(cur);
    terms_free(&ts);
    if (rag_disk_fail(d, rc)) return -1;
    key = val(k.b, k.n);
    if ((rc = mdb_get(txn, d->vec, &key, &v)) == 0) {
        uint32_t l = UINT32_MAX;
        if (v.mv_size == sizeof l) { /* in its IVF list (ADR 0058): vec holds the list */
            memcpy(&l, v.mv_data, sizeof l);
        } else if (cent && st->dim && v.mv_size == st->dim * sizeof(float)) {
            float *f = malloc(st->dim * sizeof *f); /* not listed; a stray entry if any */
            if (!f) return -1;
            memcpy(f, v.mv_data, st->dim * sizeof *f);
            l = rag_ivf_nearest(cent, st->nlist, st->dim, f);
            free(f);
        }
        if (l != UINT32_MAX) {
            rag_key lk;
            rag_key_kb(&lk, kb);
            rag_key_add(&lk, "L", 1);
            rag_key_id(&lk, l);
            rag_key_id(&lk, id);
            MDB_val lkey = val(lk.b, lk.n);
            rc = mdb_del(txn, d->ivf, &lkey, NULL);
            if (rc && rc != MDB_NOTFOUND) return rag_disk_fail(d, rc);
        }
        if (rag_disk_fail(d, mdb_del(txn, d->vec, &key, NULL))) return -1;
        st->vecs--;
    } else if (rc != MDB_NOTFOUND) {
        return rag_disk_fail(d, rc);
    }
    st->chunks--;
    st->total -= dl;
    return rag_disk_fail(d, mdb_del(txn, d->chunk, &key, NULL));
}

static int doc_drop(rag_disk *d, MDB_txn *txn, rag_analyzer *a, const char *kb, const char *doc,
                    rag_disk_stats *st, const float *cent)
{
    rag_key k;
    if (key_doc(&k, kb, doc) < 0) return -1;
    MDB_cursor *cur;
    if (rag_disk_fail(d, mdb_cursor_open(txn, d->dchunk, &cur))) return -1;
    MDB_val key = val(k.b, k.n), v;
    int rc = mdb_cursor_get(cur, &key, &v, MDB_SET);
    while (!rc) {
        uint32_t id = rag_be32(v.mv_data);
        if (chunk_drop(d, txn, a, kb, id, st, cent) < 0) {
            mdb_cursor_close(cur);
            return -1;
        }
        rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT_DUP);
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) return rag_disk_fail(d, rc);
    key = val(k.b, k.n);
    rc = mdb_del(txn, d->dchunk, &key, NULL);
    if (rc && rc != MDB_NOTFOUND) return rag_disk_fail(d, rc);
    rc = mdb_del(txn, d->ddoc, &key, NULL);
    return rc && rc != MDB_NOTFOUND ? rag_disk_fail(d, rc) : 0;
}

int rag_disk_drop_doc(rag_disk *d, rag_analyzer *a, const char *kb, const char *doc)
{
    MDB_txn *txn;
    rag_disk_stats st;
    if (rag_disk_fail(d, mdb_txn_begin(d->env, NULL, 0, &txn))) return -1;
    float *cent = NULL;
    int rc = rag_stats_read(d, txn, kb, &st);
    if (!rc && st.nlist && !(cent = rag_ivf_centroids(d, txn, kb, &st))) rc = -1;
    if (!rc) rc = doc_drop(d, txn, a, kb, doc, &st, cent);
    if (!rc) rc = rag_stats_write(d, txn, kb, &st);
    free(cent);
    if (!rc) return rag_disk_fail(d, mdb_txn_commit(txn));
    mdb_txn_abort(txn);
    return -1;
}

int rag_disk_drop_kb(rag_disk *d, const char *kb)
{
    rag_key k;
    MDB_txn *txn;
    if (rag_key_kb(&k, kb) < 0 || rag_disk_fail(d, mdb_txn_begin(d->env, NULL, 0, &txn))) return -1;
    MDB_dbi dbs[] = {d->meta, d->chunk, d->post, d->dchunk, d->ddoc, d->vec, d->ivf};
    int rc = 0;
    for (size_t i = 0; !rc && i < sizeof dbs / sizeof *dbs; i++) {
        MDB_cursor *cur;
        if ((rc = mdb_cursor_open(txn, dbs[i], &cur))) break;
        MDB_val key = val(k.b, k.base), v;
        rc = mdb_cursor_get(cur, &key, &v, MDB_SET_RANGE);
        while (!rc && rag_key_in_base(&k, &key)) {
            /* MDB_NODUPDATA: every duplicate of the key at once; then from
             * the base's first key again (the deleted one is gone) */
            if ((rc = mdb_cursor_del(cur,
                                     dbs[i] == d->post || dbs[i] == d->dchunk ? MDB_NODUPDATA : 0)))
                break;
            key = val(k.b, k.base);
            rc = mdb_cursor_get(cur, &key, &v, MDB_SET_RANGE);
        }
        mdb_cursor_close(cur);
        if (rc == MDB_NOTFOUND) rc = 0;
    }
    if (rc) {
        mdb_txn_abort(txn);
        return rag_disk_fail(d, rc);
    }
    if (rag_disk_fail(d, mdb_txn_commit(txn))) return -1;
    if (rag_disk_training(d, kb)) { /* its ids may be a new base's by the switch */
        rag_train_free(d->train);
        d->train = NULL;
    }
    return 0;
}

int rag_disk_doc_hash(rag_disk *d, const char *kb, const char *doc, char out[17])
{
    rag_key k;
    MDB_txn *txn;
    if (key_doc(&k, kb, doc) < 0 || rag_disk_fail(d, mdb_txn_begin(d->env, NULL, MDB_RDONLY, &txn)))
        return -1;
    MDB_val key = val(k.b, k.n), v;
    int rc = mdb_get(txn, d->ddoc, &key, &v), found = 0;
    if (!rc && v.mv_size >= 16) {
        memcpy(out, v.mv_data, 16);
        out[16] = 0;
        found = 1;
    }
    mdb_txn_abort(txn);
    return rc && rc != MDB_NOTFOUND ? rag_disk_fail(d, rc) : found;
}

/* ---- indexing a document ----------------------------------------------------------------- */

static int postings_put(rag_disk *d, MDB_txn *txn, const char *kb, uint32_t id, const terms *ts)
{
    uint32_t dl = (uint32_t)ts->n;
    unsigned char p[12];
    rag_key ik;
    rag_key_kb(&ik, kb);
    rag_key_id(&ik, id);
    memcpy(p, ik.b + ik.base, 4);
    memcpy(p + 8, &dl, 4);
    for (size_t i = 0; i < ts->n;) {
        size_t j = i + 1;
        while (j < ts->n && !strcmp(ts->t[j], ts->t[i]))
            j++;
        uint32_t tf = (uint32_t)(j - i);
        memcpy(p + 4, &tf, 4);
        rag_key tk;
        rag_key_kb(&tk, kb);
        rag_key_add(&tk, ts->t[i], strlen(ts->t[i]));
        MDB_val key = val(tk.b, tk.n), v = val(p, 12);
        int rc = mdb_put(txn, d->post, &key, &v, 0);
        if (rc && rc != MDB_KEYEXIST) return rag_disk_fail(d, rc);
        i = j;
    }
    return 0;
}

/* The chunk's embedding, if stored and of the base's dimension: its unit
 * vector under vec (and its IVF list). */
static int vector_put(rag_disk *d, MDB_txn *txn, const char *kb, uint32_t id, const char *hash,
                      const char *model, rag_disk_stats *st, const float *cent)
{
    size_t dim = 0;
    int got = emb_in(d, txn, hash, model, NULL, 0, &dim);
    if (got <= 0) return got;
    if (dim < 2) return 0; /* one float: no direction, and vec's list number is that size */
    if (!st->dim) st->dim = (uint32_t)dim;
    if (dim != st->dim) return 0; /* another dimension than the base's: BM25 only */
    float *f = malloc(dim * sizeof *f);
    if (!f || emb_in(d, txn, hash, model, f, dim, &dim) != 1) {
        free(f);
        return -1;
    }
    rag_normalise(f, dim);
    rag_key k;
    rag_key_kb(&k, kb);
    rag_key_id(&k, id);
    MDB_val key = val(k.b, k.n), v = val(f, dim * sizeof *f);
    int rc;
    if (cent) { /* the vector in its list, vec holding the list's number (ADR 0058) */
        uint32_t l = rag_ivf_nearest(cent, st->nlist, dim, f);
        rag_key lk;
        rag_key_kb(&lk, kb);
        rag_key_add(&lk, "L", 1);
        rag_key_id(&lk, l);
        rag_key_id(&lk, id);
        MDB_val lkey = val(lk.b, lk.n), lv = val(&l, sizeof l);
        rc = mdb_put(txn, d->ivf, &lkey, &v, 0);
        if (!rc) rc = mdb_put(txn, d->vec, &key, &lv, 0);
    } else {
        rc = mdb_put(txn, d->vec, &key, &v, 0);
    }
    free(f);
    if (!rc) st->vecs++;
    return rag_disk_fail(d, rc);
}

static int chunk_add(rag_disk *d, MDB_txn *txn, rag_analyzer *a, const char *kb, const char *doc,
                     const rag_key *dk, const rag_disk_chunk *c, const char *model,
                     rag_disk_stats *st, const float *cent)
{
    if (st->next_id == UINT32_MAX) return -1;
    uint32_t id = st->next_id++;
    rag_key k;
    rag_key_kb(&k, kb);
    rag_key_id(&k, id);
    terms ts;
    if (chunk_put(d, txn, &k, doc, c) < 0 || terms_of(a, c->text, c->len, &ts) < 0) return -1;
    int rc = postings_put(d, txn, kb, id, &ts);
    st->total += ts.n;
    terms_free(&ts);
    if (rc < 0) return -1;
    if (c->hash && model && vector_put(d, txn, kb, id, c->hash, model, st, cent) < 0) return -1;
    MDB_val key = val(dk->b, dk->n), v = val(k.b + k.base, 4);
    if (rag_disk_fail(d, mdb_put(txn, d->dchunk, &key, &v, 0))) return -1;
    st->chunks++;
    return 0;
}

int rag_disk_index_doc(rag_disk *d, rag_analyzer *a, const char *kb, const char *doc,
                       const char *doc_hash, const rag_disk_chunk *c, size_t n, const char *model)
{
    rag_key dk;
    MDB_txn *txn;
    rag_disk_stats st;
    if (key_doc(&dk, kb, doc) < 0 || strlen(doc_hash) != 16 ||
        rag_disk_fail(d, mdb_txn_begin(d->env, NULL, 0, &txn)))
        return -1;
    float *cent = NULL;
    int rc = rag_stats_read(d, txn, kb, &st);
    if (!rc && st.nlist && !(cent = rag_ivf_centroids(d, txn, kb, &st))) rc = -1;
    if (!rc) rc = doc_drop(d, txn, a, kb, doc, &st, cent);
    for (size_t i = 0; !rc && i < n; i++) {
        rc = chunk_add(d, txn, a, kb, doc, &dk, &c[i], model, &st, cent);
        if (!rc && i == n / 2) fault("index.middle");
    }
    free(cent);
    if (!rc) {
        size_t dl = strlen(doc);
        MDB_val key = val(dk.b, dk.n), v = {16 + dl, NULL};
        rc = rag_disk_fail(d, mdb_put(txn, d->ddoc, &key, &v, MDB_RESERVE));
        if (!rc) {
            memcpy(v.mv_data, doc_hash, 16);
            memcpy((char *)v.mv_data + 16, doc, dl);
        }
    }
    if (!rc) rc = rag_stats_write(d, txn, kb, &st);
    if (!rc) fault("index.commit");
    if (!rc) return rag_disk_fail(d, mdb_txn_commit(txn));
    mdb_txn_abort(txn);
    return -1;
}
