/*
 * Exact cosine search and reciprocal rank fusion (vec.h).
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
    double norm = 0;
    for (size_t i = 0; i < s->dim; i++)
        norm += (double)v[i] * v[i];
    norm = norm > 0 ? 1.0 / sqrt(norm) : 0;
    float *o = s->v + s->n * s->dim;
    for (size_t i = 0; i < s->dim; i++)
        o[i] = (float)(v[i] * norm);
    return (int64_t)s->n++;
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

int rag_rrf(const rag_hit *const *lists, const size_t *lens, const double *w, size_t nlists,
            double c, size_t max_id, rag_hit *out, size_t top)
{
    double *score = calloc(max_id + 1, sizeof *score);
    uint32_t *ids = malloc((max_id + 1) * sizeof *ids);
    uint8_t *seen = calloc(max_id + 1, 1);
    int rc = -1;
    if (!score || !ids || !seen) goto done;
    size_t m = 0;
    for (size_t l = 0; l < nlists; l++) {
        for (size_t r = 0; r < lens[l]; r++) {
            uint32_t d = lists[l][r].doc;
            if (d >= max_id) continue;
            if (!seen[d]) ids[m++] = d;
            seen[d] = 1;
            score[d] += w[l] / (c + (double)(r + 1));
        }
    }
    rc = (int)rag_topk(score, ids, m, out, top);
done:
    free(score);
    free(ids);
    free(seen);
    return rc;
}
