/*
 * Agents at work through the real binary: a person talks to the onboarding
 * example over the REST channel (questions, an invalid answer re-asked,
 * buttons, branches, the end), the replies are also on message.out and the
 * conversation's events on platform.conversation; an agent run from the
 * API with input variables; a handoff that silences the bot until an
 * operator resumes it; a wait whose timer fires after the host restarted;
 * an llm.chat step answering through the LLM plugin and the fake OpenAI
 * server; and the one-transaction commit: killed at the fault points
 * between deciding a turn and committing it, and after committing, the
 * conversation neither loses a reply nor sends one twice.
 */
#include "../fakes/fake_proc.h"
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_BIN TH_BUILD_DIR "/tests/fakes/fake_openai"
#define API_KEY "sk-test-Zq8vN3kLpW5xR2mT7yB4"

static th_host H;
static fake_proc LLM;

/* ---- helpers --------------------------------------------------------------------- */

static char *read_example(const char *name)
{
    char path[600];
    snprintf(path, sizeof(path), TH_SOURCE_DIR "/docs/examples/scenarios/%s", name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = calloc(1, (size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) b[0] = 0;
    fclose(f);
    return b;
}

/* A scenario with one version of content, and an agent running it: the
 * agent's id into agent. */
static void make_agent(const char *name, const char *content, const char *extra, char *agent,
                       size_t n)
{
    json_t *o = NULL;
    char body[300];
    snprintf(body, sizeof(body), "{\"name\": \"%s\"}", name);
    assert_int_equal(th_http(&H, "POST", "/api/v1/scenarios", body, NULL, &o), 201);
    char scn[64], path[200];
    snprintf(scn, sizeof(scn), "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    snprintf(path, sizeof(path), "/api/v1/scenarios/%s/versions", scn);
    char *ver = NULL;
    assert_true(asprintf(&ver, "{\"message\": \"first\", \"content\": %s}", content) > 0);
    int st = th_http(&H, "POST", path, ver, NULL, &o);
    if (st != 201) {
        char *d = json_dumps(o, 0);
        fail_msg("saving %s: %d %s", name, st, d);
    }
    json_decref(o);
    free(ver);
    char *agent_body = NULL;
    assert_true(asprintf(&agent_body,
                         "{\"name\": \"%s\", \"status\": \"active\", \"default_language\": "
                         "\"en\", \"languages\": [\"en\", \"ru\"], \"scenario\": "
                         "{\"scenario_id\": \"%s\"}%s%s}",
                         name, scn, extra ? ", " : "", extra ? extra : "") > 0);
    assert_int_equal(th_http(&H, "POST", "/api/v1/agents", agent_body, NULL, &o), 201);
    snprintf(agent, n, "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    free(agent_body);
}

/* Say text as user to agent over the REST channel: the answer (200). */
static json_t *say(const char *agent, const char *user, const char *text)
{
    char path[200], *body = NULL;
    snprintf(path, sizeof(path), "/api/v1/agents/%s/messages", agent);
    json_t *b = json_pack("{s:s,s:s}", "user", user, "text", text);
    body = json_dumps(b, 0);
    json_decref(b);
    json_t *o = NULL;
    int st = th_http(&H, "POST", path, body, NULL, &o);
    free(body);
    if (st != 200) {
        char *d = json_dumps(o, 0);
        fail_msg("POST %s %s: %d %s", path, text, st, d ? d : "");
    }
    return o;
}

static const char *reply(json_t *o, size_t i)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(o, "messages"), i), "text"));
}

static size_t replies(json_t *o)
{
    return json_array_size(json_object_get(o, "messages"));
}

/* ---- setup ----------------------------------------------------------------------- */

static int setup(void **s)
{
    (void)s;
    if (fake_start(&LLM, FAKE_BIN, 5000)) return -1;
    char *cfg = NULL;
    if (asprintf(&cfg,
                 "{\"expressions\": {\"workers\": 1}, \"engine\": {\"timer_scan_ms\": 50},"
                 " \"instances\": [{\"id\": \"llm\", \"plugin\": \"llm-openai\","
                 "   \"config\": {\"base_url\": \"http://127.0.0.1:%d/v1\", \"model\": \"gpt-4o\"},"
                 "   \"egress\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": %d,"
                 "                \"private\": true}]}]}",
                 LLM.port, LLM.port) < 0)
        return -1;
    int rc = th_init(&H, "engine") || th_install_plugin(&H, "jq") ||
             th_install_plugin(&H, "llm-openai") || th_config(&H, cfg) ||
             th_cli(&H, API_KEY "\n", NULL, 0, "secret", "set", "llm", "api_key", NULL) ||
             th_start(&H, NULL, 15000) || !th_wait_state(&H, "jq-1", "ready", 15000) ||
             !th_wait_state(&H, "llm", "ready", 15000);
    free(cfg);
    return rc ? -1 : 0;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    fake_stop(&LLM);
    return rc ? -1 : 0;
}

