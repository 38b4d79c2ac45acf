/* Checking a scenario on save (host/engine/scenario.h): every class of
 * error, each at its exact path, all of them at once; valid scenarios (the
 * format document's, every kind of step, the examples in
 * docs/examples/scenarios) pass, and their expressions are listed with
 * their paths for the expression pool to compile. */
#include "cmocka_pre.h"

#include "core/jsonschema.h"
#include "engine/scenario.h"
#include "engine/scenario_yaml.h"

#include <agenthost/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------------- */

/* The format document's example. */
static const char BASE[] =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\","
    " \"languages\": [\"en\", \"ru\"],"
    " \"variables\": {\"name\": {\"type\": \"string\"}, \"age\": {\"type\": \"integer\", "
    "\"default\": 0}},"
    " \"start\": \"hello\","
    " \"fallback\": {\"en\": \"Sorry.\", \"ru\": \"Извините.\"},"
    " \"steps\": {"
    "  \"hello\": {\"kind\": \"say\", \"text\": {\"en\": \"Hi!\", \"ru\": \"Привет!\"}, \"next\": "
    "\"ask_name\"},"
    "  \"ask_name\": {\"kind\": \"ask\", \"text\": {\"en\": \"Name?\", \"ru\": \"Имя?\"},"
    "   \"var\": \"name\", \"validate\": {\"type\": \"text\", \"min_length\": 2},"
    "   \"retries\": 2, \"reprompt\": {\"en\": \"Please.\", \"ru\": \"Пожалуйста.\"},"
    "   \"on_invalid\": \"bye\", \"next\": \"greet\"},"
    "  \"greet\": {\"kind\": \"say\", \"text\": {\"en\": \"Hi, {{ vars.name }}!\", \"ru\": "
    "\"Привет, {{ vars.name }}!\"}, \"next\": \"bye\"},"
    "  \"bye\": {\"kind\": \"end\", \"outcome\": \"completed\"}}}";

static const scenario_plugin_step STEPS[] = {
    {"llm.chat", "llm-openai", "chat"},
    {"crm.create_lead", "crm-amo", "create_lead"},
};

static json_t *g_llm_actions;

static scenario_instance INSTANCES[] = {
    {"llm", "llm-openai", NULL},
    {"amo", "crm-amo", NULL},
    {"amo2", "crm-amo", NULL},
    {"echo", "echo", NULL},
};

static const scenario_check_env ENV = {STEPS, 2, INSTANCES, 4};

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    if (!j) fail_msg("bad test JSON (%d:%d): %s", je.line, je.column, je.text);
    return j;
}

/* Set the value at a dotted path (keys only) of c to the JSON text v
 * (NULL: delete it). */
static void put(json_t *c, const char *path, const char *v)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *at = c;
    char *key = buf, *dot;
    while ((dot = strchr(key, '.')) != NULL) {
        *dot = 0;
        json_t *next = json_object_get(at, key);
        if (!next) json_object_set_new(at, key, next = json_object());
        at = next;
        key = dot + 1;
    }
    if (v)
        json_object_set_new(at, key, parse(v));
    else
        json_object_del(at, key);
}

static json_t *run_env(const json_t *c, const scenario_check_env *env, json_t **expressions)
{
    json_t *errors = json_array(), *ex = json_array();
    assert_int_equal(scenario_validate(c, env, errors, ex), 0);
    if (expressions)
        *expressions = ex;
    else
        json_decref(ex);
    return errors;
}

static json_t *run(const json_t *c)
{
    return run_env(c, &ENV, NULL);
}

/* An error at path saying part (a path may have two: a step in a loop). */
static void expect_error(const json_t *errors, const char *path, const char *part)
{
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        const char *m = json_string_value(json_object_get(e, "message"));
        if (!strcmp(json_string_value(json_object_get(e, "path")), path) && strstr(m, part)) return;
    }
    {
        char *all = json_dumps(errors, JSON_INDENT(1));
        fail_msg("no error at %s saying \"%s\"; the errors: %s", path, part, all);
    }
}

static void expect_count(const json_t *errors, size_t n)
{
    if (json_array_size(errors) != n) {
        char *all = json_dumps(errors, JSON_INDENT(1));
        fail_msg("%zu errors, expected %zu: %s", json_array_size(errors), n, all);
    }
}

static void expect_valid(const json_t *c)
{
    json_t *e = run(c);
    expect_count(e, 0);
    json_decref(e);
}

