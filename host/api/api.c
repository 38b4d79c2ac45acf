#include "api_priv.h"

#include "../core/config.h"
#include "../core/log.h"
#include "../core/metrics.h"
#include "../core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUTH_FAIL_SLOTS 256
#define AUTH_FAIL_LIMIT 20
#define AUTH_FAIL_WINDOW_MS 60000u

static const route routes[] = {
    {"GET", "/health", h_health, ROUTE_PUBLIC, "Liveness: the process answers"},
    {"GET", "/ready", h_ready, ROUTE_PUBLIC, "Readiness: store, bus and instances"},
    {"GET", "/metrics", h_metrics, ROUTE_PUBLIC, "Prometheus metrics"},
    {"GET", "/api/v1/openapi.json", h_openapi, ROUTE_VIEWER, "This API's OpenAPI 3.1 document"},
    {"GET", "/api/v1/plugins", h_plugins, ROUTE_VIEWER, "Installed plugins with manifests"},
    {"GET", "/api/v1/plugins/{name}", h_plugin, ROUTE_VIEWER, "One installed plugin"},
    {"GET", "/api/v1/instances", h_instances, ROUTE_VIEWER, "Plugin instances and their state"},
    {"GET", "/api/v1/instances/{id}", h_instance, ROUTE_VIEWER, "One instance"},
    {"POST", "/api/v1/instances/{id}/restart", h_instance_restart, ROUTE_ADMIN,
     "Restart an instance"},
    {"POST", "/api/v1/instances/{id}/enable", h_instance_enable, ROUTE_ADMIN,
     "Enable (and start) an instance"},
    {"POST", "/api/v1/instances/{id}/disable", h_instance_disable, ROUTE_ADMIN,
     "Disable (and stop) an instance"},
    {"GET", "/api/v1/instances/{id}/log", h_instance_log, ROUTE_ADMIN,
     "The tail of the instance's log"},
    {"POST", "/api/v1/instances/{id}/actions/{action}", h_instance_call, ROUTE_EDITOR,
     "Call one of the instance's actions"},
    {"GET", "/api/v1/topics", h_topics, ROUTE_VIEWER, "Topics with stats"},
    {"GET", "/api/v1/topics/{topic}", h_topic, ROUTE_VIEWER, "One topic's stats"},
    {"GET", "/api/v1/topics/{topic}/events", h_topic_events, ROUTE_VIEWER,
     "Read a topic's events (paged; by key or time)"},
    {"POST", "/api/v1/topics/{topic}/events", h_topic_publish, ROUTE_EDITOR,
     "Publish one event or a batch; answered once durable"},
    {"GET", "/api/v1/consumers", h_consumers, ROUTE_VIEWER, "Durable consumers with lag"},
    {"GET", "/api/v1/topics/{topic}/dlq", h_dlq, ROUTE_VIEWER, "A topic's dead letters"},
    {"POST", "/api/v1/topics/{topic}/dlq/{id}/requeue", h_dlq_requeue, ROUTE_EDITOR,
     "Publish a dead letter again and drop it"},
    {"DELETE", "/api/v1/topics/{topic}/dlq/{id}", h_dlq_drop, ROUTE_EDITOR, "Drop a dead letter"},
    {"POST", "/hooks/{instance}/{path...}", h_hook, ROUTE_PUBLIC,
     "Webhook ingress: an event for the instance, answered once committed"},
};

const route *api_routes(size_t *n)
{
    *n = sizeof(routes) / sizeof(routes[0]);
    return routes;
}

/* ---- failed-authentication throttle (per client address) ---------------- */

static struct {
    char ip[48];
    unsigned count;
    uint64_t first_ms;
} fails[AUTH_FAIL_SLOTS];

static unsigned *fail_slot(const char *ip, uint64_t now, bool create)
{
    int free_slot = -1, oldest = 0;
    for (int i = 0; i < AUTH_FAIL_SLOTS; i++) {
        if (fails[i].ip[0] && now - fails[i].first_ms > AUTH_FAIL_WINDOW_MS) fails[i].ip[0] = 0;
        if (!fails[i].ip[0]) {
            if (free_slot < 0) free_slot = i;
            continue;
        }
        if (!strcmp(fails[i].ip, ip)) return &fails[i].count;
        if (fails[i].first_ms < fails[oldest].first_ms) oldest = i;
    }
    if (!create) return NULL;
    int s = free_slot >= 0 ? free_slot : oldest;
    snprintf(fails[s].ip, sizeof(fails[s].ip), "%s", ip);
    fails[s].count = 0;
    fails[s].first_ms = now;
    return &fails[s].count;
}

