/* Checking a scenario on save (host/engine/scenario.h): every class of
 * error, each at its exact path. Valid scenarios and all errors at once are
 * in test_scenario.c; the shared scenario and checks in
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

int main(void)
{
    const struct CMUnitTest tests[] = {
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
    };
    return cmocka_run_group_tests(tests, scenario_kit_setup, scenario_kit_teardown);
}
