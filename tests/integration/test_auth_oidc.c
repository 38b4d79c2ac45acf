/*
 * Single sign-on through the real binary against a protocol-faithful
 * OpenID provider (tests/fakes/fake_oidc.h, real HTTP on loopback, keys
 * generated here): login redirects with state, nonce and an S256
 * challenge; the provider redirects back with a code; the host redeems it
 * (client secret, PKCE verifier) through the egress broker, verifies the
 * RS256 or ES256 ID token, provisions the user with the role mapped from
 * the claim (changed and audited on a later login) and sets the session
 * cookie. Refused, logged and without a cookie: expired, wrong audience,
 * wrong issuer, bad signature, alg none, HS256 keyed with the public key,
 * wrong nonce, a replayed or unknown state, the provider's error, an
 * e-mail domain not allowed, an existing account not linked, another
 * subject for a bound e-mail. A key rotation is followed (one JWKS fetch
 * for the unknown kid); a forged kid right after fetches nothing more.
 */
#include "../fakes/fake_oidc.h"
#include "../servers/mailclient.h" /* mc_discard */
#include "../support/th.h"

#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENT "agenthost-admin"
#define SECRET "client-secret-123"
#define PW "a-Long-enough-pass-2026"

static th_host H;
static fake_oidc *F;

static int setup(void **s)
{
    (void)s;
    F = fake_oidc_new(CLIENT, SECRET, true);
    if (!F) return -1;
    char cfg[2048];
    snprintf(cfg, sizeof(cfg),
             "{\"instances\": [], \"auth\": {\"require_2fa_roles\": \"admin\"},"
             " \"oidc\": {\"issuer\": \"%s\", \"client_id\": \"" CLIENT "\","
             " \"redirect_uri\": \"http://127.0.0.1/api/v1/auth/oidc/callback\","
             " \"role_claim\": \"groups\", \"role_map\": {\"agenthost-admins\": \"admin\","
             " \"agenthost-viewers\": \"viewer\"}, \"email_domains\": \"example.com\","
             " \"insecure_http\": true, \"allow_private\": true}}",
             fake_oidc_issuer(F));
    if (th_init(&H, "auth-oidc") || th_config(&H, cfg) || th_make_token(&H) ||
        th_cli(&H, SECRET "\n", NULL, 0, "secret", "set", "host", "oidc_client_secret", NULL) ||
        th_make_user(&H, "ed@example.com", "editor", PW, NULL, 0))
        return -1;
    return th_start(&H, NULL, 15000);
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    fake_oidc_free(F);
    return rc ? -1 : 0;
}

/* The value of a response header (case-insensitive name) into out. */
static const char *header(const char *hs, const char *name, char *out, size_t n)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\n%s: ", name);
    const char *at = hs ? strcasestr(hs, pat) : NULL;
    if (!at) return NULL;
    at += strlen(pat);
    snprintf(out, n, "%.*s", (int)strcspn(at, "\r\n"), at);
    return out;
}

/* GET url at the provider (no redirect followed): the status, Location. */
static long provider_get(const char *url, char *location, size_t n)
{
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, mc_discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    long status = 0;
    char *loc = NULL;
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc);
    }
    snprintf(location, n, "%s", loc ? loc : "");
    curl_easy_cleanup(c);
    return status;
}

typedef struct sso_result {
    int status;
    char callback[1024]; /* the path and query the provider sent the browser to */
    char cookie[200];    /* "Cookie: ah_session=..." or "" */
    char location[256];
    json_t *body;
} sso_result;

/* Call the host's callback with the path and query of the provider's redirect. */
static void callback(const char *path_query, sso_result *r)
{
    char *rh = NULL, *rb = NULL;
    r->status = th_http_raw(&H, "GET", path_query, NULL, NULL, 0, NULL, &rh, &rb);
    char sc[400];
    r->cookie[0] = 0;
    if (header(rh, "Set-Cookie", sc, sizeof(sc))) {
        assert_non_null(strstr(sc, "HttpOnly"));
        assert_non_null(strstr(sc, "SameSite=Strict"));
        snprintf(r->cookie, sizeof(r->cookie), "Cookie: %.*s", (int)strcspn(sc, ";"), sc);
    }
    if (!header(rh, "Location", r->location, sizeof(r->location))) r->location[0] = 0;
    json_decref(r->body);
    r->body = rb ? json_loads(rb, 0, NULL) : NULL;
    free(rh);
    free(rb);
}

