/*
 * The template library through the real binary (docs/templates.md): the
 * six templates listed with their needs and variables; each made into an
 * agent (POST /templates/{id}/instantiate: scenario version 1, agent,
 * triggers, audited), its scenario passing the checker that a save runs;
 * then each agent's main path walked through the simulation API in
 * English and in Russian, with canned answers for its plugins (the
 * knowledge base, the model, amoCRM), timers moved on with advance_ms
 * (the booking's reminder, the NPS follow-up). Bad variables, an unknown
 * template and a name already taken are refused, and nothing is written.
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
#include <time.h>

static th_host H;

/* ---- helpers ----------------------------------------------------------------------- */

static json_t *call(const char *method, const char *path, json_t *body, int expect)
{
    char *text = body ? json_dumps(body, 0) : NULL;
    json_decref(body);
    json_t *o = NULL;
    int st = th_http(&H, method, path, text, NULL, &o);
    if (st != expect) {
        char *d = o ? json_dumps(o, 0) : NULL;
        fail_msg("%s %s: %d (expected %d) %s", method, path, st, expect, d ? d : "");
    }
    free(text);
    return o;
}

static const char *str(json_t *o, const char *path)
{
    return json_string_value(th_get(o, path));
}

/* A new agent from template id with variables (stolen): its id into agent. */
static void instantiate(const char *id, const char *name, json_t *vars, char *agent, size_t n)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/templates/%s/instantiate", id);
    json_t *o = call("POST", path, json_pack("{s:s,s:o}", "name", name, "variables", vars), 201);
    snprintf(agent, n, "%s", str(o, "agent.id"));
    assert_int_equal(json_integer_value(th_get(o, "version.number")), 1);
    json_decref(o);
}

/* Simulate agent in lang with msgs (stolen) and answers (stolen, may be NULL). */
static json_t *simulate(const char *agent, const char *lang, json_t *msgs, json_t *answers)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/simulate", agent);
    json_t *b = json_pack("{s:s,s:o}", "language", lang, "messages", msgs);
    if (answers) json_object_set_new(b, "answers", answers);
    return call("POST", path, b, 200);
}

static bool said(json_t *o, const char *text)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(o, "transcript"), i, e)
    {
        const char *f = json_string_value(json_object_get(e, "from"));
        const char *t = json_string_value(json_object_get(e, "text"));
        if (f && t && !strcmp(f, "agent") && strstr(t, text)) return true;
    }
    return false;
}

static void expect_outcome(json_t *o, const char *outcome)
{
    if (!str(o, "outcome") || strcmp(str(o, "outcome"), outcome)) {
        char *d = json_dumps(o, JSON_INDENT(1));
        fail_msg("expected outcome %s: %s", outcome, d);
    }
}

/* ---- setup ------------------------------------------------------------------------- */

