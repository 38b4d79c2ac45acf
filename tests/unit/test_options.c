/*
 * test_options.c - the declared options (host/app/options.c, config_options)
 * and the engine that applies them (core/optmap.c): defaults, unit
 * conversions, ranges and unknown keys refused with the key named, and the
 * table's own consistency.
 */
#include "cmocka_pre.h"

#include "core/jsonschema.h"
#include "app/options.h"

#include <agenthost/plugin.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static config C;
static host_settings HS;
static char ERR[1024];

/* Finalize a configuration given as JSON text; 0 or the error's code (ERR). */
static int finalize(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j) fail_msg("bad test JSON: %s: %s", text, je.text);
    config_free(&C);
    assert_int_equal(config_load(&C, NULL, ERR, sizeof(ERR)), 0);
    json_object_update(C.json, j);
    json_decref(j);
    ERR[0] = 0;
    return host_config_finalize(&C, &HS, "test.json", ERR, sizeof(ERR));
}

static int teardown(void **s)
{
    (void)s;
    config_free(&C);
    return 0;
}

static void test_defaults_are_applied_in_the_modules_units(void **s)
{
    (void)s;
    host_settings d;
    assert_int_equal(host_settings_defaults(&d, ERR, sizeof(ERR)), 0);
    assert_int_equal(d.log.min_level, LOG_INFO);
    assert_true(d.log.to_stderr);
    assert_int_equal(d.log.rotate_bytes, 16u << 20);
    assert_int_equal(d.log.keep, 5);
    assert_int_equal(d.store.map_size, 64u << 20);
    assert_int_equal(d.store.max_map_size, 65536ull << 20);
    assert_int_equal(d.supervisor.ping_interval_ms, 5000);
    assert_int_equal(d.http.max_body, 8192u << 10);
    assert_int_equal(d.http.idle_timeout_s, 30);
    assert_null(d.http.tls_cert);
    assert_int_equal(d.bus.idempotency_window_ms, 86400000ull);
    assert_int_equal(d.bus.retention_max_age_ms, 604800000ull);
    assert_int_equal(d.bus.max_attempts, 5);
    assert_null(d.bus.topic_overrides);
    assert_int_equal(d.broker.max_stream_bytes, 32768u << 10);
    assert_int_equal(d.broker.max_in_flight, 16000);
    assert_null(d.instances);
    /* and a file without the options gives the same */
    assert_int_equal(finalize("{}"), 0);
    assert_memory_equal(&HS.bus, &d.bus, sizeof(d.bus));
    assert_memory_equal(&HS.broker, &d.broker, sizeof(d.broker));
}

static void test_values_are_converted_from_the_files_units(void **s)
{
    (void)s;
    assert_int_equal(finalize("{\"http\": {\"max_body_kb\": 2, \"idle_timeout_s\": 7,"
                              "           \"tls_cert\": \"c.pem\"},"
                              " \"store\": {\"map_mb\": 3},"
                              " \"log\": {\"level\": \"warn\", \"stderr\": false},"
                              " \"bus\": {\"retention_max_age_s\": 60, \"ack_timeout_ms\": 70,"
                              "           \"max_attempts\": 9.0, \"topics\": {\"a.>\": {}}},"
                              " \"instances\": []}"),
                     0);
    assert_int_equal(HS.http.max_body, 2048);
    assert_int_equal(HS.http.idle_timeout_s, 7); /* seconds stay seconds */
    assert_string_equal(HS.http.tls_cert, "c.pem");
    assert_int_equal(HS.store.map_size, 3u << 20);
    assert_int_equal(HS.log.min_level, LOG_WARN);
    assert_false(HS.log.to_stderr);
    assert_int_equal(HS.bus.retention_max_age_ms, 60000);
    assert_int_equal(HS.bus.ack_timeout_ms, 70);
    assert_int_equal(HS.bus.max_attempts, 9); /* an integral number is an integer */
    assert_ptr_equal(HS.bus.topic_overrides,
                     json_object_get(json_object_get(C.json, "bus"), "topics"));
    assert_ptr_equal(HS.instances, json_object_get(C.json, "instances"));
}

