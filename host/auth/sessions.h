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
 *
 * A user with a second factor gets no session from the password alone but
 * a challenge: "ahc_" + 64 hex digits, kept hashed, that ends after
 * SESSION_CHALLENGE_TTL_MS or SESSION_CHALLENGE_TRIES wrong codes, and
 * that a right code turns into a session. Roles can be made to need a
 * second factor (auth.require_2fa_roles): a session of such a user who has
 * none may only enrol one.
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
    bool sso; /* began through single sign-on: the provider's MFA stands for the second factor */
} auth_session;

auth_sessions *sessions_new(unsigned idle_s, unsigned absolute_s);
void sessions_free(auth_sessions *s);

/* A new session: its cookie value into token (SESSION_TOKEN_LEN + 1
 * bytes). The session (borrowed, valid until the next call) or NULL. */
const auth_session *sessions_create(auth_sessions *s, const char *user_id, const char *email,
                                    int64_t epoch, const char *client_ip, int64_t now_ms,
                                    char *token);
/* A user's live session by id (borrowed, valid until the next call), or NULL. */
const auth_session *sessions_get(auth_sessions *s, const char *user_id, const char *id);
/* Mark a session (by id) as begun through single sign-on. */
void sessions_set_sso(auth_sessions *s, const char *id);
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
#define SESSION_CHALLENGE_MAX 1024
#define SESSION_CHALLENGE_TTL_MS (5 * 60 * 1000)
#define SESSION_CHALLENGE_TRIES 5

typedef struct auth_challenge {
    unsigned char key_hash[32];
    char user_id[32];
    char email[256];
    int64_t epoch;
    int64_t created_ms;
    int tries;
} auth_challenge;

/* A new challenge (the oldest goes when full): its token into token
 * (SESSION_TOKEN_LEN + 1 bytes). */
void sessions_challenge_create(auth_sessions *s, const char *user_id, const char *email,
                               int64_t epoch, int64_t now_ms, char *token);
/* The live challenge for a token, copied into out with one more try
 * counted: true; false when unknown, malformed, expired or out of tries
 * (then dropped). */
bool sessions_challenge_try(auth_sessions *s, const char *token, int64_t now_ms,
                            auth_challenge *out);
/* Drop the challenge of a token (used). */
void sessions_challenge_end(auth_sessions *s, const char *token);

/* Keeping challenges across a restart: fn(ud, c, gone) runs after every
 * change of one (made, a try counted: gone false; used, expired, out of
 * tries or pushed out: gone true), for the caller to store it; a restored
 * one (sessions_challenge_restore) is taken back as it was, unless it has
 * expired or is out of tries (false). */
typedef void (*sessions_challenge_fn)(void *ud, const auth_challenge *c, bool gone);
void sessions_on_challenge(auth_sessions *s, sessions_challenge_fn fn, void *ud);
bool sessions_challenge_restore(auth_sessions *s, const auth_challenge *c, int64_t now_ms);

/* The roles that need a second factor: comma-separated names (NULL or ""
 * for none). */
void sessions_require_2fa(auth_sessions *s, const char *roles);
bool sessions_2fa_required(const auth_sessions *s, const char *role);

/* Whether a presented CSRF token is the session's (constant time). */
bool sessions_csrf_ok(const auth_session *ss, const char *presented);

#endif