static int setup(void **s)
{
    (void)s;
    /* Every plugin the templates need is installed and has an instance;
     * none is called: the simulation answers for them. */
    const char *cfg =
        "{\"expressions\": {\"workers\": 2, \"timeout_ms\": 1000},"
        " \"instances\": ["
        "  {\"id\": \"llm\", \"plugin\": \"llm-openai\","
        "   \"config\": {\"base_url\": \"http://127.0.0.1:9/v1\", \"model\": \"gpt-4o\"}},"
        "  {\"id\": \"kb\", \"plugin\": \"rag\", \"config\": {}},"
        "  {\"id\": \"amo\", \"plugin\": \"crm-amocrm\", \"config\": {\"base_url\": "
        "   \"http://127.0.0.1:9\", \"account_id\": 1, \"redirect_uri\": "
        "   \"https://bot.example.com/hooks/amo/oauth\"}}]}";
    if (th_init(&H, "templates") || th_install_plugin(&H, "jq") ||
        th_install_plugin(&H, "llm-openai") || th_install_plugin(&H, "rag") ||
        th_install_plugin(&H, "crm-amocrm") || th_config(&H, cfg) || th_make_token(&H) ||
        th_cli(&H, "sk-test-never-used-0000000000\n", NULL, 0, "secret", "set", "llm", "api_key",
               NULL)) {
        fprintf(stderr, "setup: init\n");
        return -1;
    }
    if (th_start(&H, NULL, 15000) || !th_wait_state(&H, "jq-1", "ready", 15000) ||
        !th_wait_state(&H, "jq-2", "ready", 15000)) {
        fprintf(stderr, "setup: start\n");
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

/* ---- the library ---------------------------------------------------------------------- */

static void test_the_library_lists_six_templates_with_needs_and_variables_in_two_languages(void **s)
{
    (void)s;
    json_t *o = call("GET", "/api/v1/templates", NULL, 200);
    json_t *items = json_object_get(o, "items");
    assert_int_equal(json_array_size(items), 6);
    size_t i;
    json_t *t;
    json_array_foreach(items, i, t)
    {
        assert_non_null(str(t, "name.en"));
        assert_non_null(str(t, "name.ru"));
        assert_non_null(str(t, "description.ru"));
        assert_true(json_is_object(json_object_get(t, "variables")));
        assert_null(json_object_get(t, "scenario")); /* the listing is a summary */
        assert_true(json_is_true(json_object_get(t, "available")));
        assert_int_equal(json_array_size(json_object_get(t, "missing_instances")), 0);
    }
    assert_string_equal(str(o, "items.1.id"), "faq-knowledge-base");
    assert_string_equal(str(o, "items.1.requires.plugins.1"), "rag");
    assert_true(json_is_true(th_get(o, "items.1.variables.kb.required")));
    json_decref(o);

    o = call("GET", "/api/v1/templates/lead-capture-amocrm", NULL, 200);
    assert_string_equal(str(o, "scenario.steps.create_lead.kind"), "crm.create_lead");
    assert_string_equal(str(o, "scenario.steps.create_lead.args.pipeline"), "${pipeline_id}");
    json_decref(o);
    o = call("GET", "/api/v1/templates/nope", NULL, 404);
    json_decref(o);
}

static void test_an_agent_made_from_a_template_has_its_version_1_and_triggers(void **s)
{
    (void)s;
    json_t *o = call("POST", "/api/v1/templates/troubleshooting/instantiate",
                     json_pack("{s:s,s:s,s:{s:s,s:s}}", "name", "Router help", "description",
                               "Home routers", "variables", "product", "your router",
                               "support_phone", "+7 800 555-35-35"),
                     201);
    const char *agent = str(o, "agent.id"), *scn = str(o, "scenario.id");
    assert_string_equal(str(o, "agent.scenario.scenario_id"), scn);
    assert_string_equal(str(o, "agent.tags.0"), "template:troubleshooting");
    assert_string_equal(str(o, "triggers.0.kind"), "on_command");
    assert_string_equal(str(o, "triggers.0.command.name"), "/start");
    assert_string_equal(str(o, "triggers.0.agent_id"), agent);
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/scenarios/%s/versions/1", scn);
    json_t *v = call("GET", path, NULL, 200);
    assert_non_null(strstr(str(v, "content.steps.hello.text.ru"), "починить your router"));
    assert_string_equal(str(v, "message"), "From the template troubleshooting");
    json_decref(v);
    snprintf(path, sizeof(path), "/api/v1/triggers?agent_id=%s", agent);
    v = call("GET", path, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(v, "items")), 1);
    json_decref(v);
    snprintf(path, sizeof(path), "/api/v1/audit?target=%s", agent);
    v = call("GET", path, NULL, 200);
    assert_string_equal(str(v, "items.0.action"), "agent.create");
    json_decref(v);
    /* The same name again: refused, and no second scenario either. */
    json_t *again = call("POST", "/api/v1/templates/troubleshooting/instantiate",
                         json_pack("{s:s,s:{s:s,s:s}}", "name", "Router help", "variables",
                                   "product", "x", "support_phone", "+7 800 555-35-35"),
                         409);
    json_decref(again);
    v = call("GET", "/api/v1/scenarios?tag=template:troubleshooting", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(v, "items")), 1);
    json_decref(v);
    json_decref(o);
}

