/*
 * invites.h - single-use tokens that let someone set a password:
 * invitations (a new user, status "invited", no password yet) and password
 * resets. A token is "<user id>.<64 hex digits>" (256 random bits); only
 * its BLAKE2b hash is kept, in the user's credential with its kind and
 * expiry, and a new one replaces the old. Taking a token checks the hash
 * (constant time), the kind and the expiry, and removes it: it works once.
 */
#ifndef AH_AUTH_INVITES_H
#define AH_AUTH_INVITES_H

#include "model/docs.h"

#include <stdbool.h>
#include <stdint.h>

#define INVITE_TOKEN_LEN (30 + 1 + 64)

/* A new user invited: status "invited", no password, and an invitation
 * token valid ttl_ms into token (INVITE_TOKEN_LEN + 1 bytes), its user's id into id (32
 * bytes). 0, or doc_fail's code (a taken e-mail: AH_EEXIST). */
int invite_create(doc_txn *t, const char *email, const char *name, const char *role,
                  const char *actor, int64_t ttl_ms, char *id, char *token);

/* A password reset token valid ttl_ms for an existing user into token;
 * for a user still "invited" it is an invitation token again (*invite set:
 * its use makes the user active). 0, AH_ENOTFOUND (no such user),
 * AH_EDENIED (a disabled user), or a doc code. */
int invite_reset(doc_txn *t, const char *user_id, int64_t ttl_ms, char *token, bool *invite);

/* Check a presented token: 0 with its user's id (32 bytes) and whether it
 * is an invitation; AH_ENOTFOUND for anything wrong (unknown, malformed,
 * expired, used), all alike. consume: remove it in t as well. */
int invite_take(doc_txn *t, const char *token, bool consume, char *user_id, bool *invite);

#endif
