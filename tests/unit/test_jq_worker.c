/*
 * The jq worker's own parts, in this process: the cache of compiled
 * programs (LRU order, keys by text and variable names, compile messages
 * numbered as in the program) and the conversion of outputs (the byte
 * budget against the JSON actually sent, depth, UTF-8, numbers).
 */
#include "../../plugins/jq/jqw.h"
#include "../../plugins/jq/protocol.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void jqw_no_memory(void)
{
    fprintf(stderr, "jqw_no_memory called\n");
    abort();
}

static json_t *names(const char *a, const char *b)
{
    json_t *n = json_array();
    if (a) json_array_append_new(n, json_string(a));
    if (b) json_array_append_new(n, json_string(b));
    return n;
}

/* Run a cached program on [input, vars]; its first output as JSON text. */
static char *first_output(jqw_program *p, const char *input, const char *vars)
{
    jq_state *jq = jqw_program_state(p);
    assert_non_null(jq);
    jv in = jv_array_append(jv_array_append(jv_array(), jv_parse(input)), jv_parse(vars));
    jq_start(jq, in, 0);
    jv r = jq_next(jq);
    assert_true(jv_is_valid(r));
    jqw_budget b = {.bytes_left = 1 << 20};
    json_t *j = jqw_to_json(r, &b);
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    return s;
}

static void test_the_cache_evicts_the_least_recently_used_program(void **state)
{
    (void)state;
    jqw_cache *c = jqw_cache_new(2);
    jqw_program *a = jqw_cache_get(c, ".a", NULL);
    jqw_cache_get(c, ".b", NULL);
    assert_ptr_equal(jqw_cache_get(c, ".a", NULL), a); /* .a is now the newest */
    assert_int_equal(jqw_cache_hits(c), 1);
    jqw_cache_get(c, ".c", NULL); /* evicts .b */
    assert_int_equal(jqw_cache_size(c), 2);
    assert_ptr_equal(jqw_cache_get(c, ".a", NULL), a);
    assert_int_equal(jqw_cache_hits(c), 2);
    jqw_cache_get(c, ".b", NULL); /* compiled again: evicts .c */
    assert_int_equal(jqw_cache_hits(c), 2);
    jqw_cache_get(c, ".a", NULL);
    assert_int_equal(jqw_cache_hits(c), 3);
    jqw_cache_get(c, ".c", NULL);
    assert_int_equal(jqw_cache_hits(c), 3);
    assert_int_equal(jqw_cache_size(c), 2);
    jqw_cache_free(c);
}

static void test_variables_are_part_of_the_key_in_any_order_and_read_at_run_time(void **state)
{
    (void)state;
    jqw_cache *c = jqw_cache_new(8);
    json_t *ab = names("a", "b"), *ba = names("b", "a"), *a = names("a", NULL);
    jqw_program *p = jqw_cache_get(c, "[$a, $b, .x]", ab);
    assert_null(jqw_program_error(p));
    assert_ptr_equal(jqw_cache_get(c, "[$a, $b, .x]", ba), p);
    char *out = first_output(p, "{\"x\": 3}", "{\"a\": 1, \"b\": 2}");
    assert_string_equal(out, "[1,2,3]");
    free(out);
    out = first_output(p, "{\"x\": 6}", "{\"a\": 4, \"b\": 5}");
    assert_string_equal(out, "[4,5,6]");
    free(out);
    /* Other names, another entry: there $b is not defined. */
    jqw_program *q = jqw_cache_get(c, "[$a, $b, .x]", a);
    assert_true(q != p);
    assert_non_null(strstr(jqw_program_error(q), "$b is not defined"));
    json_decref(ab);
    json_decref(ba);
    json_decref(a);
    jqw_cache_free(c);
}

static void test_compile_messages_are_jqs_with_the_programs_own_line_numbers(void **state)
{
    (void)state;
    jqw_cache *c = jqw_cache_new(8);
    const char *m = jqw_program_error(jqw_cache_get(c, ".a |||", NULL));
    assert_string_equal(m, "syntax error, unexpected '|' (Unix shell quoting issues?) at "
                           "<top-level>, line 1:\n.a |||");
    m = jqw_program_error(jqw_cache_get(c, "1,\n2,\n3 | nope", NULL));
    assert_string_equal(m, "nope/0 is not defined at <top-level>, line 3:\n3 | nope");
    m = jqw_program_error(jqw_cache_get(c, "  \n ", NULL));
    assert_string_equal(m, "the expression is empty");
    /* Two errors, one line each; the count jq adds is left out. */
    m = jqw_program_error(jqw_cache_get(c, "foo, bar", NULL));
    assert_non_null(strstr(m, "foo/0 is not defined"));
    assert_non_null(strstr(m, "\nbar/0 is not defined"));
    assert_null(strstr(m, "compile error"));
    jqw_cache_free(c);
}

