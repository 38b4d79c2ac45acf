/*
 * /api/v1/templates: the template library (engine/agent_template.h,
 * docs/templates.md): listed with what each needs, and turned into an
 * agent (POST /api/v1/templates/{id}/instantiate): the variables filled,
 * the scenario checked as a save is, then ONE write makes the scenario,
 * its version 1, the agent running it and the triggers the template
 * declares, each audited.
 */
#include "core/util.h"
#include "engine/agent_template.h"
#include "model/audit.h"
#include "model/collections.h"
#include "model/ids.h"
#include "model/scenarios.h"
#include "plugin/manifest.h"
#include "plugin/registry.h"
#include "plugin/supervisor.h"
#include "api_docs.h"
#include "scenario_check.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tpl_ctx {
    api_scenario_env env;
    json_t *catalogue;
} tpl_ctx;

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The plugins a template needs that this host has not installed. */
static json_t *missing_plugins(const tpl_ctx *x, const json_t *tmpl)
{
    json_t *miss = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(json_object_get(tmpl, "requires"), "plugins"), i, p)
    {
        if (!x->env.reg || !registry_find(x->env.reg, json_string_value(p)))
            json_array_append(miss, p);
    }
    return miss;
}

/* Whether some configured instance runs plugin name. */
static bool has_instance(const tpl_ctx *x, const char *name)
{
    size_t n = x->env.sup ? supervisor_count(x->env.sup) : 0;
    for (size_t i = 0; i < n; i++) {
        const manifest *m = instance_manifest(supervisor_at(x->env.sup, i));
        if (m && m->name && !strcmp(m->name, name)) return true;
    }
    return false;
}

/* The plugins a template needs that are installed but have no instance
 * configured (an integration to set up: the scenario check refuses it). */
static json_t *missing_instances(const tpl_ctx *x, const json_t *tmpl)
{
    json_t *miss = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(json_object_get(tmpl, "requires"), "plugins"), i, p)
    {
        const char *name = json_string_value(p);
        if (x->env.reg && registry_find(x->env.reg, name) && !has_instance(x, name))
            json_array_append(miss, p);
    }
    return miss;
}

static json_t *described(const tpl_ctx *x, const json_t *tmpl, bool whole)
{
    json_t *o = whole ? json_deep_copy(tmpl) : atpl_summary(tmpl);
    json_t *miss = missing_plugins(x, tmpl), *unset = missing_instances(x, tmpl);
    json_object_set_new(o, "available",
                        json_boolean(!json_array_size(miss) && !json_array_size(unset)));
    json_object_set_new(o, "missing_plugins", miss);
    json_object_set_new(o, "missing_instances", unset);
    return o;
}

static void h_list(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    tpl_ctx *x = ctx;
    json_t *items = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(x->catalogue, i, t) json_array_append_new(items, described(x, t, false));
    http_respond_json(req, 200, json_pack("{s:o}", "items", items));
}

static const json_t *find_or_404(tpl_ctx *x, http_req *req, const route_params *p)
{
    const json_t *t = atpl_find(x->catalogue, route_param(p, "id"));
    if (!t) api_respond_not_found(req, "template", route_param(p, "id"));
    return t;
}

static void h_get(void *ctx, http_req *req, const route_params *p)
{
    tpl_ctx *x = ctx;
    const json_t *t = find_or_404(x, req, p);
    if (t) http_respond_json(req, 200, described(x, t, true));
}

/* ---- instantiating ------------------------------------------------------------------------ */

typedef struct making {
    tpl_ctx *x;
    http_req *req;
    char tmpl_id[80];
    json_t *filled; /* {agent, triggers, scenario, values} */
    json_t *body;   /* the request: name, description */
    json_t *result;
    char agent_id[ID_MAX];
} making;

static void making_free(making *m)
{
    json_decref(m->filled);
    json_decref(m->body);
    json_decref(m->result);
    free(m);
}

/* A new document of coll made by the request's user now: put and audited. */
static int create(doc_txn *t, http_req *req, const char *coll, const char *action, json_t *doc)
{
    res_stamp(doc, req, doc_txn_now(t), true);
    uint64_t rev = 0;
    int rc = doc_put(t, coll, doc, 0, &rev);
    audit_actor who = res_actor(req);
    if (!rc)
        rc = audit_record(t, &who, http_req_id(req), action, coll, str_of(doc, "id"), NULL, doc);
    if (!rc) json_object_set_new(doc, "revision", json_integer((json_int_t)rev));
    return rc;
}

