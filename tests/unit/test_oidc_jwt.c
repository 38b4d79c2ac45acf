/*
 * ID tokens (host/auth/jwt.h) and the login state (host/auth/oidc.h),
 * against keys the fake provider generates: RS256 and ES256 verify; every
 * tampering is refused with its own status (alg none, HS256 keyed with the
 * public key, a flipped signature bit, another issuer, audience or nonce,
 * expired, not yet valid, an unknown kid after a rotation); malformed
 * JWKS documents are refused naming the key; a state works once; roles
 * map from a nested claim; e-mail domains are enforced; oidc.* options
 * that cannot work are refused naming the option.
 */
#include "../fakes/fake_oidc.h"
#include "auth/jwt.h"
#include "api/oidc_provider.h"
#include "auth/oidc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static fake_oidc *F;

static int setup(void **s)
{
    (void)s;
    F = fake_oidc_new("agenthost", "client-secret-123", false);
    return F ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    fake_oidc_free(F);
    return 0;
}

/* Mint with (alg, fault) and verify against the current JWKS. */
static jwt_status check(const char *alg, fo_fault fault, jwk_set *keys)
{
    fake_oidc_next(F, alg, fault, NULL);
    char *tok = fake_oidc_mint(F, "the-nonce");
    char *jwks = keys ? NULL : fake_oidc_jwks(F);
    char err[256] = "";
    jwk_set *own = keys ? NULL : jwks_parse(jwks, strlen(jwks), err, sizeof(err));
    assert_non_null(keys ? keys : own);
    jwt_expect ex = {fake_oidc_issuer(F), "agenthost", "the-nonce", (int64_t)time(NULL), 60};
    json_t *claims = NULL;
    jwt_status st = jwt_verify(tok, keys ? keys : own, &ex, &claims, err, sizeof(err));
    if (st == JWT_OK) {
        assert_string_equal(json_string_value(json_object_get(claims, "sub")), "user-42");
        assert_string_equal(err, "");
    } else {
        assert_null(claims);
        assert_true(strlen(err) > 0);
        assert_null(strstr(err, tok)); /* the token is never in the reason */
    }
    json_decref(claims);
    jwks_free(own);
    free(jwks);
    free(tok);
    return st;
}

static void rs256_and_es256_verify(void **s)
{
    (void)s;
    assert_int_equal(check("RS256", FO_GOOD, NULL), JWT_OK);
    assert_int_equal(check("ES256", FO_GOOD, NULL), JWT_OK);
}

static void tampered_tokens_are_refused_each_for_its_reason(void **s)
{
    (void)s;
    assert_int_equal(check("RS256", FO_ALG_NONE, NULL), JWT_ALG_REFUSED);
    assert_int_equal(check("RS256", FO_HS256_PUBKEY, NULL), JWT_ALG_REFUSED);
    assert_int_equal(check("RS256", FO_BAD_SIG, NULL), JWT_BAD_SIGNATURE);
    assert_int_equal(check("ES256", FO_BAD_SIG, NULL), JWT_BAD_SIGNATURE);
    assert_int_equal(check("RS256", FO_WRONG_ISS, NULL), JWT_ISSUER);
    assert_int_equal(check("ES256", FO_WRONG_AUD, NULL), JWT_AUDIENCE);
    assert_int_equal(check("RS256", FO_EXPIRED, NULL), JWT_EXPIRED);
    assert_int_equal(check("RS256", FO_NOT_YET, NULL), JWT_NOT_YET);
    assert_int_equal(check("ES256", FO_WRONG_NONCE, NULL), JWT_NONCE);
    assert_int_equal(check("RS256", FO_UNKNOWN_KID, NULL), JWT_UNKNOWN_KID);
}

/* A token from a rotated key is an unknown kid for the old set, and
 * verifies once the new set is read. */
static void rotation_makes_an_unknown_kid_until_the_new_keys_are_read(void **s)
{
    (void)s;
    char err[256];
    char *old = fake_oidc_jwks(F);
    jwk_set *old_keys = jwks_parse(old, strlen(old), err, sizeof(err));
    assert_non_null(old_keys);
    assert_int_equal(jwks_count(old_keys), 2);
    fake_oidc_rotate(F);
    assert_int_equal(check("RS256", FO_GOOD, old_keys), JWT_UNKNOWN_KID);
    assert_int_equal(check("ES256", FO_GOOD, old_keys), JWT_UNKNOWN_KID);
    assert_int_equal(check("ES256", FO_GOOD, NULL), JWT_OK);
    jwks_free(old_keys);
    free(old);
}