/* The whole flow as a browser runs it, with the next token as told. */
static void sso(const char *alg, fo_fault fault, const json_t *extra, sso_result *r)
{
    json_decref(r->body);
    memset(r, 0, sizeof(*r));
    fake_oidc_next(F, alg, fault, extra);
    char *rh = NULL, *rb = NULL, loc[4096], back[1024];
    assert_int_equal(
        th_http_raw(&H, "GET", "/api/v1/auth/oidc/login", NULL, NULL, 0, NULL, &rh, &rb), 302);
    assert_non_null(header(rh, "Location", loc, sizeof(loc)));
    free(rh);
    free(rb);
    assert_non_null(strstr(loc, "code_challenge_method=S256"));
    assert_non_null(strstr(loc, "&nonce="));
    assert_int_equal(provider_get(loc, back, sizeof(back)), 302);
    const char *path = strstr(back, "/api/v1/auth/oidc/callback?");
    assert_non_null(path);
    snprintf(r->callback, sizeof(r->callback), "%s", path);
    callback(path, r);
}

static const char *error_code(const sso_result *r)
{
    return json_string_value(json_object_get(json_object_get(r->body, "error"), "code")) ?: "";
}

static const char *error_message(const sso_result *r)
{
    return json_string_value(json_object_get(json_object_get(r->body, "error"), "message")) ?: "";
}

/* Refusals are audited with a later commit: wait (bounded) until want are. */
static void wait_refusals_audited(size_t want)
{
    size_t n = 0;
    for (int tries = 0; tries < 50 && n < want; tries++) {
        json_t *audit = NULL;
        assert_int_equal(th_http(&H, "GET", "/api/v1/audit?action=auth.sso_failed&limit=500", NULL,
                                 NULL, &audit),
                         200);
        n = json_array_size(json_object_get(audit, "items"));
        json_decref(audit);
        if (n < want) th_sleep_ms(100);
    }
    if (n < want) fail_msg("%zu audit entries auth.sso_failed, %zu wanted", n, want);
}

static json_t *groups(const char *g)
{
    return json_pack("{s:[s]}", "groups", g);
}

static void rs256_login_provisions_an_admin_with_a_session(void **s)
{
    (void)s;
    sso_result r = {0};
    json_t *g = groups("agenthost-admins");
    sso("RS256", FO_GOOD, g, &r);
    json_decref(g);
    if (r.status != 303) fail_msg("%d %s: %s", r.status, error_code(&r), error_message(&r));
    assert_string_equal(r.location, "/admin/");
    assert_true(r.cookie[0]);
    /* The session works, is marked as single sign-on and hands out its CSRF token. */
    const char *hs[] = {r.cookie, NULL};
    char *rh = NULL, *rb = NULL;
    assert_int_equal(th_http_raw(&H, "GET", "/api/v1/auth/session", NULL, NULL, 0, hs, &rh, &rb),
                     200);
    json_t *o = json_loads(rb, 0, NULL);
    assert_true(json_is_true(json_object_get(o, "sso")));
    assert_string_equal(json_string_value(json_object_get(o, "email")), "sso.user@example.com");
    assert_int_equal(strlen(json_string_value(json_object_get(o, "csrf_token"))), 64);
    json_decref(o);
    free(rh);
    free(rb);
    /* An admin without a second factor, while admins need one: the provider's MFA stands for it. */
    rh = rb = NULL;
    assert_int_equal(th_http_raw(&H, "GET", "/api/v1/agents", NULL, NULL, 0, hs, &rh, &rb), 200);
    free(rh);
    free(rb);
    json_t *users = NULL;
    assert_int_equal(th_http(&H, "GET", "/api/v1/users?role=admin", NULL, NULL, &users), 200);
    json_t *u = json_array_get(json_object_get(users, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(u, "email")), "sso.user@example.com");
    assert_true(json_is_true(json_object_get(u, "sso")));
    assert_string_equal(json_string_value(json_object_get(u, "status")), "active");
    json_decref(users);
    assert_true(th_file_contains(&H, "logs/security.log", "signed in through single sign-on"));
    assert_int_equal(fake_oidc_counts(F).token_refused, 0);
    json_decref(r.body);
}

