/*
 * BM25 over an in-memory inverted index (bm25.h).
 */
#include "bm25.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t doc, tf;
} posting;

typedef struct {
    char *term;
    uint32_t len;
    uint32_t n, cap; /* postings */
    posting *p;
} entry;

struct rag_index {
    rag_analyzer *a;
    entry *e; /* open addressing, power of two */
    size_t ecap, eused;
    uint32_t *dl;  /* document lengths in terms */
    uint8_t *dead; /* tombstones */
    size_t ndocs, dcap, live;
    uint64_t total; /* sum of dl */
    size_t bytes;
};

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

rag_index *rag_index_new(rag_analyzer *a)
{
    rag_index *ix = calloc(1, sizeof *ix);
    if (!ix) return NULL;
    ix->a = a;
    ix->ecap = 1024;
    ix->e = calloc(ix->ecap, sizeof *ix->e);
    if (!ix->e) {
        free(ix);
        return NULL;
    }
    return ix;
}

void rag_index_free(rag_index *ix)
{
    if (!ix) return;
    for (size_t i = 0; i < ix->ecap; i++) {
        free(ix->e[i].term);
        free(ix->e[i].p);
    }
    free(ix->e);
    free(ix->dl);
    free(ix->dead);
    free(ix);
}

static entry *slot(entry *e, size_t cap, const char *t, size_t n)
{
    size_t i = hash(t, n) & (cap - 1);
    while (e[i].term && (e[i].len != n || memcmp(e[i].term, t, n) != 0))
        i = (i + 1) & (cap - 1);
    return &e[i];
}

static int grow_terms(rag_index *ix)
{
    size_t cap = ix->ecap * 2;
    entry *ne = calloc(cap, sizeof *ne);
    if (!ne) return -1;
    for (size_t i = 0; i < ix->ecap; i++)
        if (ix->e[i].term) *slot(ne, cap, ix->e[i].term, ix->e[i].len) = ix->e[i];
    free(ix->e);
    ix->e = ne;
    ix->ecap = cap;
    return 0;
}

static entry *find_or_add(rag_index *ix, const char *t, size_t n)
{
    if ((ix->eused + 1) * 4 > ix->ecap * 3 && grow_terms(ix) < 0) return NULL;
    entry *e = slot(ix->e, ix->ecap, t, n);
    if (!e->term) {
        e->term = malloc(n + 1);
        if (!e->term) return NULL;
        memcpy(e->term, t, n);
        e->term[n] = 0;
        e->len = (uint32_t)n;
        ix->eused++;
        ix->bytes += n + 1;
    }
    return e;
}

typedef struct {
    rag_index *ix;
    uint32_t doc;
    uint32_t len;
    int oom;
} adding;

static int add_term(void *ud, const char *t, size_t n, const rag_token *tok)
{
    (void)tok;
    adding *ad = ud;
    entry *e = find_or_add(ad->ix, t, n);
    if (!e) return ad->oom = -1;
    ad->len++;
    if (e->n && e->p[e->n - 1].doc == ad->doc) {
        e->p[e->n - 1].tf++;
        return 0;
    }
    if (e->n == e->cap) {
        uint32_t cap = e->cap ? e->cap * 2 : 2;
        posting *np = realloc(e->p, cap * sizeof *np);
        if (!np) return ad->oom = -1;
        ad->ix->bytes += (cap - e->cap) * sizeof *np;
        e->p = np;
        e->cap = cap;
    }
    e->p[e->n++] = (posting){ad->doc, 1};
    return 0;
}

static int grow_docs(rag_index *ix)
{
    size_t cap = ix->dcap ? ix->dcap * 2 : 256;
    uint32_t *dl = realloc(ix->dl, cap * sizeof *dl);
    if (!dl) return -1;
    ix->dl = dl;
    uint8_t *dead = realloc(ix->dead, cap);
    if (!dead) return -1;
    ix->dead = dead;
    ix->bytes += (cap - ix->dcap) * (sizeof *dl + 1);
    ix->dcap = cap;
    return 0;
}

