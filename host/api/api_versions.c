/*
 * A scenario's history: what changed between two versions (GET
 * /api/v1/scenarios/{id}/diff?from=&to=, engine/scenario_diff.h) and a
 * rollback (POST /api/v1/scenarios/{id}/versions/{number}/rollback: the
 * next version holds that one's content again, checked like any save).
 * Versions themselves never change.
 */
#include "core/util.h"
#include "engine/scenario_diff.h"
#include "model/audit.h"
#include "model/collections.h"
#include "model/ids.h"
#include "model/scenarios.h"
#include "api_docs.h"
#include "scenario_check.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A version number from the query or the path: false after answering. */
static bool number_of(http_req *req, const char *text, const char *field, json_int_t *n)
{
    char *end = NULL;
    long long v = text ? strtoll(text, &end, 10) : 0;
    if (!text || !*text || *end || v < 1) {
        http_respond_error(req, 422, "invalid", "a version number (1, 2, ...)", field);
        return false;
    }
    *n = (json_int_t)v;
    return true;
}

/* ---- diff ------------------------------------------------------------------------------ */

typedef struct diff_arg {
    const char *scenario;
    json_int_t from, to;
    json_t *a, *b;
} diff_arg;

static int read_two(doc_txn *t, void *ud)
{
    diff_arg *x = ud;
    int rc = scenario_version_get(t, x->scenario, x->from, &x->a, NULL);
    if (!rc) rc = scenario_version_get(t, x->scenario, x->to, &x->b, NULL);
    return rc;
}

static void h_diff(void *ctx, http_req *req, const route_params *p)
{
    api_scenario_env *x = ctx;
    diff_arg a = {.scenario = route_param(p, "id")};
    if (!id_valid(a.scenario, "scn")) {
        api_respond_not_found(req, "scenario", a.scenario);
        return;
    }
    if (!number_of(req, http_req_query(req, "from"), "from", &a.from) ||
        !number_of(req, http_req_query(req, "to"), "to", &a.to))
        return;
    doc_error e;
    int rc = docs_read(x->d, read_two, &a, &e);
    if (rc) {
        json_decref(a.a);
        json_decref(a.b);
        http_respond_error(req, rc == AH_ENOTFOUND ? 404 : 503,
                           rc == AH_ENOTFOUND ? "not_found" : "unavailable", e.message, NULL);
        return;
    }
    json_t *d = scenario_diff(json_object_get(a.a, "content"), json_object_get(a.b, "content"));
    json_object_set_new(d, "from", json_integer(a.from));
    json_object_set_new(d, "to", json_integer(a.to));
    json_decref(a.a);
    json_decref(a.b);
    http_respond_json(req, 200, d);
}

/* ---- a new version from content ---------------------------------------------------------- */

typedef struct saving {
    api_scenario_env env;
    http_req *req;
    char scenario[ID_MAX];
    char message[160];
    const char *action; /* the audit's: "scenario.rollback" */
    json_t *content;
    json_t *result;
    uint64_t rev;
    bool created;
} saving;

static int write_next(doc_txn *t, void *ud)
{
    saving *r = ud;
    json_t *s = NULL;
    uint64_t srev;
    int rc = doc_get(t, COLL_SCENARIOS, r->scenario, &s, &srev);
    if (rc == AH_ENOTFOUND) return doc_fail(t, rc, NULL, "no scenario %s", r->scenario);
    if (rc) return rc;
    json_t *before = json_deep_copy(s);
    const principal *who = http_req_user(r->req);
    json_decref(r->result);
    r->result = NULL;
    rc = scenario_version_next(t, s, r->content, r->message, who ? who->name : "host", &r->result,
                               &r->rev, &r->created);
    if (!rc && r->created) {
        res_stamp(s, r->req, doc_txn_now(t), false);
        rc = doc_put(t, COLL_SCENARIOS, s, srev, NULL);
        audit_actor a = res_actor(r->req);
        if (!rc)
            rc = audit_record(t, &a, http_req_id(r->req), r->action, COLL_SCENARIOS, r->scenario,
                              before, s);
    }
    json_decref(before);
    json_decref(s);
    return rc;
}

static void saving_free(saving *r)
{
    json_decref(r->content);
    json_decref(r->result);
    free(r);
}

