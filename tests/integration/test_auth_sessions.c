/*
 * Web sessions through the real binary: login sets an HttpOnly,
 * SameSite=Strict cookie and hands out a CSRF token; state-changing cookie
 * requests need that token; forged, logged-out and ended sessions are
 * refused; a disabled user's sessions end; unknown e-mails get the same
 * answer as wrong passwords; oversized credentials are refused unhashed;
 * repeated failures lock the account (423) and the address (429).
 */
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PW "a-Long-enough-pass-2026"

static th_host H;
static char user_id[64];

static int setup(void **s)
{
    (void)s;
    if (th_init(&H, "auth-sessions") ||
        th_config(&H, "{\"http\": {\"trusted_proxies\": \"127.0.0.1, ::1\"}, \"instances\": []}") ||
        th_make_token(&H))
        return -1;
    if (th_make_user(&H, "ed@example.com", "editor", PW, user_id, sizeof(user_id)) ||
        th_make_user(&H, "vi@example.com", "viewer", PW, NULL, 0) ||
        th_make_user(&H, "lock@example.com", "viewer", PW, NULL, 0))
        return -1;
    return th_start(&H, NULL, 15000);
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

static void test_login_sets_a_strict_http_only_cookie_and_the_session_works(void **s)
{
    (void)s;
    th_session ss;
    char *rb = NULL;
    assert_int_equal(th_login(&H, "ed@example.com", PW, &ss, &rb), 200);
    assert_non_null(strstr(ss.set_cookie, "HttpOnly"));
    assert_non_null(strstr(ss.set_cookie, "SameSite=Strict"));
    assert_null(strstr(ss.set_cookie, "Secure")); /* no TLS here */
    assert_null(strstr(rb, "argon2"));
    free(rb);
    assert_int_equal(th_session_http(&H, &ss, false, "GET", "/api/v1/agents", NULL, NULL), 200);
    /* The role is the user's: an editor has no audit. */
    assert_int_equal(th_session_http(&H, &ss, false, "GET", "/api/v1/audit", NULL, NULL), 403);
    /* A write needs the CSRF token. */
    assert_int_equal(
        th_session_http(&H, &ss, false, "POST", "/api/v1/agents", "{\"name\": \"Csrf\"}", NULL),
        403);
    assert_int_equal(
        th_session_http(&H, &ss, true, "POST", "/api/v1/agents", "{\"name\": \"Csrf\"}", NULL),
        201);
    assert_true(th_wait_file(&H, "logs/security.log", "csrf_refused", 3000));
    /* A wrong token is no token. */
    th_session bad = ss;
    snprintf(bad.csrf, sizeof(bad.csrf), "X-CSRF-Token: %064d", 0);
    assert_int_equal(
        th_session_http(&H, &bad, true, "POST", "/api/v1/agents", "{\"name\": \"Csrf2\"}", NULL),
        403);
    /* My sessions, then logout ends this one. */
    assert_int_equal(th_session_http(&H, &ss, false, "GET", "/api/v1/auth/sessions", NULL, &rb),
                     200);
    assert_non_null(strstr(rb, ss.id));
    free(rb);
    assert_int_equal(th_session_http(&H, &ss, true, "POST", "/api/v1/auth/logout", NULL, NULL),
                     204);
    assert_int_equal(th_session_http(&H, &ss, false, "GET", "/api/v1/agents", NULL, NULL), 401);
}

static void test_forged_cookies_are_refused(void **s)
{
    (void)s;
    th_session f = {0};
    snprintf(f.cookie, sizeof(f.cookie), "Cookie: ah_session=ahs_%064d", 7);
    assert_int_equal(th_session_http(&H, &f, false, "GET", "/api/v1/agents", NULL, NULL), 401);
    snprintf(f.cookie, sizeof(f.cookie), "Cookie: ah_session=nonsense");
    assert_int_equal(th_session_http(&H, &f, false, "GET", "/api/v1/agents", NULL, NULL), 401);
    assert_true(th_wait_file(&H, "logs/security.log", "session_refused", 3000));
}

static void test_revoking_one_of_my_sessions_ends_it(void **s)
{
    (void)s;
    th_session a, b;
    assert_int_equal(th_login(&H, "ed@example.com", PW, &a, NULL), 200);
    assert_int_equal(th_login(&H, "ed@example.com", PW, &b, NULL), 200);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/auth/sessions/%s", b.id);
    assert_int_equal(th_session_http(&H, &a, true, "DELETE", path, NULL, NULL), 204);
    assert_int_equal(th_session_http(&H, &b, false, "GET", "/api/v1/agents", NULL, NULL), 401);
    assert_int_equal(th_session_http(&H, &a, false, "GET", "/api/v1/agents", NULL, NULL), 200);
}

static void test_disabling_a_user_ends_their_sessions(void **s)
{
    (void)s;
    th_session ss;
    assert_int_equal(th_login(&H, "ed@example.com", PW, &ss, NULL), 200);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/users/%s", user_id);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "PATCH", path, "{\"status\": \"disabled\"}", NULL, &o), 200);
    json_decref(o);
    assert_int_equal(th_session_http(&H, &ss, false, "GET", "/api/v1/agents", NULL, NULL), 401);
    assert_int_equal(th_login(&H, "ed@example.com", PW, NULL, NULL), 401);
}

