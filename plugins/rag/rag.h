/*
 * The RAG plugin (issue 18, docs/plugins/rag.md): the state its files
 * share. rag.c answers the actions; store.c keeps the KV and memory in
 * step: loading at start, ingestion jobs, purges.
 *
 * KV layout (all JSON):
 *   kb/<kb>                      the base: name, max_tokens, overlap_tokens, created_ms
 *   doc/<kb>/<doc>               the document: id, title, format, language, tags, bytes,
 *                                hash, gen, state (ingesting|ready), chunks
 *   src/<kb>/<doc>               its text while it is being ingested (the job resumes from it)
 *   chunk/<kb>/<doc>/<gen>/<seq> a chunk: text, start, end (characters), bytes [start, end],
 *                                tokens, path (heading titles), hash
 *   emb/<hash>                   the embedding of a chunk text of that hash: model, v
 * A document's chunks of another generation (a replaced version), and keys
 * of a base or document that no longer exists, are deleted when found.
 */
#ifndef RAG_PLUGIN_H
#define RAG_PLUGIN_H

#include "ann.h"
#include "kb.h"

#include <agenthost/plugin.h>

typedef struct {
    const ah_host *host;
    ah_ctx *ctx;
    rag_kbs kbs;
    int loaded; /* 1 once the KV is loaded, -1 if that failed */
    size_t max_document_bytes;
    size_t max_tokens, overlap_tokens; /* defaults for new bases */
    int log_queries;                   /* query texts in rag_integration.log */
    const char *embed_instance;        /* the LLM instance embedding, or NULL: BM25 only */
    const char *embed_model;           /* passed to its embed action, or NULL: its default */
    size_t embed_batch;                /* texts per embed call */
    json_int_t embed_dimensions;       /* passed to embed, or 0 */
    uint32_t embed_timeout_ms;
    const char *answer_instance; /* the LLM instance answering (answer), or NULL */
    const char *rerank_instance; /* the LLM instance re-ranking (rerank.h), else answer_instance */
    const char *rerank_model;    /* passed to its chat action, or NULL: its default */
    uint32_t rerank_timeout_ms;  /* one re-ranking call; 0: 30 s */
    double w_bm25, w_vector;     /* hybrid's default weights */
    rag_fusion fusion;           /* hybrid's default fusion */
    rag_vsearch_opts ann;        /* vector search: exact below ann.min_vectors (ann.h) */
    size_t ann_train_slice;      /* multiply-adds per slice of IVF training (ADR 0058) */
    ah_timer *train_timer;       /* the next slice, while a training is under way */
} rag_plugin;

extern rag_plugin R;

/* Reads every base, document and chunk from the KV (asynchronously; R.loaded
 * says when it is done) and resumes interrupted ingestion jobs. */
void rag_store_load(void);

/* Ingests document d of kb from text (taken): chunks written to the KV one
 * after another, then the record marked ready and the chunks indexed. */
void rag_store_ingest(rag_kb *kb, rag_doc *d, char *text, size_t len);

/* Deletes every key under prefix, a page at a time, in the background. */
void rag_store_purge(const char *prefix);

/* search.c: a search (the search action's arguments: kb, top_k, tags,
 * language, mode, weights) for query; then runs once with out (stolen:
 * {kb, mode, passages, note?}) or an error code and message (the base is
 * unknown, the mode needs embeddings, the query's embedding failed). */
typedef void (*rag_search_then)(ah_call *call, const json_t *args, json_t *out, const char *code,
                                const char *message, void *ud);
void rag_search_start(ah_call *call, const json_t *args, const char *query, rag_search_then then,
                      void *ud);

/* answer.c: the answer action (rag.answer): a search, then the LLM. */
void rag_answer(ah_call *call, const json_t *args);

/* FNV-1a 64 of s[0..n) as 16 hex digits into out[17]. */
void rag_hash(const char *s, size_t n, char out[17]);

#endif
