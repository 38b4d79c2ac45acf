/*
 * run_world.c - the fake outside of the interpreter's tests: scripted
 * answers queued as jobs and run after the call returns, as the loop does;
 * jq through libjq in this process.
 */
#include "../unit/cmocka_pre.h"

#include "jqlocal.h"
#include "run_world.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct job {
    run_cb cb;
    json_t *result;
    char *error, *message;
    bool emits; /* as the runtime does for a step declaring emits: lead.created */
    bool links; /* ... and for one declaring links_contact: contact_id */
    struct job *next;
};

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
json_t *J(const char *s)
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

void w_init(world *w, const char *scenario)
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
void w_init_marked(world *w, const char *scenario, const char *marker, const char *with)
{
    char sc[2048];
    const char *at = strstr(scenario, marker);
    snprintf(sc, sizeof(sc), "%.*s%s%s", (int)(at - scenario), scenario, with, at + strlen(marker));
    w_init(w, sc);
}

void w_free(world *w)
{
    run_turn_clear(&w->t);
    json_decref(w->scenario);
    json_decref(w->conv);
    json_decref(w->f.answers);
    json_decref(w->f.calls);
    json_decref(w->f.delays);
    json_decref(w->f.missing);
}

void script(world *w, const char *key, const char *answers)
{
    json_object_set_new(w->f.answers, key, J(answers));
}

/* One turn, run until it stops; the stop. */
run_stop turn(world *w, run_wake wake, const char *input_json, const char *timer_step)
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

const char *text_at(world *w, size_t i)
{
    return json_string_value(json_object_get(json_array_get(w->t.messages, i), "text"));
}

const char *conv_str(world *w, const char *k)
{
    return json_string_value(json_object_get(w->conv, k));
}

json_t *var(world *w, const char *k)
{
    return json_object_get(json_object_get(w->conv, "variables"), k);
}

/* The n-th event on a topic other than the conversation's own stream. */
json_t *other_event(world *w, size_t n)
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

size_t events_of(world *w, const char *type)
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
