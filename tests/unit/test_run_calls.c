/*
 * test_run_calls.c - the interpreter (host/engine/run.h) on steps that call
 * out: plugin actions (results mapped, retries, on_error, emits and
 * links_contact), llm.chat with tools, http.request, durable waits,
 * triggers and call_agent. The fake outside (jq real, the rest scripted)
 * is tests/support/run_world.c; the conversation's own steps are in
 * test_run.c.
 */
#include "cmocka_pre.h"

#include "../support/run_world.h"
#include "engine/run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *CALLS =
    "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
    " 'variables': {'deal': {'type': 'string'}},"
    " 'fallback': 'We are sorry.', 'start': 'find', 'steps': {"
    "  'find': {'kind': 'crm.find_deal', 'args': {'q': 'order {{ vars.deal }}'}, 'retries': 2,"
    "    'retry_backoff_ms': 100, 'result': {'deal': '.result.id'}, 'next': 'ok' ON_ERROR},"
    "  'ok': {'kind': 'say', 'text': 'Deal {{ vars.deal }}', 'next': 'done'},"
    "  'apologise': {'kind': 'say', 'text': 'Failed: {{ vars._error.code }}', 'next': 'done'},"
    "  'done': {'kind': 'end'}}}";

static world *calls(const char *on_error)
{
    world *w = malloc(sizeof(*w));
    w_init_marked(w, CALLS, "ON_ERROR", on_error);
    json_object_set_new(w->conv, "variables", J("{'deal': '5512'}"));
    return w;
}

static void a_plugin_step_maps_its_result_into_variables(void **state)
{
    (void)state;
    world *w = calls("");
    script(w, "crm.find_deal", "[{'result': {'id': 'D-77'}}]");
    assert_int_equal(turn(w, RUN_WAKE_START, NULL, NULL), RUN_ENDED);
    json_t *call = json_array_get(w->f.calls, 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(call, "args"), "q")),
                        "order 5512");
    assert_string_equal(text_at(w, 0), "Deal D-77");
    assert_int_equal(events_of(w, "step.completed"), 1); /* the action step, not say or end */
    w_free(w);
    free(w);
}

static void a_failing_step_is_retried_with_backoff_then_takes_on_error(void **state)
{
    (void)state;
    world *w = calls(", 'on_error': 'apologise'");
    script(w, "crm.find_deal",
           "[{'error': 'timeout', 'message': 'slow'}, {'error': 'timeout', 'message': 'slow'},"
           " {'error': 'timeout', 'message': 'slower'}]");
    assert_int_equal(turn(w, RUN_WAKE_START, NULL, NULL), RUN_ENDED);
    assert_int_equal(json_array_size(w->f.calls), 3); /* the first try and two retries */
    assert_int_equal(json_array_size(w->f.delays), 2);
    assert_int_equal(json_integer_value(json_array_get(w->f.delays, 0)), 100);
    assert_int_equal(json_integer_value(json_array_get(w->f.delays, 1)), 200);
    assert_string_equal(text_at(w, 0), "Failed: timeout");
    json_t *err = var(w, "_error");
    assert_string_equal(json_string_value(json_object_get(err, "step")), "find");
    assert_string_equal(json_string_value(json_object_get(err, "message")), "slower");
    assert_string_equal(conv_str(w, "outcome"), "completed");
    assert_int_equal(events_of(w, "step.completed"), 1);
    w_free(w);
    free(w);
}

static void a_failing_step_without_on_error_sends_the_fallback_and_ends(void **state)
{
    (void)state;
    world *w = calls("");
    script(w, "crm.find_deal", "[{'error': 'crashed', 'message': 'the plugin died'}]");
    json_object_set_new(json_object_get(json_object_get(w->scenario, "steps"), "find"), "retries",
                        json_integer(0));
    assert_int_equal(turn(w, RUN_WAKE_START, NULL, NULL), RUN_ENDED);
    assert_int_equal(json_array_size(w->t.messages), 1);
    assert_string_equal(text_at(w, 0), "We are sorry.");
    assert_string_equal(conv_str(w, "outcome"), "error");
    assert_non_null(strstr(w->f.error, "the plugin died"));
    w_free(w);
    free(w);
}