/* BASE with one change is valid. */
static void expect_valid_with(const char *at, const char *value)
{
    json_t *c = parse(BASE);
    put(c, at, value);
    expect_valid(c);
    json_decref(c);
}

/* One change to BASE makes exactly one error, at path, saying part. */
static void one_error(const char *at, const char *value, const char *path, const char *part)
{
    json_t *c = parse(BASE);
    put(c, at, value);
    json_t *e = run(c);
    expect_error(e, path, part);
    expect_count(e, 1);
    json_decref(e);
    json_decref(c);
}

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

/* ---- each class of error, at its path ----------------------------------------- */

static void test_schema_errors_name_the_field(void **s)
{
    (void)s;
    one_error("format", "\"agenthost.scenario/9\"", "format", "must be");
    one_error("colour", "\"red\"", "colour", "unknown field");
    one_error("steps.hello.retries", "\"lots\"", "steps.hello.retries",
              "expected integer, got \"lots\"");
    one_error("steps.hello.colour", "1", "steps.hello.colour", "unknown field");
    one_error("steps.ask_name.validate.min_length", "-1", "steps.ask_name.validate.min_length",
              "at least 0");
    one_error("steps.ask_name.validate.type", "\"emial\"", "steps.ask_name.validate.type",
              "not one of");
    one_error("steps.greet.text", "5", "steps.greet.text", "expected string or object");
    one_error("settings.retries", "11", "settings.retries", "at most 10");
    one_error("languages", "[\"en\", \"ru\", \"English\"]", "languages[2]", "does not match");
}

static void test_required_fields_are_named_each(void **s)
{
    (void)s;
    json_t *c = parse(BASE);
    put(c, "format", NULL);
    put(c, "start", NULL);
    put(c, "steps.greet.text", NULL);
    json_t *e = run(c);
    expect_error(e, "format", "required field missing");
    expect_error(e, "start", "required field missing");
    expect_error(e, "steps.greet.text", "required field missing");
    /* Without start nothing is "unreachable": it is the one error there. */
    expect_count(e, 3);
    json_decref(e);
    json_decref(c);
}

/* continue_in: telegram needs the bot's username, email the address, and
 * the texts are checked in every language like any step's. */
static void test_continue_in_needs_its_channels_field(void **s)
{
    (void)s;
    expect_valid_with("steps.greet",
                      "{\"kind\": \"continue_in\", \"channel\": \"telegram\", \"instance\": "
                      "\"tg-main\", \"bot\": \"acme_bot\", \"text\": {\"en\": \"Go\", \"ru\": "
                      "\"Да\"}, \"next\": \"bye\"}");
    one_error("steps.greet",
              "{\"kind\": \"continue_in\", \"channel\": \"telegram\", \"instance\": \"tg-main\","
              " \"text\": {\"en\": \"Go\", \"ru\": \"Да\"}, \"next\": \"bye\"}",
              "steps.greet.bot", "required for channel telegram");
    one_error("steps.greet",
              "{\"kind\": \"continue_in\", \"channel\": \"email\", \"instance\": \"mail\","
              " \"text\": {\"en\": \"Go\", \"ru\": \"Да\"}, \"next\": \"bye\"}",
              "steps.greet.to", "required for channel email");
    one_error("steps.greet",
              "{\"kind\": \"continue_in\", \"channel\": \"email\", \"instance\": \"mail\","
              " \"to\": \"{{ vars.nme }}\", \"text\": {\"en\": \"Go\", \"ru\": \"Да\"},"
              " \"next\": \"bye\"}",
              "steps.greet.to", "vars.nme");
}

static void test_unknown_step_kinds_are_errors_including_a_plugins_not_installed(void **s)
{
    (void)s;
    one_error("steps.greet.kind", "\"sya\"", "steps.greet.kind", "unknown step kind \"sya\"");
    one_error("steps.greet", "{\"kind\": \"crm.delete_everything\", \"next\": \"bye\"}",
              "steps.greet.kind", "no installed plugin declares it");
    /* Installed: no error. */
    json_t *c = parse(BASE);
    put(c, "steps.greet",
        "{\"kind\": \"crm.create_lead\", \"instance\": \"amo\", \"next\": \"bye\"}");
    expect_valid(c);
    /* Not with no plugins at all (env NULL). */
    json_t *e = run_env(c, NULL, NULL);
    expect_error(e, "steps.greet.kind", "no installed plugin declares it");
    json_decref(e);
    json_decref(c);
}