static void test_ranges_are_enforced_naming_the_option(void **s)
{
    (void)s;
    assert_int_equal(finalize("{\"bus\": {\"max_attempts\": 0}}"), AH_EINVAL);
    assert_string_equal(ERR, "test.json: bus.max_attempts: must be at least 1");
    assert_int_equal(finalize("{\"bus\": {\"max_attempts\": 1001}}"), AH_EINVAL);
    assert_string_equal(ERR, "test.json: bus.max_attempts: must be at most 1000");
    assert_int_equal(finalize("{\"bus\": {\"max_attempts\": 1000}}"), 0);
    assert_int_equal(finalize("{\"log\": {\"level\": \"loud\"}}"), AH_EINVAL);
    assert_non_null(strstr(ERR, "test.json: log.level: "));
    assert_int_equal(finalize("{\"http\": {\"max_body_kb\": \"big\"}}"), AH_EINVAL);
    assert_string_equal(ERR, "test.json: http.max_body_kb: expected integer, got \"big\"");
    assert_int_equal(finalize("{\"data_dir\": \"\"}"), AH_EINVAL);
    assert_non_null(strstr(ERR, "test.json: data_dir: "));
}

static void test_a_value_its_field_cannot_hold_is_refused(void **s)
{
    (void)s;
    /* ack_timeout_ms declares no maximum; its field is 32 bits. */
    assert_int_equal(finalize("{\"bus\": {\"ack_timeout_ms\": 4294967295}}"), 0);
    assert_int_equal(HS.bus.ack_timeout_ms, UINT32_MAX);
    assert_int_equal(finalize("{\"bus\": {\"ack_timeout_ms\": 4294967296}}"), AH_EINVAL);
    assert_string_equal(ERR, "test.json: bus.ack_timeout_ms: must be at most 4294967295 (the "
                             "most it can hold)");
    /* seconds into milliseconds: the limit is in the file's unit */
    assert_int_equal(finalize("{\"bus\": {\"retention_max_age_s\": 9223372036854775807}}"),
                     AH_EINVAL);
    assert_string_equal(ERR, "test.json: bus.retention_max_age_s: must be at most "
                             "18446744073709551 (the most it can hold)");
}

static void test_an_unknown_key_is_refused_naming_it_and_the_nearest(void **s)
{
    (void)s;
    assert_int_equal(finalize("{\"bus\": {\"max_atempts\": 3}}"), AH_EINVAL);
    assert_string_equal(ERR,
                        "test.json: bus.max_atempts: unknown option; did you mean max_attempts?");
    assert_int_equal(finalize("{\"buss\": {}}"), AH_EINVAL);
    assert_string_equal(ERR, "test.json: buss: unknown option; did you mean bus?");
    assert_int_equal(finalize("{\"http\": {\"max_body_bk\": 1}}"), AH_EINVAL);
    assert_string_equal(ERR,
                        "test.json: http.max_body_bk: unknown option; did you mean max_body_kb?");
    assert_int_equal(finalize("{\"log\": {\"colour\": true}}"), AH_EINVAL);
    assert_string_equal(ERR, "test.json: log.colour: unknown option");
    /* inside the structured parts too */
    assert_int_equal(finalize("{\"instances\": [{\"id\": \"a\", \"plugin\": \"echo\","
                              " \"consumer\": {\"max_in_fligt\": 2}}]}"),
                     AH_EINVAL);
    assert_string_equal(ERR, "test.json: instances[0].consumer.max_in_fligt: unknown option; "
                             "did you mean max_in_flight?");
    assert_int_equal(finalize("{\"bus\": {\"topics\": {\"a.>\": {\"max_cont\": 1}}}}"), AH_EINVAL);
    assert_string_equal(ERR, "test.json: bus.topics.a.>.max_cont: unknown option; did you mean "
                             "max_count?");
}

static void test_paths_are_resolved_and_computed_defaults_filled(void **s)
{
    (void)s;
    char cwd[PATH_MAX], want[PATH_MAX + 16];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(finalize("{\"data_dir\": \"./d\", \"logs_dir\": \"/abs/logs\"}"), 0);
    snprintf(want, sizeof(want), "%s/d", cwd);
    assert_string_equal(C.data_dir, want);
    assert_string_equal(C.logs_dir, "/abs/logs");
    snprintf(want, sizeof(want), "%s/d/master.key", cwd);
    assert_string_equal(C.master_key, want);
    assert_string_equal(C.listen, "127.0.0.1:8080");
    char longp[1100];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = 0;
    char text[1200];
    snprintf(text, sizeof(text), "{\"runner\": \"%s\"}", longp);
    assert_int_equal(finalize(text), AH_EINVAL);
    assert_string_equal(ERR, "test.json: runner: longer than 1023 bytes once resolved");
}