static void test_unknown_emails_and_wrong_passwords_get_the_same_answer(void **s)
{
    (void)s;
    char *a = NULL, *b = NULL;
    assert_int_equal(th_login(&H, "vi@example.com", "a-wrong-password-2026", NULL, &a), 401);
    assert_int_equal(th_login(&H, "nobody@example.com", "a-wrong-password-2026", NULL, &b), 401);
    assert_string_equal(a, b);
    free(a);
    free(b);
    assert_true(th_wait_file(&H, "logs/security.log", "login_failed", 3000));
    assert_false(th_logs_contain(&H, "a-wrong-password-2026"));
}

static void test_oversized_credentials_are_refused_before_hashing(void **s)
{
    (void)s;
    char big[400];
    memset(big, 'p', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    char *rb = NULL;
    assert_int_equal(th_login(&H, "vi@example.com", big, NULL, &rb), 422);
    assert_non_null(strstr(rb, "\"field\":\"password\""));
    free(rb);
    assert_int_equal(th_login(&H, big, PW, NULL, NULL), 422);
}

static void test_repeated_failures_lock_the_account_with_retry_after(void **s)
{
    (void)s;
    for (int i = 0; i < 5; i++)
        assert_int_equal(th_login(&H, "lock@example.com", "a-wrong-password-2026", NULL, NULL),
                         401);
    char req[200], *rh = NULL;
    snprintf(req, sizeof(req), "{\"email\": \"lock@example.com\", \"password\": \"%s\"}", PW);
    int st = th_http_raw(&H, "POST", "/api/v1/auth/login", "application/json", req, strlen(req),
                         NULL, &rh, NULL);
    assert_int_equal(st, 423); /* even the right password, while locked */
    assert_non_null(strcasestr(rh, "Retry-After: "));
    free(rh);
    assert_true(th_wait_file(&H, "logs/security.log", "account_locked", 3000));
    /* The same events are in the audit, searchable. */
    const char *actions[] = {"auth.login_failed", "auth.locked", "auth.login", "auth.denied",
                             "auth.logout"};
    for (size_t i = 0; i < 5; i++) {
        char path[128];
        snprintf(path, sizeof(path), "/api/v1/audit?action=%s", actions[i]);
        size_t n = 0;
        for (int tries = 0; tries < 50 && n == 0; tries++) { /* written with a later commit */
            json_t *o = NULL;
            assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
            n = json_array_size(json_object_get(o, "items"));
            json_decref(o);
            if (!n) th_sleep_ms(100);
        }
        if (n == 0) fail_msg("no %s entry", actions[i]);
    }
}

static void test_a_password_change_ends_every_session_of_the_user(void **s)
{
    (void)s;
    th_session a, b;
    assert_int_equal(th_login(&H, "vi@example.com", PW, &a, NULL), 200);
    assert_int_equal(th_login(&H, "vi@example.com", PW, &b, NULL), 200);
    char *rb = NULL;
    /* The wrong current password, or a weak new one, changes nothing. */
    assert_int_equal(th_session_http(&H, &a, true, "POST", "/api/v1/auth/password",
                                     "{\"current_password\": \"not-it-at-all-2026\","
                                     " \"new_password\": \"b-Long-enough-pass-2026\"}",
                                     NULL),
                     401);
    assert_int_equal(th_session_http(&H, &a, true, "POST", "/api/v1/auth/password",
                                     "{\"current_password\": \"" PW
                                     "\", \"new_password\": \"password1234\"}",
                                     &rb),
                     422);
    assert_non_null(strstr(rb, "new_password"));
    free(rb);
    assert_int_equal(th_session_http(&H, &b, false, "GET", "/api/v1/agents", NULL, NULL), 200);
    assert_int_equal(th_session_http(&H, &a, true, "POST", "/api/v1/auth/password",
                                     "{\"current_password\": \"" PW "\","
                                     " \"new_password\": \"b-Long-enough-pass-2026\"}",
                                     NULL),
                     204);
    /* Both sessions from before the change are refused. */
    assert_int_equal(th_session_http(&H, &a, false, "GET", "/api/v1/agents", NULL, NULL), 401);
    assert_int_equal(th_session_http(&H, &b, false, "GET", "/api/v1/agents", NULL, NULL), 401);
    assert_int_equal(th_login(&H, "vi@example.com", PW, NULL, NULL), 401);
    assert_int_equal(th_login(&H, "vi@example.com", "b-Long-enough-pass-2026", NULL, NULL), 200);
    assert_false(th_logs_contain(&H, "b-Long-enough-pass-2026"));
}

/* A failed login sent through a proxy chain; the address security.log names. */
static bool logged_as(const char *xff, const char *ip)
{
    char hdr[200], body[] = "{\"email\": \"proxied@example.com\", \"password\": \"x-2026-x\"}";
    snprintf(hdr, sizeof(hdr), "X-Forwarded-For: %s", xff);
    const char *hs[] = {hdr, NULL};
    th_http_raw(&H, "POST", "/api/v1/auth/login", "application/json", body, strlen(body), hs, NULL,
                NULL);
    char needle[100];
    snprintf(needle, sizeof(needle), "\"client_ip\":\"%s\"", ip);
    return th_wait_file(&H, "logs/security.log", needle, 3000);
}

static void test_the_client_address_comes_from_x_forwarded_for_of_trusted_proxies(void **s)
{
    (void)s;
    assert_true(logged_as("203.0.113.9", "203.0.113.9"));
    /* What the client wrote left of the proxy's entry proves nothing. */
    assert_true(logged_as("198.51.100.1, 203.0.113.10", "203.0.113.10"));
    /* A trusted proxy's own hop is skipped. */
    assert_true(logged_as("203.0.113.11, 127.0.0.1", "203.0.113.11"));
    /* Garbage is not an address: the peer stays the client. */
    assert_false(logged_as("not-an-address", "not-an-address"));
}

static void test_every_answer_carries_the_security_headers(void **s)
{
    (void)s;
    const char *paths[] = {"/health", "/api/v1/agents", "/no/such/thing"};
    for (size_t i = 0; i < 3; i++) {
        char *rh = NULL;
        th_http_raw(&H, "GET", paths[i], NULL, NULL, 0, NULL, &rh, NULL);
        assert_non_null(rh);
        assert_non_null(strcasestr(rh, "X-Content-Type-Options: nosniff"));
        assert_non_null(strcasestr(rh, "X-Frame-Options: DENY"));
        assert_non_null(strcasestr(rh, "Referrer-Policy: no-referrer"));
        assert_non_null(strcasestr(rh, "frame-ancestors 'none'"));
        assert_null(strcasestr(rh, "Strict-Transport-Security")); /* no TLS here */
        free(rh);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_sets_a_strict_http_only_cookie_and_the_session_works),
        cmocka_unit_test(test_forged_cookies_are_refused),
        cmocka_unit_test(test_revoking_one_of_my_sessions_ends_it),
        cmocka_unit_test(test_unknown_emails_and_wrong_passwords_get_the_same_answer),
        cmocka_unit_test(test_oversized_credentials_are_refused_before_hashing),
        cmocka_unit_test(test_repeated_failures_lock_the_account_with_retry_after),
        cmocka_unit_test(test_disabling_a_user_ends_their_sessions),
        cmocka_unit_test(test_a_password_change_ends_every_session_of_the_user),
        cmocka_unit_test(test_the_client_address_comes_from_x_forwarded_for_of_trusted_proxies),
        cmocka_unit_test(test_every_answer_carries_the_security_headers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
