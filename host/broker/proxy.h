/*
 * proxy.h - the proxy for a destination, from the standard environment
 * variables, read once at start: https_proxy / HTTPS_PROXY, http_proxy
 * (lower case only, as curl does, since HTTP_PROXY can be set by a CGI
 * client), all_proxy / ALL_PROXY, no_proxy / NO_PROXY ("*", host names
 * and domain suffixes, IP addresses, IPv4 CIDR ranges).
 *
 * The broker decides, not curl, so that it knows when a connection goes
 * to a proxy: the proxy then resolves names, and the address rules apply
 * to IP-literal destinations only (checked before sending).
 */
#ifndef AH_BROKER_PROXY_H
#define AH_BROKER_PROXY_H

#include "policy.h"

typedef struct proxy_conf {
    char *http, *https, *all, *no;
} proxy_conf;

void proxy_from_env(proxy_conf *p);
void proxy_free(proxy_conf *p);
/* The proxy URL for the target, or NULL for a direct connection. */
const char *proxy_for(const proxy_conf *p, const egress_target *t);

#endif