/* ---- the engine on a struct of its own ---- */

typedef struct demo {
    int level;
    unsigned long long big;
    unsigned long bytes;
    const char *name;
} demo;

static const opt_enum demo_levels[] = {{"low", -1}, {"high", 7}, {0}};

static const opt_decl demo_options[] = {
    {.section = "d",
     .name = "level",
     OPT_ENUM(demo, level, demo_levels),
     .def_str = "low",
     .doc = "a level"},
    {.section = "d",
     .name = "big",
     OPT_INT(demo, big),
     .def = 1,
     .min = -5,
     .max = OPT_NO_MAX,
     .doc = "unsigned, yet its range starts below 0"},
    {.name = "kb", OPT_KIB(demo, bytes), .def = 2, .min = 0, .max = OPT_NO_MAX, .doc = "a size"},
    {.name = "name", OPT_STRING(demo, name), .doc = "a name"},
    {0}};

static int apply_demo(const char *text, demo *d)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    memset(d, 0, sizeof(*d));
    ERR[0] = 0;
    int rc = optmap_apply(demo_options, j, d, ERR, sizeof(ERR));
    json_decref(j); /* name is not read after this */
    return rc;
}

static void test_the_engine_writes_each_field_type_and_refuses_what_does_not_fit(void **s)
{
    (void)s;
    demo d;
    assert_int_equal(apply_demo(NULL, &d), 0);
    assert_int_equal(d.level, -1);
    assert_int_equal(d.big, 1);
    assert_int_equal(d.bytes, 2048);
    assert_null(d.name);
    assert_int_equal(apply_demo("{\"d\": {\"level\": \"high\", \"big\": 18446744073709551}}", &d),
                     0);
    assert_int_equal(d.level, 7);
    assert_int_equal(d.big, 18446744073709551ull);
    assert_int_equal(apply_demo("{\"d\": {\"big\": -1}}", &d), AH_EINVAL);
    assert_string_equal(ERR, "d.big: must be at least 0 (the least it can hold)");
    assert_int_equal(apply_demo("{\"kb\": 18014398509481984}", &d), AH_EINVAL);
    assert_string_equal(ERR, "kb: must be at most 18014398509481983 (the most it can hold)");
    assert_int_equal(apply_demo("{\"name\": 3}", &d), AH_EINVAL);
    assert_string_equal(ERR, "name: expected string, got 3");
    assert_int_equal(apply_demo("{\"d\": 3}", &d), AH_EINVAL);
    assert_string_equal(ERR, "d: expected object, got 3");
}

/* ---- the declarations themselves ---- */

static void test_every_declaration_is_consistent(void **s)
{
    (void)s;
    char key[128], seen[200][128];
    size_t n = 0;
    for (const opt_decl *const *t = host_option_tables; *t; t++)
        for (const opt_decl *d = *t; d->name; d++) {
            optmap_key(d, key, sizeof(key));
            for (size_t i = 0; i < n; i++)
                if (!strcmp(seen[i], key)) fail_msg("%s is declared twice", key);
            assert_true(n < 200);
            snprintf(seen[n++], sizeof(seen[0]), "%s", key);
            if (!d->doc || !d->doc[0]) fail_msg("%s has no doc", key);
            if (d->type == OPT_T_INT || d->type == OPT_T_SIZE || d->type == OPT_T_DURATION) {
                if (d->max < d->min) fail_msg("%s: maximum below minimum (forgot .max?)", key);
                if (d->def < d->min || d->def > d->max) fail_msg("%s: default out of range", key);
            }
            if ((d->type == OPT_T_SIZE || d->type == OPT_T_DURATION) && !d->unit)
                fail_msg("%s: a size or duration needs a unit", key);
        }
    /* and every default and maximum fits its field: the defaults apply,
     * and so does a file setting every bounded option to its maximum */
    host_settings d;
    if (host_settings_defaults(&d, ERR, sizeof(ERR)) < 0) fail_msg("%s", ERR);
    json_t *most = json_object();
    for (const opt_decl *o = host_options; o->name; o++) {
        if (o->type != OPT_T_INT && o->type != OPT_T_SIZE && o->type != OPT_T_DURATION) continue;
        if (o->max == OPT_NO_MAX) continue;
        json_t *sec = json_object_get(most, o->section);
        if (!sec) json_object_set_new(most, o->section, sec = json_object());
        json_object_set_new(sec, o->name, json_integer(o->max));
    }
    if (optmap_apply(host_options, most, &d, ERR, sizeof(ERR)) < 0) fail_msg("%s", ERR);
    json_decref(most);
}

