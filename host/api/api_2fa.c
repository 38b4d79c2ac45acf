/*
 * Two-factor login (TOTP, RFC 6238; host/auth/totp.h). A signed-in user
 * enrols: POST /api/v1/auth/2fa/enrol answers the secret and its
 * otpauth:// URI once (kept pending in their credential), and POST
 * /api/v1/auth/2fa/confirm with a first right code turns it on and answers
 * ten one-time recovery codes, kept only as hashes. From then on the
 * password alone gives a pending token (api_auth.c), which POST
 * /api/v1/auth/login/2fa turns into a session with a code or a recovery
 * code. Each code is checked and its step recorded in one store write, so
 * a code used once is refused for the rest of its window, even by two
 * requests at once. Turning it off takes a code (one's own), or
 * users:manage (another user's reset, which ends their sessions); both are
 * audited and logged to logs/security.log.
 */
#include "auth/sessions.h"
#include "auth/totp.h"
#include "auth/users.h"
#include "core/log.h"
#include "core/util.h"
#include "auth/totp_seal.h"
#include "model/collections.h"
#include "store/secrets.h"
#include "api_priv.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOTP_ISSUER "agenthost"
/* Wrong or replayed codes for one user, across sign-ins, before their
 * second factor is locked for a while (423): a password alone must not
 * buy unlimited guesses five at a time. */
#define CODE_FAIL_LIMIT 10
#define CODE_LOCK_MS (15u * 60u * 1000u)

typedef struct tfa_ctx {
    docs *d;
    auth_sessions *sessions;
    bool tls;
    throttle *fails; /* wrong codes by user id */
    bool has_key;    /* the sealing key (totp_seal.h): without it, no enrolment */
    uint8_t key[32];
} tfa_ctx;

static void ctx_free(void *p)
{
    tfa_ctx *x = p;
    throttle_free(x->fails);
    sodium_memzero(x->key, sizeof(x->key));
    free(x);
}

typedef enum tfa_op { OP_LOGIN, OP_ENROL, OP_CONFIRM, OP_DISABLE, OP_RESET } tfa_op;

/* What a store write found: the answer to give. */
typedef enum tfa_result {
    TF_OK,
    TF_WRONG,     /* wrong code */
    TF_REPLAYED,  /* a right code already used */
    TF_NONE,      /* no second factor enrolled (or none pending) */
    TF_ENROLLED,  /* enrolling again */
    TF_NO_USER,   /* reset: no such user */
    TF_STALE,     /* the credential changed since the password was checked */
    TF_BAD_SECRET /* the stored secret is unreadable */
} tfa_result;

typedef struct tfa_req {
    tfa_ctx *x;
    http_req *req;
    tfa_op op;
    char user_id[32], email[256];
    int64_t epoch;
    char token[SESSION_TOKEN_LEN + 1]; /* login: the pending token */
    char code[TOTP_DIGITS + 1];
    char recovery_hash[TOTP_HASH_HEX]; /* a recovery code's, or "" */
    char secret[TOTP_SECRET_B32];      /* enrol: the new one */
    char codes[TOTP_RECOVERY_CODES * TOTP_RECOVERY_LEN];
    char hashes[TOTP_RECOVERY_CODES * TOTP_HASH_HEX];
    tfa_result result;
    bool by_recovery; /* the login used a recovery code */
    json_t *user;     /* login: the user, for the answer */
} tfa_req;

static void tfa_free(tfa_req *r)
{
    json_decref(r->user);
    sodium_memzero(r, sizeof(*r));
    free(r);
}

static void clear_totp(json_t *c)
{
    json_object_del(c, "totp_secret");
    json_object_del(c, "totp_pending");
    json_object_del(c, "totp_secret_sealed");
    json_object_del(c, "totp_pending_sealed");
    json_object_del(c, "totp_last_step");
    json_object_del(c, "recovery_hashes");
    json_object_set_new(c, "totp_enabled", json_false());
}

