/*
 * POST /api/v1/agents/{id}/migrate: an agent's conversations in flight
 * moved from one version of its scenario to another, with a mapping of
 * steps (docs/api.md, Migrating conversations in flight). A conversation
 * keeps the version it started on until it ends; this is the explicit way
 * to move it.
 *
 *   {"from": A, "to": B, "steps": {"old_step": "new_step", ...}, "dry_run": bool}
 *
 * Each conversation of the agent that is not ended and runs version A is
 * moved to B, its current step through the mapping (a step B has under the
 * same id maps to itself unless the mapping says otherwise). Refused (422,
 * nothing written): a mapping naming a step A lacks or a step B lacks, a
 * current step that maps to nothing (each named with its count of
 * conversations), a step mapped to one of another kind (a conversation
 * waits on its step: an ask must stay an ask). A dry run answers the same
 * report, unmapped steps included, and writes nothing. The real run is one
 * write: every conversation read again, moved only if it is still on A at
 * the step planned, each with an audit entry (conversation.migrate); a
 * turn running on one meanwhile fails its commit on the revision and the
 * bus delivers its input again, to the migrated conversation.
 * Conversations inside a call_agent sub-conversation are left alone and
 * counted (their step is another scenario's).
 */
#include "core/util.h"
#include "model/audit.h"
#include "model/collections.h"
#include "model/ids.h"
#include "model/scenarios.h"
#include "api_docs.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATE_MAX 10000 /* conversations one call moves; the rest: call again */

typedef struct migration {
    docs *d;
    http_req *req;
    char agent[ID_MAX];
    char scenario[ID_MAX];
    json_int_t from, to;
    json_t *map; /* the request's "steps" */
    bool dry_run;
    json_t *a_steps, *b_steps; /* the versions' steps */
    json_t *plan;              /* [{id, step, to}] */
    json_t *by_step;           /* step -> {"to", "conversations"} */
    json_t *unmapped;          /* step -> count */
    size_t in_sub_agent, changed, remaining, unmapped_n;
    json_t *problems;
} migration;

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void mig_free(migration *m)
{
    json_decref(m->map);
    json_decref(m->a_steps);
    json_decref(m->b_steps);
    json_decref(m->plan);
    json_decref(m->by_step);
    json_decref(m->unmapped);
    json_decref(m->problems);
    free(m);
}

static void problem(migration *m, const char *path, const char *msg)
{
    json_array_append_new(m->problems, json_pack("{s:s,s:s}", "path", path, "message", msg));
}

/* ---- reading: the versions, the mapping, the plan ---------------------------------------- */

static int read_versions(doc_txn *t, migration *m)
{
    json_t *agent = NULL, *va = NULL, *vb = NULL;
    int rc = doc_get(t, COLL_AGENTS, m->agent, &agent, NULL);
    if (rc == AH_ENOTFOUND) return doc_fail(t, rc, NULL, "no agent %s", m->agent);
    const char *sid = rc ? NULL : str_of(json_object_get(agent, "scenario"), "scenario_id");
    if (!rc && !sid) rc = doc_fail(t, AH_EINVAL, NULL, "agent %s runs no scenario", m->agent);
    if (!rc) snprintf(m->scenario, sizeof(m->scenario), "%s", sid);
    json_decref(agent);
    /* a version that is not there: 404 naming it (scenario_version_get's) */
    if (!rc) rc = scenario_version_get(t, m->scenario, m->from, &va, NULL);
    if (!rc) rc = scenario_version_get(t, m->scenario, m->to, &vb, NULL);
    if (!rc) {
        m->a_steps = json_incref(json_object_get(json_object_get(va, "content"), "steps"));
        m->b_steps = json_incref(json_object_get(json_object_get(vb, "content"), "steps"));
    }
    json_decref(va);
    json_decref(vb);
    return rc;
}

