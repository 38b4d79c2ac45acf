/*
 * tokens.h - API tokens for the HTTP admin API.
 *
 * A token is "aht_" + 12 hex digits of id + 48 hex digits of secret (192
 * bits). Only its id and a BLAKE2b hash of the secret are stored (the
 * store's tokens database, id -> {name, role, hash, created_at}); the
 * token itself is shown once, when created. A token carries a role by name;
 * what a role allows is auth's (host/auth/perm.h), which callers check
 * before creating one.
 */
#ifndef AH_TOKENS_H
#define AH_TOKENS_H

#include "store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define TOKEN_PREFIX "aht_"
#define TOKEN_LEN (4 + 12 + 48)

/* Permissions (a set) on one agent or on every agent of a group. */
#define PRINCIPAL_GRANTS 16
typedef struct principal_grant {
    uint64_t perms;
    char agent_id[32]; /* "agt_...", or "" */
    char group_id[32]; /* "grp_...", or "" */
} principal_grant;

/* Who a request comes from: an API token, or a signed-in user (a web
 * session: host/auth/sessions.h). */
typedef struct principal {
    char id[32];   /* the token's id, or the user's ("usr_...") */
    char name[65]; /* the token's name, or the user's e-mail (cut) */
    char role[16];
    char kind[8];        /* "token" or "user" */
    char session_id[17]; /* a user's session, or "" */
    /* What it may do (a set of host/auth/perm.h's permissions): its role's,
     * and a user's teams' roles', resolved by the API before each request. */
    uint64_t perms;
    /* What it may do to some agents only (a user's and their teams' grants,
     * host/auth/roles.h): granted is the union of the grants' sets. */
    uint64_t granted;
    unsigned ngrants;
    principal_grant grants[PRINCIPAL_GRANTS];
    int need; /* the permission of the route being served (auth_perm), or -1 */
} principal;

/* Create a token (committed before returning: startup and CLI only).
 * token receives TOKEN_LEN + 1 bytes. 0; AH_EINVAL (a name that is not an
 * id, or a role that is not 1-15 id characters); AH_ENOMEM; AH_EIO (libsodium cannot start, or
 * the random id is taken); or the write's status (store_write_now). */
int tokens_create(store *st, const char *name, const char *role, char *token);
/* Check a presented token. 0 with *who; AH_EDENIED (malformed, unknown,
 * wrong secret, or its record unreadable); AH_EIO when the store cannot be
 * read. */
int tokens_verify(store *st, const char *token, principal *who);
/* [{id, name, role, created_at}] (new reference). */
json_t *tokens_list(store *st);
/* Revoke by id or by name (all tokens of that name). Returns how many were
 * revoked (0: none matched), AH_ENOMEM, or the write's negative status
 * (store_write_now). Committed before returning. */
int tokens_revoke(store *st, const char *id_or_name);
bool tokens_any(store *st);

#endif