/* A secret of credential c into b32: the sealed field opened, or (stored
 * before secrets were sealed, when no key could seal it) the clear one.
 * 0, or -1 when there is none or it does not open. */
static int secret_of(const tfa_req *r, const json_t *c, const char *sealed, const char *clear,
                     char *b32)
{
    const char *v = json_string_value(json_object_get(c, sealed));
    char cid[32];
    if (v)
        return r->x->has_key && !users_cred_id(r->user_id, cid) &&
                       !totp_unseal(r->x->key, cid, v, b32)
                   ? 0
                   : -1;
    v = json_string_value(json_object_get(c, clear));
    if (!v || strlen(v) >= TOTP_SECRET_B32) return -1;
    snprintf(b32, TOTP_SECRET_B32, "%s", v);
    return 0;
}

/* A presented code (or recovery code) against credential c: TF_OK with c
 * changed (the step recorded, or the recovery code spent). */
static tfa_result check_factor(tfa_req *r, json_t *c, int64_t now_s)
{
    if (!json_is_true(json_object_get(c, "totp_enabled"))) return TF_NONE;
    if (r->recovery_hash[0]) {
        json_t *hs = json_object_get(c, "recovery_hashes");
        size_t i;
        json_t *h;
        json_array_foreach(hs, i, h)
        {
            const char *v = json_string_value(h);
            if (v && strlen(v) == TOTP_HASH_HEX - 1 &&
                sodium_memcmp(v, r->recovery_hash, TOTP_HASH_HEX - 1) == 0) {
                json_array_remove(hs, i);
                r->by_recovery = true;
                return TF_OK;
            }
        }
        return TF_WRONG;
    }
    json_t *last = json_object_get(c, "totp_last_step");
    int64_t step = 0;
    char secret[TOTP_SECRET_B32];
    if (secret_of(r, c, "totp_secret_sealed", "totp_secret", secret)) return TF_BAD_SECRET;
    int ok = totp_check(secret, r->code, now_s, last ? json_integer_value(last) : -1, &step);
    sodium_memzero(secret, sizeof(secret));
    if (ok == -1) return TF_BAD_SECRET;
    if (ok == -2) return TF_REPLAYED;
    if (ok == 0) return TF_WRONG;
    json_object_set_new(c, "totp_last_step", json_integer(step));
    return TF_OK;
}

static int set_user_flag(doc_txn *t, const char *user_id, bool on)
{
    json_t *u = NULL;
    uint64_t rev = 0;
    int rc = doc_get(t, COLL_USERS, user_id, &u, &rev);
    if (rc) return rc;
    json_object_set_new(u, "two_factor", json_boolean(on));
    rc = doc_put(t, COLL_USERS, u, rev, NULL);
    json_decref(u);
    return rc;
}

