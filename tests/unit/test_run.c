/*
 * test_run.c - the interpreter (host/engine/run.h) step by step, against a
 * fake outside: jq is real (libjq in this process), plugin actions, HTTP
 * and other agents answer from a script, and every callback runs later, as
 * the loop runs them.
 */
#include "cmocka_pre.h"

#include "../support/jqlocal.h"
#include "engine/run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the fake outside ------------------------------------------------------------ */

typedef struct job {
    run_cb cb;
    json_t *result;
    char *error, *message;
    bool emits; /* as the runtime does for a step declaring emits: lead.created */
    bool links; /* ... and for one declaring links_contact: contact_id */
    struct job *next;
} job;

typedef struct fake {
    job *head, *tail;
    json_t *answers; /* "kind or instance__action", "http", "load:REF" -> [answers] */
    json_t *calls;   /* [{"what", "args"}] */
    json_t *delays;  /* [ms] */
    json_t *missing; /* [path] */
    int done;
    run_stop stop;
    char error[800];
} fake;

static void later(fake *f, run_cb cb, const json_t *result, const char *error, const char *msg)
{
    job *j = calloc(1, sizeof(*j));
    j->cb = cb;
    j->result = result ? json_deep_copy(result) : NULL;
    j->error = error ? strdup(error) : NULL;
    j->message = msg ? strdup(msg) : NULL;
    if (f->tail)
        f->tail->next = j;
    else
        f->head = j;
    f->tail = j;
}

static void f_eval(void *ud, run_turn *t, const char *program, const json_t *input, run_cb cb)
{
    (void)t;
    json_t *out = NULL;
    char err[300] = "";
    if (jqlocal_eval(program, input, &out, err, sizeof(err)) != 0)
        later(ud, cb, NULL, "runtime", err);
    else
        later(ud, cb, out, NULL, NULL);
    json_decref(out);
}

/* The next scripted answer for key: {"result": ...} or {"error", "message"}. */
static void answer(fake *f, const char *key, run_cb cb)
{
    json_t *list = json_object_get(f->answers, key);
    json_t *a = json_incref(json_array_get(list, 0));
    if (a) json_array_remove(list, 0);
    if (!a)
        later(f, cb, NULL, "unavailable", "nothing scripted");
    else if (json_object_get(a, "error"))
        later(f, cb, NULL, json_string_value(json_object_get(a, "error")),
              json_string_value(json_object_get(a, "message")));
    else {
        later(f, cb, json_object_get(a, "result"), NULL, NULL);
        f->tail->emits = json_is_true(json_object_get(a, "emits"));
        f->tail->links = json_is_true(json_object_get(a, "links"));
    }
    json_decref(a);
}

static void f_call(void *ud, run_turn *t, const char *kind, const char *instance,
                   const char *action, const json_t *args, uint32_t timeout_ms, run_cb cb)
{
    (void)t, (void)timeout_ms;
    fake *f = ud;
    char key[200];
    if (kind)
        snprintf(key, sizeof(key), "%s", kind);
    else
        snprintf(key, sizeof(key), "%s__%s", instance, action);
    json_array_append_new(f->calls, json_pack("{s:s,s:O}", "what", key, "args", args));
    answer(f, key, cb);
}

static json_t *f_tools(void *ud, run_turn *t, const json_t *tools, char *err, size_t errlen)
{
    (void)ud, (void)t;
    json_t *out = json_array();
    size_t i;
    const json_t *tool;
    json_array_foreach(tools, i, tool)
    {
        if (!strcmp(json_string_value(json_object_get(tool, "action")), "missing")) {
            snprintf(err, errlen, "no action missing");
            json_decref(out);
            return NULL;
        }
        json_array_append_new(out, json_pack("{s:s,s:{s:s}}", "description", "a tool", "parameters",
                                             "type", "object"));
    }
    return out;
}

static void f_http(void *ud, run_turn *t, const json_t *req, uint32_t timeout_ms, run_cb cb)
{
    (void)t, (void)timeout_ms;
    fake *f = ud;
    json_array_append_new(f->calls, json_pack("{s:s,s:O}", "what", "http", "args", req));
    answer(f, "http", cb);
}

static void f_load(void *ud, run_turn *t, const json_t *ref, run_cb cb)
{
    (void)t;
    fake *f = ud;
    char key[200];
    const char *agent = json_string_value(json_object_get(ref, "agent"));
    snprintf(key, sizeof(key), "load:%s",
             agent ? agent : json_string_value(json_object_get(ref, "scenario_id")));
    answer(f, key, cb);
    /* Loads may be asked again (a return after a call): keep answering. */
}

static void f_delay(void *ud, run_turn *t, uint32_t ms, run_cb cb)
{
    (void)t;
    fake *f = ud;
    json_array_append_new(f->delays, json_integer(ms));
    later(f, cb, NULL, NULL, NULL);
}

static void f_missing(void *ud, run_turn *t, const char *path, const char *lang)
{
    (void)t;
    json_array_append_new(((fake *)ud)->missing, json_sprintf("%s@%s", path, lang));
}

static const run_env ENV_TEMPLATE = {.eval = f_eval,
                                     .call = f_call,
                                     .tools = f_tools,
                                     .http = f_http,
                                     .load = f_load,
                                     .delay = f_delay,
                                     .missing_text = f_missing};

static void on_done(run_turn *t, run_stop stop, const char *error)
{
    fake *f = t->ud;
    f->done++;
    f->stop = stop;
    snprintf(f->error, sizeof(f->error), "%s", error ? error : "");
}

