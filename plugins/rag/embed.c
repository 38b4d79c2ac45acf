/*
 * Embeddings through the LLM instance (embed.h).
 */
#include "embed.h"

#include "rag.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the store in memory: hash -> vector (open addressing) ---------------- */

typedef struct {
    char hash[17];
    float *v;
} slot;

static struct {
    slot *t;
    size_t cap, n, dim;
} E;

static size_t slot_of(const char *hash, size_t cap)
{
    uint64_t h = strtoull(hash, NULL, 16);
    return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

const float *rag_emb_find(const char *hash, size_t *dim)
{
    if (!E.cap) return NULL;
    for (size_t i = slot_of(hash, E.cap), k = 0; k < E.cap; i = (i + 1) & (E.cap - 1), k++) {
        if (!E.t[i].v) return NULL;
        if (!strcmp(E.t[i].hash, hash)) {
            *dim = E.dim;
            return E.t[i].v;
        }
    }
    return NULL;
}

static int grow(void)
{
    size_t cap = E.cap ? E.cap * 2 : 1024;
    slot *t = calloc(cap, sizeof *t);
    if (!t) return -1;
    for (size_t i = 0; i < E.cap; i++) {
        if (!E.t[i].v) continue;
        size_t j = slot_of(E.t[i].hash, cap);
        while (t[j].v)
            j = (j + 1) & (cap - 1);
        t[j] = E.t[i];
    }
    free(E.t);
    E.t = t;
    E.cap = cap;
    return 0;
}

/* Keeps the vector of arr (numbers) under hash; 0, or -1 (another
 * dimension than the first, not numbers, out of memory). */
static int emb_put(const char *hash, const json_t *arr)
{
    size_t dim = json_array_size(arr), d;
    if (!dim || (E.dim && dim != E.dim)) return -1;
    if (rag_emb_find(hash, &d)) return 0;
    if ((E.n + 1) * 2 > E.cap && grow() < 0) return -1;
    float *v = malloc(dim * sizeof *v);
    if (!v) return -1;
    for (size_t i = 0; i < dim; i++) {
        const json_t *x = json_array_get(arr, i);
        if (!json_is_number(x)) {
            free(v);
            return -1;
        }
        v[i] = (float)json_number_value(x);
    }
    E.dim = dim;
    size_t j = slot_of(hash, E.cap);
    while (E.t[j].v)
        j = (j + 1) & (E.cap - 1);
    snprintf(E.t[j].hash, sizeof E.t[j].hash, "%s", hash);
    E.t[j].v = v;
    E.n++;
    return 0;
}

static const char *model_name(void)
{
    return R.embed_model ? R.embed_model : "";
}

void rag_emb_load_item(const char *key, const json_t *value)
{
    const char *m = json_string_value(json_object_get(value, "model"));
    if (strcmp(m ? m : "", model_name()) != 0) return; /* another model's: embedded again */
    if (emb_put(key + 4, json_object_get(value, "v")) < 0)
        R.host->log(R.ctx, AH_LOG_WARN, "rag: %s: not an embedding of dimension %zu", key, E.dim);
}

void rag_emb_free(void)
{
    for (size_t i = 0; i < E.cap; i++)
        free(E.t[i].v);
    free(E.t);
    memset(&E, 0, sizeof E);
}

/* ---- the embed action -------------------------------------------------------- */

static json_t *embed_args(json_t *input)
{
    json_t *a = json_pack("{s:o}", "input", input);
    if (R.embed_model) json_object_set_new(a, "model", json_string(R.embed_model));
    if (R.embed_dimensions) json_object_set_new(a, "dimensions", json_integer(R.embed_dimensions));
    return a;
}

typedef struct {
    char **texts;
    char (*hashes)[17];
    size_t n, next, batch; /* batch: how many the call in flight asked for */
    json_t *got;           /* the batch's vectors, kept in memory once durable */
    rag_embed_done done;
    void *ud;
} run;

static void run_free(run *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->texts[i]);
    free(r->texts);
    free(r->hashes);
    free(r);
}

static void run_end(run *r, int status, const char *msg)
{
    json_decref(r->got);
    r->got = NULL;
    r->done(status, msg, r->ud);
    run_free(r);
}

static void run_step(run *r);

static void batch_stored(ah_ctx *ctx, int status, void *ud)
{
    (void)ctx;
    run *r = ud;
    if (status) return run_end(r, status, "storing the embeddings failed");
    for (size_t i = 0; i < r->batch; i++)
        emb_put(r->hashes[r->next + i], json_array_get(r->got, i));
    json_decref(r->got);
    r->got = NULL;
    r->next += r->batch;
    run_step(r);
}

