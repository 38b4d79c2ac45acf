/*
 * The RAG plugin's ingestion jobs and KV purges (rag.h): a document's
 * chunks embedded (each batch stored on disk before the next is asked
 * for), then indexed on disk in one transaction, then its record marked
 * ready in the KV.
 */
#include "rag.h"

#include "chunk.h"
#include "embed.h"
#include "html.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fnv64(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

void rag_hash(const char *s, size_t n, char out[17])
{
    snprintf(out, 17, "%016llx", (unsigned long long)fnv64(s, n));
}

/* ---- purges -------------------------------------------------------------- */

typedef struct {
    char *prefix;
    char **keys;
    size_t n, i, failed;
    char *next;
} purge;

static void purge_page(purge *p);

static void purge_free(purge *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->keys[i]);
    free(p->keys);
    free(p->next);
    free(p->prefix);
    free(p);
}

static void purge_deleted(ah_ctx *ctx, int status, void *ud)
{
    (void)ctx;
    purge *p = ud;
    if (status) {
        R.host->log(R.ctx, AH_LOG_WARN, "rag: delete %s: %s", p->keys[p->i], ah_strerror(status));
        p->failed++;
    }
    p->i++;
    purge_page(p);
}

static void purge_scanned(ah_ctx *ctx, int status, const ah_kv_item *items, size_t n,
                          const char *next, void *ud)
{
    (void)ctx;
    purge *p = ud;
    for (size_t i = 0; i < p->n; i++)
        free(p->keys[i]);
    free(p->keys);
    p->keys = NULL;
    p->n = p->i = 0;
    if (status || n == 0 || (p->failed && p->failed >= n)) {
        purge_free(p); /* done, or no progress: what is left goes at the next load */
        return;
    }
    p->failed = 0;
    p->keys = calloc(n, sizeof *p->keys);
    for (size_t i = 0; p->keys && i < n; i++)
        p->keys[p->n++] = strdup(items[i].key);
    free(p->next);
    p->next = NULL;
    purge_page(p);
}

static void purge_page(purge *p)
{
    if (p->i < p->n && p->keys[p->i]) {
        if (R.host->kv_delete(R.ctx, p->keys[p->i], purge_deleted, p) == AH_OK) return;
        purge_free(p); /* refused (busy, closing): the next load finishes it */
        return;
    }
    /* the page is gone: scan from the start of what remains */
    if (R.host->kv_scan(R.ctx, p->prefix, NULL, 200, purge_scanned, p) != AH_OK) purge_free(p);
}

void rag_store_purge(const char *prefix)
{
    purge *p = calloc(1, sizeof *p);
    if (!p || !(p->prefix = strdup(prefix))) {
        free(p);
        return;
    }
    purge_page(p);
}

/* ---- ingestion jobs ------------------------------------------------------ */

typedef struct {
    char *kb, *doc, *hash; /* the version being ingested: its document hash */
    json_int_t gen;
    char *text;
    size_t len;
    rag_chunk *c;
    size_t n, next;
    char (*hashes)[17];
    unsigned char *dup;  /* the chunk's content is an earlier chunk's */
    int embedded;        /* every chunk's embedding is stored (or none is wanted) */
    uint32_t backoff_ms; /* the wait before the next embedding attempt */
} job;

static void job_free(job *j)
{
    rag_chunks_free(j->c, j->n);
    free(j->hashes);
    free(j->dup);
    free(j->kb);
    free(j->doc);
    free(j->hash);
    free(j->text);
    free(j);
}

/* The document as the job knows it, or NULL when deleted or replaced. */
static rag_doc *job_doc(job *j, rag_kb **kb)
{
    *kb = rag_kbs_find(&R.kbs, j->kb);
    rag_doc *d = *kb ? rag_kb_doc(*kb, j->doc) : NULL;
    if (!d) return NULL;
    const char *h = json_string_value(json_object_get(d->rec, "hash"));
    return h && strcmp(h, j->hash) == 0 ? d : NULL;
}

/* Character offsets of byte positions in the text, counted from where the
 * last one was asked (chunks come in order, overlapping a little), so that
 * a document is counted about once, not once per chunk. */
typedef struct {
    const char *s;
    size_t at, chars; /* byte position, characters before it */
} char_cursor;

