/*
 * The RAG plugin's approximate nearest neighbours (ADR 0048): an inverted
 * file index (IVF-Flat) over the unit vectors of a rag_vecs (vec.h).
 * Spherical k-means on a sample gives nlist centroids; every vector is
 * listed under its nearest centroid, its vector copied into the list (a
 * list's vectors are contiguous: a probe reads them in order rather than
 * by id across the store); a query scores the centroids, scans the vectors
 * of the nprobe best lists exactly, and keeps the k best by cosine. The
 * plugin keeps its index on disk the same way (disk.h, ADR 0054) and uses
 * this file's training. Plain C, no host, no library: FAISS (C++, BLAS, OpenMP) does not
 * fit a sandboxed C plugin (the ADR has the comparison).
 *
 * rag_vsearch is what a search calls: exact (rag_vecs_search) below a
 * base size, the index above it, built on first use, vectors added since
 * listed on the way, retrained when the base has doubled since training.
 */
#ifndef RAG_ANN_H
#define RAG_ANN_H

#include "vec.h"

#include <stddef.h>
#include <stdint.h>

typedef struct rag_ann rag_ann;

typedef struct {
    size_t nlist;     /* lists; 0: sqrt(n) within [16, 4096] */
    size_t train_max; /* vectors sampled for k-means; 0: 64 per list */
    unsigned iters;   /* k-means rounds; 0: 8 */
    uint64_t seed;    /* the sample and the first centroids (deterministic) */
} rag_ann_opts;

/* Trains on s and lists its vectors. NULL when out of memory or s is empty. */
rag_ann *rag_ann_build(const rag_vecs *s, const rag_ann_opts *o);
void rag_ann_free(rag_ann *a);

/* Lists the vectors of s added since the index last saw it. 0 or -1. */
int rag_ann_catch_up(rag_ann *a, const rag_vecs *s);

/* The k nearest to q (unit or not: ranking is by dot product with the
 * unit vectors) among the vectors of the nprobe lists whose centroids are
 * nearest, and that keep accepts (keep may be NULL). Best first; returns
 * how many, or -1 when out of memory. */
int rag_ann_search(const rag_ann *a, const rag_vecs *s, const float *q, size_t nprobe,
                   rag_keep_fn keep, void *ud, rag_hit *hits, size_t k);

/* Lists, vectors listed and the store size it was trained at; bytes it holds. */
size_t rag_ann_nlist(const rag_ann *a);
size_t rag_ann_listed(const rag_ann *a);
size_t rag_ann_bytes(const rag_ann *a);
/* The nlist unit centroids, nlist * dim floats (the index on disk keeps
 * them; disk.h). */
const float *rag_ann_centroids(const rag_ann *a);

typedef struct {
    size_t min_vectors; /* exact below this many vectors */
    size_t nprobe;      /* lists scanned per query; 0: 32 */
} rag_vsearch_opts;

/* Exact below o->min_vectors; above, the index in *a (built, caught up or
 * retrained as needed). With a filter that leaves fewer than k in the
 * probed lists, the search is exact (a narrow filter must not lose hits).
 * Returns how many hits, or -1 when out of memory. */
int rag_vsearch(rag_ann **a, const rag_vecs *s, const rag_vsearch_opts *o, const float *q,
                rag_keep_fn keep, void *ud, rag_hit *hits, size_t k);

#endif
