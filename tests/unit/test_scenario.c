/* Checking a scenario on save (host/engine/scenario.h): valid scenarios (the
 * format document's, every kind of step, the examples in
 * docs/examples/scenarios) pass, and their expressions are listed with
 * their paths for the expression pool to compile; every problem is reported
 * at once, within bounds. Each class of error, at its exact path, is in
 * test_scenario_errors.c; the shared scenario and checks in
 * tests/support/scenario_kit.c. */
#include "cmocka_pre.h"

#include "../support/scenario_kit.h"
#include "core/jsonschema.h"
#include "engine/scenario.h"
#include "engine/scenario_yaml.h"

#include <agenthost/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_file(const char *rel, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", TH_SOURCE_DIR, rel);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* ---- valid scenarios ---------------------------------------------------------- */

static void test_the_schema_is_usable_and_the_format_documents_example_is_valid(void **s)
{
    (void)s;
    char err[256];
    assert_non_null(scenario_schema());
    assert_int_equal(jsonschema_check(scenario_schema(), err, sizeof(err)), 0);
    json_t *c = parse(BASE);
    expect_valid(c);
    json_decref(c);
}

/* Every kind of step, every optional field: no error; the schema validator
 * agrees; every jq program is listed with its path. */
static const char COMPLEX[] =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"ru\","
    " \"languages\": [\"ru\", \"en\"],"
    " \"variables\": {\"email\": {\"type\": \"string\", \"description\": \"work email\"},"
    "   \"plan\": {\"type\": \"string\", \"default\": \"free\"}, \"n\": {\"type\": \"number\", "
    "\"default\": 1.5},"
    "   \"tags\": {\"type\": \"array\", \"default\": []}, \"profile\": {\"type\": \"object\"},"
    "   \"ok\": {\"type\": \"boolean\", \"default\": false}, \"answer\": {\"type\": \"string\"},"
    "   \"status\": {\"type\": \"integer\"}, \"summary\": {\"type\": \"object\"}, \"reply\": "
    "{\"type\": "
    "\"string\"}},"
    " \"start\": \"hello\","
    " \"fallback\": \"Sorry / Извините\","
    " \"settings\": {\"max_steps_per_turn\": 20, \"step_timeout_ms\": 5000, \"retries\": 1},"
    " \"steps\": {"
    "  \"hello\": {\"kind\": \"say\", \"text\": {\"ru\": \"Привет, {{ contact.name | "
    "default(\\\"друг\\\") }}!\", \"EN\": \"Hi!\"},"
    "    \"buttons\": [{\"label\": \"Сайт / Site\", \"url\": \"https://example.com/{{ "
    "conversation.language }}\"},"
    "                  {\"label\": {\"ru\": \"Начать\", \"en\": \"Start\"}, \"payload\": "
    "\"start\"}],"
    "    \"attachments\": [{\"url\": \"https://example.com/a.png\", \"name\": \"a.png\", "
    "\"mime_type\": \"image/png\"}],"
    "    \"timeout_ms\": 1000, \"retries\": 3, \"retry_backoff_ms\": 200, \"on_error\": "
    "\"sorry\", \"next\": \"ask_email\"},"
    "  \"ask_email\": {\"kind\": \"ask\", \"text\": \"Email?\", \"var\": \"email\","
    "    \"validate\": {\"type\": \"email\", \"pattern\": \"^[^@]+@[^@]+$\", \"min_length\": 3, "
    "\"max_length\": 200,"
    "      \"condition\": \".input.text | length > 3\", \"message\": {\"ru\": \"Не то\", \"en\": "
    "\"No\"}},"
    "    \"retries\": 1, \"reprompt\": \"Ещё раз / Again\", \"on_invalid\": \"sorry\", "
    "\"timeout_ms\": 60000,"
    "    \"on_timeout\": \"bye\", \"buttons\": [{\"label\": \"skip\", \"payload\": \"skip\"}], "
    "\"next\": \"pick\"},"
    "  \"pick\": {\"kind\": \"choice\", \"text\": \"Plan?\", \"var\": \"plan\", \"layout\": "
    "\"list\", \"retries\": 2,"
    "    \"reprompt\": \"1 / 2\", \"on_invalid\": \"route\","
    "    \"options\": [{\"id\": \"free\", \"label\": \"Free\", \"match\": [\"бесплатно\"], "
    "\"next\": "
    "\"route\"},"
    "                {\"id\": \"pro\", \"label\": {\"ru\": \"Про\", \"en\": \"Pro\"}}], \"next\": "
    "\"route\"},"
    "  \"route\": {\"kind\": \"switch\", \"cases\": [{\"if\": \".vars.plan == \\\"pro\\\"\", "
    "\"next\": \"calc\"}],"
    "    \"default\": \"lookup\"},"
    "  \"calc\": {\"kind\": \"set\", \"set\": {\"n\": \".vars.n * 2\", \"extra\": \"1\"}, "
    "\"next\": "
    "\"wait_a_bit\"},"
    "  \"wait_a_bit\": {\"kind\": \"wait\", \"for\": \"duration\", \"duration_ms\": 1000, "
    "\"next\": "
    "\"wait_until\"},"
    "  \"wait_until\": {\"kind\": \"wait\", \"for\": \"duration\", \"until\": \".now\", \"next\": "
    "\"listen\"},"
    "  \"listen\": {\"kind\": \"wait\", \"for\": \"input\", \"var\": \"answer\", \"timeout_ms\": "
    "5000, \"on_timeout\": \"human\","
    "    \"next\": \"lookup\"},"
    "  \"lookup\": {\"kind\": \"http.request\", \"method\": \"POST\", \"url\": "
    "\"https://api.example.com/x?e={{ vars.email }}\","
    "    \"headers\": {\"X-Lang\": \"{{ conversation.language }}\"},"
    "    \"body\": {\"q\": [\"{{ vars.answer }}\", 1, null, {\"deep\": \"{{ vars.extra }}\"}]},"
    "    \"result\": {\"status\": \".result.status\"}, \"on_error\": \"sorry\", \"next\": "
    "\"think\"},"
    "  \"think\": {\"kind\": \"llm.chat\", \"args\": {\"messages\": [{\"role\": \"user\", "
    "\"content\": \"{{ input.text }}\"}]},"
    "    \"say\": false, \"tools\": [{\"instance\": \"llm\", \"action\": \"chat\"}], "
    "\"max_tool_calls\": 3,"
    "    \"result\": {\"reply\": \".result.content\"}, \"next\": \"lead\"},"
    "  \"lead\": {\"kind\": \"crm.create_lead\", \"instance\": \"amo2\", \"args\": {\"email\": "
    "\"{{ "
    "vars.email }}\"},"
    "    \"next\": \"other\"},"
    "  \"other\": {\"kind\": \"trigger\", \"agent\": \"agt_0000000000000000000000000A\", "
    "\"input\": {\"email\": \".vars.email\"},"
    "    \"next\": \"notify\"},"
    "  \"notify\": {\"kind\": \"trigger\", \"event\": \"leads.new\", \"next\": \"sub\"},"
    "  \"sub\": {\"kind\": \"call_agent\", \"agent\": \"billing\", \"input\": {\"plan\": "
    "\".vars.plan\"},"
    "    \"output\": {\"summary\": \".vars\"}, \"next\": \"jump\"},"
    "  \"jump\": {\"kind\": \"goto\", \"next\": \"human\"},"
    "  \"human\": {\"kind\": \"handoff\", \"text\": \"Оператор / Operator\", \"queue\": "
    "\"support\", \"next\": \"bye\"},"
    "  \"sorry\": {\"kind\": \"say\", \"text\": \"{{ vars._error.message }}\", \"next\": \"bye\"},"
    "  \"bye\": {\"kind\": \"end\", \"text\": {\"ru\": \"Пока\", \"en\": \"Bye\"}, \"outcome\": "
    "\"done\"}}}";

