/*
 * router.h - matching a method and path against a route table.
 *
 * Patterns are literal segments and parameters: "/api/v1/instances/{id}"
 * ({name} is one non-empty segment) and "/hooks/{instance}/{path...}"
 * ({name...} is the rest of the path, possibly empty). HEAD matches GET
 * routes. Paths are checked first: no empty, "." or ".." segments, no
 * control characters, at most ROUTER_PATH_MAX bytes.
 */
#ifndef AH_ROUTER_H
#define AH_ROUTER_H

#include <jansson.h>
#include <stddef.h>

#define ROUTER_PATH_MAX 2048
#define ROUTER_MAX_PARAMS 6

typedef struct http_req http_req;

typedef struct route_params {
    int n;
    struct {
        const char *name;
        size_t name_len;
        char value[ROUTER_PATH_MAX];
    } p[ROUTER_MAX_PARAMS];
} route_params;

/* The value of a parameter, or NULL. */
const char *route_param(const route_params *p, const char *name);

typedef void (*route_fn)(void *ctx, http_req *req, const route_params *p);

typedef struct route {
    const char *method;
    const char *pattern;
    route_fn fn;
    /* The permission the route needs ("agents:read"), or "public" for no
     * credential: the one place a route's access is declared. The API
     * refuses to start on a route without one (host/auth/perm.h). */
    const char *perm;
    const char *summary;
} route;

typedef enum router_result {
    ROUTER_MATCH = 0,
    ROUTER_BAD_PATH = 400,
    ROUTER_NOT_FOUND = 404,
    ROUTER_BAD_METHOD = 405,
} router_result;

/* Match; on ROUTER_BAD_METHOD, allow holds "GET, POST". */
router_result router_match(const route *routes, size_t n, const char *method, const char *path,
                           const route **out, route_params *params, char *allow, size_t allowlen);

/* [{"method": ..., "path": ..., "permission": ..., "summary": ...}] (new reference). */
json_t *router_list(const route *routes, size_t n);

#endif
