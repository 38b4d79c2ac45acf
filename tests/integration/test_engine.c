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
#include "../fakes/fake_http.h"
#include "../fakes/fake_proc.h"
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAKE_BIN TH_BUILD_DIR "/tests/fakes/fake_openai"
#define API_KEY "sk-test-Zq8vN3kLpW5xR2mT7yB4"

static th_host H;
static fake_proc LLM;

/* ---- helpers --------------------------------------------------------------------- */

static char *read_example(const char *name)
{
    char rel[300];
    snprintf(rel, sizeof(rel), "docs/examples/scenarios/%s", name);
    return th_read_source(rel);
}

/* A scenario with one version of content, and an agent running it. */
static void make_agent(const char *name, const char *content, const char *extra, char *agent,
                       size_t n)
{
    if (th_make_agent(&H, name, content, extra, agent, n) != 0) fail_msg("making agent %s", name);
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

/* ---- a fake CRM (lead-capture's http.request), on its own thread -------------------- */

static struct {
    fh_thread *srv;
    pthread_mutex_t mu;
    json_t *leads; /* the bodies POSTed to /api/v2/leads */
} CRM = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void crm_serve(void *ud, fh_conn *c, const fh_req *req)
{
    (void)ud;
    if (strcmp(req->method, "POST") != 0 || strcmp(req->path, "/api/v2/leads") != 0) {
        fh_respond(c, 404, "application/json", NULL, "{\"error\": \"not found\"}", 22);
        return;
    }
    json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
    if (!body) {
        fh_respond(c, 400, "application/json", NULL, "{\"error\": \"bad json\"}", 21);
        return;
    }
    const char *conv = json_string_value(json_object_get(req->headers, "x-conversation"));
    json_object_set_new(body, "_conversation", json_string(conv ? conv : ""));
    pthread_mutex_lock(&CRM.mu);
    json_array_append_new(CRM.leads, body);
    pthread_mutex_unlock(&CRM.mu);
    static const char ok[] = "{\"id\": 4242, \"status\": \"new\"}";
    fh_respond(c, 201, "application/json", NULL, ok, sizeof(ok) - 1);
}

static int crm_start(void)
{
    CRM.leads = json_array();
    return fh_thread_start(&CRM.srv, crm_serve, NULL) ? -1 : fh_thread_port(CRM.srv);
}

static void crm_finish(void)
{
    fh_thread_stop(CRM.srv);
    json_decref(CRM.leads);
}

/* ---- setup ----------------------------------------------------------------------- */

static int CRM_PORT;

static int setup(void **s)
{
    (void)s;
    if (fake_start(&LLM, FAKE_BIN, 5000) || (CRM_PORT = crm_start()) <= 0) return -1;
    char *cfg = NULL;
    if (asprintf(&cfg,
                 "{\"expressions\": {\"workers\": 1}, \"engine\": {\"timer_scan_ms\": 50,"
                 "   \"http_allow\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": %d,"
                 "                     \"private\": true}]},"
                 " \"instances\": [{\"id\": \"guard\", \"plugin\": \"echo\","
                 "   \"config\": {\"diagnostics\": true}},"
                 "  {\"id\": \"llm\", \"plugin\": \"llm-openai\","
                 "   \"config\": {\"base_url\": \"http://127.0.0.1:%d/v1\", \"model\": \"gpt-4o\"},"
                 "   \"egress\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": %d,"
                 "                \"private\": true}]}]}",
                 CRM_PORT, LLM.port, LLM.port) < 0)
        return -1;
    int rc =
        th_init(&H, "engine") || th_install_plugin(&H, "jq") || th_install_plugin(&H, "echo") ||
        th_install_plugin(&H, "llm-openai") || th_config(&H, cfg) ||
        th_cli(&H, API_KEY "\n", NULL, 0, "secret", "set", "llm", "api_key", NULL) ||
        th_start(&H, NULL, 15000) || !th_wait_state(&H, "jq-1", "ready", 15000) ||
        !th_wait_state(&H, "llm", "ready", 15000) || !th_wait_state(&H, "guard", "ready", 15000);
    free(cfg);
    return rc ? -1 : 0;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    fake_stop(&LLM);
    crm_finish();
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

/* The agent's hooks through real plugin calls: an on_message hook (echo's
 * redact) masks a card number before the scenario or the conversation's
 * record sees it; a hook that never answers (echo's ignore) costs its
 * deadline, is logged as failed, and the conversation goes on. */
static void test_hooks_change_what_the_agent_reads_and_a_dead_hook_is_skipped(void **s)
{
    (void)s;
    char agent[64];
    static const char *scn =
        "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": "
        "[\"en\"], \"variables\": {\"card\": {\"type\": \"string\"}}, \"start\": \"ask\","
        " \"steps\": {\"ask\": {\"kind\": \"ask\", \"text\": {\"en\": \"Your card?\"}, \"var\": "
        "\"card\", \"next\": \"bye\"}, \"bye\": {\"kind\": \"say\", \"text\": {\"en\": \"Noted: "
        "{{ vars.card }}\"}, \"next\": \"end\"}, \"end\": {\"kind\": \"end\", \"outcome\": "
        "\"ok\"}}}";
    make_agent("Guarded", scn,
               "\"hooks\": [{\"instance\": \"guard\", \"action\": \"redact\", \"points\": "
               "[\"on_message\"], \"modify\": true}, {\"instance\": \"guard\", \"action\": "
               "\"ignore\", \"points\": [\"before_step\"], \"timeout_ms\": 200}]",
               agent, sizeof(agent));
    json_t *o = say(agent, "carla", "hi");
    assert_string_equal(reply(o, 0), "Your card?");
    json_decref(o);
    o = say(agent, "carla", "4111 1111 1111 1111 or 4111111111111111");
    assert_string_equal(reply(o, 0), "Noted: 4111 1111 1111 1111 or ***");
    char conv[64];
    snprintf(conv, sizeof(conv), "%s", json_string_value(json_object_get(o, "conversation_id")));
    json_decref(o);
    json_t *c = conversation(conv);
    char *d = json_dumps(json_object_get(c, "messages"), 0);
    assert_null(strstr(d, "4111111111111111"));
    free(d);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(c, "variables"), "redactions")), 1);
    json_decref(c);
    assert_true(th_wait_file(&H, "logs/events.log", "hook failed, skipped", 5000));
}

