/*
 * /api/v1/auth/oidc: single sign-on with an OpenID provider, the
 * authorization-code flow with PKCE (OpenID Connect Core 3.1, RFC 7636).
 *
 * GET login keeps a fresh state, nonce and PKCE verifier in memory (single
 * use, OIDC_PENDING_TTL_MS) and sends the browser (302) to the provider's
 * authorization endpoint with the state, the nonce and the S256 challenge.
 * GET callback takes the state back (unknown, used or expired: refused),
 * sends the code and the verifier to the token endpoint (the client
 * authenticated with its secret, the secret host/oidc_client_secret),
 * verifies the ID token (auth/jwt.h: signature with the provider's keys,
 * fetched again once for an unknown kid; iss, aud, azp, exp, iat, nbf,
 * nonce), maps the e-mail and role (auth/oidc.h), provisions or updates
 * the user (bound to the provider's issuer and subject; role changes
 * audited), and answers 303 to oidc.after_login with the session cookie.
 * Every refusal goes to logs/security.log and the audit. Requests to the
 * provider go through the egress broker (oidc_provider.h).
 */
#include "auth/jwt.h"
#include "auth/oidc.h"
#include "auth/sessions.h"
#include "auth/users.h"
#include "core/log.h"
#include "core/util.h"
#include "model/audit.h"
#include "model/collections.h"
#include "store/secrets.h"
#include "api_priv.h"
#include "oidc_provider.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_OWNER "host"
#define SECRET_NAME "oidc_client_secret"
#define CALLBACK_FAIL_LIMIT 20 /* refused callbacks a minute from one address */

typedef struct oidc_flow oidc_flow;

typedef struct oidc_ctx {
    docs *d;
    secrets *sec;
    auth_sessions *sessions;
    bool tls;
    api_oidc_opts o;
    oidc_provider *prov; /* NULL: single sign-on is off */
    oidc_pending *pending;
    throttle *fails;
    oidc_flow *flows; /* waiting on the provider */
} oidc_ctx;

struct oidc_flow {
    oidc_ctx *x; /* NULL once the API stopped: only free it */
    http_req *req;
    oidc_flow *next, **prev;
    oidc_login login;
    char code[512];
    char *id_token;
    json_t *claims;
    bool refetched;
    /* provisioning */
    char email[256], role[32], name[101], sub[256];
    char user_id[32];
    int64_t epoch;
    char fail_field[64], fail_msg[200];
    json_t *changes;
};

static void flow_free(oidc_flow *f)
{
    if (f->prev) {
        *f->prev = f->next;
        if (f->next) f->next->prev = f->prev;
    }
    json_decref(f->claims);
    json_decref(f->changes);
    if (f->id_token) {
        sodium_memzero(f->id_token, strlen(f->id_token));
        free(f->id_token);
    }
    sodium_memzero(f, sizeof(*f));
    free(f);
}

static oidc_flow *flow_new(oidc_ctx *x, http_req *req)
{
    oidc_flow *f = calloc(1, sizeof(*f));
    if (!f) {
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return NULL;
    }
    f->x = x;
    f->req = req;
    f->next = x->flows;
    if (f->next) f->next->prev = &f->next;
    f->prev = &x->flows;
    x->flows = f;
    return f;
}

/* The API stops: the requests waiting are answered now, their flows end
 * when the provider's answers (or drops) come. */
static void before_stop(void *p)
{
    oidc_ctx *x = p;
    for (oidc_flow *f = x->flows, *n; f; f = n) {
        n = f->next;
        http_respond_error(f->req, 503, "stopping", "the host is stopping", NULL);
        f->x = NULL;
        f->req = NULL;
        f->prev = NULL;
        f->next = NULL;
    }
    x->flows = NULL;
}

static void ctx_free(void *p)
{
    oidc_ctx *x = p;
    oidc_provider_release(x->prov);
    oidc_pending_free(x->pending);
    throttle_free(x->fails);
    free(x);
}

/* A refused callback: logged, audited, counted, answered. */
static void refuse(oidc_flow *f, int status, const char *code, const char *msg, const char *email)
{
    http_req *req = f->req;
    char line[400];
    snprintf(line, sizeof(line), "single sign-on refused: %s: %s", code, msg);
    api_security_log(req, LOG_WARN, "sso_failed", email, line);
    api_audit_access(f->x->d, req, "auth.sso_failed", NULL, email,
                     json_pack("{s:s,s:s}", "reason", code, "detail", msg));
    throttle_fail(f->x->fails, http_req_client_ip(req), ah_mono_ms());
    http_respond_error(req, status, code, msg, NULL);
    flow_free(f);
}

/* ---- login ---------------------------------------------------------------------------- */

