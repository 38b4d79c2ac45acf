/*
 * webchat_rate.h - the web chat's rate limits: fixed one-minute windows
 * counted per "what:key" (a session, an address). Loop thread only. Not a
 * public header.
 */
#ifndef AH_API_WEBCHAT_RATE_H
#define AH_API_WEBCHAT_RATE_H

#include "core/strmap.h"

#include <stdint.h>

typedef struct wc_rates {
    strmap windows; /* "what:key" -> its window */
} wc_rates;

void wc_rates_init(wc_rates *r);
void wc_rates_free(wc_rates *r);

/* Count one for what:key against limit a minute: 0 when it may go on,
 * else the seconds until its window ends (for Retry-After). Past 100,000
 * keys every window is forgotten. */
unsigned wc_rate_hit(wc_rates *r, const char *what, const char *key, uint32_t limit);

#endif