static void a_template_error_is_not_retried(void **state)
{
    (void)state;
    world w;
    w_init(&w, "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
               " 'start': 's', 'steps': {'s': {'kind': 'say', 'text': '{{ vars.n | number }}',"
               " 'retries': 3}}}");
    json_object_set_new(w.conv, "variables", J("{'n': 'abc'}"));
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_ENDED);
    assert_int_equal(json_array_size(w.f.delays), 0);
    assert_string_equal(conv_str(&w, "outcome"), "error");
    assert_non_null(strstr(w.f.error, "number"));
    w_free(&w);
}

/* A step whose manifest declares emits: lead.created, answered: the event
 * on platform.lead, keyed by the contact, with the lead from the result
 * and the price from the step's arguments. */
static void an_emitting_step_adds_lead_created_keyed_by_the_contact(void **state)
{
    (void)state;
    world *w = calls("");
    json_object_set_new(w->conv, "variables", J("{'deal': '5512'}"));
    script(w, "crm.find_deal",
           "[{'emits': true, 'result': {'id': 'D-77', 'lead_id': 991, 'status_id': 7,"
           " 'url': 'https://x.amocrm.ru/leads/detail/991'}}]");
    assert_int_equal(turn(w, RUN_WAKE_START, NULL, NULL), RUN_ENDED);
    json_t *ev = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(
        w->t.events, i,
        e) if (!strcmp(json_string_value(json_object_get(e, "topic")), "platform.lead")) ev = e;
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "key")), "con_1");
    json_t *want =
        J("{'type': 'lead.created', 'event_version': 1, 'at': '2026-03-05T08:40:00.000Z',"
          " 'conversation_id': 'cnv_1', 'agent_id': 'agt_1', 'contact_id': 'con_1',"
          " 'crm': {'kind': 'crm-x', 'instance': 'crm1'},"
          " 'lead': {'id': '991', 'status_id': '7',"
          "          'url': 'https://x.amocrm.ru/leads/detail/991'}}");
    json_t *got = json_object_get(ev, "body");
    if (!json_equal(got, want)) {
        char *d = json_dumps(got, JSON_SORT_KEYS);
        fail_msg("lead.created: %s", d);
    }
    json_decref(want);
    /* Outside a running step (the turn has stopped): nothing. */
    size_t before = json_array_size(w->t.events);
    run_turn_emit(&w->t, "lead.created", "crm-x", "crm1", json_object_get(ev, "body"));
    assert_int_equal(json_array_size(w->t.events), before);
    w_free(w);
    free(w);
}

/* A step whose manifest declares links_contact, answered: the turn links
 * the contact to the record the result names; applied to the contact,
 * one link per instance (the latest replaces), others kept. */