/* A scenario saves answers into the contact's profile (ask's var and set
 * keys contact.*): the contact document changes in the turn's commit and
 * contact.updated (by the engine) announces it. */
static void test_answers_saved_into_the_contact_profile_are_committed_and_announced(void **s)
{
    (void)s;
    const char *content =
        "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": "
        "[\"en\"],"
        " \"fallback\": \"Sorry.\", \"start\": \"ask_name\", \"steps\": {"
        " \"ask_name\": {\"kind\": \"ask\", \"text\": \"Name?\", \"var\": \"contact.name\","
        "  \"next\": \"ask_phone\"},"
        " \"ask_phone\": {\"kind\": \"ask\", \"text\": \"Phone?\", \"var\": \"contact.phone\","
        "  \"validate\": {\"type\": \"phone\"}, \"next\": \"tag\"},"
        " \"tag\": {\"kind\": \"set\", \"set\": {\"contact.attributes.source\": \"\\\"bot\\\"\"},"
        "  \"next\": \"bye\"},"
        " \"bye\": {\"kind\": \"say\", \"text\": \"Thanks, {{ contact.name }} ({{ contact.phone "
        "}})\","
        "  \"next\": \"done\"},"
        " \"done\": {\"kind\": \"end\"}}}";
    char agent[64];
    make_agent("Profile", content, NULL, agent, sizeof(agent));
    json_decref(say(agent, "pavel", "hi"));
    json_decref(say(agent, "pavel", "Pavel"));
    json_t *o = say(agent, "pavel", "+7 912 345-67-89");
    assert_string_equal(reply(o, 0), "Thanks, Pavel (+79123456789)");
    /* messages.log has each message in and out, sizes and ids, no text. */
    char line[200];
    snprintf(line, sizeof(line), "\"message_id\":\"%s\"",
             json_string_value(th_get(o, "messages.0.id")));
    assert_true(th_wait_file(&H, "logs/messages.log", line, 5000));
    assert_true(th_file_contains(&H, "logs/messages.log", "\"direction\":\"in\""));
    assert_true(th_file_contains(&H, "logs/messages.log", "\"size\":16,")); /* the phone's bytes */
    assert_false(th_file_contains(&H, "logs/messages.log", "345-67-89"));
    assert_false(th_file_contains(&H, "logs/messages.log", "Thanks, Pavel"));
    char conv[64];
    snprintf(conv, sizeof(conv), "%s", json_string_value(json_object_get(o, "conversation_id")));
    json_decref(o);

    char path[300];
    snprintf(path, sizeof(path), "/api/v1/conversations/%s", conv);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    char contact[64];
    snprintf(contact, sizeof(contact), "%s", json_string_value(json_object_get(o, "contact_id")));
    json_decref(o);
    snprintf(path, sizeof(path), "/api/v1/contacts/%s", contact);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    assert_string_equal(json_string_value(th_get(o, "profile.name")), "Pavel");
    assert_string_equal(json_string_value(th_get(o, "profile.attributes.source")), "bot");
    assert_string_equal(json_string_value(th_get(o, "profile.phone")), "+79123456789");
    json_int_t revision = json_integer_value(json_object_get(o, "revision"));
    json_decref(o);
    snprintf(path, sizeof(path), "/api/v1/topics/platform.contact/events?key=%s", contact);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    json_t *events = json_object_get(o, "events");
    json_t *last = th_get(json_array_get(events, json_array_size(events) - 1), "body");
    assert_string_equal(json_string_value(json_object_get(last, "type")), "contact.updated");
    assert_string_equal(json_string_value(json_object_get(last, "by")), "engine");
    assert_string_equal(json_string_value(th_get(last, "changed.0")), "profile");
    assert_int_equal(json_integer_value(json_object_get(last, "revision")), revision);
    json_decref(o);
}

