/*
 * Simulations through the real binary (host/runtime/simulate.h): each of
 * the three examples walked in English and in Russian through POST
 * /agents/{id}/simulate with canned answers, to the outcome expected (the
 * path of steps and the variables asserted); a draft with errors refused
 * with every path named; a hostile jq expression in a draft cut by the
 * real workers and reported as its step's error; a canned failure (and a
 * call with no canned answer) following on_error; nothing written (no
 * conversation, contact or bus message); and sessions: started, sent to,
 * read, ended, invisible to another token, gone after their idle bound.
 */
#include "../support/th.h"
#include "../support/th_sim.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDLE_MS 5000 /* engine.simulation_idle_ms here: far above a request's time */

static th_host H;
static char other[200]; /* a second editor token */
static char onboarding[64], faq[64], lead[64];

/* ---- helpers --------------------------------------------------------------------- */

static char *read_example(const char *name)
{
    char rel[300];
    snprintf(rel, sizeof(rel), "docs/examples/scenarios/%s", name);
    return th_read_source(rel);
}

/* A scenario with one version of content and an agent running it. */
static int make_agent(const char *name, const char *content, char *agent, size_t n)
{
    return th_make_agent(&H, name, content, NULL, agent, n);
}

static int make_example(const char *file, const char *name, char *agent, size_t n)
{
    char *content = read_example(file);
    if (!content) return -1;
    int rc = make_agent(name, content, agent, n);
    free(content);
    return rc;
}

/* POST body to path (as token, NULL: the host's): the status expected, the answer. */
static json_t *post(const char *path, json_t *body, const char *token, int expect)
{
    char *text = json_dumps(body, 0);
    json_decref(body);
    json_t *o = NULL;
    int st = th_http(&H, "POST", path, text, token, &o);
    if (st != expect) {
        char *d = o ? json_dumps(o, 0) : NULL;
        fail_msg("POST %s: %d (expected %d) %s", path, st, expect, d ? d : "");
    }
    free(text);
    return o;
}

static json_t *simulate(const char *agent, json_t *body, int expect)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/simulate", agent);
    return post(path, body, NULL, expect);
}

static size_t turns(json_t *o)
{
    return json_array_size(json_object_get(o, "turns"));
}

/* The text of the agent's last message in the transcript. */
static const char *last_said(json_t *o)
{
    json_t *tx = json_object_get(o, "transcript");
    for (size_t i = json_array_size(tx); i-- > 0;) {
        json_t *e = json_array_get(tx, i);
        if (!strcmp(json_string_value(json_object_get(e, "from")), "agent"))
            return json_string_value(json_object_get(e, "text"));
    }
    return NULL;
}

static bool transcript_has(json_t *o, const char *from, const char *text)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(o, "transcript"), i, e)
    {
        const char *f = json_string_value(json_object_get(e, "from"));
        const char *t = json_string_value(json_object_get(e, "text"));
        if (f && t && !strcmp(f, from) && strstr(t, text)) return true;
    }
    return false;
}

static const char *str(json_t *o, const char *path)
{
    return json_string_value(th_get(o, path));
}

/* ---- setup ----------------------------------------------------------------------- */

