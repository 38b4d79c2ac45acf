/*
 * run.c - a turn: from the step the conversation stands at to the next one
 * that waits, step by step; failures, retries and the fallback; waits and
 * the end. See run.h.
 */
#include "engine/run_priv.h"

#include "core/util.h"
#include "engine/lang.h"
#include "engine/template.h"

#include <agenthost/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t run_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- the conversation -------------------------------------------------------- */

const json_t *run_step_of(const run_turn *t, const char *id)
{
    return id ? json_object_get(json_object_get(t->scenario, "steps"), id) : NULL;
}

json_t *run_vars(run_turn *t)
{
    json_t *v = json_object_get(t->conv, "variables");
    if (!json_is_object(v)) {
        v = json_object();
        json_object_set_new(t->conv, "variables", v);
    }
    return v;
}

json_t *run_engine_field(run_turn *t)
{
    json_t *e = json_object_get(t->conv, "engine");
    if (!json_is_object(e)) {
        e = json_object();
        json_object_set_new(t->conv, "engine", e);
    }
    return e;
}

const char *run_lang(const run_turn *t)
{
    const char *l = str_of(t->conv, "language");
    return l ? l : str_of(t->scenario, "default_language");
}

static json_int_t setting(const run_turn *t, const json_t *step, const char *k, json_int_t dflt)
{
    const json_t *v = json_object_get(step, k);
    if (json_is_integer(v)) return json_integer_value(v);
    v = json_object_get(json_object_get(t->scenario, "settings"), k);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

uint32_t run_step_timeout(const run_turn *t, const json_t *step)
{
    json_int_t ms = json_integer_value(json_object_get(step, "timeout_ms"));
    if (ms <= 0) ms = setting(t, NULL, "step_timeout_ms", RUN_STEP_TIMEOUT_MS);
    return ms > 0 && ms < UINT32_MAX ? (uint32_t)ms : RUN_STEP_TIMEOUT_MS;
}

int run_set_var(run_turn *t, const char *name, json_t *value, char *why, size_t n)
{
    if (!strncmp(name, "contact.", 8)) return run_profile_set(t, name, value, why, n);
    if (!strcmp(name, "conversation.language")) { /* texts from now on in that language */
        bool ok = json_is_string(value) && lang_tag_valid(json_string_value(value));
        if (ok) json_object_set(t->conv, "language", value);
        json_decref(value);
        if (!ok) snprintf(why, n, "conversation.language: not a language tag (ru, en, pt-BR)");
        return ok ? 0 : -1;
    }
    json_object_set_new(run_vars(t), name, value ? value : json_null());
    return 0;
}

json_t *run_context(const run_turn *t)
{
    json_t *ctx = json_object();
    json_t *vars = json_object_get(t->conv, "variables");
    json_object_set(ctx, "vars", json_is_object(vars) ? vars : json_object());
    json_t *contact = json_object();
    const json_t *profile = json_object_get(t->contact, "profile");
    if (json_is_object(profile)) json_object_update(contact, (json_t *)profile);
    if (t->profile) { /* what this turn set: seen at once */
        json_t *now = json_deep_copy(json_is_object(profile) ? profile : NULL);
        if (!now) now = json_object();
        run_profile_apply(now, t->profile);
        json_object_clear(contact);
        json_object_update(contact, now);
        json_decref(now);
    }
    if (str_of(t->contact, "id")) json_object_set(contact, "id", json_object_get(t->contact, "id"));
    json_object_set_new(ctx, "contact", contact);
    json_t *conv = json_object();
    static const char *const fields[] = {"id", "agent_id", "language", "channel", "started_at"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        json_t *v = json_object_get(t->conv, fields[i]);
        if (v) json_object_set(conv, fields[i], v);
    }
    json_object_set_new(ctx, "conversation", conv);
    json_object_set(ctx, "input", t->input ? (json_t *)t->input : json_null());
    json_object_set(ctx, "result", t->st && t->st->result ? t->st->result : json_null());
    ah_json_set_time(ctx, "now", t->now_ms);
    return ctx;
}

void run_keep_message(run_turn *t, json_t *m)
{
    json_t *list = json_object_get(t->conv, "messages");
    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(t->conv, "messages", list);
    }
    /* Numbered in the conversation, so a client can ask for what follows
     * a message it has (the web chat's Last-Event-ID). */
    json_int_t seq = json_integer_value(json_object_get(t->conv, "message_seq")) + 1;
    json_object_set_new(t->conv, "message_seq", json_integer(seq));
    json_object_set_new(m, "seq", json_integer(seq));
    json_array_append_new(list, m);
    while (json_array_size(list) > RUN_MESSAGES_KEPT)
        json_array_remove(list, 0);
}

