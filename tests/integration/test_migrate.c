/*
 * Conversations in flight moved between versions through the real binary
 * (POST /api/v1/agents/{id}/migrate): people talking to version 1 wait on
 * its questions; version 2 renames one question and rewords another. A
 * dry run counts them per step and names the unmapped one, writing
 * nothing; the real run without a mapping for it is refused naming the
 * step and its count; a mapping naming a missing step or a step of
 * another kind is refused; with the mapping every conversation on
 * version 1 moves (audited, one entry each) and its next message is
 * answered by version 2, while a conversation that ended and one that
 * started on version 2 are left alone. And, this host having no plugin,
 * the template library says what each template lacks (and refuses to
 * make one, naming the plugin step).
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
static char agent[64], scenario[64];

/* Version 1: name, then e-mail, then the end. */
static const char V1[] =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": [\"en\"],"
    " \"variables\": {\"name\": {\"type\": \"string\"}, \"email\": {\"type\": \"string\"}},"
    " \"start\": \"ask_name\", \"steps\": {"
    "  \"ask_name\": {\"kind\": \"ask\", \"text\": {\"en\": \"v1: your name?\"}, \"var\": \"name\","
    "               \"next\": \"ask_email\"},"
    "  \"ask_email\": {\"kind\": \"ask\", \"text\": {\"en\": \"v1: your e-mail?\"}, \"var\": "
    "\"email\","
    "                \"next\": \"bye\"},"
    "  \"bye\": {\"kind\": \"end\", \"text\": {\"en\": \"v1: bye {{ vars.name }}\"}, \"outcome\": "
    "\"done\"}}}";

/* Version 2: ask_name is now ask_full_name; ask_email reworded, then a note. */
static const char V2[] =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": [\"en\"],"
    " \"variables\": {\"name\": {\"type\": \"string\"}, \"email\": {\"type\": \"string\"}},"
    " \"start\": \"ask_full_name\", \"steps\": {"
    "  \"ask_full_name\": {\"kind\": \"ask\", \"text\": {\"en\": \"v2: your full name?\"}, "
    "\"var\": "
    "\"name\", \"next\": \"ask_email\"},"
    "  \"ask_email\": {\"kind\": \"ask\", \"text\": {\"en\": \"v2: your e-mail, please?\"}, "
    "\"var\": \"email\", \"next\": \"note\"},"
    "  \"note\": {\"kind\": \"say\", \"text\": {\"en\": \"v2: noted\"}, \"next\": \"bye\"},"
    "  \"bye\": {\"kind\": \"end\", \"text\": {\"en\": \"v2: bye {{ vars.name }}\"}, \"outcome\": "
    "\"done\"}}}";

/* ---- helpers ----------------------------------------------------------------------- */

static json_t *call(const char *method, const char *path, const char *body, int expect)
{
    json_t *o = NULL;
    int st = th_http(&H, method, path, body, NULL, &o);
    if (st != expect) {
        char *d = o ? json_dumps(o, 0) : NULL;
        fail_msg("%s %s: %d (expected %d) %s", method, path, st, expect, d ? d : "");
    }
    return o;
}

/* user says text to the agent: the conversation's id into conv (may be NULL);
 * the agent's first reply. */
static char *say(const char *user, const char *text, char *conv)
{
    char path[200], body[300];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/messages", agent);
    snprintf(body, sizeof(body), "{\"user\": \"%s\", \"text\": \"%s\"}", user, text);
    json_t *o = call("POST", path, body, 200);
    if (conv) snprintf(conv, 64, "%s", json_string_value(json_object_get(o, "conversation_id")));
    char *r = strdup(json_string_value(th_get(o, "messages.0.text")) ?: "");
    json_decref(o);
    return r;
}

static json_t *migrate(const char *body, int expect)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/migrate", agent);
    return call("POST", path, body, expect);
}

static json_int_t version_of(const char *conv)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/conversations/%s", conv);
    json_t *o = call("GET", path, NULL, 200);
    json_int_t v = json_integer_value(th_get(o, "scenario.version"));
    json_decref(o);
    return v;
}

static const char *str(json_t *o, const char *path)
{
    return json_string_value(th_get(o, path));
}

/* ---- setup ------------------------------------------------------------------------- */

