/*
 * /api/v1/events/types: the platform's event catalogue (webhooks/events.h):
 * what an outside system may subscribe to, with each type's JSON Schema.
 */
#include "webhooks/events.h"
#include "api_priv.h"

#include <agenthost/plugin.h>

static void h_types(void *ctx, http_req *req, const route_params *p)
{
    (void)ctx, (void)p;
    json_t *types = events_catalog_json();
    if (!types) {
        http_respond_error(req, 500, "internal", "out of memory", NULL);
        return;
    }
    http_respond_json(req, 200, json_pack("{s:o}", "types", types));
}

static const route routes[] = {
    {"GET", "/api/v1/events/types", h_types, "webhooks:read",
     "The platform's event types (topics, keys, versions, JSON Schemas)"},
};

int api_events_routes(api_table *t, const api_deps *deps)
{
    (void)deps;
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), NULL);
}
