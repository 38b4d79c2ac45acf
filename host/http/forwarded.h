/*
 * forwarded.h - the client's address behind trusted reverse proxies
 * (http.trusted_proxies; see forwarded.c for the rule).
 */
#ifndef AH_HTTP_FORWARDED_H
#define AH_HTTP_FORWARDED_H

#include <stddef.h>

/* ip holds the peer's address (n bytes); when it is one of trusted (a
 * comma-separated list, may be NULL) and xff (an X-Forwarded-For value,
 * may be NULL) names clients, ip becomes the rightmost address of xff that
 * is not itself trusted. ip is always an address afterwards. */
void forwarded_pick(const char *trusted, const char *xff, char *ip, size_t n);

#endif
