#include "api_priv.h"
#include "account_mail.h"
#include "oidc_provider.h"
#include "sdk/ipc/b64.h"
#include "api_webchat.h"

#include <agenthost/plugin.h>

#include "auth/perm.h"
#include "auth/roles.h"
#include "auth/sessions.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUTH_FAIL_SLOTS 256
#define AUTH_FAIL_LIMIT 20
#define AUTH_FAIL_WINDOW_MS 60000u

/* The route families, in the order their routes are matched. */
/* clang-format off: one family a line */
static const api_family_fn families[] = {
    api_system_routes,        api_instances_routes, api_bots_routes,
    api_broadcasts_routes,    api_bus_routes,       api_hooks_routes,
    api_agents_routes,        api_scenarios_routes, api_contacts_routes,
    api_conversations_routes, api_audit_routes,     api_integrations_routes,
    api_engine_routes,        api_simulate_routes,  api_triggers_routes,
    api_trigger_hooks_routes, api_versions_routes,  api_texts_routes,
    api_experiments_routes,   api_replay_routes,    api_events_routes,
    api_webhooks_routes,      api_widgets_routes,   api_webchat_routes,
    webchat_pages_routes,     api_users_routes,     api_auth_routes,
    api_password_routes,      api_templates_routes, api_migrate_routes,
    api_2fa_routes,           api_invites_routes,   api_oidc_routes,
    api_roles_routes,
};
/* clang-format on */

/* ---- the table of routes ------------------------------------------------------- */

typedef struct owned {
    void *ctx;
    void (*fn)(void *ctx);
} owned;

struct api_table {
    route *routes;
    void **ctx;
    int *perm; /* each route's permission (auth_perm), or -1: public */
    size_t n, cap;
    const route *bad; /* the first route that declares no known permission */
    owned *own;
    size_t nown;
    owned *stopping; /* api_table_before_stop's */
    size_t nstopping;
};

struct api {
    store *st; /* tokens */
    http_server *srv;
    api_table table;
    throttle *auth_fails; /* by client address */
    api_block *block;     /* NULL: no automatic blocking */
    unsigned auth_fail_limit;
    bool skip_perm_check;
    auth_sessions *sessions;
    docs *docs;
};

int api_table_add(api_table *t, const route *routes, size_t n, void *ctx)
{
    if (t->n + n > t->cap) {
        size_t cap = t->cap ? t->cap : 32;
        while (cap < t->n + n)
            cap *= 2;
        route *nr = realloc(t->routes, cap * sizeof(*nr));
        if (!nr) return AH_ENOMEM;
        t->routes = nr;
        void **nc = realloc(t->ctx, cap * sizeof(*nc));
        if (!nc) return AH_ENOMEM;
        t->ctx = nc;
        int *np = realloc(t->perm, cap * sizeof(*np));
        if (!np) return AH_ENOMEM;
        t->perm = np;
        t->cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        int perm = routes[i].perm && !strcmp(routes[i].perm, AUTH_PUBLIC)
                       ? -1
                       : auth_perm_parse(routes[i].perm);
        if (perm == -1 && !(routes[i].perm && !strcmp(routes[i].perm, AUTH_PUBLIC))) {
            t->bad = &routes[i];
            return AH_EINVAL;
        }
        t->routes[t->n] = routes[i];
        t->perm[t->n] = perm;
        t->ctx[t->n++] = ctx;
    }
    return 0;
}

int api_table_own(api_table *t, void *ctx, void (*fn)(void *ctx))
{
    owned *no = realloc(t->own, (t->nown + 1) * sizeof(*no));
    if (!no) {
        fn(ctx);
        return AH_ENOMEM;
    }
    t->own = no;
    t->own[t->nown++] = (owned){ctx, fn};
    return 0;
}

int api_table_before_stop(api_table *t, void *ctx, void (*fn)(void *ctx))
{
    owned *no = realloc(t->stopping, (t->nstopping + 1) * sizeof(*no));
    if (!no) return AH_ENOMEM;
    t->stopping = no;
    t->stopping[t->nstopping++] = (owned){ctx, fn};
    return 0;
}

static void table_free(api_table *t)
{
    for (size_t i = t->nown; i-- > 0;)
        t->own[i].fn(t->own[i].ctx);
    free(t->own);
    free(t->stopping);
    free(t->routes);
    free(t->ctx);
    free(t->perm);
    memset(t, 0, sizeof(*t));
}

/* 0, or an AH_E* code with err saying why (a route without a known
 * permission names itself). */