/* JSON written with ' for " (no ' in the texts). */
static json_t *J(const char *s)
{
    char *c = strdup(s);
    for (char *p = c; *p; p++)
        if (*p == '\'') *p = '"';
    json_error_t e;
    json_t *j = json_loads(c, JSON_DECODE_ANY, &e);
    if (!j) fail_msg("bad test JSON: %s: %s", e.text, s);
    free(c);
    return j;
}

typedef struct world {
    fake f;
    run_env env;
    run_turn t;
    json_t *scenario, *conv;
    const json_t *contact; /* the turn's contact (NULL: none) */
} world;

static void w_init(world *w, const char *scenario)
{
    memset(w, 0, sizeof(*w));
    w->f.answers = json_object();
    w->f.calls = json_array();
    w->f.delays = json_array();
    w->f.missing = json_array();
    w->env = ENV_TEMPLATE;
    w->env.ud = &w->f;
    w->scenario = J(scenario);
    w->conv = J("{'id': 'cnv_1', 'agent_id': 'agt_1', 'contact_id': 'con_1', 'state': 'active',"
                " 'language': 'en', 'scenario': {'scenario_id': 'scn_1', 'version': 1}}");
}

/* w_init with marker in scenario replaced by with. */
static void w_init_marked(world *w, const char *scenario, const char *marker, const char *with)
{
    char sc[2048];
    const char *at = strstr(scenario, marker);
    snprintf(sc, sizeof(sc), "%.*s%s%s", (int)(at - scenario), scenario, with, at + strlen(marker));
    w_init(w, sc);
}

static void w_free(world *w)
{
    run_turn_clear(&w->t);
    json_decref(w->scenario);
    json_decref(w->conv);
    json_decref(w->f.answers);
    json_decref(w->f.calls);
    json_decref(w->f.delays);
    json_decref(w->f.missing);
}

static void script(world *w, const char *key, const char *answers)
{
    json_object_set_new(w->f.answers, key, J(answers));
}

/* One turn, run until it stops; the stop. */
static run_stop turn(world *w, run_wake wake, const char *input_json, const char *timer_step)
{
    json_t *input = input_json ? J(input_json) : NULL;
    w->t.scenario = w->scenario;
    w->t.conv = w->conv;
    w->t.contact = w->contact;
    w->t.wake = wake;
    w->t.input = input;
    w->t.timer_step = timer_step;
    w->t.now_ms = 1772700000000; /* 2026-03-05 */
    w->t.env = &w->env;
    w->t.done = on_done;
    w->t.ud = &w->f;
    w->f.done = 0;
    run_turn_start(&w->t);
    for (int n = 0; w->f.head && n < 10000; n++) {
        job *j = w->f.head;
        w->f.head = j->next;
        if (!w->f.head) w->f.tail = NULL;
        if (j->emits) run_turn_emit(&w->t, "lead.created", "crm-x", "crm1", j->result);
        if (j->links) run_turn_link(&w->t, "crm-x", "crm1", "contact_id", j->result);
        j->cb(&w->t, j->result, j->error, j->message);
        json_decref(j->result);
        free(j->error);
        free(j->message);
        free(j);
    }
    if (w->f.done != 1) fail_msg("done ran %d times", w->f.done);
    if (getenv("TEST_RUN_DEBUG")) {
        char *d = json_dumps(w->t.path, JSON_COMPACT);
        fprintf(stderr, "path %s error %s\n", d, w->f.error);
        free(d);
    }
    json_decref(input);
    return w->f.stop;
}

static const char *text_at(world *w, size_t i)
{
    return json_string_value(json_object_get(json_array_get(w->t.messages, i), "text"));
}

static const char *conv_str(world *w, const char *k)
{
    return json_string_value(json_object_get(w->conv, k));
}

static json_t *var(world *w, const char *k)
{
    return json_object_get(json_object_get(w->conv, "variables"), k);
}

/* The n-th event on a topic other than the conversation's own stream. */
static json_t *other_event(world *w, size_t n)
{
    size_t i;
    json_t *e;
    json_array_foreach(w->t.events, i, e)
    {
        if (!strcmp(json_string_value(json_object_get(e, "topic")), "platform.conversation"))
            continue;
        if (n-- == 0) return e;
    }
    return NULL;
}

static size_t events_of(world *w, const char *type)
{
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(w->t.events, i, e)
    {
        const char *ty = json_string_value(json_object_get(json_object_get(e, "body"), "type"));
        n += ty && !strcmp(ty, type);
    }
    return n;
}

/* ---- the tests ------------------------------------------------------------------------ */

static const char *ONBOARD =
    "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en', 'ru'],"
    " 'variables': {'name': {'type': 'string'}, 'age': {'type': 'integer', 'default': 0}},"
    " 'start': 'hello',"
    " 'fallback': {'en': 'Sorry.', 'ru': 'Извините.'},"
    " 'steps': {"
    "  'hello': {'kind': 'say', 'text': {'en': 'Hi!', 'ru': 'Привет!'}, 'next': 'ask_name'},"
    "  'ask_name': {'kind': 'ask', 'text': {'en': 'Name?', 'ru': 'Имя?'}, 'var': 'name',"
    "     'validate': {'type': 'text', 'min_length': 2, 'message': {'en': 'Too short.', 'ru': "
    "'Коротко.'}},"
    "     'retries': 1, 'reprompt': {'en': 'Your name, please.', 'ru': 'Имя, пожалуйста.'},"
    "     'on_invalid': 'bye', 'next': 'ask_age'},"
    "  'ask_age': {'kind': 'ask', 'text': 'Age?', 'var': 'age',"
    "     'validate': {'type': 'integer', 'min': 1, 'max': 150}, 'next': 'greet'},"
    "  'greet': {'kind': 'say', 'text': {'en': 'Nice to meet you, {{ vars.name }} ({{ vars.age "
    "}})!',"
    "     'ru': 'Приятно, {{ vars.name }}!'}, 'next': 'bye'},"
    "  'bye': {'kind': 'end', 'outcome': 'done'}}}";