/* A new person's first message, with no language from a profile or the
 * channel, is answered in the language of its letters when the scenario
 * speaks it; a person whose profile has one keeps it. */
static void test_the_first_message_picks_the_conversations_language(void **s)
{
    (void)s;
    const char *content =
        "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\","
        " \"languages\": [\"en\", \"ru\"], \"start\": \"ask\", \"steps\": {"
        " \"ask\": {\"kind\": \"ask\", \"text\": {\"en\": \"How can I help?\", \"ru\": \"Чем "
        "помочь?\"},"
        "  \"var\": \"q\", \"next\": \"done\"},"
        " \"done\": {\"kind\": \"end\"}}, \"variables\": {\"q\": {\"type\": \"string\"}}}";
    char agent[64];
    make_agent("Polyglot", content, NULL, agent, sizeof(agent));
    json_t *o = say(agent, "ivan", "Здравствуйте, у меня вопрос");
    assert_string_equal(reply(o, 0), "Чем помочь?");
    json_decref(o);
    o = say(agent, "john", "Hello, I have a question");
    assert_string_equal(reply(o, 0), "How can I help?");
    json_decref(o);
    o = say(agent, "anon", "42");
    assert_string_equal(reply(o, 0), "How can I help?"); /* undecided: the default */
    json_decref(o);
}

/* The lead-capture example in Russian over the REST channel: its
 * http.request step reaches the (fake) CRM through the egress broker,
 * allowed by engine.http_allow, with the templated headers and body; the
 * CRM's answer maps into variables the thank-you text reads, and the
 * leads.captured event is published. */
