/*
 * run_action.c - steps that wait on something outside the turn: jq
 * (switch, set, a wait until a time), plugin actions (plugin steps,
 * llm.chat and the tools it offers the model), HTTP (http.request),
 * other agents (trigger, call_agent). See run.h.
 */
#include "engine/run_priv.h"

#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CALL_DEPTH 8 /* agents calling agents */

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

bool run_truthy(const json_t *outputs)
{
    const json_t *first = json_array_get(outputs, 0);
    return first && !json_is_null(first) && !json_is_false(first);
}

/* Evaluate program over ctx (taken: kept until cb runs). */
static void eval(run_turn *t, const char *program, json_t *ctx, run_cb cb)
{
    json_decref(t->st->ctx);
    t->st->ctx = ctx;
    t->env->eval(t->env->ud, t, program, ctx, cb);
}

static void set_result(run_turn *t, const json_t *result)
{
    json_decref(t->st->result);
    t->st->result = json_deep_copy(result ? result : json_null());
}

/* ---- mappings: {name: program}, evaluated one by one -------------------------------- */

static void map_next(run_turn *t);

static void map_done(run_turn *t, const json_t *outputs, const char *error, const char *message)
{
    struct run_state *s = t->st;
    const char *name = json_string_value(json_array_get(json_array_get(s->map_keys, s->map_i), 0));
    if (error) {
        run_resume(t, run_fail(t, error, "%s: %s", name ? name : "?", message ? message : error));
        return;
    }
    const json_t *v = json_array_get(outputs, 0);
    json_object_set(s->mapped, name, v ? (json_t *)v : json_null());
    s->map_i++;
    map_next(t);
}

static void map_next(run_turn *t)
{
    struct run_state *s = t->st;
    json_t *pair = json_array_get(s->map_keys, s->map_i);
    if (!pair) {
        run_resume(t, s->kont(t));
        return;
    }
    eval(t, json_string_value(json_array_get(pair, 1)), run_context(t), map_done);
}

st_rc run_map(run_turn *t, const json_t *mapping, run_kont kont)
{
    struct run_state *s = t->st;
    json_decref(s->map_keys);
    json_decref(s->mapped);
    s->map_keys = json_array();
    s->mapped = json_object();
    s->map_i = 0;
    s->kont = kont;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)mapping, k, v)
        json_array_append_new(s->map_keys, json_pack("[s,O]", k, v));
    if (!json_array_size(s->map_keys)) return kont(t);
    map_next(t);
    return ST_ASYNC;
}

/* Every mapped value into its variable (or the contact's profile): 0, or
 * -1 with why when a profile field refused its value. */
static int assign(run_turn *t, char *why, size_t n)
{
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach(t->st->mapped, k, v) if (run_set_var(t, k, json_incref(v), why, n) != 0)
        rc = -1;
    return rc;
}

static st_rc assign_next(run_turn *t)
{
    char why[300];
    if (assign(t, why, sizeof(why)) != 0) return run_fail(t, "invalid", "%s", why);
    return run_go(t, str_of(t->st->step, "next"));
}

/* After an action answered: its result mapped into variables, then next. */
static st_rc answered(run_turn *t, const json_t *result)
{
    set_result(t, result);
    const json_t *mapping = json_object_get(t->st->step, "result");
    if (json_object_size(mapping)) return run_map(t, mapping, assign_next);
    return run_go(t, str_of(t->st->step, "next"));
}

/* ---- switch -------------------------------------------------------------------------- */

static void case_next(run_turn *t);

static void case_done(run_turn *t, const json_t *outputs, const char *error, const char *message)
{
    struct run_state *s = t->st;
    const json_t *c = json_array_get(json_object_get(s->step, "cases"), s->map_i);
    if (error) {
        run_resume(t, run_fail(t, error, "cases[%zu].if: %s", s->map_i, message ? message : error));
        return;
    }
    if (run_truthy(outputs)) {
        run_resume(t, run_go(t, str_of(c, "next")));
        return;
    }
    s->map_i++;
    case_next(t);
}