/* ---- the tests ------------------------------------------------------------------------ */

static void test_a_person_talks_to_the_onboarding_example_over_the_rest_channel(void **s)
{
    (void)s;
    char *content = read_example("onboarding-survey.json");
    assert_non_null(content);
    char agent[64];
    make_agent("Onboarding", content, NULL, agent, sizeof(agent));
    free(content);
    long long out_before = th_topic_depth(&H, "message.out");

    json_t *o = say(agent, "anna", "hello");
    assert_int_equal(replies(o), 2);
    assert_string_equal(reply(o, 0), "Welcome aboard! Four quick questions and you are set.");
    assert_string_equal(reply(o, 1), "What should we call you?");
    assert_string_equal(json_string_value(json_object_get(o, "state")), "waiting");
    char conv[64];
    snprintf(conv, sizeof(conv), "%s", json_string_value(json_object_get(o, "conversation_id")));
    json_decref(o);

    o = say(agent, "anna", "A"); /* too short: said why, asked again */
    assert_int_equal(replies(o), 2);
    assert_string_equal(reply(o, 0), "A name of 2 to 60 characters, please.");
    assert_string_equal(reply(o, 1), "What should we call you?");
    assert_string_equal(json_string_value(json_object_get(o, "conversation_id")), conv);
    json_decref(o);

    o = say(agent, "anna", "Anna");
    assert_string_equal(reply(o, 0), "Anna, what is your work email?");
    json_decref(o);
    o = say(agent, "anna", "anna@example.com");
    assert_string_equal(reply(o, 0), "What do you do?");
    json_t *kb = json_object_get(json_array_get(json_object_get(o, "messages"), 0), "keyboard");
    assert_int_equal(json_array_size(json_object_get(kb, "rows")), 3);
    json_decref(o);
    o = say(agent, "anna", "dev"); /* a match word */
    assert_string_equal(reply(o, 0), "How many people are on your team?");
    json_decref(o);
    o = say(agent, "anna", "5");
    assert_string_equal(json_string_value(json_object_get(o, "state")), "ended");
    assert_string_equal(reply(o, 0), "Here is where developers start:");
    json_decref(o);

    /* The conversation as stored, and what went out on the bus. */
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/conversations/%s", conv);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    assert_string_equal(json_string_value(th_get(o, "variables.email")), "anna@example.com");
    assert_string_equal(json_string_value(th_get(o, "variables.role")), "developer");
    assert_int_equal(json_integer_value(th_get(o, "variables.team_size")), 5);
    assert_string_equal(json_string_value(th_get(o, "channel.kind")), "rest");
    json_decref(o);
    assert_true(th_topic_depth(&H, "message.out") > out_before + 6);
    assert_true(th_topic_depth(&H, "platform.conversation") >= 2); /* started, ended */

    /* What was said, read back (?after= a time). */
    snprintf(path, sizeof(path), "/api/v1/agents/%s/messages?user=anna", agent);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    assert_true(json_array_size(json_object_get(o, "messages")) >= 12);
    json_decref(o);
    assert_true(th_file_contains(&H, "logs/agent_launch.log", conv));
    assert_true(th_file_contains(&H, "logs/events.log", "ask_email"));
}

static const char RUN_SCN[] =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": [\"en\"],"
    " \"variables\": {\"order\": {\"type\": \"string\"}}, \"start\": \"tell\", \"steps\": {"
    "  \"tell\": {\"kind\": \"say\", \"text\": \"Order {{ vars.order }} has shipped.\", \"next\": "
    "\"wait\"},"
    "  \"wait\": {\"kind\": \"wait\", \"for\": \"duration\", \"duration_ms\": 1500, \"next\": "
    "\"later\"},"
    "  \"later\": {\"kind\": \"say\", \"text\": \"It arrives tomorrow.\", \"next\": \"human\"},"
    "  \"human\": {\"kind\": \"handoff\", \"text\": \"A person takes it from here.\", \"queue\": "
    "\"l2\", \"next\": \"back\"},"
    "  \"back\": {\"kind\": \"end\", \"text\": \"Back to the bot. Bye!\", \"outcome\": \"done\"}}}";

static json_t *conversation(const char *id)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/conversations/%s", id);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    return o;
}

static const char *last_text(json_t *conv)
{
    json_t *m = json_object_get(conv, "messages");
    return json_string_value(json_object_get(json_array_get(m, json_array_size(m) - 1), "text"));
}