static void a_conversation_runs_from_start_to_end_through_its_questions(void **state)
{
    (void)state;
    world w;
    w_init(&w, ONBOARD);
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_WAITING);
    assert_int_equal(json_array_size(w.t.messages), 2);
    assert_string_equal(text_at(&w, 0), "Hi!");
    assert_string_equal(text_at(&w, 1), "Name?");
    assert_string_equal(conv_str(&w, "state"), "waiting");
    assert_string_equal(conv_str(&w, "current_step"), "ask_name");
    assert_int_equal(json_integer_value(var(&w, "age")), 0); /* the default */

    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': '  Anna '}", NULL), RUN_WAITING);
    assert_string_equal(json_string_value(var(&w, "name")), "Anna");
    assert_string_equal(text_at(&w, 0), "Age?");

    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': '41'}", NULL), RUN_ENDED);
    assert_int_equal(json_integer_value(var(&w, "age")), 41);
    assert_string_equal(text_at(&w, 0), "Nice to meet you, Anna (41)!");
    assert_string_equal(conv_str(&w, "state"), "ended");
    assert_string_equal(conv_str(&w, "outcome"), "done");
    assert_int_equal(events_of(&w, "conversation.ended"), 1);
    /* The conversation keeps its messages, in and out. */
    json_t *msgs = json_object_get(w.conv, "messages");
    assert_int_equal(json_array_size(msgs), 6);
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 2), "direction")),
                        "in");
    w_free(&w);
}

static void an_invalid_answer_is_reprompted_then_leaves_by_on_invalid(void **state)
{
    (void)state;
    world w;
    w_init(&w, ONBOARD);
    json_object_set_new(w.conv, "language", json_string("ru"));
    turn(&w, RUN_WAKE_START, NULL, NULL);
    assert_string_equal(text_at(&w, 1), "Имя?");
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': 'A'}", NULL), RUN_WAITING);
    assert_int_equal(json_array_size(w.t.messages), 2);
    assert_string_equal(text_at(&w, 0), "Коротко.");
    assert_string_equal(text_at(&w, 1), "Имя, пожалуйста.");
    assert_null(var(&w, "name"));
    /* retries: 1 spent: the next invalid answer leaves by on_invalid. */
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': 'B'}", NULL), RUN_ENDED);
    assert_string_equal(conv_str(&w, "outcome"), "done");
    assert_null(var(&w, "name"));
    w_free(&w);
}

static void answers_are_checked_and_stored_by_type(void **state)
{
    (void)state;
    static const struct {
        const char *validate, *answer, *stored; /* stored: JSON, or NULL: refused */
    } cases[] = {
        {"{'type': 'number'}", "3,5", "3.5"},
        {"{'type': 'number'}", "1 000", "1000"},
        {"{'type': 'number'}", "three", NULL},
        {"{'type': 'integer', 'min': 18}", "17", NULL},
        {"{'type': 'integer', 'max': 10}", "10", "10"},
        {"{'type': 'integer'}", "2.5", NULL},
        {"{'type': 'email'}", "anna@example.com", "'anna@example.com'"},
        {"{'type': 'email'}", "anna@example", NULL},
        {"{'type': 'email'}", "a b@example.com", NULL},
        {"{'type': 'phone'}", "+7 (912) 345-67-89", "'+79123456789'"},
        {"{'type': 'phone'}", "12-34", NULL},
        {"{'type': 'date'}", "05.03.2026", "'2026-03-05'"},
        {"{'type': 'date'}", "2026-02-29", NULL},
        {"{'type': 'date'}", "2024-02-29", "'2024-02-29'"},
        {"{'type': 'choice', 'choices': ['Да', 'Нет']}", "ДА", "'Да'"},
        {"{'type': 'choice', 'choices': ['Да', 'Нет']}", "может", NULL},
        {"{'pattern': '^[0-9]{6}$'}", "123456", "'123456'"},
        {"{'pattern': '^[0-9]{6}$'}", "12345", NULL},
        {"{'max_length': 3}", "абвг", NULL},
        {"{'max_length': 4}", "абвг", "'абвг'"},
        {"{'condition': '.value | test(\\\"^A\\\")'}", "Anna", "'Anna'"},
        {"{'condition': '.value | test(\\\"^A\\\")'}", "Boris", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char sc[1024];
        snprintf(sc, sizeof(sc),
                 "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': "
                 "['en'], 'variables': {'x': {'type': 'string'}}, 'start': 'q', 'steps': {"
                 "'q': {'kind': 'ask', 'text': 'Q?', 'var': 'x', 'validate': %s, 'retries': 0,"
                 " 'on_invalid': 'no', 'next': 'yes'},"
                 "'yes': {'kind': 'end', 'outcome': 'yes'}, 'no': {'kind': 'end', 'outcome': "
                 "'no'}}}",
                 cases[i].validate);
        world w;
        w_init(&w, sc);
        turn(&w, RUN_WAKE_START, NULL, NULL);
        char in[200];
        snprintf(in, sizeof(in), "{'text': '%s'}", cases[i].answer);
        assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, in, NULL), RUN_ENDED);
        if (!cases[i].stored) {
            if (strcmp(conv_str(&w, "outcome"), "no") != 0)
                fail_msg("case %zu (%s): %s was accepted", i, cases[i].validate, cases[i].answer);
        } else {
            json_t *want = J(cases[i].stored);
            if (strcmp(conv_str(&w, "outcome"), "yes") != 0 || !json_equal(var(&w, "x"), want))
                fail_msg("case %zu (%s): %s not stored as %s", i, cases[i].validate,
                         cases[i].answer, cases[i].stored);
            json_decref(want);
        }
        w_free(&w);
    }
}

