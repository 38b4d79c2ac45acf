/*
 * policy.c - egress allowlists and address classes. See policy.h.
 */
#include "policy.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <ifaddrs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONFIG_REF_OPEN "${config."

int policy_default_port(const char *scheme)
{
    static const struct {
        const char *scheme;
        int port;
    } known[] = {{"https", 443}, {"http", 80},   {"smtps", 465},
                 {"smtp", 25},   {"imaps", 993}, {"imap", 143}};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (!strcmp(scheme, known[i].scheme)) return known[i].port;
    return 0;
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z') *s = (char)(*s + 32);
}

static bool ascii_host(const char *h)
{
    if (!*h) return false;
    for (const unsigned char *p = (const unsigned char *)h; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '/' || *p == '@' || *p == '\\') return false;
    return true;
}

/* Parse an IP literal (IPv6 without brackets) into ss; true if it is one. */
static bool parse_ip(const char *host, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        return true;
    }
    return false;
}

/* Normalise a host: lower case, brackets and one trailing dot removed. */
static int norm_host(const char *in, char *out, size_t len)
{
    size_t n = strlen(in);
    if (n >= 2 && in[0] == '[' && in[n - 1] == ']') {
        in++;
        n -= 2;
    }
    if (n && in[n - 1] == '.') n--;
    if (n == 0 || n >= len) return -1;
    memcpy(out, in, n);
    out[n] = 0;
    lower(out);
    return ascii_host(out) ? 0 : -1;
}

int policy_parse_url(const char *url, egress_target *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    CURLU *u = curl_url();
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = -1;
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
    if (uc != CURLUE_OK) {
        snprintf(err, errlen, "bad URL: %s", curl_url_strerror(uc));
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(err, errlen, "bad URL: no scheme or host");
        goto out;
    }
    if (strlen(scheme) >= sizeof(t->scheme) || !policy_default_port(scheme)) {
        snprintf(err, errlen, "scheme \"%.16s\" is not one the broker speaks", scheme);
        goto out;
    }
    snprintf(t->scheme, sizeof(t->scheme), "%s", scheme);
    lower(t->scheme);
    if (norm_host(host, t->host, sizeof(t->host)) < 0) {
        snprintf(err, errlen, "bad host in URL (give IDN names in their xn-- form)");
        goto out;
    }
    t->port = policy_default_port(t->scheme);
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && port) t->port = atoi(port);
    if (t->port <= 0 || t->port > 65535) {
        snprintf(err, errlen, "bad port in URL");
        goto out;
    }
    t->ip_literal = parse_ip(t->host, &t->ip);
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

/* ---- compiling an allowlist --------------------------------------------- */

/* The config value at "a.b.c" (the text between "${config." and "}"). */
static const char *config_ref(const json_t *config, const char *ref, char *err, size_t errlen)
{
    size_t n = strlen(ref);
    if (strncmp(ref, CONFIG_REF_OPEN, strlen(CONFIG_REF_OPEN)) != 0 || n < 11 ||
        ref[n - 1] != '}') {
        snprintf(err, errlen, "egress host \"%s\": a reference is written ${config.path}", ref);
        return NULL;
    }
    char path[256];
    snprintf(path, sizeof(path), "%.*s", (int)(n - strlen(CONFIG_REF_OPEN) - 1),
             ref + strlen(CONFIG_REF_OPEN));
    const json_t *cur = config;
    for (char *save = NULL, *part = strtok_r(path, ".", &save); part && cur;
         part = strtok_r(NULL, ".", &save))
        cur = json_object_get(cur, part);
    return json_string_value(cur); /* NULL: unset, the entry is skipped */
}

