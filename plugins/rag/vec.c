/*
 * Exact cosine search and the fusion of ranked lists (vec.h).
 */
#include "vec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int64_t rag_vecs_add(rag_vecs *s, const float *v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        float *nv = realloc(s->v, cap * s->dim * sizeof *nv);
        if (!nv) return -1;
        s->v = nv;
        s->cap = cap;
    }
    float *o = s->v + s->n * s->dim;
    memcpy(o, v, s->dim * sizeof *o);
    rag_normalise(o, s->dim);
    return (int64_t)s->n++;
}

void rag_normalise(float *v, size_t d)
{
    double n = 0;
    for (size_t i = 0; i < d; i++)
        n += (double)v[i] * v[i];
    double inv = n > 0 ? 1.0 / sqrt(n) : 0;
    for (size_t i = 0; i < d; i++)
        v[i] = (float)(v[i] * inv);
}

uint64_t rag_rand_next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

void rag_vecs_free(rag_vecs *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

int rag_vecs_search(const rag_vecs *s, const float *q, rag_keep_fn keep, void *ud, rag_hit *hits,
                    size_t k)
{
    double *score = malloc((s->n + 1) * sizeof *score);
    uint32_t *ids = malloc((s->n + 1) * sizeof *ids);
    int rc = -1;
    if (!score || !ids) goto out;
    size_t m = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (keep && !keep(ud, (uint32_t)i)) continue;
        const float *v = s->v + i * s->dim;
        double dot = 0;
        for (size_t j = 0; j < s->dim; j++)
            dot += (double)v[j] * q[j];
        score[i] = dot;
        ids[m++] = (uint32_t)i;
    }
    rc = (int)rag_topk(score, ids, m, hits, k);
out:
    free(score);
    free(ids);
    return rc;
}

/* The index of id among the m ids held so far, added when new (the lists
 * are short: at most a few hundred ids in all). */
static size_t slot(uint32_t *ids, size_t *m, uint32_t id)
{
    size_t j = 0;
    while (j < *m && ids[j] != id)
        j++;
    if (j == *m) ids[(*m)++] = id;
    return j;
}

rag_fusion rag_fusion_named(const char *name)
{
    return name && strcmp(name, "rrf") == 0 ? RAG_FUSE_RRF : RAG_FUSE_CONVEX;
}

int rag_fuse(const rag_hit *const *lists, const size_t *lens, const double *w, size_t nlists,
             rag_fusion how, rag_hit *out, size_t top)
{
    size_t cap = 1, m = 0;
    double wsum = 0;
    for (size_t l = 0; l < nlists; l++) {
        cap += lens[l];
        wsum += w[l];
    }
    uint32_t *ids = malloc(cap * sizeof *ids), *local = malloc(cap * sizeof *local);
    double *score = calloc(cap, sizeof *score);
    int rc = -1;
    if (!ids || !local || !score) goto done;
    for (size_t l = 0; l < nlists; l++) {
        double hi = lens[l] ? lists[l][0].score : 0, lo = hi;
        for (size_t r = 1; r < lens[l]; r++) {
            if (lists[l][r].score > hi) hi = lists[l][r].score;
            if (lists[l][r].score < lo) lo = lists[l][r].score;
        }
        for (size_t r = 0; r < lens[l]; r++) {
            size_t j = slot(ids, &m, lists[l][r].doc);
            if (how == RAG_FUSE_RRF)
                score[j] += w[l] / (60.0 + (double)(r + 1));
            else /* min-max to [0, 1]; a list whose scores are all equal: 1 */
                score[j] += w[l] * (hi > lo ? (lists[l][r].score - lo) / (hi - lo) : 1.0);
        }
    }
    for (size_t j = 0; j < m; j++) {
        local[j] = (uint32_t)j;
        if (how == RAG_FUSE_CONVEX && wsum > 0) score[j] /= wsum;
    }
    rc = (int)rag_topk(score, local, m, out, top);
    for (int i = 0; i < rc; i++)
        out[i].doc = ids[out[i].doc];
done:
    free(ids);
    free(local);
    free(score);
    return rc;
}