static tfa_result apply(tfa_req *r, doc_txn *t, json_t *c, int *rc)
{
    int64_t now_s = doc_txn_now(t) / 1000;
    char pending[TOTP_SECRET_B32], sealed[TOTP_SEALED_MAX], cid[32];
    bool has_pending = !secret_of(r, c, "totp_pending_sealed", "totp_pending", pending);
    tfa_result res = TF_OK;
    switch (r->op) {
    case OP_LOGIN:
        if (json_integer_value(json_object_get(c, "sessions_epoch")) != r->epoch) return TF_STALE;
        res = check_factor(r, c, now_s);
        if (res == TF_OK) *rc = doc_get(t, COLL_USERS, r->user_id, &r->user, NULL);
        return res;
    case OP_ENROL:
        if (json_is_true(json_object_get(c, "totp_enabled"))) return TF_ENROLLED;
        if (users_cred_id(r->user_id, cid) || totp_seal(r->x->key, cid, r->secret, sealed))
            return TF_BAD_SECRET;
        json_object_del(c, "totp_pending");
        json_object_set_new(c, "totp_pending_sealed", json_string(sealed));
        return TF_OK;
    case OP_CONFIRM: {
        if (json_is_true(json_object_get(c, "totp_enabled"))) return TF_ENROLLED;
        if (!has_pending) return TF_NONE;
        int64_t step = 0;
        int ok = totp_check(pending, r->code, now_s, -1, &step);
        if (ok != 1) return ok == -1 ? TF_BAD_SECRET : TF_WRONG;
        if (users_cred_id(r->user_id, cid) || totp_seal(r->x->key, cid, pending, sealed))
            return TF_BAD_SECRET;
        sodium_memzero(pending, sizeof(pending));
        json_t *hs = json_array();
        for (size_t i = 0; i < TOTP_RECOVERY_CODES; i++)
            json_array_append_new(hs, json_string(r->hashes + i * TOTP_HASH_HEX));
        json_object_set_new(c, "totp_secret_sealed", json_string(sealed));
        json_object_del(c, "totp_secret");
        json_object_del(c, "totp_pending");
        json_object_del(c, "totp_pending_sealed");
        json_object_set_new(c, "totp_enabled", json_true());
        json_object_set_new(c, "totp_last_step", json_integer(step));
        json_object_set_new(c, "recovery_hashes", hs);
        *rc = set_user_flag(t, r->user_id, true);
        return TF_OK;
    }
    case OP_DISABLE:
        res = check_factor(r, c, now_s);
        if (res != TF_OK) return res;
        clear_totp(c);
        *rc = set_user_flag(t, r->user_id, false);
        return TF_OK;
    case OP_RESET:
        clear_totp(c); /* and every session ends: the epoch rises */
        json_object_set_new(
            c, "sessions_epoch",
            json_integer(json_integer_value(json_object_get(c, "sessions_epoch")) + 1));
        *rc = set_user_flag(t, r->user_id, false);
        return TF_OK;
    }
    return TF_NONE;
}

static int run_op(doc_txn *t, void *ud)
{
    tfa_req *r = ud;
    json_decref(r->user);
    r->user = NULL;
    r->by_recovery = false;
    char cid[32];
    json_t *c = NULL;
    uint64_t rev = 0;
    if (users_cred_id(r->user_id, cid)) {
        r->result = TF_NO_USER;
        return 0;
    }
    int rc = doc_get(t, COLL_CREDENTIALS, cid, &c, &rev);
    if (rc == AH_ENOTFOUND && r->op == OP_RESET) {
        json_t *u = NULL;
        rc = doc_get(t, COLL_USERS, r->user_id, &u, NULL);
        json_decref(u);
        r->result = rc == AH_ENOTFOUND ? TF_NO_USER : TF_OK;
        return rc == AH_ENOTFOUND ? 0 : rc;
    }
    if (rc) {
        r->result = rc == AH_ENOTFOUND ? TF_NONE : TF_OK;
        return rc == AH_ENOTFOUND ? 0 : rc;
    }
    rc = 0;
    r->result = apply(r, t, c, &rc);
    if (!rc && r->result == TF_OK) rc = doc_put(t, COLL_CREDENTIALS, c, rev, NULL);
    /* A code tried and refused changes nothing. */
    json_decref(c);
    return rc;
}

/* ---- answers -------------------------------------------------------------------------- */