int64_t rag_index_add(rag_index *ix, const char *text, size_t n)
{
    if (ix->ndocs >= UINT32_MAX) return -1;
    if (ix->ndocs == ix->dcap && grow_docs(ix) < 0) return -1;
    adding ad = {ix, (uint32_t)ix->ndocs, 0, 0};
    rag_analyze(ix->a, text, n, add_term, &ad);
    /* On failure part of the document may be indexed: it becomes a tombstone. */
    ix->dl[ad.doc] = ad.len;
    ix->dead[ad.doc] = ad.oom ? 1 : 0;
    ix->ndocs++;
    if (ad.oom) return -1;
    ix->live++;
    ix->total += ad.len;
    return ad.doc;
}

void rag_index_remove(rag_index *ix, uint32_t doc)
{
    if (doc >= ix->ndocs || ix->dead[doc]) return;
    ix->dead[doc] = 1;
    ix->live--;
}

typedef struct {
    rag_index *ix;
    const entry **terms;
    size_t n, cap;
} query;

static int add_query_term(void *ud, const char *t, size_t n, const rag_token *tok)
{
    (void)tok;
    query *q = ud;
    const entry *e = slot(q->ix->e, q->ix->ecap, t, n);
    if (!e->term) return 0;
    for (size_t i = 0; i < q->n; i++)
        if (q->terms[i] == e) return 0;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        const entry **nt = realloc(q->terms, cap * sizeof *nt);
        if (!nt) return -1;
        q->terms = nt;
        q->cap = cap;
    }
    q->terms[q->n++] = e;
    return 0;
}

static size_t accumulate(rag_index *ix, const query *q, double *score, uint32_t *touched,
                         rag_keep_fn keep, void *ud)
{
    const double k1 = 1.2, b = 0.75;
    double N = (double)ix->ndocs, avg = ix->ndocs ? (double)ix->total / (double)ix->ndocs : 1.0;
    if (avg <= 0) avg = 1.0;
    size_t nt = 0;
    for (size_t i = 0; i < q->n; i++) {
        const entry *e = q->terms[i];
        double df = e->n, idf = log(1.0 + (N - df + 0.5) / (df + 0.5));
        for (uint32_t j = 0; j < e->n; j++) {
            uint32_t d = e->p[j].doc;
            if (ix->dead[d]) continue;
            double tf = e->p[j].tf, norm = k1 * (1 - b + b * ix->dl[d] / avg);
            if (score[d] == 0) {
                if (keep && !keep(ud, d)) continue;
                touched[nt++] = d;
            }
            score[d] += idf * tf * (k1 + 1) / (tf + norm);
        }
    }
    return nt;
}

int rag_index_search(rag_index *ix, const char *text, size_t n, rag_keep_fn keep, void *ud,
                     rag_hit *hits, size_t k)
{
    query q = {ix, NULL, 0, 0};
    int rc = -1;
    double *score = NULL;
    uint32_t *touched = NULL;
    if (rag_analyze(ix->a, text, n, add_query_term, &q) != 0) goto out;
    rc = 0;
    if (!q.n || !ix->ndocs) goto out;
    rc = -1;
    score = calloc(ix->ndocs, sizeof *score);
    touched = malloc(ix->ndocs * sizeof *touched);
    if (!score || !touched) goto out;
    size_t nt = accumulate(ix, &q, score, touched, keep, ud);
    rc = (int)rag_topk(score, touched, nt, hits, k);
out:
    free(q.terms);
    free(score);
    free(touched);
    return rc;
}

size_t rag_index_docs(const rag_index *ix)
{
    return ix->ndocs;
}
size_t rag_index_terms(const rag_index *ix)
{
    return ix->eused;
}
size_t rag_index_bytes(const rag_index *ix)
{
    return ix->bytes + ix->ecap * sizeof(entry);
}