static void a_linking_step_links_the_contact_one_link_per_instance(void **state)
{
    (void)state;
    world *w = calls("");
    json_t *contact = J("{'id': 'con_1', 'profile': {},"
                        " 'links': [{'plugin': 'crm-x', 'instance': 'crm1', 'id': '5'},"
                        "           {'plugin': 'crm-y', 'instance': 'crm2', 'id': '9'}]}");
    w->contact = contact;
    script(w, "crm.find_deal", "[{'links': true, 'result': {'contact_id': 4521}}]");
    assert_int_equal(turn(w, RUN_WAKE_START, NULL, NULL), RUN_ENDED);
    json_t *want = J("[{'plugin': 'crm-x', 'instance': 'crm1', 'id': '4521'}]");
    assert_true(json_equal(w->t.links, want));
    json_decref(want);
    assert_true(run_links_apply(contact, w->t.links));
    want = J("[{'plugin': 'crm-x', 'instance': 'crm1', 'id': '4521'},"
             " {'plugin': 'crm-y', 'instance': 'crm2', 'id': '9'}]");
    assert_true(json_equal(json_object_get(contact, "links"), want));
    json_decref(want);
    assert_false(run_links_apply(contact, w->t.links)); /* the same again: no change */
    /* Without a contact, or an id in the result: no link. */
    w_free(w);
    free(w);
    w = calls("");
    script(w, "crm.find_deal", "[{'links': true, 'result': {'contact_id': 4521}}]");
    assert_int_equal(turn(w, RUN_WAKE_START, NULL, NULL), RUN_ENDED);
    assert_null(w->t.links);
    w_free(w);
    free(w);
    w = calls("");
    w->contact = contact;
    script(w, "crm.find_deal", "[{'links': true, 'result': {'created': true}}]");
    assert_int_equal(turn(w, RUN_WAKE_START, NULL, NULL), RUN_ENDED);
    assert_null(w->t.links);
    w_free(w);
    free(w);
    json_decref(contact);
}

static const char *LLM =
    "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
    " 'variables': {'answer': {'type': 'string'}}, 'start': 'q', 'steps': {"
    "  'q': {'kind': 'wait', 'for': 'input', 'next': 'a'},"
    "  'a': {'kind': 'llm.chat', 'args': {'messages': [{'role': 'user', 'content': '{{ "
    "input.text }}'}]},"
    "    TOOLS 'result': {'answer': '.result.content'}, 'next': 'q'}}}";

static world *llm(const char *tools)
{
    world *w = malloc(sizeof(*w));
    w_init_marked(w, LLM, "TOOLS", tools);
    turn(w, RUN_WAKE_START, NULL, NULL);
    return w;
}

static void llm_chat_sends_the_answer_and_maps_it(void **state)
{
    (void)state;
    world *w = llm("");
    script(w, "llm.chat", "[{'result': {'content': 'Paris.', 'tool_calls': []}}]");
    assert_int_equal(turn(w, RUN_WAKE_MESSAGE, "{'text': 'Capital of France?'}", NULL),
                     RUN_WAITING);
    json_t *args = json_object_get(json_array_get(w->f.calls, 0), "args");
    json_t *m = json_array_get(json_object_get(args, "messages"), 0);
    assert_string_equal(json_string_value(json_object_get(m, "content")), "Capital of France?");
    assert_string_equal(text_at(w, 0), "Paris.");
    assert_string_equal(json_string_value(var(w, "answer")), "Paris.");
    assert_string_equal(conv_str(w, "current_step"), "q");
    w_free(w);
    free(w);
}

static void llm_chat_runs_the_models_tool_calls_and_feeds_results_back(void **state)
{
    (void)state;
    world *w = llm("'tools': [{'instance': 'crm', 'action': 'find'}],");
    script(w, "llm.chat",
           "[{'result': {'content': null, 'tool_calls': [{'id': 'c1', 'name': 'crm__find',"
           "   'arguments': '{\\\"q\\\": \\\"5512\\\"}', 'arguments_json': {'q': '5512'}}]}},"
           " {'result': {'content': 'It ships today.', 'tool_calls': []}}]");
    script(w, "crm__find", "[{'result': {'status': 'shipping'}}]");
    assert_int_equal(turn(w, RUN_WAKE_MESSAGE, "{'text': 'Where is 5512?'}", NULL), RUN_WAITING);
    assert_int_equal(json_array_size(w->f.calls), 3);
    json_t *first = json_object_get(json_array_get(w->f.calls, 0), "args");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(first, "tools"), 0), "name")),
                        "crm__find");
    json_t *tool = json_array_get(w->f.calls, 1);
    assert_string_equal(json_string_value(json_object_get(tool, "what")), "crm__find");
    assert_string_equal(json_string_value(json_object_get(json_object_get(tool, "args"), "q")),
                        "5512");
    json_t *second =
        json_object_get(json_object_get(json_array_get(w->f.calls, 2), "args"), "messages");
    assert_int_equal(json_array_size(second), 3); /* user, assistant's calls, the tool's result */
    json_t *res = json_array_get(second, 2);
    assert_string_equal(json_string_value(json_object_get(res, "role")), "tool");
    assert_string_equal(json_string_value(json_object_get(res, "tool_call_id")), "c1");
    assert_string_equal(json_string_value(json_object_get(res, "content")),
                        "{\"status\":\"shipping\"}");
    assert_string_equal(text_at(w, 0), "It ships today.");
    w_free(w);
    free(w);
}

