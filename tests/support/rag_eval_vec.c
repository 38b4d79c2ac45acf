/*
 * The RAG evaluation's vector and hybrid runs (rag_eval.h): the stand-in
 * embeddings of tests/fakes/ngram_embed.c, exact cosine search and the
 * fusion of plugins/rag/vec.c.
 */
#include "rag_eval.h"

#include "../../plugins/rag/vec.h"
#include "../fakes/ngram_embed.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    rag_vecs vecs;
    rag_index *ix; /* hybrid only */
    float *q;
    double w_bm25, w_vec;
    size_t depth;
    rag_fusion fusion;
} runner;

static int build(runner *r, const rag_set *s, int dims)
{
    r->vecs = (rag_vecs){.dim = (size_t)dims};
    r->q = malloc((size_t)dims * sizeof *r->q);
    float *v = malloc((size_t)dims * sizeof *v);
    int rc = r->q && v ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < s->ndocs; i++) {
        ngram_embed(s->doc_text[i], strlen(s->doc_text[i]), v, dims);
        if (rag_vecs_add(&r->vecs, v) != (int64_t)i) rc = -1;
    }
    free(v);
    return rc;
}

static int vec_hits(runner *r, const char *query, rag_hit *hits, size_t k)
{
    ngram_embed(query, strlen(query), r->q, (int)r->vecs.dim);
    return rag_vecs_search(&r->vecs, r->q, NULL, NULL, hits, k);
}

static int rank_vec(void *ud, const char *query, uint32_t *docs, size_t k)
{
    rag_hit hits[10];
    int n = vec_hits(ud, query, hits, k < 10 ? k : 10);
    for (int i = 0; i < n; i++)
        docs[i] = hits[i].doc;
    return n < 0 ? 0 : n;
}

int rag_eval_vectors(const rag_set *s, int dims, rag_scores *out)
{
    runner r = {0};
    int rc = build(&r, s, dims);
    if (rc == 0) rag_score(s, rank_vec, &r, out);
    rag_vecs_free(&r.vecs);
    free(r.q);
    return rc;
}

static int rank_hybrid(void *ud, const char *query, uint32_t *docs, size_t k)
{
    runner *r = ud;
    rag_hit lex[100], vec[100], fused[10];
    size_t depth = r->depth < 100 ? r->depth : 100;
    int nl = rag_index_search(r->ix, query, strlen(query), NULL, NULL, lex, depth);
    int nv = vec_hits(r, query, vec, depth);
    const rag_hit *lists[2] = {lex, vec};
    size_t lens[2] = {nl < 0 ? 0 : (size_t)nl, nv < 0 ? 0 : (size_t)nv};
    double w[2] = {r->w_bm25, r->w_vec};
    int n = rag_fuse(lists, lens, w, 2, r->fusion, fused, k < 10 ? k : 10);
    for (int i = 0; i < n; i++)
        docs[i] = fused[i].doc;
    return n < 0 ? 0 : n;
}

int rag_eval_hybrid(const rag_set *s, int dims, const rag_eval_fusion *f, rag_scores *out)
{
    runner r = {.w_bm25 = f->w_bm25, .w_vec = f->w_vec, .depth = f->depth, .fusion = f->how};
    rag_analyzer *a = rag_analyzer_new(1);
    r.ix = a ? rag_index_new(a) : NULL;
    int rc = r.ix ? build(&r, s, dims) : -1;
    for (size_t i = 0; rc == 0 && i < s->ndocs; i++)
        if (rag_index_add(r.ix, s->doc_text[i], strlen(s->doc_text[i])) != (int64_t)i) rc = -1;
    if (rc == 0) rag_score(s, rank_hybrid, &r, out);
    rag_index_free(r.ix);
    rag_analyzer_free(a);
    rag_vecs_free(&r.vecs);
    free(r.q);
    return rc;
}