static int table_build(api_table *t, const api_deps *deps, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        int rc = families[i](t, deps);
        if (rc == AH_EINVAL && t->bad)
            snprintf(err, errlen,
                     "the route %s %s declares the permission \"%s\", which host/auth/perm.h "
                     "does not list (name one, or \"public\")",
                     t->bad->method, t->bad->pattern, t->bad->perm ? t->bad->perm : "(none)");
        else if (rc)
            snprintf(err, errlen, "cannot build the routes: %s", ah_strerror(rc));
        if (rc) {
            table_free(t);
            return rc;
        }
    }
    return 0;
}

const route *api_routes(size_t *n, char *err, size_t errlen)
{
    /* Built once and kept: route summaries live in the families' memory. */
    static api_table listed;
    static bool built;
    *n = 0;
    if (!built && table_build(&listed, NULL, err, errlen) != 0) return NULL;
    built = true;
    *n = listed.n;
    return listed.routes;
}

/* ---- failed-authentication throttle (per client address) ---------------- */

static void note_failure(api *x, http_req *req, const char *why)
{
    throttle_fail(x->auth_fails, http_req_client_ip(req), ah_mono_ms());
    api_block_note(x->block, req);
    log_ctx lc = {.request_id = http_req_id(req)};
    json_t *f = json_pack("{s:s,s:s,s:s}", "event", "auth_failed", "client_ip",
                          http_req_client_ip(req), "path", http_req_path(req));
    log_write("security", LOG_WARN, "api", &lc, f, "authentication failed: %s", why);
    json_decref(f);
}

void api_respond_throttled(http_req *req, unsigned wait_s, const char *message)
{
    char ra[40];
    snprintf(ra, sizeof(ra), "Retry-After: %u", wait_s);
    const char *h[] = {ra, NULL};
    http_respond_error_h(req, 429, "too_many_requests", message, NULL, h);
}

/* ---- helpers for handlers ------------------------------------------------- */

bool api_is_media_type(const char *ct, const char *type)
{
    if (!ct) return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strlen(type);
    if (strncasecmp(ct, type, n) != 0) return false;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == 0 || *ct == ';'; /* parameters ("; charset=utf-8") are fine */
}

bool api_is_json_type(const char *ct)
{
    return api_is_media_type(ct, "application/json");
}

int api_body_json(http_req *req, json_t **out, json_t *empty)
{
    size_t len;
    const char *body = http_req_body(req, &len);
    *out = NULL;
    if (len == 0) {
        if (empty) {
            *out = empty;
            return 0;
        }
        http_respond_error(req, 400, "empty_body", "a JSON body is required", NULL);
        return -1;
    }
    if (empty) json_decref(empty);
    const char *ct = http_req_header(req, "Content-Type");
    if (!api_is_json_type(ct)) {
        char msg[160];
        if (ct)
            snprintf(msg, sizeof(msg), "send the body as application/json, not \"%.60s\"", ct);
        else
            snprintf(msg, sizeof(msg),
                     "send the body as application/json (Content-Type is missing)");
        http_respond_error(req, 415, "unsupported_media_type", msg, NULL);
        return -1;
    }
    json_error_t je;
    *out = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!*out) {
        char msg[300];
        snprintf(msg, sizeof(msg), "malformed JSON at line %d, column %d: %s", je.line, je.column,
                 je.text);
        http_respond_error(req, 400, "malformed_json", msg, NULL);
        return -1;
    }
    return 0;
}

