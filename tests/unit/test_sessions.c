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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_and_absolute_timeouts_end_a_session),
        cmocka_unit_test(test_forged_tokens_and_csrf_are_refused),
        cmocka_unit_test(test_a_users_sessions_end_together_and_only_theirs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