/* The mapping's own problems: steps that are not there, kinds that differ. */
static void check_map(migration *m)
{
    const char *k;
    json_t *v;
    json_object_foreach(m->map, k, v)
    {
        char path[200], msg[300];
        snprintf(path, sizeof(path), "steps.%s", k);
        const json_t *a = json_object_get(m->a_steps, k);
        const json_t *b = json_object_get(m->b_steps, json_string_value(v));
        if (!a) {
            snprintf(msg, sizeof(msg), "version %lld has no step \"%s\"", (long long)m->from, k);
            problem(m, path, msg);
        } else if (!b) {
            snprintf(msg, sizeof(msg), "version %lld has no step \"%s\"", (long long)m->to,
                     json_string_value(v));
            problem(m, path, msg);
        } else if (strcmp(str_of(a, "kind"), str_of(b, "kind"))) {
            snprintf(msg, sizeof(msg),
                     "\"%s\" is a %s step and \"%s\" a %s step: a conversation "
                     "waiting on one must wait on a step of the same kind",
                     k, str_of(a, "kind"), json_string_value(v), str_of(b, "kind"));
            problem(m, path, msg);
        }
    }
}

/* Where step goes in B: the mapping's, else the same id of the same kind. */
static const char *target_of(migration *m, const char *step)
{
    const char *to = str_of(m->map, step);
    if (to) return to;
    const json_t *b = json_object_get(m->b_steps, step);
    const json_t *a = json_object_get(m->a_steps, step);
    if (b && a && !strcmp(str_of(a, "kind"), str_of(b, "kind"))) return step;
    return NULL;
}

/* A conversation that runs from now on B at target (NULL: unmapped). */
static bool in_flight_on_a(migration *m, const json_t *c)
{
    const json_t *sc = json_object_get(c, "scenario");
    return strcmp(str_of(c, "state") ? str_of(c, "state") : "", "ended") &&
           str_of(sc, "scenario_id") && !strcmp(str_of(sc, "scenario_id"), m->scenario) &&
           json_integer_value(json_object_get(sc, "version")) == m->from;
}

static void count(json_t *o, const char *k)
{
    json_object_set_new(o, k, json_integer(json_integer_value(json_object_get(o, k)) + 1));
}

typedef struct scan {
    doc_txn *t;
    migration *m;
} scan;

static int plan_one(void *ud, const char *id)
{
    scan *s = ud;
    migration *m = s->m;
    json_t *c = NULL;
    if (doc_get(s->t, COLL_CONVERSATIONS, id, &c, NULL) != 0) return 0;
    if (!in_flight_on_a(m, c)) {
        json_decref(c);
        return 0;
    }
    if (json_array_size(json_object_get(json_object_get(c, "engine"), "active"))) {
        m->in_sub_agent++;
        json_decref(c);
        return 0;
    }
    if (json_array_size(m->plan) >= MIGRATE_MAX) {
        m->remaining++;
        json_decref(c);
        return 0;
    }
    /* no current step (a turn about to run): only the version moves */
    const char *step = str_of(c, "current_step") ? str_of(c, "current_step") : "";
    const char *to = *step ? target_of(m, step) : "";
    if (!to) {
        count(m->unmapped, step);
        m->unmapped_n++;
    } else {
        json_t *b = json_object_get(m->by_step, step);
        if (!b)
            json_object_set_new(m->by_step, step,
                                b = json_pack("{s:s,s:i}", "to", to, "conversations", 0));
        count(b, "conversations");
        json_array_append_new(m->plan,
                              json_pack("{s:s,s:s,s:s}", "id", id, "step", step, "to", to));
    }
    json_decref(c);
    return 0;
}

static int read_plan(doc_txn *t, void *ud)
{
    migration *m = ud;
    json_decref(m->plan);
    json_decref(m->by_step);
    json_decref(m->unmapped);
    m->plan = json_array();
    m->by_step = json_object();
    m->unmapped = json_object();
    m->in_sub_agent = m->remaining = m->unmapped_n = 0;
    int rc = m->a_steps ? 0 : read_versions(t, m);
    if (rc) return rc;
    scan s = {t, m};
    json_t *v = json_pack("[s]", m->agent);
    rc = doc_scan_ids(t, COLL_CONVERSATIONS, "by_agent", v, false, plan_one, &s);
    json_decref(v);
    return rc < 0 ? rc : 0;
}