static void test_bad_variables_are_refused_each_named_and_nothing_is_made(void **s)
{
    (void)s;
    json_t *o = call("POST", "/api/v1/templates/appointment-booking/instantiate",
                     json_pack("{s:s,s:{s:s,s:i,s:s}}", "name", "Clinic", "variables", "phone",
                               "ring us", "remind_hours_before", 0, "colour", "red"),
                     422);
    assert_string_equal(str(o, "error.code"), "invalid_variables");
    char *d = json_dumps(o, 0);
    assert_non_null(strstr(d, "variables.place"));
    assert_non_null(strstr(d, "variables.phone"));
    assert_non_null(strstr(d, "variables.remind_hours_before"));
    assert_non_null(strstr(d, "variables.colour"));
    free(d);
    json_decref(o);
    o = call("POST", "/api/v1/templates/nope/instantiate", json_pack("{s:s}", "name", "Nope"), 404);
    json_decref(o);
    o = call("GET", "/api/v1/agents?q=Clinic", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(o, "items")), 0);
    json_decref(o);
}

/* ---- each template's main path, in English and in Russian --------------------------------- */

static void test_the_onboarding_template_walks_to_onboarded(void **s)
{
    (void)s;
    char a[64];
    instantiate("onboarding-survey", "Newcomers",
                json_pack("{s:s,s:i}", "company", "Acme", "demo_team_size", 10), a, sizeof(a));
    json_t *o =
        simulate(a, "en", th_sim_messages("Anna", "anna@example.com", "dev", "5", NULL), NULL);
    assert_string_equal(th_sim_path(o, 0), "welcome ask_name");
    assert_true(said(o, "Welcome to Acme!"));
    assert_string_equal(th_sim_path(o, 4), "ask_team route dev_docs summary done");
    expect_outcome(o, "onboarded");
    json_decref(o);
    /* 12 people: over this agent's threshold of 10, so the demo is offered */
    o = simulate(a, "ru", th_sim_messages("Анна", "anna@example.ru", "менеджер", "12", "да", NULL),
                 NULL);
    assert_true(said(o, "Добро пожаловать в Acme!"));
    assert_string_equal(th_sim_path(o, 4), "ask_team route offer_demo");
    assert_true(json_is_true(th_get(o, "variables.wants_demo")));
    expect_outcome(o, "onboarded");
    json_decref(o);
}

static void test_the_faq_template_answers_from_the_knowledge_base_or_falls_back_to_the_llm(void **s)
{
    (void)s;
    char a[64];
    instantiate("faq-knowledge-base", "Acme FAQ",
                json_pack("{s:s,s:s}", "company", "Acme", "kb", "acme-help"), a, sizeof(a));
    /* English: a passage scores well: it is the answer, and the model is not asked. */
    json_t *o = simulate(
        a, "en", th_sim_messages("How do I reset my password?", "yes", "!advance 1800000", NULL),
        json_pack("{s:{s:s,s:[{s:s,s:f}]}}", "rag.search", "kb", "acme-help", "passages", "text",
                  "Open Settings, then Password.", "score", 3.5));
    assert_string_equal(th_sim_path(o, 1), "listen route count search found from_kb say_kb helped");
    assert_true(said(o, "Open Settings, then Password."));
    assert_string_equal(str(o, "turns.1.calls.0.args.kb"), "acme-help");
    assert_string_equal(str(o, "turns.1.calls.0.args.query"), "How do I reset my password?");
    assert_string_equal(str(o, "variables.source"), "kb");
    expect_outcome(o, "idle");
    json_decref(o);
    /* Russian: only a weak passage: the model answers instead. */
    o = simulate(a, "ru", th_sim_messages("Где мой заказ?", "да", "!advance 1800000", NULL),
                 json_pack("{s:{s:[{s:s,s:f}]},s:{s:s}}", "rag.search", "passages", "text",
                           "Доставка занимает день.", "score", 0.1, "llm.chat", "content",
                           "Заказ в пути, номер отслеживания в письме."));
    assert_string_equal(th_sim_path(o, 1), "listen route count search found ask_model helped");
    assert_true(said(o, "Заказ в пути"));
    assert_false(said(o, "Доставка занимает день."));
    assert_string_equal(str(o, "variables.source"), "llm");
    assert_string_equal(str(o, "turns.1.calls.0.args.language"), "ru");
    expect_outcome(o, "idle");
    json_decref(o);
}

