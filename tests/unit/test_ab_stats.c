/*
 * The A/B test's statistics (model/ab_stats.h) against values computed by
 * hand: the two-proportion z-test (pooled standard error, two-sided p from
 * the normal table), its edge cases (a variant with no conversations,
 * both at 0%, both at 100%, 0% against 100%, more completions than starts),
 * and the report built from an experiment's counters (rates, mean time to
 * completion, drop-off per step ordered by where most stopped).
 */
#include "model/ab_stats.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#define NEAR(a, b, eps) assert_true(fabs((a) - (b)) <= (eps))

static void test_the_z_test_matches_the_hand_computed_value(void **s)
{
    (void)s;
    /* 45/100 against 60/100: pooled p = 105/200 = 0.525; SE = sqrt(0.525 *
     * 0.475 * (1/100 + 1/100)) = sqrt(0.0049875) = 0.070622; z = 0.15 /
     * 0.070622 = 2.1240; the normal table gives P(|Z| > 2.124) = 0.0337. */
    ab_ztest z = ab_ztest_of(45, 100, 60, 100);
    assert_true(z.defined);
    NEAR(z.p1, 0.45, 1e-12);
    NEAR(z.p2, 0.60, 1e-12);
    NEAR(z.diff, 0.15, 1e-12);
    NEAR(z.z, 2.1240, 1e-4);
    NEAR(z.p_value, 0.0337, 1e-4);
    /* The other way round: z changes sign, p does not. */
    ab_ztest r = ab_ztest_of(60, 100, 45, 100);
    NEAR(r.z, -2.1240, 1e-4);
    NEAR(r.p_value, z.p_value, 1e-12);
    /* Unequal samples: 30/200 against 18/150: pooled 48/350 = 0.137143;
     * SE = sqrt(0.137143 * 0.862857 * (1/200 + 1/150)) = 0.037157;
     * z = (0.12 - 0.15) / 0.037157 = -0.8074; p = 0.4194. */
    z = ab_ztest_of(30, 200, 18, 150);
    NEAR(z.z, -0.8074, 1e-4);
    NEAR(z.p_value, 0.4194, 1e-4);
}

static void test_a_variant_without_conversations_has_no_test(void **s)
{
    (void)s;
    ab_ztest z = ab_ztest_of(0, 0, 5, 10);
    assert_false(z.defined);
    NEAR(z.p1, 0, 0);
    NEAR(z.p2, 0.5, 1e-12);
    z = ab_ztest_of(0, 0, 0, 0);
    assert_false(z.defined);
}

static void test_both_at_zero_or_both_at_one_hundred_show_no_difference(void **s)
{
    (void)s;
    ab_ztest z = ab_ztest_of(0, 40, 0, 25);
    assert_true(z.defined);
    NEAR(z.z, 0, 0);
    NEAR(z.p_value, 1, 0);
    z = ab_ztest_of(40, 40, 25, 25);
    assert_true(z.defined);
    NEAR(z.z, 0, 0);
    NEAR(z.p_value, 1, 0);
    /* 0% against 100%, ten each: pooled 0.5, SE = sqrt(0.25 * 0.2) =
     * 0.223607, z = 4.4721, p = 7.74e-6. */
    z = ab_ztest_of(0, 10, 10, 10);
    NEAR(z.z, 4.4721, 1e-4);
    NEAR(z.p_value, 7.74e-6, 1e-7);
    /* More completions than starts (never counted so, but bounded): 100%. */
    z = ab_ztest_of(12, 10, 10, 10);
    NEAR(z.p1, 1, 0);
    NEAR(z.p_value, 1, 0);
}

static void test_the_report_gives_rates_times_drop_off_and_the_comparison(void **s)
{
    (void)s;
    json_t *e = json_loads(
        "{\"goal\": [\"completed\"], \"split\": [{\"version\": 1, \"percent\": 50},"
        " {\"version\": 2, \"percent\": 50}], \"variants\": {"
        " \"1\": {\"starts\": 100, \"ended\": 50, \"completed\": 45, \"completion_ms_sum\": 90000,"
        "       \"errors\": 2, \"outcomes\": {\"completed\": 45, \"declined\": 5},"
        "       \"steps\": {\"ask\": {\"reached\": 100, \"stopped\": 40},"
        "                   \"confirm\": {\"reached\": 60, \"stopped\": 15}}},"
        " \"2\": {\"starts\": 100, \"ended\": 60, \"completed\": 60, \"completion_ms_sum\": "
        "60000}}}",
        0, NULL);
    assert_non_null(e);
    json_t *r = ab_stats_report(e);
    json_t *v1 = json_array_get(json_object_get(r, "variants"), 0);
    assert_int_equal(json_integer_value(json_object_get(v1, "version")), 1);
    NEAR(json_real_value(json_object_get(v1, "completion_rate")), 0.45, 1e-12);
    NEAR(json_real_value(json_object_get(v1, "mean_completion_ms")), 2000, 1e-9);
    assert_int_equal(json_integer_value(json_object_get(v1, "in_progress")), 50);
    assert_int_equal(json_integer_value(json_object_get(v1, "errors")), 2);
    json_t *drop = json_object_get(v1, "drop_off");
    assert_string_equal(json_string_value(json_object_get(json_array_get(drop, 0), "step")), "ask");
    NEAR(json_real_value(json_object_get(json_array_get(drop, 0), "rate")), 0.4, 1e-12);
    NEAR(json_real_value(json_object_get(json_array_get(drop, 1), "rate")), 0.25, 1e-12);
    json_t *v2 = json_array_get(json_object_get(r, "variants"), 1);
    NEAR(json_real_value(json_object_get(v2, "mean_completion_ms")), 1000, 1e-9);
    json_t *c = json_array_get(json_object_get(r, "comparisons"), 0);
    assert_int_equal(json_integer_value(json_object_get(c, "n_control")), 100);
    assert_int_equal(json_integer_value(json_object_get(c, "n_variant")), 100);
    NEAR(json_real_value(json_object_get(c, "z")), 2.1240, 1e-4);
    NEAR(json_real_value(json_object_get(c, "p_value")), 0.0337, 1e-4);
    assert_true(json_is_true(json_object_get(c, "significant")));
    json_decref(r);
    /* No conversations yet: rates and means are null, the test is not made. */
    json_object_set_new(e, "variants", json_object());
    r = ab_stats_report(e);
    v1 = json_array_get(json_object_get(r, "variants"), 0);
    assert_true(json_is_null(json_object_get(v1, "completion_rate")));
    assert_true(json_is_null(json_object_get(v1, "mean_completion_ms")));
    c = json_array_get(json_object_get(r, "comparisons"), 0);
    assert_true(json_is_null(json_object_get(c, "p_value")));
    assert_false(json_is_true(json_object_get(c, "significant")));
    json_decref(r);
    json_decref(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_z_test_matches_the_hand_computed_value),
        cmocka_unit_test(test_a_variant_without_conversations_has_no_test),
        cmocka_unit_test(test_both_at_zero_or_both_at_one_hundred_show_no_difference),
        cmocka_unit_test(test_the_report_gives_rates_times_drop_off_and_the_comparison),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