/* ---- events and the path ---------------------------------------------------------- */

void run_event(run_turn *t, const char *topic, json_t *body)
{
    json_array_append_new(t->events, json_pack("{s:s,s:o}", "topic", topic, "body", body));
}

json_t *run_conv_event(run_turn *t, const char *type)
{
    json_t *e = json_pack("{s:s,s:i}", "type", type, "event_version", 1);
    ah_json_set_time(e, "at", t->now_ms);
    static const char *const ids[] = {"id", "agent_id", "contact_id"};
    static const char *const as[] = {"conversation_id", "agent_id", "contact_id"};
    for (int i = 0; i < 3; i++)
        if (str_of(t->conv, ids[i])) json_object_set(e, as[i], json_object_get(t->conv, ids[i]));
    json_t *scn = json_object_get(t->conv, "scenario");
    if (json_is_object(scn)) json_object_set(e, "scenario", scn);
    return e;
}

static bool is_action(const char *kind)
{
    return strchr(kind, '.') || !strcmp(kind, "call_agent") || !strcmp(kind, "trigger");
}

/* Close the running step's entry in the path: how long, which attempt, and
 * its error. Action steps and failed ones publish step.completed. */
static void close_entry(run_turn *t, const char *code, const char *message, const char *next)
{
    struct run_state *s = t->st;
    if (!s->entry_open) return;
    s->entry_open = false;
    json_t *e = json_array_get(t->path, json_array_size(t->path) - 1);
    double ms = (double)(run_mono_ns() - (uint64_t)s->started_ns) / 1e6;
    json_object_set_new(e, "ms", json_real(ms));
    json_object_set_new(e, "attempt", json_integer(s->attempt));
    if (code)
        json_object_set_new(e, "error", json_pack("{s:s,s:s}", "code", code, "message", message));
    if (next) json_object_set_new(e, "next", json_string(next));
    if (t->env->log_step) t->env->log_step(t->env->ud, t, e);
    if (run_hooks_want(t, "after_step")) { /* told at the next step or the turn's end */
        json_t *a = json_pack("{s:{s:O,s:O},s:O,s:O}", "step", "id", json_object_get(e, "step"),
                              "kind", json_object_get(e, "kind"), "ms", json_object_get(e, "ms"),
                              "attempt", json_object_get(e, "attempt"));
        if (code) json_object_set(a, "error", json_object_get(e, "error"));
        if (next) json_object_set_new(a, "next", json_string(next));
        if (s->result) json_object_set(a, "result", s->result);
        if (!s->closed) s->closed = json_array();
        json_array_append_new(s->closed, a);
    }
    const char *kind = str_of(e, "kind");
    if (!code && !(kind && is_action(kind))) return;
    json_t *ev = run_conv_event(t, "step.completed");
    if (!json_object_get(ev, "scenario")) json_object_set_new(ev, "scenario", json_object());
    json_object_set_new(ev, "step",
                        json_pack("{s:O,s:O}", "id", json_object_get(e, "step"), "kind",
                                  json_object_get(e, "kind")));
    json_object_set_new(ev, "result", json_string(code ? "error" : "ok"));
    if (next) json_object_set_new(ev, "next_step", json_string(next));
    json_object_set_new(ev, "attempt", json_integer(s->attempt));
    json_object_set_new(ev, "duration_ms", json_integer((json_int_t)ms));
    if (code) json_object_set(ev, "error", json_object_get(e, "error"));
    run_event(t, "platform.conversation", ev);
}