static void refuse(tfa_req *r)
{
    http_req *req = r->req;
    const char *who = r->op == OP_LOGIN ? r->email : r->user_id;
    if (r->op != OP_CONFIRM && (r->result == TF_WRONG || r->result == TF_REPLAYED))
        throttle_fail(r->x->fails, r->user_id, ah_mono_ms()); /* not a factor yet: uncounted */
    switch (r->result) {
    case TF_REPLAYED:
        api_security_log(req, LOG_WARN, "2fa_replayed", who,
                         "a second-factor code used again: refused");
        api_audit_access(r->x->d, req, "auth.2fa_replayed", http_req_user(req), r->email, NULL);
        http_respond_error(req, 401, "code_already_used",
                           "this code has been used already; wait for the next one", "code");
        return;
    case TF_WRONG:
        api_security_log(req, LOG_WARN, "2fa_failed", who, "a wrong second-factor code");
        api_audit_access(r->x->d, req, "auth.2fa_failed", http_req_user(req), r->email, NULL);
        http_respond_error(req, 401, "invalid_code", "wrong code", "code");
        return;
    case TF_STALE:
    case TF_NONE:
        if (r->op == OP_LOGIN) {
            http_respond_error(req, 401, "invalid_pending_token",
                               "the sign-in is unknown, expired or used up; sign in again",
                               "pending_token");
            return;
        }
        http_respond_error(req, 409, "no_second_factor",
                           r->op == OP_CONFIRM ? "no enrolment pending: POST /api/v1/auth/2fa/enrol"
                                               : "no second factor is enrolled",
                           NULL);
        return;
    case TF_ENROLLED:
        http_respond_error(req, 409, "two_factor_enabled",
                           "a second factor is enrolled already; disable it first", NULL);
        return;
    case TF_NO_USER:
        api_respond_not_found(req, "user", r->user_id);
        return;
    case TF_BAD_SECRET:
    case TF_OK:
        break;
    }
    http_respond_error(req, 500, "bad_secret", "the stored second factor is unreadable", NULL);
}

static void answer_ok(tfa_req *r)
{
    http_req *req = r->req;
    const principal *who = http_req_user(req);
    char uri[512];
    json_t *a;
    switch (r->op) {
    case OP_LOGIN:
        sessions_challenge_end(r->x->sessions, r->token);
        if (r->by_recovery)
            api_security_log(req, LOG_INFO, "2fa_recovery_used", r->email,
                             "signed in with a recovery code");
        api_login_session(r->x->sessions, r->x->d, req, r->x->tls, r->user, r->user_id, r->email,
                          r->epoch);
        return;
    case OP_ENROL:
        if (totp_uri(r->secret, TOTP_ISSUER, r->email, uri, sizeof(uri))) uri[0] = 0;
        api_audit_access(r->x->d, req, "auth.2fa_enrol_started", who, NULL, NULL);
        http_respond_json(req, 200,
                          json_pack("{s:s,s:s,s:s,s:i,s:i}", "secret", r->secret, "otpauth_uri",
                                    uri, "algorithm", "SHA1", "digits", TOTP_DIGITS, "period",
                                    TOTP_STEP_S));
        return;
    case OP_CONFIRM:
        a = json_array();
        for (size_t i = 0; i < TOTP_RECOVERY_CODES; i++)
            json_array_append_new(a, json_string(r->codes + i * TOTP_RECOVERY_LEN));
        api_security_log(req, LOG_INFO, "2fa_enabled", r->user_id, "second factor enabled");
        api_audit_access(r->x->d, req, "auth.2fa_enabled", who, NULL, NULL);
        http_respond_json(req, 200, json_pack("{s:o}", "recovery_codes", a));
        return;
    case OP_DISABLE:
        api_security_log(req, LOG_WARN, "2fa_disabled", r->user_id,
                         "second factor disabled by its user");
        api_audit_access(r->x->d, req, "auth.2fa_disabled", who, NULL, NULL);
        http_respond(req, 204, NULL, "", 0, NULL);
        return;
    case OP_RESET:
        sessions_end_user(r->x->sessions, r->user_id);
        api_security_log(req, LOG_WARN, "2fa_reset", r->user_id,
                         "second factor reset by an administrator; the user's sessions ended");
        api_audit_access(r->x->d, req, "auth.2fa_reset", who, NULL,
                         json_pack("{s:s}", "user_id", r->user_id));
        http_respond(req, 204, NULL, "", 0, NULL);
        return;
    }
}

static void op_done(int status, const doc_error *err, void *ud)
{
    tfa_req *r = ud;
    if (status)
        http_respond_error(r->req, 500, "store_error", err ? err->message : "cannot save", NULL);
    else if (r->result == TF_OK)
        answer_ok(r);
    else
        refuse(r);
    tfa_free(r);
}

static void submit(tfa_req *r)
{
    if (docs_write(r->x->d, run_op, r, op_done) != 0) {
        http_respond_error(r->req, 503, "unavailable", "cannot save now", NULL);
        tfa_free(r);
    }
}