/* The header name in lower case (as http_req_headers_json keys them). */
static void lower_name(const char *name, char *out, size_t len)
{
    size_t i = 0;
    for (; name[i] && i < len - 1; i++)
        out[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    out[i] = 0;
}

json_t *api_request_json(http_req *req, const char *path, const char *credential_header)
{
    size_t len;
    const char *raw = http_req_body(req, &len);
    json_t *headers = http_req_headers_json(req);
    if (!headers) return NULL;
    /* Credentials stay out of what is stored. */
    if (credential_header) {
        char low[80];
        lower_name(credential_header, low, sizeof(low));
        json_object_del(headers, low);
    }
    json_object_del(headers, "authorization");
    json_object_del(headers, "cookie");
    json_t *ev = json_pack("{s:s,s:s,s:o,s:o}", "method", http_req_method(req), "path",
                           path ? path : "", "query", http_req_query_json(req), "headers", headers);
    if (!ev) return NULL;
    const char *ct = http_req_header(req, "Content-Type");
    json_t *parsed =
        len && api_is_json_type(ct) ? json_loadb(raw, len, JSON_DECODE_ANY, NULL) : NULL;
    if (parsed) {
        json_object_set_new(ev, "body", parsed);
    } else if (len && ah_utf8_valid(raw, len)) {
        json_object_set_new(ev, "body", json_stringn(raw, len));
    } else if (len) {
        char *b64 = ah_b64_encode(raw, len);
        json_object_set_new(ev, "body_b64", json_string(b64 ? b64 : ""));
        free(b64);
    } else {
        json_object_set_new(ev, "body", json_null());
    }
    return ev;
}

void api_respond_invalid(http_req *req, const char *code, const char *verr)
{
    /* "path: message" -> field "path" */
    const char *sep = strstr(verr, ": ");
    char field[256] = "";
    if (sep && (size_t)(sep - verr) < sizeof(field)) {
        memcpy(field, verr, (size_t)(sep - verr));
        field[sep - verr] = 0;
    }
    http_respond_error(req, 422, code, verr, field[0] && strcmp(field, "(root)") ? field : NULL);
}

void api_respond_not_found(http_req *req, const char *what, const char *id)
{
    char msg[200];
    snprintf(msg, sizeof(msg), "no %s \"%.64s\"", what, id ? id : "");
    http_respond_error(req, 404, "not_found", msg, NULL);
}

/* ---- dispatch ---------------------------------------------------------------- */

/* 403 naming the missing permission; logged to security.log. */
static void deny(api *x, http_req *req, const principal *who, auth_perm perm)
{
    char msg[200];
    if (!strcmp(who->kind, "user"))
        snprintf(msg, sizeof(msg),
                 "this needs the permission %s, which neither the role %s nor the user's teams "
                 "give",
                 auth_perm_name(perm), who->role);
    else
        snprintf(msg, sizeof(msg), "this needs the permission %s, which the role %s does not have",
                 auth_perm_name(perm), who->role);
    log_ctx lc = {.request_id = http_req_id(req)};
    json_t *f = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "event", "permission_denied",
                          "actor", who->name, "actor_token", who->id, "role", who->role,
                          "permission", auth_perm_name(perm), "method", http_req_method(req),
                          "path", http_req_path(req), "client_ip", http_req_client_ip(req));
    log_write("security", LOG_WARN, "api", &lc, f, "permission denied: %s", msg);
    json_decref(f);
    api_audit_access(x->docs, req, "auth.denied", who, NULL,
                     json_pack("{s:s,s:s,s:s}", "permission", auth_perm_name(perm), "method",
                               http_req_method(req), "path", http_req_path(req)));
    http_respond_json(req, 403,
                      json_pack("{s:{s:s,s:s,s:s}}", "error", "code", "forbidden", "message", msg,
                                "permission", auth_perm_name(perm)));
}

/* Each name in roles (comma-separated) a role: 0, or -1 with err. */
static int require_2fa(auth_sessions *s, const char *roles, char *err, size_t errlen)
{
    for (const char *p = roles; *p;) {
        p += strspn(p, ", ");
        size_t n = strcspn(p, ", ");
        if (!n) break;
        char name[40];
        snprintf(name, sizeof(name), "%.*s", (int)(n < 39 ? n : 39), p);
        if (!auth_role_valid(name)) {
            snprintf(err, errlen, "auth.require_2fa_roles: no role \"%s\" (%s)", name,
                     auth_role_names());
            return -1;
        }
        p += n;
    }
    sessions_require_2fa(s, roles);
    return 0;
}

typedef struct resolve_arg {
    principal *who;
} resolve_arg;

static int run_resolve(doc_txn *t, void *ud)
{
    principal *who = ((resolve_arg *)ud)->who;
    return roles_effective(t, NULL, who->role, NULL, who);
}

/* A token's permissions: its role's (a custom role read from the store). */
static int resolve_token(api *x, principal *who)
{
    auth_perms p;
    if (auth_role_perms(who->role, &p)) {
        who->perms = p;
        return 0;
    }
    resolve_arg a = {who};
    doc_error e;
    return x->docs ? docs_read(x->docs, run_resolve, &a, &e) : 0;
}

static bool authorize(api *x, http_req *req, principal *who, int perm, const route *rt,
                      const route_params *params)
{
    who->need = perm;
    if (x->skip_perm_check) return true; /* the benchmark's baseline only */
    if (!(who->perms >> perm & 1)) {
        int s = api_scope_route(x->docs, req, rt->method, rt->pattern, params, who, perm);
        if (s > 0) return true;
        if (s < 0) return false;
        deny(x, req, who, (auth_perm)perm);
        return false;
    }
    return true;
}

