/*
 * Saving scenario versions through the real binary: content with problems
 * is refused with every one of them at once (422), jq compile errors
 * included, found by the real expression workers (the jq plugin, sandboxed);
 * a plugin step needs its plugin installed and an instance configured;
 * nothing is saved until all is well; YAML and BPMN go in and come out the
 * same, BPMN drawn elsewhere is checked like a save and never half-imported;
 * and without expression workers a scenario with expressions is not saved
 * (503), one without them is.
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

static int setup(void **s)
{
    (void)s;
    if (th_init(&H, "scnsave") || th_install_plugin(&H, "jq") ||
        th_install_plugin(&H, "llm-openai") ||
        th_config(&H, "{\"expressions\": {\"workers\": 1},"
                      " \"instances\": [{\"id\": \"llm\", \"plugin\": \"llm-openai\","
                      "   \"config\": {\"base_url\": \"http://127.0.0.1:9/v1\"}}]}") ||
        th_start(&H, NULL, 15000) || !th_wait_state(&H, "jq-1", "ready", 15000))
        return -1;
    json_t *o = NULL;
    if (th_http(&H, "POST", "/api/v1/scenarios", "{\"name\": \"Survey\"}", NULL, &o) != 201)
        return -1;
    snprintf(SCN, sizeof(SCN), "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

static void versions_path(char *out, size_t n, const char *query)
{
    snprintf(out, n, "/api/v1/scenarios/%s/versions%s", SCN, query ? query : "");
}

/* The message of the problem at path, or NULL. */
static const char *problem_at(json_t *answer, const char *path)
{
    size_t i;
    json_t *e;
    json_array_foreach(th_get(answer, "error.errors"), i, e)
    {
        if (!strcmp(json_string_value(json_object_get(e, "path")), path))
            return json_string_value(json_object_get(e, "message"));
    }
    return NULL;
}

static void expect_problem(json_t *answer, const char *path, const char *part)
{
    const char *m = problem_at(answer, path);
    if (!m || !strstr(m, part)) {
        char *all = json_dumps(answer, JSON_INDENT(1));
        fail_msg("no problem at %s saying \"%s\" in %s", path, part, all);
    }
}

static json_int_t version_count(void)
{
    char path[200];
    versions_path(path, sizeof(path), NULL);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    json_int_t n = (json_int_t)json_array_size(json_object_get(o, "versions"));
    json_decref(o);
    return n;
}

static const char BROKEN[] =
    "{\"message\": \"broken\", \"content\": {\"format\": \"agenthost.scenario/1\","
    " \"default_language\": \"en\", \"languages\": [\"en\", \"ru\"], \"start\": \"route\","
    " \"variables\": {\"n\": {\"type\": \"integer\", \"default\": 0}},"
    " \"steps\": {"
    "  \"route\": {\"kind\": \"switch\", \"cases\": [{\"if\": \".vars.n >\", \"next\": \"calc\"},"
    "     {\"if\": \".vars.n > 1\", \"next\": \"answer\"}], \"default\": \"nowhere\"},"
    "  \"calc\": {\"kind\": \"set\", \"set\": {\"n\": \".vars.n | frobnicate\"}, \"next\": "
    "\"answer\"},"
    "  \"answer\": {\"kind\": \"llm.chat\", \"args\": {\"prompt\": \"{{ vars.n | uper }}\"}, "
    "\"next\": \"greet\"},"
    "  \"greet\": {\"kind\": \"say\", \"text\": {\"en\": \"Hi\"}, \"next\": \"lead\"},"
    "  \"lead\": {\"kind\": \"crm.create_lead\", \"next\": \"bye\"},"
    "  \"bye\": {\"kind\": \"end\", \"retries\": \"lots\"},"
    "  \"island\": {\"kind\": \"end\"}}}}";

static void test_every_problem_is_refused_at_once_with_the_pools_jq_errors(void **s)
{
    (void)s;
    char path[200];
    versions_path(path, sizeof(path), NULL);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "POST", path, BROKEN, NULL, &o), 422);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "invalid_scenario");
    assert_string_equal(json_string_value(th_get(o, "error.message")), "8 problems");
    assert_int_equal(json_array_size(th_get(o, "error.errors")), 8);
    expect_problem(o, "steps.route.default", "no step \"nowhere\"");
    expect_problem(o, "steps.answer.args.prompt", "unknown filter \"uper\"");
    expect_problem(o, "steps.greet.text.ru", "missing");
    expect_problem(o, "steps.lead.kind", "no installed plugin declares it");
    expect_problem(o, "steps.bye.retries", "expected integer");
    expect_problem(o, "steps.island", "unreachable");
    /* Compiled by the jq worker: its errors, at the expressions' paths. */
    expect_problem(o, "steps.route.cases[0].if", "jq: syntax error");
    expect_problem(o, "steps.calc.set.n", "jq: frobnicate/0 is not defined");
    assert_null(problem_at(o, "steps.route.cases[1].if"));
    json_decref(o);
    /* Nothing was saved. */
    assert_int_equal(version_count(), 0);
}

