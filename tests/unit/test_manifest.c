#include "cmocka_pre.h"

#include "plugin/manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOOD                                                                                       \
    "{\"name\":\"demo\",\"version\":\"1.2.3\",\"abi\":\"1.0\",\"library\":\"libdemo.so\","         \
    "\"description\":\"d\""

static int parse(const char *text, manifest **m, char *err)
{
    return manifest_parse("plugins/demo/manifest.json", text, strlen(text), false, m, err, 512);
}

static void test_minimal_manifest_gets_defaults(void **s)
{
    (void)s;
    manifest *m;
    char err[512];
    assert_int_equal(parse(GOOD "}", &m, err), 0);
    assert_string_equal(m->name, "demo");
    assert_int_equal(m->abi_major, 1);
    assert_int_equal(m->limits.memory_mb, 256);
    assert_int_equal(m->limits.stall_ms, 10000);
    assert_int_equal(m->restart.policy, RESTART_ON_FAILURE);
    assert_int_equal(m->restart.max_crashes, 5);
    assert_non_null(strstr(m->library, "/libdemo.so"));
    manifest_free(m);
}

static void test_wrong_type_names_file_and_field(void **s)
{
    (void)s;
    manifest *m;
    char err[512];
    assert_int_equal(parse(GOOD ",\"limits\":{\"memory_mb\":\"lots\"}}", &m, err), -1);
    assert_string_equal(
        err, "plugins/demo/manifest.json: limits.memory_mb: expected integer, got \"lots\"");
    assert_int_equal(parse("{\"name\":\"demo\"", &m, err), -1);
    assert_non_null(strstr(err, "invalid JSON: line 1"));
    assert_int_equal(parse(GOOD ",\"name\":\"x\"}", &m, err), -1); /* duplicate key */
    assert_int_equal(parse(GOOD ",\"surprise\":1}", &m, err), -1);
    assert_string_equal(err, "plugins/demo/manifest.json: surprise: unknown field");
    assert_int_equal(parse(GOOD ",\"library\":\"../evil.so\"}", &m, err), -1);
    /* A step may emit only what the host knows how to build from a result. */
    assert_int_equal(
        parse(GOOD
              ",\"steps\":[{\"kind\":\"crm.x\",\"action\":\"a\",\"emits\":\"contact.created\"}]}",
              &m, err),
        -1);
    assert_non_null(strstr(err, "steps[0].emits"));
}

static void test_semantic_checks(void **s)
{
    (void)s;
    manifest *m;
    char err[512];
    assert_int_equal(parse(GOOD ",\"actions\":[{\"name\":\"a\"},{\"name\":\"a\"}]}", &m, err), -1);
    assert_non_null(strstr(err, "actions[1].name: duplicate action"));
    assert_int_equal(
        parse(GOOD ",\"webhook\":{\"secret_header\":\"X-S\",\"secret\":\"nope\"}}", &m, err), -1);
    assert_non_null(strstr(err, "webhook.secret"));
    assert_int_equal(parse(GOOD ",\"config_schema\":{\"type\":\"nonsense\"}}", &m, err), -1);
    assert_non_null(strstr(err, "config_schema"));
    assert_int_equal(
        parse(GOOD ",\"restart\":{\"backoff_ms\":1000,\"max_backoff_ms\":10}}", &m, err), -1);
    assert_non_null(strstr(err, "restart.max_backoff_ms"));
    assert_int_equal(manifest_parse("/nonexistent/manifest.json", GOOD "}", strlen(GOOD "}"), true,
                                    &m, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "library"));
}

#define EXPORT_ACTION(sig, args)                                                                   \
    GOOD ",\"actions\":[{\"name\":\"f\",\"export\":{\"symbol\":\"f\",\"signature\":\"" sig         \
         "\"}" args "}]}"

/* An export without "args" gets them from its signature: what the host
 * checks calls against, and what an LLM tool made of the action shows. */
