/* Scenarios in YAML (host/engine/scenario_yaml.h): export then import
 * gives back the same JSON, key order included, for scenarios with Russian
 * texts, strings that look like numbers, booleans or null, nested lists,
 * multi-line texts (written as literal blocks), every kind of number;
 * hand-written YAML reads as YAML 1.2 says; bad YAML is refused with its
 * line and column, and its bounds hold. */
#include "cmocka_pre.h"

#include "engine/scenario_yaml.h"

#include <agenthost/plugin.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    if (!j) fail_msg("bad test JSON (%d:%d): %s", je.line, je.column, je.text);
    return j;
}

/* Equal, and every object's keys in the same order. */
static bool same(const json_t *a, const json_t *b)
{
    if (!json_equal(a, b)) return false;
    if (json_typeof(a) != json_typeof(b)) return false;
    if (json_is_object(a)) {
        void *ia = json_object_iter((json_t *)a), *ib = json_object_iter((json_t *)b);
        for (; ia && ib; ia = json_object_iter_next((json_t *)a, ia),
                         ib = json_object_iter_next((json_t *)b, ib)) {
            if (strcmp(json_object_iter_key(ia), json_object_iter_key(ib))) return false;
            if (!same(json_object_iter_value(ia), json_object_iter_value(ib))) return false;
        }
        return !ia && !ib;
    }
    if (json_is_array(a)) {
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!same(json_array_get(a, i), json_array_get(b, i))) return false;
    }
    return true;
}

/* export, import: the same value; the YAML text for more checks (free()). */
static char *round_trip(const json_t *v)
{
    char *y = NULL;
    size_t n = 0;
    assert_int_equal(scenario_yaml_export(v, &y, &n), 0);
    assert_int_equal(strlen(y), n);
    json_t *back = NULL;
    char err[256];
    int rc = scenario_yaml_import(y, n, &back, err, sizeof(err));
    if (rc) fail_msg("the export does not import (%s):\n%s", err, y);
    if (!same(v, back)) {
        char *a = json_dumps(v, JSON_ENCODE_ANY), *b = json_dumps(back, JSON_ENCODE_ANY);
        fail_msg("round trip changed the value:\n%s\n%s\nvia:\n%s", a, b, y);
    }
    json_decref(back);
    return y;
}

static json_t *import_ok(const char *yaml)
{
    json_t *v = NULL;
    char err[256];
    if (scenario_yaml_import(yaml, strlen(yaml), &v, err, sizeof(err)) != 0)
        fail_msg("import failed: %s\n%s", err, yaml);
    return v;
}

static void import_fails(const char *yaml, int code, const char *part)
{
    json_t *v = (json_t *)1;
    char err[256];
    int rc = scenario_yaml_import(yaml, strlen(yaml), &v, err, sizeof(err));
    if (rc != code || !strstr(err, part))
        fail_msg("import of \"%s\" gave %d (%s), expected %d (%s)", yaml, rc, err, code, part);
    assert_null(v);
}

/* ---- round trips ------------------------------------------------------------------ */

static const char SURVEY[] =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"ru\", \"languages\": "
    "[\"ru\", \"en\"],"
    " \"variables\": {\"zip\": {\"type\": \"string\", \"default\": \"007\"}, \"n\": {\"type\": "
    "\"number\", \"default\": 0.1}},"
    " \"start\": \"q1\","
    " \"steps\": {"
    "  \"q1\": {\"kind\": \"ask\", \"text\": {\"ru\": \"Как вас зовут?\\nНапишите имя и "
    "фамилию.\\n\","
    "     \"en\": \"What is your name?\\n\\n  (first and last)\"}, \"var\": \"zip\","
    "     \"validate\": {\"type\": \"text\", \"pattern\": \"^[А-Яа-яЁё -]{2,}$\", \"min_length\": "
    "2},"
    "     \"next\": \"q2\"},"
    "  \"q2\": {\"kind\": \"choice\", \"text\": \"Да или нет?\", \"options\": ["
    "     {\"id\": \"yes\", \"label\": {\"ru\": \"Да\", \"en\": \"Yes\"}, \"match\": [\"да\", "
    "\"yes\", "
    "\"y\", \"on\", \"true\"]},"
    "     {\"id\": \"no\", \"label\": \"Нет\", \"match\": [\"нет\", \"no\", \"n\", \"off\", "
    "\"false\", "
    "\"null\", \"~\", \"\"]}],"
    "     \"next\": \"bye\"},"
    "  \"bye\": {\"kind\": \"end\", \"text\": \"До свидания! 👋\", \"outcome\": \"done\"}}}";

static void test_a_russian_survey_round_trips_with_literal_blocks(void **s)
{
    (void)s;
    json_t *v = parse(SURVEY);
    char *y = round_trip(v);
    /* Multi-line texts are literal blocks, Cyrillic is written as it is;
     * libyaml escapes characters past U+FFFF in a double-quoted string. */
    assert_non_null(strstr(y, "ru: |"));
    assert_non_null(strstr(y, "Как вас зовут?\n"));
    assert_non_null(strstr(y, "\"До свидания! \\U0001F44B\""));
    /* Strings that read as something else are quoted: "007" is no number. */
    assert_non_null(strstr(y, "'007'"));
    assert_non_null(strstr(y, "- 'yes'"));
    assert_non_null(strstr(y, "- 'true'"));
    assert_non_null(strstr(y, "- 'null'"));
    assert_non_null(strstr(y, "- ''"));
    free(y);
    json_decref(v);
}

