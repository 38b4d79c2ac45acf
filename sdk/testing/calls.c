/*
 * calls.c - the fake host's answers to calls to other instances
 * (host->call, ABI 1.4): computed by aht_on_call, else canned by
 * aht_call_answer, else not_found; every call listed.
 */
#include "testing_priv.h"

#include <string.h>

static void call_out_cb(aht *t, job *j)
{
    const json_t *a = j->data;
    const json_t *err = json_object_get(a, "error");
    ah_call_cb cb = (ah_call_cb)j->cb;
    if (err)
        cb(&t->ctx, j->status ? j->status : AH_EIO, NULL,
           json_string_value(json_object_get(err, "code")) ?: "error",
           json_string_value(json_object_get(err, "message")) ?: "", j->ud);
    else
        cb(&t->ctx, AH_OK, json_object_get(a, "result") ?: json_null(), NULL, NULL, j->ud);
}

int aht_fake_call(ah_ctx *c, const char *instance, const char *action, const json_t *args,
                  uint32_t timeout_ms, ah_call_cb cb, void *ud)
{
    (void)timeout_ms;
    if (!instance || !action || !cb || (args && !json_is_object(args))) return AH_EINVAL;
    aht *t = c->t;
    json_t *a = args ? json_deep_copy(args) : json_object();
    json_array_append_new(t->out_calls, json_pack("{s:s,s:s,s:o}", "instance", instance, "action",
                                                  action, "args", a));
    if (t->call_fn) {
        json_t *ans = t->call_fn(t->call_ud, instance, action, a);
        if (ans) return aht_later(t, call_out_cb, (void *)cb, ud, 0, ans, 0);
    }
    size_t i;
    json_t *k;
    json_array_foreach(t->out_answers, i, k)
    {
        if (strcmp(json_string_value(json_object_get(k, "instance")), instance) ||
            strcmp(json_string_value(json_object_get(k, "action")), action))
            continue;
        json_t *ans = json_incref(json_object_get(k, "answer"));
        if (!json_is_true(json_object_get(k, "repeat"))) json_array_remove(t->out_answers, i);
        return aht_later(t, call_out_cb, (void *)cb, ud, 0, ans, 0);
    }
    return aht_later(t, call_out_cb, (void *)cb, ud, AH_ENOTFOUND,
                     json_pack("{s:{s:s,s:s}}", "error", "code", "not_found", "message",
                               "no canned answer (aht_call_answer, aht_on_call)"),
                     0);
}

int aht_call_answer(aht *t, const char *instance, const char *action, const char *answer_json,
                    int repeat)
{
    json_t *ans = answer_json ? json_loads(answer_json, JSON_DECODE_ANY, NULL) : NULL;
    if (!instance || !action || !json_is_object(ans) ||
        (!json_object_get(ans, "result") && !json_is_object(json_object_get(ans, "error")))) {
        json_decref(ans);
        return AH_EINVAL;
    }
    json_array_append_new(t->out_answers,
                          json_pack("{s:s,s:s,s:o,s:b}", "instance", instance, "action", action,
                                    "answer", ans, "repeat", repeat));
    return AH_OK;
}

void aht_on_call(aht *t, aht_call_fn fn, void *ud)
{
    t->call_fn = fn;
    t->call_ud = ud;
}

const json_t *aht_calls_made(const aht *t)
{
    return t->out_calls;
}