/* ---- requests ------------------------------------------------------------------------- */

static tfa_req *req_new(tfa_ctx *x, http_req *req, tfa_op op)
{
    tfa_req *r = calloc(1, sizeof(*r));
    if (!r) {
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return NULL;
    }
    r->x = x;
    r->req = req;
    r->op = op;
    return r;
}

/* The body's "code" or "recovery_code" into r: 0, or answered (422). */
static int read_factor(http_req *req, json_t *body, tfa_req *r)
{
    const char *code = json_string_value(json_object_get(body, "code"));
    const char *rec = json_string_value(json_object_get(body, "recovery_code"));
    if (code && strlen(code) == TOTP_DIGITS && strspn(code, "0123456789") == TOTP_DIGITS) {
        memcpy(r->code, code, sizeof(r->code));
        return 0;
    }
    if (!code && rec && r->op != OP_CONFIRM && strlen(rec) < 32 &&
        totp_recovery_hash(rec, r->recovery_hash) == 0)
        return 0;
    http_respond_error(req, 422, "invalid_code_request",
                       r->op == OP_CONFIRM ? "code: 6 digits"
                                           : "code: 6 digits, or recovery_code: xxxxx-xxxxx",
                       code || r->op == OP_CONFIRM ? "code" : "recovery_code");
    return -1;
}

/* The signed-in user (a session, not a token): 0, or answered. */
static int session_user(http_req *req, tfa_req *r)
{
    const principal *who = http_req_user(req);
    if (strcmp(who->kind, "user")) {
        http_respond_error(req, 400, "not_a_session", "an API token has no second factor", NULL);
        return -1;
    }
    snprintf(r->user_id, sizeof(r->user_id), "%s", who->id);
    snprintf(r->email, sizeof(r->email), "%s", who->name);
    return 0;
}

static void h_login_2fa(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    tfa_ctx *x = ctx;
    json_t *body;
    if (api_body_json(req, &body, NULL)) return;
    tfa_req *r = req_new(x, req, OP_LOGIN);
    const char *tok = json_string_value(json_object_get(body, "pending_token"));
    auth_challenge ch;
    unsigned wait = 0;
    if (!r || read_factor(req, body, r)) {
        /* answered */
    } else if (!tok || !sessions_challenge_try(x->sessions, tok, ah_now_ms(), &ch)) {
        api_security_log(
            req, LOG_WARN, "2fa_pending_refused", NULL,
            "a second-factor sign-in with an unknown, expired or used-up pending token");
        http_respond_error(req, 401, "invalid_pending_token",
                           "the sign-in is unknown, expired or used up; sign in again",
                           "pending_token");
    } else if ((wait = throttle_wait_s(x->fails, ch.user_id, ah_mono_ms()))) {
        char ra[40];
        snprintf(ra, sizeof(ra), "Retry-After: %u", wait);
        const char *hs[] = {ra, NULL};
        api_security_log(req, LOG_WARN, "2fa_locked", ch.user_id,
                         "too many wrong second-factor codes: locked for a while");
        api_audit_access(x->d, req, "auth.2fa_locked", NULL, ch.email, NULL);
        http_respond_error_h(req, 423, "locked",
                             "too many wrong codes for this account; it is locked for a while",
                             NULL, hs);
    } else {
        snprintf(r->token, sizeof(r->token), "%s", tok);
        snprintf(r->user_id, sizeof(r->user_id), "%s", ch.user_id);
        snprintf(r->email, sizeof(r->email), "%s", ch.email);
        r->epoch = ch.epoch;
        sodium_memzero(&ch, sizeof(ch));
        json_decref(body);
        submit(r);
        return;
    }
    json_decref(body);
    if (r) tfa_free(r);
}

