/* Backoff, Retry-After and circuit breakers (host/broker/resilience.c). */
#include "cmocka_pre.h"

#include "broker/resilience.h"

#include <stdint.h>
#include <string.h>

static void test_backoff_doubles_with_jitter_within_its_cap(void **s)
{
    (void)s;
    /* rnd 0 gives the lower half, UINT32_MAX the full delay. */
    assert_int_equal(backoff_delay_ms(1, 100, 5000, 0), 50);
    assert_int_equal(backoff_delay_ms(1, 100, 5000, UINT32_MAX), 100);
    assert_int_equal(backoff_delay_ms(2, 100, 5000, UINT32_MAX), 200);
    assert_int_equal(backoff_delay_ms(3, 100, 5000, UINT32_MAX), 400);
    assert_int_equal(backoff_delay_ms(10, 100, 5000, UINT32_MAX), 5000);
    assert_int_equal(backoff_delay_ms(40, 100, 5000, 0), 2500);
    for (uint32_t r = 0; r < 1000; r++) {
        uint32_t d = backoff_delay_ms(2, 100, 5000, r * 4294967u);
        assert_true(d >= 100 && d <= 200);
    }
}

static void test_retry_after_reads_seconds_and_http_dates(void **s)
{
    (void)s;
    assert_int_equal(retry_after_ms("2", 0), 2000);
    assert_int_equal(retry_after_ms(" 0 ", 0), 0);
    /* Sun, 06 Nov 1994 08:49:37 GMT = 784111777 */
    assert_int_equal(retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 784111770000LL), 7000);
    assert_int_equal(retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 784111790000LL), 0);
    assert_int_equal(retry_after_ms("soon", 0), -1);
    assert_int_equal(retry_after_ms("-5", 0), -1);
    assert_int_equal(retry_after_ms("5s", 0), -1);
    assert_int_equal(retry_after_ms("", 0), -1);
    assert_int_equal(retry_after_ms(NULL, 0), -1);
}

typedef struct changes {
    int n;
    breaker_state last;
} changes;

static void on_change(void *ud, const char *key, breaker_state from, breaker_state to,
                      uint32_t failures)
{
    (void)key;
    (void)from;
    (void)failures;
    changes *c = ud;
    c->n++;
    c->last = to;
}

static void test_breaker_opens_at_threshold_and_fails_fast(void **s)
{
    (void)s;
    changes c = {0};
    breaker_table *t = breaker_table_new(3, 1000, on_change, &c);
    const char *k = "api.example.com:443";
    for (int i = 0; i < 2; i++) {
        assert_int_equal(breaker_allow(t, k, 0, NULL), BREAKER_ALLOW);
        breaker_failure(t, k, false, 0);
    }
    assert_int_equal(breaker_get(t, k), BREAKER_CLOSED);
    /* A success in between resets the count. */
    breaker_success(t, k, false);
    for (int i = 0; i < 2; i++)
        breaker_failure(t, k, false, 0);
    assert_int_equal(breaker_get(t, k), BREAKER_CLOSED);
    breaker_failure(t, k, false, 100);
    assert_int_equal(breaker_get(t, k), BREAKER_OPEN);
    assert_int_equal(c.n, 1);
    uint64_t in = 0;
    assert_int_equal(breaker_allow(t, k, 600, &in), BREAKER_DENY);
    assert_int_equal(in, 500);
    /* Other destinations are not affected. */
    assert_int_equal(breaker_allow(t, "other:443", 600, NULL), BREAKER_ALLOW);
    breaker_table_free(t);
}

static void test_half_open_lets_one_probe_through_which_decides(void **s)
{
    (void)s;
    changes c = {0};
    breaker_table *t = breaker_table_new(1, 1000, on_change, &c);
    const char *k = "h:1";
    breaker_allow(t, k, 0, NULL);
    breaker_failure(t, k, false, 0);
    assert_int_equal(breaker_get(t, k), BREAKER_OPEN);
    /* After the cooldown: one probe, the rest still fail fast. */
    assert_int_equal(breaker_allow(t, k, 1000, NULL), BREAKER_ALLOW_PROBE);
    assert_int_equal(breaker_get(t, k), BREAKER_HALF_OPEN);
    assert_int_equal(breaker_allow(t, k, 1001, NULL), BREAKER_DENY);
    /* The probe fails: open again for a full cooldown. */
    breaker_failure(t, k, true, 1100);
    assert_int_equal(breaker_get(t, k), BREAKER_OPEN);
    assert_int_equal(breaker_allow(t, k, 2000, NULL), BREAKER_DENY);
    assert_int_equal(breaker_allow(t, k, 2100, NULL), BREAKER_ALLOW_PROBE);
    /* An abandoned probe (a policy refusal) lets another one go. */
    breaker_abandon(t, k, true);
    assert_int_equal(breaker_allow(t, k, 2101, NULL), BREAKER_ALLOW_PROBE);
    breaker_success(t, k, true);
    assert_int_equal(breaker_get(t, k), BREAKER_CLOSED);
    assert_int_equal(c.last, BREAKER_CLOSED);
    json_t *j = breaker_table_json(t, 3000);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, k), "state")),
                        "closed");
    json_decref(j);
    breaker_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_doubles_with_jitter_within_its_cap),
        cmocka_unit_test(test_retry_after_reads_seconds_and_http_dates),
        cmocka_unit_test(test_breaker_opens_at_threshold_and_fails_fast),
        cmocka_unit_test(test_half_open_lets_one_probe_through_which_decides),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