/* Before any handler: who is asking (a bearer token), and whether their
 * role holds the route's permission (perm -1: public). */
static bool authenticate(api *x, http_req *req, int perm, const route *rt,
                         const route_params *params)
{
    if (perm < 0) return true;
    unsigned wait_s = throttle_wait_s(x->auth_fails, http_req_client_ip(req), ah_mono_ms());
    if (wait_s) {
        api_respond_throttled(req, wait_s, "too many failed authentication attempts; retry later");
        return false;
    }
    const char *auth = http_req_header(req, "Authorization");
    principal *who = calloc(1, sizeof(*who));
    if (!who) {
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return false;
    }
    int s = auth ? 0 : api_session_principal(x->sessions, x->docs, req, who);
    if (s < 0) {
        free(who);
        throttle_fail(x->auth_fails, http_req_client_ip(req), ah_mono_ms());
        api_block_note(x->block, req);
        return false;
    }
    if (s > 0) {
        http_req_set_user(req, who); /* freed with the request */
        return authorize(x, req, who, perm, rt, params);
    }
    if (!auth) {
        free(who);
        note_failure(x, req, "no token");
        http_respond_error(req, 401, "unauthorized",
                           "send an API token: Authorization: Bearer <token>", NULL);
        return false;
    }
    if (strncasecmp(auth, "Bearer ", 7) != 0) {
        free(who);
        note_failure(x, req, "not a bearer token");
        http_respond_error(req, 401, "unauthorized", "use Authorization: Bearer <token>", NULL);
        return false;
    }
    if (tokens_verify(x->st, auth + 7, who) != 0) {
        free(who);
        note_failure(x, req, "unknown or revoked token");
        http_respond_error(req, 401, "unauthorized", "unknown or revoked token", NULL);
        return false;
    }
    if (resolve_token(x, who)) {
        free(who);
        http_respond_error(req, 503, "store_unavailable", "cannot read the roles", NULL);
        return false;
    }
    http_req_set_user(req, who); /* freed with the request */
    return authorize(x, req, who, perm, rt, params);
}

static void on_request(void *ud, http_req *req)
{
    api *x = ud;
    const route *rt;
    route_params params;
    char allow[64];
    if (api_block_refuse(x->block, req)) return;
    router_result rr = router_match(x->table.routes, x->table.n, http_req_method(req),
                                    http_req_path(req), &rt, &params, allow, sizeof(allow));
    if (rr == ROUTER_BAD_PATH) {
        http_req_set_route(req, "(invalid)");
        http_respond_error(req, 400, "invalid_path", "the path is not valid", NULL);
        return;
    }
    if (rr == ROUTER_NOT_FOUND) {
        http_req_set_route(req, "(unmatched)");
        http_respond_error(req, 404, "not_found", "no such resource", NULL);
        return;
    }
    if (rr == ROUTER_BAD_METHOD) {
        http_req_set_route(req, "(unmatched)");
        char h[96], msg[96];
        snprintf(h, sizeof(h), "Allow: %s", allow);
        snprintf(msg, sizeof(msg), "this resource allows %s", allow);
        const char *hs[] = {h, NULL};
        http_respond_error_h(req, 405, "method_not_allowed", msg, NULL, hs);
        return;
    }
    http_req_set_route(req, rt->pattern);
    size_t i = (size_t)(rt - x->table.routes);
    if (!authenticate(x, req, x->table.perm[i], rt, &params)) return;
    rt->fn(x->table.ctx[i], req, &params);
}

/* Who changed what: one audit line per state-changing request. */
static void audit(http_req *req, const char *route_name, int status)
{
    const char *m = http_req_method(req);
    /* Webhooks and the web chat's visitors change no configuration. */
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "OPTIONS") ||
        !strncmp(route_name, "/hooks/", 7) || !strncmp(route_name, "/chat/", 6) ||
        route_name[0] == '(')
        return;
    const principal *who = http_req_user(req);
    log_ctx lc = {.request_id = http_req_id(req)};
    json_t *f = json_pack("{s:s,s:s,s:s,s:s,s:i,s:s}", "actor", who ? who->name : "(none)",
                          "actor_token", who ? who->id : "", "action", m, "route", route_name,
                          "status", status, "path", http_req_path(req));
    log_write("audit", LOG_INFO, "api", &lc, f, "%s %s %s -> %d", who ? who->name : "(anonymous)",
              m, http_req_path(req), status);
    json_decref(f);
}

