/*
 * /api/v1/agents and /api/v1/agent-groups: agents, the channels they are
 * bound to, their groups; merging two groups.
 */
#include "model/collections.h"
#include "model/experiments.h"
#include "model/ids.h"
#include "plugin/supervisor.h"
#include "api_docs.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEMBERS_MAX 1000
#define IN_USE_SHOWN 3

/* What this family uses. */
typedef struct agents_ctx {
    docs *d;
    supervisor *sup;
} agents_ctx;

/* ---- shared rules ------------------------------------------------------------- */

static int must_exist(doc_txn *t, const char *coll, const char *id, const char *field,
                      const char *noun)
{
    json_t *d = NULL;
    int rc = doc_get(t, coll, id, &d, NULL);
    json_decref(d);
    if (rc == AH_ENOTFOUND) return doc_fail(t, AH_EINVAL, field, "no %s %s", noun, id);
    return rc;
}

/* ---- agents -------------------------------------------------------------------- */

static int agent_prepare(res_change *c)
{
    agents_ctx *x = c->ctx;
    json_t *doc = c->doc;
    /* One language given: it is the agent's only one, and its default. */
    const char *def = json_string_value(json_object_get(doc, "default_language"));
    json_t *langs = json_object_get(doc, "languages");
    if (!langs && def) json_object_set_new(doc, "languages", json_pack("[s]", def));
    if (!def && json_is_array(langs) && json_array_size(langs))
        json_object_set(doc, "default_language", json_array_get(langs, 0));
    if (!def && !langs) { /* neither: English */
        json_object_set_new(doc, "default_language", json_string("en"));
        json_object_set_new(doc, "languages", json_pack("[s]", "en"));
    }
    const char *group = json_string_value(json_object_get(doc, "group_id"));
    int rc = group ? must_exist(c->t, COLL_AGENT_GROUPS, group, "group_id", "agent group") : 0;
    size_t i;
    json_t *ch;
    json_array_foreach(json_object_get(doc, "channels"), i, ch)
    {
        const char *inst = json_string_value(json_object_get(ch, "instance"));
        if (rc || !inst || !x->sup || supervisor_find(x->sup, inst)) continue;
        char field[64];
        snprintf(field, sizeof(field), "channels[%zu].instance", i);
        rc = doc_fail(c->t, AH_EINVAL, field, "no channel instance %s on this host", inst);
    }
    const json_t *sc = json_object_get(doc, "scenario");
    const char *sid = json_string_value(json_object_get(sc, "scenario_id"));
    if (!rc && sid) {
        json_t *s = NULL;
        rc = doc_get(c->t, COLL_SCENARIOS, sid, &s, NULL);
        if (rc == AH_ENOTFOUND)
            rc = doc_fail(c->t, AH_EINVAL, "scenario.scenario_id", "no scenario %s", sid);
        json_int_t v = json_integer_value(json_object_get(sc, "version"));
        if (!rc && v > json_integer_value(json_object_get(s, "latest_version")))
            rc = doc_fail(c->t, AH_EINVAL, "scenario.version", "scenario %s has no version %lld",
                          sid, (long long)v);
        json_decref(s);
    }
    /* A split is an A/B test: checked, and its experiment kept in step. */
    if (!rc) rc = experiment_agent_saved(c->t, doc);
    return rc;
}

/* An agent that conversations use is not deleted: 409 naming them, or
 * with ?force=true archived (its conversations and history stay). */
