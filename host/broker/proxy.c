/*
 * proxy.c - proxies from the environment. See proxy.h.
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *env_dup(const char *a, const char *b)
{
    const char *v = a ? getenv(a) : NULL;
    if ((!v || !*v) && b) v = getenv(b);
    return v && *v ? strdup(v) : NULL;
}

void proxy_from_env(proxy_conf *p)
{
    p->http = env_dup("http_proxy", NULL);
    p->https = env_dup("https_proxy", "HTTPS_PROXY");
    p->all = env_dup("all_proxy", "ALL_PROXY");
    p->no = env_dup("no_proxy", "NO_PROXY");
}

void proxy_free(proxy_conf *p)
{
    free(p->http);
    free(p->https);
    free(p->all);
    free(p->no);
    memset(p, 0, sizeof(*p));
}

static bool cidr4_match(const char *tok, const egress_target *t)
{
    char net[64];
    const char *slash = strchr(tok, '/');
    if (!slash || slash - tok >= (long)sizeof(net) || t->ip.ss_family != AF_INET) return false;
    memcpy(net, tok, (size_t)(slash - tok));
    net[slash - tok] = 0;
    struct in_addr a;
    int bits = atoi(slash + 1);
    if (inet_pton(AF_INET, net, &a) != 1 || bits < 0 || bits > 32) return false;
    uint32_t mask = bits ? htonl(~0u << (32 - bits)) : 0;
    uint32_t ip = ((const struct sockaddr_in *)&t->ip)->sin_addr.s_addr;
    return (ip & mask) == (a.s_addr & mask);
}

static bool no_proxy_match(const char *list, const egress_target *t)
{
    if (!list) return false;
    char *copy = strdup(list);
    if (!copy) return false;
    bool hit = false;
    for (char *save = NULL, *tok = strtok_r(copy, ", ", &save); tok && !hit;
         tok = strtok_r(NULL, ", ", &save)) {
        if (!strcmp(tok, "*")) {
            hit = true;
            break;
        }
        if (strchr(tok, '/')) {
            hit = cidr4_match(tok, t);
            continue;
        }
        char *colon = strrchr(tok, ':'); /* "host:port" entries: compare the host */
        if (colon && !strchr(colon + 1, ']') && strchr(tok, ':') == colon) *colon = 0;
        const char *d = tok[0] == '.' ? tok + 1 : tok;
        size_t dl = strlen(d), hl = strlen(t->host);
        if (!strcasecmp(d, t->host) ||
            (hl > dl && t->host[hl - dl - 1] == '.' && !strcasecmp(t->host + hl - dl, d)))
            hit = true;
    }
    free(copy);
    return hit;
}

const char *proxy_for(const proxy_conf *p, const egress_target *t)
{
    const char *chosen = NULL;
    if (!strcmp(t->scheme, "https"))
        chosen = p->https;
    else if (!strcmp(t->scheme, "http"))
        chosen = p->http;
    if (!chosen) chosen = p->all;
    if (!chosen || no_proxy_match(p->no, t)) return NULL;
    return chosen;
}
