/*
 * ABI compatibility, through the real runner: a plugin built against the
 * frozen ABI 1.0 headers runs on this host and every 1.0 service it uses
 * works; plugins claiming a newer minor or another major are refused with
 * a message naming both versions.
 */
#include "../support/kit.h"

#include <agenthost/plugin.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURES TH_SOURCE_DIR "/tests/fixtures/plugins"
#define BUILT TH_BUILD_DIR "/tests/plugins"

static char tmp[512];

static int setup(void **state)
{
    (void)state;
    char path[700];
    if (kit_tmpdir("abi", tmp, sizeof(tmp)) < 0) return -1;
    snprintf(path, sizeof(path), "%s/secrets.json", tmp);
    if (kit_write(path, "{\"token\": \"abi10-token-value\"}\n") < 0) return -1;
    snprintf(path, sizeof(path), "%s/config.json", tmp);
    return kit_write(path, "{\"greeting\": \"hello from the test\"}\n");
}

static int teardown(void **state)
{
    (void)state;
    kit_rmtree(tmp);
    return 0;
}

static void test_plugin_built_against_frozen_1_0_headers_runs_on_this_host(void **state)
{
    (void)state;
    char secrets[700], config[700];
    snprintf(secrets, sizeof(secrets), "%s/secrets.json", tmp);
    snprintf(config, sizeof(config), "%s/config.json", tmp);
    kit_out r;
    kit_runl(&r, NULL, NULL, KIT_AGENTHOST, "plugin", "run", BUILT "/abi10/manifest.json",
             "--events", FIXTURES "/abi10/events.jsonl", "--http", FIXTURES "/abi10/http.jsonl",
             "--secrets", secrets, "--config", config, NULL);
    json_t *l = kit_lines(r.out);
    if (r.status != 0) fail_msg("exit %d\n%s%s", r.status, r.out, r.err);
    /* The plugin's own log line (the runner may write to stderr first). */
    json_t *o = kit_find(l, "log", "stream", "sdk");
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "msg")),
                        "abi10 up, greeting hello from the test");
    /* publish with its options, ack, nack */
    o = kit_find(l, "publish", "topic", "abi10.out");
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "key")), "k1");
    assert_string_equal(json_string_value(json_object_get(o, "idempotency_key")), "line-1");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "body"), "n")), 1);
    assert_int_equal(json_integer_value(json_object_get(o, "offset")), 1);
    assert_non_null(kit_find(l, "ack", "id", "line-1"));
    o = kit_find(l, "nack", "id", "line-2");
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "error")), "asked to fail");
    assert_int_equal(json_integer_value(json_object_get(o, "retry_after_ms")), 250);
    /* KV round trip, HTTP through recorded responses, timers, metrics, secrets */
    o = kit_find(l, "reply", "action", "remember");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "result"), "status")),
                     0);
    json_t *want = json_pack("{s:[i,i]}", "a", 1, 2);
    assert_true(json_equal(json_object_get(json_object_get(o, "result"), "value"), want));
    json_decref(want);
    o = kit_find(l, "http", "url", "https://example.com/hello");
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 200);
    o = kit_find(l, "reply", "action", "fetch");
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "result"), "body")),
                        "hello from 1.0");
    assert_true(json_is_true(json_object_get(
        json_object_get(kit_find(l, "reply", "action", "tick"), "result"), "ticked")));
    assert_non_null(kit_find(l, "metric", "name", "ticks"));
    assert_true(json_is_true(json_object_get(
        json_object_get(kit_find(l, "reply", "action", "secret"), "result"), "present")));
    o = kit_find(l, "summary", NULL, NULL);
    assert_true(json_is_true(json_object_get(o, "ok")));
    json_decref(l);
    kit_out_free(&r);
}