static void test_a_scenario_with_every_kind_of_step_is_valid(void **s)
{
    (void)s;
    json_t *c = parse(COMPLEX), *ex = NULL;
    json_t *e = run_env(c, &ENV, &ex);
    expect_count(e, 0);
    char err[512];
    if (jsonschema_validate(scenario_schema(), c, err, sizeof(err)) != 0)
        fail_msg("the schema validator disagrees: %s", err);
    static const char *const paths[][2] = {
        {"steps.ask_email.validate.condition", ".input.text | length > 3"},
        {"steps.route.cases[0].if", ".vars.plan == \"pro\""},
        {"steps.calc.set.n", ".vars.n * 2"},
        {"steps.calc.set.extra", "1"},
        {"steps.wait_until.until", ".now"},
        {"steps.lookup.result.status", ".result.status"},
        {"steps.think.result.reply", ".result.content"},
        {"steps.other.input.email", ".vars.email"},
        {"steps.sub.input.plan", ".vars.plan"},
        {"steps.sub.output.summary", ".vars"},
    };
    assert_int_equal(json_array_size(ex), sizeof(paths) / sizeof(paths[0]));
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        json_t *x = json_array_get(ex, i);
        assert_string_equal(json_string_value(json_object_get(x, "path")), paths[i][0]);
        assert_string_equal(json_string_value(json_object_get(x, "program")), paths[i][1]);
    }
    json_decref(ex);
    json_decref(e);
    json_decref(c);
}

