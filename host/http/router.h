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

/* Roles, in increasing power; a route names the least it needs. */
typedef enum route_access {
    ROUTE_PUBLIC = 0, /* no token */
    ROUTE_VIEWER,
    ROUTE_EDITOR,
    ROUTE_ADMIN,
} route_access;

typedef void (*route_fn)(void *ctx, http_req *req, const route_params *p);

typedef struct route {
    const char *method;
    const char *pattern;
    route_fn fn;
    route_access access;
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

/* [{"method": ..., "path": ..., "access": ..., "summary": ...}] (new reference). */
json_t *router_list(const route *routes, size_t n);

const char *route_access_name(route_access a);

#endif
