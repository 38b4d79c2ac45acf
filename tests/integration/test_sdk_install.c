/*
 * The SDK out of tree: install the build into a temporary prefix (what
 * `make install PREFIX=...` does), copy docs/examples/hello-plugin
 * elsewhere, build it with its Makefile (only `pkg-config --cflags --libs
 * agenthost-sdk`) and with its CMakeLists.txt (find_package), and run each
 * build through the installed `agenthost plugin run` with the example's
 * own events, recorded responses, config and secrets.
 */
#include "../support/kit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char root[512], prefix[600], hello[600], pcpath[700], pcenv[800];

static int setup(void **state)
{
    (void)state;
    if (kit_tmpdir("sdk", root, sizeof(root)) < 0) return -1;
    snprintf(prefix, sizeof(prefix), "%s/prefix", root);
    snprintf(hello, sizeof(hello), "%s/hello", root);
    snprintf(pcpath, sizeof(pcpath), "%s/lib/pkgconfig", prefix);
    snprintf(pcenv, sizeof(pcenv), "PKG_CONFIG_PATH=%s", pcpath);
    kit_out r;
    int rc = kit_runl(&r, NULL, NULL, "cmake", "--install", TH_BUILD_DIR, "--prefix", prefix, NULL);
    if (rc != 0) fprintf(stderr, "cmake --install: %s%s", r.out, r.err);
    kit_out_free(&r);
    if (rc != 0 || kit_copy_tree(TH_SOURCE_DIR "/docs/examples/hello-plugin", hello) < 0) return -1;
    /* Nothing built may come along with the template. */
    kit_runl(&r, hello, NULL, "rm", "-rf", "libhello.so", "build", NULL);
    kit_out_free(&r);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kit_rmtree(root);
    return 0;
}

static void test_installed_pkg_config_file_finds_its_prefix_wherever_installed(void **state)
{
    (void)state;
    const char *env[] = {pcenv, NULL};
    kit_out r;
    assert_int_equal(kit_runl(&r, NULL, env, "pkg-config", "--cflags", "agenthost-sdk", NULL), 0);
    char want[700];
    snprintf(want, sizeof(want), "-I%s/lib/pkgconfig/../../include", prefix);
    if (!strstr(r.out, want))
        fail_msg("cflags \"%s\" do not point into the prefix %s", r.out, prefix);
    assert_non_null(strstr(r.out, "-fvisibility=hidden"));
    kit_out_free(&r);
    assert_int_equal(kit_runl(&r, NULL, env, "pkg-config", "--libs", "agenthost-sdk", NULL), 0);
    assert_non_null(strstr(r.out, "-lagenthost-sdk"));
    assert_non_null(strstr(r.out, "-ljansson"));
    kit_out_free(&r);
}

static void run_hello(const char *manifest)
{
    char agenthost[700];
    snprintf(agenthost, sizeof(agenthost), "%s/bin/agenthost", prefix);
    kit_out r;
    kit_runl(&r, hello, NULL, agenthost, "plugin", "run", manifest, "--events", "events.jsonl",
             "--http", "http.jsonl", "--config", "config.json", "--secrets", "secrets.json", NULL);
    if (r.status != 0) fail_msg("plugin run exited %d\n%s%s", r.status, r.out, r.err);
    json_t *l = kit_lines(r.out);
    json_t *greets[2] = {NULL, NULL};
    size_t i, k = 0;
    json_t *o;
    json_array_foreach(l, i, o)
    {
        const char *a = json_string_value(json_object_get(o, "action"));
        if (a && !strcmp(a, "greet") && k < 2) greets[k++] = json_object_get(o, "result");
    }
    assert_int_equal(k, 2);
    assert_string_equal(json_string_value(json_object_get(greets[0], "text")), "Hello, Ann!");
    assert_int_equal(json_integer_value(json_object_get(greets[1], "count")), 2);
    assert_int_equal(kit_count(l, "publish"), 3);
    assert_non_null(kit_find(l, "ack", "id", "line-3"));
    o = kit_find(l, "reply", "action", "weather");
    assert_true(json_number_value(json_object_get(json_object_get(o, "result"), "temp_c")) == 18.5);
    assert_true(json_is_true(json_object_get(kit_find(l, "summary", NULL, NULL), "ok")));
    json_decref(l);
    kit_out_free(&r);
}