static void test_the_lead_template_creates_the_contact_and_the_lead_in_amocrm(void **s)
{
    (void)s;
    char a[64];
    instantiate("lead-capture-amocrm", "Sales",
                json_pack("{s:s,s:i,s:i}", "company", "Acme", "pipeline_id", 4242, "status_id", 17),
                a, sizeof(a));
    json_t *answers =
        json_pack("{s:{s:i,s:b},s:{s:i},s:{s:i}}", "crm.find_or_create_contact", "contact_id", 77,
                  "created", 1, "crm.create_lead", "lead_id", 9001, "crm.add_note", "note_id", 5);
    json_t *o =
        simulate(a, "en", th_sim_messages("Anna", "+44 20 7946 0958", "A demo for 20 seats", NULL),
                 json_incref(answers));
    assert_string_equal(th_sim_path(o, 3), "ask_interest contact create_lead note thanks");
    assert_string_equal(str(o, "turns.3.calls.0.key"), "crm.find_or_create_contact");
    assert_string_equal(str(o, "turns.3.calls.0.args.phone"), "+442079460958"); /* normalised */
    assert_int_equal(json_integer_value(th_get(o, "turns.3.calls.1.args.pipeline")), 4242);
    assert_int_equal(json_integer_value(th_get(o, "turns.3.calls.1.args.status")), 17);
    assert_string_equal(str(o, "turns.3.calls.1.args.contact_id"), "77");
    assert_string_equal(str(o, "turns.3.calls.2.args.text"),
                        "A demo for 20 seats (simulation, en)");
    assert_true(said(o, "Your request number is 9001"));
    expect_outcome(o, "lead_created");
    json_decref(o);
    o = simulate(a, "ru", th_sim_messages("Анна", "+7 912 345-67-89", "Нужна демонстрация", NULL),
                 answers);
    assert_true(said(o, "Номер вашей заявки 9001"));
    assert_string_equal(str(o, "turns.3.calls.1.args.name"), "Chat request: Анна");
    expect_outcome(o, "lead_created");
    json_decref(o);
}

static void test_the_troubleshooting_template_resolves_or_escalates(void **s)
{
    (void)s;
    char a[64];
    instantiate("troubleshooting", "Device help",
                json_pack("{s:s,s:s}", "product", "the box", "support_phone", "+44 20 7946 0000"),
                a, sizeof(a));
    json_t *o = simulate(a, "en", th_sim_messages("2", "no", "yes", NULL), NULL);
    assert_string_equal(th_sim_path(o, 0), "hello what");
    assert_string_equal(th_sim_path(o, 2), "restart_router check_wifi");
    assert_string_equal(str(o, "variables.problem"), "no_network");
    assert_string_equal(str(o, "variables.resolved_by"), "wifi_rejoin");
    expect_outcome(o, "resolved");
    json_decref(o);
    o = simulate(
        a, "ru",
        th_sim_messages("Не включается", "нет", "нет", "Горит красный индикатор", "!resume", NULL),
        NULL);
    assert_string_equal(th_sim_path(o, 4), "describe escalate");
    assert_true(said(o, "Звоните +44 20 7946 0000"));
    assert_string_equal(str(o, "variables.details"), "Горит красный индикатор");
    expect_outcome(o, "escalated");
    json_decref(o);
}

/* A date days from now (UTC), as the person would type it. */
static void date_in(int days, bool russian, char *buf, size_t n)
{
    time_t t = time(NULL) + (time_t)days * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, russian ? "%d.%m.%Y" : "%Y-%m-%d", &tm);
}

