/* POST (and GET) /hooks/{instance}/{path...}: webhook ingress. The request becomes an
 * event on "hooks.<instance>" (method, path, query, headers, body) and is
 * answered 200 only once that event is committed. An instance whose
 * manifest declares a shared-secret header has it checked (in constant
 * time) before anything is stored: 403 when it is wrong or missing, 503
 * not_configured when the instance's secret is not set or cannot be read
 * (never a "wrong secret" the sender cannot fix); an unknown instance is
 * 404. Wrong secrets are counted per client address and instance:
 * API_HOOK_FAIL_LIMIT of them within the window and that address gets 429
 * for that instance until the window ends, right secret or not. The body
 * is taken as it comes, of any Content-Type (parsed only when it is JSON). */
#include "sdk/ipc/b64.h"
#include "core/log.h"
#include "bus/bus.h"
#include "store/secrets.h"
#include "plugin/supervisor.h"
#include "core/util.h"
#include "api_priv.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOOK_FAIL_SLOTS 256

/* What this family uses. */
typedef struct hooks_ctx {
    supervisor *sup;
    secrets *sec;
    bus *bus;
    throttle *fails; /* wrong secrets, by client address and instance */
} hooks_ctx;

static void hook_log(http_req *req, instance *inst, log_level level, const char *event,
                     const char *msg)
{
    log_ctx c = {.plugin = inst ? instance_manifest(inst)->name : NULL,
                 .instance = inst ? instance_id(inst) : NULL,
                 .request_id = http_req_id(req)};
    json_t *f = json_pack("{s:s,s:s}", "event", event, "client_ip", http_req_client_ip(req));
    log_write("security", level, "hooks", &c, f, "%s", msg);
    json_decref(f);
}

/* The throttle's key: the client address and the instance. */
static void fail_key(http_req *req, instance *inst, char *key, size_t len)
{
    snprintf(key, len, "%s %s", http_req_client_ip(req), instance_id(inst));
}

/* A wrong secret: counted, and the one that reaches the limit logged. */
static void note_wrong_secret(hooks_ctx *x, http_req *req, instance *inst)
{
    char key[THROTTLE_KEY_MAX + 1];
    fail_key(req, inst, key, sizeof(key));
    if (throttle_fail(x->fails, key, ah_mono_ms()) != API_HOOK_FAIL_LIMIT) return;
    char msg[200];
    snprintf(msg, sizeof(msg),
             "webhook throttled: %d wrong secrets from %s within %u s; it waits for the rest of "
             "that time",
             API_HOOK_FAIL_LIMIT, http_req_client_ip(req), API_HOOK_FAIL_WINDOW_MS / 1000);
    hook_log(req, inst, LOG_WARN, "webhook_throttled", msg);
}

/* The manifest's secret header, checked against the instance's secret. */
static bool secret_ok(hooks_ctx *x, http_req *req, instance *inst, const json_t *wh)
{
    const char *header = json_string_value(json_object_get(wh, "secret_header"));
    const char *name = json_string_value(json_object_get(wh, "secret"));
    if (!header || !name) return true;
    char key[THROTTLE_KEY_MAX + 1];
    fail_key(req, inst, key, sizeof(key));
    unsigned wait_s = throttle_wait_s(x->fails, key, ah_mono_ms());
    if (wait_s) {
        api_respond_throttled(req, wait_s, "too many wrong webhook secrets from this address");
        return false;
    }
    const char *given = http_req_header(req, header);
    bool ok = false;
    /* Opened once and kept until the stored secret changes (ADR 0057). */
    int rc = secrets_equal(x->sec, instance_id(inst), name, given, given ? strlen(given) : 0, &ok);
    ok = ok && rc == 0;
    if (rc == AH_ENOTFOUND) {
        hook_log(req, inst, LOG_WARN, "webhook_secret_unset",
                 "webhook refused: the instance's secret is not set");
        http_respond_error(req, 503, "not_configured", "the instance's webhook secret is not set",
                           NULL);
        return false;
    }
    if (rc != 0) {
        /* Set but unreadable (damaged in the store, or no key): the
         * sender's header was not wrong, the host cannot check it. */
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "webhook refused: the instance's secret %s cannot be opened (%s); set it again "
                 "with agenthost secret set",
                 name, ah_strerror(rc));
        hook_log(req, inst, LOG_ERROR, "webhook_secret_unreadable", msg);
        http_respond_error(req, 503, "not_configured",
                           "the instance's webhook secret cannot be read; see the host's error log",
                           NULL);
        return false;
    }
    if (!ok) {
        hook_log(req, inst, LOG_WARN, "webhook_secret_mismatch",
                 "webhook refused: wrong or missing secret header");
        note_wrong_secret(x, req, inst);
        http_respond_error(req, 403, "forbidden", "wrong or missing webhook secret", NULL);
    }
    return ok;
}