static void test_the_lead_capture_example_files_a_lead_with_the_crm_in_russian(void **s)
{
    (void)s;
    char *content = read_example("lead-capture.json"), *url = NULL;
    assert_non_null(content);
    assert_true(asprintf(&url, "http://127.0.0.1:%d/api/v2/leads", CRM_PORT) > 0);
    char *at = strstr(content, "https://crm.example.com/api/v2/leads");
    assert_non_null(at);
    char *patched = NULL;
    assert_true(asprintf(&patched, "%.*s%s%s", (int)(at - content), content, url,
                         at + strlen("https://crm.example.com/api/v2/leads")) > 0);
    char agent[64];
    make_agent("Leads", patched, NULL, agent, sizeof(agent));
    free(content), free(url), free(patched);
    long long captured = th_topic_depth(&H, "leads.captured");

    char path[200];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/messages", agent);
    json_t *o = NULL;
    assert_int_equal(
        th_http(&H, "POST", path,
                "{\"user\": \"olga\", \"text\": \"Здравствуйте\", \"language\": \"ru\"}", NULL, &o),
        200);
    json_decref(o);
    o = say(agent, "olga", "Ольга");
    json_decref(o);
    o = say(agent, "olga", "12"); /* not a phone: said why, asked again */
    assert_string_equal(reply(o, 0), "Номер в виде +7 912 345-67-89, пожалуйста.");
    json_decref(o);
    o = say(agent, "olga", "+7 912 345-67-89");
    json_decref(o);
    o = say(agent, "olga", "  ООО Ромашка ");
    const char *thanks = reply(o, 0);
    assert_non_null(thanks);
    assert_non_null(strstr(thanks, "Ольга"));
    assert_non_null(strstr(thanks, "4242"));
    assert_string_equal(json_string_value(json_object_get(o, "state")), "ended");
    char conv[64];
    snprintf(conv, sizeof(conv), "%s", json_string_value(json_object_get(o, "conversation_id")));
    json_decref(o);

    pthread_mutex_lock(&CRM.mu);
    json_t *lead = json_incref(json_array_get(CRM.leads, json_array_size(CRM.leads) - 1));
    pthread_mutex_unlock(&CRM.mu);
    assert_non_null(lead);
    assert_string_equal(json_string_value(json_object_get(lead, "name")), "Ольга");
    assert_string_equal(json_string_value(json_object_get(lead, "company")), "ООО Ромашка");
    assert_string_equal(json_string_value(json_object_get(lead, "language")), "ru");
    assert_string_equal(json_string_value(json_object_get(lead, "_conversation")), conv);
    json_decref(lead);
    assert_true(th_wait_depth(&H, "leads.captured", captured + 1, 5000));
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
    /* The call is on the conversation's stream: integration.called. */
    char path[300];
    snprintf(path, sizeof(path), "/api/v1/topics/platform.conversation/events?key=%s&limit=100",
             json_string_value(json_object_get(o, "conversation_id")));
    json_decref(o);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    const json_t *called = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(o, "events"), i, e)
    {
        const char *type = json_string_value(th_get(e, "body.type"));
        if (type && !strcmp(type, "integration.called")) called = json_object_get(e, "body");
    }
    assert_non_null(called);
    assert_string_equal(json_string_value(th_get((json_t *)called, "integration.instance")), "llm");
    assert_string_equal(json_string_value(th_get((json_t *)called, "result")), "ok");
    assert_string_equal(json_string_value(th_get((json_t *)called, "step.kind")), "llm.chat");
    assert_null(json_object_get(called, "scenario"));
    json_decref(o);
}

/* A fresh host, started as `make run` starts it (no token made before):
 * its first-start message shows the token and the example agent, and a
 * person talks to that agent at once. With engine.example_agent off, no
 * agent is made. */