static void test_a_plugin_step_needs_one_instance_of_its_plugin(void **s)
{
    (void)s;
    /* crm-amo has two instances: name one. */
    one_error("steps.greet", "{\"kind\": \"crm.create_lead\", \"next\": \"bye\"}",
              "steps.greet.instance", "2 instances (amo, amo2)");
    one_error("steps.greet",
              "{\"kind\": \"crm.create_lead\", \"instance\": \"nope\", \"next\": \"bye\"}",
              "steps.greet.instance", "no instance \"nope\"");
    one_error("steps.greet",
              "{\"kind\": \"crm.create_lead\", \"instance\": \"echo\", \"next\": \"bye\"}",
              "steps.greet.instance", "runs plugin echo");
    /* llm-openai has one: it is taken. */
    json_t *c = parse(BASE);
    put(c, "steps.greet",
        "{\"kind\": \"llm.chat\", \"args\": {\"prompt\": \"hi\"}, \"next\": \"bye\"}");
    expect_valid(c);
    /* None configured. */
    scenario_check_env none = {STEPS, 2, NULL, 0};
    json_t *e = run_env(c, &none, NULL);
    expect_error(e, "steps.greet.instance", "no instance of plugin llm-openai");
    expect_count(e, 1);
    json_decref(e);
    json_decref(c);
}

static void test_an_llm_check_needs_llm_chat_and_an_instance_of_it(void **s)
{
    (void)s;
    json_t *c = parse(BASE);
    put(c, "steps.ask_name.validate", "{\"llm\": {\"prompt\": \"a first name, {{ vars.nme }}\"}}");
    json_t *e = run(c);
    expect_error(e, "steps.ask_name.validate.llm.prompt", "reads vars.nme");
    expect_count(e, 1);
    json_decref(e);
    put(c, "steps.ask_name.validate",
        "{\"llm\": {\"prompt\": \"a first name\", \"instance\": \"amo\"}}");
    e = run(c);
    expect_error(e, "steps.ask_name.validate.llm.instance", "runs plugin crm-amo");
    json_decref(e);
    scenario_check_env no_llm = {STEPS + 1, 1, INSTANCES, 4};
    put(c, "steps.ask_name.validate", "{\"llm\": {\"prompt\": \"a first name\"}}");
    e = run_env(c, &no_llm, NULL);
    expect_error(e, "steps.ask_name.validate.llm", "no installed plugin declares it");
    json_decref(e);
    json_decref(c);
}

static void test_llm_chat_tools_name_configured_instances_and_declared_actions(void **s)
{
    (void)s;
    INSTANCES[0].actions = g_llm_actions;
    json_t *c = parse(BASE);
    put(c, "steps.greet",
        "{\"kind\": \"llm.chat\", \"tools\": [{\"instance\": \"llm\", \"action\": \"embed\"},"
        " {\"instance\": \"ghost\", \"action\": \"x\"}, {\"instance\": \"llm\", \"action\": "
        "\"fly\"}], \"next\": \"bye\"}");
    json_t *e = run(c);
    expect_error(e, "steps.greet.tools[1].instance", "no instance \"ghost\"");
    expect_error(e, "steps.greet.tools[2].action", "declares no action \"fly\"");
    expect_count(e, 2);
    INSTANCES[0].actions = NULL;
    json_decref(e);
    json_decref(c);
}

static void test_every_target_must_name_a_step(void **s)
{
    (void)s;
    one_error("steps.greet.next", "\"nowhere\"", "steps.greet.next", "no step \"nowhere\"");
    one_error("steps.ask_name.on_invalid", "\"gone\"", "steps.ask_name.on_invalid", "no step");
    one_error("steps.ask_name.on_timeout", "\"gone\"", "steps.ask_name.on_timeout", "no step");
    one_error("steps.greet.on_error", "\"gone\"", "steps.greet.on_error", "no step");
    one_error("start", "\"begin\"", "start", "no step \"begin\"");
    json_t *c = parse(BASE);
    put(c, "steps.greet",
        "{\"kind\": \"switch\", \"cases\": [{\"if\": \"true\", \"next\": \"bye\"}, {\"if\": "
        "\"false\", \"next\": \"lost\"}], \"default\": \"void\"}");
    put(c, "steps.bye",
        "{\"kind\": \"choice\", \"text\": \"?\", \"options\": [{\"id\": \"a\", \"label\": \"A\"},"
        " {\"id\": \"b\", \"label\": \"B\", \"next\": \"nope\"}]}");
    json_t *e = run(c);
    expect_error(e, "steps.greet.cases[1].next", "no step \"lost\"");
    expect_error(e, "steps.greet.default", "no step \"void\"");
    expect_error(e, "steps.bye.options[1].next", "no step \"nope\"");
    expect_count(e, 3);
    json_decref(e);
    json_decref(c);
}

