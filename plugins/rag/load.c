/*
 * The RAG plugin's start (rag.h): the bases' and documents' records read
 * from the KV a page at a time; a previous version's chunks and
 * embeddings in the KV (chunk/, emb/) moved into the index on disk once
 * (ADR 0054) and deleted from the KV (ids and names whole, whatever their
 * length; a document one of whose embeddings was not moved, malformed or
 * another model's, ingested again from its text instead); interrupted
 * jobs resumed, documents whose index is missing ingested again from their
 * text; keys of what no longer exists deleted.
 */
#include "rag.h"

#include "embed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*item_fn)(const char *key, const json_t *value);
typedef void (*page_fn)(const ah_kv_item *items, size_t n);

typedef struct {
    const char *prefix;
    item_fn item; /* each item, or */
    page_fn page; /* each page */
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
    if (p->page) p->page(items, n);
    for (size_t i = 0; p->item && i < n; i++)
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

/* Splits "a/b/c..." after the prefix into up to n parts, in a copy of the
 * key whatever its length (the caller frees it; NULL when out of memory);
 * *k: how many. */
static char *parts(const char *key, size_t skip, char **out, size_t n, size_t *k)
{
    char *buf = strdup(key + skip);
    *k = 0;
    for (char *s = buf, *slash; s && *k < n; s = slash ? slash + 1 : NULL) {
        slash = strchr(s, '/');
        if (slash) *slash = 0;
        out[(*k)++] = s;
    }
    return buf;
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
    char *p[2];
    size_t k;
    char *buf = parts(key, 4, p, 2, &k);
    rag_kb *kb = k == 2 ? rag_kbs_find(&R.kbs, p[0]) : NULL;
    if (!buf)
        R.loaded = -1;
    else if (!kb)
        orphan(key);
    else if (!rag_kb_doc_add(kb, p[1], v))
        R.loaded = -1;
    free(buf);
}

/* ---- migration of a previous version's chunks (chunk/<kb>/<doc>/<gen>/<seq>) ---- */

static struct {
    char *kb, *doc; /* whole, whatever their length */
    json_t *items;  /* the current document's chunk values, in seq order */
    size_t moved, docs;
} M;

static void migrate_forget(void)
{
    json_decref(M.items);
    M.items = NULL;
    free(M.kb);
    free(M.doc);
    M.kb = M.doc = NULL;
}

/* Every chunk's embedding is on disk (moved from emb/), or none is wanted;
 * not when one was dropped (malformed) or is another model's. */
static int all_embedded(const rag_disk_chunk *c, size_t n)
{
    size_t dim;
    for (size_t i = 0; R.embed_instance && i < n; i++)
        if (c[i].hash &&
            rag_disk_emb_get(R.kbs.disk, c[i].hash, rag_embed_model_name(), NULL, 0, &dim) != 1)
            return 0;
    return 1;
}

static void migrate_flush(void)
{
    if (!M.items) return;
    rag_kb *kb = rag_kbs_find(&R.kbs, M.kb);
    rag_doc *d = kb ? rag_kb_doc(kb, M.doc) : NULL;
    const char *hash = d ? json_string_value(json_object_get(d->rec, "hash")) : NULL;
    size_t n = json_array_size(M.items);
    rag_disk_chunk *c = calloc(n + 1, sizeof *c);
    char **paths = calloc(n + 1, sizeof *paths);
    for (size_t i = 0; hash && c && paths && i < n; i++) {
        const json_t *v = json_array_get(M.items, i);
        const json_t *t = json_object_get(json_object_get(v, "_k"), "seq");
        paths[i] = json_dumps(json_object_get(v, "path") ?: json_array(), JSON_COMPACT);
        c[i] = (rag_disk_chunk){(uint32_t)json_integer_value(t),
                                (size_t)json_integer_value(json_object_get(v, "start")),
                                (size_t)json_integer_value(json_object_get(v, "end")),
                                (size_t)json_integer_value(json_object_get(v, "tokens")),
                                json_string_value(json_object_get(v, "text")) ?: "",
                                json_string_length(json_object_get(v, "text")),
                                paths[i] ? paths[i] : "[]",
                                json_string_value(json_object_get(v, "hash"))};
    }
    if (hash && c && paths && !all_embedded(c, n)) {
        R.host->log(R.ctx, AH_LOG_INFO,
                    "rag: %s/%s: an embedding was not moved (malformed, or another model's): "
                    "ingested again from its text",
                    M.kb, M.doc);
        json_object_set_new(d->rec, "state", json_string("ingesting")); /* resume() does it */
    } else if (hash && c && paths) {
        if (rag_disk_index_doc(R.kbs.disk, R.kbs.a, M.kb, M.doc, hash, c, n,
                               R.embed_instance ? rag_embed_model_name() : NULL) < 0) {
            R.host->log(R.ctx, AH_LOG_ERROR, "rag: moving %s/%s to the index on disk: %s", M.kb,
                        M.doc, rag_disk_error(R.kbs.disk));
            R.loaded = -1;
        } else {
            M.moved += n;
            M.docs++;
        }
    }
    for (size_t i = 0; paths && i < n; i++)
        free(paths[i]);
    free(paths);
    free(c);
    migrate_forget();
}

static void chunk_item(const char *key, const json_t *v)
{
    char *p[4];
    size_t k;
    char *buf = parts(key, 6, p, 4, &k);
    rag_kb *kb = k == 4 ? rag_kbs_find(&R.kbs, p[0]) : NULL;
    rag_doc *d = kb ? rag_kb_doc(kb, p[1]) : NULL;
    const char *state = d ? json_string_value(json_object_get(d->rec, "state")) : NULL;
    if (!d || json_integer_value(json_object_get(d->rec, "gen")) != atoll(p[2]) || !state ||
        strcmp(state, "ready") != 0) {
        free(buf); /* gone, replaced, or its job rewrites it: deleted with the rest */
        return;
    }
    if (M.items && (strcmp(M.kb, p[0]) != 0 || strcmp(M.doc, p[1]) != 0)) migrate_flush();
    if (!M.items) {
        M.items = json_array();
        M.kb = strdup(p[0]);
        M.doc = strdup(p[1]);
        if (!M.items || !M.kb || !M.doc) {
            R.loaded = -1;
            migrate_forget();
            free(buf);
            return;
        }
    }
    json_t *c = json_deep_copy(v);
    json_object_set_new(c, "_k", json_pack("{s:I}", "seq", (json_int_t)atoll(p[3])));
    json_array_append_new(M.items, c);
    free(buf);
}

static void emb_page(const ah_kv_item *items, size_t n)
{
    if (rag_emb_migrate(items, n) < 0) {
        R.host->log(R.ctx, AH_LOG_ERROR, "rag: moving embeddings to the index on disk: %s",
                    rag_disk_error(R.kbs.disk));
        R.loaded = -1;
    }
}

static void src_got(ah_ctx *ctx, int status, const json_t *value, void *ud)
{
    (void)ctx;
    char *key = ud; /* "src/<kb>/<doc>" */
    char *p[2];
    size_t k;
    char *buf = parts(key, 4, p, 2, &k);
    rag_kb *kb = k == 2 ? rag_kbs_find(&R.kbs, p[0]) : NULL;
    rag_doc *d = kb ? rag_kb_doc(kb, p[1]) : NULL;
    const char *text = json_string_value(json_object_get(value, "text"));
    if (d && !status && text) {
        R.host->log(R.ctx, AH_LOG_INFO, "rag: resuming the ingestion of %s/%s", p[0], p[1]);
        rag_store_ingest(kb, d, strdup(text), strlen(text));
    } else if (d) {
        json_object_set_new(d->rec, "state", json_string("failed"));
        json_object_set_new(d->rec, "error", json_string("its text was lost: add it again"));
    }
    free(buf);
    free(key);
}

/* The document's text from src/ (kept while the document lives), ingested
 * again. */
static void reingest(rag_kb *kb, rag_doc *d)
{
    char *key = NULL;
    if (asprintf(&key, "src/%s/%s", kb->name, d->id) < 0) return;
    if (R.host->kv_get(R.ctx, key, src_got, key) != AH_OK) free(key);
}

static void resume(void)
{
    migrate_flush();
    if (M.docs) {
        R.host->log(R.ctx, AH_LOG_INFO,
                    "rag: %zu chunks of %zu documents moved from the KV to the index on disk",
                    M.moved, M.docs);
    }
    if (R.loaded == 0) { /* the previous version's keys: on disk now (or of another model) */
        rag_store_purge("chunk/");
        rag_store_purge("emb/");
    }
    for (size_t i = 0; i < R.kbs.n; i++) {
        rag_kb *kb = R.kbs.kbs[i];
        for (size_t k = 0; k < kb->ndocs; k++) {
            rag_doc *d = &kb->docs[k];
            const char *state = json_string_value(json_object_get(d->rec, "state"));
            const char *hash = json_string_value(json_object_get(d->rec, "hash"));
            char on_disk[17];
            if (!d->live) continue;
            if (!state || strcmp(state, "ready") != 0) {
                reingest(kb, d); /* interrupted: resumed */
                continue;
            }
            if (rag_disk_doc_hash(R.kbs.disk, kb->name, d->id, on_disk) == 1 && hash &&
                !strcmp(on_disk, hash))
                continue;
            R.host->log(R.ctx, AH_LOG_WARN,
                        "rag: %s/%s is not in the index on disk: ingested again", kb->name, d->id);
            json_object_set_new(d->rec, "state", json_string("ingesting"));
            reingest(kb, d);
        }
    }
    if (R.loaded == 0) R.loaded = 1;
    R.host->log(R.ctx, AH_LOG_INFO, "rag: %zu knowledge bases loaded", R.kbs.n);
}

static const phase CHUNKS = {"chunk/", chunk_item, NULL, resume};
static void chunks(void)
{
    run(&CHUNKS, NULL);
}
static const phase EMBS = {"emb/", NULL, emb_page, chunks};
static void embs(void)
{
    run(&EMBS, NULL);
}
static const phase DOCS = {"doc/", doc_item, NULL, embs};
static void docs(void)
{
    run(&DOCS, NULL);
}
static const phase KBS = {"kb/", kb_item, NULL, docs};

void rag_store_load(void)
{
    run(&KBS, NULL);
}
