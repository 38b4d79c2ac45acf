/*
 * The RAG plugin's embeddings (docs/plugins/rag.md#embeddings): fetched
 * through the configured LLM instance's `embed` action (host->call, ABI
 * 1.4, ADR 0047), kept in the KV under the hash of the chunk's text
 * (emb/<hash>: {model, v}) so that no text is embedded twice, and held in
 * memory by that hash for indexing.
 */
#ifndef RAG_EMBED_H
#define RAG_EMBED_H

#include <jansson.h>
#include <stddef.h>

/* The stored embedding of a text of that hash, or NULL; *dim set. */
const float *rag_emb_find(const char *hash, size_t *dim);
/* A KV item emb/<hash> read at start. */
void rag_emb_load_item(const char *key, const json_t *value);
void rag_emb_free(void);

/* Embeds, in batches of R.embed_batch, every text whose hash has no
 * stored embedding yet (a hash repeated among them once), storing each
 * batch before the next is asked for; then done(0, NULL). On a failure
 * done(status, message): what was stored stays, a later run asks only for
 * the rest. texts and hashes are copied. */
typedef void (*rag_embed_done)(int status, const char *message, void *ud);
void rag_embed_missing(const char *const *texts, const char (*hashes)[17], size_t n,
                       rag_embed_done done, void *ud);

/* The query's embedding, normalised (v borrowed for the callback; NULL
 * with status and message on failure). */
typedef void (*rag_query_cb)(const float *v, size_t dim, int status, const char *message, void *ud);
void rag_embed_query(const char *text, rag_query_cb cb, void *ud);

#endif
