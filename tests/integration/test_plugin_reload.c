/*
 * The edit, build, reload loop against a running host: `agenthost plugin
 * reload NAME --from DIR` checks the new build, renames it over the
 * installed library and has the host restart the plugin's instances
 * (POST /api/v1/plugins/NAME/reload), which then run the new code; a
 * manifest changed on disk is refused, and so is a broken build. Events
 * the old process had not settled when the reload came are delivered again
 * to the new library, none lost, uncharged; those it had acknowledged are
 * not delivered again.
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

#define BUILT TH_BUILD_DIR "/tests/plugins"

static th_host H;

static int setup(void **state)
{
    (void)state;
    if (th_init(&H, "reload") || th_install_dir(&H, BUILT "/reloadme-1", "reloadme") ||
        /* An ack timeout no test waits for: only the reload can bring an
         * unsettled event back. */
        th_config(&H, "{\"instances\": [{\"id\": \"rl-a\", \"plugin\": \"reloadme\","
                      " \"consumer\": {\"ack_timeout_ms\": 3600000}},"
                      " {\"id\": \"rl-b\", \"plugin\": \"reloadme\"}]}") ||
        th_start(&H, NULL, 15000))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

static int variant(const char *id)
{
    json_t *o = NULL;
    if (th_call(&H, id, "variant", "{}", &o) != 200) {
        json_decref(o);
        return -1;
    }
    int v = (int)json_integer_value(th_get(o, "result.variant"));
    json_decref(o);
    return v;
}

/* Bounded: the instance restarts after the reload answered. */
static int variant_after_restart(const char *id, int want)
{
    int v = -1;
    for (int i = 0; i < 100 && v != want; i++) {
        th_wait_state(&H, id, "ready", 5000);
        v = variant(id);
        if (v != want) th_sleep_ms(100);
    }
    return v;
}

static int reload_cli(const char *from, char *out, size_t outlen)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", H.port);
    setenv("TOKEN", H.token, 1);
    return th_cli(&H, NULL, out, outlen, "plugin", "reload", "reloadme", "--from", from,
                  "--plugins", H.plugins, "--url", url, NULL);
}

static void test_reload_runs_the_new_build_in_every_instance(void **state)
{
    (void)state;
    assert_true(th_wait_state(&H, "rl-a", "ready", 10000));
    assert_true(th_wait_state(&H, "rl-b", "ready", 10000));
    assert_int_equal(variant("rl-a"), 1);
    char out[4096];
    int rc = reload_cli(BUILT "/reloadme-2", out, sizeof(out));
    if (rc != 0) fail_msg("plugin reload exited %d: %s", rc, out);
    assert_non_null(strstr(out, "\"restarted\""));
    assert_non_null(strstr(out, "rl-a"));
    assert_non_null(strstr(out, "rl-b"));
    assert_int_equal(variant_after_restart("rl-a", 2), 2);
    assert_int_equal(variant_after_restart("rl-b", 2), 2);
    /* No staged copy is left behind. */
    char *staged = th_read(&H, "plugins/reloadme/libreloadme.so.staged");
    assert_null(staged);
}

static void test_a_changed_manifest_is_refused_and_nothing_restarts(void **state)
{
    (void)state;
    char *m = th_read(&H, "plugins/reloadme/manifest.json");
    assert_non_null(m);
    char *edited = malloc(strlen(m) + 64);
    char *at = strstr(m, "\"actions\"");
    assert_non_null(at);
    snprintf(edited, strlen(m) + 64, "%.*s\"license\": \"MIT\",\n  %s", (int)(at - m), m, at);
    assert_int_equal(th_write(&H, "plugins/reloadme/manifest.json", edited), 0);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "POST", "/api/v1/plugins/reloadme/reload", "", NULL, &o), 409);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "manifest_changed");
    json_decref(o);
    /* The CLI refuses a build whose manifest differs from the installed one. */
    char out[4096];
    assert_int_not_equal(reload_cli(BUILT "/reloadme-1", out, sizeof(out)), 0);
    assert_int_equal(th_write(&H, "plugins/reloadme/manifest.json", m), 0);
    free(edited);
    free(m);
    assert_int_equal(th_http(&H, "POST", "/api/v1/plugins/nosuch/reload", "", NULL, &o), 404);
    json_decref(o);
}

