/*
 * IVF-Flat over unit vectors (ann.h).
 */
#include "ann.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct rag_ann {
    size_t dim, nlist;
    float *cent;     /* nlist unit centroids */
    uint32_t **list; /* each list's ids, */
    float **lvec;    /* and their vectors, contiguous: a probe reads them in order */
    size_t *len, *cap;
    size_t listed;  /* vectors [0, listed) of the store are in lists */
    size_t trained; /* the store's size when trained */
};

static float dot(const float *a, const float *b, size_t d)
{
    float s = 0;
    for (size_t i = 0; i < d; i++)
        s += a[i] * b[i];
    return s;
}

static size_t nearest(const rag_ann *a, const float *v)
{
    size_t best = 0;
    float bs = -INFINITY;
    for (size_t c = 0; c < a->nlist; c++) {
        float s = dot(a->cent + c * a->dim, v, a->dim);
        if (s > bs) bs = s, best = c;
    }
    return best;
}

/* Spherical k-means over the sample's vectors (ids into s). */
static int train(rag_ann *a, const rag_vecs *s, const uint32_t *sample, size_t m, unsigned iters,
                 uint64_t *rng)
{
    size_t d = a->dim;
    float *sum = calloc(a->nlist * d, sizeof *sum);
    size_t *count = calloc(a->nlist, sizeof *count);
    if (!sum || !count) {
        free(sum);
        free(count);
        return -1;
    }
    for (size_t c = 0; c < a->nlist; c++) /* the first nlist of a shuffled sample */
        memcpy(a->cent + c * d, s->v + (size_t)sample[c] * d, d * sizeof(float));
    for (unsigned it = 0; it < iters; it++) {
        memset(sum, 0, a->nlist * d * sizeof *sum);
        memset(count, 0, a->nlist * sizeof *count);
        for (size_t i = 0; i < m; i++) {
            const float *v = s->v + (size_t)sample[i] * d;
            size_t c = nearest(a, v);
            float *t = sum + c * d;
            for (size_t j = 0; j < d; j++)
                t[j] += v[j];
            count[c]++;
        }
        for (size_t c = 0; c < a->nlist; c++) {
            float *ce = a->cent + c * d;
            if (count[c]) {
                memcpy(ce, sum + c * d, d * sizeof(float));
                rag_normalise(ce, d);
            } else { /* an empty list starts again from a random vector */
                size_t r = (size_t)(rag_rand_next(rng) % m);
                memcpy(ce, s->v + (size_t)sample[r] * d, d * sizeof(float));
            }
        }
    }
    free(sum);
    free(count);
    return 0;
}

static int list_add(rag_ann *a, size_t c, uint32_t id, const float *v)
{
    if (a->len[c] == a->cap[c]) {
        size_t cap = a->cap[c] ? a->cap[c] * 2 : 16;
        uint32_t *nl = realloc(a->list[c], cap * sizeof *nl);
        if (!nl) return -1;
        a->list[c] = nl;
        float *nv = realloc(a->lvec[c], cap * a->dim * sizeof *nv);
        if (!nv) return -1;
        a->lvec[c] = nv;
        a->cap[c] = cap;
    }
    memcpy(a->lvec[c] + a->len[c] * a->dim, v, a->dim * sizeof *v);
    a->list[c][a->len[c]++] = id;
    return 0;
}

int rag_ann_catch_up(rag_ann *a, const rag_vecs *s)
{
    for (; a->listed < s->n; a->listed++) {
        const float *v = s->v + a->listed * a->dim;
        if (list_add(a, nearest(a, v), (uint32_t)a->listed, v) < 0) return -1;
    }
    return 0;
}

void rag_ann_free(rag_ann *a)
{
    if (!a) return;
    for (size_t c = 0; a->list && c < a->nlist; c++)
        free(a->list[c]);
    for (size_t c = 0; a->lvec && c < a->nlist; c++)
        free(a->lvec[c]);
    free(a->list);
    free(a->lvec);
    free(a->len);
    free(a->cap);
    free(a->cent);
    free(a);
}