static int setup(void **s)
{
    (void)s;
    /* The LLM plugin is installed (the FAQ example's llm.chat step needs
     * it to be saved) but never called: it points nowhere. */
    char cfg[600];
    snprintf(cfg, sizeof(cfg),
             "{\"expressions\": {\"workers\": 2, \"timeout_ms\": 300},"
             " \"engine\": {\"simulation_idle_ms\": %d, \"simulation_sessions\": 3},"
             " \"instances\": [{\"id\": \"llm\", \"plugin\": \"llm-openai\","
             "   \"config\": {\"base_url\": \"http://127.0.0.1:9/v1\", \"model\": \"gpt-4o\"}}]}",
             IDLE_MS);
    if (th_init(&H, "simulate") || th_install_plugin(&H, "jq") ||
        th_install_plugin(&H, "llm-openai") || th_config(&H, cfg) || th_make_token(&H) ||
        th_cli(&H, "sk-test-never-used-0000000000\n", NULL, 0, "secret", "set", "llm", "api_key",
               NULL)) {
        fprintf(stderr, "setup: init\n");
        return -1;
    }
    if (th_cli(&H, NULL, other, sizeof(other), "token", "create", "--name", "someone", "--role",
               "editor", NULL) != 0)
        return -1;
    other[strcspn(other, "\n")] = 0;
    if (th_start(&H, NULL, 15000) || !th_wait_state(&H, "jq-1", "ready", 15000) ||
        !th_wait_state(&H, "jq-2", "ready", 15000)) {
        fprintf(stderr, "setup: start\n");
        return -1;
    }
    if (make_example("onboarding-survey.json", "Onboarding", onboarding, sizeof(onboarding)) ||
        make_example("faq-agent.json", "FAQ", faq, sizeof(faq)) ||
        make_example("lead-capture.json", "Leads", lead, sizeof(lead))) {
        fprintf(stderr, "setup: examples\n");
        return -1;
    }
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

/* ---- the examples -------------------------------------------------------------------- */

static void test_the_onboarding_example_walks_to_its_outcome_in_english_and_russian(void **s)
{
    (void)s;
    json_t *o =
        simulate(onboarding,
                 json_pack("{s:o}", "messages",
                           th_sim_messages("A", "Anna", "anna@example.com", "dev", "5", NULL)),
                 200);
    assert_int_equal(turns(o), 6); /* the start, then one a message */
    assert_string_equal(th_sim_path(o, 0), "welcome ask_name");
    assert_true(transcript_has(o, "agent", "A name of 2 to 60 characters, please."));
    assert_string_equal(th_sim_path(o, 2), "ask_name ask_email");
    assert_string_equal(th_sim_path(o, 5), "ask_team route dev_docs summary done");
    assert_string_equal(str(o, "turns.2.variables.name"), "Anna");
    assert_string_equal(str(o, "turns.3.variables.email"), "anna@example.com");
    assert_string_equal(str(o, "turns.4.variables.role"), "developer");
    assert_int_equal(json_integer_value(th_get(o, "variables.team_size")), 5);
    assert_string_equal(str(o, "state"), "ended");
    assert_string_equal(str(o, "outcome"), "onboarded");
    assert_string_equal(last_said(o), "Thanks, Anna! Role: developer; team: 5 people.");
    assert_true(transcript_has(o, "user", "anna@example.com"));
    /* A step that set a variable carries the variables after it. */
    assert_string_equal(str(o, "turns.2.path.0.variables.name"), "Anna");
    json_decref(o);

    o = simulate(
        onboarding,
        json_pack("{s:s,s:o}", "language", "ru", "messages",
                  th_sim_messages("Анна", "anna@example.ru", "менеджер", "60", "да", NULL)),
        200);
    assert_string_equal(str(o, "transcript.0.text"),
                        "Добро пожаловать! Четыре коротких вопроса, и всё готово.");
    assert_string_equal(th_sim_path(o, 4), "ask_team route offer_demo");
    assert_string_equal(th_sim_path(o, 5), "offer_demo book_demo summary done");
    assert_string_equal(str(o, "variables.role"), "manager");
    assert_true(json_is_true(th_get(o, "variables.wants_demo")));
    assert_string_equal(str(o, "outcome"), "onboarded");
    assert_non_null(strstr(last_said(o), "Напишем на anna@example.ru"));
    json_decref(o);
}

static void test_the_faq_example_answers_with_a_canned_llm_and_falls_back_on_its_failure(void **s)
{
    (void)s;
    /* English: the model's canned answer is said; the wait's timeout ends it. */
    json_t *o = simulate(
        faq,
        json_pack("{s:s,s:o,s:{s:{s:s}}}", "language", "en", "messages",
                  th_sim_messages("How do I reset my password?", "yes", "!advance 1800000", NULL),
                  "answers", "llm.chat", "content", "Open Settings, then Password."),
        200);
    assert_string_equal(th_sim_path(o, 1), "listen route count answer helped");
    assert_true(transcript_has(o, "agent", "Open Settings, then Password."));
    assert_string_equal(str(o, "turns.1.variables.answer"), "Open Settings, then Password.");
    assert_int_equal(json_integer_value(th_get(o, "turns.1.variables.asked")), 1);
    assert_string_equal(str(o, "turns.1.calls.0.key"), "llm.chat");
    assert_string_equal(str(o, "turns.1.calls.0.args.messages.1.content"),
                        "How do I reset my password?");
    assert_string_equal(th_sim_path(o, 2), "helped more listen");
    assert_string_equal(str(o, "turns.3.wake"), "timer");
    assert_string_equal(th_sim_path(o, 3), "listen bye");
    assert_string_equal(str(o, "outcome"), "idle");
    assert_string_equal(last_said(o), "If you have more questions, just write. Have a nice day!");
    json_decref(o);

    /* Russian: the model fails (canned), is retried, and on_error hands off;
     * an operator resumes. */
    o = simulate(faq,
                 json_pack("{s:s,s:o,s:{s:{s:{s:s,s:s}}}}", "language", "ru", "messages",
                           th_sim_messages("Где мой заказ?", "!resume", NULL), "answers",
                           "llm.chat", "error", "code", "unavailable", "message",
                           "the model is down"),
                 200);
    assert_string_equal(th_sim_path(o, 1), "listen route count answer sorry to_human");
    assert_string_equal(str(o, "turns.1.path.3.error.code"), "unavailable");
    assert_int_equal(json_integer_value(th_get(o, "turns.1.path.3.attempt")), 2);
    assert_string_equal(str(o, "turns.1.state"), "handed_off");
    assert_true(transcript_has(o, "agent", "Не могу ответить прямо сейчас."));
    assert_string_equal(str(o, "turns.2.wake"), "resume");
    assert_string_equal(str(o, "state"), "waiting");
    assert_string_equal(str(o, "step"), "listen");
    json_decref(o);
}

static void test_the_lead_capture_example_files_a_lead_or_hands_off_without_an_answer(void **s)
{
    (void)s;
    json_t *o = simulate(lead,
                         json_pack("{s:o,s:{s:{s:i,s:{s:i}}}}", "messages",
                                   th_sim_messages("Anna", "+44 20 7946 0958", "Acme", NULL),
                                   "answers", "POST https://crm.example.com/api/v2/leads", "status",
                                   201, "body", "id", 4711),
                         200);
    assert_string_equal(th_sim_path(o, 3), "ask_company send check notify thanks done");
    assert_string_equal(str(o, "variables.lead_id"), "4711");
    assert_int_equal(json_integer_value(th_get(o, "variables.status")), 201);
    assert_string_equal(str(o, "turns.3.calls.0.kind"), "http");
    assert_string_equal(str(o, "turns.3.calls.0.args.body.company"), "Acme");
    assert_string_equal(str(o, "outcome"), "lead_captured");
    assert_non_null(strstr(last_said(o), "Your request number is 4711"));
    /* The trigger's event is reported, not published. */
    bool triggered = false;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(o, "events"), i, e)
    {
        char *d = json_dumps(e, 0);
        triggered |= strstr(d, "leads.captured") != NULL;
        free(d);
    }
    assert_true(triggered);
    json_decref(o);

    /* Russian, no canned answer for the CRM: the call fails clearly, is
     * retried, and on_error hands off to a manager. */
    o = simulate(lead,
                 json_pack("{s:s,s:o}", "language", "ru", "messages",
                           th_sim_messages("Анна", "+7 912 345-67-89", "-", NULL)),
                 200);
    assert_string_equal(th_sim_path(o, 3), "ask_company send manager");
    assert_string_equal(str(o, "turns.3.path.1.error.code"), "no_answer");
    assert_string_equal(str(o, "turns.3.path.1.error.message"),
                        "no canned answer for POST https://crm.example.com/api/v2/leads");
    assert_int_equal(json_integer_value(th_get(o, "turns.3.path.1.attempt")), 3);
    assert_string_equal(str(o, "state"), "handed_off");
    assert_string_equal(
        last_said(o), "Не получилось отправить заявку автоматически, дальше вам поможет менеджер.");
    json_decref(o);
}