static json_t *new_triggers(making *m, doc_txn *t)
{
    json_t *out = json_array();
    size_t i;
    json_t *tr;
    json_array_foreach(json_object_get(m->filled, "triggers"), i, tr)
    {
        char id[ID_MAX];
        id_new("trg", doc_txn_now(t), id, sizeof(id));
        json_t *d = json_deep_copy(tr);
        json_object_set_new(d, "id", json_string(id));
        json_object_set_new(d, "agent_id", json_string(m->agent_id));
        if (!json_object_get(d, "enabled")) json_object_set_new(d, "enabled", json_true());
        json_object_set_new(d, "runs", json_integer(0));
        json_array_append_new(out, d);
    }
    return out;
}

static int write_agent(doc_txn *t, void *ud)
{
    making *m = ud;
    char scn[ID_MAX];
    id_new("scn", doc_txn_now(t), scn, sizeof(scn));
    id_new("agt", doc_txn_now(t), m->agent_id, sizeof(m->agent_id));
    const char *name = str_of(m->body, "name");
    const char *desc =
        str_of(m->body, "description"); /* else the template's, in the agent's language */
    const json_t *tmpl_desc =
        json_object_get(atpl_find(m->x->catalogue, m->tmpl_id), "description");
    const char *lang = str_of(json_object_get(m->filled, "agent"), "default_language");
    if (!desc) desc = str_of(tmpl_desc, lang ? lang : "en");
    if (!desc) desc = "";
    char tag[100];
    snprintf(tag, sizeof(tag), "template:%s", m->tmpl_id);
    json_t *s = json_pack("{s:s,s:s,s:s,s:[s],s:I}", "id", scn, "name", name, "description", desc,
                          "tags", tag, "latest_version", (json_int_t)1);
    json_t *a = json_deep_copy(json_object_get(m->filled, "agent"));
    json_object_set_new(a, "id", json_string(m->agent_id));
    json_object_set_new(a, "name", json_string(name));
    json_object_set_new(a, "description", json_string(desc));
    json_object_set_new(a, "status", json_string("active"));
    json_object_set_new(a, "tags", json_pack("[s]", tag));
    json_object_set_new(a, "channels", json_array());
    json_object_set_new(a, "scenario", json_pack("{s:s}", "scenario_id", scn));
    json_object_set_new(s, "agent_id", json_string(m->agent_id));
    json_t *triggers = new_triggers(m, t), *version = NULL;
    char msg[160];
    snprintf(msg, sizeof(msg), "From the template %s", m->tmpl_id);
    const principal *who = http_req_user(m->req);
    int rc = create(t, m->req, COLL_SCENARIOS, "scenario.create", s);
    if (!rc)
        rc = scenario_version_put(t, scn, 1, json_object_get(m->filled, "scenario"), msg,
                                  who ? who->name : "host", &version, NULL);
    if (!rc) rc = create(t, m->req, COLL_AGENTS, "agent.create", a);
    size_t i;
    json_t *tr;
    json_array_foreach(triggers, i, tr) if (!rc) rc =
        create(t, m->req, COLL_TRIGGERS, "trigger.create", tr);
    json_decref(m->result);
    m->result = rc ? NULL
                   : json_pack("{s:s,s:O,s:O,s:O,s:O,s:O}", "template", m->tmpl_id, "agent", a,
                               "scenario", s, "version", version, "triggers", triggers, "variables",
                               json_object_get(m->filled, "values"));
    json_decref(version);
    json_decref(triggers);
    json_decref(s);
    json_decref(a);
    return rc;
}

static void written(int status, const doc_error *e, void *ud)
{
    making *m = ud;
    if (status) {
        res_respond_error(m->req, status, e);
    } else {
        char *body = json_dumps(m->result, JSON_COMPACT);
        char loc[120];
        snprintf(loc, sizeof(loc), "Location: /api/v1/agents/%s", m->agent_id);
        const char *hs[] = {loc, NULL};
        if (body)
            http_respond(m->req, 201, "application/json", body, strlen(body), hs);
        else
            http_respond_error(m->req, 503, "no_memory", "out of memory", NULL);
        free(body);
    }
    making_free(m);
}