static void test_a_step_no_path_reaches_is_unreachable(void **s)
{
    (void)s;
    one_error("steps.island", "{\"kind\": \"say\", \"text\": \"x\", \"next\": \"bye\"}",
              "steps.island", "unreachable");
    /* Reached only through on_error or on_timeout: reachable. */
    json_t *c = parse(BASE);
    put(c, "steps.rescue", "{\"kind\": \"say\", \"text\": \"x\", \"next\": \"bye\"}");
    put(c, "steps.greet.on_error", "\"rescue\"");
    expect_valid(c);
    json_decref(c);
}

static void test_a_loop_that_never_waits_for_input_is_an_error(void **s)
{
    (void)s;
    /* greet -> again -> greet: two says. */
    json_t *c = parse(BASE);
    put(c, "steps.greet.next", "\"again\"");
    put(c, "steps.again", "{\"kind\": \"goto\", \"next\": \"greet\"}");
    json_t *e = run(c);
    expect_error(e, "steps.greet", "no step waits for input (greet, again)");
    expect_count(e, 1);
    json_decref(e);
    json_decref(c);
    /* A step leading to itself. */
    one_error("steps.greet.next", "\"greet\"", "steps.greet", "no step waits for input (greet)");
    /* Through an ask: fine (greet -> ask_name -> greet). */
    c = parse(BASE);
    put(c, "steps.greet.next", "\"ask_name\"");
    put(c, "steps.loop_end", "{\"kind\": \"end\"}");
    put(c, "steps.ask_name.on_timeout", "\"loop_end\"");
    put(c, "steps.ask_name.timeout_ms", "1000");
    e = run(c);
    expect_count(e, 0);
    json_decref(e);
    json_decref(c);
    /* A wait for a duration does not wait for input; one for input does. */
    c = parse(BASE);
    put(c, "steps.greet.next", "\"pause\"");
    put(c, "steps.pause",
        "{\"kind\": \"wait\", \"for\": \"duration\", \"duration_ms\": 10, "
        "\"next\": \"greet\"}");
    put(c, "steps.bye.on_error", "\"greet\"");
    e = run(c);
    expect_error(e, "steps.greet", "(greet, pause)");
    json_decref(e);
    put(c, "steps.pause", "{\"kind\": \"wait\", \"for\": \"input\", \"next\": \"greet\"}");
    e = run(c);
    expect_count(e, 0);
    json_decref(e);
    json_decref(c);
    /* A loop inside a bigger one that does wait: hello -> ask_name ->
     * greet -> hello has an ask, greet <-> spin does not. */
    c = parse(BASE);
    put(c, "steps.greet",
        "{\"kind\": \"switch\", \"cases\": [{\"if\": \".x\", \"next\": \"spin\"}], \"default\": "
        "\"hello\"}");
    put(c, "steps.spin", "{\"kind\": \"goto\", \"next\": \"greet\"}");
    e = run(c);
    expect_error(e, "steps.greet", "(greet, spin)");
    json_decref(e);
    json_decref(c);
}

static void test_a_text_missing_a_declared_language_names_the_language(void **s)
{
    (void)s;
    one_error("steps.greet.text", "{\"en\": \"Hi\"}", "steps.greet.text.ru", "missing");
    one_error("fallback", "{\"ru\": \"Ой\"}", "fallback.en", "missing");
    one_error("steps.ask_name.validate.message", "{\"en\": \"No\"}",
              "steps.ask_name.validate.message.ru", "missing");
    one_error("steps.greet.text", "{\"en\": \"Hi\", \"ru\": \"Привет\", \"de\": \"Hallo\"}",
              "steps.greet.text.de", "not one of the scenario's languages (en, ru)");
    one_error("steps.hello.buttons", "[{\"label\": {\"en\": \"Go\"}}]",
              "steps.hello.buttons[0].label.ru", "missing");
    /* A string is the same in every language; case does not matter. */
    json_t *c = parse(BASE);
    put(c, "steps.greet.text", "{\"EN\": \"Hi\", \"Ru\": \"Привет\"}");
    put(c, "steps.hello.text", "\"Hi / Привет\"");
    expect_valid(c);
    json_decref(c);
    one_error("default_language", "\"de\"", "default_language", "not one of languages");
}

