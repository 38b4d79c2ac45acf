/*
 * Instances made and removed over the API (POST and DELETE
 * /api/v1/instances, ADR 0041), through the real binary with the echo
 * plugin: one made over the API runs sandboxed with its secret (never
 * answered back nor logged), survives a restart with its KV, and once
 * removed is stopped with its record, KV and secrets gone; bad input is
 * refused naming the field and creates nothing; an instance of the config
 * file is not removed; a viewer may do neither.
 */
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "s3cret-Value_4f9a2Zq"

static th_host H;
static char viewer[128];

static int setup(void **s)
{
    (void)s;
    if (th_init(&H, "instances") || th_install_plugin(&H, "echo") ||
        th_config(&H, "{\"instances\": [{\"id\": \"echo\", \"plugin\": \"echo\"}]}") ||
        th_make_token(&H))
        return -1;
    if (th_cli(&H, NULL, viewer, sizeof(viewer), "token", "create", "--name", "watcher", "--role",
               "viewer", NULL) != 0)
        return -1;
    viewer[strcspn(viewer, "\n")] = 0;
    if (th_start(&H, NULL, 15000) || !th_wait_state(&H, "echo", "ready", 10000)) return -1;
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

static void restart_host(void)
{
    assert_int_equal(th_stop(&H, 10000), 0);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    assert_true(th_wait_state(&H, "echo", "ready", 10000));
}

static bool secret_equals(const char *id, const char *value)
{
    char args[200];
    snprintf(args, sizeof(args), "{\"name\": \"token\", \"equals\": \"%s\"}", value);
    json_t *o = NULL;
    assert_int_equal(th_call(&H, id, "secret.check", args, &o), 200);
    bool eq = json_is_true(th_get(o, "result.equals"));
    json_decref(o);
    return eq;
}

static void create(const char *id, const char *extra)
{
    char body[600];
    snprintf(body, sizeof(body), "{\"id\": \"%s\", \"plugin\": \"echo\"%s}", id, extra);
    json_t *o = NULL;
    int st = th_http(&H, "POST", "/api/v1/instances", body, NULL, &o);
    char *d = json_dumps(o, JSON_COMPACT);
    if (st != 201) fail_msg("create %s: %d %s", id, st, d);
    assert_null(strstr(d, SECRET)); /* the secret is never answered back */
    assert_string_equal(json_string_value(json_object_get(o, "id")), id);
    free(d);
    json_decref(o);
    assert_true(th_wait_state(&H, id, "ready", 15000));
}

static void test_an_instance_made_over_the_api_runs_with_its_secret(void **s)
{
    (void)s;
    create("e2", ", \"config\": {\"greeting\": \"hi\"}, \"secrets\": {\"token\": \"" SECRET "\"}");
    assert_true(secret_equals("e2", SECRET));
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", "/api/v1/instances", NULL, NULL, &o), 200);
    char *d = json_dumps(o, JSON_COMPACT);
    assert_non_null(strstr(d, "\"e2\""));
    assert_null(strstr(d, SECRET));
    free(d);
    json_decref(o);
    assert_false(th_logs_contain(&H, SECRET));
}

static void refused(const char *body, int status, const char *field, const char *says)
{
    json_t *o = NULL;
    int st = th_http(&H, "POST", "/api/v1/instances", body, NULL, &o);
    char *d = json_dumps(o, JSON_COMPACT);
    if (st != status) fail_msg("%s: %d %s", body, st, d);
    assert_string_equal(json_string_value(th_get(o, "error.field")), field);
    if (says && !strstr(json_string_value(th_get(o, "error.message")) ?: "", says))
        fail_msg("%s: the message does not say \"%s\": %s", body, says, d);
    free(d);
    json_decref(o);
}

static void test_bad_input_is_refused_naming_the_field_and_creates_nothing(void **s)
{
    (void)s;
    refused("{\"id\": \"bad1\", \"plugin\": \"echo\", \"config\": {\"greeting\": 5}}", 422,
            "config", "greeting");
    refused("{\"id\": \"bad1\", \"plugin\": \"echo\", \"config\": {\"colour\": \"red\"}}", 422,
            "config", "colour");
    refused("{\"id\": \"bad1\", \"plugin\": \"echo\", \"secrets\": {\"nope\": \"" SECRET "\"}}",
            422, "secrets.nope", NULL);
    refused("{\"id\": \"bad1\", \"plugin\": \"echo\", \"secrets\": {\"token\": \"short\"}}", 422,
            "secrets.token", NULL);
    refused("{\"id\": \"bad1\", \"plugin\": \"nosuch\"}", 404, "plugin", "nosuch");
    refused("{\"id\": \"Bad Id\", \"plugin\": \"echo\"}", 422, "id", NULL);
    refused("{\"id\": \"echo\", \"plugin\": \"echo\"}", 409, "id", NULL);
    refused("{\"id\": \"bad1\", \"plugin\": \"echo\", \"colour\": 1}", 422, "colour", NULL);
    assert_int_equal(th_http(&H, "GET", "/api/v1/instances/bad1", NULL, NULL, NULL), 404);
}

static void test_a_viewer_can_neither_create_nor_remove(void **s)
{
    (void)s;
    assert_int_equal(th_http(&H, "POST", "/api/v1/instances",
                             "{\"id\": \"v1\", \"plugin\": \"echo\"}", viewer, NULL),
                     403);
    assert_int_equal(th_http(&H, "DELETE", "/api/v1/instances/e2", NULL, viewer, NULL), 403);
    assert_int_equal(th_http(&H, "GET", "/api/v1/instances/v1", NULL, NULL, NULL), 404);
    assert_string_equal(th_state(&H, "e2"), "ready");
}

static void test_an_instance_made_over_the_api_survives_a_restart_with_its_kv(void **s)
{
    (void)s;
    assert_int_equal(th_call(&H, "e2", "kv.put", "{\"key\": \"k\", \"value\": 42}", NULL), 200);
    restart_host();
    assert_true(th_wait_state(&H, "e2", "ready", 15000));
    assert_true(secret_equals("e2", SECRET));
    json_t *o = NULL;
    assert_int_equal(th_call(&H, "e2", "kv.get", "{\"key\": \"k\"}", &o), 200);
    assert_int_equal(json_integer_value(th_get(o, "result.value")), 42);
    json_decref(o);
    /* `agenthost instance list` shows it once, with its state (its stored
     * definition is not an instance of its own). */
    char out[8192];
    assert_int_equal(th_cli(&H, NULL, out, sizeof(out), "instance", "list", "--json", NULL), 0);
    json_t *all = json_loads(out, 0, NULL);
    assert_true(json_is_array(all));
    size_t i, seen = 0;
    json_t *e;
    json_array_foreach(all, i, e)
    {
        assert_non_null(json_string_value(json_object_get(e, "state")));
        seen += !strcmp(json_string_value(json_object_get(e, "id")) ?: "", "e2");
    }
    assert_int_equal(seen, 1);
    json_decref(all);
}

static void test_an_instance_of_the_config_file_is_not_removed(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "DELETE", "/api/v1/instances/echo", NULL, NULL, &o), 409);
    assert_non_null(strstr(json_string_value(th_get(o, "error.message")), "config file"));
    json_decref(o);
    assert_string_equal(th_state(&H, "echo"), "ready");
    assert_int_equal(th_http(&H, "DELETE", "/api/v1/instances/nosuch", NULL, NULL, NULL), 404);
}