static void on_done(void *ud, http_req *req)
{
    (void)ud;
    double secs = (double)(ah_mono_ns() - http_req_start_ns(req)) / 1e9;
    const char *rname = http_req_route(req) ? http_req_route(req) : "(none)";
    int status = http_req_answered(req) ? http_req_status(req) : 499;
    char st[8], labels[512];
    snprintf(st, sizeof(st), "%d", status);
    metrics_counter_add("agenthost_http_requests_total",
                        metrics_labels(labels, sizeof(labels), "method", http_req_method(req),
                                       "route", rname, "status", st, NULL),
                        1);
    metrics_observe("agenthost_http_request_duration_seconds",
                    metrics_labels(labels, sizeof(labels), "method", http_req_method(req), "route",
                                   rname, "status", st, NULL),
                    secs);
    log_ctx lc = {.request_id = http_req_id(req)};
    json_t *f = json_pack("{s:s,s:s,s:s,s:i,s:I,s:f,s:s}", "method", http_req_method(req), "route",
                          rname, "path", http_req_path(req), "status", status, "bytes",
                          (json_int_t)http_req_response_bytes(req), "latency_ms", secs * 1000.0,
                          "client_ip", http_req_client_ip(req));
    log_write("api", LOG_INFO, "http", &lc, f, "%s %s %d", http_req_method(req), rname, status);
    json_decref(f);
    audit(req, rname, status);
}

static void api_free(api *x)
{
    table_free(&x->table);
    throttle_free(x->auth_fails);
    api_block_free(x->block);
    sessions_free(x->sessions);
    free(x);
}

int api_start(api **out, ah_loop *loop, const http_opts *ho, const api_opts *ao,
              const api_deps *deps, char *err, size_t errlen)
{
    api *x = calloc(1, sizeof(*x));
    if (!x) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    x->st = deps->st;
    x->auth_fail_limit = ao && ao->auth_fail_limit ? ao->auth_fail_limit : AUTH_FAIL_LIMIT;
    x->skip_perm_check = ao && ao->skip_perm_check;
    x->auth_fails = throttle_new(AUTH_FAIL_SLOTS, x->auth_fail_limit, AUTH_FAIL_WINDOW_MS);
    if (ao && ao->block_after)
        x->block = api_block_new(ao->block_after, ao->block_window_s, ao->block_for_s);
    if (!x->auth_fails || (ao && ao->block_after && !x->block)) {
        snprintf(err, errlen, "out of memory");
        api_free(x);
        return -1;
    }
    x->docs = deps->docs;
    x->sessions = sessions_new(ao && ao->session_idle_s ? ao->session_idle_s : 1800,
                               ao && ao->session_absolute_s ? ao->session_absolute_s : 43200);
    if (!x->sessions) {
        snprintf(err, errlen, "out of memory");
        api_free(x);
        return -1;
    }
    if (ao && ao->require_2fa_roles &&
        require_2fa(x->sessions, ao->require_2fa_roles, err, errlen)) {
        api_free(x);
        return -1;
    }
    if (ao && account_mail_check(ao->mail_instance, ao->public_url, err, errlen)) {
        api_free(x);
        return -1;
    }
    if (ao && oidc_opts_check(&ao->oidc, err, errlen)) {
        api_free(x);
        return -1;
    }
    /* Pending second-factor sign-ins and blocks outlive a restart. */
    api_keep_challenges(x->st, x->sessions);
    api_block_keep(x->block, x->st);
    api_deps with = *deps;
    with.sessions = x->sessions;
    with.tls = ho->tls_cert != NULL;
    deps = &with;
    metrics_describe("agenthost_http_requests_total", METRIC_COUNTER,
                     "HTTP requests by method, route and status");
    metrics_describe("agenthost_http_request_duration_seconds", METRIC_HISTOGRAM,
                     "HTTP request latency by method and route");
    api_deps with_opts = *deps;
    with_opts.opts = ao;
    if (!with_opts.loop) with_opts.loop = loop;
    int rc = table_build(&x->table, &with_opts, err, errlen);
    if (rc) {
        api_free(x);
        return -1;
    }
    if (http_server_start(&x->srv, loop, ho, on_request, on_done, x, err, errlen) < 0) {
        api_free(x);
        return -1;
    }
    *out = x;
    return 0;
}

void api_stop(api *x)
{
    if (!x) return;
    for (size_t i = 0; i < x->table.nstopping; i++)
        x->table.stopping[i].fn(x->table.stopping[i].ctx);
    http_server_stop(x->srv);
    api_free(x);
}

int api_reload_tls(api *x, char *err, size_t errlen)
{
    return http_server_reload_tls(x->srv, err, errlen);
}

int api_port(const api *x)
{
    return http_server_port(x->srv);
}
