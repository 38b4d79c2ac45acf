/*
 * Invitations and password resets (host/auth/invites.h). An administrator
 * invites someone by e-mail address and role (POST /api/v1/invitations) or
 * asks for a user's password reset (POST /api/v1/users/{id}/password-reset);
 * a signed-in user can ask for their own (POST /api/v1/auth/password-reset).
 * With auth.mail_instance set, the single-use token goes by mail only, as a
 * link (account_mail.h), and the answer says whether it was sent (a failure
 * with its reason; the invitation or reset stands). Unset, the token comes
 * back in the answer, to be handed over by the administrator. A reset of a
 * user who never accepted the invitation is the invitation again. POST
 * /api/v1/auth/set-password (public) takes a token and a password meeting
 * the policy: an invited user becomes active, and every session of the user
 * ends. Any wrong token (unknown, expired, used, malformed) gets the same
 * answer, counted per address (429 past the limit) and logged to
 * logs/security.log.
 */
#include "auth/invites.h"
#include "auth/password.h"
#include "auth/perm.h"
#include "auth/sessions.h"
#include "auth/users.h"
#include "core/log.h"
#include "core/util.h"
#include "model/collections.h"
#include "account_mail.h"
#include "api_priv.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define TOKEN_FAIL_LIMIT 10 /* wrong tokens a minute from one address */

typedef struct inv_ctx {
    docs *d;
    ah_loop *loop;
    auth_sessions *sessions;
    throttle *fails;
    account_mail *mail; /* NULL: tokens are answered, not mailed */
    int64_t invite_ttl_ms, reset_ttl_ms;
} inv_ctx;

static void ctx_free(void *p)
{
    inv_ctx *x = p;
    throttle_free(x->fails);
    account_mail_free(x->mail);
    free(x);
}

typedef struct inv_req {
    uv_work_t work;
    inv_ctx *x;
    http_req *req;
    char token[INVITE_TOKEN_LEN + 1];
    char user_id[32], email[256], name[256], role[32], lang[16];
    char password[AUTH_PW_MAX + 1], hash[AUTH_PW_HASH_MAX];
    bool invite, found;
    int64_t expires;
} inv_req;

static void inv_free(inv_req *r)
{
    sodium_memzero(r, sizeof(*r));
    free(r);
}

/* ---- issuing: an invitation, a reset ------------------------------------------------ */

static void answer_token(inv_req *r)
{
    char when[40];
    ah_rfc3339_ms(r->expires, when, sizeof(when));
    http_respond_json(r->req, 201,
                      json_pack("{s:s,s:s,s:s,s:s}", "user_id", r->user_id, "token", r->token,
                                "expires_at", when, "use", "POST /api/v1/auth/set-password"));
}

static const char *audit_action(const inv_req *r)
{
    return r->invite ? "auth.invited" : "auth.reset_issued";
}

/* The mail went, or not: the answer without the token. */
static void mailed(void *ud, bool sent, const char *reason)
{
    inv_req *r = ud;
    const principal *who = http_req_user(r->req);
    char when[40];
    ah_rfc3339_ms(r->expires, when, sizeof(when));
    json_t *what = json_pack("{s:s,s:b}", "user_id", r->user_id, "sent", sent);
    if (!sent) json_object_set_new(what, "reason", json_string(reason));
    api_audit_access(r->x->d, r->req, audit_action(r), who, r->email, what);
    json_t *a = json_pack("{s:s,s:s,s:b,s:s}", "user_id", r->user_id, "expires_at", when, "sent",
                          sent, "use", "the link mailed to the user");
    if (!sent) json_object_set_new(a, "reason", json_string(reason));
    http_respond_json(r->req, 201, a);
    inv_free(r);
}

static int run_invite(doc_txn *t, void *ud)
{
    inv_req *r = ud;
    const principal *who = http_req_user(r->req);
    r->expires = doc_txn_now(t) + r->x->invite_ttl_ms;
    int rc = invite_create(t, r->email, r->name[0] ? r->name : NULL, r->role, who->id,
                           r->x->invite_ttl_ms, r->user_id, r->token);
    if (rc == AH_EEXIST) return doc_fail(t, rc, "email", "a user has this e-mail address");
    json_t *u = NULL;
    uint64_t rev = 0;
    if (!rc && r->lang[0] && !(rc = doc_get(t, COLL_USERS, r->user_id, &u, &rev))) {
        json_object_set_new(u, "language", json_string(r->lang));
        rc = doc_put(t, COLL_USERS, u, rev, NULL);
    }
    json_decref(u);
    return rc;
}