static void expect_refusal(const char *plugin, const char *built_for)
{
    char manifest[700], events[700], want[300];
    snprintf(manifest, sizeof(manifest), BUILT "/%s/manifest.json", plugin);
    snprintf(events, sizeof(events), "%s/empty.jsonl", tmp);
    kit_write(events, "");
    kit_out r;
    kit_runl(&r, NULL, NULL, KIT_AGENTHOST, "plugin", "run", manifest, "--events", events, NULL);
    json_t *l = kit_lines(r.out);
    json_t *failed = kit_find(l, "failed", NULL, NULL);
    if (r.status != 1 || !failed) fail_msg("exit %d\n%s%s", r.status, r.out, r.err);
    snprintf(want, sizeof(want), "plugin %s is built for ABI %s; this host runs ABI %d.%d", plugin,
             built_for, AH_ABI_MAJOR, AH_ABI_MINOR);
    const char *reason = json_string_value(json_object_get(failed, "reason"));
    if (!reason || !strstr(reason, want))
        fail_msg("reason \"%s\" does not say \"%s\"", reason, want);
    assert_null(kit_find(l, "ready", NULL, NULL));
    json_t *sum = kit_find(l, "summary", NULL, NULL);
    assert_false(json_is_true(json_object_get(sum, "ok")));
    /* A refusal to start is not a crash. */
    assert_true(json_is_false(json_object_get(sum, "started")));
    assert_true(json_is_false(json_object_get(sum, "crashed")));
    json_decref(l);
    kit_out_free(&r);
}

/* The reason of a refusal that has nothing to do with the ABI names the
 * real problem first, without an ABI sentence in front of it. */
static void expect_reason_without_abi(const char *manifest, const char *want)
{
    char events[700];
    snprintf(events, sizeof(events), "%s/empty.jsonl", tmp);
    kit_write(events, "");
    kit_out r;
    kit_runl(&r, NULL, NULL, KIT_AGENTHOST, "plugin", "run", manifest, "--events", events, NULL);
    json_t *l = kit_lines(r.out);
    const char *reason =
        json_string_value(json_object_get(kit_find(l, "failed", NULL, NULL), "reason"));
    if (r.status != 1 || !reason || !strstr(reason, want) || strstr(reason, "built for ABI"))
        fail_msg("exit %d, reason \"%s\", want \"%s\"\n%s%s", r.status, reason ? reason : "", want,
                 r.out, r.err);
    json_t *sum = kit_find(l, "summary", NULL, NULL);
    assert_true(json_is_false(json_object_get(sum, "crashed")));
    json_decref(l);
    kit_out_free(&r);
}

static void test_a_manifest_named_unlike_its_library_is_refused_by_name_alone(void **state)
{
    (void)state;
    char dir[700], path[760];
    snprintf(dir, sizeof(dir), "%s/misnamed", tmp);
    assert_int_equal(kit_copy_tree(BUILT "/abi10", dir), 0);
    snprintf(path, sizeof(path), "%s/manifest.json", dir);
    json_t *m = json_load_file(path, 0, NULL);
    assert_non_null(m);
    json_object_set_new(m, "name", json_string("wordcount"));
    assert_int_equal(json_dump_file(m, path, 0), 0);
    json_decref(m);
    expect_reason_without_abi(path, "declares plugin \"abi10\", expected \"wordcount\"");
}

static void test_newer_minor_is_refused_naming_both_versions(void **state)
{
    (void)state;
    char v[32];
    snprintf(v, sizeof(v), "%d.%d", AH_ABI_MAJOR, AH_ABI_MINOR + 1);
    expect_refusal("newminor", v);
}

static void test_descriptor_smaller_than_abi_1_0_is_refused(void **state)
{
    (void)state;
    char events[700];
    snprintf(events, sizeof(events), "%s/empty.jsonl", tmp);
    kit_write(events, "");
    kit_out r;
    kit_runl(&r, NULL, NULL, KIT_AGENTHOST, "plugin", "run", BUILT "/tinydesc/manifest.json",
             "--events", events, NULL);
    json_t *l = kit_lines(r.out);
    const char *reason =
        json_string_value(json_object_get(kit_find(l, "failed", NULL, NULL), "reason"));
    if (r.status != 1 || !reason || !strstr(reason, "plugin descriptor smaller than ABI 1.0's") ||
        strstr(reason, "built for ABI"))
        fail_msg("exit %d, reason \"%s\"\n%s%s", r.status, reason ? reason : "", r.out, r.err);
    assert_null(kit_find(l, "ready", NULL, NULL));
    json_decref(l);
    kit_out_free(&r);
}

static void test_other_major_is_refused_naming_both_versions(void **state)
{
    (void)state;
    expect_refusal("abi2", "2.0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_built_against_frozen_1_0_headers_runs_on_this_host),
        cmocka_unit_test(test_newer_minor_is_refused_naming_both_versions),
        cmocka_unit_test(test_descriptor_smaller_than_abi_1_0_is_refused),
        cmocka_unit_test(test_other_major_is_refused_naming_both_versions),
        cmocka_unit_test(test_a_manifest_named_unlike_its_library_is_refused_by_name_alone),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