static void checked(void *ud, scn_outcome outcome, const json_t *errors)
{
    making *m = ud;
    if (outcome != SCN_VALID) {
        scenario_respond_problems(m->req, outcome, errors);
        making_free(m);
        return;
    }
    int rc = docs_write(m->x->env.d, write_agent, m, written);
    if (rc) {
        http_respond_error(m->req, 503, "store_error", ah_strerror(rc), NULL);
        making_free(m);
    }
}

/* {"name", "description", "variables"}: what the body may hold. */
static const char *check_body(const json_t *b, const char **field)
{
    const char *k;
    json_t *v;
    *field = "name";
    const char *name = str_of(b, "name");
    if (!name || !*name || strlen(name) > 100)
        return "name: the new agent's name (1 to 100 characters)";
    json_object_foreach((json_t *)b, k, v)
    {
        *field = k;
        if (!strcmp(k, "variables") && !json_is_object(v))
            return "variables: an object of the template's variables and their values";
        if (!strcmp(k, "description") &&
            (!json_is_string(v) || strlen(json_string_value(v)) > 2000))
            return "description: a text of at most 2000 characters";
        if (strcmp(k, "name") && strcmp(k, "variables") && strcmp(k, "description"))
            return "unknown field: send name, description and variables";
    }
    return NULL;
}

static void respond_variables(http_req *req, json_t *problems)
{
    size_t n = json_array_size(problems);
    char msg[80];
    snprintf(msg, sizeof(msg), "%zu problem%s with the variables", n, n == 1 ? "" : "s");
    json_t *b = json_pack("{s:{s:s,s:s,s:o}}", "error", "code", "invalid_variables", "message", msg,
                          "errors", problems);
    http_respond_json(req, 422, b);
}

static void h_instantiate(void *ctx, http_req *req, const route_params *p)
{
    tpl_ctx *x = ctx;
    const json_t *t = find_or_404(x, req, p);
    json_t *body;
    if (!t || api_body_json(req, &body, NULL) < 0) return;
    const char *field = NULL;
    const char *why = json_is_object(body) ? check_body(body, &field) : "send a JSON object";
    if (why) {
        json_decref(body);
        http_respond_error(req, 422, "invalid", why, field);
        return;
    }
    json_t *filled = NULL, *problems = NULL;
    int rc = atpl_fill(t, json_object_get(body, "variables"), &filled, &problems);
    if (rc) {
        json_decref(body);
        if (rc == AH_EINVAL)
            respond_variables(req, problems);
        else
            http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return;
    }
    making *m = calloc(1, sizeof(*m));
    if (!m) {
        json_decref(body);
        json_decref(filled);
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return;
    }
    *m = (making){.x = x, .req = req, .filled = filled, .body = body};
    snprintf(m->tmpl_id, sizeof(m->tmpl_id), "%s", str_of(t, "id"));
    if (scenario_check(json_object_get(filled, "scenario"), x->env.reg, x->env.sup, x->env.expr,
                       checked, m)) {
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        making_free(m);
    }
}

static const route routes[] = {
    {"GET", "/api/v1/templates", h_list, "scenarios:read",
     "The template library: each template's name, description, needs and variables"},
    {"GET", "/api/v1/templates/{id}", h_get, "scenarios:read",
     "A template whole: its scenario and triggers with their ${variables}"},
    {"POST", "/api/v1/templates/{id}/instantiate", h_instantiate, "agents:write",
     "A new agent from a template: scenario (version 1), agent and triggers"},
};

static void tpl_free(void *p)
{
    tpl_ctx *x = p;
    json_decref(x->catalogue);
    free(x);
}

int api_templates_routes(api_table *t, const api_deps *deps)
{
    tpl_ctx *x = NULL;
    if (deps) {
        char err[300];
        if (!(x = calloc(1, sizeof(*x)))) return AH_ENOMEM;
        *x = (tpl_ctx){
            .env = {.d = deps->docs, .reg = deps->reg, .sup = deps->sup, .expr = deps->expr},
            .catalogue = atpl_catalogue_new(err, sizeof(err))};
        if (!x->catalogue) {
            free(x);
            return AH_ENOMEM; /* a build's mistake: tests/unit/test_agent_template.c */
        }
        int rc = api_table_own(t, x, tpl_free);
        if (rc) return rc;
    }
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), x);
}
