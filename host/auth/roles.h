/*
 * roles.h - custom roles and teams, and what a person may do with them.
 *
 * A custom role (docs/schemas/role.json) is a named set of permissions,
 * kept in the roles collection beside the built-in roles of perm.h, which
 * are fixed and whose names no custom role may take. A team
 * (docs/schemas/team.json) is a group of users holding roles. What a user
 * may do is the union of their own role and their teams' roles; a token's
 * is its role's.
 *
 * A grant ({"role": "editor", "agent_group_id": "grp_..."} or
 * "agent_id") on a user or a team gives a role's permissions on some
 * agents only: those about agents, scenarios, conversations and contacts
 * (ROLES_AGENT_PERMS); the API checks them per agent (api_scope.c).
 */
#ifndef AH_AUTH_ROLES_H
#define AH_AUTH_ROLES_H

#include "model/docs.h"
#include "store/tokens.h"
#include "perm.h"

#include <jansson.h>

/* A role's permissions, built-in or custom: 0 with *out; AH_ENOTFOUND when
 * no role has that name; AH_EIO when the store cannot be read. */
int roles_perms(doc_txn *t, const char *role, auth_perms *out);

#define ROLES_PERM_BIT(e) ((auth_perms)1 << PERM_##e)
/* What a grant may give on some agents (the rest of a role's set it drops). */
#define ROLES_AGENT_PERMS                                                                          \
    (ROLES_PERM_BIT(AGENTS_READ) | ROLES_PERM_BIT(AGENTS_WRITE) | ROLES_PERM_BIT(AGENTS_RUN) |     \
     ROLES_PERM_BIT(SCENARIOS_READ) | ROLES_PERM_BIT(SCENARIOS_WRITE) |                            \
     ROLES_PERM_BIT(SCENARIOS_SIMULATE) | ROLES_PERM_BIT(CONTACTS_READ) |                          \
     ROLES_PERM_BIT(CONTACTS_WRITE) | ROLES_PERM_BIT(CONVERSATIONS_READ) |                         \
     ROLES_PERM_BIT(CONVERSATIONS_WRITE) | ROLES_PERM_BIT(CONVERSATIONS_REPLY))

/* What a user (user_id "usr_..."; NULL for a token) holding role, with
 * their own grants (user_grants: the user's "grants", may be NULL), may
 * do: who->perms the role's and every team's roles'; who->grants the
 * user's and the teams' grants (beyond PRINCIPAL_GRANTS: left out, so
 * refused), who->granted their union. An unknown role gives nothing (a
 * custom role deleted under a token). 0, or AH_EIO. */
int roles_effective(doc_txn *t, const char *user_id, const char *role, const json_t *user_grants,
                    principal *who);

/* Each element of arr (grants, may be NULL) names a role and exactly one
 * existing agent ("agent_id") or agent group ("agent_group_id"): 0, or
 * doc_fail's code naming "<field>[i].role" and so on. */
int roles_check_grants(doc_txn *t, const json_t *arr, const char *field);

/* Each element of arr (an array of role names, may be NULL) names a role:
 * 0, or doc_fail's code naming "<field>[i]". */
int roles_check_names(doc_txn *t, const json_t *arr, const char *field);

/* A set as names: ["agents:read", ...] (new reference). */
json_t *roles_perm_names(auth_perms p);

#endif