static const char *CHOOSE =
    "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en', 'ru'],"
    " 'variables': {'plan': {'type': 'string'}}, 'start': 'pick', 'steps': {"
    "  'pick': {'kind': 'choice', 'text': {'en': 'Plan?', 'ru': 'Тариф?'}, 'var': 'plan',"
    "    'layout': 'LAYOUT', 'options': ["
    "      {'id': 'basic', 'label': {'en': 'Basic', 'ru': 'Базовый'}, 'match': ['cheap', "
    "'дешёвый']},"
    "      {'id': 'pro', 'label': {'en': 'Pro', 'ru': 'Профи'}, 'next': 'pro_end'}],"
    "    'retries': 0, 'on_invalid': 'none', 'next': 'basic_end'},"
    "  'basic_end': {'kind': 'end', 'outcome': 'basic'},"
    "  'pro_end': {'kind': 'end', 'outcome': 'pro'},"
    "  'none': {'kind': 'end', 'outcome': 'none'}}}";

static void a_choice_is_picked_by_button_number_label_or_match_word(void **state)
{
    (void)state;
    static const struct {
        const char *layout, *input, *outcome;
    } cases[] = {
        {"buttons", "{'payload': 'pro'}", "pro"},    {"list", "{'text': '2'}", "pro"},
        {"list", "{'text': '3'}", "none"},           {"buttons", "{'text': 'ПРОФИ'}", "pro"},
        {"buttons", "{'text': 'Дешёвый'}", "basic"}, {"buttons", "{'text': 'basic'}", "basic"},
        {"buttons", "{'text': 'gold'}", "none"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char sc[2048];
        snprintf(sc, sizeof(sc), "%s", CHOOSE);
        char *at = strstr(sc, "LAYOUT");
        char tail[2048];
        snprintf(tail, sizeof(tail), "%s%s", cases[i].layout, at + 6);
        snprintf(at, sizeof(sc) - (size_t)(at - sc), "%s", tail);
        world w;
        w_init(&w, sc);
        json_object_set_new(w.conv, "language", json_string("ru"));
        turn(&w, RUN_WAKE_START, NULL, NULL);
        if (!strcmp(cases[i].layout, "list")) {
            assert_string_equal(text_at(&w, 0), "Тариф?\n1. Базовый\n2. Профи");
        } else {
            json_t *b = json_object_get(json_array_get(w.t.messages, 0), "buttons");
            assert_int_equal(json_array_size(b), 2);
            assert_string_equal(json_string_value(json_object_get(json_array_get(b, 1), "label")),
                                "Профи");
            assert_string_equal(json_string_value(json_object_get(json_array_get(b, 1), "payload")),
                                "pro");
        }
        assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, cases[i].input, NULL), RUN_ENDED);
        if (strcmp(conv_str(&w, "outcome"), cases[i].outcome) != 0)
            fail_msg("case %zu: %s gave %s, not %s", i, cases[i].input, conv_str(&w, "outcome"),
                     cases[i].outcome);
        if (strcmp(cases[i].outcome, "none") != 0)
            assert_string_equal(json_string_value(var(&w, "plan")), cases[i].outcome);
        w_free(&w);
    }
}

static const char *BRANCH =
    "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
    " 'variables': {'n': {'type': 'integer', 'default': 7}, 'double': {'type': 'integer'}},"
    " 'fallback': 'Sorry, {{ vars.n }}.',"
    " 'start': 'calc', 'steps': {"
    "  'calc': {'kind': 'set', 'set': {'double': '.vars.n * 2', 'n': '.vars.n + 1'}, 'next': "
    "'route'},"
    "  'route': {'kind': 'switch', 'cases': [{'if': '.vars.double > 100', 'next': 'big'},"
    "     {'if': '.vars.double == 14', 'next': 'fourteen'}] DEFAULT},"
    "  'big': {'kind': 'end', 'outcome': 'big'},"
    "  'fourteen': {'kind': 'end', 'outcome': 'fourteen'},"
    "  'other': {'kind': 'end', 'outcome': 'other'}}}";

static world *branch(const char *dflt, const char *n)
{
    world *w = malloc(sizeof(*w));
    w_init_marked(w, BRANCH, "DEFAULT", dflt);
    if (n) json_object_set_new(w->conv, "variables", J(n));
    turn(w, RUN_WAKE_START, NULL, NULL);
    return w;
}

