/*
 * The RAG plugin's vector side: exact nearest neighbours by cosine over
 * stored embeddings, and the fusion of ranked lists (hybrid search). Plain C, no host. Exact search
 * reads every vector: linear in the base (ADR 0029 states where an approximate index would take
 * over).
 */
#ifndef RAG_VEC_H
#define RAG_VEC_H

#include "bm25.h"
#include "topk.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t dim, n, cap;
    float *v; /* n unit vectors of dim floats */
} rag_vecs;

/* Appends v (dim floats; normalised on the way in; a zero vector stays
 * zero). Returns its id, or -1 when out of memory. */
int64_t rag_vecs_add(rag_vecs *s, const float *v);
void rag_vecs_free(rag_vecs *s);

/* Scales v (d floats) to unit length in place; a zero vector stays zero. */
void rag_normalise(float *v, size_t d);

/* xorshift64: the next pseudo-random number from state *x (not 0). */
uint64_t rag_rand_next(uint64_t *x);

/* The k nearest to q by cosine, best first, among ids keep accepts (keep
 * may be NULL). Returns how many, or -1 when out of memory. */
int rag_vecs_search(const rag_vecs *s, const float *q, rag_keep_fn keep, void *ud, rag_hit *hits,
                    size_t k);

/* How hybrid search fuses its ranked lists (docs/plugins/rag.md#hybrid-fusion). */
typedef enum {
    RAG_FUSE_CONVEX = 0, /* a weighted mean of each list's scores, min-max normalised */
    RAG_FUSE_RRF,        /* reciprocal rank fusion */
} rag_fusion;

/* Fuses ranked lists (best first) over the ids they hold. Convex: each
 * list's scores are min-max normalised to [0, 1] over the list (all equal:
 * 1), a document a list lacks counts 0 there, and score(d) = sum of
 * w[i] * norm_i(d) / sum of w[i]. RRF: score(d) = sum of w[i] / (60 +
 * rank_i(d)), ranks from 1. The top `top` into out, best first, ties to
 * the id first met; returns how many, or -1 when out of memory. */
/* "rrf" is RAG_FUSE_RRF; anything else (NULL, "convex") the default. */
rag_fusion rag_fusion_named(const char *name);

int rag_fuse(const rag_hit *const *lists, const size_t *lens, const double *w, size_t nlists,
             rag_fusion how, rag_hit *out, size_t top);

#endif