static bool throttled(const char *ip)
{
    unsigned *c = fail_slot(ip, ah_mono_ms(), false);
    return c && *c >= AUTH_FAIL_LIMIT;
}

static void note_failure(api *x, http_req *req, const char *why)
{
    unsigned *c = fail_slot(http_req_client_ip(req), ah_mono_ms(), true);
    if (c) (*c)++;
    log_ctx lc = {.request_id = http_req_id(req)};
    json_t *f = json_pack("{s:s,s:s,s:s}", "event", "auth_failed", "client_ip",
                          http_req_client_ip(req), "path", http_req_path(req));
    log_write("security", LOG_WARN, "api", &lc, f, "authentication failed: %s", why);
    json_decref(f);
    (void)x;
}

/* ---- helpers for handlers ------------------------------------------------- */

int api_body_json(http_req *req, json_t **out, json_t *empty)
{
    size_t len;
    const char *body = http_req_body(req, &len);
    *out = NULL;
    if (len == 0) {
        if (empty) {
            *out = empty;
            return 0;
        }
        http_respond_error(req, 400, "empty_body", "a JSON body is required", NULL);
        return -1;
    }
    if (empty) json_decref(empty);
    const char *ct = http_req_header(req, "Content-Type");
    if (ct && strncasecmp(ct, "application/json", 16) != 0) {
        http_respond_error(req, 415, "unsupported_media_type", "send the body as application/json",
                           NULL);
        return -1;
    }
    json_error_t je;
    *out = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!*out) {
        char msg[300];
        snprintf(msg, sizeof(msg), "malformed JSON at line %d, column %d: %s", je.line, je.column,
                 je.text);
        http_respond_error(req, 400, "malformed_json", msg, NULL);
        return -1;
    }
    return 0;
}

void api_respond_invalid(http_req *req, const char *code, const char *verr)
{
    /* "path: message" -> field "path" */
    const char *sep = strstr(verr, ": ");
    char field[256] = "";
    if (sep && (size_t)(sep - verr) < sizeof(field)) {
        memcpy(field, verr, (size_t)(sep - verr));
        field[sep - verr] = 0;
    }
    http_respond_error(req, 422, code, verr, field[0] && strcmp(field, "(root)") ? field : NULL);
}

instance *api_instance(api *x, http_req *req, const route_params *p)
{
    const char *id = route_param(p, "id");
    instance *inst = id ? supervisor_find(x->app->sup, id) : NULL;
    if (!inst) {
        char msg[160];
        snprintf(msg, sizeof(msg), "no instance \"%.64s\"", id ? id : "");
        http_respond_error(req, 404, "not_found", msg, NULL);
    }
    return inst;
}

/* ---- dispatch ---------------------------------------------------------------- */

static bool authenticate(api *x, http_req *req, const route *rt)
{
    if (rt->access == ROUTE_PUBLIC) return true;
    if (throttled(http_req_client_ip(req))) {
        const char *h[] = {"Retry-After: 60", NULL};
        http_respond_error_h(req, 429, "too_many_requests",
                             "too many failed authentication attempts; retry later", NULL, h);
        return false;
    }
    const char *auth = http_req_header(req, "Authorization");
    if (!auth) {
        note_failure(x, req, "no token");
        http_respond_error(req, 401, "unauthorized",
                           "send an API token: Authorization: Bearer <token>", NULL);
        return false;
    }
    if (strncasecmp(auth, "Bearer ", 7) != 0) {
        note_failure(x, req, "not a bearer token");
        http_respond_error(req, 401, "unauthorized", "use Authorization: Bearer <token>", NULL);
        return false;
    }
    principal *who = calloc(1, sizeof(*who));
    if (!who || tokens_verify(x->app->st, auth + 7, who) != 0) {
        free(who);
        note_failure(x, req, "unknown or revoked token");
        http_respond_error(req, 401, "unauthorized", "unknown or revoked token", NULL);
        return false;
    }
    http_req_set_user(req, who); /* freed with the request */
    if (tokens_role_rank(who->role) < (int)rt->access) {
        char msg[128];
        snprintf(msg, sizeof(msg), "this needs the %s role; the token has %s",
                 route_access_name(rt->access), who->role);
        http_respond_error(req, 403, "forbidden", msg, NULL);
        return false;
    }
    return true;
}