static void batch_embedded(ah_ctx *ctx, int status, const json_t *result, const char *code,
                           const char *message, void *ud)
{
    (void)ctx;
    run *r = ud;
    char msg[400];
    if (status) {
        snprintf(msg, sizeof msg, "embedding through %s failed: %s: %s", R.embed_instance,
                 code ? code : ah_strerror(status), message ? message : "");
        return run_end(r, status, msg);
    }
    const json_t *vs = json_object_get(result, "embeddings");
    if (json_array_size(vs) != r->batch) {
        snprintf(msg, sizeof msg, "embedding through %s: %zu vectors for %zu texts",
                 R.embed_instance, json_array_size(vs), r->batch);
        return run_end(r, AH_EPROTO, msg);
    }
    ah_kv_entry *items = calloc(r->batch, sizeof *items);
    char(*keys)[24] = calloc(r->batch, sizeof *keys);
    json_t **vals = calloc(r->batch, sizeof *vals);
    int bad = !items || !keys || !vals;
    for (size_t i = 0; !bad && i < r->batch; i++) {
        const json_t *v = json_array_get(vs, i);
        size_t dim = json_array_size(v);
        if (!dim || (E.dim && dim != E.dim) || dim != json_array_size(json_array_get(vs, 0)))
            bad = 1;
        snprintf(keys[i], sizeof keys[i], "emb/%s", r->hashes[r->next + i]);
        vals[i] = json_pack("{s:s,s:O}", "model", model_name(), "v", (json_t *)v);
        items[i] = (ah_kv_entry){.key = keys[i], .value = vals[i]};
    }
    r->got = json_incref((json_t *)vs);
    int rc = bad ? AH_EPROTO : R.host->kv_put_many(R.ctx, items, r->batch, batch_stored, r);
    for (size_t i = 0; vals && i < r->batch; i++)
        json_decref(vals[i]);
    free(items);
    free(keys);
    free(vals);
    if (rc) run_end(r, rc, "embeddings of another dimension, or storing them failed");
}

static void run_step(run *r)
{
    if (r->next >= r->n) return run_end(r, 0, NULL);
    r->batch = r->n - r->next < R.embed_batch ? r->n - r->next : R.embed_batch;
    json_t *in = json_array();
    for (size_t i = 0; i < r->batch; i++)
        json_array_append_new(in, json_string(r->texts[r->next + i]));
    json_t *args = embed_args(in);
    int rc =
        R.host->call(R.ctx, R.embed_instance, "embed", args, R.embed_timeout_ms, batch_embedded, r);
    json_decref(args);
    if (rc) run_end(r, rc, "the embed call could not be made");
}

void rag_embed_missing(const char *const *texts, const char (*hashes)[17], size_t n,
                       rag_embed_done done, void *ud)
{
    run *r = calloc(1, sizeof *r);
    if (r) {
        r->texts = calloc(n + 1, sizeof *r->texts);
        r->hashes = calloc(n + 1, sizeof *r->hashes);
    }
    if (!r || !r->texts || !r->hashes) {
        if (r) run_free(r);
        done(AH_ENOMEM, "out of memory", ud);
        return;
    }
    r->done = done;
    r->ud = ud;
    for (size_t i = 0; i < n; i++) {
        size_t dim;
        int dup = rag_emb_find(hashes[i], &dim) != NULL;
        for (size_t k = 0; !dup && k < r->n; k++)
            dup = !strcmp(r->hashes[k], hashes[i]);
        if (dup) continue;
        memcpy(r->hashes[r->n], hashes[i], 17);
        if (!(r->texts[r->n] = strdup(texts[i]))) {
            run_free(r);
            done(AH_ENOMEM, "out of memory", ud);
            return;
        }
        r->n++;
    }
    run_step(r);
}

typedef struct {
    rag_query_cb cb;
    void *ud;
} query;

static void query_embedded(ah_ctx *ctx, int status, const json_t *result, const char *code,
                           const char *message, void *ud)
{
    (void)ctx;
    query *q = ud;
    const json_t *v = json_array_get(json_object_get(result, "embeddings"), 0);
    size_t dim = json_array_size(v);
    float *f = dim ? malloc(dim * sizeof *f) : NULL;
    char msg[400];
    if (status || !f) {
        snprintf(msg, sizeof msg, "embedding the query through %s failed: %s: %s", R.embed_instance,
                 code ? code : ah_strerror(status), message ? message : "");
        q->cb(NULL, 0, status ? status : AH_EPROTO, msg, q->ud);
    } else {
        double norm = 0;
        for (size_t i = 0; i < dim; i++) {
            f[i] = (float)json_number_value(json_array_get(v, i));
            norm += (double)f[i] * f[i];
        }
        norm = norm > 0 ? 1.0 / sqrt(norm) : 0;
        for (size_t i = 0; i < dim; i++)
            f[i] = (float)(f[i] * norm);
        q->cb(f, dim, 0, NULL, q->ud);
    }
    free(f);
    free(q);
}

void rag_embed_query(const char *text, rag_query_cb cb, void *ud)
{
    query *q = malloc(sizeof *q);
    if (q) *q = (query){cb, ud};
    json_t *args = embed_args(json_pack("[s]", text));
    int rc = q && args ? R.host->call(R.ctx, R.embed_instance, "embed", args, R.embed_timeout_ms,
                                      query_embedded, q)
                       : AH_ENOMEM;
    json_decref(args);
    if (rc) {
        free(q);
        cb(NULL, 0, rc, "the embed call could not be made", ud);
    }
}
