/*
 * /api/v1/auth: signing in to the web admin. POST login checks an e-mail
 * and password (argon2id, verified off the loop thread; an unknown e-mail
 * verifies against a dummy hash, so both answers take as long and read the
 * same) and sets an HttpOnly, SameSite=Strict session cookie (Secure under
 * TLS); the answer carries the session's CSRF token, which every
 * state-changing request made with the cookie sends as X-CSRF-Token.
 * Failed logins are throttled per address (429) and per account (423),
 * both with Retry-After, and logged to logs/security.log. A user with a
 * second factor gets a pending token instead of a session, to be turned
 * into one with a code (api_2fa.c).
 */
#include "auth/password.h"
#include "auth/roles.h"
#include "auth/sessions.h"
#include "auth/users.h"
#include "core/log.h"
#include "core/util.h"
#include "model/collections.h"
#include "api_priv.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define EMAIL_MAX 254
#define ADDR_FAIL_LIMIT 20 /* failed logins a minute from one address */
#define ACCOUNT_FAIL_LIMIT 5
#define ACCOUNT_LOCK_MS (15u * 60u * 1000u) /* 5 failures within 15 minutes: locked */

typedef struct auth_ctx {
    docs *d;
    ah_loop *loop;
    auth_sessions *sessions;
    throttle *by_addr, *by_account;
    bool tls;
} auth_ctx;

static void ctx_free(void *p)
{
    auth_ctx *x = p;
    throttle_free(x->by_addr);
    throttle_free(x->by_account);
    free(x);
}

static void security(http_req *req, const char *event, const char *email, const char *msg)
{
    log_ctx lc = {.request_id = http_req_id(req)};
    json_t *f = json_pack("{s:s,s:s,s:s}", "event", event, "client_ip", http_req_client_ip(req),
                          "email", email ? email : "");
    log_write("security", LOG_WARN, "auth", &lc, f, "%s", msg);
    json_decref(f);
}

/* ---- login -------------------------------------------------------------------------- */

typedef struct login_req {
    uv_work_t work;
    auth_ctx *x;
    http_req *req;
    char email[EMAIL_MAX + 1];
    char password[AUTH_PW_MAX + 1];
    char hash[AUTH_PW_HASH_MAX];
    bool known, active, ok, totp;
    char user_id[32];
    int64_t epoch;
    json_t *user;
} login_req;

typedef struct find_arg {
    login_req *l;
} find_arg;

static int run_find(doc_txn *t, void *ud)
{
    login_req *l = ud;
    char id[64];
    json_t *key = json_pack("[s]", l->email);
    int rc = doc_find(t, COLL_USERS, "by_email", key, id, sizeof(id));
    json_decref(key);
    if (rc) return rc == AH_ENOTFOUND ? 0 : rc;
    json_t *u = NULL, *c = NULL;
    char cid[32];
    if (doc_get(t, COLL_USERS, id, &u, NULL) || users_cred_id(id, cid) ||
        doc_get(t, COLL_CREDENTIALS, cid, &c, NULL)) {
        json_decref(u);
        return 0;
    }
    const char *h = json_string_value(json_object_get(c, "password_hash"));
    if (h && strlen(h) < sizeof(l->hash)) {
        snprintf(l->hash, sizeof(l->hash), "%s", h);
        l->known = true;
        l->active = !strcmp(json_string_value(json_object_get(u, "status")) ?: "", "active");
        l->epoch = json_integer_value(json_object_get(c, "sessions_epoch"));
        l->totp = json_is_true(json_object_get(c, "totp_enabled"));
        snprintf(l->user_id, sizeof(l->user_id), "%s", id);
        l->user = u;
        u = NULL;
    }
    json_decref(u);
    json_decref(c);
    return 0;
}

static void verify_work(uv_work_t *w)
{
    login_req *l = w->data;
    l->ok = auth_password_verify(l->known ? l->hash : NULL, l->password);
}