static void open_entry(run_turn *t, const char *id, const char *kind)
{
    struct run_state *s = t->st;
    s->entry_open = true;
    s->started_ns = (int64_t)run_mono_ns();
    json_array_append_new(t->path, json_pack("{s:s,s:s}", "step", id, "kind", kind));
}

/* ---- stopping ------------------------------------------------------------------------- */

static st_rc finish(run_turn *t, run_stop stop, const char *error);

/* The after_step hooks of the first step closed and not yet told. */
static st_rc after_hooks(run_turn *t, run_kont kont)
{
    json_t *a = json_incref(json_array_get(t->st->closed, 0));
    json_array_remove(t->st->closed, 0);
    return run_hooks(t, "after_step", a, kont);
}

static st_rc finish_told(run_turn *t)
{
    char error[512];
    snprintf(error, sizeof(error), "%s", t->st->stop_error ? t->st->stop_error : "");
    return finish(t, t->st->stop, t->st->stop_error ? error : NULL);
}

static st_rc finish(run_turn *t, run_stop stop, const char *error)
{
    struct run_state *s = t->st;
    if (json_array_size(s->closed)) { /* the hooks first: then the turn stops */
        s->stop = stop;
        if (error != s->stop_error) {
            char *copy = error ? strdup(error) : NULL;
            free(s->stop_error);
            s->stop_error = copy;
        }
        return after_hooks(t, finish_told);
    }
    t->st->stopped = true;
    ah_json_set_time(t->conv, "last_activity_at", t->now_ms);
    t->done(t, stop, error); /* may free t: nothing after this */
    return ST_STOP;
}

st_rc run_wait(run_turn *t, int64_t due_ms, const char *kind)
{
    struct run_state *s = t->st;
    json_object_set_new(t->conv, "state", json_string("waiting"));
    json_object_set_new(t->conv, "current_step", json_string(s->cur));
    json_t *eng = run_engine_field(t);
    if (due_ms > 0)
        json_object_set_new(
            eng, "timer",
            json_pack("{s:s,s:I,s:s}", "step", s->cur, "due_ms", (json_int_t)due_ms, "kind", kind));
    else
        json_object_del(eng, "timer");
    close_entry(t, NULL, NULL, NULL);
    return finish(t, RUN_WAITING, NULL);
}

static int count_dir(const json_t *messages, const char *dir)
{
    int n = 0;
    size_t i;
    const json_t *m;
    json_array_foreach(messages, i, m) n +=
        str_of(m, "direction") && !strcmp(str_of(m, "direction"), dir);
    return n;
}

/* The conversation is over (not a sub-scenario's end). */
static st_rc conversation_ended(run_turn *t, const char *outcome, const char *reason,
                                const char *error)
{
    json_object_set_new(t->conv, "state", json_string("ended"));
    json_object_set_new(t->conv, "outcome", json_string(outcome));
    json_object_set_new(t->conv, "current_step", json_null());
    ah_json_set_time(t->conv, "ended_at", t->now_ms);
    json_t *eng = run_engine_field(t);
    json_object_del(eng, "timer");
    json_object_del(eng, "stack");
    json_object_del(eng, "active");
    json_t *ev = run_conv_event(t, "conversation.ended");
    json_object_set_new(ev, "reason", json_string(reason));
    json_object_set_new(ev, "outcome", json_string(outcome));
    const char *started = str_of(t->conv, "started_at");
    json_object_set_new(ev, "started_at", json_string(started ? started : ""));
    int64_t at = 0;
    if (started && ah_parse_time(started, &at))
        json_object_set_new(ev, "duration_ms", json_integer(t->now_ms - at));
    const json_t *msgs = json_object_get(t->conv, "messages");
    json_object_set_new(
        ev, "messages",
        json_pack("{s:i,s:i}", "in", count_dir(msgs, "in"), "out", count_dir(msgs, "out")));
    run_event(t, "platform.conversation", ev);
    return finish(t, RUN_ENDED, error);
}

st_rc run_end(run_turn *t, const char *outcome, const char *reason)
{
    close_entry(t, NULL, NULL, NULL);
    if (json_array_size(json_object_get(run_engine_field(t), "stack"))) return run_return(t);
    return conversation_ended(t, outcome, reason, NULL);
}