static int agent_before_delete(res_change *c)
{
    const char *id = json_string_value(json_object_get(c->old, "id"));
    json_t *used;
    int rc = doc_ids_by(c->t, COLL_CONVERSATIONS, "by_agent", id, true, MEMBERS_MAX, &used);
    size_t n = json_array_size(used);
    if (rc || !n) {
        json_decref(used);
        return rc;
    }
    if (!c->force) {
        char some[200] = "";
        for (size_t i = 0; i < n && i < IN_USE_SHOWN; i++) {
            size_t used_len = strlen(some);
            snprintf(some + used_len, sizeof(some) - used_len, "%s%s", i ? ", " : "",
                     json_string_value(json_array_get(used, i)));
        }
        rc = doc_fail(c->t, AH_EBUSY, NULL,
                      "%s%zu conversation%s use agent %s (%s%s); archive it with ?force=true",
                      n >= MEMBERS_MAX ? "at least " : "", n, n == 1 ? "" : "s", id, some,
                      n > IN_USE_SHOWN ? ", ..." : "");
        json_decref(used);
        return rc;
    }
    json_decref(used);
    json_t *doc = json_deep_copy(c->old);
    json_object_set_new(doc, "status", json_string("archived"));
    res_stamp(doc, c->req, doc_txn_now(c->t), false);
    uint64_t rev;
    rc = doc_put(c->t, COLL_AGENTS, doc,
                 (uint64_t)json_integer_value(json_object_get(c->old, "revision")) ?: STORE_REV_ANY,
                 &rev);
    audit_actor who = res_actor(c->req);
    if (!rc)
        rc = audit_record(c->t, &who, http_req_id(c->req), "agent.archive", COLL_AGENTS, id, c->old,
                          doc);
    if (rc) {
        json_decref(doc);
        return rc;
    }
    json_object_set_new(doc, "revision", json_integer((json_int_t)rev));
    c->doc = doc;
    return 1;
}

static const res_filter agent_filters[] = {
    {"status", "status"}, {"group_id", "group_id"},
    {"tag", "tags"},      {"channel", "channels[].instance"},
    {NULL, NULL},
};
static const res_range agent_ranges[] = {
    {"created", "created_at"}, {"updated", "updated_at"}, {NULL, NULL}};
static const char *const agent_sorts[] = {"name", "created_at", "updated_at", NULL};

static const resource agents_res = {
    .coll = COLL_AGENTS,
    .noun = "agent",
    .plural = "agents",
    .base = "/api/v1/agents",
    .item = "/api/v1/agents/{id}",
    .filters = agent_filters,
    .ranges = agent_ranges,
    .sorts = agent_sorts,
    .default_sort = "name",
    .text_field = "name",
    .defaults = "{\"status\": \"active\", \"tags\": [], \"channels\": []}",
    .prepare = agent_prepare,
    .before_delete = agent_before_delete,
};

/* ---- groups --------------------------------------------------------------------- */

static int group_decorate(doc_txn *t, void *ctx, json_t *doc)
{
    (void)ctx;
    const char *id = json_string_value(json_object_get(doc, "id"));
    json_t *members;
    int rc = doc_ids_by(t, COLL_AGENTS, "by_group", id, true, MEMBERS_MAX, &members);
    if (!rc) json_object_set_new(doc, "members", members);
    return rc;
}

/* Move every member of group `from` to `to` (NULL: no group). */
static int move_members(res_change *c, const char *from, const char *to)
{
    json_t *ids;
    int rc = doc_ids_by(c->t, COLL_AGENTS, "by_group", from, true, SIZE_MAX, &ids);
    audit_actor who = res_actor(c->req);
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        json_t *a = NULL;
        uint64_t rev;
        if (rc || (rc = doc_get(c->t, COLL_AGENTS, json_string_value(id), &a, &rev)) != 0) break;
        json_t *before = json_deep_copy(a);
        json_object_set_new(a, "group_id", to ? json_string(to) : json_null());
        res_stamp(a, c->req, doc_txn_now(c->t), false);
        rc = doc_put(c->t, COLL_AGENTS, a, rev, NULL);
        if (!rc)
            rc = audit_record(c->t, &who, http_req_id(c->req), "agent.update", COLL_AGENTS,
                              json_string_value(id), before, a);
        json_decref(before);
        json_decref(a);
    }
    json_decref(ids);
    return rc;
}

/* Deleting a group leaves its agents without one. */
static int group_before_delete(res_change *c)
{
    return move_members(c, json_string_value(json_object_get(c->old, "id")), NULL);
}

static const res_range group_ranges[] = {{"created", "created_at"}, {NULL, NULL}};
static const char *const group_sorts[] = {"name", "created_at", NULL};
static const char *const group_read_only[] = {"members", NULL};

static const resource groups_res = {
    .coll = COLL_AGENT_GROUPS,
    .noun = "agent_group",
    .label = "agent group",
    .plural = "agent groups",
    .base = "/api/v1/agent-groups",
    .item = "/api/v1/agent-groups/{id}",
    .ranges = group_ranges,
    .sorts = group_sorts,
    .default_sort = "name",
    .text_field = "name",
    .read_only = group_read_only,
    .before_delete = group_before_delete,
    .decorate = group_decorate,
};