rag_ann *rag_ann_build(const rag_vecs *s, const rag_ann_opts *o)
{
    if (!s->n || !s->dim) return NULL;
    rag_ann_opts def = {0};
    if (!o) o = &def;
    size_t nlist = o->nlist ? o->nlist : (size_t)sqrt((double)s->n);
    if (!o->nlist) nlist = nlist < 16 ? 16 : nlist > 4096 ? 4096 : nlist;
    if (nlist > s->n) nlist = s->n;
    size_t m = o->train_max ? o->train_max : 64 * nlist;
    if (m > s->n) m = s->n;
    if (m < nlist) m = nlist;
    uint64_t rng = o->seed ? o->seed : 0x9E3779B97F4A7C15ull;
    rag_ann *a = calloc(1, sizeof *a);
    uint32_t *perm = malloc(s->n * sizeof *perm);
    if (!a || !perm) goto fail;
    a->dim = s->dim;
    a->nlist = nlist;
    a->cent = malloc(nlist * s->dim * sizeof *a->cent);
    a->list = calloc(nlist, sizeof *a->list);
    a->lvec = calloc(nlist, sizeof *a->lvec);
    a->len = calloc(nlist, sizeof *a->len);
    a->cap = calloc(nlist, sizeof *a->cap);
    if (!a->cent || !a->list || !a->lvec || !a->len || !a->cap) goto fail;
    for (size_t i = 0; i < s->n; i++)
        perm[i] = (uint32_t)i;
    for (size_t i = 0; i < m; i++) { /* a partial Fisher-Yates: the sample in front */
        size_t j = i + (size_t)(rag_rand_next(&rng) % (s->n - i));
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    if (train(a, s, perm, m, o->iters ? o->iters : 8, &rng) < 0) goto fail;
    free(perm);
    perm = NULL;
    a->trained = s->n;
    if (rag_ann_catch_up(a, s) < 0) goto fail;
    return a;
fail:
    free(perm);
    rag_ann_free(a);
    return NULL;
}

size_t rag_ann_nlist(const rag_ann *a)
{
    return a ? a->nlist : 0;
}

const float *rag_ann_centroids(const rag_ann *a)
{
    return a ? a->cent : NULL;
}

size_t rag_ann_listed(const rag_ann *a)
{
    return a ? a->listed : 0;
}

size_t rag_ann_bytes(const rag_ann *a)
{
    if (!a) return 0;
    size_t b = sizeof *a + a->nlist * (a->dim * sizeof(float) + sizeof(uint32_t *) +
                                       sizeof(float *) + 2 * sizeof(size_t));
    for (size_t c = 0; c < a->nlist; c++)
        b += a->cap[c] * (sizeof(uint32_t) + a->dim * sizeof(float));
    return b;
}

int rag_ann_search(const rag_ann *a, const rag_vecs *s, const float *q, size_t nprobe,
                   rag_keep_fn keep, void *ud, rag_hit *hits, size_t k)
{
    if (nprobe > a->nlist) nprobe = a->nlist;
    if (!nprobe) nprobe = 1;
    double *cs = malloc(a->nlist * sizeof *cs);
    uint32_t *ci = malloc(a->nlist * sizeof *ci);
    rag_hit *probe = malloc(nprobe * sizeof *probe);
    double *score = NULL;
    uint32_t *local = NULL, *ids = NULL;
    int rc = -1;
    if (!cs || !ci || !probe) goto out;
    for (size_t c = 0; c < a->nlist; c++) {
        cs[c] = dot(a->cent + c * a->dim, q, a->dim);
        ci[c] = (uint32_t)c;
    }
    size_t np = rag_topk(cs, ci, a->nlist, probe, nprobe), total = 0;
    for (size_t p = 0; p < np; p++)
        total += a->len[probe[p].doc];
    score = malloc((total + 1) * sizeof *score);
    local = malloc((total + 1) * sizeof *local);
    ids = malloc((total + 1) * sizeof *ids);
    if (!score || !local || !ids) goto out;
    size_t m = 0;
    for (size_t p = 0; p < np; p++) {
        const uint32_t *l = a->list[probe[p].doc];
        const float *lv = a->lvec[probe[p].doc];
        for (size_t i = 0; i < a->len[probe[p].doc]; i++) {
            uint32_t id = l[i];
            if (id >= s->n || (keep && !keep(ud, id))) continue;
            score[m] = dot(lv + i * a->dim, q, a->dim);
            ids[m] = id;
            local[m] = (uint32_t)m;
            m++;
        }
    }
    rc = (int)rag_topk(score, local, m, hits, k);
    for (int i = 0; i < rc; i++)
        hits[i].doc = ids[hits[i].doc];
out:
    free(cs);
    free(ci);
    free(probe);
    free(score);
    free(local);
    free(ids);
    return rc;
}

int rag_vsearch(rag_ann **a, const rag_vecs *s, const rag_vsearch_opts *o, const float *q,
                rag_keep_fn keep, void *ud, rag_hit *hits, size_t k)
{
    if (s->n < o->min_vectors || s->n == 0) return rag_vecs_search(s, q, keep, ud, hits, k);
    if (*a && s->n >= 2 * (*a)->trained) { /* the lists drifted from the data: train again */
        rag_ann_free(*a);
        *a = NULL;
    }
    if (!*a && !(*a = rag_ann_build(s, NULL))) return rag_vecs_search(s, q, keep, ud, hits, k);
    if (rag_ann_catch_up(*a, s) < 0) return -1;
    int n = rag_ann_search(*a, s, q, o->nprobe ? o->nprobe : 32, keep, ud, hits, k);
    if (n >= 0 && (size_t)n < k && keep) return rag_vecs_search(s, q, keep, ud, hits, k);
    return n;
}
