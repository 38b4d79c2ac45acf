/*
 * The edit, build, reload loop against a running host: `agenthost plugin
 * reload NAME --from DIR` checks the new build, renames it over the
 * installed library and has the host restart the plugin's instances
 * (POST /api/v1/plugins/NAME/reload), which then run the new code; a
 * manifest changed on disk is refused, and so is a broken build.
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
        th_config(&H, "{\"instances\": [{\"id\": \"rl-a\", \"plugin\": \"reloadme\"},"
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reload_runs_the_new_build_in_every_instance),
        cmocka_unit_test(test_a_changed_manifest_is_refused_and_nothing_restarts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
