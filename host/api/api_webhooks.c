/*
 * /api/v1/webhooks: subscriptions of outside systems to the platform's
 * events (docs/webhooks.md, host/webhooks/webhooks.h), and
 * /api/v1/webhook-deliveries: their delivery log, the dead letters among
 * it, and sending one again by hand.
 */
#include "model/collections.h"
#include "webhooks/events.h"
#include "webhooks/webhooks.h"
#include "api_docs.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* What the dispatcher must take up after the commit. */
typedef struct later {
    webhooks *w;
    char id[64];
} later;

static void take_up(void *ud, int status)
{
    later *l = ud;
    if (!status) webhooks_changed(l->w, l->id);
}

static int defer_change(res_change *c, const char *id)
{
    webhooks *w = c->ctx;
    if (!w) return 0;
    later *l = malloc(sizeof(*l));
    if (!l) return doc_fail(c->t, AH_ENOMEM, NULL, "out of memory");
    l->w = w;
    snprintf(l->id, sizeof(l->id), "%s", id);
    return doc_txn_defer(c->t, take_up, l, true);
}

/* The URL allowed, the types known, the secret sealed. */
static int webhook_prepare(res_change *c)
{
    json_t *doc = c->doc;
    char err[400];
    const char *id = str_of(doc, "id");
    if (json_is_string(json_object_get(doc, "url")) &&
        webhooks_check_url(c->ctx, str_of(doc, "url"), err, sizeof(err)) != 0)
        return doc_fail(c->t, AH_EINVAL, "url", "%s", err);
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(doc, "events"), i, e)
    {
        const char *t = json_string_value(e);
        if (t && strcmp(t, "*") != 0 && !events_find(t)) {
            char field[32];
            snprintf(field, sizeof(field), "events[%zu]", i);
            return doc_fail(c->t, AH_EINVAL, field,
                            "unknown event type \"%s\" (GET /api/v1/events/types lists them)", t);
        }
    }
    const json_t *secret = json_object_get(doc, "secret");
    if (json_is_string(secret)) {
        size_t n = json_string_length(secret);
        if (n < 16 || n > 256)
            return doc_fail(c->t, AH_EINVAL, "secret", "a secret has 16 to 256 characters");
        char *sealed = webhooks_seal_secret(c->ctx, id, json_string_value(secret));
        if (!sealed)
            return doc_fail(c->t, AH_EDENIED, "secret",
                            "the secret cannot be sealed (the host has no master key)");
        json_object_set_new(doc, "secret_sealed", json_string(sealed));
        free(sealed);
        json_object_del(doc, "secret");
    } else if (secret) {
        return doc_fail(c->t, AH_EINVAL, "secret", "a string is required");
    }
    if (!c->old && !json_object_get(doc, "secret_sealed"))
        return doc_fail(c->t, AH_EINVAL, "secret",
                        "required: the secret deliveries are signed with (16 to 256 characters)");
    json_object_set_new(doc, "secret_set", json_true());
    return defer_change(c, id);
}

static int webhook_before_delete(res_change *c)
{
    return defer_change(c, str_of(c->old, "id"));
}

static const res_filter webhook_filters[] = {{"status", "status"}, {NULL, NULL}};
static const res_range webhook_ranges[] = {{"created", "created_at"}, {NULL, NULL}};
static const char *const webhook_sorts[] = {"created_at", "name", NULL};
static const char *const webhook_read_only[] = {"secret_sealed", "secret_set", NULL};
static const char *const webhook_hidden[] = {"secret_sealed", NULL};

static const resource webhooks_res = {
    .coll = COLL_WEBHOOKS,
    .noun = "webhook",
    .plural = "webhooks",
    .base = "/api/v1/webhooks",
    .item = "/api/v1/webhooks/{id}",
    .filters = webhook_filters,
    .ranges = webhook_ranges,
    .sorts = webhook_sorts,
    .text_field = "name",
    .read_only = webhook_read_only,
    .hidden = webhook_hidden,
    .defaults = "{\"status\": \"active\"}",
    .prepare = webhook_prepare,
    .before_delete = webhook_before_delete,
};

/* ---- a filter is compiled before it is saved ------------------------------------------ */

typedef struct pending {
    res_ctx *rc;
    http_req *req;
    route_params p;
    bool patch;
} pending;

static void go_on(pending *x)
{
    if (x->patch)
        res_h_patch(x->rc, x->req, &x->p);
    else
        res_h_create(x->rc, x->req, &x->p);
    free(x);
}

static void on_checked(void *ud, const expr_result *r)
{
    pending *x = ud;
    if (!r->error) {
        go_on(x);
        return;
    }
    if (!strcmp(r->error, "compile") || !strcmp(r->error, "invalid"))
        http_respond_error(x->req, 422, "invalid", r->message ? r->message : r->error, "filter");
    else
        http_respond_error(x->req, 503, "unavailable", "the filter cannot be checked now: retry",
                           "filter");
    free(x);
}

