/*
 * run_hooks.c - the agent's hooks (its "hooks" field, docs/schemas/agent.json):
 * plugin actions called at on_message (an input, before the turn reads
 * it), before_step and after_step, one after another in their order, each
 * with its own deadline. A hook sees {point, agent_id, conversation_id,
 * step?, input?, vars, ...}; one with "modify" has its answer applied
 * ({"vars": a merge patch; "input": {"text"} at on_message}). A hook that
 * fails, answers garbage or misses its deadline is logged and skipped: it
 * can delay a conversation by its deadline at most, never stop it.
 */
#include "engine/run_priv.h"

#include <stdio.h>
#include <string.h>

#define HOOK_TIMEOUT_MS 1000
#define HOOK_TIMEOUT_MAX_MS 10000

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static bool at_point(const json_t *hook, const char *point)
{
    size_t i;
    const json_t *p;
    json_array_foreach(json_object_get(hook, "points"), i, p)
    {
        if (json_is_string(p) && !strcmp(json_string_value(p), point)) return true;
    }
    return false;
}

bool run_hooks_want(const run_turn *t, const char *point)
{
    size_t i;
    const json_t *h;
    json_array_foreach(json_object_get(t->agent, "hooks"), i, h)
    {
        if (at_point(h, point)) return true;
    }
    return false;
}

/* The next hook at the running point, from t->st->hook_i on (NULL: done). */
static const json_t *next_hook(run_turn *t)
{
    struct run_state *s = t->st;
    const json_t *hooks = json_object_get(t->agent, "hooks");
    while (s->hook_i < json_array_size(hooks)) {
        const json_t *h = json_array_get(hooks, s->hook_i);
        if (at_point(h, s->hook_point)) return h;
        s->hook_i++;
    }
    return NULL;
}

static void hook_log(run_turn *t, const json_t *hook, double ms, const char *code,
                     const char *message)
{
    if (!t->env->log_step) return;
    json_t *e = json_pack("{s:s,s:s?,s:s,s:f}", "hook", str_of(hook, "instance"), "action",
                          str_of(hook, "action") ? str_of(hook, "action") : "hook", "point",
                          t->st->hook_point, "ms", ms);
    if (code)
        json_object_set_new(e, "error", json_pack("{s:s,s:s}", "code", code, "message", message));
    t->env->log_step(t->env->ud, t, e);
    json_decref(e);
}

/* A modifying hook's answer: the variables patched, the input's text. */
static const char *apply(run_turn *t, const json_t *result)
{
    if (!json_is_object(result)) return "the answer is not an object";
    const json_t *vars = json_object_get(result, "vars");
    const json_t *input = json_object_get(result, "input");
    const json_t *text = json_object_get(input, "text");
    if (vars && !json_is_object(vars)) return "vars: not an object";
    if (input && (!json_is_object(input) || (text && !json_is_string(text))))
        return "input: not {\"text\": \"...\"}";
    if (text && strcmp(t->st->hook_point, "on_message") != 0)
        return "input: only an on_message hook changes the input";
    json_t *mine = run_vars(t);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)vars, k, v)
    {
        if (json_is_null(v))
            json_object_del(mine, k);
        else
            json_object_set(mine, k, v);
    }
    if (text) {
        json_t *in = t->input ? json_deep_copy(t->input) : json_object();
        json_object_set(in, "text", (json_t *)text);
        json_decref(t->st->input);
        t->st->input = in;
        t->input = in;
    }
    return NULL;
}

static void call_next(run_turn *t);

static void hook_done(run_turn *t, const json_t *result, const char *error, const char *message)
{
    struct run_state *s = t->st;
    const json_t *hook = json_array_get(json_object_get(t->agent, "hooks"), s->hook_i);
    double ms = (double)(run_mono_ns() - (uint64_t)s->hook_ns) / 1e6;
    const char *bad = NULL;
    if (!error && json_is_true(json_object_get(hook, "modify"))) bad = apply(t, result);
    hook_log(t, hook, ms,
             error ? error
             : bad ? "invalid"
                   : NULL,
             error ? (message ? message : error) : bad);
    s->hook_i++;
    call_next(t);
}

static void call_next(run_turn *t)
{
    struct run_state *s = t->st;
    const json_t *hook = next_hook(t);
    if (!hook) {
        json_decref(s->hook_args);
        s->hook_args = NULL;
        run_kont k = s->hook_kont;
        s->hook_kont = NULL;
        s->hook_point = NULL;
        run_resume(t, k(t));
        return;
    }
    /* The variables as they are now: an earlier hook may have changed them. */
    json_object_set(s->hook_args, "vars", run_vars(t));
    if (t->input) json_object_set(s->hook_args, "input", (json_t *)t->input);
    json_int_t ms = json_integer_value(json_object_get(hook, "timeout_ms"));
    if (ms <= 0) ms = HOOK_TIMEOUT_MS;
    if (ms > HOOK_TIMEOUT_MAX_MS) ms = HOOK_TIMEOUT_MAX_MS;
    const char *action = str_of(hook, "action");
    s->hook_ns = (int64_t)run_mono_ns();
    t->env->call(t->env->ud, t, NULL, str_of(hook, "instance"), action ? action : "hook",
                 s->hook_args, (uint32_t)ms, hook_done);
}

st_rc run_hooks(run_turn *t, const char *point, json_t *args, run_kont kont)
{
    struct run_state *s = t->st;
    s->hook_point = point;
    s->hook_i = 0;
    s->hook_kont = kont;
    json_decref(s->hook_args);
    s->hook_args = args ? args : json_object();
    json_object_set_new(s->hook_args, "point", json_string(point));
    const char *agent = str_of(t->agent, "id");
    const char *conv = str_of(t->conv, "id");
    if (agent) json_object_set_new(s->hook_args, "agent_id", json_string(agent));
    if (conv) json_object_set_new(s->hook_args, "conversation_id", json_string(conv));
    call_next(t);
    return ST_ASYNC;
}
