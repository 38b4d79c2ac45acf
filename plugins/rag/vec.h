/*
 * The RAG plugin's vector side: exact nearest neighbours by cosine over
 * stored embeddings, and reciprocal rank fusion of ranked lists (hybrid
 * search). Plain C, no host. Exact search reads every vector: linear in
 * the base (ADR 0029 states where an approximate index would take over).
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

/* The k nearest to q by cosine, best first, among ids keep accepts (keep
 * may be NULL). Returns how many, or -1 when out of memory. */
int rag_vecs_search(const rag_vecs *s, const float *q, rag_keep_fn keep, void *ud, rag_hit *hits,
                    size_t k);

/* Reciprocal rank fusion: score(d) = sum over lists i of w[i] / (c + rank),
 * rank counted from 1 (c = 60 in the literature). ids below max_id. The top
 * `top` into out; returns how many, or -1 when out of memory. */
int rag_rrf(const rag_hit *const *lists, const size_t *lens, const double *w, size_t nlists,
            double c, size_t max_id, rag_hit *out, size_t top);

#endif
