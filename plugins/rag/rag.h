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
    rag_vsearch_opts ann;              /* vector search: exact below ann.min_vectors (ann.h) */
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

/* FNV-1a 64 of s[0..n) as 16 hex digits into out[17]. */
void rag_hash(const char *s, size_t n, char out[17]);

#endif
