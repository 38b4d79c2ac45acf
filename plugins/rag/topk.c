/*
 * The k best of scored ids (topk.h): a min-heap of k, then sorted.
 */
#include "topk.h"

/* Is a worse than b? (lower score, or equal score and higher id) */
static int worse(const rag_hit *a, const rag_hit *b)
{
    return a->score < b->score || (a->score == b->score && a->doc > b->doc);
}

static void sift_down(rag_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(&h[l], &h[m])) m = l;
        if (r < n && worse(&h[r], &h[m])) m = r;
        if (m == i) return;
        rag_hit t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sift_up(rag_hit *h, size_t i)
{
    while (i && worse(&h[i], &h[(i - 1) / 2])) {
        rag_hit t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

/* Keeps the k best of the scores in a min-heap, then sorts best first. */
size_t rag_topk(const double *score, const uint32_t *ids, size_t n, rag_hit *h, size_t k)
{
    size_t got = 0;
    for (size_t i = 0; i < n; i++) {
        rag_hit c = {ids[i], score[ids[i]]};
        if (got < k) {
            h[got] = c;
            sift_up(h, got++);
        } else if (k && worse(&h[0], &c)) {
            h[0] = c;
            sift_down(h, got, 0);
        }
    }
    for (size_t m = got; m > 1; m--) {
        rag_hit t = h[0];
        h[0] = h[m - 1];
        h[m - 1] = t;
        sift_down(h, m - 1, 0);
    }
    return got;
}
