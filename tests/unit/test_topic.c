#include "cmocka_pre.h"

#include "core/topic.h"

#include <stdlib.h>
#include <string.h>

/* The checker as it was (token by token, with strchr): the reference the
 * one-pass checker must agree with on every name. */
static bool ref_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static bool ref_check(const char *s, bool wildcards, bool allow_reserved)
{
    size_t n = strlen(s);
    if (n == 0 || n > TOPIC_MAX) return false;
    const char *p = s;
    if (*p == '$') {
        if (!allow_reserved) return false;
        p++;
    }
    for (;;) {
        const char *end = strchr(p, '.');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0) return false;
        if (wildcards && len == 1 && (*p == '*' || *p == '>')) {
            if (*p == '>' && end) return false;
        } else {
            for (size_t i = 0; i < len; i++)
                if (!ref_token_char(p[i])) return false;
        }
        if (!end) return true;
        p = end + 1;
    }
}

/* Random names over an alphabet of the characters that matter (dots,
 * wildcards, '$', a space, a byte >= 0x80), at lengths around TOPIC_MAX. */
static void test_one_pass_check_agrees_with_the_reference(void **s)
{
    (void)s;
    static const char alpha[] = "ab.*>$- \x80_Z9";
    unsigned seed = 12345;
    char name[TOPIC_MAX + 8];
    for (int round = 0; round < 200000; round++) {
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 8) % 8;
        if (round % 50 == 0) len = TOPIC_MAX - 2 + (seed >> 4) % 5; /* at the limit */
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            name[i] = alpha[(seed >> 16) % (sizeof(alpha) - 1)];
        }
        name[len] = 0;
        if (round % 50 == 0)
            for (size_t i = 0; i < len; i++)
                if (name[i] != '.') name[i] = 'a';
        assert_int_equal(topic_valid(name, false), ref_check(name, false, false));
        assert_int_equal(topic_valid(name, true), ref_check(name, false, true));
        assert_int_equal(topic_pattern_valid(name), ref_check(name, true, true));
    }
}

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
        cmocka_unit_test(test_one_pass_check_agrees_with_the_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