/* The examples (JSON and YAML, the same scenarios) are valid with an
 * llm-openai instance configured. */
static void test_the_example_scenarios_are_valid_and_their_yaml_is_the_same(void **s)
{
    (void)s;
    static const char *const names[] = {"onboarding-survey", "faq-agent", "lead-capture"};
    scenario_instance one[] = {{"llm", "llm-openai", NULL}};
    scenario_check_env env = {STEPS, 2, one, 1};
    for (size_t i = 0; i < 3; i++) {
        char rel[200];
        size_t n;
        snprintf(rel, sizeof(rel), "docs/examples/scenarios/%s.json", names[i]);
        char *text = read_file(rel, &n);
        json_t *c = parse(text);
        free(text);
        json_t *ex = NULL, *e = run_env(c, &env, &ex);
        if (json_array_size(e)) fail_msg("%s: %s", rel, json_dumps(e, JSON_INDENT(1)));
        assert_true(json_array_size(ex) > 0);
        snprintf(rel, sizeof(rel), "docs/examples/scenarios/%s.yaml", names[i]);
        text = read_file(rel, &n);
        json_t *y = NULL;
        char err[256];
        assert_int_equal(scenario_yaml_import(text, n, &y, err, sizeof(err)), 0);
        if (!json_equal(c, y)) fail_msg("%s differs from its JSON", rel);
        /* Russian and English in every text. */
        assert_non_null(strstr(text, "ru:"));
        assert_non_null(strstr(text, "en:"));
        free(text);
        json_decref(y);
        json_decref(ex);
        json_decref(e);
        json_decref(c);
    }
}

/* ---- all at once, and the bounds ---------------------------------------------- */