static void param(char *out, size_t cap, const char *name, const char *value)
{
    size_t o = strlen(out);
    snprintf(out + o, cap - o, "%s%s=", out[o - 1] == '?' ? "" : "&", name);
    ah_pct_append(out, cap, value);
}

static void login_discovered(void *ud, const json_t *doc, const char *err)
{
    oidc_flow *f = ud;
    if (!f->x) return flow_free(f);
    const char *ep = json_string_value(json_object_get(doc, "authorization_endpoint"));
    if (!doc || !ep) {
        refuse(f, 502, "oidc_provider_error",
               err ? err : "discovery named no authorization_endpoint", NULL);
        return;
    }
    oidc_ctx *x = f->x;
    oidc_login l;
    oidc_pending_start(x->pending, ah_mono_ms(), &l);
    char loc[4096];
    snprintf(loc, sizeof(loc), "Location: %s%s", ep, strchr(ep, '?') ? "&" : "?");
    param(loc, sizeof(loc), "response_type", "code");
    param(loc, sizeof(loc), "client_id", x->o.client_id);
    param(loc, sizeof(loc), "redirect_uri", x->o.redirect_uri);
    param(loc, sizeof(loc), "scope", x->o.scopes ? x->o.scopes : "openid email profile");
    param(loc, sizeof(loc), "state", l.state);
    param(loc, sizeof(loc), "nonce", l.nonce);
    param(loc, sizeof(loc), "code_challenge", l.challenge);
    param(loc, sizeof(loc), "code_challenge_method", "S256");
    sodium_memzero(&l, sizeof(l));
    const char *hs[] = {loc, "Cache-Control: no-store", NULL};
    http_respond(f->req, 302, NULL, "", 0, hs);
    flow_free(f);
}

static bool sso_off(oidc_ctx *x, http_req *req)
{
    if (x->prov) return false;
    http_respond_error(req, 404, "oidc_off", "single sign-on is not configured (oidc.issuer)",
                       NULL);
    return true;
}

static void h_login(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    oidc_ctx *x = ctx;
    if (sso_off(x, req)) return;
    oidc_flow *f = flow_new(x, req);
    if (f) oidc_provider_discover(x->prov, http_req_id(req), login_discovered, f);
}

/* ---- callback: the user ------------------------------------------------------------------ */

static const audit_actor SSO_ACTOR = {"host", "oidc", "single sign-on", NULL};

static int fail(oidc_flow *f, doc_txn *t, int code, const char *field, const char *msg)
{
    snprintf(f->fail_field, sizeof(f->fail_field), "%s", field);
    snprintf(f->fail_msg, sizeof(f->fail_msg), "%s", msg);
    return doc_fail(t, code, field, "%s", msg);
}

/* Bind, or check the binding of, a credential to the provider's subject. */
static int bind_subject(oidc_flow *f, doc_txn *t, json_t *c, uint64_t crev, bool created)
{
    const char *iss = json_string_value(json_object_get(c, "oidc_issuer"));
    const char *sub = json_string_value(json_object_get(c, "oidc_subject"));
    if (iss && sub) {
        if (strcmp(iss, f->x->o.issuer) || strcmp(sub, f->sub))
            return fail(f, t, AH_EEXIST, "sub",
                        "this e-mail's account is bound to another identity at the provider");
        return 0;
    }
    if (!created && !f->x->o.link_existing)
        return fail(f, t, AH_EEXIST, "email",
                    "an account with this e-mail exists and is not linked to single sign-on "
                    "(oidc.link_existing)");
    json_object_set_new(c, "oidc_issuer", json_string(f->x->o.issuer));
    json_object_set_new(c, "oidc_subject", json_string(f->sub));
    if (!created) json_object_set_new(f->changes, "linked", json_true());
    return doc_put(t, COLL_CREDENTIALS, c, crev, NULL);
}