/* ---- failures -------------------------------------------------------------------------- */

static bool retryable(const char *code)
{
    static const char *const never[] = {"template", "invalid_input", "loop",   "no_step",
                                        "invalid",  "not_found",     "config", "no_case"};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
        if (!strcmp(code, never[i])) return false;
    return true;
}

static st_rc exec(run_turn *t);

static void retry_now(run_turn *t, const json_t *r, const char *e, const char *m)
{
    (void)r, (void)e, (void)m;
    run_resume(t, exec(t));
}

/* Everything failed: the fallback, then the end (outcome "error"). */
static st_rc give_up(run_turn *t, const char *message)
{
    const json_t *fb = json_object_get(t->scenario, "fallback");
    json_object_del(run_engine_field(t), "stack"); /* the whole conversation ends */
    if (fb) {
        const char *src = NULL;
        size_t len = 0;
        bool fell = false;
        if (lang_pick(fb, run_lang(t), str_of(t->scenario, "default_language"), &src, &len, &fell,
                      NULL, 0) == 0) {
            tmpl *tp = NULL;
            char *out = NULL;
            size_t olen = 0;
            json_t *ctx = run_context(t);
            tmpl_opts o = {.lang = run_lang(t)};
            if (tmpl_compile(src, len, &tp, NULL) == 0) tmpl_render(tp, ctx, &o, &out, &olen, NULL);
            tmpl_free(tp);
            json_decref(ctx);
            /* A fallback that does not render is sent as written. */
            run_say(t, out ? out : strndup(src, len), NULL, NULL);
        }
    }
    return conversation_ended(t, "error", "error", message);
}

st_rc run_fail(run_turn *t, const char *code, const char *fmt, ...)
{
    struct run_state *s = t->st;
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const json_t *step = s->step;
    json_int_t retries = setting(t, step, "retries", 0);
    if (step && retryable(code) && s->attempt <= retries) {
        json_int_t base = setting(t, step, "retry_backoff_ms", 500);
        int64_t ms = base;
        for (int i = 1; i < s->attempt && ms < 60000; i++)
            ms *= 2;
        if (ms > 60000) ms = 60000;
        json_t *e = json_array_get(t->path, json_array_size(t->path) - 1);
        json_object_set_new(e, "retried", json_pack("{s:s,s:s}", "code", code, "message", msg));
        s->attempt++;
        t->env->delay(t->env->ud, t, (uint32_t)ms, retry_now);
        return ST_ASYNC;
    }
    const char *on_error = step ? str_of(step, "on_error") : NULL;
    if (on_error && strcmp(code, "loop") != 0) {
        close_entry(t, code, msg, on_error);
        char why[8];
        run_set_var(t, "_error",
                    json_pack("{s:s,s:s,s:s}", "code", code, "message", msg, "step", s->cur), why,
                    sizeof(why));
        s->cur = json_object_iter_key(
            json_object_iter_at(json_object_get(t->scenario, "steps"), on_error));
        return ST_NEXT;
    }
    close_entry(t, code, msg, NULL);
    char why[800];
    snprintf(why, sizeof(why), "step %s: %s: %s", s->cur ? s->cur : "-", code, msg);
    return give_up(t, why);
}

/* ---- moving on ------------------------------------------------------------------------- */

st_rc run_go(run_turn *t, const char *next)
{
    close_entry(t, NULL, NULL, next);
    /* Point at the scenario's own copy of the id: it outlives the step. */
    t->st->cur =
        next
            ? json_object_iter_key(json_object_iter_at(json_object_get(t->scenario, "steps"), next))
            : NULL;
    if (next && !t->st->cur) return run_fail(t, "no_step", "no step \"%s\"", next);
    return ST_NEXT;
}

static st_rc say(run_turn *t, const json_t *step)
{
    st_rc rc;
    char *text = run_render(t, json_object_get(step, "text"), "text", &rc);
    if (!text) return rc;
    json_t *buttons = run_buttons(t, json_object_get(step, "buttons"), &rc);
    if (rc != ST_NEXT) {
        free(text);
        return rc;
    }
    json_t *att = NULL;
    if (json_array_size(json_object_get(step, "attachments"))) {
        att = run_render_leaves(t, json_object_get(step, "attachments"), "attachments", &rc);
        if (!att) {
            free(text);
            json_decref(buttons);
            return rc;
        }
    }
    run_say(t, text, buttons, att);
    return run_go(t, str_of(step, "next"));
}

