/* /health, /ready, /metrics, the OpenAPI document, and the gauges
 * /metrics refreshes. */
#include "broker/broker.h"
#include "bus/bus.h"
#include "core/metrics.h"
#include "expr/expr.h"
#include "plugin/supervisor.h"
#include "store/store.h"
#include "api_priv.h"

#include <agenthost/plugin.h>

#include <stdlib.h>

/* The system family's modules: a copy of the host's (the collectors keep
 * a pointer to it). */
typedef struct sys_ctx {
    api_deps d;
} sys_ctx;

static void h_health(void *ctx, http_req *req, const route_params *p)
{
    (void)ctx;
    (void)p;
    http_respond(req, 200, "application/json", "{\"status\":\"ok\"}", 15, NULL);
}

static void h_ready(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    const api_deps *x = &((sys_ctx *)ctx)->d;
    bool ready = true;
    json_t *checks = json_object();
    int sh = store_health(x->st);
    json_t *store_check = json_pack("{s:b}", "ok", sh == 0);
    if (sh) json_object_set_new(store_check, "error", json_string(store_last_error(x->st)));
    json_object_set_new(checks, "store", store_check);
    ready &= sh == 0;
    /* The bus answers reads (its topics) and says which backend it is. */
    json_t *topics = x->bus ? bus_topics(x->bus) : NULL;
    json_t *bus_check = json_pack("{s:b}", "ok", topics != NULL);
    if (topics) {
        json_object_set_new(bus_check, "backend", json_string(bus_backend_name(x->bus)));
        json_object_set_new(bus_check, "topics", json_integer((json_int_t)json_array_size(topics)));
    }
    json_decref(topics);
    ready &= json_is_true(json_object_get(bus_check, "ok"));
    json_object_set_new(checks, "bus", bus_check);
    json_t *insts = json_object();
    for (size_t i = 0; i < supervisor_count(x->sup); i++) {
        instance *inst = supervisor_at(x->sup, i);
        instance_state st = instance_get_state(inst);
        if (st == INST_DISABLED) continue;
        bool ok = st == INST_READY, required = instance_required(inst);
        if (required) ready &= ok;
        json_object_set_new(insts, instance_id(inst),
                            json_pack("{s:b,s:s,s:b}", "ok", ok, "state", instance_state_name(st),
                                      "required", required));
    }
    json_object_set_new(checks, "instances", insts);
    /* The expression pool is ready while one of its workers is. */
    json_t *expr = x->expr ? expr_pool_status(x->expr) : NULL;
    if (expr) {
        ready &= json_is_true(json_object_get(expr, "ok"));
        json_object_set_new(checks, "expressions", expr);
    }
    /* Informational: an open breaker means a provider is failing, not
     * that this host is; readiness does not depend on it. */
    json_object_set_new(checks, "egress", broker_status(x->egress));
    http_respond_json(
        req, ready ? 200 : 503,
        json_pack("{s:s,s:o}", "status", ready ? "ready" : "not_ready", "checks", checks));
}

extern const char ah_embed_openapi[];
extern const size_t ah_embed_openapi_len;

static void h_openapi(void *ctx, http_req *req, const route_params *p)
{
    (void)ctx;
    (void)p;
    http_respond(req, 200, "application/json", ah_embed_openapi, ah_embed_openapi_len, NULL);
}

static void h_metrics(void *ctx, http_req *req, const route_params *p)
{
    (void)ctx;
    (void)p;
    size_t len;
    char *text = metrics_render(&len);
    http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text ? text : "",
                 text ? len : 0, NULL);
    free(text);
}

static const route routes[] = {
    {"GET", "/health", h_health, "public", "Liveness: the process answers"},
    {"GET", "/ready", h_ready, "public", "Readiness: store, bus and instances"},
    {"GET", "/metrics", h_metrics, "public", "Prometheus metrics"},
    {"GET", "/api/v1/openapi.json", h_openapi, "system:read", "This API's OpenAPI 3.1 document"},
};

static void sys_free(void *ctx)
{
    api_metrics_stop(&((sys_ctx *)ctx)->d);
    free(ctx);
}

int api_system_routes(api_table *t, const api_deps *deps)
{
    if (!deps) return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), NULL);
    sys_ctx *c = calloc(1, sizeof(*c));
    if (!c) return AH_ENOMEM;
    c->d = *deps;
    api_metrics_start(&c->d);
    int rc = api_table_own(t, c, sys_free);
    return rc ? rc : api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), c);
}
