/*
 * api.h - the HTTP API of the host: the route table, authentication
 * (bearer API tokens; roles decide what a route allows), errors in one
 * shape, one line per request in logs/api.log, and request metrics.
 */
#ifndef AH_API_H
#define AH_API_H

#include "../http/router.h"
#include "../http/server.h"

#include <stddef.h>

typedef struct app app;
typedef struct api api;

int api_start(api **out, app *a, char *err, size_t errlen);
void api_stop(api *x);
int api_port(const api *x);

/* The route table (for `agenthost routes --json` and the OpenAPI check). */
const route *api_routes(size_t *n);

#endif