static void test_invalid_templates_are_errors_at_the_texts_path_and_language(void **s)
{
    (void)s;
    one_error("steps.greet.text.ru", "\"Привет, {{ vars.name | uper }}!\"", "steps.greet.text.ru",
              "1:24: unknown filter \"uper\"");
    one_error("steps.hello.text", "\"{{#if x}}open\"", "steps.hello.text", "1:1:");
    one_error(
        "steps.greet",
        "{\"kind\": \"http.request\", \"url\": \"https://x/{{ vars.name \", \"next\": \"bye\"}",
        "steps.greet.url", "1:");
    one_error(
        "steps.greet",
        "{\"kind\": \"http.request\", \"url\": \"https://x\", \"headers\": {\"A\": \"{{/if}}\"}, "
        "\"next\": \"bye\"}",
        "steps.greet.headers.A", "1:1:");
    one_error("steps.greet",
              "{\"kind\": \"http.request\", \"url\": \"https://x\", \"body\": {\"a\": [1, {\"b\": "
              "\"{{ x | number(99) }}\"}]}, \"next\": \"bye\"}",
              "steps.greet.body.a[1].b", "decimals");
    one_error(
        "steps.greet",
        "{\"kind\": \"llm.chat\", \"args\": {\"messages\": [{\"role\": \"user\", \"content\": "
        "\"{{ nope(\"}]}, \"next\": \"bye\"}",
        "steps.greet.args.messages[0].content", "1:");
}

static void test_variables_must_be_declared_to_be_stored_or_read(void **s)
{
    (void)s;
    one_error("steps.ask_name.var", "\"nick\"", "steps.ask_name.var",
              "\"nick\" is not a declared variable");
    one_error("steps.greet.text.en", "\"Hi {{ vars.nme }}\"", "steps.greet.text.en",
              "1:7: reads vars.nme, which is not a declared variable");
    /* A bare name renders as nothing at run time: a mistake, caught on save. */
    one_error("steps.greet.text.en", "\"Hi {{ name }}\"", "steps.greet.text.en",
              "1:7: reads name, which is nothing a template can read (vars.name?");
    one_error("variables.age.default", "\"old\"", "variables.age.default", "expected integer");
    one_error("variables.2fast", "{\"type\": \"string\"}", "variables.2fast",
              "not a variable name");
    one_error("variables._mine", "{\"type\": \"string\"}", "variables._mine",
              "not a variable name");
    /* A set step declares what it assigns; vars._error is the engine's. */
    json_t *c = parse(BASE);
    put(c, "steps.hello",
        "{\"kind\": \"set\", \"set\": {\"nick\": \"\\\"x\\\"\"}, \"next\": "
        "\"ask_name\"}");
    put(c, "steps.ask_name.var", "\"nick\"");
    put(c, "steps.greet.text",
        "\"{{ vars.nick }} {{ vars._error.code }} {{#each vars.nick}}{{ "
        "this }}{{/each}}\"");
    expect_valid(c);
    json_decref(c);
    one_error("steps.greet",
              "{\"kind\": \"http.request\", \"url\": \"https://x\", \"result\": {\"code\": "
              "\".result.status\"}, \"next\": \"bye\"}",
              "steps.greet.result.code", "not a declared variable");
    /* The contact's profile fields are targets too, and nothing else of it. */
    c = parse(BASE);
    put(c, "steps.ask_name.var", "\"contact.name\"");
    put(c, "steps.hello",
        "{\"kind\": \"set\", \"set\": {\"contact.attributes.tier\": \"1\", \"contact.email\": "
        "\"\\\"a@b.c\\\"\"}, \"next\": \"ask_name\"}");
    expect_valid(c);
    json_decref(c);
    one_error("steps.hello",
              "{\"kind\": \"set\", \"set\": {\"contact.age\": \"1\"}, \"next\": \"ask_name\"}",
              "steps.hello.set.contact.age",
              "\"contact.age\" is not a field of the contact's profile");
    one_error("steps.greet",
              "{\"kind\": \"http.request\", \"url\": \"https://x\", \"result\": {\"contact.id\": "
              "\".result.status\"}, \"next\": \"bye\"}",
              "steps.greet.result.contact.id", "is not a field of the contact's profile");
}