static void test_the_merged_schema_is_usable_and_keeps_the_structured_parts(void **s)
{
    (void)s;
    json_t *schema = config_schema_new(host_options);
    assert_non_null(schema);
    if (jsonschema_check(schema, ERR, sizeof(ERR)) < 0) fail_msg("%s", ERR);
    const json_t *props = json_object_get(schema, "properties");
    const json_t *bp = json_object_get(json_object_get(props, "bus"), "properties");
    assert_true(
        json_is_object(json_object_get(json_object_get(bp, "topics"), "additionalProperties")));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(bp, "max_attempts"), "maximum")), 1000);
    assert_non_null(json_object_get(json_object_get(props, "instances"), "items"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(props, "listen"), "default")),
        "127.0.0.1:8080");
    json_decref(schema);
}

/* ---- the documentation ---- */

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("%s: cannot open", path);
    static char buf[1 << 18];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    assert_true(n < sizeof(buf) - 1);
    buf[n] = 0;
    return buf;
}

static void test_the_docs_options_table_is_the_declarations(void **s)
{
    (void)s;
    const char *begin = "<!-- options:begin -->\n", *end = "<!-- options:end -->\n";
    char *doc = read_text(TH_SOURCE_DIR "/docs/operations.md");
    char *b = strstr(doc, begin), *e = b ? strstr(b, end) : NULL;
    if (!b || !e) fail_msg("docs/operations.md: no %s ... %s markers", begin, end);
    b += strlen(begin);
    *e = 0;
    char *want = optmap_markdown(host_option_tables);
    assert_non_null(want);
    if (strcmp(b, want) != 0) {
        size_t i = 0, line = 1;
        for (; b[i] && b[i] == want[i]; i++)
            line += b[i] == '\n';
        while (i && b[i - 1] != '\n')
            i--; /* from the start of the line that differs */
        fail_msg("docs/operations.md: the options table differs from the declarations at its "
                 "line %zu (run `make docs`, or scripts/options-doc.sh BUILD/agenthost):\n"
                 "  doc:  %.*s\n  code: %.*s",
                 line, (int)strcspn(b + i, "\n"), b + i, (int)strcspn(want + i, "\n"), want + i);
    }
    free(want);
}

static void test_the_json_listing_holds_every_option_once_with_its_range(void **s)
{
    (void)s;
    json_t *a = optmap_json(host_option_tables);
    size_t n = 0;
    for (const opt_decl *const *t = host_option_tables; *t; t++)
        for (const opt_decl *d = *t; d->name; d++)
            n++;
    assert_int_equal(json_array_size(a), n);
    size_t i;
    json_t *o;
    bool found = false;
    json_array_foreach(a, i, o)
    {
        if (strcmp(json_string_value(json_object_get(o, "key")), "bus.max_event_kb") != 0) continue;
        found = true;
        assert_string_equal(json_string_value(json_object_get(o, "type")), "size");
        assert_string_equal(json_string_value(json_object_get(o, "unit")), "KiB");
        assert_int_equal(json_integer_value(json_object_get(o, "default")), 1024);
        assert_int_equal(json_integer_value(json_object_get(o, "minimum")), 1);
        assert_int_equal(json_integer_value(json_object_get(o, "maximum")), 65536);
    }
    assert_true(found);
    json_decref(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_defaults_are_applied_in_the_modules_units, teardown),
        cmocka_unit_test_teardown(test_values_are_converted_from_the_files_units, teardown),
        cmocka_unit_test_teardown(test_ranges_are_enforced_naming_the_option, teardown),
        cmocka_unit_test_teardown(test_a_value_its_field_cannot_hold_is_refused, teardown),
        cmocka_unit_test_teardown(test_an_unknown_key_is_refused_naming_it_and_the_nearest,
                                  teardown),
        cmocka_unit_test_teardown(test_paths_are_resolved_and_computed_defaults_filled, teardown),
        cmocka_unit_test(test_the_engine_writes_each_field_type_and_refuses_what_does_not_fit),
        cmocka_unit_test(test_every_declaration_is_consistent),
        cmocka_unit_test(test_the_merged_schema_is_usable_and_keeps_the_structured_parts),
        cmocka_unit_test(test_the_docs_options_table_is_the_declarations),
        cmocka_unit_test(test_the_json_listing_holds_every_option_once_with_its_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