/* A field of the bus consumer of instance id ("acked", "in_flight", "lag"), or -1. */
static long long consumer_stat(const char *id, const char *field)
{
    json_t *o = NULL;
    long long v = -1;
    char name[96];
    snprintf(name, sizeof(name), "instance:%s", id);
    if (th_http(&H, "GET", "/api/v1/consumers", NULL, NULL, &o) == 200) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(o, "consumers"), i, c)
        {
            if (!strcmp(json_string_value(json_object_get(c, "name")) ?: "", name))
                v = (long long)json_integer_value(json_object_get(c, field));
        }
    }
    json_decref(o);
    return v;
}

static bool wait_consumer(const char *id, const char *field, long long want)
{
    for (int i = 0; i < 400; i++) {
        if (consumer_stat(id, field) == want) return true;
        th_sleep_ms(50);
    }
    return false;
}

/* What the running process of id acknowledged: {variant, events: [{n, attempt}], held}. */
static json_t *handled(const char *id)
{
    json_t *o = NULL;
    if (th_call(&H, id, "handled", "{}", &o) != 200) {
        json_decref(o);
        return NULL;
    }
    json_t *r = json_incref(th_get(o, "result"));
    json_decref(o);
    return r;
}

enum { EVENTS = 20 };

static void test_events_in_flight_at_a_reload_are_delivered_again_to_the_new_library(void **state)
{
    (void)state;
    assert_true(th_wait_state(&H, "rl-a", "ready", 10000));
    assert_true(th_wait_state(&H, "rl-b", "ready", 10000));
    int before = variant("rl-a"), after = before == 1 ? 2 : 1;
    assert_true(before == 1 || before == 2);
    json_t *o = NULL;
    assert_int_equal(th_call(&H, "rl-a", "hold", "{\"on\": true}", &o), 200);
    json_decref(o);
    long long acked0 = consumer_stat("rl-a", "acked");
    assert_true(acked0 >= 0);

    /* EVENTS events without a key: delivered together, not one at a time. */
    json_t *batch = json_array();
    for (int n = 1; n <= EVENTS; n++)
        json_array_append_new(batch, json_pack("{s:{s:i}}", "body", "n", n));
    char *text = json_dumps(batch, JSON_COMPACT);
    json_decref(batch);
    assert_int_equal(th_http(&H, "POST", "/api/v1/topics/reload.in/events", text, NULL, &o), 201);
    free(text);
    json_decref(o);

    /* The odd ones are settled by the host; the even ones are in flight. */
    assert_true(wait_consumer("rl-a", "acked", acked0 + EVENTS / 2));
    assert_true(wait_consumer("rl-a", "in_flight", EVENTS / 2));
    json_t *old = handled("rl-a");
    assert_non_null(old);
    assert_int_equal(json_integer_value(json_object_get(old, "held")), EVENTS / 2);
    assert_int_equal(json_array_size(json_object_get(old, "events")), EVENTS / 2);
    json_decref(old);

    char out[4096];
    int rc = reload_cli(after == 1 ? BUILT "/reloadme-1" : BUILT "/reloadme-2", out, sizeof(out));
    if (rc != 0) fail_msg("plugin reload exited %d: %s", rc, out);
    assert_int_equal(variant_after_restart("rl-a", after), after);

    /* The new library acknowledges each held event once, as a first
     * attempt (a stop we asked for charges nothing), and nothing else. */
    assert_true(wait_consumer("rl-a", "in_flight", 0));
    assert_true(wait_consumer("rl-a", "lag", 0));
    json_t *now = handled("rl-a");
    assert_non_null(now);
    assert_int_equal(json_integer_value(json_object_get(now, "variant")), after);
    json_t *evs = json_object_get(now, "events");
    int seen[EVENTS + 1] = {0};
    size_t i;
    json_t *e;
    json_array_foreach(evs, i, e)
    {
        json_int_t n = json_integer_value(json_object_get(e, "n"));
        assert_true(n >= 1 && n <= EVENTS);
        seen[n]++;
        assert_int_equal(json_integer_value(json_object_get(e, "attempt")), 1);
    }
    for (int n = 1; n <= EVENTS; n++)
        if (seen[n] != (n % 2 == 0))
            fail_msg("event n=%d handled %d times by the new library", n, seen[n]);
    assert_int_equal(json_array_size(evs), EVENTS / 2);
    assert_int_equal(consumer_stat("rl-a", "acked"), acked0 + EVENTS);
    json_decref(now);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reload_runs_the_new_build_in_every_instance),
        cmocka_unit_test(test_a_changed_manifest_is_refused_and_nothing_restarts),
        cmocka_unit_test(test_events_in_flight_at_a_reload_are_delivered_again_to_the_new_library),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