static size_t chars_at(char_cursor *c, size_t to)
{
    for (; c->at < to; c->at++)
        c->chars += ((unsigned char)c->s[c->at] & 0xC0) != 0x80;
    for (; c->at > to; c->at--)
        c->chars -= ((unsigned char)c->s[c->at - 1] & 0xC0) != 0x80;
    return c->chars;
}

static json_t *path_json(const rag_chunk *c)
{
    json_t *p = json_array();
    for (size_t i = 0; i < c->depth; i++)
        json_array_append_new(p, json_string(c->path[i]));
    return p;
}

/* The chunks' content hashes, and which repeat an earlier chunk's (a set
 * of the hashes seen, so a document costs its chunks, not their square);
 * -1 when out of memory. */
static int job_hash(job *j)
{
    size_t cap = 16;
    while (cap < 2 * j->n)
        cap *= 2;
    uint64_t *h = malloc((j->n + 1) * sizeof *h);
    size_t *set = calloc(cap, sizeof *set); /* index + 1 of a chunk of that hash */
    j->hashes = calloc(j->n + 1, sizeof *j->hashes);
    j->dup = calloc(j->n + 1, 1);
    int rc = h && set && j->hashes && j->dup ? 0 : -1;
    for (size_t i = 0; !rc && i < j->n; i++) {
        h[i] = fnv64(j->text + j->c[i].start, j->c[i].end - j->c[i].start);
        snprintf(j->hashes[i], 17, "%016llx", (unsigned long long)h[i]);
        size_t k = (size_t)(h[i] ^ (h[i] >> 31)) & (cap - 1);
        while (set[k] && h[set[k] - 1] != h[i]) /* ends: the set is at most half full */
            k = (k + 1) & (cap - 1);
        if (set[k])
            j->dup[i] = 1;
        else
            set[k] = i + 1;
    }
    free(h);
    free(set);
    return rc;
}

static void job_step(job *j);

static void job_marked(ah_ctx *ctx, int status, void *ud)
{
    (void)ctx;
    job *j = ud;
    rag_kb *kb;
    rag_doc *d = job_doc(j, &kb);
    if (status) {
        R.host->log(R.ctx, AH_LOG_ERROR, "rag: %s/%s: %s (resumed at the next start)", j->kb,
                    j->doc, ah_strerror(status));
    } else if (d) {
        json_object_set_new(d->rec, "state", json_string("ready"));
        d->done = j->n;
        R.host->log(R.ctx, AH_LOG_INFO, "rag: %s/%s ready: %zu chunks", j->kb, j->doc, j->n);
    }
    job_free(j);
}

/* The distinct chunks into the index on disk, in one transaction. */
static int job_index(job *j)
{
    rag_disk_chunk *c = calloc(j->n + 1, sizeof *c);
    char **paths = calloc(j->n + 1, sizeof *paths);
    size_t m = 0;
    int rc = -1;
    char_cursor cur = {j->text, 0, 0};
    if (!c || !paths) goto out;
    for (size_t i = 0; i < j->n; i++) {
        const rag_chunk *k = &j->c[i];
        if (j->dup[i]) continue;
        json_t *p = path_json(k);
        paths[m] = p ? json_dumps(p, JSON_COMPACT) : NULL;
        json_decref(p);
        size_t cs = chars_at(&cur, k->start);
        c[m] = (rag_disk_chunk){(uint32_t)i,
                                cs,
                                chars_at(&cur, k->end),
                                k->tokens,
                                j->text + k->start,
                                k->end - k->start,
                                paths[m] ? paths[m] : "[]",
                                j->hashes[i]};
        m++;
    }
    rc = rag_disk_index_doc(R.kbs.disk, R.kbs.a, j->kb, j->doc, j->hash, c, m,
                            R.embed_instance ? rag_embed_model_name() : NULL);
    if (rc < 0)
        R.host->log(R.ctx, AH_LOG_ERROR, "rag: cannot index %s/%s: %s (resumed at the next start)",
                    j->kb, j->doc, rag_disk_error(R.kbs.disk));
out:
    for (size_t i = 0; paths && i < m; i++)
        free(paths[i]);
    free(paths);
    free(c);
    return rc;
}

#define EMBED_BACKOFF_MAX_MS 60000u

static void job_embed(job *j);

static void job_retry(ah_ctx *ctx, ah_timer *t, void *ud)
{
    (void)ctx;
    (void)t;
    job *j = ud;
    rag_kb *kb;
    if (!job_doc(j, &kb)) {
        job_free(j);
        return;
    }
    job_embed(j);
}

