#include "cmocka_pre.h"

#include "core/jsonschema.h"

#include <string.h>

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &e);
    if (!j) fail_msg("bad test JSON: %s: %s", s, e.text);
    return j;
}

/* Validate and return the error text ("" when valid). */
static const char *check(const char *schema, const char *value)
{
    static char err[512];
    json_t *s = J(schema), *v = J(value);
    err[0] = 0;
    jsonschema_validate(s, v, err, sizeof(err));
    json_decref(s);
    json_decref(v);
    return err;
}

static void test_types_name_the_path_and_the_value(void **st)
{
    (void)st;
    const char *schema = "{\"type\":\"object\",\"properties\":{\"limits\":{\"type\":\"object\","
                         "\"properties\":{\"memory_mb\":{\"type\":\"integer\"}}}}}";
    assert_string_equal(check(schema, "{\"limits\":{\"memory_mb\":64}}"), "");
    assert_string_equal(check(schema, "{\"limits\":{\"memory_mb\":\"lots\"}}"),
                        "limits.memory_mb: expected integer, got \"lots\"");
    assert_string_equal(check(schema, "{\"limits\":{\"memory_mb\":64.0}}"), "");
    assert_string_equal(check(schema, "{\"limits\":{\"memory_mb\":64.5}}"),
                        "limits.memory_mb: expected integer, got 64.5");
    assert_string_equal(check("{\"type\":[\"string\",\"null\"]}", "3"),
                        "(root): expected string or null, got 3");
}

static void test_required_unknown_and_array_paths(void **st)
{
    (void)st;
    const char *schema =
        "{\"type\":\"object\",\"properties\":{\"actions\":{\"type\":\"array\","
        "\"items\":{\"type\":\"object\",\"required\":[\"name\"],"
        "\"additionalProperties\":false,\"properties\":{\"name\":{\"type\":\"string\"}}}}}}";
    assert_string_equal(check(schema, "{\"actions\":[{\"name\":\"a\"},{}]}"),
                        "actions[1].name: required field missing");
    assert_string_equal(check(schema, "{\"actions\":[{\"name\":\"a\",\"x\":1}]}"),
                        "actions[0].x: unknown field");
}

static void test_strings_numbers_enums(void **st)
{
    (void)st;
    assert_string_equal(check("{\"type\":\"string\",\"minLength\":2}", "\"я\""),
                        "(root): shorter than 2 characters");
    assert_string_equal(check("{\"type\":\"string\",\"maxLength\":2}", "\"яя\""), "");
    assert_string_equal(check("{\"pattern\":\"^[a-z]+$\"}", "\"abc\""), "");
    assert_string_equal(check("{\"pattern\":\"^[a-z]+$\"}", "\"ab1\""),
                        "(root): \"ab1\" does not match the pattern ^[a-z]+$");
    assert_string_equal(check("{\"minimum\":1,\"maximum\":10}", "11"),
                        "(root): must be at most 10");
    assert_string_equal(check("{\"exclusiveMinimum\":0}", "0"), "(root): must be greater than 0");
    assert_string_equal(check("{\"enum\":[\"a\",\"b\"]}", "\"c\""),
                        "(root): \"c\" is not one of \"a\", \"b\"");
    assert_string_equal(check("{\"const\":5}", "5"), "");
    assert_string_equal(check("{\"type\":\"array\",\"uniqueItems\":true}", "[1,2,1]"),
                        "[2]: duplicate item");
}

static void test_combinators_and_refs(void **st)
{
    (void)st;
    const char *schema = "{\"$defs\":{\"pos\":{\"type\":\"integer\",\"minimum\":1}},"
                         "\"type\":\"object\",\"properties\":{\"n\":{\"$ref\":\"#/$defs/pos\"}}}";
    assert_string_equal(check(schema, "{\"n\":3}"), "");
    assert_string_equal(check(schema, "{\"n\":0}"), "n: must be at least 1");
    assert_string_equal(check("{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", "1"),
                        "");
    assert_string_equal(check("{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":0}]}", "1"),
                        "(root): matches more than one of the exclusive forms");
    assert_string_equal(check("{\"not\":{\"type\":\"null\"}}", "null"),
                        "(root): matches a form that is not allowed");
    assert_string_equal(check("false", "1"), "(root): not allowed here");
}

static void test_deep_nesting_is_bounded(void **st)
{
    (void)st;
    char schema[8192] = "", value[8192] = "";
    for (int i = 0; i < 100; i++) {
        strcat(schema, "{\"items\":");
        strcat(value, "[");
    }
    strcat(schema, "true");
    for (int i = 0; i < 100; i++) {
        strcat(schema, "}");
        strcat(value, "]");
    }
    assert_non_null(strstr(check(schema, value), "nested too deeply"));
}

static void test_schema_check_and_defaults(void **st)
{
    (void)st;
    char err[256];
    json_t *bad = J("{\"type\":\"strin\"}");
    assert_int_equal(jsonschema_check(bad, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown type"));
    json_decref(bad);
    bad = J("{\"properties\":{\"a\":{\"pattern\":\"(\"}}}");
    assert_int_equal(jsonschema_check(bad, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "properties.a"));
    json_decref(bad);
    json_t *s = J("{\"properties\":{\"a\":{\"default\":1},\"o\":{\"properties\":{\"b\":{"
                  "\"default\":\"x\"}}}}}");
    json_t *v = J("{\"o\":{}}");
    jsonschema_apply_defaults(s, v);
    assert_int_equal(json_integer_value(json_object_get(v, "a")), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "o"), "b")), "x");
    json_decref(s);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_name_the_path_and_the_value),
        cmocka_unit_test(test_required_unknown_and_array_paths),
        cmocka_unit_test(test_strings_numbers_enums),
        cmocka_unit_test(test_combinators_and_refs),
        cmocka_unit_test(test_deep_nesting_is_bounded),
        cmocka_unit_test(test_schema_check_and_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
