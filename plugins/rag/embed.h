/*
 * The RAG plugin's embeddings (docs/plugins/rag.md#embeddings): fetched
 * through the configured LLM instance's `embed` action (host->call, ABI
 * 1.4, ADR 0047), kept in the index on disk under the hash of the chunk's
 * text (disk.h: emb) so that no text is embedded twice.
 */
#ifndef RAG_EMBED_H
#define RAG_EMBED_H

#include <agenthost/plugin.h>
#include <jansson.h>
#include <stddef.h>

/* The model the embeddings are made with ("" for the instance's default). */
const char *rag_embed_model_name(void);
/* Migration (load.c): KV items emb/<hash> of the previous version
 * ({model, v}) into the index on disk, one transaction; those of another
 * model are left out. 0 or -1. */
int rag_emb_migrate(const ah_kv_item *items, size_t n);

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