static st_rc handoff(run_turn *t, const json_t *step)
{
    struct run_state *s = t->st;
    if (json_object_get(step, "text")) {
        st_rc rc;
        char *text = run_render(t, json_object_get(step, "text"), "text", &rc);
        if (!text) return rc;
        run_say(t, text, NULL, NULL);
    }
    json_t *ev = run_conv_event(t, "handoff.requested");
    json_object_set_new(ev, "step", json_pack("{s:s,s:s}", "id", s->cur, "kind", "handoff"));
    const char *queue = str_of(step, "queue");
    json_object_set_new(ev, "target",
                        queue ? json_pack("{s:s,s:s}", "kind", "queue", "queue", queue)
                              : json_pack("{s:s}", "kind", "any"));
    run_event(t, "platform.conversation", ev);
    json_object_set_new(t->conv, "state", json_string("handed_off"));
    json_object_set_new(t->conv, "current_step", json_string(s->cur));
    json_object_del(run_engine_field(t), "timer");
    close_entry(t, NULL, NULL, NULL);
    return finish(t, RUN_WAITING, NULL);
}

static st_rc end_step(run_turn *t, const json_t *step)
{
    if (json_object_get(step, "text")) {
        st_rc rc;
        char *text = run_render(t, json_object_get(step, "text"), "text", &rc);
        if (!text) return rc;
        run_say(t, text, NULL, NULL);
    }
    const char *outcome = str_of(step, "outcome");
    return run_end(t, outcome ? outcome : "completed", "completed");
}

static st_rc wait_step(run_turn *t, const json_t *step)
{
    const char *for_ = str_of(step, "for");
    json_int_t ms = json_integer_value(json_object_get(step, "timeout_ms"));
    if (for_ && !strcmp(for_, "input"))
        return run_wait(t, ms > 0 && str_of(step, "on_timeout") ? t->now_ms + ms : 0, "timeout");
    ms = json_integer_value(json_object_get(step, "duration_ms"));
    if (ms > 0) return run_wait(t, t->now_ms + ms, "wait");
    return run_action(t, step, "wait"); /* until: a jq time */
}

/* Run the step at t->st->cur (its attempt counted by the caller). */
static st_rc exec(run_turn *t)
{
    struct run_state *s = t->st;
    const json_t *step = s->step;
    const char *kind = str_of(step, "kind");
    if (!s->entry_open) open_entry(t, s->cur, kind ? kind : "");
    if (!kind) return run_fail(t, "invalid", "the step has no kind");
    if (!strcmp(kind, "say")) return say(t, step);
    if (!strcmp(kind, "ask") || !strcmp(kind, "choice")) return run_ask(t, step);
    if (!strcmp(kind, "goto")) return run_go(t, str_of(step, "next"));
    if (!strcmp(kind, "end")) return end_step(t, step);
    if (!strcmp(kind, "handoff")) return handoff(t, step);
    if (!strcmp(kind, "wait")) return wait_step(t, step);
    if (!strcmp(kind, "continue_in")) return run_continue_in(t, step);
    return run_action(t, step, kind);
}

/* A step starts: the hooks of the steps closed before it, its
 * before_step hooks, then the step. */
static st_rc start_step(run_turn *t)
{
    struct run_state *s = t->st;
    if (json_array_size(s->closed)) return after_hooks(t, start_step);
    if (!s->before_told && run_hooks_want(t, "before_step")) {
        s->before_told = true;
        json_t *a =
            json_pack("{s:{s:s,s:s?}}", "step", "id", s->cur, "kind", str_of(s->step, "kind"));
        return run_hooks(t, "before_step", a, start_step);
    }
    s->before_told = false;
    return exec(t);
}