static void test_the_booking_template_books_and_reminds_before_the_visit(void **s)
{
    (void)s;
    char a[64], d[20], iso[20], want[120];
    instantiate("appointment-booking", "Clinic bookings",
                json_pack("{s:s,s:s,s:i}", "place", "Dr. Smith's clinic", "phone",
                          "+44 20 7946 0001", "remind_hours_before", 24),
                a, sizeof(a));
    date_in(3, false, d, sizeof(d));
    /* Booked; nothing more until the clock reaches a day before the visit. */
    json_t *o = simulate(a, "en",
                         th_sim_messages("Anna", d, "14", "yes", "!advance 3600000",
                                         "!advance 259200000", "yes", NULL),
                         NULL);
    assert_string_equal(th_sim_path(o, 3), "ask_slot slot_time confirm");
    assert_string_equal(th_sim_path(o, 4), "confirm plan booked wait_reminder");
    assert_string_equal(th_sim_path(o, 5), ""); /* an hour on: still waiting */
    assert_string_equal(th_sim_path(o, 6), "wait_reminder remind");
    snprintf(want, sizeof(want),
             "Reminder: Anna, your visit to Dr. Smith's clinic is on %s at 14:00", d);
    assert_true(said(o, want));
    expect_outcome(o, "confirmed");
    json_decref(o);
    date_in(2, true, d, sizeof(d));
    date_in(2, false, iso, sizeof(iso));
    o = simulate(a, "ru", th_sim_messages("Анна", d, "17", "да", "!advance 172800000", "нет", NULL),
                 NULL);
    assert_string_equal(str(o, "variables.date"), iso);
    assert_string_equal(str(o, "variables.time"), "17:00");
    snprintf(want, sizeof(want),
             "Напоминание: Анна, вы записаны в Dr. Smith's clinic на %s в 17:00", iso);
    assert_true(said(o, want));
    expect_outcome(o, "cancelled");
    json_decref(o);
}

static void test_the_nps_template_sorts_scores_and_follows_up_with_detractors(void **s)
{
    (void)s;
    char a[64];
    instantiate("nps-feedback", "NPS",
                json_pack("{s:s,s:i}", "company", "Acme", "follow_up_hours", 48), a, sizeof(a));
    /* A detractor: asked why, then 48 hours later whether it was put right. */
    json_t *o = simulate(a, "en",
                         th_sim_messages("3", "The courier was late", "!advance 86400000",
                                         "!advance 86400000", "no", "!resume", NULL),
                         NULL);
    assert_string_equal(th_sim_path(o, 1), "ask_score classify route ask_reason");
    assert_string_equal(th_sim_path(o, 2), "ask_reason promise wait_follow_up");
    assert_string_equal(th_sim_path(o, 3), ""); /* a day on: not yet */
    assert_string_equal(th_sim_path(o, 4), "wait_follow_up follow_up");
    assert_true(said(o, "Has Acme put things right for you?"));
    assert_string_equal(str(o, "variables.segment"), "detractor");
    expect_outcome(o, "detractor_unresolved");
    json_decref(o);
    o = simulate(a, "ru", th_sim_messages("2", "Долго везли", "!advance 172800000", "да", NULL),
                 NULL);
    assert_true(said(o, "вернусь к вам через 48 ч"));
    expect_outcome(o, "detractor_recovered");
    json_decref(o);
    o = simulate(a, "ru", th_sim_messages("8", "Быстрее доставку", NULL), NULL);
    assert_string_equal(str(o, "variables.segment"), "passive");
    expect_outcome(o, "passive");
    json_decref(o);
    o = simulate(a, "en", th_sim_messages("10", NULL), NULL);
    expect_outcome(o, "promoter");
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_the_library_lists_six_templates_with_needs_and_variables_in_two_languages),
        cmocka_unit_test(test_an_agent_made_from_a_template_has_its_version_1_and_triggers),
        cmocka_unit_test(test_bad_variables_are_refused_each_named_and_nothing_is_made),
        cmocka_unit_test(test_the_onboarding_template_walks_to_onboarded),
        cmocka_unit_test(
            test_the_faq_template_answers_from_the_knowledge_base_or_falls_back_to_the_llm),
        cmocka_unit_test(test_the_lead_template_creates_the_contact_and_the_lead_in_amocrm),
        cmocka_unit_test(test_the_troubleshooting_template_resolves_or_escalates),
        cmocka_unit_test(test_the_booking_template_books_and_reminds_before_the_visit),
        cmocka_unit_test(test_the_nps_template_sorts_scores_and_follows_up_with_detractors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
