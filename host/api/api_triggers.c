/*
 * /api/v1/triggers: what starts an agent (docs/schemas/trigger.json): a
 * command in a chat (on_command), a schedule (on_schedule: cron in a time
 * zone, or one time), or a call (on_internal: POST /triggers/{id}/fire,
 * in api_engine.c). A schedule's next run is computed when it is saved
 * and after each run (host/runtime/rt_triggers.c).
 */
#include "core/util.h"
#include "engine/schedule.h"
#include "model/collections.h"
#include "runtime/runtime.h"
#include "api_docs.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct trg_ctx {
    runtime *rt;     /* takes on_event triggers' changes up; NULL: none */
    expr_pool *expr; /* compiles their jq */
} trg_ctx;

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* What the engine must take up after the commit. */
typedef struct later {
    runtime *rt;
    char id[64];
} later;

static void take_up(void *ud, int status)
{
    later *l = ud;
    if (!status) runtime_trigger_changed(l->rt, l->id);
}

static int defer_change(res_change *c, const char *id)
{
    trg_ctx *x = c->ctx;
    if (!x || !x->rt || !id) return 0;
    later *l = malloc(sizeof(*l));
    if (!l) return doc_fail(c->t, AH_ENOMEM, NULL, "out of memory");
    l->rt = x->rt;
    snprintf(l->id, sizeof(l->id), "%s", id);
    return doc_txn_defer(c->t, take_up, l, true);
}

static int trigger_before_delete(res_change *c)
{
    return defer_change(c, str_of(c->old, "id"));
}

/* The agent exists; the schedule's next run (null when disabled or over). */
static int trigger_prepare(res_change *c)
{
    json_t *doc = c->doc;
    const char *agent = str_of(doc, "agent_id");
    json_t *a = NULL;
    int rc = agent ? doc_get(c->t, COLL_AGENTS, agent, &a, NULL) : AH_ENOTFOUND;
    json_decref(a);
    if (rc == AH_ENOTFOUND) return doc_fail(c->t, AH_EINVAL, "agent_id", "no agent %s", agent);
    if (rc) return rc;
    const char *kind = str_of(doc, "kind");
    const char *was = str_of(c->old, "kind");
    const char *topic = str_of(json_object_get(doc, "event"), "topic");
    if (kind && !strcmp(kind, "on_event") && topic && !strcmp(topic, "engine.start"))
        return doc_fail(c->t, AH_EINVAL, "event.topic",
                        "engine.start is the engine's own: each start would start another");
    if ((kind && !strcmp(kind, "on_event")) || (was && !strcmp(was, "on_event"))) {
        rc = defer_change(c, str_of(doc, "id")); /* its consumer */
        if (rc) return rc;
    }
    if (!kind || strcmp(kind, "on_schedule") != 0) {
        json_object_del(doc, "next_run_at");
        return 0;
    }
    const json_t *s = json_object_get(doc, "schedule");
    int64_t next = 0;
    char err[300];
    if (s && schedule_next(s, doc_txn_now(c->t), &next, err, sizeof(err)) != 0) {
        const char *colon = strchr(err, ':');
        char field[64];
        snprintf(field, sizeof(field), "%.*s", colon ? (int)(colon - err) : 8, err);
        return doc_fail(c->t, AH_EINVAL, field, "%s", colon ? colon + 2 : err);
    }
    bool on = !json_is_false(json_object_get(doc, "enabled"));
    json_object_set_new(doc, "next_run_at",
                        on && next ? json_integer((json_int_t)next) : json_null());
    return 0;
}

static const res_filter trigger_filters[] = {
    {"agent_id", "agent_id"}, {"kind", "kind"}, {NULL, NULL}};
static const res_range trigger_ranges[] = {{"created", "created_at"}, {NULL, NULL}};
static const char *const trigger_sorts[] = {"created_at", "name", NULL};
static const char *const trigger_read_only[] = {"next_run_at", "last_run_at", "runs",
                                                "webhook_generation", NULL};

static const resource triggers_res = {
    .coll = COLL_TRIGGERS,
    .noun = "trigger",
    .plural = "triggers",
    .base = "/api/v1/triggers",
    .item = "/api/v1/triggers/{id}",
    .filters = trigger_filters,
    .ranges = trigger_ranges,
    .sorts = trigger_sorts,
    .text_field = "name",
    .read_only = trigger_read_only,
    .defaults = "{\"enabled\": true, \"runs\": 0}",
    .prepare = trigger_prepare,
    .before_delete = trigger_before_delete,
};