static int run_provision(doc_txn *t, void *ud)
{
    oidc_flow *f = ud;
    char id[64], cid[32];
    json_t *key = json_pack("[s]", f->email);
    int rc = doc_find(t, COLL_USERS, "by_email", key, id, sizeof(id));
    json_decref(key);
    bool created = rc == AH_ENOTFOUND;
    if (created) {
        rc = users_create(t, f->email, f->name[0] ? f->name : NULL, f->role, NULL, "oidc", id);
        if (!rc) json_object_set_new(f->changes, "created", json_true());
    }
    if (rc) return rc;
    json_t *u = NULL, *c = NULL;
    uint64_t urev = 0, crev = 0;
    if ((rc = doc_get(t, COLL_USERS, id, &u, &urev)) || users_cred_id(id, cid) ||
        (rc = doc_get(t, COLL_CREDENTIALS, cid, &c, &crev)))
        goto out;
    const char *status = json_string_value(json_object_get(u, "status"));
    if (status && !strcmp(status, "disabled")) {
        rc = fail(f, t, AH_EDENIED, "status", "the user is disabled");
        goto out;
    }
    if ((rc = bind_subject(f, t, c, crev, created))) goto out;
    json_t *before = json_deep_copy(u);
    json_object_set_new(u, "status", json_string("active"));
    json_object_set_new(u, "sso", json_true());
    json_object_set_new(u, "role", json_string(f->role));
    if (!json_equal(before, u)) {
        char when[40];
        ah_rfc3339_ms(doc_txn_now(t), when, sizeof(when));
        json_object_set_new(u, "updated_at", json_string(when));
        json_object_set_new(u, "updated_by", json_string("oidc"));
        rc = doc_put(t, COLL_USERS, u, urev, NULL);
        if (!rc)
            rc = audit_record(t, &SSO_ACTOR, http_req_id(f->req),
                              created ? "user.create" : "user.update", COLL_USERS, id,
                              created ? NULL : before, u);
        const char *was = json_string_value(json_object_get(before, "role"));
        if (!created && was && strcmp(was, f->role))
            json_object_set_new(f->changes, "role",
                                json_pack("{s:s,s:s}", "from", was, "to", f->role));
    }
    json_decref(before);
    snprintf(f->user_id, sizeof(f->user_id), "%s", id);
    f->epoch = json_integer_value(json_object_get(c, "sessions_epoch"));
out:
    json_decref(u);
    json_decref(c);
    return rc;
}

static void provisioned(int status, const doc_error *err, void *ud)
{
    oidc_flow *f = ud;
    if (!f->x) return flow_free(f);
    if (status == AH_EEXIST) {
        refuse(f, 409, "oidc_account_not_linked", f->fail_msg, f->email);
    } else if (status == AH_EDENIED) {
        refuse(f, 403, "user_disabled", f->fail_msg, f->email);
    } else if (status) {
        refuse(f, 503, "store_error", err ? err->message : "cannot save the user", f->email);
    } else {
        api_sso_session(f->x->sessions, f->x->d, f->req, f->x->tls, f->user_id, f->email, f->epoch,
                        f->x->o.after_login ? f->x->o.after_login : "/admin/",
                        json_incref(f->changes));
        flow_free(f);
    }
}

static void user_from_claims(oidc_flow *f)
{
    oidc_ctx *x = f->x;
    oidc_mapping m = {x->o.role_claim, x->o.role_map, x->o.default_role, x->o.email_domains,
                      x->o.require_email_verified};
    char err[256];
    const char *email = json_string_value(json_object_get(f->claims, "email"));
    if (oidc_map_user(f->claims, &m, f->email, sizeof(f->email), f->role, sizeof(f->role), err,
                      sizeof(err))) {
        refuse(f, 403, "oidc_user_refused", err, email);
        return;
    }
    snprintf(f->sub, sizeof(f->sub), "%s", json_string_value(json_object_get(f->claims, "sub")));
    const char *name = json_string_value(json_object_get(f->claims, "name"));
    if (name && *name && strlen(name) <= 100) snprintf(f->name, sizeof(f->name), "%s", name);
    f->changes = json_object();
    if (docs_write(x->d, run_provision, f, provisioned) != 0)
        refuse(f, 503, "unavailable", "cannot save the user now", f->email);
}

/* ---- callback: the token ------------------------------------------------------------------ */

static void keys_ready(void *ud, const jwk_set *keys, const char *err);

static void verify(oidc_flow *f, const jwk_set *keys)
{
    oidc_ctx *x = f->x;
    jwt_expect ex = {x->o.issuer, x->o.client_id, f->login.nonce, ah_now_ms() / 1000,
                     x->o.clock_skew_s};
    char why[300];
    jwt_status st = jwt_verify(f->id_token, keys, &ex, &f->claims, why, sizeof(why));
    if (st == JWT_UNKNOWN_KID && !f->refetched) {
        f->refetched = true;
        oidc_provider_keys(x->prov, true, http_req_id(f->req), keys_ready, f);
        return;
    }
    if (st) {
        char msg[400];
        snprintf(msg, sizeof(msg), "the ID token was refused (%s): %s", jwt_status_name(st), why);
        refuse(f, 401, "oidc_token_invalid", msg, NULL);
        return;
    }
    user_from_claims(f);
}

static void keys_ready(void *ud, const jwk_set *keys, const char *err)
{
    oidc_flow *f = ud;
    if (!f->x) return flow_free(f);
    if (!keys) {
        refuse(f, 502, "oidc_provider_error", err, NULL);
        return;
    }
    verify(f, keys);
}