static const char GOOD[] =
    "{\"message\": \"good\", \"content\": {\"format\": \"agenthost.scenario/1\","
    " \"default_language\": \"en\", \"languages\": [\"en\", \"ru\"], \"start\": \"route\","
    " \"variables\": {\"n\": {\"type\": \"integer\", \"default\": 0}},"
    " \"steps\": {"
    "  \"route\": {\"kind\": \"switch\", \"cases\": [{\"if\": \".vars.n > 1\", \"next\": \"calc\"},"
    "     {\"if\": \".vars.n > 1\", \"next\": \"answer\"}], \"default\": \"answer\"},"
    "  \"calc\": {\"kind\": \"set\", \"set\": {\"n\": \".vars.n + 1\"}, \"next\": \"answer\"},"
    "  \"answer\": {\"kind\": \"llm.chat\", \"args\": {\"prompt\": \"{{ vars.n }}\"}, \"next\": "
    "\"bye\"},"
    "  \"bye\": {\"kind\": \"end\", \"text\": {\"en\": \"Bye\", \"ru\": \"Пока\"}}}}}";

static void test_a_valid_scenario_is_saved_once(void **s)
{
    (void)s;
    char path[200];
    versions_path(path, sizeof(path), NULL);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "POST", path, GOOD, NULL, &o), 201);
    json_int_t n = json_integer_value(json_object_get(o, "number"));
    assert_string_equal(json_string_value(json_object_get(o, "message")), "good");
    json_decref(o);
    /* The same content: the same version. */
    assert_int_equal(th_http(&H, "POST", path, GOOD, NULL, &o), 200);
    assert_int_equal(json_integer_value(json_object_get(o, "number")), n);
    json_decref(o);
}

static void test_yaml_goes_in_and_comes_out_the_same(void **s)
{
    (void)s;
    char path[300], *yaml = NULL;
    snprintf(path, sizeof(path), "%s/docs/examples/scenarios/onboarding-survey.yaml",
             TH_SOURCE_DIR);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char text[64 * 1024];
    size_t len = fread(text, 1, sizeof(text) - 1, f);
    text[len] = 0;
    fclose(f);
    char auth[256];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    const char *hs[] = {auth, NULL};
    versions_path(path, sizeof(path), "?message=from%20YAML");
    char *rb = NULL;
    int st = th_http_raw(&H, "POST", path, "application/yaml", text, len, hs, NULL, &rb);
    if (st != 201) fail_msg("POST YAML answered %d: %s", st, rb);
    json_t *o = json_loads(rb, 0, NULL);
    free(rb);
    assert_string_equal(json_string_value(json_object_get(o, "message")), "from YAML");
    json_int_t n = json_integer_value(json_object_get(o, "number"));
    json_decref(o);
    /* As YAML: the very text (it is the exporter's own). */
    snprintf(path, sizeof(path), "/api/v1/scenarios/%s/versions/%lld?format=yaml", SCN,
             (long long)n);
    char *rh = NULL;
    assert_int_equal(th_http_raw(&H, "GET", path, NULL, NULL, 0, hs, &rh, &yaml), 200);
    assert_non_null(strcasestr(rh, "Content-Type: application/yaml"));
    assert_string_equal(yaml, text);
    free(rh);
    free(yaml);
    /* As JSON: the example's JSON. */
    snprintf(path, sizeof(path), "/api/v1/scenarios/%s/versions/%lld", SCN, (long long)n);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    char file[300];
    snprintf(file, sizeof(file), "%s/docs/examples/scenarios/onboarding-survey.json",
             TH_SOURCE_DIR);
    json_t *want = json_load_file(file, 0, NULL);
    assert_true(json_equal(json_object_get(o, "content"), want));
    json_decref(want);
    json_decref(o);
}

