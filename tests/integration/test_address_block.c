/*
 * Automatic blocking of an address through the real binary: after
 * http.block_after unauthorised requests (bad tokens, forged session
 * cookies) the client's address gets 403 address_blocked with Retry-After
 * on every route, even with a good token, and a line in security.log; the
 * address is the client's from a trusted proxy's X-Forwarded-For, so other
 * clients of the same proxy go on; the block expires.
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
#include <unistd.h>

static th_host H;

static int setup(void **s)
{
    (void)s;
    if (th_init(&H, "address-block") ||
        th_config(&H, "{\"http\": {\"trusted_proxies\": \"127.0.0.1, ::1\", \"auth_fail_limit\": "
                      "1000, \"block_after\": 5, \"block_window_s\": 600, \"block_for_s\": 2}, "
                      "\"instances\": []}") ||
        th_make_token(&H))
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

/* GET path as client ip (X-Forwarded-For through the trusted proxy) with
 * an Authorization or Cookie header (may be NULL); headers into rh. */
static int as(const char *ip, const char *cred, const char *path, char **rh)
{
    char xff[80];
    snprintf(xff, sizeof(xff), "X-Forwarded-For: %s", ip);
    const char *hs[] = {xff, cred, NULL};
    return th_http_raw(&H, "GET", path, NULL, NULL, 0, hs, rh, NULL);
}

static void test_repeated_unauthorised_requests_block_the_client_address_until_expiry(void **s)
{
    (void)s;
    char good[200];
    snprintf(good, sizeof(good), "Authorization: Bearer %s", H.token);
    const char *bad = "Authorization: Bearer ah_not-a-token";
    const char *forged =
        "Cookie: ah_session=ahs_0000000000000000000000000000000000000000000000000000000000000000";
    /* A good token is fine; four failures do not block. */
    assert_int_equal(as("203.0.113.9", good, "/api/v1/agents", NULL), 200);
    for (int i = 0; i < 2; i++)
        assert_int_equal(as("203.0.113.9", bad, "/api/v1/agents", NULL), 401);
    for (int i = 0; i < 2; i++)
        assert_int_equal(as("203.0.113.9", forged, "/api/v1/agents", NULL), 401);
    assert_int_equal(as("203.0.113.9", good, "/api/v1/agents", NULL), 200);
    assert_false(th_file_contains(&H, "logs/security.log", "address_blocked"));
    /* The fifth blocks: every route, any credential, with Retry-After. */
    assert_int_equal(as("203.0.113.9", bad, "/api/v1/agents", NULL), 401);
    char *rh = NULL;
    assert_int_equal(as("203.0.113.9", good, "/api/v1/agents", &rh), 403);
    assert_non_null(strcasestr(rh, "Retry-After: "));
    free(rh);
    assert_int_equal(as("203.0.113.9", NULL, "/health", NULL), 403);
    assert_true(th_wait_file(&H, "logs/security.log", "address_blocked", 3000));
    assert_true(th_file_contains(&H, "logs/security.log", "203.0.113.9"));
    /* Another client behind the same proxy is not blocked. */
    assert_int_equal(as("198.51.100.7", good, "/api/v1/agents", NULL), 200);
    /* The block expires (block_for_s: 2). */
    int st = 403;
    for (int i = 0; i < 100 && st == 403; i++) {
        usleep(100 * 1000);
        st = as("203.0.113.9", good, "/api/v1/agents", NULL);
    }
    assert_int_equal(st, 200);
}

static void test_a_block_outlives_a_restart(void **s)
{
    (void)s;
    /* An hour's block this time: it cannot expire while the host restarts. */
    assert_int_equal(th_stop_clean(&H, 10000), 0);
    assert_int_equal(
        th_config(&H, "{\"http\": {\"trusted_proxies\": \"127.0.0.1, ::1\", \"auth_fail_limit\": "
                      "1000, \"block_after\": 5, \"block_window_s\": 600, \"block_for_s\": 3600}, "
                      "\"instances\": []}"),
        0);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    char good[200];
    snprintf(good, sizeof(good), "Authorization: Bearer %s", H.token);
    const char *bad = "Authorization: Bearer ah_not-a-token";
    for (int i = 0; i < 5; i++)
        assert_int_equal(as("192.0.2.44", bad, "/api/v1/agents", NULL), 401);
    assert_int_equal(as("192.0.2.44", good, "/api/v1/agents", NULL), 403);
    assert_int_equal(th_stop_clean(&H, 10000), 0);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    /* Still blocked after the restart, with what is left of the hour. */
    char *rh = NULL;
    assert_int_equal(as("192.0.2.44", good, "/api/v1/agents", &rh), 403);
    const char *ra = strcasestr(rh, "Retry-After: ");
    assert_non_null(ra);
    long left = strtol(ra + 13, NULL, 10);
    assert_true(left > 0 && left <= 3600);
    free(rh);
    /* Others are not. */
    assert_int_equal(as("198.51.100.7", good, "/api/v1/agents", NULL), 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeated_unauthorised_requests_block_the_client_address_until_expiry),
        cmocka_unit_test(test_a_block_outlives_a_restart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