static void test_removing_stops_it_and_deletes_its_kv_and_secrets(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", "/api/v1/instances/e2", NULL, NULL, &o), 200);
    pid_t pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
    json_decref(o);
    assert_true(pid > 0);
    assert_int_equal(th_http(&H, "DELETE", "/api/v1/instances/e2", NULL, NULL, NULL), 204);
    assert_int_equal(th_http(&H, "GET", "/api/v1/instances/e2", NULL, NULL, NULL), 404);
    /* Its process is gone (the runner, reaped by the host). */
    long long deadline = th_now_ms() + 10000;
    while (kill(pid, 0) == 0 && th_now_ms() < deadline)
        th_sleep_ms(50);
    assert_int_not_equal(kill(pid, 0), 0);
    /* The same id again starts clean: no secret, no KV. */
    create("e2", "");
    assert_false(secret_equals("e2", SECRET));
    assert_int_equal(th_call(&H, "e2", "kv.get", "{\"key\": \"k\"}", &o), 200);
    assert_false(json_is_true(th_get(o, "result.found")));
    json_decref(o);
    assert_int_equal(th_http(&H, "DELETE", "/api/v1/instances/e2", NULL, NULL, NULL), 204);
    /* Nor does it come back after a restart. */
    restart_host();
    assert_int_equal(th_http(&H, "GET", "/api/v1/instances/e2", NULL, NULL, NULL), 404);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_instance_made_over_the_api_runs_with_its_secret),
        cmocka_unit_test(test_bad_input_is_refused_naming_the_field_and_creates_nothing),
        cmocka_unit_test(test_a_viewer_can_neither_create_nor_remove),
        cmocka_unit_test(test_an_instance_made_over_the_api_survives_a_restart_with_its_kv),
        cmocka_unit_test(test_an_instance_of_the_config_file_is_not_removed),
        cmocka_unit_test(test_removing_stops_it_and_deletes_its_kv_and_secrets),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