static void a_model_that_never_stops_calling_tools_is_cut_at_the_bound(void **state)
{
    (void)state;
    world *w = llm("'tools': [{'instance': 'crm', 'action': 'find'}], 'max_tool_calls': 2,");
    const char *call = "{'result': {'content': null, 'tool_calls': [{'id': 'c', 'name': "
                       "'crm__find', 'arguments': '{}', 'arguments_json': {}}]}}";
    char list[1024];
    snprintf(list, sizeof(list), "[%s, %s, %s, %s]", call, call, call, call);
    script(w, "llm.chat", list);
    script(w, "crm__find", "[{'result': 1}, {'result': 2}, {'result': 3}]");
    assert_int_equal(turn(w, RUN_WAKE_MESSAGE, "{'text': 'loop'}", NULL), RUN_ENDED);
    assert_non_null(strstr(w->f.error, "tool_limit"));
    size_t tools = 0, i;
    json_t *c;
    json_array_foreach(w->f.calls, i, c) tools +=
        !strcmp(json_string_value(json_object_get(c, "what")), "crm__find");
    assert_int_equal(tools, 2);
    w_free(w);
    free(w);
}

static const char *HTTP =
    "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
    " 'variables': {'email': {'type': 'string'}, 'lead': {'type': 'string'}},"
    " 'start': 'post', 'steps': {"
    "  'post': {'kind': 'http.request', 'method': 'POST', 'url': 'https://crm.example/leads?src={{ "
    "conversation.id }}',"
    "    'headers': {'X-Agent': '{{ conversation.agent_id }}'}, 'body': {'email': '{{ vars.email "
    "}}', 'n': 3},"
    "    'result': {'lead': '.result.body.id'}, 'on_error': 'failed', 'next': 'ok'},"
    "  'ok': {'kind': 'end', 'outcome': 'lead'}, 'failed': {'kind': 'end', 'outcome': "
    "'failed'}}}";

static void http_request_renders_its_templates_and_maps_the_answer(void **state)
{
    (void)state;
    world w;
    w_init(&w, HTTP);
    json_object_set_new(w.conv, "variables", J("{'email': 'a@b.co'}"));
    script(&w, "http", "[{'result': {'status': 201, 'headers': {}, 'body': {'id': 'L1'}}}]");
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_ENDED);
    json_t *req = json_object_get(json_array_get(w.f.calls, 0), "args");
    json_t *want = J("{'method': 'POST', 'url': 'https://crm.example/leads?src=cnv_1', 'headers': "
                     "{'X-Agent': 'agt_1'}, 'body': {'email': 'a@b.co', 'n': 3}}");
    assert_true(json_equal(req, want));
    json_decref(want);
    assert_string_equal(json_string_value(var(&w, "lead")), "L1");
    assert_string_equal(conv_str(&w, "outcome"), "lead");
    w_free(&w);

    w_init(&w, HTTP);
    script(&w, "http", "[{'result': {'status': 404, 'headers': {}, 'body': 'no'}}]");
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_ENDED);
    assert_string_equal(conv_str(&w, "outcome"), "failed");
    assert_string_equal(json_string_value(json_object_get(var(&w, "_error"), "code")),
                        "http_status");
    w_free(&w);
}