static void advance(run_turn *t)
{
    struct run_state *s = t->st;
    json_int_t max = setting(t, NULL, "max_steps_per_turn", RUN_MAX_STEPS_PER_TURN);
    for (;;) {
        st_rc rc;
        if (!s->cur) {
            rc = run_end(t, "completed", "completed");
        } else if (s->steps >= max) {
            s->step = NULL;
            rc = run_fail(t, "loop",
                          "%lld steps ran in one turn without waiting for input "
                          "(settings.max_steps_per_turn)",
                          (long long)max);
        } else if (!(s->step = run_step_of(t, s->cur))) {
            rc = run_fail(t, "no_step", "no step \"%s\"", s->cur);
        } else {
            s->steps++;
            s->attempt = 1;
            json_decref(s->result); /* .result is the previous action's, until the next one */
            s->result = NULL;
            rc = start_step(t);
        }
        if (rc != ST_NEXT) return;
    }
}

void run_resume(run_turn *t, st_rc rc)
{
    if (rc == ST_NEXT) advance(t);
}

/* ---- waking ------------------------------------------------------------------------------ */

static void defaults(run_turn *t)
{
    json_t *vars = run_vars(t);
    const char *name;
    const json_t *v;
    json_object_foreach(json_object_get(t->scenario, "variables"), name, v)
    {
        const json_t *d = json_object_get(v, "default");
        if (d && !json_object_get(vars, name)) json_object_set(vars, name, (json_t *)d);
    }
}

/* The label of the button with payload in the agent's latest message
 * that had buttons (what a person tapped reads as what they said), or
 * NULL. */
static const char *tapped_label(run_turn *t, const char *payload)
{
    const json_t *list = json_object_get(t->conv, "messages");
    for (size_t i = json_array_size(list); i-- > 0;) {
        const json_t *m = json_array_get(list, i), *b;
        const char *dir = str_of(m, "direction");
        if (dir && !strcmp(dir, "in")) return NULL; /* only the buttons just offered */
        size_t k;
        json_array_foreach(json_object_get(m, "buttons"), k, b)
        {
            const char *p = str_of(b, "payload");
            if (p && !strcmp(p, payload)) return str_of(b, "label");
        }
        if (json_array_size(json_object_get(m, "buttons"))) return NULL;
    }
    return NULL;
}

static void keep_input(run_turn *t)
{
    const char *text = str_of(t->input, "text");
    const char *payload = str_of(t->input, "payload");
    if (!text && payload) text = tapped_label(t, payload);
    json_t *m = json_pack("{s:s,s:s}", "direction", "in", "text", text ? text : "");
    if (payload) json_object_set_new(m, "payload", json_string(payload));
    ah_json_set_time(m, "at", t->now_ms);
    const json_t *att = json_object_get(t->input, "attachments");
    if (json_array_size(att)) json_object_set(m, "attachments", (json_t *)att);
    run_keep_message(t, m);
}

/* Continue at the waiting step's id, as the turn's running step. */
static const json_t *at_current(run_turn *t)
{
    const char *cur = str_of(t->conv, "current_step");
    t->st->cur =
        cur ? json_object_iter_key(json_object_iter_at(json_object_get(t->scenario, "steps"), cur))
            : NULL;
    t->st->step = run_step_of(t, t->st->cur);
    if (t->st->step) {
        t->st->steps++;
        t->st->attempt = 1;
        open_entry(t, t->st->cur, str_of(t->st->step, "kind"));
    }
    return t->st->step;
}

static void wake(run_turn *t);

static st_rc wake_told(run_turn *t)
{
    wake(t);
    return ST_ASYNC; /* wake goes on by itself */
}

