/*
 * roles.h - custom roles and teams, and what a person may do with them.
 *
 * A custom role (docs/schemas/role.json) is a named set of permissions,
 * kept in the roles collection beside the built-in roles of perm.h, which
 * are fixed and whose names no custom role may take. A team
 * (docs/schemas/team.json) is a group of users holding roles. What a user
 * may do is the union of their own role and their teams' roles; a token's
 * is its role's.
 */
#ifndef AH_AUTH_ROLES_H
#define AH_AUTH_ROLES_H

#include "model/docs.h"
#include "perm.h"

#include <jansson.h>

/* A role's permissions, built-in or custom: 0 with *out; AH_ENOTFOUND when
 * no role has that name; AH_EIO when the store cannot be read. */
int roles_perms(doc_txn *t, const char *role, auth_perms *out);

/* What a user (user_id "usr_..."; NULL for a token) holding role may do:
 * the role's permissions and those of every team they belong to. An
 * unknown role gives nothing (a custom role deleted under a token). 0 with
 * *out, or AH_EIO. */
int roles_effective(doc_txn *t, const char *user_id, const char *role, auth_perms *out);

/* Each element of arr (an array of role names, may be NULL) names a role:
 * 0, or doc_fail's code naming "<field>[i]". */
int roles_check_names(doc_txn *t, const json_t *arr, const char *field);

/* A set as names: ["agents:read", ...] (new reference). */
json_t *roles_perm_names(auth_perms p);

#endif