/* ---- on_event's jq is compiled before it is saved ----------------------------------------- */

static const char *const jq_fields[] = {"filter", "map"};

typedef struct pending {
    res_ctx *rc;
    http_req *req;
    route_params p;
    bool patch;
    json_t *event; /* the body's "event" */
    size_t next;   /* the jq field to check next */
} pending;

static void go_on(res_ctx *rc, http_req *req, const route_params *p, bool patch)
{
    if (patch)
        res_h_patch(rc, req, p);
    else
        res_h_create(rc, req, p);
}

static void check_next(pending *x);

static void on_checked(void *ud, const expr_result *r)
{
    pending *x = ud;
    char field[32];
    snprintf(field, sizeof(field), "event.%s", jq_fields[x->next - 1]);
    if (!r->error) {
        check_next(x);
        return;
    }
    if (!strcmp(r->error, "compile") || !strcmp(r->error, "invalid"))
        http_respond_error(x->req, 422, "invalid", r->message ? r->message : r->error, field);
    else
        http_respond_error(x->req, 503, "unavailable", "the jq cannot be checked now: retry",
                           field);
    json_decref(x->event);
    free(x);
}

/* Compile the next jq field present; when none is left, save. */
static void check_next(pending *x)
{
    trg_ctx *tc = x->rc->ctx;
    while (x->next < sizeof(jq_fields) / sizeof(jq_fields[0])) {
        const char *name = jq_fields[x->next++];
        const char *prog = str_of(x->event, name);
        if (!prog) continue;
        char err[300] = "", field[32];
        snprintf(field, sizeof(field), "event.%s", name);
        int status = tc && tc->expr
                         ? expr_check(tc->expr, prog, NULL, on_checked, x, err, sizeof(err))
                         : AH_ECLOSED;
        if (!status) return; /* on_checked goes on */
        if (status == AH_EINVAL)
            http_respond_error(x->req, 422, "invalid", err, field);
        else
            http_respond_error(x->req, 503, "unavailable",
                               err[0] ? err : "the host has no expression pool", field);
        json_decref(x->event);
        free(x);
        return;
    }
    go_on(x->rc, x->req, &x->p, x->patch);
    json_decref(x->event);
    free(x);
}

static void with_jq_checked(void *ctx, http_req *req, const route_params *p, bool patch)
{
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    json_t *o = len ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *ev = json_object_get(o, "event");
    pending *x = json_is_object(ev) ? calloc(1, sizeof(*x)) : NULL;
    if (!x) {
        json_decref(o);
        go_on(ctx, req, p, patch);
        return;
    }
    *x = (pending){.rc = ctx, .req = req, .p = *p, .patch = patch, .event = json_incref(ev)};
    json_decref(o);
    check_next(x);
}

static void h_create(void *ctx, http_req *req, const route_params *p)
{
    with_jq_checked(ctx, req, p, false);
}

static void h_patch(void *ctx, http_req *req, const route_params *p)
{
    with_jq_checked(ctx, req, p, true);
}

int api_triggers_routes(api_table *t, const api_deps *deps)
{
    res_ctx *rc = NULL;
    if (deps) {
        trg_ctx *tc = calloc(1, sizeof(*tc));
        if (!tc || api_table_own(t, tc, free) != 0) return AH_ENOMEM; /* freed by it */
        if (!(rc = calloc(1, sizeof(*rc))) || api_table_own(t, rc, free) != 0) return AH_ENOMEM;
        *tc = (trg_ctx){.rt = deps->rt, .expr = deps->expr};
        *rc = (res_ctx){&triggers_res, deps->docs, tc, NULL};
    }
    static const route routes[] = {
        {"GET", "/api/v1/triggers", res_h_list, "agents:read",
         "List triggers (filters, sort, cursor pages)"},
        {"POST", "/api/v1/triggers", h_create, "agents:write", "Create a trigger"},
        {"GET", "/api/v1/triggers/{id}", res_h_get, "agents:read",
         "One trigger (ETag; If-None-Match)"},
        {"PATCH", "/api/v1/triggers/{id}", h_patch, "agents:write",
         "Update a trigger (JSON merge patch; If-Match)"},
        {"DELETE", "/api/v1/triggers/{id}", res_h_delete, "agents:write",
         "Delete a trigger (If-Match)"},
    };
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), rc);
}
