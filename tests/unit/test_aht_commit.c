/*
 * The SDK's fake host keeps host->commit's promises (ABI 1.6, ADR 0059),
 * driven through echo, which republishes with it: the republish and the
 * settle complete together; a refused commit (an undeclared topic, more
 * than 1,000 events) publishes nothing and leaves the event nacked (the
 * host would deliver it again), never acked.
 */
#include <agenthost/testing.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <string.h>

extern const ah_plugin agenthost_plugin;

static void a_commit_publishes_and_acks_together(void **s)
{
    (void)s;
    aht *t = aht_new(&agenthost_plugin, "echo-test");
    assert_int_equal(aht_init(t, NULL), AH_OK);
    assert_true(aht_event(t, "echo.in", "{\"n\": 1}", "k1") > 0);
    /* Nothing settles inside the call: only once the commit completes. */
    assert_int_equal(aht_acked(t), 0);
    aht_run(t);
    assert_int_equal(aht_acked(t), 1);
    assert_int_equal(aht_nacked(t), 0);
    const json_t *p = aht_published(t);
    assert_int_equal(json_array_size(p), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(p, 0), "topic")),
                        "echo.out");
    assert_string_equal(json_string_value(json_object_get(json_array_get(p, 0), "key")), "k1");
    aht_free(t);
}

static void a_refused_commit_publishes_nothing_and_nacks(void **s)
{
    (void)s;
    aht *t = aht_new(&agenthost_plugin, "echo-test");
    aht_deny_topics(t, "echo.out");
    assert_int_equal(aht_init(t, NULL), AH_OK);
    assert_true(aht_event(t, "echo.in", "{\"n\": 1}", NULL) > 0);
    aht_run(t);
    assert_int_equal(aht_acked(t), 0);
    assert_int_equal(aht_nacked(t), 1);
    assert_int_equal(json_array_size(aht_published(t)), 0);
    aht_free(t);
}

static void an_oversized_commit_publishes_nothing_and_nacks(void **s)
{
    (void)s;
    aht *t = aht_new(&agenthost_plugin, "echo-test");
    assert_int_equal(aht_init(t, "{\"diagnostics\": true}"), AH_OK);
    assert_true(aht_event(t, "echo.in", "{\"commit_topic\": \"echo.out\", \"commit_count\": 1001}",
                          NULL) > 0);
    aht_run(t);
    assert_int_equal(aht_acked(t), 0);
    assert_int_equal(aht_nacked(t), 1);
    assert_int_equal(json_array_size(aht_published(t)), 0);
    /* 1,000 is allowed, all in one. */
    assert_true(aht_event(t, "echo.in", "{\"commit_topic\": \"echo.out\", \"commit_count\": 1000}",
                          NULL) > 0);
    aht_run(t);
    assert_int_equal(aht_acked(t), 1);
    assert_int_equal(json_array_size(aht_published(t)), 1000);
    aht_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_commit_publishes_and_acks_together),
        cmocka_unit_test(a_refused_commit_publishes_nothing_and_nacks),
        cmocka_unit_test(an_oversized_commit_publishes_nothing_and_nacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