static void token_answered(void *ud, const json_t *doc, const char *err)
{
    oidc_flow *f = ud;
    if (!f->x) return flow_free(f);
    const char *idt = json_string_value(json_object_get(doc, "id_token"));
    if (!doc) {
        refuse(f, 502, "oidc_provider_error", err, NULL);
        return;
    }
    if (!idt || strlen(idt) > JWT_MAX_BYTES || !(f->id_token = strdup(idt))) {
        refuse(f, 502, "oidc_provider_error", "the token endpoint gave no usable id_token", NULL);
        return;
    }
    oidc_provider_keys(f->x->prov, false, http_req_id(f->req), keys_ready, f);
}

static void callback_discovered(void *ud, const json_t *doc, const char *err)
{
    oidc_flow *f = ud;
    if (!f->x) return flow_free(f);
    if (!doc) {
        refuse(f, 502, "oidc_provider_error", err, NULL);
        return;
    }
    char *secret = NULL;
    size_t slen = 0;
    if (!f->x->sec || secrets_get(f->x->sec, SECRET_OWNER, SECRET_NAME, &secret, &slen) != 0) {
        refuse(f, 503, "oidc_not_configured",
               "the client secret is not set: agenthost secret set " SECRET_OWNER " " SECRET_NAME,
               NULL);
        return;
    }
    char code[sizeof(f->code)];
    snprintf(code, sizeof(code), "%s", f->code);
    sodium_memzero(f->code, sizeof(f->code));
    oidc_provider_token(f->x->prov, code, f->login.verifier, secret, http_req_id(f->req),
                        token_answered, f);
    secrets_free_value(secret, slen);
}

static void h_callback(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    oidc_ctx *x = ctx;
    if (sso_off(x, req)) return;
    unsigned wait = throttle_wait_s(x->fails, http_req_client_ip(req), ah_mono_ms());
    if (wait) {
        api_security_log(req, LOG_WARN, "sso_throttled", NULL,
                         "single sign-on refused: too many failed callbacks from here");
        api_respond_throttled(req, wait, "too many failed sign-ins from this address; retry later");
        return;
    }
    oidc_flow *f = flow_new(x, req);
    if (!f) return;
    const char *error = http_req_query(req, "error");
    const char *state = http_req_query(req, "state");
    const char *code = http_req_query(req, "code");
    if (error) {
        char msg[200];
        snprintf(msg, sizeof(msg), "the provider refused the sign-in: %.64s", error);
        if (state) oidc_pending_take(x->pending, state, ah_mono_ms(), &f->login);
        refuse(f, 401, "oidc_denied", msg, NULL);
        return;
    }
    if (!state || !oidc_pending_take(x->pending, state, ah_mono_ms(), &f->login)) {
        refuse(f, 400, "oidc_state_invalid",
               "state: unknown, already used or expired; start again at /api/v1/auth/oidc/login",
               NULL);
        return;
    }
    if (!code || !*code || strlen(code) >= sizeof(f->code)) {
        refuse(f, 400, "oidc_code_invalid", "code: missing or longer than 511 bytes", NULL);
        return;
    }
    snprintf(f->code, sizeof(f->code), "%s", code);
    oidc_provider_discover(x->prov, http_req_id(req), callback_discovered, f);
}

/* clang-format off */
static const route routes[] = {
    {"GET", "/api/v1/auth/oidc/login", h_login, "public",
     "Single sign-on: a redirect to the OpenID provider (authorization code with PKCE)"},
    {"GET", "/api/v1/auth/oidc/callback", h_callback, "public",
     "Single sign-on: the provider's redirect back; a session cookie and a redirect to the admin"},
};
/* clang-format on */

int api_oidc_routes(api_table *t, const api_deps *deps)
{
    oidc_ctx *x = NULL;
    if (deps) {
        x = calloc(1, sizeof(*x));
        if (!x) return AH_ENOMEM;
        x->d = deps->docs;
        x->sec = deps->sec;
        x->sessions = deps->sessions;
        x->tls = deps->tls;
        if (deps->opts) x->o = deps->opts->oidc;
        x->pending = oidc_pending_new();
        x->fails = throttle_new(1024, CALLBACK_FAIL_LIMIT, 60000u);
        int rc = api_table_own(t, x, ctx_free);
        if (!rc) rc = api_table_before_stop(t, x, before_stop);
        if (rc) return rc;
        if (!x->pending || !x->fails) return AH_ENOMEM;
        /* The options were checked at start (oidc_opts_check). */
        char err[300];
        if (x->o.issuer && *x->o.issuer && deps->egress &&
            oidc_provider_new(&x->prov, deps->egress, &x->o, err, sizeof(err)))
            return AH_ENOMEM;
    }
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), x);
}
