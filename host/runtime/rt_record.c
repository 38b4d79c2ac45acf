/*
 * rt_record.c - what a turn did, recorded for its replay (GET
 * /api/v1/conversations/{id}/replay): the plugin calls and HTTP requests
 * each step made with their answers, the variables after each step that
 * changed them, and the whole turn as one "turn.recorded" event on
 * RT_TURNS_TOPIC, keyed by the conversation and committed with the turn
 * (rt_commit.c). Values past RT_RECORD_VALUE_MAX bytes are recorded as
 * {"truncated": true, "bytes": n}; a whole record past RT_RECORD_TURN_MAX
 * is reduced (fit). See rt_priv.h.
 */
#include "runtime/rt_priv.h"

#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* v, or what stands for it when it is too large (a new reference). */
static json_t *bounded(const json_t *v)
{
    if (!v) return json_null();
    size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    if (n <= RT_RECORD_VALUE_MAX) return json_deep_copy(v);
    return json_pack("{s:b,s:I}", "truncated", 1, "bytes", (json_int_t)n);
}

json_t *rt_record_call(run_turn *t, const char *key, const char *inst, const char *action,
                       const json_t *args)
{
    json_t *entry = json_array_get(t->path, json_array_size(t->path) - 1);
    if (!entry || json_object_get(entry, "ms")) return NULL; /* no step open: a hook's call */
    json_t *calls = json_object_get(entry, "calls");
    if (!calls) json_object_set_new(entry, "calls", calls = json_array());
    if (json_array_size(calls) >= RT_RECORD_CALLS_MAX) return NULL;
    json_t *rec = json_pack("{s:s,s:s?,s:s?,s:o}", "key", key, "instance", inst, "action", action,
                            "args", bounded(args));
    json_array_append_new(calls, rec);
    return json_incref(rec);
}

void rt_record_answer(json_t *rec, const json_t *result, const char *error, const char *message,
                      int64_t ms)
{
    if (!rec) return;
    if (error)
        json_object_set_new(
            rec, "error", json_pack("{s:s,s:s}", "code", error, "message", message ? message : ""));
    else
        json_object_set_new(rec, "result", bounded(result));
    json_object_set_new(rec, "ms", json_integer(ms > 0 ? (json_int_t)ms : 0));
    json_decref(rec);
}

void rt_record_vars(rt_job *j, json_t *entry)
{
    const json_t *vars = json_object_get(j->conv, "variables");
    if (!vars || json_equal(vars, j->last_vars)) return;
    json_object_set_new(entry, "variables", bounded(vars));
    json_decref(j->last_vars);
    j->last_vars = json_deep_copy(vars);
}

static size_t size_of(const json_t *v)
{
    return json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* A record past RT_RECORD_TURN_MAX loses its steps' variables and calls'
 * arguments and answers (each call's key and outcome kept), then, still too
 * large, its texts: "reduced" says so. A record never fails its turn's
 * commit for being too large. */
static json_t *fit(json_t *e)
{
    if (size_of(e) <= RT_RECORD_TURN_MAX) return e;
    json_t *path = json_deep_copy(json_object_get(e, "path"));
    size_t i, k;
    json_t *entry, *call;
    json_array_foreach(path, i, entry)
    {
        json_object_del(entry, "variables");
        json_array_foreach(json_object_get(entry, "calls"), k, call)
        {
            json_object_del(call, "args");
            json_object_del(call, "result");
        }
    }
    json_object_set_new(e, "path", path);
    json_object_del(e, "variables_in");
    json_object_set_new(e, "reduced", json_string("variables, arguments and answers"));
    if (size_of(e) <= RT_RECORD_TURN_MAX) return e;
    json_object_set_new(e, "messages", json_array());
    json_object_del(e, "input");
    json_object_set_new(e, "reduced", json_string("variables, arguments, answers and texts"));
    return e;
}

static const char *wake_name(run_wake w)
{
    static const char *const names[] = {"start", "message", "timer", "resume"};
    return names[w];
}

json_t *rt_record_turn(rt_job *j, const char *at)
{
    run_turn *t = &j->turn;
    json_t *e = json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:O?,s:s,s:O,s:s?,s:O?}", "type",
                          "turn.recorded", "event_version", 1, "at", at, "conversation_id",
                          j->conv_id, "agent_id", j->agent_id, "contact_id", j->contact_id,
                          "scenario", json_object_get(j->conv, "scenario"), "wake",
                          wake_name(t->wake), "path", t->path, "state", str_of(j->conv, "state"),
                          "step", json_object_get(j->conv, "current_step"));
    if (t->wake == RUN_WAKE_MESSAGE || (t->wake == RUN_WAKE_START && j->input)) {
        json_t *in = json_object();
        static const char *const keep[] = {"text", "payload", "command"};
        for (int i = 0; i < 3; i++)
            if (json_object_get(j->input, keep[i]))
                json_object_set_new(in, keep[i], bounded(json_object_get(j->input, keep[i])));
        json_object_set_new(e, "input", in);
    }
    if (t->wake == RUN_WAKE_START) json_object_set_new(e, "variables_in", bounded(j->vars));
    json_t *out = json_array();
    size_t i;
    const json_t *m;
    json_array_foreach(t->messages, i, m)
    {
        json_t *o = json_pack("{s:O?,s:O?}", "text", json_object_get(m, "text"), "step",
                              json_object_get(m, "step"));
        if (json_array_size(json_object_get(m, "buttons")))
            json_object_set(o, "buttons", json_object_get(m, "buttons"));
        json_array_append_new(out, o);
    }
    json_object_set_new(e, "messages", out);
    if (str_of(j->conv, "outcome"))
        json_object_set(e, "outcome", json_object_get(j->conv, "outcome"));
    if (j->error[0]) json_object_set_new(e, "error", json_string(j->error));
    return fit(e);
}
