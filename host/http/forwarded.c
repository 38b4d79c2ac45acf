/*
 * forwarded.c - the client's address behind trusted reverse proxies.
 *
 * X-Forwarded-For is believed only when the connection comes from an
 * address listed in http.trusted_proxies; then the client is the
 * rightmost address of the header that is not itself a trusted proxy
 * (each proxy appends the address it saw, so anything left of that was
 * written by the client and proves nothing). A malformed entry stops the
 * walk: the last trusted hop's peer is kept.
 */
#include "forwarded.h"

#include "server_priv.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Whether ip is one of the comma-separated addresses of list. */
static bool listed(const char *list, const char *ip, size_t n)
{
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t len = strcspn(p, ", ");
        if (len == n && !strncmp(p, ip, n)) return true;
        p += len;
    }
    return false;
}

static bool valid_ip(const char *s, size_t n, char *out, size_t outlen)
{
    char buf[64];
    unsigned char addr[16];
    if (n == 0 || n >= sizeof(buf)) return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    if (inet_pton(AF_INET, buf, addr) != 1 && inet_pton(AF_INET6, buf, addr) != 1) return false;
    snprintf(out, outlen, "%s", buf);
    return true;
}

void forwarded_client_ip(const http_opts *o, struct MHD_Connection *conn, char *ip, size_t n)
{
    if (!o->trusted_proxies) return;
    forwarded_pick(o->trusted_proxies,
                   MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-For"), ip, n);
}

void forwarded_pick(const char *trusted, const char *xff, char *ip, size_t n)
{
    if (!trusted || !xff || !listed(trusted, ip, strlen(ip))) return;
    size_t end = strlen(xff);
    while (end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        const char *e = xff + start;
        size_t len = end - start;
        while (len && (*e == ' ' || *e == '\t'))
            e++, len--;
        while (len && (e[len - 1] == ' ' || e[len - 1] == '\t'))
            len--;
        char hop[64];
        if (!valid_ip(e, len, hop, sizeof(hop))) return;
        snprintf(ip, n, "%s", hop);
        if (!listed(trusted, hop, strlen(hop))) return;
        end = start ? start - 1 : 0;
    }
}