static void test_strings_that_look_like_other_things_stay_strings(void **s)
{
    (void)s;
    static const char *const tricky[] = {"123",
                                         "-7",
                                         "+7",
                                         "0x1F",
                                         "0o17",
                                         "1.5",
                                         ".5",
                                         "1e3",
                                         "1.",
                                         "1_000",
                                         "12:30",
                                         "true",
                                         "True",
                                         "FALSE",
                                         "yes",
                                         "No",
                                         "on",
                                         "OFF",
                                         "y",
                                         "N",
                                         "null",
                                         "Null",
                                         "~",
                                         "",
                                         " ",
                                         ".inf",
                                         "-.inf",
                                         ".nan",
                                         "-",
                                         "- x",
                                         "? x",
                                         ": x",
                                         "a: b",
                                         "a #b",
                                         "#c",
                                         "@at",
                                         "`tick",
                                         "'single'",
                                         "\"double\"",
                                         "{{ vars.x }}",
                                         "[1, 2]",
                                         "{a: 1}",
                                         "!tag",
                                         "&anchor",
                                         "*alias",
                                         "|",
                                         ">",
                                         "%YAML",
                                         "---",
                                         "...",
                                         "<<",
                                         "=",
                                         " lead",
                                         "trail ",
                                         "tab\there",
                                         "line\nbreak",
                                         "crlf\r\nline",
                                         "cr\ronly",
                                         "nel\xc2\x85x",
                                         "ls\xe2\x80\xa8x",
                                         "trailing newline\n",
                                         "two\n\n",
                                         "\nleading newline",
                                         "  indented\nblock",
                                         "spaces \nbreak",
                                         "é ж 😀 \xe2\x80\x8b zero-width",
                                         "\xef\xbb\xbf bom",
                                         "bell\x07",
                                         "del\x7f",
                                         "back\\slash",
                                         "ünïcödé: ключ",
                                         "emoji 🏳️‍🌈",
                                         "x\ty\tz"};
    json_t *obj = json_object(), *arr = json_array();
    for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
        json_array_append_new(arr, json_string(tricky[i]));
        if (tricky[i][0]) json_object_set_new(obj, tricky[i], json_string(tricky[i]));
    }
    json_t *v = json_pack("{s:o,s:o}", "list", arr, "keys", obj);
    free(round_trip(v));
    json_decref(v);
}

static void test_numbers_and_nested_lists_round_trip_exactly(void **s)
{
    (void)s;
    json_t *v = parse("{\"ints\": [0, -1, 42, 9223372036854775807, -9223372036854775807],"
                      " \"reals\": [0.1, 1.0, -0.5, 1e21, 1.5e-300, 3.141592653589793, "
                      "123456789.123, 2.2250738585072014e-308, 1.7976931348623157e308, -0.0],"
                      " \"nested\": [[1, [2, [3, []]]], [{}, {\"a\": []}], [[\"x\"], [[\"y\"]]]],"
                      " \"mixed\": [null, true, false, \"s\", {\"k\": [1, \"2\", 3.0]}],"
                      " \"empty\": {}, \"none\": [], \"z\": null}");
    json_array_append_new(json_object_get(v, "ints"), json_integer(INT64_MIN));
    char *y = round_trip(v);
    assert_non_null(strstr(y, "- 0.1\n"));
    assert_non_null(strstr(y, "- 1.0\n"));
    assert_non_null(strstr(y, "empty: {}"));
    assert_non_null(strstr(y, "none: []"));
    free(y);
    json_decref(v);
}

static void test_key_order_is_kept(void **s)
{
    (void)s;
    json_t *v = parse("{\"z\": 1, \"a\": 2, \"m\": {\"y\": 1, \"b\": 2, \"я\": 3, \"а\": 4}, "
                      "\"b\": [ {\"2\": 0, \"1\": 0} ]}");
    char *y = round_trip(v);
    assert_true(strstr(y, "z:") < strstr(y, "a:"));
    free(y);
    json_decref(v);
}

static void test_the_example_scenarios_round_trip(void **s)
{
    (void)s;
    static const char *const names[] = {"onboarding-survey", "faq-agent", "lead-capture"};
    for (size_t i = 0; i < 3; i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/docs/examples/scenarios/%s.json", TH_SOURCE_DIR, names[i]);
        json_t *v = json_load_file(path, 0, NULL);
        assert_non_null(v);
        free(round_trip(v));
        json_decref(v);
    }
}

/* ---- hand-written YAML ----------------------------------------------------------- */