static void test_bad_yaml_and_other_bodies_are_refused(void **s)
{
    (void)s;
    char path[200], auth[256];
    versions_path(path, sizeof(path), NULL);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    const char *hs[] = {auth, NULL};
    json_int_t before = version_count();
    char *rb = NULL;
    const char *bad = "format: agenthost.scenario/1\nsteps: [1\n";
    assert_int_equal(
        th_http_raw(&H, "POST", path, "application/yaml", bad, strlen(bad), hs, NULL, &rb), 400);
    assert_non_null(strstr(rb, "malformed_yaml"));
    assert_non_null(strstr(rb, "3:1"));
    free(rb);
    const char *list = "- a\n- b\n";
    assert_int_equal(
        th_http_raw(&H, "POST", path, "application/yaml", list, strlen(list), hs, NULL, &rb), 422);
    free(rb);
    assert_int_equal(th_http_raw(&H, "POST", path, "text/plain", "x", 1, hs, NULL, &rb), 415);
    assert_non_null(strstr(rb, "application/yaml"));
    free(rb);
    assert_int_equal(version_count(), before);
}

/* POST a BPMN body; the status, and the answer (json_decref). */
static int post_bpmn(const char *ctype, const char *xml, size_t len, json_t **out)
{
    char path[200], auth[256], *rb = NULL;
    versions_path(path, sizeof(path), "?message=from%20BPMN");
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    const char *hs[] = {auth, NULL};
    int st = th_http_raw(&H, "POST", path, ctype, xml, len, hs, NULL, &rb);
    *out = json_loads(rb ? rb : "", 0, NULL);
    free(rb);
    return st;
}

static void test_bpmn_goes_out_and_comes_back_the_same(void **s)
{
    (void)s;
    json_t *o = NULL;
    char path[200], auth[256], *rh = NULL, *xml = NULL;
    versions_path(path, sizeof(path), NULL);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    json_int_t n = json_integer_value(th_get(o, "versions.0.number"));
    json_decref(o);
    snprintf(path, sizeof(path), "/api/v1/scenarios/%s/versions/%lld?format=bpmn", SCN,
             (long long)n);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    const char *hs[] = {auth, NULL};
    assert_int_equal(th_http_raw(&H, "GET", path, NULL, NULL, 0, hs, &rh, &xml), 200);
    assert_non_null(strcasestr(rh, "Content-Type: application/xml"));
    assert_non_null(strstr(xml, "<bpmndi:BPMNDiagram"));
    /* Saved back: the same content, so the same version (200, not 201). */
    assert_int_equal(post_bpmn("application/bpmn+xml", xml, strlen(xml), &o), 200);
    assert_int_equal(json_integer_value(json_object_get(o, "number")), n);
    json_decref(o);
    free(rh);
    free(xml);
}

#define DRAWN(body)                                                                                \
    "<?xml version=\"1.0\"?><definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\" "   \
    "id=\"d\"><process id=\"P\"><startEvent id=\"S\"/>" body "</process></definitions>"

/* Drawn elsewhere: saved when all of it maps and it validates; else
 * nothing is, with every element that cannot be mapped or every problem. */
static void test_bpmn_drawn_elsewhere_is_checked_like_a_save_and_never_half_imported(void **s)
{
    (void)s;
    json_int_t before = version_count();
    json_t *o = NULL;
    /* A FEEL condition is no jq: the save's own check refuses it. */
    static const char feel[] = DRAWN(
        "<exclusiveGateway id=\"G\" default=\"f3\"/><task id=\"A\" name=\"Yes\"/>"
        "<endEvent id=\"E\"/><sequenceFlow id=\"f1\" sourceRef=\"S\" targetRef=\"G\"/>"
        "<sequenceFlow id=\"f2\" sourceRef=\"G\" targetRef=\"A\"><conditionExpression>${x &gt; 1}"
        "</conditionExpression></sequenceFlow>"
        "<sequenceFlow id=\"f3\" sourceRef=\"G\" targetRef=\"E\"/>"
        "<sequenceFlow id=\"f4\" sourceRef=\"A\" targetRef=\"E\"/>");
    assert_int_equal(post_bpmn("application/xml", feel, strlen(feel), &o), 422);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "invalid_scenario");
    expect_problem(o, "steps.g.cases[0].if", "jq");
    json_decref(o);
    /* Elements that cannot be mapped: each named with its id. */
    static const char fork[] =
        DRAWN("<parallelGateway id=\"Fork\"/><subProcess id=\"Sub\"/><task id=\"A\"/>"
              "<sequenceFlow id=\"f1\" sourceRef=\"S\" targetRef=\"Fork\"/>"
              "<sequenceFlow id=\"f2\" sourceRef=\"Fork\" targetRef=\"A\"/>"
              "<sequenceFlow id=\"f3\" sourceRef=\"Fork\" targetRef=\"Sub\"/>");
    assert_int_equal(post_bpmn("application/xml", fork, strlen(fork), &o), 422);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "unmappable_bpmn");
    assert_int_equal(json_array_size(th_get(o, "error.errors")), 2);
    expect_problem(o, "Fork", "one step at a time");
    expect_problem(o, "Sub", "sub-process");
    assert_string_equal(json_string_value(th_get(o, "error.errors.0.type")), "parallelGateway");
    json_decref(o);
    /* Entities never: refused where the DOCTYPE stands. */
    static const char xxe[] = "<?xml version=\"1.0\"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "
                              "\"file:///etc/passwd\">]><definitions>&x;</definitions>";
    assert_int_equal(post_bpmn("text/xml", xxe, strlen(xxe), &o), 400);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "malformed_bpmn");
    assert_non_null(strstr(json_string_value(th_get(o, "error.message")), "DOCTYPE"));
    json_decref(o);
    assert_true(th_logs_contain(&H, "BPMN import refused: line 2: a DOCTYPE"));
    assert_int_equal(post_bpmn("application/xml", "<a>", 3, &o), 400);
    json_decref(o);
    assert_int_equal(version_count(), before);
    /* All of it maps and validates: saved. */
    static const char ok[] = DRAWN("<userTask id=\"Hi\" name=\"Hello!\"/><endEvent id=\"E\"/>"
                                   "<sequenceFlow id=\"f1\" sourceRef=\"S\" targetRef=\"Hi\"/>"
                                   "<sequenceFlow id=\"f2\" sourceRef=\"Hi\" targetRef=\"E\"/>");
    assert_int_equal(post_bpmn("application/xml", ok, strlen(ok), &o), 201);
    assert_string_equal(json_string_value(th_get(o, "content.steps.hi.text")), "Hello!");
    assert_string_equal(json_string_value(json_object_get(o, "message")), "from BPMN");
    json_decref(o);
    assert_int_equal(version_count(), before + 1);
}