static void set_maps_with_jq_and_switch_takes_the_first_true_case(void **state)
{
    (void)state;
    world *w = branch(", 'default': 'other'", NULL);
    assert_string_equal(conv_str(w, "outcome"), "fourteen");
    /* set's values are all computed from the context before the step. */
    assert_int_equal(json_integer_value(var(w, "double")), 14);
    assert_int_equal(json_integer_value(var(w, "n")), 8);
    w_free(w);
    free(w);
    w = branch(", 'default': 'other'", "{'n': 60}");
    assert_string_equal(conv_str(w, "outcome"), "big");
    w_free(w);
    free(w);
    w = branch(", 'default': 'other'", "{'n': 1}");
    assert_string_equal(conv_str(w, "outcome"), "other");
    w_free(w);
    free(w);
}

static void no_true_case_without_a_default_fails_to_the_fallback(void **state)
{
    (void)state;
    world *w = branch("", "{'n': 1}");
    assert_int_equal(w->f.stop, RUN_ENDED);
    assert_string_equal(conv_str(w, "outcome"), "error");
    assert_string_equal(text_at(w, 0), "Sorry, 2.");
    assert_non_null(strstr(w->f.error, "no_case"));
    w_free(w);
    free(w);
}

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

static const char *PROFILE =
    "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
    " 'fallback': 'Sorry.', 'start': 'ask_phone', 'steps': {"
    "  'ask_phone': {'kind': 'ask', 'text': 'Phone?', 'var': 'contact.phone',"
    "     'validate': {'type': 'phone'}, 'next': 'tag'},"
    "  'tag': {'kind': 'set', 'set': {'contact.attributes.source': '\\\"bot\\\"',"
    "     'contact.email': 'EMAIL | ascii_downcase', 'contact.name': '42'}, 'next': 'thanks'},"
    "  'thanks': {'kind': 'say', 'text': 'Saved {{ contact.phone }}, {{ contact.email }},"
    " {{ contact.attributes.source }}, {{ contact.name }}', 'next': 'done'},"
    "  'done': {'kind': 'end'}}}";

static void profile_world(world *w, const char *email)
{
    w_init_marked(w, PROFILE, "EMAIL", email);
}

/* contact.* targets write the contact's profile: the turn's profile output
 * (for the commit), seen by the same turn's templates at once; a value the
 * contact's schema refuses fails the step with the field's name. */
static void contact_targets_set_the_profile_and_a_bad_value_fails_naming_the_field(void **state)
{
    (void)state;
    world w;
    profile_world(&w, "\\\"Olga@Example.ORG\\\"");
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_WAITING);
    assert_null(w.t.profile);
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': 'call me'}", NULL), RUN_WAITING);
    assert_null(w.t.profile); /* not a phone: asked again, nothing set */
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': '+7 912 345 67 89'}", NULL), RUN_ENDED);
    assert_null(var(&w, "contact.phone")); /* not a variable */
    assert_string_equal(text_at(&w, 0), "Saved +79123456789, olga@example.org, bot, 42");
    json_t *want = J("{'phone': '+79123456789', 'email': 'olga@example.org', 'name': '42',"
                     " 'attributes': {'source': 'bot'}}");
    assert_true(json_equal(w.t.profile, want));
    json_decref(want);
    w_free(&w);

    /* The e-mail check refuses it: the step fails, naming contact.email. */
    profile_world(&w, "\\\"no address\\\"");
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_WAITING);
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': '+7 912 345 67 89'}", NULL), RUN_ENDED);
    assert_non_null(strstr(w.f.error, "contact.email: not an e-mail address"));
    assert_string_equal(text_at(&w, 0), "Sorry.");
    w_free(&w);

    /* Applying changes merges attributes and removes what is set to null. */
    json_t *profile = J("{'name': 'Old', 'phone': '+1', 'attributes': {'keep': 1, 'source': 'x'}}");
    json_t *changes = J("{'name': 'New', 'phone': null, 'attributes': {'source': 'bot'}}");
    run_profile_apply(profile, changes);
    want = J("{'name': 'New', 'attributes': {'keep': 1, 'source': 'bot'}}");
    assert_true(json_equal(profile, want));
    json_decref(want);
    json_decref(profile);
    json_decref(changes);
}

/* A language menu: choice into conversation.language switches the texts
 * from the next one on; a value that is no language tag fails the step. */
static void conversation_language_switches_the_texts_mid_conversation(void **state)
{
    (void)state;
    const char *menu =
        "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en', 'ru'],"
        " 'fallback': {'en': 'Sorry.', 'ru': 'Извините.'}, 'start': 'pick', 'steps': {"
        "  'pick': {'kind': 'choice', 'text': {'en': 'Language?', 'ru': 'Язык?'},"
        "     'var': 'conversation.language', 'options': ["
        "       {'id': 'ru', 'label': 'Русский'}, {'id': 'en', 'label': 'English'}], 'next': 'hi'},"
        "  'hi': {'kind': 'say', 'text': {'en': 'Hello!', 'ru': 'Здравствуйте!'}, 'next': 'bad'},"
        "  'bad': {'kind': 'set', 'set': {'conversation.language': '\\\"Russian\\\"'}, 'next': "
        "'e'},"
        "  'e': {'kind': 'end'}}}";
    world w;
    w_init(&w, menu);
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_WAITING);
    assert_string_equal(text_at(&w, 0), "Language?");
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': 'Русский'}", NULL), RUN_ENDED);
    assert_string_equal(conv_str(&w, "language"), "ru");
    assert_string_equal(text_at(&w, 0), "Здравствуйте!");
    assert_non_null(strstr(w.f.error, "conversation.language: not a language tag"));
    assert_string_equal(text_at(&w, 1), "Извините."); /* the fallback, in the new language */
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