static void test_template_builds_with_only_pkg_config_and_runs_in_the_harness(void **state)
{
    (void)state;
    const char *env[] = {pcenv, NULL};
    kit_out r;
    kit_runl(&r, hello, env, "make", "libhello.so", NULL);
    if (r.status != 0) fail_msg("make: %s%s", r.out, r.err);
    kit_out_free(&r);
    run_hello("manifest.json");
}

static void test_template_builds_with_the_cmake_package_and_runs_in_the_harness(void **state)
{
    (void)state;
    char pp[700];
    snprintf(pp, sizeof(pp), "-DCMAKE_PREFIX_PATH=%s", prefix);
    kit_out r;
    kit_runl(&r, hello, NULL, "cmake", "-S", ".", "-B", "build", pp, NULL);
    if (r.status != 0) fail_msg("cmake: %s%s", r.out, r.err);
    kit_out_free(&r);
    kit_runl(&r, hello, NULL, "cmake", "--build", "build", NULL);
    if (r.status != 0) fail_msg("cmake --build: %s%s", r.out, r.err);
    kit_out_free(&r);
    run_hello("build/manifest.json");
}

/* `agenthost plugin new` from the installed SDK: the template installed
 * with it, built with make, its unit test (agenthost/testing.h) passing,
 * its harness check passing, and its CMake build too; all as generated. */
static void test_plugin_new_scaffolds_a_plugin_that_builds_tests_and_checks(void **state)
{
    (void)state;
    char dir[700], agenthost[700], path[900], pp[700];
    snprintf(dir, sizeof(dir), "%s/wordcount", root);
    snprintf(agenthost, sizeof(agenthost), "%s/bin/agenthost", prefix);
    snprintf(path, sizeof(path), "PATH=%s/bin:/usr/local/bin:/usr/bin:/bin", prefix);
    const char *env[] = {pcenv, path, NULL};
    kit_out r;
    kit_runl(&r, root, env, agenthost, "plugin", "new", "wordcount", "--dir", dir, NULL);
    if (r.status != 0) fail_msg("plugin new: %s%s", r.out, r.err);
    assert_non_null(strstr(r.out, dir));
    kit_out_free(&r);
    /* A second time into the same folder is refused, changing nothing. */
    kit_runl(&r, root, env, agenthost, "plugin", "new", "wordcount", "--dir", dir, NULL);
    assert_int_equal(r.status, 1);
    kit_out_free(&r);
    static const char *const steps[] = {"all", "test", "check"};
    for (size_t i = 0; i < 3; i++) {
        kit_runl(&r, dir, env, "make", steps[i], NULL);
        if (r.status != 0) fail_msg("make %s: %s%s", steps[i], r.out, r.err);
        if (!strcmp(steps[i], "check")) {
            json_t *l = kit_lines(r.out);
            json_t *reply = kit_find(l, "reply", "action", "total");
            assert_int_equal(
                json_integer_value(json_object_get(json_object_get(reply, "result"), "total")), 5);
            assert_int_equal(kit_count(l, "publish"), 2);
            json_decref(l);
        }
        kit_out_free(&r);
    }
    /* The unit test under valgrind: the fake host leaks nothing. */
    if (access("/usr/bin/valgrind", X_OK) == 0) {
        kit_runl(&r, dir, env, "make", "memcheck", NULL);
        if (r.status != 0) fail_msg("make memcheck: %s%s", r.out, r.err);
        kit_out_free(&r);
    }
    snprintf(pp, sizeof(pp), "-DCMAKE_PREFIX_PATH=%s", prefix);
    kit_runl(&r, dir, NULL, "cmake", "-S", ".", "-B", "build", pp, NULL);
    if (r.status != 0) fail_msg("cmake: %s%s", r.out, r.err);
    kit_out_free(&r);
    kit_runl(&r, dir, NULL, "cmake", "--build", "build", NULL);
    if (r.status != 0) fail_msg("cmake --build: %s%s", r.out, r.err);
    kit_out_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_installed_pkg_config_file_finds_its_prefix_wherever_installed),
        cmocka_unit_test(test_template_builds_with_only_pkg_config_and_runs_in_the_harness),
        cmocka_unit_test(test_template_builds_with_the_cmake_package_and_runs_in_the_harness),
        cmocka_unit_test(test_plugin_new_scaffolds_a_plugin_that_builds_tests_and_checks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