static void test_the_yaml_examples_run_as_drafts_to_the_same_outcomes(void **s)
{
    (void)s;
    static const struct {
        const char *file, *language, *answers, *outcome, *state;
    } cases[] = {
        {"onboarding-survey.yaml", "ru", "{}", "onboarded", "ended"},
        {"faq-agent.yaml", "en", "{\"llm.chat\": [{\"content\": \"Yes.\"}]}", "idle", "ended"},
        {"lead-capture.yaml", "en", "{\"http.request\": {\"status\": 201, \"body\": {\"id\": 9}}}",
         "lead_captured", "ended"},
    };
    static const char *const walks[][6] = {
        {"Анна", "anna@example.ru", "разработчик", "3", NULL},
        {"Do you deliver on Sundays?", "yes", "!advance 1800000", NULL},
        {"Anna", "+44 20 7946 0958", "-", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *yaml = read_example(cases[i].file);
        assert_non_null(yaml);
        json_t *msgs = th_sim_messages(walks[i][0], walks[i][1], walks[i][2], walks[i][3], NULL);
        json_t *o =
            simulate(onboarding,
                     json_pack("{s:s,s:s,s:o,s:o}", "scenario", yaml, "language", cases[i].language,
                               "messages", msgs, "answers", json_loads(cases[i].answers, 0, NULL)),
                     200);
        free(yaml);
        assert_true(json_is_true(json_object_get(o, "draft")));
        assert_string_equal(str(o, "state"), cases[i].state);
        assert_string_equal(str(o, "outcome"), cases[i].outcome);
        json_decref(o);
    }
}

static void test_llm_tools_take_real_manifests_and_canned_answers_in_order(void **s)
{
    (void)s;
    /* The model (canned, two answers in order) calls a tool of a real
     * instance (jq-1's eval); its definition comes from jq's manifest, its
     * answer is canned too: no plugin is called. */
    json_t *draft = json_loads(
        "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": "
        "[\"en\"], \"variables\": {\"reply\": {\"type\": \"string\"}}, \"start\": \"think\","
        " \"steps\": {"
        "  \"think\": {\"kind\": \"llm.chat\", \"args\": {\"prompt\": \"Add 1 and 2\"},"
        "    \"tools\": [{\"instance\": \"jq-1\", \"action\": \"eval\"}],"
        "    \"result\": {\"reply\": \".result.content\"}, \"next\": \"done\"},"
        "  \"done\": {\"kind\": \"end\", \"outcome\": \"answered\"}}}",
        0, NULL);
    assert_non_null(draft);
    json_t *answers =
        json_loads("{\"llm.chat\": [{\"tool_calls\": [{\"id\": \"c1\", \"name\": \"jq-1__eval\","
                   "   \"arguments\": \"{}\", \"arguments_json\": {\"program\": \"1 + 2\"}}]},"
                   "  {\"content\": \"It is 3.\"}],"
                   " \"jq-1.eval\": {\"outputs\": [3]}}",
                   0, NULL);
    assert_non_null(answers);
    json_t *o =
        simulate(onboarding, json_pack("{s:o,s:o}", "scenario", draft, "answers", answers), 200);
    assert_string_equal(str(o, "outcome"), "answered");
    assert_string_equal(str(o, "variables.reply"), "It is 3.");
    assert_string_equal(str(o, "turns.0.path.0.tool_calls.0.name"), "jq-1__eval");
    assert_string_equal(str(o, "turns.0.calls.0.key"), "llm.chat");
    assert_string_equal(str(o, "turns.0.calls.0.args.tools.0.name"), "jq-1__eval");
    assert_string_equal(str(o, "turns.0.calls.0.args.tools.0.parameters.properties.program.type"),
                        "string");
    assert_string_equal(str(o, "turns.0.calls.1.key"), "jq-1.eval");
    assert_string_equal(str(o, "turns.0.calls.1.args.program"), "1 + 2");
    assert_string_equal(str(o, "turns.0.calls.2.key"), "llm.chat");
    /* Each call as it was made: the second holds the tool's answer, the first not. */
    assert_int_equal(json_array_size(th_get(o, "turns.0.calls.0.args.messages")), 1);
    assert_string_equal(str(o, "turns.0.calls.2.args.messages.2.role"), "tool");
    json_decref(o);
}

static void test_a_draft_calls_a_saved_agent_and_gets_its_output_back(void **s)
{
    (void)s;
    /* The draft hands over to the lead-capture agent (its saved scenario,
     * read only), which asks its questions over three turns; when it ends,
     * its lead id comes back to the draft. */
    char *text = NULL;
    assert_true(
        asprintf(&text,
                 "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", "
                 "\"languages\": [\"en\"], \"variables\": {\"lead\": {\"type\": \"string\"}},"
                 " \"start\": \"hello\", \"steps\": {"
                 "  \"hello\": {\"kind\": \"say\", \"text\": \"Let me take your details.\","
                 "              \"next\": \"capture\"},"
                 "  \"capture\": {\"kind\": \"call_agent\", \"agent\": \"%s\","
                 "                \"output\": {\"lead\": \".vars.lead_id\"}, \"next\": \"bye\"},"
                 "  \"bye\": {\"kind\": \"end\", \"text\": \"Lead {{ vars.lead }} noted.\","
                 "            \"outcome\": \"delegated\"}}}",
                 lead) > 0);
    json_t *draft = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(draft);
    json_t *o = simulate(onboarding,
                         json_pack("{s:o,s:o,s:{s:{s:i,s:{s:s}}}}", "scenario", draft, "messages",
                                   th_sim_messages("Anna", "+44 20 7946 0958", "Acme", NULL),
                                   "answers", "http.request", "status", 201, "body", "id", "L-77"),
                         200);
    assert_string_equal(th_sim_path(o, 0), "hello capture intro ask_name");
    assert_string_equal(th_sim_path(o, 3), "ask_company send check notify thanks done bye");
    assert_string_equal(last_said(o), "Lead L-77 noted.");
    assert_string_equal(str(o, "outcome"), "delegated");
    json_decref(o);
}

/* ---- drafts ------------------------------------------------------------------------------ */

static void test_a_draft_with_errors_is_refused_naming_every_path(void **s)
{
    (void)s;
    json_t *draft = json_loads(
        "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": "
        "[\"en\"], \"start\": \"a\", \"steps\": {"
        " \"a\": {\"kind\": \"say\", \"text\": \"hi\", \"next\": \"nowhere\"},"
        " \"b\": {\"kind\": \"switch\", \"cases\": [{\"if\": \".vars.x ==\", \"next\": \"a\"}],"
        "        \"default\": \"a\"}}}",
        0, NULL);
    assert_non_null(draft);
    json_t *o = simulate(onboarding, json_pack("{s:o}", "scenario", draft), 422);
    assert_string_equal(str(o, "error.code"), "invalid_scenario");
    char *d = json_dumps(o, 0);
    assert_non_null(strstr(d, "steps.a.next"));
    assert_non_null(strstr(d, "steps.b.cases[0].if")); /* jq's, from the workers */
    free(d);
    json_decref(o);

    /* Messages that are not valid are refused, the one named. */
    o = simulate(onboarding,
                 json_pack("{s:[{s:s},{s:i}]}", "messages", "text", "hi", "advance_ms", -5), 422);
    assert_string_equal(str(o, "error.field"), "messages[1].advance_ms");
    json_decref(o);
}

static void test_a_hostile_expression_in_a_draft_is_cut_and_reported_as_its_steps_error(void **s)
{
    (void)s;
    json_t *draft = json_loads(
        "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": "
        "[\"en\"], \"variables\": {\"x\": {\"type\": \"integer\"}}, \"start\": \"spin\","
        " \"steps\": {"
        "  \"spin\": {\"kind\": \"set\", \"set\": {\"x\": \"1 | until(false; .)\"},"
        "             \"on_error\": \"cut\", \"next\": \"done\"},"
        "  \"cut\": {\"kind\": \"say\", \"text\": \"The expression was cut.\", \"next\": "
        "\"done\"},"
        "  \"done\": {\"kind\": \"end\", \"outcome\": \"finished\"}}}",
        0, NULL);
    assert_non_null(draft);
    json_t *o = simulate(onboarding, json_pack("{s:o}", "scenario", draft), 200);
    assert_true(json_is_true(json_object_get(o, "draft")));
    assert_string_equal(th_sim_path(o, 0), "spin cut done");
    assert_string_equal(str(o, "turns.0.path.0.error.code"), "timeout");
    assert_string_equal(last_said(o), "The expression was cut.");
    assert_string_equal(str(o, "outcome"), "finished");
    json_decref(o);
}

/* ---- nothing written --------------------------------------------------------------------- */

static json_int_t total(const char *coll)
{
    char path[100];
    snprintf(path, sizeof(path), "/api/v1/%s?limit=1", coll);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    json_int_t n = json_integer_value(json_object_get(o, "total"));
    json_decref(o);
    return n;
}

static void test_a_simulation_writes_no_conversation_contact_or_message(void **s)
{
    (void)s;
    json_int_t convs = total("conversations"), contacts = total("contacts");
    long long out = th_topic_depth(&H, "message.out");
    long long events = th_topic_depth(&H, "platform.conversation");
    json_t *o = simulate(lead,
                         json_pack("{s:o,s:{s:{s:i,s:{s:s}}}}", "messages",
                                   th_sim_messages("Anna", "+44 20 7946 0958", "Acme", NULL),
                                   "answers", "http.request", "status", 200, "body", "id", "L-1"),
                         200);
    assert_string_equal(str(o, "outcome"), "lead_captured");
    json_decref(o);
    o = post("/api/v1/agents/x/simulate", json_object(), NULL, 404);
    json_decref(o);
    assert_int_equal(total("conversations"), convs);
    assert_int_equal(total("contacts"), contacts);
    assert_int_equal(th_topic_depth(&H, "message.out"), out);
    assert_int_equal(th_topic_depth(&H, "platform.conversation"), events);
}

/* ---- sessions ------------------------------------------------------------------------------ */

static void test_a_session_is_walked_step_by_step_and_seen_only_by_its_token(void **s)
{
    (void)s;
    char path[200], id[64];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/simulations", onboarding);
    json_t *o = post(path, json_object(), NULL, 201);
    snprintf(id, sizeof(id), "%s", str(o, "id"));
    assert_string_equal(str(o, "transcript.1.text"), "What should we call you?");
    assert_string_equal(str(o, "state"), "waiting");
    json_decref(o);

    snprintf(path, sizeof(path), "/api/v1/simulations/%s/messages", id);
    o = post(path, json_pack("{s:s}", "text", "Anna"), NULL, 200);
    /* Only what is new: the message and the answer. */
    assert_int_equal(json_array_size(json_object_get(o, "transcript")), 2);
    assert_string_equal(str(o, "transcript.0.text"), "Anna");
    assert_string_equal(str(o, "transcript.1.text"), "Anna, what is your work email?");
    assert_int_equal(turns(o), 1);
    assert_string_equal(str(o, "variables.name"), "Anna");
    json_decref(o);
    o = post(path,
             json_pack("{s:[{s:s},{s:s}]}", "messages", "text", "anna@example.com", "text", "pm"),
             NULL, 200);
    assert_int_equal(turns(o), 2);
    assert_string_equal(str(o, "step"), "ask_team");
    json_decref(o);

    /* Another token sees nothing, and cannot send. */
    snprintf(path, sizeof(path), "/api/v1/simulations/%s", id);
    assert_int_equal(th_http(&H, "GET", path, NULL, other, &o), 404);
    json_decref(o);
    snprintf(path, sizeof(path), "/api/v1/simulations/%s/messages", id);
    json_decref(post(path, json_pack("{s:s}", "text", "5"), other, 404));
    snprintf(path, sizeof(path), "/api/v1/simulations/%s", id);
    assert_int_equal(th_http(&H, "DELETE", path, NULL, other, &o), 404);
    json_decref(o);

    /* Its maker reads the whole walk, then ends it. */
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    assert_int_equal(turns(o), 4);
    assert_int_equal(json_array_size(json_object_get(o, "transcript")), 8);
    assert_string_equal(str(o, "variables.role"), "manager");
    json_decref(o);
    assert_int_equal(th_http(&H, "DELETE", path, NULL, NULL, &o), 204);
    json_decref(o);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 404);
    json_decref(o);
}