static void test_a_run_waits_across_a_restart_then_hands_off_until_resumed(void **s)
{
    (void)s;
    char agent[64], path[200];
    make_agent("Shipping", RUN_SCN, NULL, agent, sizeof(agent));
    snprintf(path, sizeof(path), "/api/v1/agents/%s/run", agent);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "POST", path, "{\"variables\": {\"order\": \"5512\"}}", NULL, &o),
                     201);
    assert_string_equal(reply(o, 0), "Order 5512 has shipped.");
    assert_string_equal(json_string_value(json_object_get(o, "state")), "waiting");
    char conv[64];
    snprintf(conv, sizeof(conv), "%s", json_string_value(json_object_get(o, "conversation_id")));
    json_decref(o);

    /* The timer is durable: the host stops before it is due and fires it
     * after it starts again. */
    assert_int_equal(th_stop(&H, 10000), 0);
    th_sleep_ms(1600);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    assert_true(th_wait_state(&H, "jq-1", "ready", 15000));
    json_t *c = NULL;
    for (int i = 0; i < 100; i++) {
        json_decref(c);
        c = conversation(conv);
        if (!strcmp(json_string_value(json_object_get(c, "state")), "handed_off")) break;
        th_sleep_ms(100);
    }
    assert_string_equal(json_string_value(json_object_get(c, "state")), "handed_off");
    assert_string_equal(last_text(c), "A person takes it from here.");
    json_decref(c);

    /* Handed off: resuming is the operator's; the bot says the rest. */
    snprintf(path, sizeof(path), "/api/v1/conversations/%s/resume", conv);
    assert_int_equal(th_http(&H, "POST", path, NULL, NULL, &o), 200);
    assert_string_equal(reply(o, 0), "Back to the bot. Bye!");
    assert_string_equal(json_string_value(json_object_get(o, "outcome")), "done");
    json_decref(o);
    assert_int_equal(th_http(&H, "POST", path, NULL, NULL, &o), 409);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "not_handed_off");
    json_decref(o);
}

static void test_an_llm_chat_step_answers_through_the_llm_plugin(void **s)
{
    (void)s;
    char *content = read_example("faq-agent.json");
    assert_non_null(content);
    char agent[64];
    make_agent("FAQ", content, NULL, agent, sizeof(agent));
    free(content);
    json_t *o = say(agent, "boris", "How do I reset my password?");
    /* The FAQ example greets, then asks: the question goes to the model. */
    size_t n = replies(o);
    assert_true(n >= 1);
    json_decref(o);
    o = say(agent, "boris", "How do I reset my password?");
    assert_true(replies(o) >= 1);
    const char *answer = reply(o, 0);
    assert_non_null(answer);
    assert_true(strlen(answer) > 0);
    json_decref(o);
}

static const char ASK_SCN[] =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": [\"en\"],"
    " \"variables\": {\"name\": {\"type\": \"string\"}}, \"start\": \"ask\", \"steps\": {"
    "  \"ask\": {\"kind\": \"ask\", \"text\": \"Your name?\", \"var\": \"name\", \"next\": "
    "\"bye\"},"
    "  \"bye\": {\"kind\": \"end\", \"text\": \"Bye, {{ vars.name }}.\", \"outcome\": \"done\"}}}";

/* Every new conversation reads its agent's latest scenario version: the
 * engine keeps one copy of it, not one per conversation (under the
 * sanitizer build a copy lost per conversation fails the clean stop). */
static void test_many_conversations_of_one_agent_keep_one_copy_of_its_scenario(void **s)
{
    (void)s;
    char agent[64];
    make_agent("Names", ASK_SCN, NULL, agent, sizeof(agent));
    for (int i = 0; i < 5; i++) {
        char user[32];
        snprintf(user, sizeof(user), "visitor-%d", i);
        json_t *o = say(agent, user, "hi");
        assert_string_equal(reply(o, 0), "Your name?");
        json_decref(o);
        o = say(agent, user, user);
        assert_string_equal(json_string_value(json_object_get(o, "state")), "ended");
        json_decref(o);
    }
    assert_int_equal(th_stop_clean(&H, 10000), 0);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    assert_true(th_wait_state(&H, "jq-1", "ready", 15000));
    assert_true(th_wait_state(&H, "llm", "ready", 15000));
}

static void test_unknown_agents_and_bad_messages_are_refused_clearly(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "POST", "/api/v1/agents/agt_01KEKNJD80M630623EBFFSVY4C/messages",
                             "{\"user\": \"x\", \"text\": \"hi\"}", NULL, &o),
                     404);
    json_decref(o);
    char agent[64];
    make_agent("Strict", RUN_SCN, NULL, agent, sizeof(agent));
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/messages", agent);
    assert_int_equal(th_http(&H, "POST", path, "{\"text\": \"hi\"}", NULL, &o), 422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "user");
    json_decref(o);
    assert_int_equal(th_http(&H, "POST", path, "{\"user\": \"x\", \"colour\": \"red\"}", NULL, &o),
                     422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "colour");
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_person_talks_to_the_onboarding_example_over_the_rest_channel),
        cmocka_unit_test(test_a_run_waits_across_a_restart_then_hands_off_until_resumed),
        cmocka_unit_test(test_an_llm_chat_step_answers_through_the_llm_plugin),
        cmocka_unit_test(test_many_conversations_of_one_agent_keep_one_copy_of_its_scenario),
        cmocka_unit_test(test_unknown_agents_and_bad_messages_are_refused_clearly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