/* An RS256 token whose header names the EC key's kid finds no RSA key:
 * the token's alg never picks a key of another type. */
static void a_key_serves_only_its_own_algorithm(void **s)
{
    (void)s;
    char err[256];
    const char *ec_only = "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"rsa-1\","
                          "\"x\":\"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4\","
                          "\"y\":\"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM\"}]}";
    jwk_set *k = jwks_parse(ec_only, strlen(ec_only), err, sizeof(err));
    assert_non_null(k);
    assert_int_equal(check("RS256", FO_GOOD, k), JWT_UNKNOWN_KID);
    jwks_free(k);
}

static void bad_jwks_documents_are_refused_naming_the_key(void **s)
{
    (void)s;
    struct {
        const char *doc, *needle;
    } bad[] = {
        {"[]", "no keys array"},
        {"{\"keys\": []}", "no RSA or P-256"},
        {"{\"keys\": [{\"kty\": \"RSA\", \"n\": \"AQAB\", \"e\": \"AQAB\"}]}",
         "keys[0]: an RSA key of"},
        {"{\"keys\": [{\"kty\": \"RSA\", \"n\": \"!!\", \"e\": \"AQAB\"}]}",
         "keys[0]: an RSA key needs"},
        {"{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-384\", \"x\": \"AA\", \"y\": \"AA\"}]}",
         "keys[0]: an EC key must be on P-256"},
        /* a point not on the curve */
        {"{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\", "
         "\"x\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\", "
         "\"y\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}]}",
         "keys[0]: the EC key is not a point"},
        {"{\"keys\": [{\"kty\": \"EC\", \"kid\": 7}]}", "keys[0].kid"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        jwk_set *k = jwks_parse(bad[i].doc, strlen(bad[i].doc), err, sizeof(err));
        assert_null(k);
        if (!strstr(err, bad[i].needle))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].needle);
    }
}

static void malformed_tokens_are_refused(void **s)
{
    (void)s;
    char *jwks = fake_oidc_jwks(F), err[256];
    jwk_set *k = jwks_parse(jwks, strlen(jwks), err, sizeof(err));
    jwt_expect ex = {fake_oidc_issuer(F), "agenthost", "n", (int64_t)time(NULL), 60};
    const char *bad[] = {
        "",          "a.b",
        "a.b.c.d",   "eyJhbGciOiJSUzI1NiJ9.e30.",
        "!!.e30.AA", "eyJhbGciOiJSUzI1NiIsImFsZyI6Im5vbmUifQ.e30.AA" /* duplicate alg */};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *c = NULL;
        jwt_status st = jwt_verify(bad[i], k, &ex, &c, err, sizeof(err));
        if (st != JWT_MALFORMED) fail_msg("case %zu: %s", i, jwt_status_name(st));
        assert_null(c);
    }
    jwks_free(k);
    free(jwks);
}