static void wake(run_turn *t)
{
    struct run_state *s = t->st;
    if (t->input && !s->message_told && run_hooks_want(t, "on_message")) {
        s->message_told = true;
        run_hooks(t, "on_message", NULL, wake_told);
        return;
    }
    const char *state = str_of(t->conv, "state");
    if (!state) state = "active";
    json_t *eng = run_engine_field(t);
    switch (t->wake) {
    case RUN_WAKE_START:
        if (t->input) keep_input(t);
        json_object_set_new(t->conv, "state", json_string("active"));
        if (!str_of(t->conv, "started_at")) ah_json_set_time(t->conv, "started_at", t->now_ms);
        defaults(t);
        s->cur = json_object_iter_key(json_object_iter_at(json_object_get(t->scenario, "steps"),
                                                          str_of(t->scenario, "start")));
        if (!s->cur) {
            give_up(t, "the scenario's start step does not exist");
            return;
        }
        advance(t);
        return;
    case RUN_WAKE_MESSAGE: {
        if (t->input) keep_input(t);
        const json_t *step = NULL;
        if (!strcmp(state, "waiting")) step = at_current(t);
        const char *kind = step ? str_of(step, "kind") : NULL;
        bool takes_input = kind && (!strcmp(kind, "ask") || !strcmp(kind, "choice") ||
                                    (!strcmp(kind, "wait") && str_of(step, "for") &&
                                     !strcmp(str_of(step, "for"), "input")));
        if (!takes_input) {
            /* Ended, handed to a person, or waiting for a time: the message
             * is kept in the conversation, the bot says nothing. */
            if (step) json_array_remove(t->path, json_array_size(t->path) - 1);
            s->entry_open = false;
            finish(t, RUN_IDLE, NULL);
            return;
        }
        json_object_set_new(t->conv, "state", json_string("active"));
        json_object_del(eng, "timer");
        run_resume(t, run_answer(t, step));
        return;
    }
    case RUN_WAKE_TIMER: {
        const json_t *timer = json_object_get(eng, "timer");
        const char *tstep = str_of(timer, "step");
        if (!tstep || !t->timer_step || strcmp(tstep, t->timer_step) != 0) {
            finish(t, RUN_IDLE, NULL); /* not the conversation's timer */
            return;
        }
        if (strcmp(state, "waiting") != 0 || !str_of(t->conv, "current_step") ||
            strcmp(tstep, str_of(t->conv, "current_step")) != 0) {
            json_object_del(eng, "timer"); /* left behind: the step moved on */
            finish(t, RUN_IDLE, NULL);
            return;
        }
        bool timeout = str_of(timer, "kind") && !strcmp(str_of(timer, "kind"), "timeout");
        json_object_del(eng, "timer");
        const json_t *step = at_current(t);
        if (!step) {
            finish(t, RUN_IDLE, NULL);
            return;
        }
        json_object_set_new(t->conv, "state", json_string("active"));
        json_object_set_new(eng, "attempts", json_integer(0));
        run_resume(t, run_go(t, str_of(step, timeout ? "on_timeout" : "next")));
        return;
    }
    case RUN_WAKE_RESUME: {
        if (strcmp(state, "handed_off") != 0) {
            finish(t, RUN_IDLE, NULL);
            return;
        }
        const json_t *step = at_current(t);
        json_object_set_new(t->conv, "state", json_string("active"));
        run_resume(t, run_go(t, step ? str_of(step, "next") : NULL));
        return;
    }
    }
}

void run_turn_start(run_turn *t)
{
    run_turn_clear(t);
    t->messages = json_array();
    t->events = json_array();
    t->path = json_array();
    t->st = calloc(1, sizeof(*t->st));
    if (!t->st || !t->messages || !t->events || !t->path) {
        t->done(t, RUN_IDLE, "out of memory");
        return;
    }
    t->st->scenario = json_incref(t->scenario);
    wake(t);
}

void run_turn_clear(run_turn *t)
{
    json_decref(t->messages);
    json_decref(t->events);
    json_decref(t->path);
    json_decref(t->profile);
    json_decref(t->links);
    json_decref(t->link_codes);
    t->messages = t->events = t->path = t->profile = t->links = t->link_codes = NULL;
    struct run_state *s = t->st;
    if (!s) return;
    json_decref(s->result);
    json_decref(s->ctx);
    json_decref(s->map_keys);
    json_decref(s->mapped);
    json_decref(s->chat);
    json_decref(s->chat_args);
    json_decref(s->tool_queue);
    json_decref(s->loaded);
    json_decref(s->scenario);
    json_decref(s->hook_args);
    json_decref(s->input);
    json_decref(s->closed);
    free(s->stop_error);
    free(s);
    t->st = NULL;
}
