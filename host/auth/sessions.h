/*
 * sessions.h - web sessions of signed-in users, kept in the host's memory
 * (a restart signs everyone out; nothing to steal from the store).
 *
 * The cookie carries "ahs_" + 64 hex digits (256 random bits); only its
 * BLAKE2b hash is kept. Each session has a CSRF token, which every
 * state-changing request made with the cookie must send back in the
 * X-CSRF-Token header. A session ends after `idle_s` without a request,
 * `absolute_s` after it began, on logout or revocation, and when its user's
 * sessions epoch (users.h) no longer matches: password change or
 * deactivation.
 */
#ifndef AH_AUTH_SESSIONS_H
#define AH_AUTH_SESSIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define SESSION_COOKIE "ah_session"
#define SESSION_TOKEN_LEN (4 + 64)
#define SESSION_CSRF_LEN 64
#define SESSION_MAX 4096 /* sessions kept at once; the oldest goes first */

typedef struct auth_sessions auth_sessions;

typedef struct auth_session {
    char id[17]; /* public: for listing and revoking */
    unsigned char key_hash[32];
    char csrf[SESSION_CSRF_LEN + 1];
    char user_id[32];
    char email[256];
    int64_t epoch;
    int64_t created_ms, last_ms;
    char client_ip[64];
} auth_session;

auth_sessions *sessions_new(unsigned idle_s, unsigned absolute_s);
void sessions_free(auth_sessions *s);

/* A new session: its cookie value into token (SESSION_TOKEN_LEN + 1
 * bytes). The session (borrowed, valid until the next call) or NULL. */
const auth_session *sessions_create(auth_sessions *s, const char *user_id, const char *email,
                                    int64_t epoch, const char *client_ip, int64_t now_ms,
                                    char *token);
/* The live session for a cookie value (its last use set to now), or NULL
 * (unknown, malformed, expired: an expired one is dropped). */
auth_session *sessions_find(auth_sessions *s, const char *token, int64_t now_ms);
/* End one session of a user by id (any user's when user_id is NULL):
 * true when it existed. */
bool sessions_end(auth_sessions *s, const char *user_id, const char *id);
/* End every session of a user; returns how many. */
int sessions_end_user(auth_sessions *s, const char *user_id);
/* A user's live sessions: [{id, created_at, last_seen_at, client_ip,
 * current}] (new reference). */
json_t *sessions_list(auth_sessions *s, const char *user_id, const char *current_id,
                      int64_t now_ms);
/* Whether a presented CSRF token is the session's (constant time). */
bool sessions_csrf_ok(const auth_session *ss, const char *presented);

#endif