static int setup(void **s)
{
    (void)s;
    if (th_init(&H, "migrate") || th_config(&H, "{}") || th_make_token(&H) ||
        th_start(&H, NULL, 15000) || th_make_agent(&H, "Signup", V1, NULL, agent, sizeof(agent)))
        return -1;
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/agents/%s", agent);
    json_t *o = NULL;
    if (th_http(&H, "GET", path, NULL, NULL, &o) != 200) return -1;
    snprintf(scenario, sizeof(scenario), "%s", str(o, "scenario.scenario_id"));
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

/* ---- the test ------------------------------------------------------------------------ */

static void test_conversations_in_flight_move_to_the_new_version_through_a_step_mapping(void **s)
{
    (void)s;
    /* On version 1: two wait on ask_name, one on ask_email, one has ended. */
    char a[64], b[64], c[64], done[64], late[64];
    free(say("ann", "hi", a));
    free(say("bob", "hi", b));
    free(say("cat", "hi", c));
    free(say("cat", "Cat", NULL));
    free(say("dan", "hi", done));
    free(say("dan", "Dan", NULL));
    char *r = say("dan", "dan@example.com", NULL);
    assert_string_equal(r, "v1: bye Dan");
    free(r);
    /* Version 2 saved: new conversations start on it. */
    char path[200], *body = NULL;
    snprintf(path, sizeof(path), "/api/v1/scenarios/%s/versions", scenario);
    assert_true(asprintf(&body, "{\"message\": \"rename ask_name\", \"content\": %s}", V2) > 0);
    json_decref(call("POST", path, body, 201));
    free(body);
    r = say("eve", "hi", late);
    assert_string_equal(r, "v2: your full name?");
    free(r);

    /* A dry run: counted per step, ask_name named unmapped, nothing written. */
    json_t *o = migrate("{\"from\": 1, \"to\": 2, \"dry_run\": true}", 200);
    assert_int_equal(json_integer_value(json_object_get(o, "matched")), 3);
    assert_int_equal(json_integer_value(json_object_get(o, "migrated")), 0);
    assert_int_equal(json_integer_value(th_get(o, "by_step.ask_email.conversations")), 1);
    assert_string_equal(str(o, "by_step.ask_email.to"), "ask_email");
    assert_string_equal(str(o, "unmapped.0.step"), "ask_name");
    assert_int_equal(json_integer_value(th_get(o, "unmapped.0.conversations")), 2);
    json_decref(o);
    assert_int_equal(version_of(c), 1);

    /* For real without a mapping for ask_name: refused, naming it. */
    o = migrate("{\"from\": 1, \"to\": 2}", 422);
    assert_string_equal(str(o, "error.code"), "unmapped_steps");
    assert_string_equal(str(o, "error.errors.0.path"), "steps.ask_name");
    assert_non_null(strstr(str(o, "error.errors.0.message"), "2 conversations wait on step"));
    json_decref(o);
    assert_int_equal(version_of(a), 1);
    assert_int_equal(version_of(c), 1);

    /* Mappings that cannot be: a step version 1 lacks, one version 2
     * lacks, one of another kind. */
    o = migrate("{\"from\": 1, \"to\": 2, \"steps\": {\"ask_nam\": \"ask_full_name\","
                " \"ask_email\": \"nowhere\", \"ask_name\": \"note\"}}",
                422);
    assert_string_equal(str(o, "error.code"), "invalid_mapping");
    char *d = json_dumps(o, 0);
    assert_non_null(strstr(d, "version 1 has no step \\\"ask_nam\\\""));
    assert_non_null(strstr(d, "version 2 has no step \\\"nowhere\\\""));
    assert_non_null(strstr(d, "\\\"ask_name\\\" is a ask step and \\\"note\\\" a say step"));
    free(d);
    json_decref(o);
    o = migrate("{\"from\": 1, \"to\": 7}", 404);
    assert_non_null(strstr(str(o, "error.message"), "has no version 7"));
    json_decref(o);

    /* With the mapping: the three move, each audited. */
    o = migrate("{\"from\": 1, \"to\": 2, \"steps\": {\"ask_name\": \"ask_full_name\"}}", 200);
    assert_int_equal(json_integer_value(json_object_get(o, "migrated")), 3);
    assert_int_equal(json_integer_value(th_get(o, "by_step.ask_name.conversations")), 2);
    json_decref(o);
    assert_int_equal(version_of(a), 2);
    assert_int_equal(version_of(c), 2);
    assert_int_equal(version_of(done), 1); /* ended: left as it was */
    snprintf(path, sizeof(path), "/api/v1/conversations/%s", a);
    o = call("GET", path, NULL, 200);
    assert_string_equal(str(o, "current_step"), "ask_full_name");
    json_decref(o);
    o = call("GET", "/api/v1/audit?action=conversation.migrate", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(o, "items")), 3);
    json_decref(o);

    /* Their next messages are answered by version 2. */
    r = say("ann", "Ann Lee", NULL);
    assert_string_equal(r, "v2: your e-mail, please?");
    free(r);
    r = say("cat", "cat@example.com", NULL);
    assert_string_equal(r, "v2: noted");
    free(r);

    /* Nothing left on version 1 in flight: a second run moves none. */
    o = migrate("{\"from\": 1, \"to\": 2, \"steps\": {\"ask_name\": \"ask_full_name\"}}", 200);
    assert_int_equal(json_integer_value(json_object_get(o, "matched")), 0);
    json_decref(o);
    assert_int_equal(version_of(late), 2);
}

static void test_on_a_host_without_plugins_the_templates_say_what_they_lack(void **s)
{
    (void)s;
    json_t *o = call("GET", "/api/v1/templates", NULL, 200);
    assert_string_equal(str(o, "items.1.id"), "faq-knowledge-base");
    assert_true(json_is_false(th_get(o, "items.1.available")));
    char *d = json_dumps(th_get(o, "items.1.missing_plugins"), 0);
    assert_string_equal(d, "[\"jq\", \"rag\", \"llm-openai\"]");
    free(d);
    json_decref(o);
    o = call("POST", "/api/v1/templates/faq-knowledge-base/instantiate",
             "{\"name\": \"FAQ\", \"variables\": {\"company\": \"Acme\", \"kb\": \"help\"}}", 422);
    assert_string_equal(str(o, "error.code"), "invalid_scenario");
    d = json_dumps(o, 0);
    assert_non_null(strstr(d, "no installed plugin declares it"));
    free(d);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_on_a_host_without_plugins_the_templates_say_what_they_lack),
        cmocka_unit_test(
            test_conversations_in_flight_move_to_the_new_version_through_a_step_mapping),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