static void test_every_problem_is_reported_at_once(void **s)
{
    (void)s;
    json_t *c = parse(BASE);
    put(c, "format", "\"x\"");
    put(c, "steps.hello.retries", "\"lots\"");
    put(c, "steps.hello.next", "\"nowhere\"");
    put(c, "steps.ask_name.validate.pattern", "\"(\"");
    put(c, "steps.greet.text.ru", "\"{{ vars.name | uper }}\"");
    put(c, "steps.bye.text", "{\"en\": \"Bye\"}");
    put(c, "steps.orphan", "{\"kind\": \"sya\"}");
    put(c, "steps.route",
        "{\"kind\": \"switch\", \"cases\": [{\"if\": \".x\", \"next\": "
        "\"route\"}]}");
    put(c, "steps.bye.on_error", "\"route\"");
    json_t *ex = NULL, *e = run_env(c, &ENV, &ex);
    expect_error(e, "format", "must be");
    expect_error(e, "steps.hello.retries", "expected integer");
    expect_error(e, "steps.hello.next", "no step \"nowhere\"");
    expect_error(e, "steps.ask_name.validate.pattern", "regular expression");
    expect_error(e, "steps.greet.text.ru", "unknown filter");
    expect_error(e, "steps.bye.text.ru", "missing");
    expect_error(e, "steps.orphan.kind", "unknown step kind");
    expect_error(e, "steps.route", "no step waits for input (route)");
    /* hello's next is broken: nothing after it is reached. */
    expect_error(e, "steps.ask_name", "unreachable");
    expect_error(e, "steps.greet", "unreachable");
    expect_error(e, "steps.bye", "unreachable");
    expect_error(e, "steps.orphan", "unreachable");
    expect_error(e, "steps.route", "unreachable");
    expect_count(e, 13);
    /* Its expression is still listed for the pool. */
    assert_int_equal(json_array_size(ex), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ex, 0), "path")),
                        "steps.route.cases[0].if");
    json_decref(ex);
    json_decref(e);
    json_decref(c);
}

static void test_the_errors_stop_at_the_bound_and_say_so(void **s)
{
    (void)s;
    json_t *c = parse(BASE);
    for (int i = 0; i < 1200; i++) {
        char id[32];
        snprintf(id, sizeof(id), "steps.s%d", i);
        put(c, id, "{\"kind\": \"goto\", \"next\": \"bye\", \"x\": 1}");
    }
    json_t *e = run(c);
    assert_int_equal(json_array_size(e), SCENARIO_MAX_ERRORS + 1);
    expect_error(e, "steps", "more than 1000 steps");
    const char *last =
        json_string_value(json_object_get(json_array_get(e, SCENARIO_MAX_ERRORS), "message"));
    assert_non_null(strstr(last, "more problems not listed"));
    json_decref(e);
    json_decref(c);
}

static void test_content_that_is_not_an_object_is_one_error_at_the_root(void **s)
{
    (void)s;
    json_t *c = parse("[1, 2]");
    json_t *e = run(c);
    expect_error(e, "", "a scenario is an object");
    expect_count(e, 1);
    json_decref(e);
    json_decref(c);
    json_t *errors = json_object();
    assert_int_equal(scenario_validate(c, NULL, errors, NULL), AH_EINVAL);
    json_decref(errors);
}

static void test_deep_bodies_are_bounded(void **s)
{
    (void)s;
    char body[2000] = "";
    for (int i = 0; i < SCENARIO_MAX_DEPTH + 5; i++)
        strcat(body, "[");
    strcat(body, "\"{{ x }}\"");
    for (int i = 0; i < SCENARIO_MAX_DEPTH + 5; i++)
        strcat(body, "]");
    char step[2200];
    snprintf(step, sizeof(step),
             "{\"kind\": \"http.request\", \"url\": \"https://x\", \"body\": %s, \"next\": "
             "\"bye\"}",
             body);
    json_t *c = parse(BASE);
    put(c, "steps.greet", step);
    json_t *e = run(c);
    expect_count(e, 1);
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(e, 0), "message")),
                           "nested deeper"));
    json_decref(e);
    json_decref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_schema_is_usable_and_the_format_documents_example_is_valid),
        cmocka_unit_test(test_a_scenario_with_every_kind_of_step_is_valid),
        cmocka_unit_test(test_the_example_scenarios_are_valid_and_their_yaml_is_the_same),
        cmocka_unit_test(test_every_problem_is_reported_at_once),
        cmocka_unit_test(test_the_errors_stop_at_the_bound_and_say_so),
        cmocka_unit_test(test_content_that_is_not_an_object_is_one_error_at_the_root),
        cmocka_unit_test(test_deep_bodies_are_bounded),
    };
    return cmocka_run_group_tests(tests, scenario_kit_setup, scenario_kit_teardown);
}