static void written(int status, const doc_error *e, void *ud)
{
    saving *r = ud;
    if (status) {
        res_respond_error(r->req, status == AH_ENOTFOUND ? 404 : 503, e);
    } else {
        char loc[200];
        snprintf(loc, sizeof(loc), "/api/v1/scenarios/%s/versions/%lld", r->scenario,
                 (long long)json_integer_value(json_object_get(r->result, "number")));
        res_respond_doc(r->req, r->created ? 201 : 200, json_incref(r->result), r->rev, loc);
    }
    saving_free(r);
}

static void checked(void *ud, scn_outcome outcome, const json_t *errors)
{
    saving *r = ud;
    if (outcome != SCN_VALID) {
        scenario_respond_problems(r->req, outcome, errors);
        saving_free(r);
        return;
    }
    int rc = docs_write(r->env.d, write_next, r, written);
    if (rc) {
        http_respond_error(r->req, 503, "store_error", ah_strerror(rc), NULL);
        saving_free(r);
    }
}

void api_version_save(const api_scenario_env *env, http_req *req, const char *scenario_id,
                      json_t *content, const char *message, const char *action)
{
    saving *r = calloc(1, sizeof(*r));
    if (!r) {
        json_decref(content);
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return;
    }
    *r = (saving){.env = *env, .req = req, .action = action, .content = content};
    snprintf(r->scenario, sizeof(r->scenario), "%s", scenario_id);
    snprintf(r->message, sizeof(r->message), "%s", message ? message : "");
    if (scenario_check(r->content, env->reg, env->sup, env->expr, checked, r)) {
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        saving_free(r);
    }
}

/* ---- rollback ---------------------------------------------------------------------------- */

typedef struct old_arg {
    const char *scenario;
    json_int_t number;
    json_t *content;
} old_arg;

static int read_old(doc_txn *t, void *ud)
{
    old_arg *r = ud;
    json_t *v = NULL;
    int rc = scenario_version_get(t, r->scenario, r->number, &v, NULL);
    if (!rc) r->content = json_incref(json_object_get(v, "content"));
    json_decref(v);
    return rc;
}

/* The old content, checked as a save is (a plugin removed since is
 * refused), becomes the next version. */
static void h_rollback(void *ctx, http_req *req, const route_params *p)
{
    api_scenario_env *x = ctx;
    old_arg a = {.scenario = route_param(p, "id")};
    if (!id_valid(a.scenario, "scn")) {
        api_respond_not_found(req, "scenario", a.scenario);
        return;
    }
    if (!number_of(req, route_param(p, "number"), "number", &a.number)) return;
    doc_error e;
    int rc = docs_read(x->d, read_old, &a, &e);
    if (rc) {
        http_respond_error(req, rc == AH_ENOTFOUND ? 404 : 503,
                           rc == AH_ENOTFOUND ? "not_found" : "unavailable", e.message, NULL);
        return;
    }
    char msg[80];
    snprintf(msg, sizeof(msg), "Rollback to version %lld", (long long)a.number);
    api_version_save(x, req, a.scenario, a.content, msg, "scenario.rollback");
}

static const route routes[] = {
    {"GET", "/api/v1/scenarios/{id}/diff", h_diff, "scenarios:read",
     "What changed between two versions (?from=&to=): fields, steps added, removed, changed"},
    {"POST", "/api/v1/scenarios/{id}/versions/{number}/rollback", h_rollback, "scenarios:write",
     "Roll back: the next version holds this one's content again"},
};

int api_scenario_env_routes(api_table *t, const api_deps *deps, const route *rs, size_t n)
{
    api_scenario_env *x = NULL;
    if (deps) {
        if (!(x = calloc(1, sizeof(*x)))) return AH_ENOMEM;
        *x = (api_scenario_env){
            .d = deps->docs, .reg = deps->reg, .sup = deps->sup, .expr = deps->expr};
        int rc = api_table_own(t, x, free);
        if (rc) return rc;
    }
    return api_table_add(t, rs, n, x);
}

int api_versions_routes(api_table *t, const api_deps *deps)
{
    return api_scenario_env_routes(t, deps, routes, sizeof(routes) / sizeof(routes[0]));
}