/* A later login with ES256 and another group: the role follows the claim, audited. */
static void es256_login_changes_the_role_from_the_claim(void **s)
{
    (void)s;
    sso_result r = {0};
    json_t *g = groups("agenthost-viewers");
    sso("ES256", FO_GOOD, g, &r);
    json_decref(g);
    assert_int_equal(r.status, 303);
    json_t *users = NULL;
    assert_int_equal(th_http(&H, "GET", "/api/v1/users?role=viewer", NULL, NULL, &users), 200);
    assert_string_equal(json_string_value(th_get(users, "items.0.email")), "sso.user@example.com");
    json_decref(users);
    json_t *audit = NULL;
    assert_int_equal(th_http(&H, "GET", "/api/v1/audit?action=user.update", NULL, NULL, &audit),
                     200);
    char *text = json_dumps(audit, JSON_COMPACT);
    assert_non_null(strstr(text, "\"from\":\"admin\""));
    assert_non_null(strstr(text, "\"to\":\"viewer\""));
    free(text);
    json_decref(audit);
    json_decref(r.body);
}

static void tampered_id_tokens_are_refused_without_a_session(void **s)
{
    (void)s;
    struct {
        const char *alg;
        fo_fault fault;
        const char *reason;
    } cases[] = {
        {"RS256", FO_EXPIRED, "(expired)"},          {"ES256", FO_WRONG_AUD, "(wrong_audience)"},
        {"RS256", FO_WRONG_ISS, "(wrong_issuer)"},   {"RS256", FO_BAD_SIG, "(bad_signature)"},
        {"ES256", FO_BAD_SIG, "(bad_signature)"},    {"RS256", FO_ALG_NONE, "(alg_refused)"},
        {"RS256", FO_HS256_PUBKEY, "(alg_refused)"}, {"ES256", FO_WRONG_NONCE, "(wrong_nonce)"},
        {"RS256", FO_NOT_YET, "(not_yet_valid)"},
    };
    json_t *g = groups("agenthost-admins");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sso_result r = {0};
        sso(cases[i].alg, cases[i].fault, g, &r);
        if (r.status != 401 || strcmp(error_code(&r), "oidc_token_invalid") ||
            !strstr(error_message(&r), cases[i].reason) || r.cookie[0])
            fail_msg("case %zu: %d %s %s", i, r.status, error_code(&r), error_message(&r));
        json_decref(r.body);
    }
    json_decref(g);
    assert_true(th_file_contains(&H, "logs/security.log", "sso_failed"));
    wait_refusals_audited(9);
}

static void a_rotated_key_is_fetched_once_and_a_forged_kid_fetches_nothing(void **s)
{
    (void)s;
    fake_oidc_rotate(F);
    int before = fake_oidc_counts(F).jwks;
    sso_result r = {0};
    json_t *g = groups("agenthost-admins");
    sso("ES256", FO_GOOD, g, &r);
    assert_int_equal(r.status, 303);
    assert_int_equal(fake_oidc_counts(F).jwks, before + 1);
    json_decref(r.body);
    /* An unknown kid right after: the refetch is rate-limited, the token refused. */
    sso("RS256", FO_UNKNOWN_KID, g, &r);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(error_message(&r), "(unknown_kid)"));
    assert_int_equal(fake_oidc_counts(F).jwks, before + 1);
    assert_true(th_file_contains(&H, "logs/security.log", "oidc_jwks_refetch_limited"));
    /* The discovery document was read once for every login so far (kept oidc.cache_ttl_s). */
    assert_int_equal(fake_oidc_counts(F).discovery, 1);
    json_decref(r.body);
    json_decref(g);
}

