/*
 * sim_env.c - what a simulation's steps reach (simulate.h): jq in the real
 * expression workers, plugin actions and HTTP answered from canned
 * answers, tools' definitions from the manifests or the canned ones,
 * other agents' scenarios read (never written), no delays, no logs. Each
 * call out is noted for the turn's record ("calls"). Every answer reaches
 * the turn later, from the loop, exactly once.
 */
#include "runtime/sim_priv.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- canned answers -------------------------------------------------------------- */

/* The canned answer for key: *found set when the key has one; NULL when
 * it has none left (a list used up: *used_up set). */
static const json_t *canned(sim *s, const char *key, bool *found, bool *used_up)
{
    *found = *used_up = false;
    const json_t *a = json_object_get(s->answers, key);
    if (!a) return NULL;
    *found = true;
    if (!json_is_array(a)) return a;
    json_int_t n = json_integer_value(json_object_get(s->used, key));
    const json_t *e = json_array_get(a, (size_t)n);
    if (!e) {
        *used_up = true;
        return NULL;
    }
    json_object_set_new(s->used, key, json_integer(n + 1));
    return e;
}

/* An answer that is a failure: {"error": {"code", "message"}} alone. */
static const json_t *failure_of(const json_t *a)
{
    const json_t *e = json_object_get(a, "error");
    return json_is_object(e) && json_object_size(a) == 1 ? e : NULL;
}

/* Note a call out in the turn's record. */
static json_t *note(sim *s, const char *kind, const char *key, const json_t *args)
{
    /* A copy: the engine goes on changing what it sent (llm.chat's messages). */
    json_t *c = json_pack("{s:s,s:s,s:o?}", "kind", kind, "key", key, "args",
                          args ? json_deep_copy(args) : NULL);
    json_array_append_new(s->calls, c);
    return c;
}

/* Answer from the first of keys that has a canned answer; none: fails. */
static void answer(sim *s, run_turn *t, run_cb cb, const char *kind, const char *const *keys,
                   size_t nkeys, const json_t *args, bool http)
{
    const json_t *a = NULL;
    const char *key = keys[0];
    bool found = false, used_up = false;
    for (size_t i = 0; i < nkeys && !found; i++) {
        if (!keys[i]) continue;
        a = canned(s, keys[i], &found, &used_up);
        if (found) key = keys[i];
    }
    json_t *c = note(s, kind, key, args);
    char msg[400];
    if (!a) {
        if (used_up)
            snprintf(msg, sizeof(msg), "every canned answer for %s is used", key);
        else
            snprintf(msg, sizeof(msg), "no canned answer for %s", key);
        json_object_set_new(c, "error",
                            json_pack("{s:s,s:s}", "code", "no_answer", "message", msg));
        rt_tell_later(s->rt, t, cb, NULL, "no_answer", msg);
        return;
    }
    const json_t *f = failure_of(a);
    if (f) {
        const char *code = str_of(f, "code") ? str_of(f, "code") : "failed";
        const char *m = str_of(f, "message") ? str_of(f, "message") : code;
        json_object_set(c, "error", (json_t *)f);
        rt_tell_later(s->rt, t, cb, NULL, code, m);
        return;
    }
    json_t *r = json_deep_copy(a);
    if (http && json_is_object(r)) {
        if (!json_object_get(r, "status")) json_object_set_new(r, "status", json_integer(200));
        if (!json_object_get(r, "headers")) json_object_set_new(r, "headers", json_object());
        if (!json_object_get(r, "body")) json_object_set_new(r, "body", json_string(""));
    }
    json_object_set(c, "result", r);
    rt_tell_later(s->rt, t, cb, r, NULL, NULL);
}

/* ---- the run_env ------------------------------------------------------------------ */

static void sim_eval(void *ud, run_turn *t, const char *program, const json_t *input, run_cb cb)
{
    sim *s = ud;
    s->rt->env.eval(s->rt, t, program, input, cb); /* the real workers, their deadline */
}

static void sim_call(void *ud, run_turn *t, const char *kind, const char *inst, const char *action,
                     const json_t *args, uint32_t timeout_ms, run_cb cb)
{
    (void)timeout_ms;
    sim *s = ud;
    char full[200] = "";
    if (kind) {
        const char *keys[] = {kind};
        answer(s, t, cb, "action", keys, 1, args, false);
        return;
    }
    snprintf(full, sizeof(full), "%s.%s", inst ? inst : "", action ? action : "");
    const char *keys[] = {full, action};
    answer(s, t, cb, "tool", keys, 2, args, false);
}