static void h_enrol(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    tfa_req *r = req_new(ctx, req, OP_ENROL);
    if (!r) return;
    if (session_user(req, r)) {
        tfa_free(r);
        return;
    }
    if (!r->x->has_key) { /* a secret is never stored in the clear */
        http_respond_error(req, 503, "no_master_key",
                           "second factors need the master key (secrets.key_file) to seal them",
                           NULL);
        tfa_free(r);
        return;
    }
    if (totp_secret_new(r->secret)) {
        http_respond_error(req, 500, "no_random", "cannot make a secret", NULL);
        tfa_free(r);
        return;
    }
    submit(r);
}

/* confirm and disable: a session user and a code. */
static void with_code(tfa_ctx *x, http_req *req, tfa_op op)
{
    tfa_req *r = req_new(x, req, op);
    if (!r) return;
    json_t *body = NULL;
    if (session_user(req, r) || api_body_json(req, &body, NULL) || read_factor(req, body, r)) {
        json_decref(body);
        tfa_free(r);
        return;
    }
    json_decref(body);
    if (op == OP_CONFIRM && totp_recovery_new(r->codes, r->hashes, TOTP_RECOVERY_CODES)) {
        http_respond_error(req, 500, "no_random", "cannot make recovery codes", NULL);
        tfa_free(r);
        return;
    }
    submit(r);
}

static void h_confirm(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    with_code(ctx, req, OP_CONFIRM);
}

static void h_disable(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    with_code(ctx, req, OP_DISABLE);
}

static void h_reset(void *ctx, http_req *req, const route_params *p)
{
    tfa_req *r = req_new(ctx, req, OP_RESET);
    if (!r) return;
    snprintf(r->user_id, sizeof(r->user_id), "%s", route_param(p, "id"));
    submit(r);
}

static int run_seal_all(doc_txn *t, void *ud)
{
    tfa_ctx *x = ((void **)ud)[0];
    return totp_seal_all(t, x->key, ((void **)ud)[1]);
}

/* Secrets stored in the clear before they were sealed: sealed now, before
 * any request. */
static void seal_at_start(tfa_ctx *x)
{
    size_t n = 0;
    void *arg[2] = {x, &n};
    doc_error e;
    int rc = docs_write_now(x->d, run_seal_all, arg, &e);
    if (rc)
        log_write("security", LOG_ERROR, "auth", NULL, NULL,
                  "cannot seal the second-factor secrets stored in the clear: %s", e.message);
    else if (n)
        log_write("security", LOG_INFO, "auth", NULL, NULL,
                  "sealed the second-factor secrets of %zu credentials, stored in the clear before",
                  n);
}

/* clang-format off */
static const route routes[] = {
    {"POST", "/api/v1/auth/login/2fa", h_login_2fa, "public",
     "Finish signing in with a second-factor code or a recovery code"},
    {"POST", "/api/v1/auth/2fa/enrol", h_enrol, "account:self",
     "Begin enrolling a second factor: the secret and its otpauth:// URI, shown once"},
    {"POST", "/api/v1/auth/2fa/confirm", h_confirm, "account:self",
     "Confirm enrolment with a first code: the second factor is on; recovery codes, shown once"},
    {"POST", "/api/v1/auth/2fa/disable", h_disable, "account:self",
     "Turn my second factor off (with a code or a recovery code)"},
    {"POST", "/api/v1/users/{id}/2fa/reset", h_reset, "users:manage",
     "Remove a user's second factor and end their sessions"},
};
/* clang-format on */

int api_2fa_routes(api_table *t, const api_deps *deps)
{
    tfa_ctx *x = NULL;
    if (deps) {
        x = calloc(1, sizeof(*x));
        if (!x) return AH_ENOMEM;
        *x = (tfa_ctx){.d = deps->docs, .sessions = deps->sessions, .tls = deps->tls};
        x->has_key = deps->sec && secrets_derive_key(deps->sec, TOTP_SEAL_KDF_CTX, x->key) == 0;
        if (x->has_key) seal_at_start(x);
        x->fails = throttle_new(1024, CODE_FAIL_LIMIT, CODE_LOCK_MS);
        int rc = api_table_own(t, x, ctx_free);
        if (rc) return rc;
        if (!x->fails) return AH_ENOMEM;
    }
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), x);
}
