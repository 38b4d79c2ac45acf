/*
 * POST /api/v1/auth/password: a signed-in user changes their own password
 * (the current one, then a new one meeting the policy). The check and the
 * new hash run off the loop thread; the change commits with a new sessions
 * epoch, so every session of the user ends, this one included (sign in
 * again). A wrong current password counts as a failed login.
 */
#include "auth/password.h"
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

typedef struct pw_ctx {
    docs *d;
    ah_loop *loop;
    auth_sessions *sessions;
} pw_ctx;

typedef struct pw_req {
    uv_work_t work;
    pw_ctx *x;
    http_req *req;
    char user_id[32], email[65];
    char current[AUTH_PW_MAX + 1], next[AUTH_PW_MAX + 1];
    char hash[AUTH_PW_HASH_MAX], new_hash[AUTH_PW_HASH_MAX];
    bool ok;
} pw_req;

static void pw_free(pw_req *r)
{
    sodium_memzero(r, sizeof(*r));
    free(r);
}

static int run_cred(doc_txn *t, void *ud)
{
    pw_req *r = ud;
    char cid[32];
    json_t *c = NULL;
    if (users_cred_id(r->user_id, cid) || doc_get(t, COLL_CREDENTIALS, cid, &c, NULL)) return 0;
    snprintf(r->hash, sizeof(r->hash), "%s",
             json_string_value(json_object_get(c, "password_hash")) ?: "");
    json_decref(c);
    return 0;
}

static void pw_work(uv_work_t *w)
{
    pw_req *r = w->data;
    r->ok = auth_password_verify(r->hash[0] ? r->hash : NULL, r->current) &&
            auth_password_hash(r->next, r->new_hash) == 0;
}

static int run_set(doc_txn *t, void *ud)
{
    pw_req *r = ud;
    return users_set_password(t, r->user_id, r->new_hash);
}

static void set_done(int status, const doc_error *err, void *ud)
{
    pw_req *r = ud;
    if (status) {
        http_respond_error(r->req, 500, "store_error", err ? err->message : "cannot save", NULL);
    } else {
        sessions_end_user(r->x->sessions, r->user_id);
        log_ctx lc = {.request_id = http_req_id(r->req)};
        json_t *f = json_pack("{s:s,s:s}", "event", "password_changed", "user", r->user_id);
        log_write("security", LOG_INFO, "auth", &lc, f, "password changed; sessions ended");
        json_decref(f);
        api_audit_access(r->x->d, r->req, "auth.password_changed", http_req_user(r->req), NULL,
                         NULL);
        const char *hs[] = {
            "Set-Cookie: " SESSION_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0", NULL};
        http_respond(r->req, 204, NULL, "", 0, hs);
    }
    pw_free(r);
}

static void pw_done(uv_work_t *w, int status)
{
    pw_req *r = w->data;
    if (status || !r->ok) {
        log_ctx lc = {.request_id = http_req_id(r->req)};
        json_t *f = json_pack("{s:s,s:s,s:s}", "event", "password_change_refused", "user",
                              r->user_id, "client_ip", http_req_client_ip(r->req));
        log_write("security", LOG_WARN, "auth", &lc, f, "password change: wrong current password");
        json_decref(f);
        http_respond_error(r->req, 401, "invalid_credentials", "the current password is wrong",
                           "current_password");
        pw_free(r);
        return;
    }
    if (docs_write(r->x->d, run_set, r, set_done) != 0) {
        http_respond_error(r->req, 503, "unavailable", "cannot save now", NULL);
        pw_free(r);
    }
}

/* The two fields, within bounds, the new one meeting the policy: 0, or
 * answered. */
static int read_fields(http_req *req, json_t *body, pw_req *r)
{
    const char *cur = json_string_value(json_object_get(body, "current_password"));
    const char *nxt = json_string_value(json_object_get(body, "new_password"));
    const char *field = !cur ? "current_password" : !nxt ? "new_password" : NULL;
    if (field || strlen(cur) > AUTH_PW_MAX) {
        http_respond_error(req, 422, "invalid_password_request",
                           "current_password and new_password: strings of at most 128 bytes",
                           field ? field : "current_password");
        return -1;
    }
    char why[160];
    if (auth_password_policy(nxt, r->email, NULL, why, sizeof(why))) {
        http_respond_error(req, 422, "weak_password", why, "new_password");
        return -1;
    }
    snprintf(r->current, sizeof(r->current), "%s", cur);
    snprintf(r->next, sizeof(r->next), "%s", nxt);
    return 0;
}

static void h_password(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    pw_ctx *x = ctx;
    const principal *who = http_req_user(req);
    if (strcmp(who->kind, "user")) {
        http_respond_error(req, 400, "not_a_session", "an API token has no password", NULL);
        return;
    }
    json_t *body;
    if (api_body_json(req, &body, NULL)) return;
    pw_req *r = calloc(1, sizeof(*r));
    if (!r) {
        json_decref(body);
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return;
    }
    r->x = x;
    r->req = req;
    snprintf(r->user_id, sizeof(r->user_id), "%s", who->id);
    snprintf(r->email, sizeof(r->email), "%s", who->name);
    int rc = read_fields(req, body, r);
    json_decref(body);
    if (rc) {
        pw_free(r);
        return;
    }
    doc_error e;
    docs_read(x->d, run_cred, r, &e);
    r->work.data = r;
    if (uv_queue_work(loop_uv(x->loop), &r->work, pw_work, pw_done) != 0) {
        http_respond_error(req, 503, "unavailable", "cannot check the password now", NULL);
        pw_free(r);
    }
}

static const route routes[] = {
    {"POST", "/api/v1/auth/password", h_password, "account:self",
     "Change my password: every session of mine ends"},
};

int api_password_routes(api_table *t, const api_deps *deps)
{
    pw_ctx *x = NULL;
    if (deps) {
        x = calloc(1, sizeof(*x));
        if (!x) return AH_ENOMEM;
        *x = (pw_ctx){.d = deps->docs, .loop = deps->loop, .sessions = deps->sessions};
        int rc = api_table_own(t, x, free);
        if (rc) return rc;
    }
    return api_table_add(t, routes, 1, x);
}