static void case_next(run_turn *t)
{
    struct run_state *s = t->st;
    const json_t *c = json_array_get(json_object_get(s->step, "cases"), s->map_i);
    if (c) {
        eval(t, str_of(c, "if"), run_context(t), case_done);
        return;
    }
    const char *dflt = str_of(s->step, "default");
    run_resume(t, dflt ? run_go(t, dflt)
                       : run_fail(t, "no_case", "no case was true and the step has no default"));
}

/* ---- wait until a time ------------------------------------------------------------------ */

static void until_done(run_turn *t, const json_t *outputs, const char *error, const char *message)
{
    if (error) {
        run_resume(t, run_fail(t, error, "until: %s", message ? message : error));
        return;
    }
    const json_t *v = json_array_get(outputs, 0);
    int64_t due = 0;
    if (json_is_integer(v))
        due = json_integer_value(v);
    else if (!json_is_string(v) || !ah_parse_time(json_string_value(v), &due)) {
        run_resume(
            t, run_fail(t, "invalid", "until: expected a time (RFC 3339 or Unix milliseconds)"));
        return;
    }
    if (due <= t->now_ms) {
        run_resume(t, run_go(t, str_of(t->st->step, "next")));
        return;
    }
    run_resume(t, run_wait(t, due, "wait"));
}

/* ---- trigger ------------------------------------------------------------------------------ */

static bool reserved_topic(const char *topic)
{
    static const char *const reserved[] = {"platform.", "message.", "hooks.", "engine.", "_"};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (!strncmp(topic, reserved[i], strlen(reserved[i]))) return true;
    return !strcmp(topic, "platform") || !strcmp(topic, "message") || !strcmp(topic, "engine");
}

static st_rc triggered(run_turn *t)
{
    struct run_state *s = t->st;
    const char *agent = str_of(s->step, "agent"), *event = str_of(s->step, "event");
    if (agent) {
        json_t *body = json_pack("{s:s,s:O}", "agent", agent, "input", s->mapped);
        const char *contact = str_of(t->conv, "contact_id"), *conv = str_of(t->conv, "id");
        if (contact) json_object_set_new(body, "contact_id", json_string(contact));
        if (conv) json_object_set_new(body, "from_conversation", json_string(conv));
        run_event(t, "engine.start", body);
    } else if (event) {
        if (reserved_topic(event))
            return run_fail(t, "invalid", "event: topic \"%s\" is reserved for the platform",
                            event);
        run_event(t, event, json_incref(s->mapped));
    }
    return run_go(t, str_of(s->step, "next"));
}

/* ---- call_agent and the way back ------------------------------------------------------------ */

/* The scenario running now: the active sub-agent's, or the conversation's. */
static json_t *active_ref(run_turn *t)
{
    json_t *active = json_object_get(run_engine_field(t), "active");
    if (json_is_object(active)) return json_deep_copy(active);
    return json_pack("{s:O?,s:O?}", "agent_id", json_object_get(t->conv, "agent_id"), "scenario",
                     json_object_get(t->conv, "scenario"));
}

static void switch_scenario(run_turn *t, json_t *content)
{
    json_decref(t->st->scenario);
    t->st->scenario = json_incref(content);
    t->scenario = content;
}

