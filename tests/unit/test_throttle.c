#include "cmocka_pre.h"

#include "core/throttle.h"

static void test_a_key_is_throttled_at_the_limit_until_its_window_ends(void **s)
{
    (void)s;
    throttle *t = throttle_new(8, 3, 60000);
    assert_non_null(t);
    assert_int_equal(throttle_wait_s(t, "10.0.0.1", 1000), 0);
    assert_int_equal(throttle_fail(t, "10.0.0.1", 1000), 1);
    assert_int_equal(throttle_fail(t, "10.0.0.1", 2000), 2);
    assert_int_equal(throttle_wait_s(t, "10.0.0.1", 2000), 0);
    assert_int_equal(throttle_fail(t, "10.0.0.1", 3000), 3);
    /* The window runs from 1000 to 61000 ms: 58 s left at 3000. */
    assert_int_equal(throttle_wait_s(t, "10.0.0.1", 3000), 58);
    assert_int_equal(throttle_wait_s(t, "10.0.0.1", 60500), 1);
    /* Other keys are not affected. */
    assert_int_equal(throttle_wait_s(t, "10.0.0.2", 3000), 0);
    /* At the window's end the key starts afresh. */
    assert_int_equal(throttle_wait_s(t, "10.0.0.1", 61000), 0);
    assert_int_equal(throttle_fail(t, "10.0.0.1", 61000), 1);
    throttle_free(t);
}

static void test_a_full_table_gives_up_the_oldest_key(void **s)
{
    (void)s;
    throttle *t = throttle_new(2, 1, 60000);
    throttle_fail(t, "a", 100);
    throttle_fail(t, "b", 200);
    assert_true(throttle_wait_s(t, "a", 300) > 0);
    throttle_fail(t, "c", 300); /* takes a's slot */
    assert_int_equal(throttle_wait_s(t, "a", 300), 0);
    assert_true(throttle_wait_s(t, "b", 300) > 0);
    assert_true(throttle_wait_s(t, "c", 300) > 0);
    throttle_free(t);
}

/* The table answers an empty lookup without a scan: what it holds must
 * still be found after windows end and slots are freed and taken again. */
static void test_keys_are_found_after_their_slots_are_freed_and_taken_again(void **s)
{
    (void)s;
    throttle *t = throttle_new(4, 1, 60000);
    assert_int_equal(throttle_wait_s(t, "a", 100), 0); /* an empty table */
    assert_int_equal(throttle_fail(t, "a", 100), 1);
    assert_int_equal(throttle_fail(t, "b", 200), 1);
    assert_true(throttle_wait_s(t, "a", 300) > 0);
    /* Both windows end; a lookup frees both slots. */
    assert_int_equal(throttle_wait_s(t, "a", 60300), 0);
    assert_int_equal(throttle_wait_s(t, "b", 60300), 0);
    /* Taken again: each key is throttled at once (limit 1). */
    assert_int_equal(throttle_fail(t, "b", 60400), 1);
    assert_true(throttle_wait_s(t, "b", 60400) > 0);
    assert_int_equal(throttle_wait_s(t, "a", 60400), 0);
    assert_int_equal(throttle_fail(t, "a", 60500), 1);
    assert_true(throttle_wait_s(t, "a", 60500) > 0);
    throttle_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_key_is_throttled_at_the_limit_until_its_window_ends),
        cmocka_unit_test(test_a_full_table_gives_up_the_oldest_key),
        cmocka_unit_test(test_keys_are_found_after_their_slots_are_freed_and_taken_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
