/*
 * The RAG plugin's start: every base, document and chunk read from the KV
 * a page at a time, ready documents indexed, interrupted jobs resumed, and
 * keys of what no longer exists deleted (rag.h).
 */
#include "rag.h"

#include "embed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*item_fn)(const char *key, const json_t *value);

typedef struct {
    const char *prefix;
    item_fn item;
    void (*done)(void);
} phase;

static void run(const phase *p, const char *after);

static void scanned(ah_ctx *ctx, int status, const ah_kv_item *items, size_t n, const char *next,
                    void *ud)
{
    (void)ctx;
    const phase *p = ud;
    if (status) {
        R.host->log(R.ctx, AH_LOG_ERROR, "rag: loading %s: %s", p->prefix, ah_strerror(status));
        R.loaded = -1;
        return;
    }
    for (size_t i = 0; i < n; i++)
        p->item(items[i].key, items[i].value);
    if (next)
        run(p, next);
    else
        p->done();
}

static void run(const phase *p, const char *after)
{
    if (R.host->kv_scan(R.ctx, p->prefix, after, 200, scanned, (void *)p) != AH_OK) R.loaded = -1;
}

/* Splits "a/b/c..." after the prefix into up to n parts (copied into buf). */
static size_t parts(const char *key, size_t skip, char *buf, size_t cap, char **out, size_t n)
{
    snprintf(buf, cap, "%s", key + skip);
    size_t k = 0;
    for (char *s = buf, *slash; s && k < n; s = slash ? slash + 1 : NULL) {
        slash = strchr(s, '/');
        if (slash) *slash = 0;
        out[k++] = s;
    }
    return k;
}

static void orphan(const char *key)
{
    R.host->log(R.ctx, AH_LOG_INFO, "rag: deleting %s (its base or document is gone)", key);
    R.host->kv_delete(R.ctx, key, NULL, NULL);
}

static void kb_item(const char *key, const json_t *v)
{
    if (!rag_kbs_add(&R.kbs, key + 3, v)) R.loaded = -1;
}

static void doc_item(const char *key, const json_t *v)
{
    char buf[600], *p[2];
    rag_kb *kb = parts(key, 4, buf, sizeof buf, p, 2) == 2 ? rag_kbs_find(&R.kbs, p[0]) : NULL;
    if (!kb)
        orphan(key);
    else if (!rag_kb_doc_add(kb, p[1], v))
        R.loaded = -1;
}

static void chunk_item(const char *key, const json_t *v)
{
    char buf[700], *p[4];
    rag_kb *kb = parts(key, 6, buf, sizeof buf, p, 4) == 4 ? rag_kbs_find(&R.kbs, p[0]) : NULL;
    rag_doc *d = kb ? rag_kb_doc(kb, p[1]) : NULL;
    if (!d || json_integer_value(json_object_get(d->rec, "gen")) != atoll(p[2])) {
        orphan(key);
        return;
    }
    const char *state = json_string_value(json_object_get(d->rec, "state"));
    if (!state || strcmp(state, "ready") != 0) return; /* its job rewrites it */
    size_t dim = 0;
    const char *hash = json_string_value(json_object_get(v, "hash"));
    const float *vec = hash ? rag_emb_find(hash, &dim) : NULL;
    if (rag_kb_chunk_add(kb, d, (uint32_t)atol(p[3]),
                         json_string_value(json_object_get(v, "text")) ?: "",
                         (size_t)json_integer_value(json_object_get(v, "start")),
                         (size_t)json_integer_value(json_object_get(v, "end")),
                         (size_t)json_integer_value(json_object_get(v, "tokens")),
                         json_object_get(v, "path"), vec, dim) < 0)
        R.loaded = -1;
}

static void src_got(ah_ctx *ctx, int status, const json_t *value, void *ud)
{
    (void)ctx;
    char *key = ud; /* "src/<kb>/<doc>" */
    char buf[600], *p[2];
    rag_kb *kb = parts(key, 4, buf, sizeof buf, p, 2) == 2 ? rag_kbs_find(&R.kbs, p[0]) : NULL;
    rag_doc *d = kb ? rag_kb_doc(kb, p[1]) : NULL;
    const char *text = json_string_value(json_object_get(value, "text"));
    if (d && !status && text) {
        R.host->log(R.ctx, AH_LOG_INFO, "rag: resuming the ingestion of %s/%s", p[0], p[1]);
        rag_store_ingest(kb, d, strdup(text), strlen(text));
    } else if (d) {
        json_object_set_new(d->rec, "state", json_string("failed"));
        json_object_set_new(d->rec, "error", json_string("its text was lost: add it again"));
    }
    free(key);
}

static void resume(void)
{
    for (size_t i = 0; i < R.kbs.n; i++) {
        rag_kb *kb = R.kbs.kbs[i];
        for (size_t k = 0; k < kb->ndocs; k++) {
            const char *state = json_string_value(json_object_get(kb->docs[k].rec, "state"));
            if (!kb->docs[k].live || (state && strcmp(state, "ready") == 0)) continue;
            char *key = NULL;
            if (asprintf(&key, "src/%s/%s", kb->name, kb->docs[k].id) < 0) continue;
            if (R.host->kv_get(R.ctx, key, src_got, key) != AH_OK) free(key);
        }
    }
    if (R.loaded == 0) R.loaded = 1;
    R.host->log(R.ctx, AH_LOG_INFO, "rag: %zu knowledge bases loaded", R.kbs.n);
}

static const phase CHUNKS = {"chunk/", chunk_item, resume};
static void chunks(void)
{
    run(&CHUNKS, NULL);
}
static const phase DOCS = {"doc/", doc_item, chunks};
static void docs(void)
{
    run(&DOCS, NULL);
}
static const phase KBS = {"kb/", kb_item, docs};
static void kbs(void)
{
    run(&KBS, NULL);
}
/* Embeddings first: chunks are indexed with theirs as they are read. */
static const phase EMBS = {"emb/", rag_emb_load_item, kbs};

void rag_store_load(void)
{
    run(&EMBS, NULL);
}