/* continue_in offers a Telegram deep link: a button to t.me/BOT?start=CODE
 * (49 characters naming the contact), only the code's hash in the turn's
 * link_codes with its instance and expiry; the code found again in a
 * "/start CODE" text hashes the same. By e-mail: the code goes to the
 * address as a message on the mail instance, its subject carrying it. */
static void continue_in_offers_a_single_use_code_keeping_only_its_hash(void **state)
{
    (void)state;
    world w;
    w_init(&w, "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
               " 'start': 'offer', 'variables': {'email': {'type': 'string', 'default': "
               "'ann@example.org'}},"
               " 'steps': {'offer': {'kind': 'continue_in', 'channel': 'telegram', 'instance': "
               "'tg-main', 'bot': 'acme_bot', 'text': 'Go on in Telegram', 'ttl_s': 60,"
               " 'next': 'mail'},"
               "  'mail': {'kind': 'continue_in', 'channel': 'email', 'instance': 'mail-1',"
               "   'to': '{{ vars.email }}', 'text': 'Sent you a code', 'next': 'wait'},"
               "  'wait': {'kind': 'wait', 'for': 'input', 'next': 'offer'}}}");
    json_t *contact = J("{'id': 'con_01KKNS5VK8E1250R9F87ZRTZHZ', 'profile': {}}");
    w.contact = contact;
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_WAITING);
    const char *url = json_string_value(json_object_get(
        json_array_get(json_object_get(json_array_get(w.t.messages, 0), "buttons"), 0), "url"));
    assert_non_null(url);
    assert_true(!strncmp(url, "https://t.me/acme_bot?start=L01KKNS5VK8E1250R9F87ZRTZHZ", 55));
    char code[RUN_LINK_CODE_LEN + 1], text[100], hex[33];
    snprintf(text, sizeof(text), "/start %s", strstr(url, "=") + 1);
    assert_true(run_link_code_find(text, code));
    assert_int_equal(strlen(code), RUN_LINK_CODE_LEN);
    run_link_code_hash(code, hex);
    assert_int_equal(json_array_size(w.t.link_codes), 2);
    const json_t *lc = json_array_get(w.t.link_codes, 0);
    assert_string_equal(json_string_value(json_object_get(lc, "hash")), hex);
    assert_string_equal(json_string_value(json_object_get(lc, "instance")), "tg-main");
    assert_int_equal(json_integer_value(json_object_get(lc, "expires_ms")), 1772700000000 + 60000);
    /* The code itself is in no variable (the history keeps the button:
     * the web chat shows it). */
    char *conv = json_dumps(json_object_get(w.conv, "variables"), 0);
    assert_null(strstr(conv, code));
    free(conv);
    /* The mail: to the address, on the mail instance, the code in its subject. */
    const json_t *m = json_array_get(w.t.messages, 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(m, "channel"), "chat_id")),
        "ann@example.org");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(m, "channel"), "instance")), "mail-1");
    assert_true(run_link_code_find(
        json_string_value(json_object_get(json_object_get(m, "email"), "subject")), code));
    assert_string_equal(text_at(&w, 2), "Sent you a code");
    /* Not a code: too short, or not a contact id's letters. */
    assert_false(run_link_code_find("/start L01KKNS5VK8E", code));
    assert_false(run_link_code_find("hello there", code));
    w_free(&w);
    json_decref(contact);
    /* A simulation's contact (no document): offered all the same, with a
     * code that names no contact. */
    w_init(&w, "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
               " 'start': 'offer', 'steps': {'offer': {'kind': 'continue_in', 'channel': "
               "'telegram', 'instance': 'tg', 'bot': 'acme_bot', 'text': 'Go on', 'next': 'w'},"
               "  'w': {'kind': 'wait', 'for': 'input', 'next': 'offer'}}}");
    contact = J("{'id': 'con_simulated'}");
    w.contact = contact;
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_WAITING);
    url = json_string_value(json_object_get(
        json_array_get(json_object_get(json_array_get(w.t.messages, 0), "buttons"), 0), "url"));
    assert_non_null(strstr(url, "?start=L00000000000000000000000000"));
    w_free(&w);
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

static void a_loop_that_never_waits_is_cut_and_ends_with_the_fallback(void **state)
{
    (void)state;
    world w;
    w_init(&w, "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
               " 'fallback': 'Oops.', 'settings': {'max_steps_per_turn': 20},"
               " 'start': 'a', 'steps': {'a': {'kind': 'goto', 'next': 'b', 'on_error': 'a'},"
               " 'b': {'kind': 'goto', 'next': 'a'}}}");
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_ENDED);
    assert_int_equal(json_array_size(w.t.path), 20);
    assert_string_equal(text_at(&w, 0), "Oops.");
    assert_non_null(strstr(w.f.error, "loop"));
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

static void a_handed_off_conversation_stays_silent_until_resumed(void **state)
{
    (void)state;
    world w;
    w_init(&w, "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
               " 'start': 'h', 'steps': {'h': {'kind': 'handoff', 'text': 'A person will answer.',"
               " 'queue': 'l2', 'next': 'back'}, 'back': {'kind': 'say', 'text': 'I am back.'}}}");
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_WAITING);
    assert_string_equal(conv_str(&w, "state"), "handed_off");
    assert_int_equal(events_of(&w, "handoff.requested"), 1);
    json_t *ev = json_object_get(json_array_get(w.t.events, 0), "body");
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "target"), "queue")),
                        "l2");
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': 'hello?'}", NULL), RUN_IDLE);
    assert_int_equal(json_array_size(w.t.messages), 0);
    assert_string_equal(conv_str(&w, "state"), "handed_off");
    assert_int_equal(turn(&w, RUN_WAKE_RESUME, NULL, NULL), RUN_ENDED);
    assert_string_equal(text_at(&w, 0), "I am back.");
    /* A resume of a conversation not handed off does nothing. */
    assert_int_equal(turn(&w, RUN_WAKE_RESUME, NULL, NULL), RUN_IDLE);
    w_free(&w);
}

