/*
 * The RAG plugin's lexical index: BM25 (Robertson/Sparck Jones, Lucene's
 * idf: ln(1 + (N - df + 0.5) / (df + 0.5)); k1 = 1.2, b = 0.75) over an
 * inverted index held in memory. Terms come from an analyzer (analyze.h).
 * Documents (here: chunks) get dense ids in the order they are added;
 * removing one leaves a tombstone that search skips (df and the average
 * length keep counting it until the index is rebuilt; ADR 0029).
 * Plain C, no host: the plugin rebuilds it from its KV at start.
 */
#ifndef RAG_BM25_H
#define RAG_BM25_H

#include "analyze.h"
#include "topk.h"

#include <stddef.h>
#include <stdint.h>

typedef struct rag_index rag_index;

/* The analyzer is borrowed and must outlive the index. */
rag_index *rag_index_new(rag_analyzer *a);
void rag_index_free(rag_index *ix);

/* Indexes text[0..n) as the next document: returns its id (>= 0), or -1
 * when out of memory. */
int64_t rag_index_add(rag_index *ix, const char *text, size_t n);
void rag_index_remove(rag_index *ix, uint32_t doc);

/* Documents a search may return: nonzero to keep. */
typedef int (*rag_keep_fn)(void *ud, uint32_t doc);

/* The k best documents for the query, best first (ties: lower id first),
 * into hits[0..k); returns how many (0 when no term matches); keep may be
 * NULL. -1 when out of memory. */
int rag_index_search(rag_index *ix, const char *q, size_t n, rag_keep_fn keep, void *ud,
                     rag_hit *hits, size_t k);

size_t rag_index_docs(const rag_index *ix); /* ids handed out */
size_t rag_index_terms(const rag_index *ix);
size_t rag_index_bytes(const rag_index *ix); /* memory held, approximately */

#endif