static void login_free(login_req *l)
{
    sodium_memzero(l->password, sizeof(l->password));
    json_decref(l->user);
    free(l);
}

static void login_refused(login_req *l)
{
    uint64_t now = ah_mono_ms();
    throttle_fail(l->x->by_addr, http_req_client_ip(l->req), now);
    throttle_fail(l->x->by_account, l->email, now);
    security(l->req, "login_failed", l->email, "login failed: wrong e-mail or password");
    api_audit_access(l->x->d, l->req, "auth.login_failed", NULL, l->email, NULL);
    http_respond_error(l->req, 401, "invalid_credentials", "wrong e-mail or password", NULL);
}

void api_login_session(auth_sessions *s, docs *d, http_req *req, bool tls, const json_t *user,
                       const char *user_id, const char *email, int64_t epoch)
{
    char token[SESSION_TOKEN_LEN + 1], cookie[256];
    const auth_session *ss =
        sessions_create(s, user_id, email, epoch, http_req_client_ip(req), ah_now_ms(), token);
    snprintf(cookie, sizeof(cookie),
             "Set-Cookie: " SESSION_COOKIE "=%s; Path=/; HttpOnly; "
             "SameSite=Strict%s",
             token, tls ? "; Secure" : "");
    sodium_memzero(token, sizeof(token));
    bool enrol = sessions_2fa_required(s, json_string_value(json_object_get(user, "role"))) &&
                 !json_is_true(json_object_get(user, "two_factor"));
    json_t *body = json_pack("{s:O,s:s,s:s,s:b}", "user", user, "session_id", ss->id, "csrf_token",
                             ss->csrf, "two_factor_enrolment_required", enrol);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    const char *hs[] = {cookie, "Cache-Control: no-store", NULL};
    http_respond(req, 200, "application/json", text, strlen(text), hs);
    free(text);
    sodium_memzero(cookie, sizeof(cookie));
    log_ctx lc = {.request_id = http_req_id(req)};
    json_t *f = json_pack("{s:s,s:s,s:s}", "event", "login", "user", user_id, "client_ip",
                          http_req_client_ip(req));
    log_write("security", LOG_INFO, "auth", &lc, f, "signed in: %s", email);
    json_decref(f);
    api_audit_access(d, req, "auth.login", NULL, email,
                     json_pack("{s:s,s:s}", "user_id", user_id, "session_id", ss->id));
}

void api_sso_session(auth_sessions *s, docs *d, http_req *req, bool tls, const char *user_id,
                     const char *email, int64_t epoch, const char *location, json_t *what)
{
    char token[SESSION_TOKEN_LEN + 1], cookie[256], loc[1100];
    const auth_session *ss =
        sessions_create(s, user_id, email, epoch, http_req_client_ip(req), ah_now_ms(), token);
    sessions_set_sso(s, ss->id);
    snprintf(cookie, sizeof(cookie),
             "Set-Cookie: " SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict%s", token,
             tls ? "; Secure" : "");
    sodium_memzero(token, sizeof(token));
    snprintf(loc, sizeof(loc), "Location: %s", location);
    const char *hs[] = {cookie, loc, "Cache-Control: no-store", NULL};
    http_respond(req, 303, NULL, "", 0, hs);
    sodium_memzero(cookie, sizeof(cookie));
    log_ctx lc = {.request_id = http_req_id(req)};
    json_t *f = json_pack("{s:s,s:s,s:s,s:s}", "event", "login", "user", user_id, "client_ip",
                          http_req_client_ip(req), "via", "oidc");
    log_write("security", LOG_INFO, "auth", &lc, f, "signed in through single sign-on: %s", email);
    json_decref(f);
    if (!what) what = json_object();
    json_object_set_new(what, "user_id", json_string(user_id));
    json_object_set_new(what, "session_id", json_string(ss->id));
    json_object_set_new(what, "via", json_string("oidc"));
    api_audit_access(d, req, "auth.login", NULL, email, what);
}