static json_t *sim_tools(void *ud, run_turn *t, const json_t *tools, char *err, size_t errlen)
{
    sim *s = ud;
    json_t *out = json_array();
    const json_t *canned_defs = json_object_get(s->answers, "tools");
    size_t i;
    const json_t *tool;
    json_array_foreach(tools, i, tool)
    {
        const char *inst = str_of(tool, "instance"), *action = str_of(tool, "action");
        json_t *def = NULL;
        if (inst && supervisor_find(s->rt->d.sup, inst)) {
            json_t *one = json_pack("[O]", tool);
            json_t *defs = s->rt->env.tools(s->rt, t, one, err, errlen);
            json_decref(one);
            if (!defs) {
                json_decref(out);
                return NULL;
            }
            def = json_incref(json_array_get(defs, 0));
            json_decref(defs);
        } else {
            char key[200];
            snprintf(key, sizeof(key), "%s.%s", inst ? inst : "?", action ? action : "?");
            const json_t *c = json_object_get(canned_defs, key);
            if (!json_is_object(c)) {
                snprintf(err, errlen,
                         "tools[%zu]: no instance %s here, and no answers.tools[\"%s\"] defines it",
                         i, inst ? inst : "?", key);
                json_decref(out);
                return NULL;
            }
            def = json_object();
            if (str_of(c, "description"))
                json_object_set(def, "description", json_object_get(c, "description"));
            const json_t *p = json_object_get(c, "parameters");
            json_object_set_new(def, "parameters",
                                json_is_object(p)
                                    ? json_deep_copy(p)
                                    : json_pack("{s:s,s:{}}", "type", "object", "properties"));
        }
        json_array_append_new(out, def);
    }
    return out;
}

static void sim_http(void *ud, run_turn *t, const json_t *request, uint32_t timeout_ms, run_cb cb)
{
    (void)timeout_ms;
    sim *s = ud;
    char key[2100], method[16];
    const char *m = str_of(request, "method") ? str_of(request, "method") : "GET";
    size_t i = 0;
    for (; m[i] && i < sizeof(method) - 1; i++)
        method[i] = (char)toupper((unsigned char)m[i]);
    method[i] = '\0';
    snprintf(key, sizeof(key), "%s %s", method,
             str_of(request, "url") ? str_of(request, "url") : "");
    const char *keys[] = {key, "http.request"};
    answer(s, t, cb, "http", keys, 2, request, true);
}

static void sim_load(void *ud, run_turn *t, const json_t *ref, run_cb cb)
{
    sim *s = ud;
    const char *scn = str_of(ref, "scenario_id");
    if (s->draft && scn && !strcmp(scn, SIM_DRAFT_ID)) { /* back to the draft */
        json_t *r = json_pack("{s:O?,s:O,s:O}", "agent_id", json_object_get(s->conv, "agent_id"),
                              "scenario", json_object_get(s->conv, "scenario"), "content", s->base);
        rt_tell_later(s->rt, t, cb, r, NULL, NULL);
        return;
    }
    char err[300] = "";
    json_t *r = rt_load_ref(s->rt, ref, err, sizeof(err));
    if (!r)
        rt_tell_later(s->rt, t, cb, NULL, "not_found", err);
    else
        rt_tell_later(s->rt, t, cb, r, NULL, NULL);
}

static void sim_delay(void *ud, run_turn *t, uint32_t ms, run_cb cb)
{
    sim *s = ud;
    json_array_append_new(s->calls, json_pack("{s:s,s:I}", "kind", "delay", "ms", (json_int_t)ms));
    rt_tell_later(s->rt, t, cb, NULL, NULL, NULL);
}

/* A step ran: its path entry (ours: the turn's path is the report's)
 * gets the variables after it, when it changed them. */
static void sim_log_step(void *ud, run_turn *t, const json_t *entry)
{
    sim *s = ud;
    const json_t *vars = json_object_get(t->conv, "variables");
    if (json_equal(vars, s->last_vars)) return;
    json_object_set_new((json_t *)entry, "variables", json_deep_copy(vars));
    json_decref(s->last_vars);
    s->last_vars = json_deep_copy(vars);
}

static void sim_missing_text(void *ud, run_turn *t, const char *path, const char *lang)
{
    (void)t;
    sim *s = ud;
    if (json_array_size(s->missing) < 100)
        json_array_append_new(s->missing, json_pack("{s:s,s:s}", "text", path, "language", lang));
}

void sim_env_init(sim *s)
{
    s->env = (run_env){.ud = s,
                       .eval = sim_eval,
                       .call = sim_call,
                       .tools = sim_tools,
                       .http = sim_http,
                       .load = sim_load,
                       .delay = sim_delay,
                       .log_step = sim_log_step,
                       .missing_text = sim_missing_text};
}
