/*
 * Generated vectors for the approximate index's test and bench (ADR 0048):
 * a mixture of Gaussian clusters around random unit centres, as embeddings
 * of a base of many topics look, with queries drawn the same way (never
 * from the base). Deterministic for a seed. And recall@k of a result
 * against the exact one.
 */
#ifndef TESTS_VECGEN_H
#define TESTS_VECGEN_H

#include "../../plugins/rag/topk.h"
#include "../../plugins/rag/vec.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t dim, clusters;
    double noise; /* per-dimension standard deviation times sqrt(dim) */
    uint64_t seed;
    float *centres;
    uint64_t rng;
} vecgen;

/* 0, or -1 when out of memory. */
int vecgen_init(vecgen *g, size_t dim, size_t clusters, double noise, uint64_t seed);
void vecgen_free(vecgen *g);
/* One vector of dim floats into v. */
void vecgen_next(vecgen *g, float *v);
/* n vectors appended to s (its dim set). 0 or -1. */
int vecgen_fill(vecgen *g, rag_vecs *s, size_t n);

/* |exact ∩ approx| / |exact| over the first k of each. */
double vecgen_recall(const rag_hit *exact, size_t ne, const rag_hit *approx, size_t na, size_t k);

#endif