static const char *WAITS =
    "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
    " 'variables': {'x': {'type': 'string'}}, 'start': 'pause', 'steps': {"
    "  'pause': {'kind': 'wait', 'for': 'duration', 'duration_ms': 60000, 'next': 'q'},"
    "  'q': {'kind': 'ask', 'text': 'Still there?', 'var': 'x', 'timeout_ms': 5000, "
    "'on_timeout': 'gone', 'next': 'here'},"
    "  'here': {'kind': 'end', 'outcome': 'here'}, 'gone': {'kind': 'end', 'outcome': "
    "'gone'}}}";

static void waits_set_durable_timers_and_a_due_timer_moves_on(void **state)
{
    (void)state;
    world w;
    w_init(&w, WAITS);
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_WAITING);
    json_t *timer = json_object_get(json_object_get(w.conv, "engine"), "timer");
    assert_string_equal(json_string_value(json_object_get(timer, "step")), "pause");
    assert_int_equal(json_integer_value(json_object_get(timer, "due_ms")), 1772700000000 + 60000);
    /* A message while waiting for a time is kept, and answered by nothing. */
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': 'hello?'}", NULL), RUN_IDLE);
    assert_int_equal(json_array_size(w.t.messages), 0);
    /* A timer for a step the conversation has left does nothing. */
    assert_int_equal(turn(&w, RUN_WAKE_TIMER, NULL, "q"), RUN_IDLE);
    assert_int_equal(turn(&w, RUN_WAKE_TIMER, NULL, "pause"), RUN_WAITING);
    assert_string_equal(text_at(&w, 0), "Still there?");
    timer = json_object_get(json_object_get(w.conv, "engine"), "timer");
    assert_string_equal(json_string_value(json_object_get(timer, "kind")), "timeout");
    /* The question's timeout takes on_timeout. */
    assert_int_equal(turn(&w, RUN_WAKE_TIMER, NULL, "q"), RUN_ENDED);
    assert_string_equal(conv_str(&w, "outcome"), "gone");
    w_free(&w);

    /* An answer in time cancels the timeout. */
    w_init(&w, WAITS);
    turn(&w, RUN_WAKE_START, NULL, NULL);
    turn(&w, RUN_WAKE_TIMER, NULL, "pause");
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': 'yes'}", NULL), RUN_ENDED);
    assert_string_equal(conv_str(&w, "outcome"), "here");
    assert_null(json_object_get(json_object_get(w.conv, "engine"), "timer"));
    w_free(&w);
}

static void trigger_publishes_an_event_and_refuses_the_platforms_topics(void **state)
{
    (void)state;
    world w;
    w_init(&w, "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
               " 'variables': {'n': {'type': 'integer', 'default': 2}}, 'start': 't', 'steps': {"
               " 't': {'kind': 'trigger', 'event': 'orders.paid', 'input': {'n': '.vars.n * 10'}, "
               "'next': 'a'},"
               " 'a': {'kind': 'trigger', 'agent': 'billing', 'input': {'why': '\\\"paid\\\"'}, "
               "'next': 'x'},"
               " 'x': {'kind': 'trigger', 'event': 'platform.contact', 'on_error': 'e'},"
               " 'e': {'kind': 'end', 'outcome': 'refused'}}}");
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_ENDED);
    json_t *e0 = other_event(&w, 0);
    assert_string_equal(json_string_value(json_object_get(e0, "topic")), "orders.paid");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(e0, "body"), "n")), 20);
    json_t *e1 = other_event(&w, 1);
    assert_null(other_event(&w, 2));
    assert_string_equal(json_string_value(json_object_get(e1, "topic")), "engine.start");
    json_t *b1 = json_object_get(e1, "body");
    assert_string_equal(json_string_value(json_object_get(b1, "agent")), "billing");
    assert_string_equal(json_string_value(json_object_get(b1, "contact_id")), "con_1");
    assert_string_equal(conv_str(&w, "outcome"), "refused");
    w_free(&w);
}