static void test_a_first_start_offers_the_example_agent_to_talk_to(void **s)
{
    (void)s;
    for (int on = 1; on >= 0; on--) {
        th_host F;
        assert_int_equal(th_init(&F, "first"), 0);
        assert_int_equal(th_install_plugin(&F, "jq"), 0);
        assert_int_equal(th_config(&F, on ? "{}" : "{\"engine\": {\"example_agent\": false}}"), 0);
        snprintf(F.token, sizeof(F.token), "none yet"); /* the host makes the first one */
        assert_int_equal(th_start(&F, NULL, 15000), 0);
        char *err = th_read(&F, "stderr.txt");
        assert_non_null(err);
        const char *t = strstr(err, "store it now:");
        assert_non_null(t);
        assert_int_equal(sscanf(t, "store it now: %127s", F.token), 1);
        const char *hint = strstr(err, "/api/v1/agents/agt_");
        json_t *o = NULL;
        assert_int_equal(th_http(&F, "GET", "/api/v1/agents?q=onboarding", NULL, NULL, &o), 200);
        if (!on) {
            assert_null(hint);
            assert_int_equal(json_array_size(json_object_get(o, "items")), 0);
        } else {
            assert_non_null(hint);
            json_t *agent = json_array_get(json_object_get(o, "items"), 0);
            const char *id = json_string_value(json_object_get(agent, "id"));
            assert_non_null(id);
            assert_non_null(strstr(hint, id)); /* the hint names the agent made */
            char path[200];
            snprintf(path, sizeof(path), "/api/v1/agents/%s/messages", id);
            json_t *r = NULL;
            assert_int_equal(
                th_http(&F, "POST", path, "{\"user\": \"me\", \"text\": \"hi\"}", NULL, &r), 200);
            assert_string_equal(reply(r, 1), "What should we call you?");
            json_decref(r);
            /* ... and the same agent in the web chat's demo page. */
            const char *demo = strstr(err, "/chat/wdg_");
            assert_non_null(demo);
            char page[120], *rh = NULL, *rb = NULL;
            assert_int_equal(sscanf(demo, "%119s", page), 1);
            assert_int_equal(th_http_raw(&F, "GET", page, NULL, NULL, 0, NULL, &rh, &rb), 200);
            assert_non_null(strstr(rb, "chat/widget.js"));
            free(rh);
            free(rb);
            assert_int_equal(th_http(&F, "GET", "/api/v1/widgets", NULL, NULL, &r), 200);
            assert_string_equal(json_string_value(th_get(r, "items.0.agent_id")), id);
            json_decref(r);
        }
        json_decref(o);
        free(err);
        assert_int_equal(th_stop_clean(&F, 10000), 0);
        th_cleanup(&F);
    }
}

/* A chat flooding an agent: past engine.flood_per_minute (60 by default)
 * its messages that minute are dropped with 429 and Retry-After, logged
 * and counted; another chat is served all the same. */
static void test_a_flooding_chat_is_cut_at_its_rate_and_others_are_served(void **s)
{
    (void)s;
    static const char *echo =
        "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": "
        "[\"en\"], \"variables\": {\"said\": {\"type\": \"string\"}}, \"start\": \"listen\","
        " \"steps\": {\"listen\": {\"kind\": \"ask\", \"text\": {\"en\": \"?\"}, \"var\": "
        "\"said\", \"next\": \"echo\"}, \"echo\": {\"kind\": \"say\", \"text\": {\"en\": \"got "
        "{{ vars.said }}\"}, \"next\": \"listen\"}}}";
    char agent[64], path[200];
    make_agent("Echoer", echo, NULL, agent, sizeof(agent));
    snprintf(path, sizeof(path), "/api/v1/agents/%s/messages", agent);
    /* The allowance is per wall-clock minute: start early in one. */
    while (time(NULL) % 60 > 40)
        th_sleep_ms(500);
    int ok = 0, flooded = 0;
    for (int i = 0; i < 70 && !flooded; i++) {
        char body[100];
        snprintf(body, sizeof(body), "{\"user\": \"flood\", \"text\": \"m%d\"}", i);
        json_t *o = NULL;
        int st = th_http(&H, "POST", path, body, NULL, &o);
        if (st == 200) ok++;
        if (st == 429) {
            assert_string_equal(json_string_value(th_get(o, "error.code")), "flooded");
            flooded = 1;
        }
        json_decref(o);
    }
    assert_int_equal(flooded, 1);
    assert_int_equal(ok, 60); /* the minute's allowance, then no more */
    json_t *o = say(agent, "calm", "hello");
    assert_string_equal(reply(o, 0), "?");
    json_decref(o);
    assert_true(th_wait_file(&H, "logs/events.log", "input dropped", 5000));
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
        cmocka_unit_test(test_the_lead_capture_example_files_a_lead_with_the_crm_in_russian),
        cmocka_unit_test(test_answers_saved_into_the_contact_profile_are_committed_and_announced),
        cmocka_unit_test(test_the_first_message_picks_the_conversations_language),
        cmocka_unit_test(test_hooks_change_what_the_agent_reads_and_a_dead_hook_is_skipped),
        cmocka_unit_test(test_a_flooding_chat_is_cut_at_its_rate_and_others_are_served),
        cmocka_unit_test(test_many_conversations_of_one_agent_keep_one_copy_of_its_scenario),
        cmocka_unit_test(test_unknown_agents_and_bad_messages_are_refused_clearly),
        cmocka_unit_test(test_a_first_start_offers_the_example_agent_to_talk_to),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
