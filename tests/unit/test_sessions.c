/*
 * Web sessions (host/auth/sessions.h): only the cookie's hash is kept, a
 * session ends after its idle time and at its absolute limit however busy
 * it is, a user's sessions end together, and the CSRF check is exact.
 */
#include "auth/sessions.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#define MIN 60000

static void test_idle_and_absolute_timeouts_end_a_session(void **s)
{
    (void)s;
    auth_sessions *ss = sessions_new(30 * 60, 12 * 3600);
    assert_non_null(ss);
    char tok[SESSION_TOKEN_LEN + 1];
    assert_non_null(sessions_create(ss, "usr_a", "a@example.com", 0, "127.0.0.1", 0, tok));
    assert_non_null(sessions_find(ss, tok, 29 * MIN));
    assert_null(sessions_find(ss, tok, 29 * MIN + 30 * MIN)); /* idle */
    assert_null(sessions_find(ss, tok, 29 * MIN + 1));        /* and gone for good */
    /* Busy every 20 minutes: still ends at 12 hours. */
    assert_non_null(sessions_create(ss, "usr_a", "a@example.com", 0, "127.0.0.1", 0, tok));
    int64_t t = 0;
    for (; t + 20 * MIN < 12 * 60 * MIN; t += 20 * MIN)
        assert_non_null(sessions_find(ss, tok, t + 20 * MIN));
    assert_null(sessions_find(ss, tok, 12 * 60 * MIN));
    sessions_free(ss);
}

static void test_forged_tokens_and_csrf_are_refused(void **s)
{
    (void)s;
    auth_sessions *ss = sessions_new(1800, 43200);
    char tok[SESSION_TOKEN_LEN + 1], forged[SESSION_TOKEN_LEN + 1];
    const auth_session *x = sessions_create(ss, "usr_a", "a@example.com", 0, "", 0, tok);
    memcpy(forged, tok, sizeof(tok));
    forged[10] = forged[10] == 'a' ? 'b' : 'a';
    assert_null(sessions_find(ss, forged, 1));
    assert_null(sessions_find(ss, "ahs_short", 1));
    assert_null(sessions_find(ss, NULL, 1));
    assert_true(sessions_csrf_ok(x, x->csrf));
    char bad[SESSION_CSRF_LEN + 1];
    memcpy(bad, x->csrf, sizeof(bad));
    bad[0] = bad[0] == '0' ? '1' : '0';
    assert_false(sessions_csrf_ok(x, bad));
    assert_false(sessions_csrf_ok(x, ""));
    assert_false(sessions_csrf_ok(x, NULL));
    sessions_free(ss);
}

static void test_a_users_sessions_end_together_and_only_theirs(void **s)
{
    (void)s;
    auth_sessions *ss = sessions_new(1800, 43200);
    char a1[SESSION_TOKEN_LEN + 1], a2[SESSION_TOKEN_LEN + 1], b[SESSION_TOKEN_LEN + 1];
    sessions_create(ss, "usr_a", "a@example.com", 0, "", 0, a1);
    sessions_create(ss, "usr_a", "a@example.com", 0, "", 0, a2);
    const auth_session *bs = sessions_create(ss, "usr_b", "b@example.com", 0, "", 0, b);
    char bid[17];
    memcpy(bid, bs->id, sizeof(bid));
    assert_false(sessions_end(ss, "usr_a", bid)); /* not a's to end */
    assert_int_equal(sessions_end_user(ss, "usr_a"), 2);
    assert_null(sessions_find(ss, a1, 1));
    assert_null(sessions_find(ss, a2, 1));
    assert_non_null(sessions_find(ss, b, 1));
    sessions_free(ss);
}

static void test_a_pending_challenge_expires_runs_out_of_tries_and_ends_when_used(void **s)
{
    (void)s;
    auth_sessions *ss = sessions_new(60, 600);
    char a[SESSION_TOKEN_LEN + 1], b[SESSION_TOKEN_LEN + 1];
    auth_challenge c;
    sessions_challenge_create(ss, "usr_a", "a@example.com", 3, 1000, a);
    sessions_challenge_create(ss, "usr_b", "b@example.com", 0, 1000, b);
    assert_memory_equal(a, "ahc_", 4);
    /* Not a session, and a session token is not a challenge. */
    assert_null(sessions_find(ss, a, 1000));
    assert_true(sessions_challenge_try(ss, a, 1001, &c));
    assert_string_equal(c.user_id, "usr_a");
    assert_int_equal(c.epoch, 3);
    /* Five tries in all. */
    for (int i = 1; i < SESSION_CHALLENGE_TRIES; i++)
        assert_true(sessions_challenge_try(ss, a, 1002, &c));
    assert_false(sessions_challenge_try(ss, a, 1003, &c));
    /* Expired after its time to live. */
    assert_true(sessions_challenge_try(ss, b, 1000 + SESSION_CHALLENGE_TTL_MS - 1, &c));
    assert_false(sessions_challenge_try(ss, b, 1000 + SESSION_CHALLENGE_TTL_MS, &c));
    /* Used: gone. */
    sessions_challenge_create(ss, "usr_a", "a@example.com", 3, 5000, a);
    sessions_challenge_end(ss, a);
    assert_false(sessions_challenge_try(ss, a, 5001, &c));
    assert_false(sessions_challenge_try(ss, "ahc_nonsense", 5001, &c));
    sessions_free(ss);
}

static void test_roles_that_need_a_second_factor(void **s)
{
    (void)s;
    auth_sessions *ss = sessions_new(60, 600);
    assert_false(sessions_2fa_required(ss, "admin"));
    sessions_require_2fa(ss, "admin, editor");
    assert_true(sessions_2fa_required(ss, "admin"));
    assert_true(sessions_2fa_required(ss, "editor"));
    assert_false(sessions_2fa_required(ss, "edit"));
    assert_false(sessions_2fa_required(ss, "viewer"));
    assert_false(sessions_2fa_required(ss, ""));
    sessions_free(ss);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_and_absolute_timeouts_end_a_session),
        cmocka_unit_test(test_forged_tokens_and_csrf_are_refused),
        cmocka_unit_test(test_a_users_sessions_end_together_and_only_theirs),
        cmocka_unit_test(test_a_pending_challenge_expires_runs_out_of_tries_and_ends_when_used),
        cmocka_unit_test(test_roles_that_need_a_second_factor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