typedef struct hook_ctx {
    http_req *req;
} hook_ctx;

static void committed(void *ud, int status, const uint64_t *offsets, const bool *dup, size_t n)
{
    hook_ctx *c = ud;
    if (status || n != 1)
        http_respond_error(c->req, 503, status == AH_ENOSPC ? "store_full" : "store_error",
                           "the event could not be stored; retry later", NULL);
    else
        http_respond_json(c->req, 200,
                          json_pack("{s:b,s:I,s:b}", "ok", 1, "offset", (json_int_t)offsets[0],
                                    "duplicate", dup[0]));
    free(c);
}

static void h_hook(void *ctx, http_req *req, const route_params *p)
{
    hooks_ctx *x = ctx;
    const char *id = route_param(p, "instance");
    instance *inst = id ? supervisor_find(x->sup, id) : NULL;
    const json_t *wh = inst ? json_object_get(instance_manifest(inst)->json, "webhook") : NULL;
    if (!inst || !wh) {
        http_respond_error(req, 404, "not_found", "no instance takes webhooks at this address",
                           NULL);
        return;
    }
    if (!secret_ok(x, req, inst, wh)) return;
    json_t *ev = api_request_json(req, route_param(p, "path"),
                                  json_string_value(json_object_get(wh, "secret_header")));
    if (!ev) {
        http_respond_error(req, 503, "unavailable", "out of memory", NULL);
        return;
    }
    char topic[96];
    snprintf(topic, sizeof(topic), API_HOOK_TOPIC_PREFIX "%s", instance_id(inst));
    const char *idem = http_req_header(req, "Idempotency-Key");
    bus_msg m = {.topic = topic,
                 .body = ev,
                 .idempotency_key = idem,
                 .key = http_req_header(req, "X-Event-Key")};
    hook_ctx *c = calloc(1, sizeof(*c));
    char err[300];
    int rc = c ? bus_publish(x->bus, &m, 1, false, committed, c, err, sizeof(err)) : AH_ENOMEM;
    if (rc) {
        free(c);
        http_respond_error(req,
                           rc == AH_ETOOBIG  ? 413
                           : rc == AH_EINVAL ? 422
                                             : 503,
                           rc == AH_ETOOBIG ? "payload_too_large" : "rejected",
                           rc == AH_ENOMEM ? "out of memory" : err, NULL);
    } else {
        c->req = req;
    }
    json_decref(ev);
}

static const route routes[] = {
    {"POST", "/hooks/{instance}/{path...}", h_hook, "public",
     "Webhook ingress: an event for the instance, answered once committed"},
    /* OAuth redirects (amoCRM's ?code=...&state=...) arrive as GETs. */
    {"GET", "/hooks/{instance}/{path...}", h_hook, "public",
     "Webhook ingress for GET requests (OAuth redirects): an event for the instance"},
};

static void hooks_free(void *ctx)
{
    hooks_ctx *c = ctx;
    throttle_free(c->fails);
    free(c);
}

int api_hooks_routes(api_table *t, const api_deps *deps)
{
    hooks_ctx *c = NULL;
    if (deps) {
        if (!(c = calloc(1, sizeof(*c)))) return AH_ENOMEM;
        *c = (hooks_ctx){
            .sup = deps->sup,
            .sec = deps->sec,
            .bus = deps->bus,
            .fails = throttle_new(HOOK_FAIL_SLOTS, API_HOOK_FAIL_LIMIT, API_HOOK_FAIL_WINDOW_MS)};
        int rc = api_table_own(t, c, hooks_free);
        if (rc) return rc;
        if (!c->fails) return AH_ENOMEM;
    }
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), c);
}
