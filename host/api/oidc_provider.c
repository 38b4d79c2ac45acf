#include "oidc_provider.h"

#include "broker/broker.h"
#include "core/log.h"
#include "auth/perm.h"
#include "core/util.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define URL_MAX 1024

struct oidc_provider {
    broker *b;
    char issuer[URL_MAX];
    char client_id[256];
    bool allow_private, insecure_http;
    char ca_file[512];
    int64_t cache_ms, refetch_ms;
    egress_client client;
    egress_policy pol;
    bool has_pol;
    egress_policy *retired; /* replaced (endpoints moved): a running request may read them */
    size_t nretired;
    char origins[3 * URL_MAX]; /* the endpoints the policy was built from */
    char redirect_uri[URL_MAX];
    json_t *doc; /* the discovery document */
    int64_t doc_at_ms;
    jwk_set *keys;
    int64_t keys_at_ms;
    int64_t refetch_at_ms; /* the last fetch for an unknown kid; -1: none yet */
    int refs;              /* the owner and every request running */
    bool released;
};

typedef enum fetch_kind { FETCH_DISCOVERY, FETCH_KEYS, FETCH_TOKEN } fetch_kind;

typedef struct fetch {
    oidc_provider *p;
    fetch_kind kind;
    oidc_doc_fn doc_done;
    oidc_keys_fn keys_done;
    void *ud;
} fetch;

static void unref(oidc_provider *p)
{
    if (--p->refs > 0) return;
    if (p->has_pol) policy_free(&p->pol);
    for (size_t i = 0; i < p->nretired; i++)
        policy_free(&p->retired[i]);
    free(p->retired);
    json_decref(p->doc);
    jwks_free(p->keys);
    free(p);
}

void oidc_provider_release(oidc_provider *p)
{
    if (!p) return;
    p->released = true;
    unref(p);
}

/* An egress entry for a URL's origin into arr. 0, or -1 with err. */
static int add_origin(const oidc_provider *p, json_t *arr, const char *what, const char *url,
                      char *err, size_t errlen)
{
    egress_target t;
    char why[200];
    if (!url || policy_parse_url(url, &t, why, sizeof(why))) {
        snprintf(err, errlen, "%s: not a URL (%s)", what, url ? why : "missing");
        return -1;
    }
    if (strcmp(t.scheme, "https") && !(p->insecure_http && !strcmp(t.scheme, "http"))) {
        snprintf(err, errlen, "%s: must be https (oidc.insecure_http allows http, for tests)",
                 what);
        return -1;
    }
    json_t *e = json_pack("{s:s,s:s,s:i,s:b}", "scheme", t.scheme, "host", t.host, "port", t.port,
                          "private", p->allow_private);
    if (e && p->ca_file[0]) json_object_set_new(e, "ca_file", json_string(p->ca_file));
    json_array_append_new(arr, e);
    return 0;
}

/* The allowlist: the issuer, and the endpoints discovery named (doc may be
 * NULL). The policy replaced is kept until no request runs. */
