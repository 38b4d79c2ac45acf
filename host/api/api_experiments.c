/*
 * /api/v1/agents/{id}/experiments: an agent's A/B tests (model/experiments.h)
 * with their statistics (model/ab_stats.h), and stopping one with the
 * version chosen, which becomes the agent's.
 *
 *   GET  .../experiments                 the agent's experiments, newest first
 *   GET  .../experiments/{experiment}    one ("current": the running one), with stats
 *   POST .../experiments/{experiment}/stop  {"version": N}
 */
#include "model/ab_stats.h"
#include "model/collections.h"
#include "model/experiments.h"
#include "model/ids.h"
#include "api_docs.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPERIMENTS_LISTED 100

typedef struct exp_read {
    const char *agent, *which;
    char id[ID_MAX];
    json_t *out;
} exp_read;

static json_t *with_stats(json_t *e)
{
    json_object_set_new(e, "stats", ab_stats_report(e));
    return e;
}

/* The agent exists, and which experiment is meant ("current": the running). */
static int resolve(doc_txn *t, exp_read *r)
{
    json_t *a = NULL;
    int rc = doc_get(t, COLL_AGENTS, r->agent, &a, NULL);
    json_decref(a);
    if (rc == AH_ENOTFOUND) return doc_fail(t, rc, NULL, "no agent %s", r->agent);
    if (rc || !r->which) return rc;
    if (strcmp(r->which, "current") != 0) {
        snprintf(r->id, sizeof(r->id), "%s", r->which);
        return 0;
    }
    rc = experiment_running(t, r->agent, r->id, sizeof(r->id));
    if (rc == AH_ENOTFOUND)
        return doc_fail(t, rc, NULL, "agent %s runs no experiment (no scenario.split)", r->agent);
    return rc;
}

static int read_list(doc_txn *t, void *ud)
{
    exp_read *r = ud;
    int rc = resolve(t, r);
    json_t *ids = NULL, *v = json_pack("[s]", r->agent);
    if (!rc) rc = doc_list_ids(t, COLL_EXPERIMENTS, "by_agent", v, true, EXPERIMENTS_LISTED, &ids);
    json_decref(v);
    r->out = json_array();
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        json_t *e = NULL;
        if (rc || (rc = doc_get(t, COLL_EXPERIMENTS, json_string_value(id), &e, NULL)) != 0) break;
        json_array_append_new(r->out, with_stats(e));
    }
    json_decref(ids);
    return rc;
}

static int read_one(doc_txn *t, void *ud)
{
    exp_read *r = ud;
    int rc = resolve(t, r);
    if (!rc) rc = doc_get(t, COLL_EXPERIMENTS, r->id, &r->out, NULL);
    if (!rc && strcmp(json_string_value(json_object_get(r->out, "agent_id")), r->agent) != 0)
        rc = AH_ENOTFOUND;
    if (rc == AH_ENOTFOUND)
        return doc_fail(t, rc, NULL, "agent %s has no experiment %s", r->agent, r->id);
    if (!rc) with_stats(r->out);
    return rc;
}

static void answer_read(http_req *req, doc_txn_fn fn, exp_read *r, docs *d)
{
    doc_error e = {0};
    int rc = docs_read(d, fn, r, &e);
    if (rc)
        res_respond_error(req, rc, &e);
    else if (json_is_array(r->out))
        http_respond_json(req, 200, json_pack("{s:O}", "experiments", r->out));
    else
        http_respond_json(req, 200, json_incref(r->out));
    json_decref(r->out);
}

static void h_list(void *ctx, http_req *req, const route_params *p)
{
    exp_read r = {.agent = route_param(p, "id")};
    answer_read(req, read_list, &r, ctx);
}

static void h_get(void *ctx, http_req *req, const route_params *p)
{
    exp_read r = {.agent = route_param(p, "id"), .which = route_param(p, "experiment")};
    answer_read(req, read_one, &r, ctx);
}

/* ---- stop -------------------------------------------------------------------------- */

typedef struct stop_arg {
    exp_read r;
    http_req *req;
    json_int_t version;
} stop_arg;

static int run_stop(doc_txn *t, void *ud)
{
    stop_arg *s = ud;
    json_decref(s->r.out);
    s->r.out = NULL;
    int rc = resolve(t, &s->r);
    audit_actor who = res_actor(s->req);
    if (!rc)
        rc = experiment_stop(t, s->r.agent, s->r.id, s->version, &who, http_req_id(s->req),
                             &s->r.out);
    return rc;
}

static void stop_done(int status, const doc_error *e, void *ud)
{
    stop_arg *s = ud;
    if (status)
        res_respond_error(s->req, status, e);
    else
        http_respond_json(s->req, 200, with_stats(json_incref(s->r.out)));
    json_decref(s->r.out);
    free(s);
}

static void h_stop(void *ctx, http_req *req, const route_params *p)
{
    json_t *body;
    if (api_body_json(req, &body, NULL) < 0) return;
    const json_t *v = json_object_get(body, "version");
    if (!json_is_integer(v) || json_integer_value(v) < 1) {
        json_decref(body);
        http_respond_error(req, 422, "invalid",
                           "send {\"version\": N}: the variant that becomes the agent's",
                           "version");
        return;
    }
    stop_arg *s = calloc(1, sizeof(*s));
    if (s) {
        s->r = (exp_read){.agent = route_param(p, "id"), .which = route_param(p, "experiment")};
        s->req = req;
        s->version = json_integer_value(v);
    }
    json_decref(body);
    int rc = s ? docs_write(ctx, run_stop, s, stop_done) : AH_ENOMEM;
    if (rc) {
        free(s);
        http_respond_error(req, 503, "store_error", ah_strerror(rc), NULL);
    }
}

static const route routes[] = {
    {"GET", "/api/v1/agents/{id}/experiments", h_list, "agents:read",
     "An agent's A/B tests, newest first, with their statistics"},
    {"GET", "/api/v1/agents/{id}/experiments/{experiment}", h_get, "agents:read",
     "One A/B test (current: the running one) with per-variant statistics and the z-test"},
    {"POST", "/api/v1/agents/{id}/experiments/{experiment}/stop", h_stop, "agents:write",
     "Stop an A/B test: the version chosen becomes the agent's"},
};

int api_experiments_routes(api_table *t, const api_deps *deps)
{
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), deps ? deps->docs : NULL);
}