static void copy_str(char *out, size_t len, const json_t *o, const char *k)
{
    snprintf(out, len, "%s", json_string_value(json_object_get(o, k)) ?: "");
}

static int run_reset(doc_txn *t, void *ud)
{
    inv_req *r = ud;
    r->expires = doc_txn_now(t) + r->x->reset_ttl_ms;
    int rc = invite_reset(t, r->user_id, r->x->reset_ttl_ms, r->token, &r->invite);
    json_t *u = NULL;
    if (!rc && !(rc = doc_get(t, COLL_USERS, r->user_id, &u, NULL))) {
        copy_str(r->email, sizeof(r->email), u, "email");
        copy_str(r->name, sizeof(r->name), u, "name");
        copy_str(r->role, sizeof(r->role), u, "role");
        copy_str(r->lang, sizeof(r->lang), u, "language");
    }
    json_decref(u);
    return rc;
}

static void issue_done(int status, const doc_error *err, void *ud)
{
    inv_req *r = ud;
    const principal *who = http_req_user(r->req);
    if (status == AH_EEXIST)
        http_respond_error(r->req, 409, "email_taken", "a user has this e-mail address", "email");
    else if (status == AH_ENOTFOUND)
        api_respond_not_found(r->req, "user", r->user_id);
    else if (status == AH_EDENIED)
        http_respond_error(r->req, 409, "user_disabled", "the user is disabled", NULL);
    else if (status == AH_EINVAL)
        api_respond_invalid(r->req, "invalid_invitation", err ? err->message : "invalid");
    else if (status)
        http_respond_error(r->req, 500, "store_error", err ? err->message : "cannot save", NULL);
    else if (r->x->mail) {
        account_mail_msg m = {.invite = r->invite,
                              .user_id = r->user_id,
                              .to = r->email,
                              .name = r->name,
                              .role = r->role,
                              .language = r->lang,
                              .token = r->token,
                              .expires_ms = r->expires};
        account_mail_send(r->x->mail, &m, mailed, r);
        return;
    } else {
        api_audit_access(r->x->d, r->req, audit_action(r), who, r->invite ? r->email : NULL,
                         json_pack("{s:s}", "user_id", r->user_id));
        answer_token(r);
    }
    inv_free(r);
}

static inv_req *req_new(inv_ctx *x, http_req *req)
{
    inv_req *r = calloc(1, sizeof(*r));
    if (!r) http_respond_error(req, 503, "no_memory", "out of memory", NULL);
    if (r) {
        r->x = x;
        r->req = req;
    }
    return r;
}

static void submit(inv_req *r, doc_txn_fn fn, doc_done_fn done)
{
    if (docs_write(r->x->d, fn, r, done) != 0) {
        http_respond_error(r->req, 503, "unavailable", "cannot save now", NULL);
        inv_free(r);
    }
}

/* An address alone: no spaces, controls, quotes or brackets (it goes into
 * a mail's To). */
static bool plain_address(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f || strchr("<>,;:\"()[]\\", *s)) return false;
    return true;
}

/* "en", "ru-RU" (docs/schemas/user.json). */
static bool language_valid(const char *s)
{
    if (!s || (strlen(s) != 2 && strlen(s) != 5)) return false;
    if (s[0] < 'a' || s[0] > 'z' || s[1] < 'a' || s[1] > 'z') return false;
    return !s[2] || (s[2] == '-' && s[3] >= 'A' && s[3] <= 'Z' && s[4] >= 'A' && s[4] <= 'Z');
}