static int build_policy(oidc_provider *p, const json_t *doc, char *err, size_t errlen)
{
    char origins[sizeof(p->origins)];
    snprintf(origins, sizeof(origins), "%s %s %s",
             json_string_value(json_object_get(doc, "token_endpoint")) ?: "",
             json_string_value(json_object_get(doc, "jwks_uri")) ?: "",
             json_string_value(json_object_get(doc, "authorization_endpoint")) ?: "");
    if (p->has_pol && !strcmp(origins, p->origins)) return 0; /* nothing moved */
    json_t *arr = json_array();
    int rc = add_origin(p, arr, "oidc.issuer", p->issuer, err, errlen);
    if (!rc && doc)
        rc = add_origin(p, arr, "token_endpoint",
                        json_string_value(json_object_get(doc, "token_endpoint")), err, errlen);
    if (!rc && doc)
        rc = add_origin(p, arr, "jwks_uri", json_string_value(json_object_get(doc, "jwks_uri")),
                        err, errlen);
    if (!rc && doc)
        rc = add_origin(p, arr, "authorization_endpoint",
                        json_string_value(json_object_get(doc, "authorization_endpoint")), err,
                        errlen);
    egress_policy np;
    char why[300];
    if (!rc && policy_compile(&np, NULL, NULL, NULL, arr, why, sizeof(why))) {
        snprintf(err, errlen, "the provider's addresses: %s", why);
        rc = -1;
    }
    json_decref(arr);
    if (rc) return -1;
    if (p->has_pol) {
        egress_policy *r = realloc(p->retired, (p->nretired + 1) * sizeof(*r));
        if (!r) {
            policy_free(&np);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        p->retired = r;
        p->retired[p->nretired++] = p->pol;
    }
    snprintf(p->origins, sizeof(p->origins), "%s", origins);
    p->pol = np;
    p->has_pol = true;
    p->client.pol = &p->pol;
    return 0;
}

static int check_url(const api_oidc_opts *o, const char *name, const char *url, char *err,
                     size_t errlen)
{
    egress_target t;
    char why[200];
    if (!url || !*url) {
        snprintf(err, errlen, "%s: required with oidc.issuer", name);
        return -1;
    }
    if (policy_parse_url(url, &t, why, sizeof(why))) {
        snprintf(err, errlen, "%s: not a URL (%s)", name, why);
        return -1;
    }
    if (strcmp(t.scheme, "https") && !(o->insecure_http && !strcmp(t.scheme, "http"))) {
        snprintf(err, errlen, "%s: must be https (oidc.insecure_http allows http, for tests)",
                 name);
        return -1;
    }
    return 0;
}

int oidc_opts_check(const api_oidc_opts *o, char *err, size_t errlen)
{
    if (!o->issuer || !*o->issuer) return 0;
    if (check_url(o, "oidc.issuer", o->issuer, err, errlen) ||
        check_url(o, "oidc.redirect_uri", o->redirect_uri, err, errlen))
        return -1;
    if (strlen(o->issuer) >= URL_MAX || strlen(o->redirect_uri) >= URL_MAX) {
        snprintf(err, errlen, "oidc.issuer: at most %d bytes", URL_MAX - 1);
        return -1;
    }
    if (!o->client_id || !*o->client_id || strlen(o->client_id) > 200) {
        snprintf(err, errlen, "oidc.client_id: required with oidc.issuer (at most 200 bytes)");
        return -1;
    }
    if (o->scopes && !strstr(o->scopes, "openid")) {
        snprintf(err, errlen, "oidc.scopes: must include openid");
        return -1;
    }
    if (o->default_role && *o->default_role && !auth_role_valid(o->default_role)) {
        snprintf(err, errlen, "oidc.default_role: no role \"%s\" (%s)", o->default_role,
                 auth_role_names());
        return -1;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o->role_map, k, v)
    {
        if (!json_is_string(v) || !auth_role_valid(json_string_value(v))) {
            snprintf(err, errlen, "oidc.role_map.%.64s: not a role (%s)", k, auth_role_names());
            return -1;
        }
    }
    const char *al = o->after_login;
    if (al && (al[0] != '/' || al[1] == '/' || strchr(al, '\\') || strpbrk(al, "\r\n"))) {
        snprintf(err, errlen, "oidc.after_login: a path on this host (\"/admin/\")");
        return -1;
    }
    return 0;
}

int oidc_provider_new(oidc_provider **out, broker *b, const api_oidc_opts *o, char *err,
                      size_t errlen)
{
    oidc_provider *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    p->b = b;
    p->refs = 1;
    snprintf(p->issuer, sizeof(p->issuer), "%s", o->issuer);
    snprintf(p->client_id, sizeof(p->client_id), "%s", o->client_id ? o->client_id : "");
    snprintf(p->ca_file, sizeof(p->ca_file), "%s", o->ca_file ? o->ca_file : "");
    snprintf(p->redirect_uri, sizeof(p->redirect_uri), "%s",
             o->redirect_uri ? o->redirect_uri : "");
    p->allow_private = o->allow_private;
    p->insecure_http = o->insecure_http;
    p->cache_ms = (int64_t)(o->cache_ttl_s ? o->cache_ttl_s : 3600) * 1000;
    p->refetch_ms = (int64_t)o->jwks_min_refetch_s * 1000;
    p->refetch_at_ms = -1;
    p->client = (egress_client){.id = "oidc", .name = "host:oidc"};
    if (build_policy(p, NULL, err, errlen)) {
        unref(p);
        return AH_EINVAL;
    }
    *out = p;
    return 0;
}

static void oidc_log(const char *event, const char *msg)
{
    json_t *f = json_pack("{s:s}", "event", event);
    log_write("security", LOG_WARN, "oidc", NULL, f, "%s", msg);
    json_decref(f);
}

/* ---- one request through the broker --------------------------------------------------- */

static void fetch_end(fetch *f, const json_t *doc, const jwk_set *keys, const char *err)
{
    if (f->kind == FETCH_KEYS)
        f->keys_done(f->ud, keys, err);
    else
        f->doc_done(f->ud, doc, err);
    oidc_provider *p = f->p;
    free(f);
    unref(p);
}

static void on_answer(void *ud, json_t *a)
{
    fetch *f = ud;
    oidc_provider *p = f->p;
    char err[400] = "";
    const json_t *e = json_object_get(a, "error");
    int status = (int)json_integer_value(json_object_get(a, "status"));
    const char *body = json_string_value(json_object_get(a, "body"));
    json_t *doc = body ? json_loads(body, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (e && !status) {
        snprintf(err, sizeof(err), "the provider cannot be reached: %s",
                 json_string_value(json_object_get(e, "message")) ?: "error");
    } else if (status < 200 || status > 299) {
        const char *pe = json_string_value(json_object_get(doc, "error"));
        snprintf(err, sizeof(err), "the provider answered %d%s%.64s", status, pe ? ": " : "",
                 pe ? pe : "");
    } else if (f->kind == FETCH_KEYS) {
        char why[300];
        jwk_set *k = body ? jwks_parse(body, strlen(body), why, sizeof(why)) : NULL;
        if (!k) snprintf(err, sizeof(err), "jwks_uri: %s", body ? why : "no body");
        if (k) {
            jwks_free(p->keys);
            p->keys = k;
            p->keys_at_ms = ah_mono_ms();
        }
    } else if (!json_is_object(doc)) {
        snprintf(err, sizeof(err), "the provider's answer is not a JSON object");
    } else if (f->kind == FETCH_DISCOVERY) {
        const char *iss = json_string_value(json_object_get(doc, "issuer"));
        if (!iss || strcmp(iss, p->issuer))
            snprintf(err, sizeof(err), "discovery: its issuer is not oidc.issuer");
        else if (!build_policy(p, doc, err, sizeof(err))) {
            json_decref(p->doc);
            p->doc = json_incref(doc);
            p->doc_at_ms = ah_mono_ms();
        }
    }
    json_decref(a);
    if (err[0]) oidc_log("oidc_provider_error", err);
    fetch_end(f, err[0] ? NULL : doc, err[0] ? NULL : p->keys, err[0] ? err : NULL);
    json_decref(doc);
}

static void on_partial(void *ud, json_t *chunk)
{
    (void)ud;
    json_decref(chunk);
}

static bool on_live(void *ud)
{
    fetch *f = ud;
    return !f->p->released;
}

static void on_dropped(void *ud)
{
    fetch_end(ud, NULL, NULL, "stopping");
}

static const egress_sink SINK = {on_answer, on_partial, on_live, on_dropped};

static void start(oidc_provider *p, fetch_kind kind, json_t *req, const char *rid,
                  oidc_doc_fn doc_done, oidc_keys_fn keys_done, void *ud)
{
    fetch *f = calloc(1, sizeof(*f));
    if (!f) {
        json_decref(req);
        if (keys_done)
            keys_done(ud, NULL, "out of memory");
        else
            doc_done(ud, NULL, "out of memory");
        return;
    }
    *f = (fetch){p, kind, doc_done, keys_done, ud};
    p->refs++;
    broker_request(p->b, &p->client, req, rid, &SINK, f);
    json_decref(req);
}

static json_t *get_request(const char *url)
{
    return json_pack("{s:s,s:s,s:[s],s:i}", "method", "GET", "url", url, "headers",
                     "Accept: application/json", "flags", AH_HTTP_IDEMPOTENT);
}

void oidc_provider_discover(oidc_provider *p, const char *rid, oidc_doc_fn done, void *ud)
{
    if (p->doc && (int64_t)ah_mono_ms() - p->doc_at_ms < p->cache_ms) {
        done(ud, p->doc, NULL);
        return;
    }
    char url[URL_MAX + 64];
    size_t n = strlen(p->issuer);
    snprintf(url, sizeof(url), "%.*s/.well-known/openid-configuration",
             (int)(n && p->issuer[n - 1] == '/' ? n - 1 : n), p->issuer);
    start(p, FETCH_DISCOVERY, get_request(url), rid, done, NULL, ud);
}

void oidc_provider_keys(oidc_provider *p, bool refetch, const char *rid, oidc_keys_fn done,
                        void *ud)
{
    int64_t now = (int64_t)ah_mono_ms(), age = now - p->keys_at_ms;
    bool limited = p->refetch_at_ms >= 0 && now - p->refetch_at_ms < p->refetch_ms;
    if (p->keys && ((!refetch && age < p->cache_ms) || (refetch && limited))) {
        if (refetch)
            oidc_log("oidc_jwks_refetch_limited",
                     "an unknown kid, but the keys were fetched for one less than "
                     "oidc.jwks_min_refetch_s ago: not fetched again");
        done(ud, p->keys, NULL);
        return;
    }
    const char *url = json_string_value(json_object_get(p->doc, "jwks_uri"));
    if (!url) {
        done(ud, NULL, "discovery named no jwks_uri");
        return;
    }
    if (refetch) p->refetch_at_ms = now;
    start(p, FETCH_KEYS, get_request(url), rid, NULL, done, ud);
}

void oidc_provider_token(oidc_provider *p, const char *code, const char *verifier,
                         const char *client_secret, const char *rid, oidc_doc_fn done, void *ud)
{
    const char *url = json_string_value(json_object_get(p->doc, "token_endpoint"));
    const char *redirect = p->redirect_uri;
    if (!url) {
        done(ud, NULL, "discovery named no token_endpoint");
        return;
    }
    char body[4096] = "grant_type=authorization_code&code=";
    ah_pct_append(body, sizeof(body), code);
    strcat(body, "&redirect_uri=");
    ah_pct_append(body, sizeof(body), redirect);
    strcat(body, "&code_verifier=");
    ah_pct_append(body, sizeof(body), verifier);
    /* client_secret_basic (RFC 6749 2.3.1): both parts form-encoded. */
    char pair[1024] = "", b64[1500], auth[1600];
    ah_pct_append(pair, sizeof(pair), p->client_id);
    strcat(pair, ":");
    ah_pct_append(pair, sizeof(pair), client_secret);
    sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)pair, strlen(pair),
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(auth, sizeof(auth), "Authorization: Basic %s", b64);
    json_t *req = json_pack("{s:s,s:s,s:[s,s,s],s:s}", "method", "POST", "url", url, "headers",
                            "Content-Type: application/x-www-form-urlencoded",
                            "Accept: application/json", auth, "body", body);
    sodium_memzero(pair, sizeof(pair));
    sodium_memzero(b64, sizeof(b64));
    sodium_memzero(auth, sizeof(auth));
    start(p, FETCH_TOKEN, req, rid, done, NULL, ud);
}
