/*
 * users.h - people who sign in (docs/schemas/user.json), and their
 * credentials kept apart (docs/schemas/credential.json: the argon2id
 * hash, the sessions epoch), in the store like every other collection.
 * A credential's id is its user's with the prefix "crd_".
 */
#ifndef AH_AUTH_USERS_H
#define AH_AUTH_USERS_H

#include "model/docs.h"

#include <jansson.h>

#define USER_ID_LEN 31 /* "usr_" + 26 + NUL, with room */

/* "usr_X..." -> "crd_X..." into out (32 bytes). 0, or -1 for no user id. */
int users_cred_id(const char *user_id, char *out);

/* A new user (active, with a password hash; or invited, pw_hash NULL:
 * no password yet) and its credential, in t: 0
 * with id (32 bytes), or doc_fail's code (a taken e-mail: AH_EEXIST naming
 * "email"). actor: "cli:<name>" or a user or token id. */
int users_create(doc_txn *t, const char *email, const char *name, const char *role,
                 const char *pw_hash, const char *actor, char *id);

/* End every session of a user: its credential's sessions epoch rises (a
 * session carries the epoch it began with). 0 or a doc code. */
int users_end_sessions(doc_txn *t, const char *user_id);

/* A new password hash for a user: every session of theirs ends (the epoch
 * rises) and the user shows password_set. 0 or a doc code. */
int users_set_password(doc_txn *t, const char *user_id, const char *pw_hash);

#endif