/* The password was right and a second factor is enrolled: a pending token. */
static void login_challenge(login_req *l)
{
    char token[SESSION_TOKEN_LEN + 1];
    sessions_challenge_create(l->x->sessions, l->user_id, l->email, l->epoch, ah_now_ms(), token);
    json_t *body = json_pack("{s:b,s:s,s:i}", "two_factor_required", 1, "pending_token", token,
                             "expires_in_s", SESSION_CHALLENGE_TTL_MS / 1000);
    sodium_memzero(token, sizeof(token));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    const char *hs[] = {"Cache-Control: no-store", NULL};
    http_respond(l->req, 200, "application/json", text, strlen(text), hs);
    sodium_memzero(text, strlen(text));
    free(text);
}

static void verify_done(uv_work_t *w, int status)
{
    login_req *l = w->data;
    if (status == 0 && l->ok && l->active && l->totp)
        login_challenge(l);
    else if (status == 0 && l->ok && l->active)
        api_login_session(l->x->sessions, l->x->d, l->req, l->x->tls, l->user, l->user_id, l->email,
                          l->epoch);
    else
        login_refused(l);
    login_free(l);
}

/* 0, or the request answered (throttled or locked). */
static int login_throttled(auth_ctx *x, http_req *req, const char *email)
{
    uint64_t now = ah_mono_ms();
    unsigned wait = throttle_wait_s(x->by_addr, http_req_client_ip(req), now);
    if (wait) {
        security(req, "login_throttled", email, "login refused: too many failures from here");
        api_audit_access(x->d, req, "auth.throttled", NULL, email, NULL);
        api_respond_throttled(req, wait, "too many failed logins from this address; retry later");
        return -1;
    }
    wait = throttle_wait_s(x->by_account, email, now);
    if (!wait) return 0;
    char ra[40];
    snprintf(ra, sizeof(ra), "Retry-After: %u", wait);
    const char *hs[] = {ra, NULL};
    security(req, "account_locked", email, "login refused: the account is locked for a while");
    api_audit_access(x->d, req, "auth.locked", NULL, email, NULL);
    http_respond_error_h(req, 423, "locked",
                         "too many failed logins for this account; it is locked for a while", NULL,
                         hs);
    return -1;
}

static const char *credential_field(http_req *req, json_t *body, const char *name, size_t max)
{
    const char *v = json_string_value(json_object_get(body, name));
    char msg[96];
    if (!v) {
        snprintf(msg, sizeof(msg), "%s: a string is required", name);
        http_respond_error(req, 422, "invalid_credentials_request", msg, name);
        return NULL;
    }
    if (strlen(v) > max) {
        snprintf(msg, sizeof(msg), "%s: at most %zu bytes", name, max);
        http_respond_error(req, 422, "too_long", msg, name);
        return NULL;
    }
    return v;
}

static void h_login(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    auth_ctx *x = ctx;
    json_t *body;
    if (api_body_json(req, &body, NULL)) return;
    const char *email = credential_field(req, body, "email", EMAIL_MAX);
    const char *pw = email ? credential_field(req, body, "password", AUTH_PW_MAX) : NULL;
    if (!pw || login_throttled(x, req, email)) {
        json_decref(body);
        return;
    }
    login_req *l = calloc(1, sizeof(*l));
    if (!l) {
        json_decref(body);
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return;
    }
    l->x = x;
    l->req = req;
    snprintf(l->email, sizeof(l->email), "%s", email);
    snprintf(l->password, sizeof(l->password), "%s", pw);
    json_decref(body);
    doc_error e;
    if (docs_read(x->d, run_find, l, &e) != 0) l->known = false;
    l->work.data = l;
    if (uv_queue_work(loop_uv(x->loop), &l->work, verify_work, verify_done) != 0) {
        login_free(l);
        http_respond_error(req, 503, "unavailable", "cannot check the password now", NULL);
    }
}