static void test_export_without_args_gets_a_schema_from_its_signature(void **s)
{
    (void)s;
    manifest *m;
    char err[512];
    assert_int_equal(
        parse(EXPORT_ACTION("double (double x, int32 n, bool up, string who, json extra)", ""), &m,
              err),
        0);
    const json_t *args = json_object_get(json_array_get(manifest_actions(m), 0), "args");
    char *text = json_dumps(args, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(text, "{\"additionalProperties\":false,\"properties\":{\"extra\":{},"
                              "\"n\":{\"type\":\"integer\"},\"up\":{\"type\":\"boolean\"},"
                              "\"who\":{\"type\":\"string\"},\"x\":{\"type\":\"number\"}},"
                              "\"required\":[\"x\",\"n\",\"up\",\"who\",\"extra\"],"
                              "\"type\":\"object\"}");
    free(text);
    manifest_free(m);
}

/* A manifest that disagrees with its own signature is refused, naming
 * the field, at load (manifest check, pack, install, serve). */
static void test_export_signature_and_args_must_agree(void **s)
{
    (void)s;
    manifest *m;
    char err[512];
    assert_int_equal(parse(EXPORT_ACTION("int64 (int64 a, float b)", ""), &m, err), -1);
    assert_string_equal(err, "plugins/demo/manifest.json: actions[0].export.signature: "
                             "argument 2: unknown type \"float\" (an argument's type is one of "
                             "int64, int32, double, bool, string, json)");
    assert_int_equal(parse(EXPORT_ACTION("int64 (int64 a)",
                                         ",\"args\":{\"type\":\"object\",\"required\":[\"a\"],"
                                         "\"properties\":{\"a\":{\"type\":\"string\"}}}"),
                           &m, err),
                     -1);
    assert_string_equal(err, "plugins/demo/manifest.json: actions[0].args: argument a is int64 in "
                             "the signature but \"string\" here");
    assert_int_equal(
        parse(EXPORT_ACTION("int64 (int64 a)", ",\"args\":{\"type\":\"object\",\"properties\":{}}"),
              &m, err),
        -1);
    assert_non_null(strstr(err, "argument a of the signature is not among its properties"));
    assert_int_equal(
        parse(EXPORT_ACTION("int64 (int64 a)", ",\"args\":{\"type\":\"object\","
                                               "\"properties\":{\"a\":{\"type\":\"integer\"}}}"),
              &m, err),
        -1);
    assert_non_null(strstr(err, "argument a of the signature must be required"));
    /* An integer is a fine double. */
    assert_int_equal(
        parse(EXPORT_ACTION("double (double a)",
                            ",\"args\":{\"type\":\"object\",\"required\":[\"a\"],"
                            "\"properties\":{\"a\":{\"type\":\"integer\",\"minimum\":0}}}"),
              &m, err),
        0);
    manifest_free(m);
}

static void test_topic_permissions_honour_wildcards(void **s)
{
    (void)s;
    manifest *m;
    char err[512];
    assert_int_equal(
        parse(GOOD ",\"publishes\":[\"crm.>\",\"message.out\"],\"subscribes\":[\"message.*\"],"
                   "\"secrets\":[{\"name\":\"api_key\"}]}",
              &m, err),
        0);
    assert_true(manifest_may_publish(m, "crm.lead.created"));
    assert_true(manifest_may_publish(m, "message.out"));
    assert_false(manifest_may_publish(m, "message.in"));
    assert_true(manifest_subscribes(m, "message.in"));
    assert_false(manifest_subscribes(m, "crm.lead"));
    assert_true(manifest_declares_secret(m, "api_key"));
    assert_false(manifest_declares_secret(m, "other"));
    manifest_free(m);
}

static void test_oversized_manifest_is_refused(void **s)
{
    (void)s;
    size_t n = MANIFEST_MAX_BYTES + 10;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[n] = 0;
    manifest *m;
    char err[512];
    assert_int_equal(manifest_parse("big.json", big, n, false, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "larger than"));
    free(big);
}

static void test_first_party_manifests_are_valid(void **s)
{
    (void)s;
    const char *files[] = {TH_SOURCE_DIR "/manifests/echo.json"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        manifest *m;
        char err[512];
        if (manifest_load(files[i], false, &m, err, sizeof(err)) != 0) fail_msg("%s", err);
        manifest_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_manifest_gets_defaults),
        cmocka_unit_test(test_wrong_type_names_file_and_field),
        cmocka_unit_test(test_semantic_checks),
        cmocka_unit_test(test_export_without_args_gets_a_schema_from_its_signature),
        cmocka_unit_test(test_export_signature_and_args_must_agree),
        cmocka_unit_test(test_topic_permissions_honour_wildcards),
        cmocka_unit_test(test_oversized_manifest_is_refused),
        cmocka_unit_test(test_first_party_manifests_are_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
