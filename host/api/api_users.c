/*
 * /api/v1/users: the people who sign in (docs/schemas/user.json), managed
 * by users:manage. Their passwords are never part of a user: the hashes
 * sit in the credentials collection, which no route serves. Disabling a
 * user ends every session of theirs in the same commit; deleting one
 * deletes its credential too.
 */
#include "auth/roles.h"
#include "auth/users.h"
#include "model/collections.h"
#include "api_docs.h"

#include <agenthost/plugin.h>

#include <string.h>

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int user_prepare(res_change *c)
{
    auth_perms p;
    const char *role = str_of(c->doc, "role");
    int rc = roles_perms(c->t, role, &p);
    if (rc == AH_ENOTFOUND)
        return doc_fail(c->t, AH_EINVAL, "role",
                        "no role \"%.40s\" (built-in: %s; or a custom role)", role ?: "",
                        auth_role_names());
    if (rc) return rc;
    rc = roles_check_grants(c->t, json_object_get(c->doc, "grants"), "grants");
    if (rc) return rc;
    const char *now = str_of(c->doc, "status");
    const char *was = c->old ? str_of(c->old, "status") : NULL;
    if (!c->old) json_object_set_new(c->doc, "password_set", json_false());
    if (c->old && now && !strcmp(now, "disabled") && (!was || strcmp(was, "disabled")))
        return users_end_sessions(c->t, str_of(c->doc, "id"));
    return 0;
}

static int user_before_delete(res_change *c)
{
    char cid[32];
    if (users_cred_id(str_of(c->old, "id"), cid)) return 0;
    int rc = doc_delete(c->t, COLL_CREDENTIALS, cid, STORE_REV_ANY);
    return rc == AH_ENOTFOUND ? 0 : rc;
}

static const res_filter user_filters[] = {{"role", "role"}, {"status", "status"}, {NULL, NULL}};
static const res_range user_ranges[] = {{"created", "created_at"}, {NULL, NULL}};
static const char *const user_sorts[] = {"email", "created_at", NULL};
static const char *const user_read_only[] = {"password_set", "two_factor", NULL};

static const resource users_res = {
    .coll = COLL_USERS,
    .noun = "user",
    .plural = "users",
    .base = "/api/v1/users",
    .item = "/api/v1/users/{id}",
    .filters = user_filters,
    .ranges = user_ranges,
    .sorts = user_sorts,
    .default_sort = "email",
    .text_field = "email",
    .read_only = user_read_only,
    .defaults = "{\"status\": \"invited\", \"language\": \"en\"}",
    .prepare = user_prepare,
    .before_delete = user_before_delete,
};

int api_users_routes(api_table *t, const api_deps *deps)
{
    return res_register(t, &users_res, deps ? deps->docs : NULL, NULL, "users:manage",
                        "users:manage");
}