static void test_what_a_schema_cannot_say(void **s)
{
    (void)s;
    one_error("steps.ask_name.validate.pattern", "\"([a-z\"", "steps.ask_name.validate.pattern",
              "not a valid regular expression");
    one_error("steps.ask_name.validate.max_length", "1", "steps.ask_name.validate.max_length",
              "less than min_length");
    one_error("steps.ask_name.validate", "{\"type\": \"number\", \"min\": 5, \"max\": 1}",
              "steps.ask_name.validate.max", "less than min");
    one_error("steps.ask_name.validate", "{\"type\": \"choice\"}",
              "steps.ask_name.validate.choices", "lists its choices");
    one_error("steps.greet",
              "{\"kind\": \"choice\", \"text\": \"?\", \"options\": [{\"id\": \"a\", \"label\": "
              "\"A\"}, {\"id\": \"a\", \"label\": \"B\"}], \"next\": \"bye\"}",
              "steps.greet.options[1].id", "the same id as options[0]");
    one_error("steps.greet", "{\"kind\": \"wait\", \"for\": \"duration\", \"next\": \"bye\"}",
              "steps.greet.duration_ms", "duration_ms or until");
    one_error(
        "steps.greet",
        "{\"kind\": \"wait\", \"for\": \"duration\", \"duration_ms\": 5, \"until\": \".now\", "
        "\"next\": \"bye\"}",
        "steps.greet.until", "not both");
    one_error("steps.greet",
              "{\"kind\": \"wait\", \"for\": \"input\", \"duration_ms\": 5, \"next\": \"bye\"}",
              "steps.greet.duration_ms", "only a wait for a duration");
    one_error("steps.greet", "{\"kind\": \"trigger\", \"next\": \"bye\"}", "steps.greet.agent",
              "agent or publishes an event");
    one_error("steps.greet",
              "{\"kind\": \"trigger\", \"agent\": \"a\", \"event\": \"b\", \"next\": \"bye\"}",
              "steps.greet.event", "not both");
    one_error("steps.greet",
              "{\"kind\": \"http.request\", \"url\": \"ftp://x\", \"next\": \"bye\"}",
              "steps.greet.url", "https:// or http://");
    one_error("steps.Greet2", "{\"kind\": \"end\"}", "steps.Greet2", "not a step id");
    one_error("steps.greet", "[1]", "steps.greet", "expected a step");
    one_error("steps.greet.kind", "7", "steps.greet.kind", "expected a string");
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

static int group_setup(void **s)
{
    (void)s;
    g_llm_actions = parse("[{\"name\": \"chat\"}, {\"name\": \"embed\"}]");
    return 0;
}

static int group_teardown(void **s)
{
    (void)s;
    json_decref(g_llm_actions);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_schema_is_usable_and_the_format_documents_example_is_valid),
        cmocka_unit_test(test_a_scenario_with_every_kind_of_step_is_valid),
        cmocka_unit_test(test_the_example_scenarios_are_valid_and_their_yaml_is_the_same),
        cmocka_unit_test(test_schema_errors_name_the_field),
        cmocka_unit_test(test_required_fields_are_named_each),
        cmocka_unit_test(test_continue_in_needs_its_channels_field),
        cmocka_unit_test(test_unknown_step_kinds_are_errors_including_a_plugins_not_installed),
        cmocka_unit_test(test_a_plugin_step_needs_one_instance_of_its_plugin),
        cmocka_unit_test(test_llm_chat_tools_name_configured_instances_and_declared_actions),
        cmocka_unit_test(test_an_llm_check_needs_llm_chat_and_an_instance_of_it),
        cmocka_unit_test(test_every_target_must_name_a_step),
        cmocka_unit_test(test_a_step_no_path_reaches_is_unreachable),
        cmocka_unit_test(test_a_loop_that_never_waits_for_input_is_an_error),
        cmocka_unit_test(test_a_text_missing_a_declared_language_names_the_language),
        cmocka_unit_test(test_invalid_templates_are_errors_at_the_texts_path_and_language),
        cmocka_unit_test(test_variables_must_be_declared_to_be_stored_or_read),
        cmocka_unit_test(test_what_a_schema_cannot_say),
        cmocka_unit_test(test_every_problem_is_reported_at_once),
        cmocka_unit_test(test_the_errors_stop_at_the_bound_and_say_so),
        cmocka_unit_test(test_content_that_is_not_an_object_is_one_error_at_the_root),
        cmocka_unit_test(test_deep_bodies_are_bounded),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
