/*
 * BM25 on disk, and chunks read back for passages (disk.h): a query reads
 * the postings of its own terms only, a page of duplicates at a time,
 * into an accumulator of the chunks they name.
 */
#include "disk_priv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The chunks a query's postings name: id -> score (open addressing). */
typedef struct {
    uint32_t *id;
    double *score;
    uint8_t *used, *dropped; /* dropped: the filter refused it */
    size_t cap, n;
} acc;

static int acc_grow(acc *a)
{
    size_t cap = a->cap ? a->cap * 2 : 1024;
    acc b = {calloc(cap, sizeof *b.id),
             calloc(cap, sizeof *b.score),
             calloc(cap, 1),
             calloc(cap, 1),
             cap,
             a->n};
    if (!b.id || !b.score || !b.used || !b.dropped) {
        free(b.id);
        free(b.score);
        free(b.used);
        free(b.dropped);
        return -1;
    }
    for (size_t i = 0; i < a->cap; i++) {
        if (!a->used[i]) continue;
        size_t j = (a->id[i] * 2654435761u) & (cap - 1);
        while (b.used[j])
            j = (j + 1) & (cap - 1);
        b.id[j] = a->id[i];
        b.score[j] = a->score[i];
        b.used[j] = 1;
        b.dropped[j] = a->dropped[i];
    }
    free(a->id);
    free(a->score);
    free(a->used);
    free(a->dropped);
    *a = b;
    return 0;
}

/* The slot of id (*fresh when just added), or -1 when out of memory. */
static long acc_slot(acc *a, uint32_t id, int *fresh)
{
    if ((a->n + 1) * 2 > a->cap && acc_grow(a) < 0) return -1;
    size_t j = (id * 2654435761u) & (a->cap - 1);
    while (a->used[j] && a->id[j] != id)
        j = (j + 1) & (a->cap - 1);
    *fresh = !a->used[j];
    if (*fresh) {
        a->used[j] = 1;
        a->id[j] = id;
        a->score[j] = 0;
        a->n++;
    }
    return (long)j;
}

static void acc_free(acc *a)
{
    free(a->id);
    free(a->score);
    free(a->used);
    free(a->dropped);
}

typedef struct {
    char **t;
    size_t n, cap;
} qterms;

static int qterm_add(void *ud, const char *t, size_t n, const rag_token *tok)
{
    (void)tok;
    qterms *q = ud;
    for (size_t i = 0; i < q->n; i++)
        if (strlen(q->t[i]) == n && !memcmp(q->t[i], t, n)) return 0;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        char **nt = realloc(q->t, cap * sizeof *nt);
        if (!nt) return -1;
        q->t = nt;
        q->cap = cap;
    }
    if (!(q->t[q->n] = strndup(t, n))) return -1;
    q->n++;
    return 0;
}

/* Does the filter keep chunk id? (its record read for its document) */
static int kept(rag_disk *d, MDB_txn *txn, const char *kb, uint32_t id, rag_disk_keep keep,
                void *ud)
{
    rag_key k;
    rag_key_kb(&k, kb);
    rag_key_id(&k, id);
    MDB_val key = {k.n, k.b}, v;
    rag_disk_chunk_view cv;
    if (mdb_get(txn, d->chunk, &key, &v) || rag_chunk_decode(&v, &cv) < 0) return 0;
    return keep(ud, cv.doc, cv.doc_len);
}

/* Adds one term's postings to the accumulator. */
static int term_scores(rag_disk *d, MDB_txn *txn, MDB_cursor *cur, const char *kb, const char *term,
                       const rag_disk_stats *st, double avg, acc *a, rag_disk_keep keep, void *ud)
{
    const double k1 = 1.2, b = 0.75;
    rag_key tk;
    rag_key_kb(&tk, kb);
    rag_key_add(&tk, term, strlen(term));
    MDB_val key = {tk.n, tk.b}, v;
    int rc = mdb_cursor_get(cur, &key, &v, MDB_SET);
    if (rc == MDB_NOTFOUND) return 0;
    size_t df = 0;
    if (rag_disk_fail(d, rc) || rag_disk_fail(d, mdb_cursor_count(cur, &df))) return -1;
    double N = (double)st->chunks, idf = log(1.0 + (N - (double)df + 0.5) / ((double)df + 0.5));
    for (rc = mdb_cursor_get(cur, &key, &v, MDB_GET_MULTIPLE); !rc;
         rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT_MULTIPLE)) {
        const unsigned char *p = v.mv_data;
        for (size_t i = 0; i + 12 <= v.mv_size; i += 12) {
            uint32_t id = rag_be32(p + i), tf, dl;
            memcpy(&tf, p + i + 4, 4);
            memcpy(&dl, p + i + 8, 4);
            int fresh;
            long s = acc_slot(a, id, &fresh);
            if (s < 0) return -1;
            if (fresh && keep) a->dropped[s] = !kept(d, txn, kb, id, keep, ud);
            if (a->dropped[s]) continue;
            double norm = k1 * (1 - b + b * dl / avg);
            a->score[s] += idf * tf * (k1 + 1) / (tf + norm);
        }
    }
    return rc == MDB_NOTFOUND ? 0 : rag_disk_fail(d, rc);
}