static void test_sessions_are_bounded_and_expire_when_idle(void **s)
{
    (void)s;
    char path[200], ids[3][64];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/simulations", faq);
    for (int i = 0; i < 3; i++) {
        json_t *o = post(path, json_object(), NULL, 201);
        snprintf(ids[i], sizeof(ids[i]), "%s", str(o, "id"));
        json_decref(o);
    }
    json_t *o = post(path, json_object(), NULL, 429); /* engine.simulation_sessions: 3 */
    json_decref(o);
    th_sleep_ms(IDLE_MS + 500);
    char one[200];
    snprintf(one, sizeof(one), "/api/v1/simulations/%s", ids[0]);
    assert_int_equal(th_http(&H, "GET", one, NULL, NULL, &o), 404);
    json_decref(o);
    o = post(path, json_object(), NULL, 201); /* room again */
    snprintf(one, sizeof(one), "/api/v1/simulations/%s", str(o, "id"));
    json_decref(o);
    assert_int_equal(th_http(&H, "DELETE", one, NULL, NULL, &o), 204);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_onboarding_example_walks_to_its_outcome_in_english_and_russian),
        cmocka_unit_test(
            test_the_faq_example_answers_with_a_canned_llm_and_falls_back_on_its_failure),
        cmocka_unit_test(test_the_lead_capture_example_files_a_lead_or_hands_off_without_an_answer),
        cmocka_unit_test(test_the_yaml_examples_run_as_drafts_to_the_same_outcomes),
        cmocka_unit_test(test_llm_tools_take_real_manifests_and_canned_answers_in_order),
        cmocka_unit_test(test_a_draft_calls_a_saved_agent_and_gets_its_output_back),
        cmocka_unit_test(test_a_draft_with_errors_is_refused_naming_every_path),
        cmocka_unit_test(
            test_a_hostile_expression_in_a_draft_is_cut_and_reported_as_its_steps_error),
        cmocka_unit_test(test_a_simulation_writes_no_conversation_contact_or_message),
        cmocka_unit_test(test_a_session_is_walked_step_by_step_and_seen_only_by_its_token),
        cmocka_unit_test(test_sessions_are_bounded_and_expire_when_idle),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
