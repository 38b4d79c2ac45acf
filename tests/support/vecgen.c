/*
 * Generated clustered vectors (vecgen.h).
 */
#include "vecgen.h"

#include <math.h>
#include <stdlib.h>

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* A standard normal (Box-Muller). */
static double gauss(uint64_t *x)
{
    double u = ((double)(rnd(x) >> 11) + 1.0) / 9007199254740993.0;
    double v = (double)(rnd(x) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

int vecgen_init(vecgen *g, size_t dim, size_t clusters, double noise, uint64_t seed)
{
    *g = (vecgen){dim, clusters, noise, seed, NULL, seed ? seed : 1};
    g->centres = malloc(dim * clusters * sizeof *g->centres);
    if (!g->centres) return -1;
    for (size_t c = 0; c < clusters; c++) {
        float *v = g->centres + c * dim;
        double n = 0;
        for (size_t i = 0; i < dim; i++) {
            v[i] = (float)gauss(&g->rng);
            n += (double)v[i] * v[i];
        }
        for (size_t i = 0; i < dim; i++)
            v[i] = (float)(v[i] / sqrt(n));
    }
    return 0;
}

void vecgen_free(vecgen *g)
{
    free(g->centres);
    g->centres = NULL;
}

void vecgen_next(vecgen *g, float *v)
{
    const float *c = g->centres + (size_t)(rnd(&g->rng) % g->clusters) * g->dim;
    double sd = g->noise / sqrt((double)g->dim);
    for (size_t i = 0; i < g->dim; i++)
        v[i] = (float)(c[i] + sd * gauss(&g->rng));
}

int vecgen_fill(vecgen *g, rag_vecs *s, size_t n)
{
    s->dim = g->dim;
    float *v = malloc(g->dim * sizeof *v);
    if (!v) return -1;
    if (s->cap < s->n + n) { /* one allocation rather than doublings */
        float *nv = realloc(s->v, (s->n + n) * g->dim * sizeof *nv);
        if (!nv) {
            free(v);
            return -1;
        }
        s->v = nv;
        s->cap = s->n + n;
    }
    for (size_t i = 0; i < n; i++) {
        vecgen_next(g, v);
        if (rag_vecs_add(s, v) < 0) {
            free(v);
            return -1;
        }
    }
    free(v);
    return 0;
}

double vecgen_recall(const rag_hit *exact, size_t ne, const rag_hit *approx, size_t na, size_t k)
{
    if (ne > k) ne = k;
    if (na > k) na = k;
    if (!ne) return 1.0;
    size_t found = 0;
    for (size_t i = 0; i < ne; i++)
        for (size_t j = 0; j < na; j++)
            if (exact[i].doc == approx[j].doc) {
                found++;
                break;
            }
    return (double)found / (double)ne;
}