static void h_invite(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    json_t *body;
    if (api_body_json(req, &body, NULL)) return;
    const char *email = json_string_value(json_object_get(body, "email"));
    const char *role = json_string_value(json_object_get(body, "role"));
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *lang = json_string_value(json_object_get(body, "language"));
    inv_req *r = NULL;
    if (!email || strlen(email) > 254 || !strchr(email, '@') || !plain_address(email))
        http_respond_error(req, 422, "invalid_invitation", "email: an e-mail address", "email");
    else if (json_object_get(body, "language") && !language_valid(lang))
        http_respond_error(req, 422, "invalid_invitation",
                           "language: a language tag such as \"en\" or \"ru-RU\"", "language");
    else if (!role || !auth_role_valid(role))
        http_respond_error(req, 422, "invalid_invitation", "role: one of the roles", "role");
    else if (name && strlen(name) > 200)
        http_respond_error(req, 422, "invalid_invitation", "name: at most 200 bytes", "name");
    else if ((r = req_new(ctx, req))) {
        snprintf(r->email, sizeof(r->email), "%s", email);
        snprintf(r->role, sizeof(r->role), "%s", role);
        snprintf(r->name, sizeof(r->name), "%s", name ? name : "");
        snprintf(r->lang, sizeof(r->lang), "%s", lang ? lang : "");
        r->invite = true;
    }
    json_decref(body);
    if (r) submit(r, run_invite, issue_done);
}

static void h_reset_user(void *ctx, http_req *req, const route_params *p)
{
    inv_req *r = req_new(ctx, req);
    if (!r) return;
    snprintf(r->user_id, sizeof(r->user_id), "%s", route_param(p, "id"));
    submit(r, run_reset, issue_done);
}

static void h_reset_self(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    const principal *who = http_req_user(req);
    if (strcmp(who->kind, "user")) {
        http_respond_error(req, 400, "not_a_session", "an API token has no password", NULL);
        return;
    }
    inv_req *r = req_new(ctx, req);
    if (!r) return;
    snprintf(r->user_id, sizeof(r->user_id), "%s", who->id);
    submit(r, run_reset, issue_done);
}

/* ---- using a token -------------------------------------------------------------------- */

static void token_refused(inv_req *r)
{
    throttle_fail(r->x->fails, http_req_client_ip(r->req), ah_mono_ms());
    api_security_log(r->req, LOG_WARN, "token_refused", NULL,
                     "an invitation or reset token unknown, expired, used or malformed");
    api_audit_access(r->x->d, r->req, "auth.token_refused", NULL, NULL, NULL);
    http_respond_error(r->req, 400, "invalid_token",
                       "the link is unknown, expired or used; ask for a new one", "token");
}

static int run_peek(doc_txn *t, void *ud)
{
    inv_req *r = ud;
    r->found = invite_take(t, r->token, false, r->user_id, &r->invite) == 0;
    json_t *u = NULL;
    if (r->found && doc_get(t, COLL_USERS, r->user_id, &u, NULL) == 0) {
        snprintf(r->email, sizeof(r->email), "%s",
                 json_string_value(json_object_get(u, "email")) ?: "");
        snprintf(r->name, sizeof(r->name), "%s",
                 json_string_value(json_object_get(u, "name")) ?: "");
    } else
        r->found = false;
    json_decref(u);
    return 0;
}

static int run_use(doc_txn *t, void *ud)
{
    inv_req *r = ud;
    r->found = false;
    int rc = invite_take(t, r->token, true, r->user_id, &r->invite);
    if (rc) return rc == AH_ENOTFOUND ? 0 : rc;
    r->found = true;
    rc = users_set_password(t, r->user_id, r->hash);
    json_t *u = NULL;
    uint64_t rev = 0;
    if (!rc && r->invite && !(rc = doc_get(t, COLL_USERS, r->user_id, &u, &rev))) {
        json_object_set_new(u, "status", json_string("active"));
        rc = doc_put(t, COLL_USERS, u, rev, NULL);
    }
    json_decref(u);
    return rc;
}

static void use_done(int status, const doc_error *err, void *ud)
{
    inv_req *r = ud;
    if (status)
        http_respond_error(r->req, 500, "store_error", err ? err->message : "cannot save", NULL);
    else if (!r->found)
        token_refused(r);
    else {
        sessions_end_user(r->x->sessions, r->user_id);
        api_security_log(r->req, LOG_INFO, r->invite ? "invitation_accepted" : "password_reset",
                         r->user_id, "a password set with a single-use token; sessions ended");
        api_audit_access(r->x->d, r->req,
                         r->invite ? "auth.invitation_accepted" : "auth.password_reset", NULL,
                         r->email, json_pack("{s:s}", "user_id", r->user_id));
        http_respond(r->req, 204, NULL, "", 0, NULL);
    }
    inv_free(r);
}