static int add_entry(egress_policy *p, const json_t *item, const char *dir, const json_t *config,
                     bool operator, char * err, size_t errlen)
{
    egress_entry e = {.from_operator = operator};
    const char *ca = json_string_value(json_object_get(item, "ca_file"));
    if (ca && ca[0] != '/' && dir && !operator)
        snprintf(e.ca_file, sizeof(e.ca_file), "%s/%s", dir, ca);
    else if (ca)
        snprintf(e.ca_file, sizeof(e.ca_file), "%s", ca);
    const char *scheme = json_string_value(json_object_get(item, "scheme"));
    const char *host = json_string_value(json_object_get(item, "host"));
    const json_t *port = json_object_get(item, "port");
    e.private_ok = json_is_true(json_object_get(item, "private"));
    snprintf(e.scheme, sizeof(e.scheme), "%s", scheme ? scheme : "https");
    lower(e.scheme);
    if (!policy_default_port(e.scheme)) {
        snprintf(err, errlen, "egress scheme \"%s\" is unknown", e.scheme);
        return -1;
    }
    if (!host) {
        snprintf(err, errlen, "egress entry without a host");
        return -1;
    }
    if (json_is_integer(port)) e.port = (int)json_integer_value(port);
    if (strstr(host, "${")) {
        const char *val = config_ref(config, host, err, errlen);
        if (!val) return err[0] ? -1 : 0;
        if (!*val) return 0;
        if (strstr(val, "://")) {
            egress_target t;
            char why[200];
            if (policy_parse_url(val, &t, why, sizeof(why)) < 0) {
                snprintf(err, errlen, "egress host %s = \"%.200s\": %s", host, val, why);
                return -1;
            }
            snprintf(e.scheme, sizeof(e.scheme), "%s", t.scheme);
            snprintf(e.host, sizeof(e.host), "%s", t.host);
            e.port = t.port;
        } else if (norm_host(val, e.host, sizeof(e.host)) < 0) {
            snprintf(err, errlen, "egress host %s = \"%.200s\" is not a host name", host, val);
            return -1;
        }
    } else if (norm_host(host, e.host, sizeof(e.host)) < 0) {
        snprintf(err, errlen, "egress host \"%.200s\" is not a host name", host);
        return -1;
    }
    if (e.port < 0 || e.port > 65535) {
        snprintf(err, errlen, "egress port %d out of range", e.port);
        return -1;
    }
    if (strchr(e.host, '*') && strcmp(e.host, "*") != 0 &&
        (strncmp(e.host, "*.", 2) != 0 || strchr(e.host + 1, '*') || !e.host[2])) {
        snprintf(err, errlen, "egress host \"%s\": a wildcard is \"*\" or \"*.domain\"", e.host);
        return -1;
    }
    e.ip_literal = parse_ip(e.host, &e.ip);
    egress_entry *nv = realloc(p->v, (p->n + 1) * sizeof(*nv));
    if (!nv) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    p->v = nv;
    p->v[p->n++] = e;
    return 0;
}

int policy_compile(egress_policy *out, const json_t *manifest_egress, const char *manifest_dir,
                   const json_t *config, const json_t *operator_egress, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    err[0] = 0;
    const json_t *lists[2] = {manifest_egress, operator_egress};
    for (int l = 0; l < 2; l++) {
        size_t i;
        const json_t *item;
        json_array_foreach(lists[l], i, item)
        {
            if (add_entry(out, item, manifest_dir, config, l == 1, err, errlen) < 0) {
                policy_free(out);
                return -1;
            }
        }
    }
    return 0;
}

void policy_free(egress_policy *p)
{
    free(p->v);
    p->v = NULL;
    p->n = 0;
}

static bool host_matches(const char *pattern, const char *host)
{
    if (!strcmp(pattern, "*")) return true;
    if (pattern[0] == '*' && pattern[1] == '.') {
        size_t pl = strlen(pattern + 1), hl = strlen(host); /* ".example.com" */
        return hl > pl && !strcmp(host + hl - pl, pattern + 1);
    }
    return !strcmp(pattern, host);
}

static bool same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family) return false;
    if (a->sa_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->sa_family == AF_INET6)
        return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                       &((const struct sockaddr_in6 *)b)->sin6_addr, 16);
    return false;
}

static bool entry_matches(const egress_entry *e, const egress_target *t);

const egress_entry *policy_match(const egress_policy *p, const egress_target *t)
{
    for (size_t i = 0; i < p->n; i++)
        if (entry_matches(&p->v[i], t)) return &p->v[i];
    return NULL;
}

static bool entry_matches(const egress_entry *e, const egress_target *t)
{
    if (strcmp(e->scheme, t->scheme) != 0) return false;
    int port = e->port ? e->port : policy_default_port(e->scheme);
    if (port != t->port) return false;
    if (e->ip_literal && t->ip_literal)
        return same_ip((const struct sockaddr *)&e->ip, (const struct sockaddr *)&t->ip);
    return host_matches(e->host, t->host);
}

/* ---- addresses ------------------------------------------------------------ */

static addr_class classify_v4(uint32_t a)
{
    uint8_t b0 = (uint8_t)(a >> 24), b1 = (uint8_t)(a >> 16);
    if (b0 == 0 || b0 >= 224)
        return ADDR_FORBIDDEN; /* "this network", multicast, reserved, broadcast */
    if (b0 == 127) return ADDR_LOOPBACK;
    if (b0 == 169 && b1 == 254) return ADDR_LINK_LOCAL;
    if (b0 == 10 || (b0 == 172 && (b1 & 0xf0) == 16) || (b0 == 192 && b1 == 168) ||
        (b0 == 100 && (b1 & 0xc0) == 64) || (b0 == 198 && (b1 & 0xfe) == 18) ||
        (b0 == 192 && b1 == 0 && (uint8_t)(a >> 8) == 0))
        return ADDR_PRIVATE;
    return ADDR_PUBLIC;
}

addr_class policy_classify(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return classify_v4(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
    if (sa->sa_family != AF_INET6) return ADDR_FORBIDDEN;
    const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const uint8_t zero[16];
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!memcmp(b, mapped, 12) || (!memcmp(b, zero, 12) && (b[12] | b[13]))) {
        /* IPv4-mapped ::ffff:a.b.c.d and the old IPv4-compatible ::a.b.c.d */
        uint32_t v4 = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
        return classify_v4(v4);
    }
    if (!memcmp(b, zero, 15)) return b[15] == 1 ? ADDR_LOOPBACK : ADDR_FORBIDDEN; /* ::1, :: */
    if (b[0] == 0xff) return ADDR_FORBIDDEN;                                      /* multicast */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return ADDR_LINK_LOCAL;
    if ((b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0))
        return ADDR_PRIVATE; /* ULA fc00::/7, old site-local fec0::/10 */
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
        return ADDR_FORBIDDEN; /* documentation 2001:db8::/32 */
    return ADDR_PUBLIC;
}