/* A host without expression workers cannot check expressions: such a
 * scenario is not saved (503, each listed); one without any is. */
static void test_without_expression_workers_expressions_are_not_saved_unchecked(void **s)
{
    (void)s;
    th_host h;
    assert_int_equal(th_init(&h, "scnnopool"), 0);
    assert_int_equal(th_install_plugin(&h, "llm-openai"), 0);
    assert_int_equal(th_config(&h, "{\"expressions\": {\"workers\": 0},"
                                   " \"instances\": [{\"id\": \"llm\", \"plugin\": \"llm-openai\","
                                   "   \"config\": {\"base_url\": \"http://127.0.0.1:9/v1\"}}]}"),
                     0);
    assert_int_equal(th_start(&h, NULL, 15000), 0);
    json_t *o = NULL;
    assert_int_equal(th_http(&h, "POST", "/api/v1/scenarios", "{\"name\": \"X\"}", NULL, &o), 201);
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/scenarios/%s/versions",
             json_string_value(json_object_get(o, "id")));
    json_decref(o);
    char auth[256], *rh = NULL, *rb = NULL;
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", h.token);
    const char *hs[] = {auth, NULL};
    assert_int_equal(
        th_http_raw(&h, "POST", path, "application/json", GOOD, strlen(GOOD), hs, &rh, &rb), 503);
    assert_non_null(strcasestr(rh, "Retry-After:"));
    o = json_loads(rb, 0, NULL);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "expressions_unavailable");
    /* ".vars.n > 1" is written twice, checked once, listed at both paths. */
    assert_int_equal(json_array_size(th_get(o, "error.errors")), 3);
    expect_problem(o, "steps.route.cases[0].if", "not checked");
    expect_problem(o, "steps.route.cases[1].if", "not checked");
    expect_problem(o, "steps.calc.set.n", "not checked");
    json_decref(o);
    free(rh);
    free(rb);
    const char *plain =
        "{\"content\": {\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\","
        " \"languages\": [\"en\"], \"start\": \"a\", \"steps\": {\"a\": {\"kind\": \"llm.chat\","
        " \"next\": \"b\"}, \"b\": {\"kind\": \"end\"}}}}";
    assert_int_equal(th_http(&h, "POST", path, plain, NULL, &o), 201);
    json_decref(o);
    assert_int_equal(th_stop_clean(&h, 10000), 0);
    th_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_problem_is_refused_at_once_with_the_pools_jq_errors),
        cmocka_unit_test(test_a_valid_scenario_is_saved_once),
        cmocka_unit_test(test_yaml_goes_in_and_comes_out_the_same),
        cmocka_unit_test(test_bad_yaml_and_other_bodies_are_refused),
        cmocka_unit_test(test_bpmn_goes_out_and_comes_back_the_same),
        cmocka_unit_test(test_bpmn_drawn_elsewhere_is_checked_like_a_save_and_never_half_imported),
        cmocka_unit_test(test_without_expression_workers_expressions_are_not_saved_unchecked),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
