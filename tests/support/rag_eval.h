/*
 * The RAG evaluation (issue 18): a BEIR-layout set (corpus.jsonl,
 * queries.jsonl, qrels.tsv with one relevant document per query) loaded,
 * and retrieval scored by nDCG@10, Recall@1 and Recall@5. Shared by
 * test_rag_eval (floors) and bench_rag (figures).
 */
#ifndef RAG_EVAL_H
#define RAG_EVAL_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t ndocs, nqueries;
    char **doc_id, **doc_text;
    char **query_text;
    int *relevant; /* per query: the index of its relevant document, -1 if none */
} rag_set;

/* Loads dir/{corpus.jsonl,queries.jsonl,qrels.tsv}; 0 or -1 (a message on stderr). */
int rag_set_load(rag_set *s, const char *dir);
void rag_set_free(rag_set *s);

typedef struct {
    double ndcg10, r1, r5;
    size_t queries;
} rag_scores;

/* Ranks for one query: fills docs[0..k) with document indexes, best
 * first, returns how many (k is 10). */
typedef int (*rag_rank_fn)(void *ud, const char *query, uint32_t *docs, size_t k);

void rag_score(const rag_set *s, rag_rank_fn rank, void *ud, rag_scores *out);

/* BM25 over the set's documents (stem: Snowball or folded tokens only). */
int rag_eval_bm25(const rag_set *s, int stem, rag_scores *out);

/* How hybrid fuses: the plugin's fusion (vec.h: convex or RRF) with
 * weights w_bm25 and w_vec, each list cut at depth results. */
typedef struct {
    int how; /* a rag_fusion */
    double w_bm25, w_vec;
    size_t depth;
} rag_eval_fusion;

/* Vectors alone: exact cosine over the stand-in embeddings (ngram_embed.h,
 * dims dimensions). Hybrid: BM25 (stemmed) and those vectors fused as f
 * says. Figures from the stand-in, not a real model. */
int rag_eval_vectors(const rag_set *s, int dims, rag_scores *out);
int rag_eval_hybrid(const rag_set *s, int dims, const rag_eval_fusion *f, rag_scores *out);

#endif