static void a_state_works_once(void **s)
{
    (void)s;
    sso_result r = {0};
    json_t *g = groups("agenthost-admins");
    sso("RS256", FO_GOOD, g, &r);
    json_decref(g);
    assert_int_equal(r.status, 303);
    callback(r.callback, &r); /* the same redirect again */
    assert_int_equal(r.status, 400);
    assert_string_equal(error_code(&r), "oidc_state_invalid");
    assert_false(r.cookie[0]);
    callback("/api/v1/auth/oidc/callback?code=abc&state=made-up", &r);
    assert_int_equal(r.status, 400);
    callback("/api/v1/auth/oidc/callback?error=access_denied&state=x", &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(error_code(&r), "oidc_denied");
    json_decref(r.body);
}

/* The fake really checks PKCE: a wrong verifier for a good code is refused,
 * so the logins above that redeemed codes sent the right one. */
static void the_provider_refuses_a_wrong_pkce_verifier(void **s)
{
    (void)s;
    char *rh = NULL, *rb = NULL, loc[4096], back[1024];
    assert_int_equal(
        th_http_raw(&H, "GET", "/api/v1/auth/oidc/login", NULL, NULL, 0, NULL, &rh, &rb), 302);
    header(rh, "Location", loc, sizeof(loc));
    free(rh);
    free(rb);
    assert_int_equal(provider_get(loc, back, sizeof(back)), 302);
    const char *code = strstr(back, "code=") + 5;
    char body[512], url[256], auth[300];
    snprintf(
        body, sizeof(body),
        "grant_type=authorization_code&code=%.*s&redirect_uri=http%%3A%%2F%%2F127.0.0.1%%2Fapi"
        "%%2Fv1%%2Fauth%%2Foidc%%2Fcallback&code_verifier=wrong-verifier-wrong-verifier-wrong-x",
        (int)strcspn(code, "&"), code);
    snprintf(url, sizeof(url), "%s/token", fake_oidc_issuer(F));
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_USERPWD, CLIENT ":" SECRET);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, mc_discard);
    (void)auth;
    long status = 0;
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    assert_int_equal(status, 400);
    assert_string_equal(fake_oidc_counts(F).last_token_error, "invalid_grant");
}

static void users_the_configuration_does_not_admit_are_refused(void **s)
{
    (void)s;
    sso_result r = {0};
    /* a domain not in oidc.email_domains */
    json_t *x = json_pack("{s:[s],s:s}", "groups", "agenthost-admins", "email", "eve@evil.example");
    sso("RS256", FO_GOOD, x, &r);
    json_decref(x);
    assert_int_equal(r.status, 403);
    assert_string_equal(error_code(&r), "oidc_user_refused");
    /* no group maps, and no default role */
    x = json_pack("{s:[s]}", "groups", "nobody");
    sso("RS256", FO_GOOD, x, &r);
    json_decref(x);
    assert_int_equal(r.status, 403);
    /* a password account with the same e-mail: not linked (oidc.link_existing is off) */
    x = json_pack("{s:[s],s:s,s:s}", "groups", "agenthost-admins", "email", "ed@example.com", "sub",
                  "ed-at-idp");
    sso("RS256", FO_GOOD, x, &r);
    json_decref(x);
    assert_int_equal(r.status, 409);
    assert_string_equal(error_code(&r), "oidc_account_not_linked");
    /* the bound e-mail with another subject */
    x = json_pack("{s:[s],s:s}", "groups", "agenthost-admins", "sub", "someone-else");
    sso("RS256", FO_GOOD, x, &r);
    json_decref(x);
    assert_int_equal(r.status, 409);
    assert_false(r.cookie[0]);
    json_decref(r.body);
    /* Every refusal so far: 9 tampered tokens, a forged kid, 3 states, these 4. */
    wait_refusals_audited(17);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rs256_login_provisions_an_admin_with_a_session),
        cmocka_unit_test(es256_login_changes_the_role_from_the_claim),
        cmocka_unit_test(tampered_id_tokens_are_refused_without_a_session),
        cmocka_unit_test(a_rotated_key_is_fetched_once_and_a_forged_kid_fetches_nothing),
        cmocka_unit_test(a_state_works_once),
        cmocka_unit_test(the_provider_refuses_a_wrong_pkce_verifier),
        cmocka_unit_test(users_the_configuration_does_not_admit_are_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
