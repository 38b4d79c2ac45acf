/*
 * webchat_rate.c - fixed-window counts (webchat_rate.h).
 */
#include "webchat_rate.h"

#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>

#define RATE_WINDOW_MS 60000
#define RATE_KEYS_MAX 100000

typedef struct rate {
    uint64_t start;
    uint32_t n;
} rate;

void wc_rates_init(wc_rates *r)
{
    strmap_init(&r->windows);
}

void wc_rates_free(wc_rates *r)
{
    size_t pos = 0;
    const char *k;
    void *v;
    while (strmap_next(&r->windows, &pos, &k, &v))
        free(v);
    strmap_free(&r->windows);
}

unsigned wc_rate_hit(wc_rates *rs, const char *what, const char *key, uint32_t limit)
{
    char k[200];
    snprintf(k, sizeof(k), "%s:%s", what, key);
    uint64_t now = ah_mono_ms();
    rate *r = strmap_get(&rs->windows, k);
    if (!r) {
        if (rs->windows.n >= RATE_KEYS_MAX) { /* forget the old windows */
            wc_rates_free(rs);
            wc_rates_init(rs);
        }
        r = calloc(1, sizeof(*r));
        if (!r || strmap_put(&rs->windows, k, r) != 0) {
            free(r);
            return 0;
        }
        r->start = now;
    }
    if (now - r->start >= RATE_WINDOW_MS) {
        r->start = now;
        r->n = 0;
    }
    if (r->n >= limit) {
        unsigned s = (unsigned)((RATE_WINDOW_MS - (now - r->start) + 999) / 1000);
        return s ? s : 1;
    }
    r->n++;
    return 0;
}
