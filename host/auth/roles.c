#include "roles.h"

#include "model/collections.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <string.h>

/* A custom role's document's permissions (unknown names, which the API
 * never stores, give nothing). */
static auth_perms doc_perms(const json_t *doc)
{
    auth_perms p = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(doc, "permissions"), i, v)
    {
        int k = auth_perm_parse(json_string_value(v));
        if (k >= 0) p |= (auth_perms)1 << k;
    }
    return p;
}

int roles_perms(doc_txn *t, const char *role, auth_perms *out)
{
    if (auth_role_perms(role, out)) return 0;
    *out = 0;
    if (!role || !t) return AH_ENOTFOUND;
    char id[64];
    json_t *key = json_pack("[s]", role);
    int rc = key ? doc_find(t, COLL_ROLES, "by_name", key, id, sizeof(id)) : AH_ENOMEM;
    json_decref(key);
    if (rc) return rc == AH_ENOTFOUND || rc == AH_EINVAL ? AH_ENOTFOUND : AH_EIO;
    json_t *doc = NULL;
    rc = doc_get(t, COLL_ROLES, id, &doc, NULL);
    if (rc) return rc == AH_ENOTFOUND ? AH_ENOTFOUND : AH_EIO;
    *out = doc_perms(doc);
    json_decref(doc);
    return 0;
}

typedef struct team_walk {
    doc_txn *t;
    principal *who;
} team_walk;

/* Add grants (a "grants" array) to who. */
static int add_grants(doc_txn *t, const json_t *grants, principal *who)
{
    size_t i;
    json_t *g;
    json_array_foreach(grants, i, g)
    {
        auth_perms p;
        int rc = roles_perms(t, json_string_value(json_object_get(g, "role")), &p);
        if (rc == AH_ENOTFOUND) continue;
        if (rc) return AH_EIO;
        p &= ROLES_AGENT_PERMS;
        const char *agent = json_string_value(json_object_get(g, "agent_id"));
        const char *group = json_string_value(json_object_get(g, "agent_group_id"));
        if (!p || (!agent && !group) || who->ngrants >= PRINCIPAL_GRANTS) continue;
        principal_grant *pg = &who->grants[who->ngrants++];
        pg->perms = p;
        snprintf(pg->agent_id, sizeof(pg->agent_id), "%s", agent ? agent : "");
        snprintf(pg->group_id, sizeof(pg->group_id), "%s", group && !agent ? group : "");
        who->granted |= p;
    }
    return 0;
}

static int add_team(void *ud, const char *id)
{
    team_walk *w = ud;
    json_t *team = NULL;
    int rc = doc_get(w->t, COLL_TEAMS, id, &team, NULL);
    if (rc == AH_ENOTFOUND) return 0;
    if (rc) return AH_EIO;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(team, "roles"), i, v)
    {
        auth_perms p;
        rc = roles_perms(w->t, json_string_value(v), &p);
        if (rc == AH_EIO) break;
        if (!rc) w->who->perms |= p;
        rc = 0;
    }
    if (!rc) rc = add_grants(w->t, json_object_get(team, "grants"), w->who);
    json_decref(team);
    return rc;
}

int roles_effective(doc_txn *t, const char *user_id, const char *role, const json_t *user_grants,
                    principal *who)
{
    auth_perms own = 0;
    int rc = roles_perms(t, role, &own);
    if (rc && rc != AH_ENOTFOUND) return AH_EIO;
    who->perms = own;
    who->granted = 0;
    who->ngrants = 0;
    if (add_grants(t, user_grants, who)) return AH_EIO;
    team_walk w = {t, who};
    if (user_id && user_id[0]) {
        json_t *key = json_pack("[s]", user_id);
        rc = key ? doc_scan_ids(t, COLL_TEAMS, "by_member", key, false, add_team, &w) : AH_ENOMEM;
        json_decref(key);
        if (rc) return AH_EIO;
    }
    return 0;
}

static int grant_fail(doc_txn *t, const char *field, size_t i, const char *sub, const char *msg)
{
    char at[128];
    snprintf(at, sizeof(at), "%s[%zu]%s%s", field, i, sub[0] ? "." : "", sub);
    return doc_fail(t, AH_EINVAL, at, "%s", msg);
}

int roles_check_grants(doc_txn *t, const json_t *arr, const char *field)
{
    size_t i;
    json_t *g;
    json_array_foreach(arr, i, g)
    {
        const char *role = json_string_value(json_object_get(g, "role"));
        const char *agent = json_string_value(json_object_get(g, "agent_id"));
        const char *group = json_string_value(json_object_get(g, "agent_group_id"));
        auth_perms p;
        int rc = roles_perms(t, role, &p);
        if (rc == AH_ENOTFOUND) {
            char msg[120];
            snprintf(msg, sizeof(msg), "no role \"%.40s\"", role ? role : "");
            return grant_fail(t, field, i, "role", msg);
        }
        if (rc) return rc;
        if (!!agent == !!group)
            return grant_fail(t, field, i, "",
                              "a grant names exactly one of agent_id and agent_group_id");
        const char *coll = agent ? COLL_AGENTS : COLL_AGENT_GROUPS;
        json_t *doc = NULL;
        rc = doc_get(t, coll, agent ? agent : group, &doc, NULL);
        json_decref(doc);
        if (rc == AH_ENOTFOUND || rc == AH_EINVAL)
            return grant_fail(t, field, i, agent ? "agent_id" : "agent_group_id",
                              agent ? "no such agent" : "no such agent group");
        if (rc) return rc;
    }
    return 0;
}

int roles_check_names(doc_txn *t, const json_t *arr, const char *field)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        auth_perms p;
        int rc = roles_perms(t, json_string_value(v), &p);
        if (rc == AH_ENOTFOUND) {
            char at[128];
            snprintf(at, sizeof(at), "%s[%zu]", field, i);
            return doc_fail(t, AH_EINVAL, at, "no role \"%.40s\" (built-in: %s; or a custom role)",
                            json_string_value(v) ? json_string_value(v) : "", auth_role_names());
        }
        if (rc) return rc;
    }
    return 0;
}

json_t *roles_perm_names(auth_perms p)
{
    json_t *a = json_array();
    for (int k = 0; k < PERM_COUNT && a; k++)
        if (p >> k & 1) json_array_append_new(a, json_string(auth_perm_name((auth_perm)k)));
    return a;
}