/* ---- the signed-in user's own session ---------------------------------------------------- */

static void h_logout(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    auth_ctx *x = ctx;
    const principal *who = http_req_user(req);
    if (strcmp(who->kind, "user")) {
        http_respond_error(req, 400, "not_a_session", "this request carries no session", NULL);
        return;
    }
    sessions_end(x->sessions, who->id, who->session_id);
    api_audit_access(x->d, req, "auth.logout", who, NULL, NULL);
    const char *hs[] = {"Set-Cookie: " SESSION_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; "
                        "Max-Age=0",
                        NULL};
    http_respond(req, 204, NULL, "", 0, hs);
}

static void h_sessions(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    auth_ctx *x = ctx;
    const principal *who = http_req_user(req);
    if (strcmp(who->kind, "user")) {
        http_respond_json(req, 200, json_pack("{s:[]}", "items"));
        return;
    }
    http_respond_json(req, 200,
                      json_pack("{s:o}", "items",
                                sessions_list(x->sessions, who->id, who->session_id, ah_now_ms())));
}

/* This session: what a page loaded after a single sign-on needs (its CSRF
 * token, which no login answer handed it). */
static void h_session(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    auth_ctx *x = ctx;
    const principal *who = http_req_user(req);
    const auth_session *ss =
        strcmp(who->kind, "user") ? NULL : sessions_get(x->sessions, who->id, who->session_id);
    if (!ss) {
        http_respond_error(req, 400, "not_a_session", "this request carries no session", NULL);
        return;
    }
    json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:b}", "session_id", ss->id, "user_id", ss->user_id,
                             "email", ss->email, "csrf_token", ss->csrf, "sso", ss->sso);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    const char *hs[] = {"Cache-Control: no-store", NULL};
    http_respond(req, 200, "application/json", text, strlen(text), hs);
    free(text);
}

static void h_session_revoke(void *ctx, http_req *req, const route_params *p)
{
    auth_ctx *x = ctx;
    const principal *who = http_req_user(req);
    const char *id = route_param(p, "id");
    if (strcmp(who->kind, "user") || !sessions_end(x->sessions, who->id, id)) {
        api_respond_not_found(req, "session", id);
        return;
    }
    http_respond(req, 204, NULL, "", 0, NULL);
}

/* clang-format off */
static const route routes[] = {
    {"POST", "/api/v1/auth/login", h_login, "public",
     "Sign in with e-mail and password: a session cookie and its CSRF token"},
    {"POST", "/api/v1/auth/logout", h_logout, "account:self", "End this session"},
    {"GET", "/api/v1/auth/sessions", h_sessions, "account:self", "My live sessions"},
    {"GET", "/api/v1/auth/session", h_session, "account:self",
     "This session: its id, user and CSRF token"},
    {"DELETE", "/api/v1/auth/sessions/{id}", h_session_revoke, "account:self",
     "End one of my sessions"},
};
/* clang-format on */

int api_auth_routes(api_table *t, const api_deps *deps)
{
    auth_ctx *x = NULL;
    if (deps) {
        x = calloc(1, sizeof(*x));
        if (!x) return AH_ENOMEM;
        *x = (auth_ctx){
            .d = deps->docs, .loop = deps->loop, .sessions = deps->sessions, .tls = deps->tls};
        x->by_addr = throttle_new(1024, ADDR_FAIL_LIMIT, 60000u);
        x->by_account = throttle_new(1024, ACCOUNT_FAIL_LIMIT, ACCOUNT_LOCK_MS);
        int rc = api_table_own(t, x, ctx_free);
        if (rc) return rc;
        if (!x->by_addr || !x->by_account) return AH_ENOMEM;
    }
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), x);
}

/* ---- a request made with the cookie --------------------------------------------------- */

