/*
 * /api/v1/roles and /api/v1/teams (users:manage): custom roles, each a
 * named set of permissions, and teams, groups of users holding roles; and
 * GET /api/v1/auth/me, what the caller may do (for a UI to show or hide).
 * The built-in roles are fixed in host/auth/perm.c: no custom role takes
 * their names. A role held by a user or a team cannot be deleted.
 */
#include "auth/roles.h"
#include "model/collections.h"
#include "model/ids.h"
#include "api_docs.h"
#include "api_priv.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <string.h>

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- roles --------------------------------------------------------------------------- */

static int role_prepare(res_change *c)
{
    const char *name = str_of(c->doc, "name");
    if (!c->old && auth_role_valid(name))
        return doc_fail(c->t, AH_EEXIST, "name",
                        "\"%s\" is a built-in role (%s): they cannot be changed or replaced", name,
                        auth_role_names());
    if (c->old && name && strcmp(name, str_of(c->old, "name") ?: ""))
        return doc_fail(c->t, AH_EINVAL, "name",
                        "a role's name cannot change (users, teams and tokens hold it by name)");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(c->doc, "permissions"), i, v)
    {
        if (auth_perm_parse(json_string_value(v)) < 0) {
            char at[40];
            snprintf(at, sizeof(at), "permissions[%zu]", i);
            return doc_fail(c->t, AH_EINVAL, at,
                            "no permission \"%.64s\" (GET /api/v1/auth/me "
                            "lists them)",
                            json_string_value(v) ?: "");
        }
    }
    return 0;
}

static int role_before_delete(res_change *c)
{
    const char *name = str_of(c->old, "name");
    json_t *key = json_pack("[s]", name ?: "");
    char user[64] = "", team[64] = "";
    int rc =
        key ? doc_first_id(c->t, COLL_USERS, "by_role", key, false, user, sizeof(user)) : AH_ENOMEM;
    if (rc == AH_ENOTFOUND)
        rc = doc_first_id(c->t, COLL_TEAMS, "by_role", key, false, team, sizeof(team));
    json_decref(key);
    if (rc == AH_ENOTFOUND) return 0;
    if (rc) return rc;
    return doc_fail(c->t, AH_EBUSY, "name", "the role \"%s\" is held by %s %s: change it first",
                    name, user[0] ? "the user" : "the team", user[0] ? user : team);
}

static const res_range role_ranges[] = {{"created", "created_at"}, {NULL, NULL}};
static const char *const role_sorts[] = {"name", "created_at", NULL};

static const resource roles_res = {
    .coll = COLL_ROLES,
    .noun = "role",
    .label = "custom role",
    .plural = "custom roles",
    .base = "/api/v1/roles",
    .item = "/api/v1/roles/{id}",
    .ranges = role_ranges,
    .sorts = role_sorts,
    .default_sort = "name",
    .text_field = "name",
    .defaults = "{\"permissions\": []}",
    .prepare = role_prepare,
    .before_delete = role_before_delete,
};

/* ---- teams --------------------------------------------------------------------------- */

static int team_prepare(res_change *c)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(c->doc, "members"), i, v)
    {
        const char *id = json_string_value(v);
        json_t *u = NULL;
        int rc = id_valid(id, "usr") ? doc_get(c->t, COLL_USERS, id, &u, NULL) : AH_ENOTFOUND;
        json_decref(u);
        if (rc == AH_ENOTFOUND) {
            char at[40];
            snprintf(at, sizeof(at), "members[%zu]", i);
            return doc_fail(c->t, AH_EINVAL, at, "no user \"%.64s\"", id ?: "");
        }
        if (rc) return rc;
    }
    int rc = roles_check_names(c->t, json_object_get(c->doc, "roles"), "roles");
    return rc ? rc : roles_check_grants(c->t, json_object_get(c->doc, "grants"), "grants");
}

static const res_filter team_filters[] = {{"member", "members"}, {"role", "roles"}, {NULL, NULL}};
static const char *const team_sorts[] = {"name", "created_at", NULL};

static const resource teams_res = {
    .coll = COLL_TEAMS,
    .noun = "team",
    .plural = "teams",
    .base = "/api/v1/teams",
    .item = "/api/v1/teams/{id}",
    .filters = team_filters,
    .sorts = team_sorts,
    .default_sort = "name",
    .text_field = "name",
    .defaults = "{\"members\": [], \"roles\": [], \"grants\": []}",
    .prepare = team_prepare,
};

/* ---- me ------------------------------------------------------------------------------ */

typedef struct me_arg {
    const principal *who;
    json_t *teams;
} me_arg;

static int add_team_name(void *ud, const char *id)
{
    me_arg *a = ud;
    json_array_append_new(a->teams, json_string(id));
    return 0;
}

static int run_me(doc_txn *t, void *ud)
{
    me_arg *a = ud;
    json_t *key = json_pack("[s]", a->who->id);
    json_t *ids = a->teams;
    int rc =
        key ? doc_scan_ids(t, COLL_TEAMS, "by_member", key, false, add_team_name, a) : AH_ENOMEM;
    json_decref(key);
    if (rc) return rc;
    a->teams = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        json_t *team = NULL;
        if (doc_get(t, COLL_TEAMS, json_string_value(v), &team, NULL)) continue;
        json_array_append_new(a->teams, json_pack("{s:s,s:O}", "id", json_string_value(v), "name",
                                                  json_object_get(team, "name") ?: json_null()));
        json_decref(team);
    }
    json_decref(ids);
    return 0;
}

static void h_me(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    docs *d = ctx;
    const principal *who = http_req_user(req);
    me_arg a = {who, json_array()};
    doc_error e;
    if (!strcmp(who->kind, "user") && docs_read(d, run_me, &a, &e)) {
        json_decref(a.teams);
        res_respond_error(req, 503, &e);
        return;
    }
    json_t *out = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o}", "kind", who->kind, "id", who->id,
                            "name", who->name, "role", who->role, "teams", a.teams, "permissions",
                            roles_perm_names(who->perms), "grants", api_scope_grants_json(who));
    http_respond_json(req, 200, out);
}

int api_roles_routes(api_table *t, const api_deps *deps)
{
    docs *d = deps ? deps->docs : NULL;
    static const route me[] = {
        {"GET", "/api/v1/auth/me", h_me, "account:self",
         "Who I am and what I may do: role, teams, permissions"},
    };
    int rc = res_register(t, &roles_res, d, NULL, "users:manage", "users:manage");
    if (!rc) rc = res_register(t, &teams_res, d, NULL, "users:manage", "users:manage");
    if (!rc) rc = api_table_add(t, me, 1, d);
    return rc;
}