static void on_request(void *ud, http_req *req)
{
    api *x = ud;
    const route *rt;
    route_params params;
    char allow[64];
    router_result rr =
        router_match(routes, sizeof(routes) / sizeof(routes[0]), http_req_method(req),
                     http_req_path(req), &rt, &params, allow, sizeof(allow));
    if (rr == ROUTER_BAD_PATH) {
        http_req_set_route(req, "(invalid)");
        http_respond_error(req, 400, "invalid_path", "the path is not valid", NULL);
        return;
    }
    if (rr == ROUTER_NOT_FOUND) {
        http_req_set_route(req, "(unmatched)");
        http_respond_error(req, 404, "not_found", "no such resource", NULL);
        return;
    }
    if (rr == ROUTER_BAD_METHOD) {
        http_req_set_route(req, "(unmatched)");
        char h[96], msg[96];
        snprintf(h, sizeof(h), "Allow: %s", allow);
        snprintf(msg, sizeof(msg), "this resource allows %s", allow);
        const char *hs[] = {h, NULL};
        http_respond_error_h(req, 405, "method_not_allowed", msg, NULL, hs);
        return;
    }
    http_req_set_route(req, rt->pattern);
    if (!authenticate(x, req, rt)) return;
    rt->fn(x, req, &params);
}

/* Who changed what: one audit line per state-changing request. */
static void audit(http_req *req, const char *route_name, int status)
{
    const char *m = http_req_method(req);
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD") || !strncmp(route_name, "/hooks/", 7) ||
        route_name[0] == '(')
        return;
    const principal *who = http_req_user(req);
    log_ctx lc = {.request_id = http_req_id(req)};
    json_t *f = json_pack("{s:s,s:s,s:s,s:s,s:i,s:s}", "actor", who ? who->name : "(none)",
                          "actor_token", who ? who->id : "", "action", m, "route", route_name,
                          "status", status, "path", http_req_path(req));
    log_write("audit", LOG_INFO, "api", &lc, f, "%s %s %s -> %d", who ? who->name : "(anonymous)",
              m, http_req_path(req), status);
    json_decref(f);
}

static void on_done(void *ud, http_req *req)
{
    (void)ud;
    double secs = (double)(ah_mono_ns() - http_req_start_ns(req)) / 1e9;
    const char *rname = http_req_route(req) ? http_req_route(req) : "(none)";
    int status = http_req_answered(req) ? http_req_status(req) : 499;
    char st[8], labels[512];
    snprintf(st, sizeof(st), "%d", status);
    metrics_counter_add("agenthost_http_requests_total",
                        metrics_labels(labels, sizeof(labels), "method", http_req_method(req),
                                       "route", rname, "status", st, NULL),
                        1);
    metrics_observe("agenthost_http_request_duration_seconds",
                    metrics_labels(labels, sizeof(labels), "method", http_req_method(req), "route",
                                   rname, "status", st, NULL),
                    secs);
    log_ctx lc = {.request_id = http_req_id(req)};
    json_t *f = json_pack("{s:s,s:s,s:s,s:i,s:I,s:f,s:s}", "method", http_req_method(req), "route",
                          rname, "path", http_req_path(req), "status", status, "bytes",
                          (json_int_t)http_req_response_bytes(req), "latency_ms", secs * 1000.0,
                          "client_ip", http_req_client_ip(req));
    log_write("api", LOG_INFO, "http", &lc, f, "%s %s %d", http_req_method(req), rname, status);
    json_decref(f);
    audit(req, rname, status);
}

int api_start(api **out, app *a, char *err, size_t errlen)
{
    api *x = calloc(1, sizeof(*x));
    if (!x) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    x->app = a;
    metrics_describe("agenthost_http_requests_total", METRIC_COUNTER,
                     "HTTP requests by method, route and status");
    metrics_describe("agenthost_http_request_duration_seconds", METRIC_HISTOGRAM,
                     "HTTP request latency by method and route");
    http_opts ho = a->opts->http;
    ho.listen = a->cfg->listen;
    if (http_server_start(&x->srv, a->loop, &ho, on_request, on_done, x, err, errlen) < 0) {
        free(x);
        return -1;
    }
    api_metrics_start(a);
    *out = x;
    return 0;
}

void api_stop(api *x)
{
    if (!x) return;
    api_metrics_stop(x->app);
    http_server_stop(x->srv);
    free(x);
}

int api_port(const api *x)
{
    return http_server_port(x->srv);
}