/* ---- merging groups ---------------------------------------------------------------- */

typedef struct merge_arg {
    agents_ctx *x;
    http_req *req;
    char from[ID_MAX], into[ID_MAX];
    json_t *result;
    uint64_t rev;
} merge_arg;

static int run_merge(doc_txn *t, void *ud)
{
    merge_arg *m = ud;
    json_t *from = NULL, *into = NULL;
    int rc = doc_get(t, COLL_AGENT_GROUPS, m->from, &from, NULL);
    if (rc == AH_ENOTFOUND) rc = doc_fail(t, rc, NULL, "no agent group %s", m->from);
    if (!rc) rc = doc_get(t, COLL_AGENT_GROUPS, m->into, &into, &m->rev);
    if (rc == AH_ENOTFOUND) rc = doc_fail(t, AH_EINVAL, "into", "no agent group %s", m->into);
    res_change c = {.t = t, .req = m->req, .ctx = m->x};
    if (!rc) rc = move_members(&c, m->from, m->into);
    if (!rc) rc = doc_delete(t, COLL_AGENT_GROUPS, m->from, STORE_REV_ANY);
    audit_actor who = res_actor(m->req);
    if (!rc)
        rc = audit_record(t, &who, http_req_id(m->req), "agent_group.merge", COLL_AGENT_GROUPS,
                          m->from, from, NULL);
    if (!rc) rc = group_decorate(t, NULL, into);
    json_decref(from);
    json_decref(m->result);
    m->result = rc ? NULL : into;
    if (rc) json_decref(into);
    return rc;
}

static void merge_done(int status, const doc_error *e, void *ud)
{
    merge_arg *m = ud;
    if (status)
        res_respond_error(m->req, status, e);
    else
        res_respond_doc(m->req, 200, json_incref(m->result), m->rev, NULL);
    json_decref(m->result);
    free(m);
}

static void h_group_merge(void *ctx, http_req *req, const route_params *p)
{
    agents_ctx *x = ctx;
    json_t *body;
    if (api_body_json(req, &body, NULL) < 0) return;
    const char *into = json_string_value(json_object_get(body, "into"));
    const char *from = route_param(p, "id");
    if (!into || !json_is_object(body) || json_object_size(body) != 1) {
        json_decref(body);
        http_respond_error(req, 422, "invalid", "send {\"into\": \"grp_...\"}: the group to keep",
                           "into");
        return;
    }
    if (!strcmp(into, from)) {
        json_decref(body);
        http_respond_error(req, 422, "invalid", "a group cannot be merged into itself", "into");
        return;
    }
    merge_arg *m = calloc(1, sizeof(*m));
    if (m) {
        m->x = x;
        m->req = req;
        snprintf(m->from, sizeof(m->from), "%s", from);
        snprintf(m->into, sizeof(m->into), "%s", into);
    }
    json_decref(body);
    int rc = m ? docs_write(x->d, run_merge, m, merge_done) : AH_ENOMEM;
    if (rc) {
        free(m);
        http_respond_error(req, 503, "store_error", ah_strerror(rc), NULL);
    }
}

static const route extra[] = {
    {"POST", "/api/v1/agent-groups/{id}/merge", h_group_merge, "agents:write",
     "Merge a group into another: its agents move, it is deleted"},
};

int api_agents_routes(api_table *t, const api_deps *deps)
{
    agents_ctx *x = NULL;
    if (deps) {
        if (!(x = calloc(1, sizeof(*x)))) return AH_ENOMEM;
        *x = (agents_ctx){.d = deps->docs, .sup = deps->sup};
        int rc = api_table_own(t, x, free);
        if (rc) return rc;
    }
    docs *d = deps ? deps->docs : NULL;
    int rc = res_register(t, &agents_res, d, x, "agents:read", "agents:write");
    if (!rc) rc = res_register(t, &groups_res, d, x, "agents:read", "agents:write");
    if (!rc) rc = api_table_add(t, extra, sizeof(extra) / sizeof(extra[0]), x);
    return rc;
}