static void sub_loaded(run_turn *t, const json_t *r, const char *error, const char *message)
{
    struct run_state *s = t->st;
    if (error) {
        run_resume(t, run_fail(t, error, "agent: %s", message ? message : error));
        return;
    }
    json_t *content = json_object_get(r, "content");
    const char *start = str_of(content, "start");
    if (!json_is_object(content) || !start) {
        run_resume(t, run_fail(t, "config", "agent: it has no scenario to run"));
        return;
    }
    json_t *eng = run_engine_field(t);
    json_t *stack = json_object_get(eng, "stack");
    if (!json_is_array(stack)) {
        stack = json_array();
        json_object_set_new(eng, "stack", stack);
    }
    json_t *frame = active_ref(t);
    json_object_set_new(frame, "step", json_string(s->cur));
    json_object_set(frame, "vars", run_vars(t));
    const json_t *output = json_object_get(s->step, "output");
    if (output) json_object_set(frame, "output", (json_t *)output);
    json_array_append_new(stack, frame);
    json_object_set_new(eng, "active",
                        json_pack("{s:O?,s:O?}", "agent_id", json_object_get(r, "agent_id"),
                                  "scenario", json_object_get(r, "scenario")));
    switch_scenario(t, content);
    /* The sub-agent's variables: its defaults, then the input given. */
    json_t *vars = json_object();
    const char *k;
    const json_t *v;
    json_object_foreach(json_object_get(content, "variables"), k,
                        v) if (json_object_get(v, "default"))
        json_object_set(vars, k, json_object_get(v, "default"));
    json_object_update(vars, s->mapped);
    json_object_set_new(t->conv, "variables", vars);
    run_resume(t, run_go(t, start));
}

static st_rc call_mapped(run_turn *t)
{
    json_t *eng = run_engine_field(t);
    if (json_array_size(json_object_get(eng, "stack")) >= MAX_CALL_DEPTH)
        return run_fail(t, "loop", "agents call each other more than %d deep", MAX_CALL_DEPTH);
    json_t *ref = json_pack("{s:s}", "agent", str_of(t->st->step, "agent"));
    json_decref(t->st->ctx);
    t->st->ctx = ref;
    t->env->load(t->env->ud, t, ref, sub_loaded);
    return ST_ASYNC;
}

static void caller_loaded(run_turn *t, const json_t *r, const char *error, const char *message)
{
    struct run_state *s = t->st;
    json_t *eng = run_engine_field(t);
    json_t *stack = json_object_get(eng, "stack");
    json_t *frame = json_incref(json_array_get(stack, json_array_size(stack) - 1));
    json_t *content = error ? NULL : json_object_get(r, "content");
    if (!frame || !json_is_object(content)) {
        json_decref(frame);
        /* The caller's scenario is gone: nothing to return to. */
        json_object_del(eng, "stack");
        run_resume(t, run_fail(t, error ? error : "config", "returning to the calling agent: %s",
                               message ? message : "its scenario cannot be loaded"));
        return;
    }
    json_array_remove(stack, json_array_size(stack) - 1);
    if (json_array_size(stack)) {
        json_t *top = json_array_get(stack, json_array_size(stack) - 1);
        json_object_set_new(eng, "active",
                            json_pack("{s:O?,s:O?}", "agent_id", json_object_get(top, "agent_id"),
                                      "scenario", json_object_get(top, "scenario")));
    } else {
        json_object_del(eng, "stack");
        json_object_del(eng, "active");
    }
    json_t *vars = json_object_get(frame, "vars");
    json_object_set_new(t->conv, "variables",
                        json_is_object(vars) ? json_incref(vars) : json_object());
    switch_scenario(t, content);
    char why[300];
    bool refused = assign(t, why, sizeof(why)) != 0; /* the sub-agent's output */
    const json_t *call = run_step_of(t, str_of(frame, "step"));
    s->cur = json_object_iter_key(
        json_object_iter_at(json_object_get(t->scenario, "steps"), str_of(frame, "step")));
    s->step = call;
    json_decref(frame);
    run_resume(t, refused ? run_fail(t, "invalid", "%s", why) : run_go(t, str_of(call, "next")));
}