/* The budget charged for x equals the compact JSON the host receives. */
static void assert_exact_budget(const char *jq_json)
{
    jqw_budget b = {.bytes_left = 1 << 20};
    json_t *j = jqw_to_json(jv_parse(jq_json), &b);
    assert_non_null(j);
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if ((size_t)(1 << 20) - b.bytes_left != strlen(s))
        fail_msg("%s: charged %zu, sent %zu (%s)", jq_json, (size_t)(1 << 20) - b.bytes_left,
                 strlen(s), s);
    free(s);
    json_decref(j);
}

static void test_the_output_budget_counts_the_json_sent(void **state)
{
    (void)state;
    assert_exact_budget("{\"a\": [1, 2, {\"b\": null}], \"c\": \"x\\\"y\\n\\u0001\", \"d\": true}");
    assert_exact_budget("[[], {}, [[]], \"\", -12, 0, false]");
    assert_exact_budget("{\"k\\ty\": \"é€\"}");
    /* A string past the budget is refused before it is copied. */
    jqw_budget b = {.bytes_left = 10};
    assert_null(jqw_to_json(jv_string("0123456789"), &b));
    assert_non_null(strstr(b.why, "max_output_bytes"));
    b = (jqw_budget){.bytes_left = 12};
    json_t *j = jqw_to_json(jv_string("0123456789"), &b);
    assert_non_null(j);
    assert_int_equal(b.bytes_left, 0);
    json_decref(j);
}

static void test_outputs_are_bounded_in_depth_and_made_valid_json(void **state)
{
    (void)state;
    jv deep = jv_number(0);
    for (int i = 0; i < JQ_MAX_OUTPUT_DEPTH; i++)
        deep = jv_array_append(jv_array(), deep);
    jqw_budget b = {.bytes_left = 1 << 20};
    assert_null(jqw_to_json(deep, &b)); /* 513 levels with the number */
    assert_non_null(strstr(b.why, "deeper than 512"));
    jv ok = jv_number(0);
    for (int i = 0; i < JQ_MAX_OUTPUT_DEPTH - 1; i++)
        ok = jv_array_append(jv_array(), ok);
    b = (jqw_budget){.bytes_left = 1 << 20};
    json_t *j = jqw_to_json(ok, &b);
    assert_non_null(j);
    json_decref(j);

    /* Each byte that is not valid UTF-8 (here a surrogate's, a stray
     * continuation and a truncated sequence) becomes U+FFFD. */
    j = jqw_json_string("a\xED\xA0\x80z\x80\xE2\x82", 8);
    assert_non_null(j);
    assert_string_equal(json_string_value(j), "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDz"
                                              "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    json_decref(j);
    j = jqw_json_string("\xE2\x82\xAC\0x", 5); /* valid, NUL included: kept as is */
    assert_int_equal(json_string_length(j), 5);
    json_decref(j);

    b = (jqw_budget){.bytes_left = 1 << 20};
    j = jqw_to_json(jv_parse("[1, 2.5, 9007199254740992, 1e300]"), &b);
    assert_true(json_is_integer(json_array_get(j, 0)));
    assert_true(json_is_real(json_array_get(j, 1)));
    assert_true(json_is_real(json_array_get(j, 2))); /* 2^53: not exact as an integer */
    assert_true(json_is_real(json_array_get(j, 3)));
    json_decref(j);
}

static void test_variable_names_are_identifiers_that_jq_accepts(void **state)
{
    (void)state;
    static const char *const good[] = {"a", "age", "_x", "A1_b", "min"};
    static const char *const bad[] = {"",   "1a",     "a-b",     "__ah_in", "__x",
                                      "if", "reduce", "__loc__", "a b",     "é"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(jq_var_name_ok(good[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(jq_var_name_ok(bad[i]));
    char longest[JQ_VAR_NAME_MAX + 2];
    memset(longest, 'v', sizeof(longest));
    longest[JQ_VAR_NAME_MAX] = 0;
    assert_true(jq_var_name_ok(longest));
    longest[JQ_VAR_NAME_MAX] = 'v';
    longest[JQ_VAR_NAME_MAX + 1] = 0;
    assert_false(jq_var_name_ok(longest));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_cache_evicts_the_least_recently_used_program),
        cmocka_unit_test(test_variables_are_part_of_the_key_in_any_order_and_read_at_run_time),
        cmocka_unit_test(test_compile_messages_are_jqs_with_the_programs_own_line_numbers),
        cmocka_unit_test(test_the_output_budget_counts_the_json_sent),
        cmocka_unit_test(test_outputs_are_bounded_in_depth_and_made_valid_json),
        cmocka_unit_test(test_variable_names_are_identifiers_that_jq_accepts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