const char *policy_class_name(addr_class c)
{
    switch (c) {
    case ADDR_PUBLIC:
        return "public";
    case ADDR_PRIVATE:
        return "private";
    case ADDR_LOOPBACK:
        return "loopback";
    case ADDR_LINK_LOCAL:
        return "link-local";
    case ADDR_FORBIDDEN:
        return "reserved";
    }
    return "unknown";
}

static bool is_self(const struct sockaddr *sa, int port, const policy_self *self)
{
    if (!self || !self->port || port != self->port) return false;
    if (self->wildcard) {
        if (policy_classify(sa) == ADDR_LOOPBACK) return true;
        for (size_t i = 0; i < self->nlocal; i++)
            if (same_ip(sa, (const struct sockaddr *)&self->local[i])) return true;
        return false;
    }
    return same_ip(sa, (const struct sockaddr *)&self->addr) ||
           (policy_classify((const struct sockaddr *)&self->addr) == ADDR_LOOPBACK &&
            policy_classify(sa) == ADDR_LOOPBACK);
}

const char *policy_check_address(const egress_entry *e, const struct sockaddr *sa, int port,
                                 const policy_self *self)
{
    addr_class c = policy_classify(sa);
    bool named = e->ip_literal && same_ip(sa, (const struct sockaddr *)&e->ip);
    if (c == ADDR_FORBIDDEN) return "reserved, multicast or unspecified address";
    if (is_self(sa, port, self) && !(named && e->port == port))
        return "the host's own listen address";
    if (c == ADDR_PUBLIC) return NULL;
    if (!e->private_ok)
        return c == ADDR_LOOPBACK     ? "loopback address (the entry is not marked private)"
               : c == ADDR_LINK_LOCAL ? "link-local address (the entry is not marked private)"
                                      : "private address (the entry is not marked private)";
    if (c == ADDR_LINK_LOCAL && !named) return "link-local address not named by the entry";
    return NULL;
}

const char *policy_ca_file(const egress_policy *p, const egress_target *t)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].ca_file[0] && entry_matches(&p->v[i], t)) return p->v[i].ca_file;
    return NULL;
}

bool policy_private_match(const egress_policy *p, const egress_target *t)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].private_ok && entry_matches(&p->v[i], t)) return true;
    return false;
}

const char *policy_check_target_address(const egress_policy *p, const egress_target *t,
                                        const struct sockaddr *sa, int port,
                                        const policy_self *self)
{
    /* The most telling reason: that of an entry marked private (which meant
     * to allow private addresses and still refuses this one), else the first. */
    const char *first = NULL, *from_private = NULL;
    for (size_t i = 0; i < p->n; i++) {
        if (!entry_matches(&p->v[i], t)) continue;
        const char *why = policy_check_address(&p->v[i], sa, port, self);
        if (!why) return NULL;
        if (!first) first = why;
        if (p->v[i].private_ok && !from_private) from_private = why;
    }
    return from_private ? from_private : first ? first : "destination not in the allowlist";
}

const char *policy_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
    const void *src = sa->sa_family == AF_INET
                          ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                          : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (!inet_ntop(sa->sa_family, src, buf, (socklen_t)len)) snprintf(buf, len, "?");
    return buf;
}

int policy_self_init(policy_self *self, const char *listen)
{
    memset(self, 0, sizeof(*self));
    if (!listen) return 0;
    const char *colon = strrchr(listen, ':');
    if (!colon) return -1;
    char host[128];
    snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
    self->port = atoi(colon + 1);
    char h[128];
    if (!host[0] || !strcmp(host, "*")) {
        self->wildcard = true;
    } else if (!strcmp(host, "localhost")) {
        parse_ip("127.0.0.1", &self->addr);
    } else if (norm_host(host, h, sizeof(h)) < 0 || !parse_ip(h, &self->addr)) {
        return -1;
    } else {
        addr_class c = policy_classify((const struct sockaddr *)&self->addr);
        self->wildcard = c == ADDR_FORBIDDEN; /* 0.0.0.0, :: */
    }
    if (!self->wildcard) return 0;
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) < 0) return 0;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr ||
            (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
            continue;
        struct sockaddr_storage *nl = realloc(self->local, (self->nlocal + 1) * sizeof(*nl));
        if (!nl) break;
        self->local = nl;
        memset(&nl[self->nlocal], 0, sizeof(nl[0]));
        memcpy(&nl[self->nlocal], i->ifa_addr,
               i->ifa_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                 : sizeof(struct sockaddr_in6));
        self->nlocal++;
    }
    freeifaddrs(ifs);
    return 0;
}

void policy_self_free(policy_self *self)
{
    free(self->local);
    self->local = NULL;
    self->nlocal = 0;
}