static st_rc return_mapped(run_turn *t)
{
    json_t *stack = json_object_get(run_engine_field(t), "stack");
    json_t *frame = json_array_get(stack, json_array_size(stack) - 1);
    json_t *ref = json_pack("{s:O?}", "scenario", json_object_get(frame, "scenario"));
    json_t *scn = json_object_get(frame, "scenario");
    json_object_set(ref, "scenario_id", json_object_get(scn, "scenario_id"));
    json_object_set(ref, "version", json_object_get(scn, "version"));
    json_object_del(ref, "scenario");
    json_decref(t->st->ctx);
    t->st->ctx = ref;
    t->env->load(t->env->ud, t, ref, caller_loaded);
    return ST_ASYNC;
}

st_rc run_return(run_turn *t)
{
    json_t *stack = json_object_get(run_engine_field(t), "stack");
    json_t *frame = json_array_get(stack, json_array_size(stack) - 1);
    const json_t *output = json_object_get(frame, "output");
    return run_map(t, json_is_object(output) ? output : NULL, return_mapped);
}

/* ---- plugin steps and http.request
 * --------------------------------------------------------------- */

static void action_done(run_turn *t, const json_t *result, const char *error, const char *message)
{
    if (error) {
        run_resume(t, run_fail(t, error, "%s", message ? message : error));
        return;
    }
    run_resume(t, answered(t, result));
}

static void http_done(run_turn *t, const json_t *result, const char *error, const char *message)
{
    if (error) {
        run_resume(t, run_fail(t, error, "%s", message ? message : error));
        return;
    }
    json_int_t status = json_integer_value(json_object_get(result, "status"));
    if (status >= 400) {
        set_result(t, result); /* on_error can read .result */
        run_resume(t, run_fail(t, "http_status", "the server answered %lld", (long long)status));
        return;
    }
    run_resume(t, answered(t, result));
}

static st_rc http_request(run_turn *t, const json_t *step)
{
    st_rc rc;
    char *url = run_render(t, json_object_get(step, "url"), "url", &rc);
    if (!url) return rc;
    const char *method = str_of(step, "method");
    json_t *req = json_pack("{s:s,s:s}", "method", method ? method : "GET", "url", url);
    free(url);
    /* A step without headers or body renders none (not a failure that
     * leaves the step to run again until max_steps_per_turn). */
    const json_t *hv = json_object_get(step, "headers"), *bv = json_object_get(step, "body");
    json_t *headers = hv ? run_render_leaves(t, hv, "headers", &rc) : json_object();
    json_t *body = !headers ? NULL : bv ? run_render_leaves(t, bv, "body", &rc) : json_null();
    if (!headers || !body) {
        json_decref(headers);
        json_decref(req);
        return rc;
    }
    json_object_set_new(req, "headers", json_is_object(headers) ? headers : json_object());
    if (!json_is_object(headers)) json_decref(headers);
    if (json_object_get(step, "body"))
        json_object_set_new(req, "body", body);
    else
        json_decref(body);
    json_decref(t->st->ctx);
    t->st->ctx = req;
    t->env->http(t->env->ud, t, req, run_step_timeout(t, step), http_done);
    return ST_ASYNC;
}

static st_rc plugin_step(run_turn *t, const json_t *step, const char *kind)
{
    st_rc rc;
    const json_t *given = json_object_get(step, "args");
    json_t *args = given ? run_render_leaves(t, given, "args", &rc) : json_object();
    if (!args) return rc;
    json_decref(t->st->ctx);
    t->st->ctx = args;
    t->env->call(t->env->ud, t, kind, str_of(step, "instance"), NULL, args,
                 run_step_timeout(t, step), action_done);
    return ST_ASYNC;
}

/* ---- llm.chat and its tools
 * ---------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* What is left of the step's deadline, in ms (0: none). */
static uint32_t time_left(run_turn *t)
{
    uint64_t spent = (now_ns() - (uint64_t)t->st->started_ns) / 1000000u;
    uint32_t all = run_step_timeout(t, t->st->step);
    return spent >= all ? 0 : all - (uint32_t)spent;
}