/* ---- writing ------------------------------------------------------------------------------ */

static int move_one(doc_txn *t, migration *m, const json_t *p)
{
    const char *id = str_of(p, "id");
    json_t *c = NULL;
    uint64_t rev;
    int rc = doc_get(t, COLL_CONVERSATIONS, id, &c, &rev);
    if (rc == AH_ENOTFOUND) {
        m->changed++;
        return 0;
    }
    if (rc) return rc;
    const char *step = str_of(c, "current_step") ? str_of(c, "current_step") : "";
    if (!in_flight_on_a(m, c) || strcmp(step, str_of(p, "step"))) { /* moved on meanwhile */
        m->changed++;
        json_decref(c);
        return 0;
    }
    json_t *before = json_deep_copy(c);
    json_object_set_new(json_object_get(c, "scenario"), "version", json_integer(m->to));
    if (str_of(c, "current_step"))
        json_object_set_new(c, "current_step", json_string(str_of(p, "to")));
    res_stamp(c, m->req, doc_txn_now(t), false);
    rc = doc_put(t, COLL_CONVERSATIONS, c, rev, NULL);
    audit_actor who = res_actor(m->req);
    if (!rc)
        rc = audit_record(t, &who, http_req_id(m->req), "conversation.migrate", COLL_CONVERSATIONS,
                          id, before, c);
    json_decref(before);
    json_decref(c);
    return rc;
}

static int write_moves(doc_txn *t, void *ud)
{
    migration *m = ud;
    m->changed = 0;
    size_t i;
    json_t *p;
    int rc = 0;
    json_array_foreach(m->plan, i, p) if (!rc) rc = move_one(t, m, p);
    return rc;
}

/* ---- the answer ----------------------------------------------------------------------------- */

static json_t *report(migration *m)
{
    json_t *un = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(m->unmapped, k, v)
    {
        json_array_append_new(un, json_pack("{s:s,s:O}", "step", k, "conversations", v));
    }
    size_t planned = json_array_size(m->plan);
    return json_pack("{s:s,s:s,s:I,s:I,s:b,s:I,s:I,s:O,s:o,s:I,s:I}", "agent_id", m->agent,
                     "scenario_id", m->scenario, "from", m->from, "to", m->to, "dry_run",
                     m->dry_run, "matched", (json_int_t)(planned + m->unmapped_n), "migrated",
                     (json_int_t)(m->dry_run ? 0 : planned - m->changed), "by_step", m->by_step,
                     "unmapped", un, "in_sub_agent", (json_int_t)m->in_sub_agent, "remaining",
                     (json_int_t)m->remaining);
}

static void respond_problems(http_req *req, const char *code, json_t *problems)
{
    size_t n = json_array_size(problems);
    char msg[120];
    snprintf(msg, sizeof(msg), "%zu problem%s: nothing was migrated", n, n == 1 ? "" : "s");
    http_respond_json(
        req, 422,
        json_pack("{s:{s:s,s:s,s:O}}", "error", "code", code, "message", msg, "errors", problems));
}

static void moved(int status, const doc_error *e, void *ud)
{
    migration *m = ud;
    if (status)
        res_respond_error(m->req, status, e);
    else
        http_respond_json(m->req, 200, report(m));
    mig_free(m);
}