/* The cookie's value, or NULL. */
static const char *session_cookie(http_req *req, char *out, size_t n)
{
    const char *c = http_req_header(req, "Cookie");
    const char *at = c ? strstr(c, SESSION_COOKIE "=") : NULL;
    while (at && at != c && at[-1] != ' ' && at[-1] != ';')
        at = strstr(at + 1, SESSION_COOKIE "=");
    if (!at) return NULL;
    at += strlen(SESSION_COOKIE "=");
    size_t len = strcspn(at, "; ");
    if (len >= n) return NULL;
    memcpy(out, at, len);
    out[len] = 0;
    return out;
}

typedef struct live_arg {
    const auth_session *ss;
    principal *who;
    bool live, totp;
} live_arg;

/* The user is active and the session's epoch is still the credential's. */
static int run_live(doc_txn *t, void *ud)
{
    live_arg *a = ud;
    json_t *u = NULL, *c = NULL;
    char cid[32];
    if (!doc_get(t, COLL_USERS, a->ss->user_id, &u, NULL) && !users_cred_id(a->ss->user_id, cid) &&
        !doc_get(t, COLL_CREDENTIALS, cid, &c, NULL)) {
        a->live = !strcmp(json_string_value(json_object_get(u, "status")) ?: "", "active") &&
                  json_integer_value(json_object_get(c, "sessions_epoch")) == a->ss->epoch;
        a->totp = json_is_true(json_object_get(c, "totp_enabled"));
        snprintf(a->who->role, sizeof(a->who->role), "%s",
                 json_string_value(json_object_get(u, "role")) ?: "");
        if (roles_effective(t, a->ss->user_id, a->who->role, json_object_get(u, "grants"), a->who))
            a->live = false;
    }
    json_decref(u);
    json_decref(c);
    return 0;
}

int api_session_principal(auth_sessions *s, docs *d, http_req *req, principal *who)
{
    char token[SESSION_TOKEN_LEN + 8];
    if (!s || !session_cookie(req, token, sizeof(token))) return 0;
    auth_session *ss = sessions_find(s, token, ah_now_ms());
    sodium_memzero(token, sizeof(token));
    live_arg a = {ss, who, false, false};
    doc_error e;
    if (ss) docs_read(d, run_live, &a, &e);
    if (!a.live) {
        if (ss) sessions_end(s, NULL, ss->id);
        security(req, "session_refused", NULL, "a session cookie unknown, expired or ended");
        http_respond_error(req, 401, "unauthorized", "the session is unknown or has ended; sign in",
                           NULL);
        return -1;
    }
    const char *m = http_req_method(req);
    if (strcmp(m, "GET") && strcmp(m, "HEAD") &&
        !sessions_csrf_ok(ss, http_req_header(req, "X-CSRF-Token"))) {
        security(req, "csrf_refused", ss->email, "a state-changing request without its CSRF token");
        http_respond_error(req, 403, "csrf_token_required",
                           "send the session's CSRF token in X-CSRF-Token", NULL);
        return -1;
    }
    if (!a.totp && !ss->sso && sessions_2fa_required(s, who->role) &&
        strncmp(http_req_path(req), "/api/v1/auth/", 13)) {
        security(req, "two_factor_enrolment_required", ss->email,
                 "a role that needs a second factor, none enrolled: only enrolment is open");
        http_respond_error(req, 403, "two_factor_enrolment_required",
                           "your role needs a second factor: enrol one at "
                           "POST /api/v1/auth/2fa/enrol first",
                           NULL);
        return -1;
    }
    snprintf(who->id, sizeof(who->id), "%s", ss->user_id);
    snprintf(who->name, sizeof(who->name), "%s", ss->email);
    snprintf(who->kind, sizeof(who->kind), "user");
    snprintf(who->session_id, sizeof(who->session_id), "%s", ss->id);
    return 1;
}