static void with_filter_checked(void *ctx, http_req *req, const route_params *p, bool patch)
{
    res_ctx *rc = ctx;
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    json_t *o = len ? json_loadb(body, len, 0, NULL) : NULL;
    const json_t *f = json_object_get(o, "filter");
    pending *x = json_is_string(f) ? calloc(1, sizeof(*x)) : NULL;
    if (!x) {
        json_decref(o);
        if (patch)
            res_h_patch(ctx, req, p);
        else
            res_h_create(ctx, req, p);
        return;
    }
    *x = (pending){.rc = rc, .req = req, .p = *p, .patch = patch};
    char err[300] = "";
    int status =
        webhooks_check_filter(rc->ctx, json_string_value(f), on_checked, x, err, sizeof(err));
    json_decref(o);
    if (status == AH_EINVAL) {
        http_respond_error(req, 422, "invalid", err, "filter");
        free(x);
    } else if (status) {
        http_respond_error(req, 503, "unavailable", err, "filter");
        free(x);
    }
}

static void h_create(void *ctx, http_req *req, const route_params *p)
{
    with_filter_checked(ctx, req, p, false);
}

static void h_patch(void *ctx, http_req *req, const route_params *p)
{
    with_filter_checked(ctx, req, p, true);
}

/* ---- the delivery log ------------------------------------------------------------------- */

static const res_filter delivery_filters[] = {
    {"webhook_id", "webhook_id"}, {"status", "status"}, {NULL, NULL}};
static const res_range delivery_ranges[] = {{"created", "created_at"}, {NULL, NULL}};
static const char *const delivery_sorts[] = {"created_at", NULL};

static const resource deliveries_res = {
    .coll = COLL_WEBHOOK_DELIVERIES,
    .noun = "webhook_delivery",
    .label = "webhook delivery",
    .plural = "webhook deliveries",
    .base = "/api/v1/webhook-deliveries",
    .item = "/api/v1/webhook-deliveries/{id}",
    .filters = delivery_filters,
    .ranges = delivery_ranges,
    .sorts = delivery_sorts,
};

static void redelivered(void *ud, int status, json_t *doc, uint64_t rev, const char *message)
{
    http_req *req = ud;
    if (status) {
        http_respond_error(req, 503, "unavailable", message ? message : ah_strerror(status), NULL);
        json_decref(doc);
        return;
    }
    res_respond_doc(req, 200, doc, rev, NULL);
}

static void h_redeliver(void *ctx, http_req *req, const route_params *p)
{
    res_ctx *rc = ctx;
    char err[300] = "";
    int status =
        webhooks_redeliver(rc->ctx, route_param(p, "id"), redelivered, req, err, sizeof(err));
    if (status == AH_ENOTFOUND)
        http_respond_error(req, 404, "not_found", err, NULL);
    else if (status == AH_EINVAL)
        http_respond_error(req, 409, "conflict", err, "status");
    else if (status)
        http_respond_error(req, 503, "unavailable", err, NULL);
}

int api_webhooks_routes(api_table *t, const api_deps *deps)
{
    res_ctx *hooks = NULL, *log = NULL;
    if (deps) {
        hooks = calloc(1, sizeof(*hooks));
        log = calloc(1, sizeof(*log));
        if (!hooks || !log || api_table_own(t, hooks, free) != 0) {
            free(hooks);
            free(log);
            return AH_ENOMEM;
        }
        if (api_table_own(t, log, free) != 0) return AH_ENOMEM;
        *hooks = (res_ctx){&webhooks_res, deps->docs, deps->webhooks, NULL};
        *log = (res_ctx){&deliveries_res, deps->docs, deps->webhooks, NULL};
    }
    static const route hook_routes[] = {
        {"GET", "/api/v1/webhooks", res_h_list, "webhooks:read",
         "List webhooks (filters, sort, cursor pages)"},
        {"POST", "/api/v1/webhooks", h_create, "webhooks:manage",
         "Create a webhook (URL, event types, filter, secret)"},
        {"GET", "/api/v1/webhooks/{id}", res_h_get, "webhooks:read", "One webhook (ETag)"},
        {"PATCH", "/api/v1/webhooks/{id}", h_patch, "webhooks:manage",
         "Update a webhook (JSON merge patch; If-Match): pause, resume, change"},
        {"DELETE", "/api/v1/webhooks/{id}", res_h_delete, "webhooks:manage",
         "Delete a webhook (If-Match)"},
    };
    static const route log_routes[] = {
        {"GET", "/api/v1/webhook-deliveries", res_h_list, "webhooks:read",
         "Webhook deliveries: status, attempts, latency; dead letters (status=dead)"},
        {"GET", "/api/v1/webhook-deliveries/{id}", res_h_get, "webhooks:read",
         "One webhook delivery"},
        {"POST", "/api/v1/webhook-deliveries/{id}/redeliver", h_redeliver, "webhooks:manage",
         "Send a dead delivery again, now"},
    };
    int rc = api_table_add(t, hook_routes, sizeof(hook_routes) / sizeof(hook_routes[0]), hooks);
    return rc ? rc : api_table_add(t, log_routes, sizeof(log_routes) / sizeof(log_routes[0]), log);
}
