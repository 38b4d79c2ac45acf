/*
 * The k best of scored ids (shared by BM25 and the vector search): best
 * first, ties to the lower id.
 */
#ifndef RAG_TOPK_H
#define RAG_TOPK_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t doc;
    double score;
} rag_hit;

/* The k best of (ids[i], score[ids[i]]) into h[0..k), best first; returns how many. */
size_t rag_topk(const double *score, const uint32_t *ids, size_t n, rag_hit *h, size_t k);

#endif