static void test_hand_written_yaml_reads_as_yaml_1_2(void **s)
{
    (void)s;
    json_t *v = import_ok("# a comment\n"
                          "format: agenthost.scenario/1\n"
                          "languages: [en, ru]   # flow style\n"
                          "answers: {yes: yes, no: off}\n"
                          "hello: &hi\n"
                          "  en: Hello\n"
                          "  ru: Привет\n"
                          "again: *hi\n"
                          "folded: >\n"
                          "  one\n"
                          "  two\n"
                          "kept: |+\n"
                          "  a\n\n"
                          "numbers: [0x1F, 0o17, +3, 1e3, .5, 1., ~, null, '', \"\\u0436\"]\n"
                          "tagged: [!!str 123, !!float 2, !!int '7', ! 12, !!bool true]\n");
    json_t *want = parse("{\"format\": \"agenthost.scenario/1\", \"languages\": [\"en\", \"ru\"],"
                         " \"answers\": {\"yes\": \"yes\", \"no\": \"off\"},"
                         " \"hello\": {\"en\": \"Hello\", \"ru\": \"Привет\"},"
                         " \"again\": {\"en\": \"Hello\", \"ru\": \"Привет\"},"
                         " \"folded\": \"one two\\n\", \"kept\": \"a\\n\\n\","
                         " \"numbers\": [31, 15, 3, 1000.0, 0.5, 1.0, null, null, \"\", \"ж\"],"
                         " \"tagged\": [\"123\", 2.0, 7, \"12\", true]}");
    if (!same(v, want)) fail_msg("read as %s", json_dumps(v, 0));
    json_decref(want);
    json_decref(v);
}

static void test_bad_yaml_is_refused_with_its_place(void **s)
{
    (void)s;
    import_fails("a: 1\nb: [1, 2\n", AH_EINVAL, "3:1:");
    import_fails("a: 1\na: 2\n", AH_EINVAL, "2:1: duplicate key \"a\"");
    import_fails("a: 1\n---\nb: 2\n", AH_EINVAL, "more than one YAML document");
    import_fails("a: *nope\n", AH_EINVAL, "1:4: unknown alias *nope");
    import_fails("a: !custom x\n", AH_EINVAL, "unsupported tag !custom");
    import_fails("a: !!int abc\n", AH_EINVAL, "does not read as its tag says");
    import_fails("a: .inf\n", AH_EINVAL, "JSON has no such number");
    import_fails("a: .nan\n", AH_EINVAL, "JSON has no such number");
    import_fails("a: 1e999\n", AH_EINVAL, "JSON has no such number");
    import_fails("a: 99999999999999999999\n", AH_EINVAL, "out of range");
    import_fails("? [1, 2]\n: x\n", AH_EINVAL, "a key is a string");
    import_fails("a: \"x\\0y\"\n", AH_EINVAL, "NUL");
    import_fails("\"\\0\": x\n", AH_EINVAL, "NUL");
    import_fails("a: \"\\ud800\"\n", AH_EINVAL, "1:");
    import_fails("a:\n\t- b\n", AH_EINVAL, "2:1:");
    import_fails("", AH_EINVAL, "no YAML document");
    import_fails("a: \xff\n", AH_EINVAL, "1:");
}

static void test_nesting_and_aliases_are_bounded(void **s)
{
    (void)s;
    /* 129 sequences inside each other. */
    char deep[400] = "";
    for (int i = 0; i <= SCENARIO_YAML_MAX_DEPTH; i++)
        strcat(deep, "[");
    for (int i = 0; i <= SCENARIO_YAML_MAX_DEPTH; i++)
        strcat(deep, "]");
    import_fails(deep, AH_ETOOBIG, "nested deeper");
    deep[SCENARIO_YAML_MAX_DEPTH * 2] = 0; /* 128 levels: fine... */
    memset(deep, '[', SCENARIO_YAML_MAX_DEPTH);
    memset(deep + SCENARIO_YAML_MAX_DEPTH, ']', SCENARIO_YAML_MAX_DEPTH);
    json_t *v = import_ok(deep);
    /* ...and exported back. */
    free(round_trip(v));
    /* One more level cannot be exported. */
    json_t *outer = json_pack("[o]", v);
    char *y = NULL;
    size_t n;
    assert_int_equal(scenario_yaml_export(outer, &y, &n), AH_ETOOBIG);
    assert_null(y);
    json_decref(outer);
    /* Billion laughs: each level ten aliases of the one before. */
    import_fails("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                 "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                 "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                 "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                 "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                 "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                 "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                 "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n",
                 AH_ETOOBIG, "expands past");
    assert_int_equal(scenario_yaml_export(NULL, &y, &n), AH_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_russian_survey_round_trips_with_literal_blocks),
        cmocka_unit_test(test_strings_that_look_like_other_things_stay_strings),
        cmocka_unit_test(test_numbers_and_nested_lists_round_trip_exactly),
        cmocka_unit_test(test_key_order_is_kept),
        cmocka_unit_test(test_the_example_scenarios_round_trip),
        cmocka_unit_test(test_hand_written_yaml_reads_as_yaml_1_2),
        cmocka_unit_test(test_bad_yaml_is_refused_with_its_place),
        cmocka_unit_test(test_nesting_and_aliases_are_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