static void hash_work(uv_work_t *w)
{
    inv_req *r = w->data;
    if (auth_password_hash(r->password, r->hash)) r->hash[0] = 0;
    sodium_memzero(r->password, sizeof(r->password));
}

static void hash_done(uv_work_t *w, int status)
{
    inv_req *r = w->data;
    if (status || !r->hash[0]) {
        http_respond_error(r->req, 503, "unavailable", "cannot hash the password now", NULL);
        inv_free(r);
        return;
    }
    submit(r, run_use, use_done);
}

static void h_set_password(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    inv_ctx *x = ctx;
    unsigned wait = throttle_wait_s(x->fails, http_req_client_ip(req), ah_mono_ms());
    if (wait) {
        api_security_log(req, LOG_WARN, "token_throttled", NULL, "too many wrong tokens from here");
        api_respond_throttled(req, wait, "too many wrong tokens from this address; retry later");
        return;
    }
    json_t *body;
    if (api_body_json(req, &body, NULL)) return;
    const char *tok = json_string_value(json_object_get(body, "token"));
    const char *pw = json_string_value(json_object_get(body, "password"));
    inv_req *r = NULL;
    if (!tok || strlen(tok) > INVITE_TOKEN_LEN)
        http_respond_error(req, 422, "invalid_set_password_request", "token: a string", "token");
    else if (!pw || strlen(pw) > AUTH_PW_MAX)
        http_respond_error(req, 422, "invalid_set_password_request",
                           "password: a string of at most 128 bytes", "password");
    else if ((r = req_new(x, req))) {
        snprintf(r->token, sizeof(r->token), "%s", tok);
        snprintf(r->password, sizeof(r->password), "%s", pw);
    }
    json_decref(body);
    if (!r) return;
    doc_error e;
    docs_read(x->d, run_peek, r, &e);
    char why[160];
    if (!r->found) {
        token_refused(r);
        inv_free(r);
        return;
    }
    if (auth_password_policy(r->password, r->email, r->name[0] ? r->name : NULL, why,
                             sizeof(why))) {
        http_respond_error(req, 422, "weak_password", why, "password");
        inv_free(r);
        return;
    }
    r->work.data = r;
    if (uv_queue_work(loop_uv(x->loop), &r->work, hash_work, hash_done) != 0) {
        http_respond_error(req, 503, "unavailable", "cannot hash the password now", NULL);
        inv_free(r);
    }
}

/* clang-format off */
static const route routes[] = {
    {"POST", "/api/v1/invitations", h_invite, "users:manage",
     "Invite someone by e-mail address and role: a single-use link mailed, or a token to hand "
     "over"},
    {"POST", "/api/v1/users/{id}/password-reset", h_reset_user, "users:manage",
     "A single-use password reset link mailed to a user, or a token to hand over"},
    {"POST", "/api/v1/auth/password-reset", h_reset_self, "account:self",
     "A single-use password reset link mailed to me, or a token"},
    {"POST", "/api/v1/auth/set-password", h_set_password, "public",
     "Set a password with an invitation or reset token: every session of the user ends"},
};
/* clang-format on */

int api_invites_routes(api_table *t, const api_deps *deps)
{
    inv_ctx *x = NULL;
    if (deps) {
        x = calloc(1, sizeof(*x));
        if (!x) return AH_ENOMEM;
        const api_opts *o = deps->opts;
        *x = (inv_ctx){.d = deps->docs,
                       .loop = deps->loop,
                       .sessions = deps->sessions,
                       .invite_ttl_ms =
                           (o && o->invite_ttl_s ? o->invite_ttl_s : 7 * 86400) * 1000LL,
                       .reset_ttl_ms = (o && o->reset_ttl_s ? o->reset_ttl_s : 3600) * 1000LL};
        x->fails = throttle_new(1024, TOKEN_FAIL_LIMIT, 60000u);
        bool failed = false;
        if (o) x->mail = account_mail_new(deps->sup, o->mail_instance, o->public_url, &failed);
        int rc = api_table_own(t, x, ctx_free);
        if (rc) return rc;
        if (!x->fails || failed) return AH_ENOMEM;
    }
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), x);
}
