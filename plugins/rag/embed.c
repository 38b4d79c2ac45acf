/*
 * Embeddings through the LLM instance (embed.h).
 */
#include "embed.h"

#include "rag.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *rag_embed_model_name(void)
{
    return R.embed_model ? R.embed_model : "";
}

static const char *model_name(void)
{
    return rag_embed_model_name();
}

int rag_emb_migrate(const ah_kv_item *items, size_t n)
{
    char(*hashes)[17] = calloc(n + 1, sizeof *hashes);
    float **vecs = calloc(n + 1, sizeof *vecs);
    size_t *dims = calloc(n + 1, sizeof *dims), m = 0;
    int rc = -1;
    if (!hashes || !vecs || !dims) goto out;
    for (size_t i = 0; i < n; i++) {
        const json_t *v = items[i].value, *arr = json_object_get(v, "v");
        const char *model = json_string_value(json_object_get(v, "model"));
        size_t dim = json_array_size(arr);
        if (strlen(items[i].key) != 20 || strcmp(model ? model : "", model_name()) != 0 || !dim)
            continue; /* another model's: embedded again when needed */
        if (!(vecs[m] = malloc(dim * sizeof(float)))) goto out;
        size_t k = 0;
        for (; k < dim; k++) {
            const json_t *x = json_array_get(arr, k);
            double f = json_number_value(x);
            if (!json_is_number(x) || !isfinite(f) || fabs(f) > FLT_MAX) break;
            vecs[m][k] = (float)f;
        }
        if (k < dim) { /* not a vector: dropped, its chunks' documents ingested again */
            R.host->log(R.ctx, AH_LOG_WARN, "rag: %s: v[%zu] is not a number: dropped",
                        items[i].key, k);
            free(vecs[m]);
            vecs[m] = NULL;
            continue;
        }
        memcpy(hashes[m], items[i].key + 4, 17);
        dims[m++] = dim;
    }
    rc = m ? rag_disk_emb_put(R.kbs.disk, (const char(*)[17])hashes, (const float *const *)vecs,
                              dims, m, model_name())
           : 0;
out:
    for (size_t i = 0; vecs && i < m; i++)
        free(vecs[i]);
    free(vecs);
    free(hashes);
    free(dims);
    return rc;
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
    r->done(status, msg, r->ud);
    run_free(r);
}

static void run_step(run *r);

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
    char(*hashes)[17] = calloc(r->batch + 1, sizeof *hashes);
    float **vecs = calloc(r->batch + 1, sizeof *vecs);
    size_t *dims = calloc(r->batch + 1, sizeof *dims),
           dim0 = json_array_size(json_array_get(vs, 0));
    int bad = !hashes || !vecs || !dims;
    for (size_t i = 0; !bad && i < r->batch; i++) {
        const json_t *v = json_array_get(vs, i);
        size_t dim = json_array_size(v);
        if (!dim || dim != dim0 || !(vecs[i] = malloc(dim * sizeof(float)))) {
            bad = 1;
            break;
        }
        for (size_t k = 0; k < dim; k++) {
            const json_t *x = json_array_get(v, k);
            if (!json_is_number(x)) bad = 1;
            vecs[i][k] = (float)json_number_value(x);
        }
        memcpy(hashes[i], r->hashes[r->next + i], 17);
        dims[i] = dim;
    }
    /* the batch on disk (one transaction) before the next is asked for */
    int rc = bad ? -1
                 : rag_disk_emb_put(R.kbs.disk, (const char(*)[17])hashes,
                                    (const float *const *)vecs, dims, r->batch, model_name());
    for (size_t i = 0; vecs && i < r->batch; i++)
        free(vecs[i]);
    free(vecs);
    free(hashes);
    free(dims);
    if (rc < 0)
        return run_end(r, AH_EPROTO,
                       bad ? "embedding: vectors of differing dimensions or not numbers"
                           : "storing the embeddings on disk failed");
    r->next += r->batch;
    run_step(r);
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
        int dup = rag_disk_emb_get(R.kbs.disk, hashes[i], model_name(), NULL, 0, &dim) == 1;
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
        for (size_t i = 0; i < dim; i++)
            f[i] = (float)json_number_value(json_array_get(v, i));
        rag_normalise(f, dim);
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