static void call_agent_runs_another_scenario_and_returns_with_its_outputs(void **state)
{
    (void)state;
    world w;
    w_init(&w, "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
               " 'variables': {'mail': {'type': 'string'}, 'keep': {'type': 'string', 'default': "
               "'mine'}},"
               " 'start': 'sub', 'steps': {"
               " 'sub': {'kind': 'call_agent', 'agent': 'collector', 'input': {'why': "
               "'\\\"newsletter\\\"'},"
               "   'output': {'mail': '.vars.email'}, 'next': 'thanks'},"
               " 'thanks': {'kind': 'say', 'text': 'Thanks, {{ vars.mail }} ({{ vars.keep }})'}}}");
    const char *sub = "{'agent_id': 'agt_2', 'scenario': {'scenario_id': 'scn_2', 'version': 4},"
                      " 'content': {'format': 'agenthost.scenario/1', 'default_language': 'en',"
                      " 'languages': ['en'], 'variables': {'email': {'type': 'string'}, 'why': "
                      "{'type': 'string'}},"
                      " 'start': 'ask', 'steps': {'ask': {'kind': 'ask', 'text': 'E-mail for {{ "
                      "vars.why }}?', 'var': 'email',"
                      " 'validate': {'type': 'email'}, 'next': 'bye'}, 'bye': {'kind': 'end'}}}}";
    char list[2048];
    snprintf(list, sizeof(list), "[{'result': %s}]", sub);
    script(&w, "load:collector", list);
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_WAITING);
    assert_string_equal(text_at(&w, 0), "E-mail for newsletter?");
    json_t *eng = json_object_get(w.conv, "engine");
    assert_int_equal(json_array_size(json_object_get(eng, "stack")), 1);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(eng, "active"), "scenario"), "scenario_id")),
        "scn_2");
    assert_null(var(&w, "keep")); /* the sub-agent's own variables */

    /* The next turn runs in the sub-agent's scenario (the engine loads the
     * active one); the end returns to the caller's. */
    json_t *mine = w.scenario, *subj = J(sub);
    w.scenario = json_incref(json_object_get(subj, "content"));
    json_decref(subj);
    json_t *back = J("[{'result': {'agent_id': 'agt_1', 'scenario': {'scenario_id': 'scn_1', "
                     "'version': 1}}}]");
    json_object_set(json_object_get(json_array_get(back, 0), "result"), "content", mine);
    json_object_set_new(w.f.answers, "load:scn_1", back);
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': 'a@b.co'}", NULL), RUN_ENDED);
    assert_string_equal(text_at(&w, 0), "Thanks, a@b.co (mine)");
    assert_null(json_object_get(json_object_get(w.conv, "engine"), "stack"));
    assert_int_equal(events_of(&w, "conversation.ended"), 1);
    json_decref(mine);
    w_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_plugin_step_maps_its_result_into_variables),
        cmocka_unit_test(an_emitting_step_adds_lead_created_keyed_by_the_contact),
        cmocka_unit_test(a_linking_step_links_the_contact_one_link_per_instance),
        cmocka_unit_test(a_failing_step_is_retried_with_backoff_then_takes_on_error),
        cmocka_unit_test(a_failing_step_without_on_error_sends_the_fallback_and_ends),
        cmocka_unit_test(a_template_error_is_not_retried),
        cmocka_unit_test(llm_chat_sends_the_answer_and_maps_it),
        cmocka_unit_test(llm_chat_runs_the_models_tool_calls_and_feeds_results_back),
        cmocka_unit_test(a_model_that_never_stops_calling_tools_is_cut_at_the_bound),
        cmocka_unit_test(http_request_renders_its_templates_and_maps_the_answer),
        cmocka_unit_test(waits_set_durable_timers_and_a_due_timer_moves_on),
        cmocka_unit_test(trigger_publishes_an_event_and_refuses_the_platforms_topics),
        cmocka_unit_test(call_agent_runs_another_scenario_and_returns_with_its_outputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