static void a_text_missing_in_the_conversations_language_falls_back_and_is_told(void **state)
{
    (void)state;
    world w;
    w_init(&w, "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
               " 'start': 's', 'steps': {'s': {'kind': 'say', 'text': {'en': 'Hello'}}}}");
    json_object_set_new(w.conv, "language", json_string("ru"));
    turn(&w, RUN_WAKE_START, NULL, NULL);
    assert_string_equal(text_at(&w, 0), "Hello");
    assert_int_equal(json_array_size(w.f.missing), 1);
    assert_string_equal(json_string_value(json_array_get(w.f.missing, 0)), "steps.s.text@ru");
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

/* ---- hooks ------------------------------------------------------------------------------ */

static const json_t *call_args(world *w, size_t i, const char *what)
{
    json_t *c = json_array_get(w->f.calls, i);
    if (!c) fail_msg("no call %zu (wanted %s)", i, what);
    assert_string_equal(json_string_value(json_object_get(c, "what")), what);
    return json_object_get(c, "args");
}

static const char *point_of(world *w, size_t i)
{
    return json_string_value(
        json_object_get(json_object_get(json_array_get(w->f.calls, i), "args"), "point"));
}

static void hooks_are_told_each_step_in_order_and_may_change_the_input_and_variables(void **s)
{
    (void)s;
    world w;
    w_init(&w, ONBOARD);
    json_t *agent = J("{'id': 'agt_1', 'hooks': ["
                      " {'instance': 'guard', 'action': 'redact', 'points': ['on_message'], "
                      "  'modify': true},"
                      " {'instance': 'audit', 'points': ['before_step', 'after_step']}]}");
    w.t.agent = agent;
    /* The start: hello (say) runs, ask_name asks and waits. */
    script(&w, "audit__hook", "[{'result': {}}, {'result': {}}, {'result': {}}, {'result': {}}]");
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_WAITING);
    assert_int_equal(json_array_size(w.f.calls), 4);
    assert_string_equal(point_of(&w, 0), "before_step");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(call_args(&w, 0, "audit__hook"), "step"), "id")),
                        "hello");
    assert_string_equal(point_of(&w, 1), "after_step");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(call_args(&w, 1, "audit__hook"), "step"), "id")),
                        "hello");
    assert_string_equal(point_of(&w, 2), "before_step");
    assert_string_equal(point_of(&w, 3), "after_step"); /* ask_name waits: its entry closed */
    assert_string_equal(
        json_string_value(json_object_get(call_args(&w, 3, "audit__hook"), "conversation_id")),
        "cnv_1");

    /* The answer: the on_message hook changes it before anything reads it. */
    json_array_clear(w.f.calls);
    script(&w, "guard__redact",
           "[{'result': {'input': {'text': 'Anna ***'}, 'vars': {'redactions': 1}}}]");
    script(&w, "audit__hook",
           "[{'result': {}}, {'result': {}}, {'result': {}}, {'result': {}},"
           " {'result': {}}, {'result': {}}]");
    turn(&w, RUN_WAKE_MESSAGE, "{'text': 'Anna 4111111111111111'}", NULL);
    assert_string_equal(point_of(&w, 0), "on_message");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(call_args(&w, 0, "guard__redact"), "input"), "text")),
                        "Anna 4111111111111111");
    assert_string_equal(json_string_value(var(&w, "name")), "Anna ***");
    assert_int_equal(json_integer_value(var(&w, "redactions")), 1);
    /* What is kept of the conversation is what the hook left. */
    const json_t *msgs = json_object_get(w.conv, "messages");
    bool kept_clear = false;
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m)
    {
        const char *t = json_string_value(json_object_get(m, "text"));
        kept_clear |= t && strstr(t, "4111") != NULL;
    }
    assert_false(kept_clear);
    json_decref(agent);
    w_free(&w);
}

static void a_failing_or_garbage_hook_is_skipped_and_the_conversation_goes_on(void **s)
{
    (void)s;
    world w;
    w_init(&w, ONBOARD);
    json_t *agent = J("{'id': 'agt_1', 'hooks': ["
                      " {'instance': 'slow', 'points': ['on_message', 'before_step'], "
                      "  'timeout_ms': 50},"
                      " {'instance': 'bad', 'points': ['on_message'], 'modify': true}]}");
    w.t.agent = agent;
    script(&w, "slow__hook",
           "[{'error': 'timeout', 'message': 'no answer in 50 ms'},"
           " {'error': 'crashed', 'message': 'the plugin crashed'},"
           " {'error': 'timeout', 'message': 'no answer'}]");
    script(&w, "bad__hook", "[{'result': {'vars': 'not an object'}}]");
    assert_int_equal(turn(&w, RUN_WAKE_START, "{'text': 'hi'}", NULL), RUN_WAITING);
    assert_string_equal(text_at(&w, 0), "Hi!");
    assert_string_equal(text_at(&w, 1), "Name?");
    assert_string_equal(conv_str(&w, "state"), "waiting");
    assert_null(var(&w, "name"));
    json_decref(agent);
    w_free(&w);
}