int rag_disk_bm25(rag_disk *d, rag_analyzer *an, const char *kb, const char *q, size_t qn,
                  rag_disk_keep keep, void *ud, rag_hit *hits, size_t k)
{
    qterms qt = {0};
    acc a = {0};
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    rag_disk_stats st;
    double *score = NULL;
    uint32_t *ids = NULL, *local = NULL;
    int rc = -1;
    if (rag_analyze(an, q, qn, qterm_add, &qt) != 0) goto out;
    if (rag_disk_fail(d, mdb_txn_begin(d->env, NULL, MDB_RDONLY, &txn)) ||
        rag_stats_read(d, txn, kb, &st) < 0 ||
        rag_disk_fail(d, mdb_cursor_open(txn, d->post, &cur)))
        goto out;
    rc = 0;
    if (!qt.n || !st.chunks) goto out;
    double avg = (double)st.total / (double)st.chunks;
    if (avg <= 0) avg = 1.0;
    for (size_t i = 0; i < qt.n; i++)
        if (term_scores(d, txn, cur, kb, qt.t[i], &st, avg, &a, keep, ud) < 0) {
            rc = -1;
            goto out;
        }
    score = malloc((a.n + 1) * sizeof *score);
    ids = malloc((a.n + 1) * sizeof *ids);
    local = malloc((a.n + 1) * sizeof *local);
    if (!score || !ids || !local) {
        rc = -1;
        goto out;
    }
    size_t m = 0;
    for (size_t i = 0; i < a.cap; i++) {
        if (!a.used[i] || a.dropped[i]) continue;
        score[m] = a.score[i];
        ids[m] = a.id[i];
        local[m] = (uint32_t)m;
        m++;
    }
    /* ties: the lower chunk id first, as rag_topk orders its ids */
    rc = (int)rag_topk(score, local, m, hits, k);
    for (int i = 0; i < rc; i++)
        hits[i].doc = ids[hits[i].doc];
    for (int i = 1; i < rc; i++) { /* stable among equal scores by chunk id */
        rag_hit h = hits[i];
        int j = i - 1;
        while (j >= 0 && hits[j].score == h.score && hits[j].doc > h.doc) {
            hits[j + 1] = hits[j];
            j--;
        }
        hits[j + 1] = h;
    }
out:
    for (size_t i = 0; i < qt.n; i++)
        free(qt.t[i]);
    free(qt.t);
    acc_free(&a);
    free(score);
    free(ids);
    free(local);
    if (cur) mdb_cursor_close(cur);
    if (txn) mdb_txn_abort(txn);
    return rc;
}

int rag_disk_chunks_read(rag_disk *d, const char *kb, const rag_hit *hits, size_t n,
                         rag_disk_chunk_fn fn, void *ud)
{
    MDB_txn *txn;
    if (rag_disk_fail(d, mdb_txn_begin(d->env, NULL, MDB_RDONLY, &txn))) return -1;
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        rag_key k;
        if (rag_key_kb(&k, kb) < 0) {
            rc = -1;
            break;
        }
        rag_key_id(&k, hits[i].doc);
        MDB_val key = {k.n, k.b}, v;
        rag_disk_chunk_view cv;
        int g = mdb_get(txn, d->chunk, &key, &v);
        if (g == MDB_NOTFOUND || (!g && rag_chunk_decode(&v, &cv) < 0)) continue;
        if (rag_disk_fail(d, g)) {
            rc = -1;
            break;
        }
        rag_resident_add(1);
        fn(ud, &hits[i], &cv);
        rag_resident_add(-1);
    }
    mdb_txn_abort(txn);
    return rc;
}