static void a_state_works_once_and_carries_its_pkce_challenge(void **s)
{
    (void)s;
    oidc_pending *p = oidc_pending_new();
    oidc_login a, b, got;
    oidc_pending_start(p, 1000, &a);
    oidc_pending_start(p, 1000, &b);
    assert_string_not_equal(a.state, b.state);
    assert_string_not_equal(a.nonce, a.verifier);
    assert_int_equal(strlen(a.verifier), OIDC_RANDOM_LEN);
    char ch[OIDC_RANDOM_LEN + 1];
    oidc_pkce_challenge(a.verifier, ch);
    assert_string_equal(ch, a.challenge);
    /* RFC 7636 appendix B */
    oidc_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", ch);
    assert_string_equal(ch, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    assert_true(oidc_pending_take(p, a.state, 2000, &got));
    assert_string_equal(got.nonce, a.nonce);
    assert_false(oidc_pending_take(p, a.state, 2000, &got)); /* used */
    assert_false(oidc_pending_take(p, "", 2000, &got));
    assert_false(oidc_pending_take(p, b.state, 1000 + OIDC_PENDING_TTL_MS + 1, &got)); /* expired */
    assert_int_equal(oidc_pending_count(p), 0);
    oidc_pending_free(p);
}

static void roles_map_from_a_nested_claim_and_domains_are_enforced(void **s)
{
    (void)s;
    json_t *map =
        json_pack("{s:s,s:s}", "agenthost-viewers", "viewer", "agenthost-admins", "admin");
    json_t *claims = json_pack("{s:s,s:b,s:{s:[s,s,s]}}", "email", "Ann@Example.com",
                               "email_verified", 1, "realm_access", "roles", "agenthost-viewers",
                               "offline_access", "agenthost-admins");
    oidc_mapping m = {"realm_access.roles", map, NULL, "example.com, example.org", true};
    char email[256], role[32], err[256];
    assert_int_equal(
        oidc_map_user(claims, &m, email, sizeof(email), role, sizeof(role), err, sizeof(err)), 0);
    assert_string_equal(email, "ann@example.com");
    assert_string_equal(role, "admin");
    m.email_domains = "example.org";
    assert_int_equal(
        oidc_map_user(claims, &m, email, sizeof(email), role, sizeof(role), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "email_domains"));
    m.email_domains = NULL;
    m.role_claim = "groups"; /* absent, and no default role */
    assert_int_equal(
        oidc_map_user(claims, &m, email, sizeof(email), role, sizeof(role), err, sizeof(err)), -1);
    m.default_role = "viewer";
    assert_int_equal(
        oidc_map_user(claims, &m, email, sizeof(email), role, sizeof(role), err, sizeof(err)), 0);
    assert_string_equal(role, "viewer");
    json_object_set_new(claims, "email_verified", json_false());
    assert_int_equal(
        oidc_map_user(claims, &m, email, sizeof(email), role, sizeof(role), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "email_verified"));
    json_decref(claims);
    json_decref(map);
}

/* Options that cannot work stop the host at start, naming the option. */
static void bad_options_are_refused_naming_the_option(void **s)
{
    (void)s;
    json_t *map = json_pack("{s:s}", "ops", "root");
    api_oidc_opts good = {.issuer = "https://sso.example.com/realms/company",
                          .client_id = "agenthost",
                          .redirect_uri = "https://ah.example.com/api/v1/auth/oidc/callback",
                          .scopes = "openid email",
                          .after_login = "/admin/"};
    char err[256] = "";
    assert_int_equal(oidc_opts_check(&good, err, sizeof(err)), 0);
    api_oidc_opts off = {0};
    assert_int_equal(oidc_opts_check(&off, err, sizeof(err)), 0);
    struct {
        api_oidc_opts o;
        const char *needle;
    } bad[] = {
        {good, "oidc.client_id"},    {good, "oidc.issuer: must be https"},
        {good, "oidc.redirect_uri"}, {good, "oidc.scopes"},
        {good, "oidc.role_map.ops"}, {good, "oidc.after_login"},
        {good, "oidc.default_role"},
    };
    bad[0].o.client_id = NULL;
    bad[1].o.issuer = "http://sso.example.com";
    bad[2].o.redirect_uri = NULL;
    bad[3].o.scopes = "email profile";
    bad[4].o.role_map = map;
    bad[5].o.after_login = "//evil.example/";
    bad[6].o.default_role = "superuser";
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        assert_int_equal(oidc_opts_check(&bad[i].o, err, sizeof(err)), -1);
        if (!strstr(err, bad[i].needle))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].needle);
    }
    /* http is for tests, when asked for */
    good.issuer = "http://127.0.0.1:9";
    good.insecure_http = true;
    assert_int_equal(oidc_opts_check(&good, err, sizeof(err)), 0);
    json_decref(map);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rs256_and_es256_verify),
        cmocka_unit_test(tampered_tokens_are_refused_each_for_its_reason),
        cmocka_unit_test(rotation_makes_an_unknown_kid_until_the_new_keys_are_read),
        cmocka_unit_test(a_key_serves_only_its_own_algorithm),
        cmocka_unit_test(bad_jwks_documents_are_refused_naming_the_key),
        cmocka_unit_test(malformed_tokens_are_refused),
        cmocka_unit_test(a_state_works_once_and_carries_its_pkce_challenge),
        cmocka_unit_test(roles_map_from_a_nested_claim_and_domains_are_enforced),
        cmocka_unit_test(bad_options_are_refused_naming_the_option),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