static void planned(migration *m)
{
    check_map(m);
    if (json_array_size(m->problems)) {
        respond_problems(m->req, "invalid_mapping", m->problems);
        mig_free(m);
        return;
    }
    if (m->dry_run) {
        http_respond_json(m->req, 200, report(m));
        mig_free(m);
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(m->unmapped, k, v)
    {
        char path[200], msg[300];
        snprintf(path, sizeof(path), "steps.%s", k);
        snprintf(msg, sizeof(msg),
                 "%lld conversation%s wait%s on step \"%s\", which version %lld "
                 "lacks: map it to one of version %lld",
                 (long long)json_integer_value(v), json_integer_value(v) == 1 ? "" : "s",
                 json_integer_value(v) == 1 ? "s" : "", k, (long long)m->to, (long long)m->to);
        problem(m, path, msg);
    }
    if (json_array_size(m->problems)) {
        respond_problems(m->req, "unmapped_steps", m->problems);
        mig_free(m);
        return;
    }
    int rc = docs_write(m->d, write_moves, m, moved);
    if (rc) {
        http_respond_error(m->req, 503, "store_error", ah_strerror(rc), NULL);
        mig_free(m);
    }
}

static const char *check_body(const json_t *b, const char **field)
{
    const char *k;
    json_t *v;
    *field = "from";
    if (!json_is_integer(json_object_get(b, "from")) ||
        json_integer_value(json_object_get(b, "from")) < 1)
        return "from: the version the conversations run (1, 2, ...)";
    *field = "to";
    if (!json_is_integer(json_object_get(b, "to")) ||
        json_integer_value(json_object_get(b, "to")) < 1)
        return "to: the version to move them to";
    if (json_equal(json_object_get(b, "from"), json_object_get(b, "to")))
        return "to: the same version as from";
    json_object_foreach((json_t *)b, k, v)
    {
        *field = k;
        if (!strcmp(k, "steps")) {
            const char *s;
            json_t *t;
            if (!json_is_object(v)) return "steps: {\"step of from\": \"step of to\", ...}";
            json_object_foreach(v, s,
                                t) if (!json_is_string(t)) return "steps: each value a step id";
        } else if (!strcmp(k, "dry_run") && !json_is_boolean(v)) {
            return "dry_run: true or false";
        } else if (strcmp(k, "from") && strcmp(k, "to") && strcmp(k, "steps") &&
                   strcmp(k, "dry_run")) {
            return "unknown field: send from, to, steps and dry_run";
        }
    }
    return NULL;
}

static void h_migrate(void *ctx, http_req *req, const route_params *p)
{
    docs *d = ctx; /* the family's context is the documents store */
    const char *agent = route_param(p, "id");
    if (!id_valid(agent, "agt")) {
        api_respond_not_found(req, "agent", agent);
        return;
    }
    json_t *body;
    if (api_body_json(req, &body, NULL) < 0) return;
    const char *field = NULL;
    const char *why = json_is_object(body) ? check_body(body, &field) : "send a JSON object";
    if (why) {
        json_decref(body);
        http_respond_error(req, 422, "invalid", why, field);
        return;
    }
    migration *m = calloc(1, sizeof(*m));
    if (!m) {
        json_decref(body);
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return;
    }
    *m = (migration){.d = d,
                     .req = req,
                     .problems = json_array(),
                     .from = json_integer_value(json_object_get(body, "from")),
                     .to = json_integer_value(json_object_get(body, "to")),
                     .dry_run = json_is_true(json_object_get(body, "dry_run"))};
    m->map = json_incref(json_object_get(body, "steps"));
    if (!m->map) m->map = json_object();
    json_decref(body);
    snprintf(m->agent, sizeof(m->agent), "%s", agent);
    doc_error e;
    int rc = docs_read(d, read_plan, m, &e);
    if (rc) {
        res_respond_error(req, rc, &e);
        mig_free(m);
        return;
    }
    planned(m);
}

static const route routes[] = {
    {"POST", "/api/v1/agents/{id}/migrate", h_migrate, "conversations:write",
     "Move conversations in flight from one version to another, mapping their steps (dry_run)"},
};

int api_migrate_routes(api_table *t, const api_deps *deps)
{
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), deps ? deps->docs : NULL);
}