static void job_embedded(int status, const char *message, void *ud)
{
    job *j = ud;
    rag_kb *kb;
    rag_doc *d = job_doc(j, &kb);
    if (!d) {
        job_free(j);
        return;
    }
    if (status) {
        /* Kept as it is: what was stored stays, the next attempt asks for the rest. */
        j->backoff_ms = j->backoff_ms ? j->backoff_ms * 2 : 1000;
        if (j->backoff_ms > EMBED_BACKOFF_MAX_MS) j->backoff_ms = EMBED_BACKOFF_MAX_MS;
        R.host->log(R.ctx, AH_LOG_WARN, "rag: %s/%s: %s (again in %u ms)", j->kb, j->doc, message,
                    j->backoff_ms);
        json_object_set_new(d->rec, "error", json_string(message));
        if (!R.host->timer_start(R.ctx, j->backoff_ms, 0, job_retry, j)) job_free(j);
        return;
    }
    json_object_del(d->rec, "error");
    j->embedded = 1;
    job_step(j);
}

/* Every distinct chunk's text, embedded unless stored already. */
static void job_embed(job *j)
{
    const char **texts = calloc(j->n + 1, sizeof *texts);
    char(*hashes)[17] = calloc(j->n + 1, sizeof *hashes);
    char **owned = calloc(j->n + 1, sizeof *owned);
    size_t m = 0;
    for (size_t i = 0; texts && hashes && owned && i < j->n; i++) {
        if (j->dup[i]) continue;
        owned[m] = strndup(j->text + j->c[i].start, j->c[i].end - j->c[i].start);
        texts[m] = owned[m] ? owned[m] : "";
        memcpy(hashes[m], j->hashes[i], 17);
        m++;
    }
    if (texts && hashes && owned)
        rag_embed_missing(texts, (const char(*)[17])hashes, m, job_embedded, j);
    else
        job_embedded(AH_ENOMEM, "out of memory", j);
    for (size_t i = 0; owned && i < m; i++)
        free(owned[i]);
    free(owned);
    free(texts);
    free(hashes);
}

static void job_step(job *j)
{
    rag_kb *kb;
    rag_doc *d = job_doc(j, &kb);
    if (!d) {
        job_free(j);
        return;
    }
    if (!j->embedded) {
        job_embed(j);
        return;
    }
    if (job_index(j) < 0) {
        json_object_set_new(d->rec, "error", json_string(rag_disk_error(R.kbs.disk)));
        job_free(j);
        return;
    }
    char key[700];
    json_t *rec = json_deep_copy(d->rec);
    json_object_set_new(rec, "state", json_string("ready"));
    json_object_set_new(rec, "chunks", json_integer((json_int_t)j->n));
    snprintf(key, sizeof key, "doc/%s/%s", j->kb, j->doc);
    int rc = R.host->kv_put(R.ctx, key, rec, job_marked, j);
    json_decref(rec);
    if (rc != AH_OK) {
        R.host->log(R.ctx, AH_LOG_ERROR, "rag: %s/%s: %s (resumed at the next start)", j->kb,
                    j->doc, ah_strerror(rc));
        job_free(j);
    }
}

void rag_store_ingest(rag_kb *kb, rag_doc *d, char *text, size_t len)
{
    job *j = calloc(1, sizeof *j);
    if (!j) {
        free(text);
        return;
    }
    j->text = text;
    j->len = len;
    j->kb = strdup(kb->name);
    j->doc = strdup(d->id);
    j->hash = strdup(json_string_value(json_object_get(d->rec, "hash")));
    j->gen = json_integer_value(json_object_get(d->rec, "gen"));
    rag_chunk_opts o = {(size_t)json_integer_value(json_object_get(kb->rec, "max_tokens")),
                        (size_t)json_integer_value(json_object_get(kb->rec, "overlap_tokens"))};
    if (!j->kb || !j->doc || !j->hash || rag_chunk_markdown(text, len, &o, &j->c, &j->n) < 0 ||
        job_hash(j) < 0) {
        R.host->log(R.ctx, AH_LOG_ERROR, "rag: cannot chunk %s/%s", kb->name, d->id);
        job_free(j);
        return;
    }
    json_object_set_new(d->rec, "chunks", json_integer((json_int_t)j->n));
    d->done = 0;
    j->embedded = R.embed_instance == NULL;
    job_step(j);
}
