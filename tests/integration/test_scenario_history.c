/*
 * A scenario's history through the real binary: the diff between two
 * versions names the scenario's fields changed, the steps added, removed
 * and changed, and for texts the languages changed; a rollback makes the
 * next version with the old content (audited), and rolling back to what
 * the latest holds makes none; unknown versions and bad numbers are
 * refused.
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

static th_host H;
static char SCN[64];

static const char V1[] =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": [\"en\", "
    "\"ru\"], \"start\": \"hello\", \"steps\": {"
    "\"hello\": {\"kind\": \"say\", \"text\": {\"en\": \"Hi\", \"ru\": \"Привет\"}, \"next\": "
    "\"old\"},"
    "\"old\": {\"kind\": \"say\", \"text\": {\"en\": \"Old\", \"ru\": \"Старое\"}, \"next\": "
    "\"bye\"},"
    "\"bye\": {\"kind\": \"end\", \"outcome\": \"done\"}}}";
/* hello's Russian text changed and a next moved; old removed; thanks added;
 * settings added. */
static const char V2[] =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": [\"en\", "
    "\"ru\"], \"start\": \"hello\", \"settings\": {\"retries\": 1}, \"steps\": {"
    "\"hello\": {\"kind\": \"say\", \"text\": {\"en\": \"Hi\", \"ru\": \"Здравствуйте\"}, "
    "\"next\": "
    "\"thanks\"},"
    "\"thanks\": {\"kind\": \"say\", \"text\": {\"en\": \"Thanks\", \"ru\": \"Спасибо\"}, "
    "\"next\": "
    "\"bye\"},"
    "\"bye\": {\"kind\": \"end\", \"outcome\": \"done\"}}}";

static int save(const char *content)
{
    char path[200], *body = NULL;
    snprintf(path, sizeof(path), "/api/v1/scenarios/%s/versions", SCN);
    if (asprintf(&body, "{\"content\": %s}", content) < 0) return -1;
    json_t *o = NULL;
    int st = th_http(&H, "POST", path, body, NULL, &o);
    free(body);
    json_decref(o);
    return st;
}

static int setup(void **s)
{
    (void)s;
    if (th_init(&H, "history") || th_config(&H, "{}") || th_start(&H, NULL, 15000)) return -1;
    json_t *o = NULL;
    if (th_http(&H, "POST", "/api/v1/scenarios", "{\"name\": \"Greeting\"}", NULL, &o) != 201)
        return -1;
    snprintf(SCN, sizeof(SCN), "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    return save(V1) == 201 && save(V2) == 201 ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

static json_t *diff(const char *query, int expect)
{
    char path[300];
    snprintf(path, sizeof(path), "/api/v1/scenarios/%s/diff?%s", SCN, query);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), expect);
    return o;
}

static void test_the_diff_names_fields_steps_and_languages_changed(void **s)
{
    (void)s;
    json_t *d = diff("from=1&to=2", 200);
    char *text = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(
        text,
        "{\"fields\":[\"settings\"],\"from\":1,\"same\":false,\"steps\":{\"added\":[\"thanks\"],"
        "\"changed\":{\"hello\":{\"fields\":[\"next\",\"text\"],\"texts\":{\"text\":[\"ru\"]}}},"
        "\"removed\":[\"old\"]},\"to\":2}");
    free(text);
    json_decref(d);
    d = diff("from=2&to=2", 200);
    assert_true(json_is_true(json_object_get(d, "same")));
    json_decref(d);
    d = diff("from=1&to=9", 404);
    assert_non_null(strstr(json_string_value(th_get(d, "error.message")), "no version 9"));
    json_decref(d);
    d = diff("from=one&to=2", 422);
    assert_string_equal(json_string_value(th_get(d, "error.field")), "from");
    json_decref(d);
}

static void test_a_rollback_makes_the_next_version_with_the_old_content(void **s)
{
    (void)s;
    char path[300];
    snprintf(path, sizeof(path), "/api/v1/scenarios/%s/versions/1/rollback", SCN);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "POST", path, NULL, NULL, &o), 201);
    assert_int_equal(json_integer_value(json_object_get(o, "number")), 3);
    assert_string_equal(json_string_value(json_object_get(o, "message")), "Rollback to version 1");
    json_decref(o);
    json_t *d = diff("from=1&to=3", 200);
    assert_true(json_is_true(json_object_get(d, "same")));
    json_decref(d);
    /* The latest holds it already: no new version. */
    assert_int_equal(th_http(&H, "POST", path, NULL, NULL, &o), 200);
    assert_int_equal(json_integer_value(json_object_get(o, "number")), 3);
    json_decref(o);
    assert_int_equal(th_http(&H, "GET", "/api/v1/audit?action=scenario.rollback", NULL, NULL, &o),
                     200);
    assert_int_equal(json_array_size(json_object_get(o, "items")), 1);
    json_decref(o);
    snprintf(path, sizeof(path), "/api/v1/scenarios/%s/versions/42/rollback", SCN);
    assert_int_equal(th_http(&H, "POST", path, NULL, NULL, &o), 404);
    json_decref(o);
    snprintf(path, sizeof(path), "/api/v1/scenarios/%s/versions/0/rollback", SCN);
    assert_int_equal(th_http(&H, "POST", path, NULL, NULL, &o), 422);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_diff_names_fields_steps_and_languages_changed),
        cmocka_unit_test(test_a_rollback_makes_the_next_version_with_the_old_content),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
