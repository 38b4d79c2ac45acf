#include "router.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

const char *route_param(const route_params *p, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < p->n; i++)
        if (p->p[i].name_len == n && !memcmp(p->p[i].name, name, n)) return p->p[i].value;
    return NULL;
}

static bool path_ok(const char *path)
{
    size_t n = strlen(path);
    if (n == 0 || n > ROUTER_PATH_MAX || path[0] != '/') return false;
    for (const unsigned char *c = (const unsigned char *)path; *c; c++)
        if (*c < 0x20 || *c == 0x7f || *c == '\\') return false;
    /* Segments: "/" alone is the root; otherwise no empty, "." or "..". */
    if (n == 1) return true;
    const char *seg = path + 1;
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 0 && end) /* "//" */
            return false;
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
        if (!end) return true;
        seg = end + 1;
    }
}

/* Match one pattern; fills params. */
static bool match(const char *pattern, const char *path, route_params *params)
{
    params->n = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (!close || params->n == ROUTER_MAX_PARAMS) return false;
            bool rest = close - p > 4 && !strncmp(close - 3, "...", 3);
            size_t nlen = (size_t)(close - p - 1) - (rest ? 3 : 0);
            const char *end = rest ? s + strlen(s) : s + strcspn(s, "/");
            size_t vlen = (size_t)(end - s);
            if ((!rest && vlen == 0) || vlen >= sizeof(params->p[0].value)) return false;
            params->p[params->n].name = p + 1;
            params->p[params->n].name_len = nlen;
            memcpy(params->p[params->n].value, s, vlen);
            params->p[params->n].value[vlen] = 0;
            params->n++;
            p = close + 1;
            s = end;
            continue;
        }
        if (*p != *s) return false;
        p++;
        s++;
    }
    if (*s) return false;
    /* The path may end right before a trailing "{rest...}" (an empty rest). */
    if (*p == '/' && p[1] == '{') {
        const char *close = strchr(p, '}');
        if (close && !close[1] && close - p > 5 && !strncmp(close - 3, "...", 3) &&
            params->n < ROUTER_MAX_PARAMS) {
            params->p[params->n].name = p + 2;
            params->p[params->n].name_len = (size_t)(close - p - 2) - 3;
            params->p[params->n].value[0] = 0;
            params->n++;
            return true;
        }
    }
    return *p == 0;
}

router_result router_match(const route *routes, size_t n, const char *method, const char *path,
                           const route **out, route_params *params, char *allow, size_t allowlen)
{
    *out = NULL;
    if (allow && allowlen) allow[0] = 0;
    if (!path_ok(path)) return ROUTER_BAD_PATH;
    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
    bool path_seen = false;
    route_params tmp;
    for (size_t i = 0; i < n; i++) {
        if (!match(routes[i].pattern, path, &tmp)) continue;
        path_seen = true;
        if (!strcmp(routes[i].method, want)) {
            *out = &routes[i];
            *params = tmp;
            return ROUTER_MATCH;
        }
        if (allow && !strstr(allow, routes[i].method)) {
            size_t used = strlen(allow);
            snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "", routes[i].method);
        }
    }
    if (path_seen && allow && strstr(allow, "GET") && !strstr(allow, "HEAD")) {
        size_t used = strlen(allow);
        snprintf(allow + used, allowlen - used, ", HEAD");
    }
    return path_seen ? ROUTER_BAD_METHOD : ROUTER_NOT_FOUND;
}

json_t *router_list(const route *routes, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s}", "method", routes[i].method, "path",
                                           routes[i].pattern, "permission",
                                           routes[i].perm ? routes[i].perm : "", "summary",
                                           routes[i].summary ? routes[i].summary : ""));
    return a;
}
