/*
 * /api/v1/integrations: the configured plugin instances in the shape of
 * the data model's documents, so the admin shows one list: the plugin,
 * its configuration, the secrets it declares (set or not, never their
 * values), its state, and the agents whose channels it serves.
 */
#include "store/secrets.h"
#include "model/collections.h"
#include "plugin/supervisor.h"
#include "api_docs.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What this family uses. */
typedef struct integ_ctx {
    supervisor *sup;
    secrets *sec;
    docs *d;
} integ_ctx;

typedef struct agents_arg {
    const char *instance;
    json_t *ids;
} agents_arg;

static int run_agents(doc_txn *t, void *ud)
{
    agents_arg *a = ud;
    char id[80];
    json_t *v = json_pack("[s]", a->instance);
    int rc = doc_find(t, COLL_AGENTS, "by_channel", v, id, sizeof(id));
    json_decref(v);
    if (rc == 0) json_array_append_new(a->ids, json_string(id));
    return rc == AH_ENOTFOUND ? 0 : rc;
}

static json_t *integration_of(integ_ctx *x, instance *inst)
{
    const manifest *m = instance_manifest(inst);
    json_t *st = instance_status(inst);
    json_t *set = x->sec ? secrets_list(x->sec, instance_id(inst)) : json_array();
    json_t *declared = json_array();
    size_t i, k;
    json_t *decl, *s;
    json_array_foreach(json_object_get(m->json, "secrets"), i, decl)
    {
        const char *name = json_string_value(json_object_get(decl, "name"));
        bool present = false;
        json_array_foreach(set, k, s) present |=
            name && !strcmp(name, json_string_value(json_object_get(s, "name")));
        json_array_append_new(declared, json_pack("{s:s,s:b,s:b}", "name", name ? name : "",
                                                  "present", present, "required",
                                                  json_is_true(json_object_get(decl, "required"))));
    }
    json_decref(set);
    agents_arg a = {instance_id(inst), json_array()};
    if (x->d) docs_read(x->d, run_agents, &a, NULL);
    const json_t *cfg = instance_config(inst);
    json_t *out = json_pack(
        "{s:s,s:s,s:s,s:s,s:O,s:o,s:O,s:O,s:O,s:o}", "id", instance_id(inst), "plugin", m->name,
        "version", json_string_value(json_object_get(m->json, "version")) ?: "", "description",
        json_string_value(json_object_get(m->json, "description")) ?: "", "config",
        cfg ? cfg : json_null(), "secrets", declared, "state", json_object_get(st, "state"),
        "enabled", json_object_get(st, "enabled") ?: json_true(), "required",
        json_object_get(st, "required") ?: json_true(), "agents", a.ids);
    json_decref(st);
    return out;
}

static void h_integrations(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    integ_ctx *x = ctx;
    json_t *items = json_array();
    for (size_t i = 0; i < supervisor_count(x->sup); i++)
        json_array_append_new(items, integration_of(x, supervisor_at(x->sup, i)));
    http_respond_json(req, 200,
                      json_pack("{s:o,s:o,s:I}", "items", items, "next", json_null(), "total",
                                (json_int_t)supervisor_count(x->sup)));
}

static void h_integration(void *ctx, http_req *req, const route_params *p)
{
    integ_ctx *x = ctx;
    const char *id = route_param(p, "id");
    instance *inst = id ? supervisor_find(x->sup, id) : NULL;
    if (!inst) {
        api_respond_not_found(req, "integration", id);
        return;
    }
    http_respond_json(req, 200, integration_of(x, inst));
}

static const route routes[] = {
    {"GET", "/api/v1/integrations", h_integrations, "plugins:read",
     "Configured plugin instances: config, secrets set, state, agents served"},
    {"GET", "/api/v1/integrations/{id}", h_integration, "plugins:read", "One integration"},
};

int api_integrations_routes(api_table *t, const api_deps *deps)
{
    integ_ctx *x = NULL;
    if (deps) {
        if (!(x = calloc(1, sizeof(*x)))) return AH_ENOMEM;
        *x = (integ_ctx){.sup = deps->sup, .sec = deps->sec, .d = deps->docs};
        int rc = api_table_own(t, x, free);
        if (rc) return rc;
    }
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), x);
}