/* A tool's name for the model: instance__action, in the characters
 * function names may hold. */
static void tool_name(const json_t *tool, char *out, size_t n)
{
    snprintf(out, n, "%s__%s", str_of(tool, "instance"), str_of(tool, "action"));
    for (char *p = out; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            *p = '_';
}

static const json_t *tool_by_name(const json_t *tools, const char *name)
{
    size_t i;
    const json_t *tool;
    json_array_foreach(tools, i, tool)
    {
        char buf[160];
        tool_name(tool, buf, sizeof(buf));
        if (name && !strcmp(buf, name)) return tool;
    }
    return NULL;
}

static void chat_done(run_turn *t, const json_t *result, const char *error, const char *message);

static void chat_call(run_turn *t)
{
    struct run_state *s = t->st;
    uint32_t left = time_left(t);
    if (!left) {
        run_resume(t, run_fail(t, "timeout", "the step's deadline passed during tool calls"));
        return;
    }
    json_object_set(s->chat_args, "messages", s->chat);
    t->env->call(t->env->ud, t, "llm.chat", str_of(s->step, "instance"), NULL, s->chat_args, left,
                 chat_done);
}

static void tool_next(run_turn *t);

static void tool_done(run_turn *t, const json_t *result, const char *error, const char *message)
{
    struct run_state *s = t->st;
    const json_t *call = json_array_get(s->tool_queue, s->tool_i);
    /* A tool's failure is the model's to handle: it is told, not the step. */
    json_t *content =
        error ? json_pack("{s:s,s:s}", "error", error, "message", message ? message : error)
              : json_deep_copy(result ? result : json_null());
    char *text = json_dumps(content, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(content);
    json_array_append_new(s->chat,
                          json_pack("{s:s,s:O,s:s}", "role", "tool", "tool_call_id",
                                    json_object_get(call, "id"), "content", text ? text : "null"));
    free(text);
    json_t *e = json_array_get(t->path, json_array_size(t->path) - 1);
    json_t *log = json_object_get(e, "tool_calls");
    if (!log) json_object_set_new(e, "tool_calls", log = json_array());
    json_array_append_new(
        log, json_pack("{s:O,s:s?}", "name", json_object_get(call, "name"), "error", error));
    s->tool_i++;
    tool_next(t);
}

static void tool_next(run_turn *t)
{
    struct run_state *s = t->st;
    const json_t *call = json_array_get(s->tool_queue, s->tool_i);
    if (!call) {
        chat_call(t);
        return;
    }
    const json_t *tool = tool_by_name(json_object_get(s->step, "tools"), str_of(call, "name"));
    const json_t *args = json_object_get(call, "arguments_json");
    if (!tool || !json_is_object(args)) {
        tool_done(t, NULL, "invalid",
                  tool ? "the arguments are not a JSON object" : "no such tool is offered");
        return;
    }
    uint32_t left = time_left(t);
    if (!left) {
        run_resume(t, run_fail(t, "timeout", "the step's deadline passed during tool calls"));
        return;
    }
    t->env->call(t->env->ud, t, NULL, str_of(tool, "instance"), str_of(tool, "action"), args, left,
                 tool_done);
}

static void chat_done(run_turn *t, const json_t *result, const char *error, const char *message)
{
    struct run_state *s = t->st;
    if (error) {
        run_resume(t, run_fail(t, error, "%s", message ? message : error));
        return;
    }
    const json_t *calls = json_object_get(result, "tool_calls");
    if (json_array_size(calls) && json_array_size(json_object_get(s->step, "tools"))) {
        json_int_t max = 5;
        const json_t *m = json_object_get(s->step, "max_tool_calls");
        if (json_is_integer(m)) max = json_integer_value(m);
        if (s->tool_calls + (json_int_t)json_array_size(calls) > max) {
            run_resume(t, run_fail(t, "tool_limit",
                                   "the model asked for more than %lld tool calls (max_tool_calls)",
                                   (long long)max));
            return;
        }
        s->tool_calls += (int)json_array_size(calls);
        json_t *asked = json_array();
        size_t i;
        const json_t *c;
        json_array_foreach(calls, i, c) json_array_append_new(
            asked, json_pack("{s:O,s:s,s:{s:O,s:O}}", "id", json_object_get(c, "id"), "type",
                             "function", "function", "name", json_object_get(c, "name"),
                             "arguments", json_object_get(c, "arguments")));
        const json_t *content = json_object_get(result, "content");
        json_array_append_new(s->chat,
                              json_pack("{s:s,s:O,s:o}", "role", "assistant", "content",
                                        content ? content : json_null(), "tool_calls", asked));
        json_decref(s->tool_queue);
        s->tool_queue = json_deep_copy(calls);
        s->tool_i = 0;
        tool_next(t);
        return;
    }
    const json_t *say = json_object_get(s->step, "say");
    const char *content = str_of(result, "content");
    if (!json_is_false(say) && content && *content) run_say(t, strdup(content), NULL, NULL);
    run_resume(t, answered(t, result));
}

static st_rc llm_chat(run_turn *t, const json_t *step)
{
    struct run_state *s = t->st;
    st_rc rc;
    const json_t *given = json_object_get(step, "args");
    json_t *args = given ? run_render_leaves(t, given, "args", &rc) : json_object();
    if (!args) return rc;
    json_decref(s->chat_args);
    s->chat_args = args;
    json_decref(s->chat);
    s->chat = json_array();
    s->tool_calls = 0;
    const json_t *tools = json_object_get(step, "tools");
    if (json_array_size(tools)) {
        char err[300] = "";
        json_t *defs = t->env->tools ? t->env->tools(t->env->ud, t, tools, err, sizeof(err)) : NULL;
        if (!defs) return run_fail(t, "config", "tools: %s", err[0] ? err : "not available");
        size_t i;
        json_t *d;
        json_array_foreach(defs, i, d)
        {
            char name[160];
            tool_name(json_array_get(tools, i), name, sizeof(name));
            json_object_set_new(d, "name", json_string(name));
        }
        json_object_set_new(args, "tools", defs);
    }
    /* The conversation so far is the messages; a prompt is the user's. */
    const json_t *msgs = json_object_get(args, "messages");
    if (json_is_array(msgs)) json_array_extend(s->chat, (json_t *)msgs);
    const char *prompt = str_of(args, "prompt");
    if (prompt && json_array_size(tools)) {
        json_array_append_new(s->chat, json_pack("{s:s,s:s}", "role", "user", "content", prompt));
        json_object_del(args, "prompt");
    }
    if (!json_array_size(s->chat)) {
        json_object_del(args, "messages");
        json_decref(s->chat);
        s->chat = NULL;
        t->env->call(t->env->ud, t, "llm.chat", str_of(step, "instance"), NULL, args,
                     run_step_timeout(t, step), chat_done);
        return ST_ASYNC;
    }
    chat_call(t);
    return ST_ASYNC;
}

/* ---- the dispatch
 * ------------------------------------------------------------------------------------ */

st_rc run_action(run_turn *t, const json_t *step, const char *kind)
{
    if (!strcmp(kind, "switch")) {
        t->st->map_i = 0;
        case_next(t);
        return ST_ASYNC;
    }
    if (!strcmp(kind, "set")) return run_map(t, json_object_get(step, "set"), assign_next);
    if (!strcmp(kind, "wait")) {
        eval(t, str_of(step, "until"), run_context(t), until_done);
        return ST_ASYNC;
    }
    if (!strcmp(kind, "trigger")) return run_map(t, json_object_get(step, "input"), triggered);
    if (!strcmp(kind, "call_agent")) return run_map(t, json_object_get(step, "input"), call_mapped);
    if (!strcmp(kind, "http.request")) return http_request(t, step);
    if (!strcmp(kind, "llm.chat")) return llm_chat(t, step);
    if (strchr(kind, '.')) return plugin_step(t, step, kind);
    return run_fail(t, "invalid", "unknown step kind \"%s\"", kind);
}

/* ---- integration.called -------------------------------------------------------------- */

void run_turn_integration(run_turn *t, const char *instance, const char *action, const char *result,
                          int64_t ms, const char *code, const char *message)
{
    struct run_state *s = t->st;
    if (!s || s->stopped || s->hook_point || !s->cur || !s->step || !instance || !action) return;
    json_t *e = run_conv_event(t, "integration.called");
    json_object_del(e, "scenario");
    const char *kind = str_of(s->step, "kind");
    json_object_set_new(e, "step", json_pack("{s:s,s:s}", "id", s->cur, "kind", kind ? kind : "?"));
    json_object_set_new(e, "integration",
                        json_pack("{s:s,s:s}", "instance", instance, "action", action));
    json_object_set_new(e, "result", json_string(result));
    json_object_set_new(e, "attempt", json_integer(s->attempt > 0 ? s->attempt : 1));
    json_object_set_new(e, "duration_ms", json_integer(ms > 0 ? (json_int_t)ms : 0));
    if (code) {
        bool plain = *code >= 'a' && *code <= 'z' && strlen(code) <= 64;
        for (const char *p = code; plain && *p; p++)
            plain = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
        json_t *err = json_pack("{s:s}", "code", plain ? code : "error");
        if (message)
            json_object_set_new(err, "message", json_stringn(message, strnlen(message, 2000)));
        json_object_set_new(e, "error", err);
    }
    run_event(t, "platform.conversation", e);
}

/* ---- events a plugin step causes (manifest steps[].emits) --------------------------- */

/* A CRM's id: a string, or an integer written as one; NULL when neither. */
json_t *run_id_string(const json_t *v)
{
    if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= 64)
        return json_incref((json_t *)v);
    if (json_is_integer(v)) {
        char b[24];
        snprintf(b, sizeof(b), "%lld", (long long)json_integer_value(v));
        return json_string(b);
    }
    return NULL;
}

void run_turn_emit(run_turn *t, const char *type, const char *plugin, const char *instance,
                   const json_t *result)
{
    struct run_state *s = t->st;
    if (!s || s->stopped || !type || strcmp(type, "lead.created") != 0 || !plugin || !instance)
        return;
    json_t *id = run_id_string(json_object_get(result, "lead_id"));
    const char *contact = str_of(t->conv, "contact_id");
    if (!id || !contact) {
        json_decref(id);
        return;
    }
    json_t *lead = json_pack("{s:o}", "id", id);
    static const char *const ids[] = {"pipeline_id", "status_id"};
    for (int i = 0; i < 2; i++) {
        json_t *v = run_id_string(json_object_get(result, ids[i]));
        if (v) json_object_set_new(lead, ids[i], v);
    }
    const json_t *price = json_object_get(result, "price");
    if (!json_is_number(price)) price = json_object_get(s->ctx, "price"); /* the step's args */
    if (json_is_number(price) && json_number_value(price) >= 0)
        json_object_set(lead, "price", (json_t *)price);
    const char *url = str_of(result, "url");
    if (url && strlen(url) <= 2048) json_object_set_new(lead, "url", json_string(url));
    json_t *e = run_conv_event(t, "lead.created");
    json_object_del(e, "scenario");
    json_object_set_new(e, "crm", json_pack("{s:s,s:s}", "kind", plugin, "instance", instance));
    json_object_set_new(e, "lead", lead);
    json_array_append_new(
        t->events, json_pack("{s:s,s:s,s:o}", "topic", "platform.lead", "key", contact, "body", e));
}