static void an_llm_judges_an_answer_and_its_reason_is_said_before_asking_again(void **s)
{
    (void)s;
    world w;
    w_init(&w,
           "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
           " 'variables': {'city': {'type': 'string'}}, 'start': 'ask',"
           " 'steps': {'ask': {'kind': 'ask', 'text': {'en': 'Where do you live?'}, 'var': 'city',"
           "   'validate': {'type': 'text', 'llm': {'prompt': 'the name of a city'}},"
           "   'on_error': 'oops', 'next': 'bye'},"
           "  'oops': {'kind': 'end', 'outcome': 'judge_failed'},"
           "  'bye': {'kind': 'end', 'outcome': 'done'}}}");
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_WAITING);
    script(&w, "llm.chat",
           "[{'result': {'content': 'Verdict: {\\'valid\\': false, \\'reason\\': \\'That is not a "
           "city.\\'}'}},"
           " {'result': {'content': '```json\\n{\\'valid\\': true}\\n```'}},"
           " {'result': {'content': 'I cannot tell.'}}]");
    json_array_clear(w.f.calls);
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': 'blue'}", NULL), RUN_WAITING);
    assert_string_equal(text_at(&w, 0), "That is not a city.");
    assert_string_equal(text_at(&w, 1), "Where do you live?");
    const json_t *msgs = json_object_get(call_args(&w, 0, "llm.chat"), "messages");
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(msgs, 0), "content")),
                           "The question: Where do you live?\nA valid answer: the name of a city"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 1), "content")),
                        "blue");
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': 'Kazan'}", NULL), RUN_ENDED);
    assert_string_equal(json_string_value(var(&w, "city")), "Kazan");
    assert_string_equal(conv_str(&w, "outcome"), "done");
    w_free(&w);

    /* A model that gives no verdict fails the step: its on_error follows. */
    w_init(&w, "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
               " 'variables': {'city': {'type': 'string'}}, 'start': 'ask',"
               " 'steps': {'ask': {'kind': 'ask', 'text': {'en': 'Where?'}, 'var': 'city',"
               "   'validate': {'llm': {'prompt': 'a city'}}, 'on_error': 'oops', 'next': 'bye'},"
               "  'oops': {'kind': 'end', 'outcome': 'judge_failed'},"
               "  'bye': {'kind': 'end', 'outcome': 'done'}}}");
    turn(&w, RUN_WAKE_START, NULL, NULL);
    script(&w, "llm.chat", "[{'result': {'content': 'I cannot tell.'}}]");
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': 'Kazan'}", NULL), RUN_ENDED);
    assert_string_equal(conv_str(&w, "outcome"), "judge_failed");
    w_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_conversation_runs_from_start_to_end_through_its_questions),
        cmocka_unit_test(an_invalid_answer_is_reprompted_then_leaves_by_on_invalid),
        cmocka_unit_test(answers_are_checked_and_stored_by_type),
        cmocka_unit_test(a_choice_is_picked_by_button_number_label_or_match_word),
        cmocka_unit_test(set_maps_with_jq_and_switch_takes_the_first_true_case),
        cmocka_unit_test(no_true_case_without_a_default_fails_to_the_fallback),
        cmocka_unit_test(a_plugin_step_maps_its_result_into_variables),
        cmocka_unit_test(contact_targets_set_the_profile_and_a_bad_value_fails_naming_the_field),
        cmocka_unit_test(an_emitting_step_adds_lead_created_keyed_by_the_contact),
        cmocka_unit_test(a_linking_step_links_the_contact_one_link_per_instance),
        cmocka_unit_test(continue_in_offers_a_single_use_code_keeping_only_its_hash),
        cmocka_unit_test(conversation_language_switches_the_texts_mid_conversation),
        cmocka_unit_test(a_failing_step_is_retried_with_backoff_then_takes_on_error),
        cmocka_unit_test(a_failing_step_without_on_error_sends_the_fallback_and_ends),
        cmocka_unit_test(a_template_error_is_not_retried),
        cmocka_unit_test(llm_chat_sends_the_answer_and_maps_it),
        cmocka_unit_test(llm_chat_runs_the_models_tool_calls_and_feeds_results_back),
        cmocka_unit_test(a_model_that_never_stops_calling_tools_is_cut_at_the_bound),
        cmocka_unit_test(http_request_renders_its_templates_and_maps_the_answer),
        cmocka_unit_test(a_loop_that_never_waits_is_cut_and_ends_with_the_fallback),
        cmocka_unit_test(waits_set_durable_timers_and_a_due_timer_moves_on),
        cmocka_unit_test(a_handed_off_conversation_stays_silent_until_resumed),
        cmocka_unit_test(a_text_missing_in_the_conversations_language_falls_back_and_is_told),
        cmocka_unit_test(trigger_publishes_an_event_and_refuses_the_platforms_topics),
        cmocka_unit_test(call_agent_runs_another_scenario_and_returns_with_its_outputs),
        cmocka_unit_test(hooks_are_told_each_step_in_order_and_may_change_the_input_and_variables),
        cmocka_unit_test(a_failing_or_garbage_hook_is_skipped_and_the_conversation_goes_on),
        cmocka_unit_test(an_llm_judges_an_answer_and_its_reason_is_said_before_asking_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
