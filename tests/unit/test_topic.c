#include "cmocka_pre.h"

#include "core/topic.h"

static void test_topic_names(void **s)
{
    (void)s;
    assert_true(topic_valid("message.in", false));
    assert_true(topic_valid("a", false));
    assert_false(topic_valid("", false));
    assert_false(topic_valid("a..b", false));
    assert_false(topic_valid(".a", false));
    assert_false(topic_valid("a.*", false));
    assert_false(topic_valid("$dlq.a", false));
    assert_true(topic_valid("$dlq.a", true));
    assert_false(topic_valid("a b", false));
}

static void test_patterns_and_matching(void **s)
{
    (void)s;
    assert_true(topic_pattern_valid("message.*"));
    assert_true(topic_pattern_valid("crm.>"));
    assert_false(topic_pattern_valid("crm.>.x"));
    assert_true(topic_matches("message.*", "message.in"));
    assert_false(topic_matches("message.*", "message.in.x"));
    assert_false(topic_matches("message.*", "message"));
    assert_true(topic_matches("message.>", "message.in.x"));
    assert_true(topic_matches("message.>", "message.in"));
    assert_false(topic_matches("message.>", "message"));
    assert_true(topic_matches("*.in", "message.in"));
    assert_true(topic_matches("message.in", "message.in"));
    assert_false(topic_matches("message.in", "message.out"));
    assert_true(topic_matches(">", "anything.at.all"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_names),
        cmocka_unit_test(test_patterns_and_matching),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
