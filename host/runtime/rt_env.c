/*
 * rt_env.c - what a turn's steps reach outside (run.h's run_env): jq in
 * the expression workers, plugin actions through the supervisor (a step's
 * own deadline on top of the plugin's), tools' definitions from manifests,
 * HTTP through the egress broker under engine.http_allow, other agents'
 * scenarios, backoff delays, and the logs and metrics of each step. Every
 * answer reaches the turn later, from the loop, exactly once.
 */
#include "runtime/rt_priv.h"

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "model/collections.h"
#include "model/ids.h"

#include <agenthost/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- one call out: answered once, by the outside or by the deadline ------------- */

typedef struct call_ctx {
    rt_link link; /* while its timer is open */
    runtime *rt;
    run_turn *t;
    run_cb cb;
    uv_timer_t timer;
    int refs;      /* the timer's close, the outside's answer */
    bool answered; /* the turn was told */
    bool timer_on;
    /* A plugin action: told to the turn as integration.called; a step
     * declaring emits (manifest steps[].emits) also as that event; one
     * declaring links_contact links the contact to the record it names. */
    char instance[64], action[64], plugin[64], emits[32], link_field[64];
    int64_t started_ms;
    json_t *rec; /* its record in the step's path entry (rt_record.c), or NULL */
    /* A streamed LLM call: where its partials go (runtime_watch_partials). */
    char chan_instance[64], chan_chat[128], stream[40];
    bool typing; /* an LLM call whose channel was told it runs (rt_typing) */
} call_ctx;

static void typing_told(void *ud, const json_t *result, const char *err_code, const char *message)
{
    (void)ud, (void)result, (void)err_code, (void)message;
}

/* Tell the channel instance of t's conversation that an LLM call runs
 * (on) or has answered (off), for a "typing" indicator: its action
 * "typing" ({chat_id, on}), when its manifest declares one. A hint: not
 * durable, not waited for, its failures ignored; a channel that misses
 * "off" stops by itself (docs/channels.md#typing). True when told. */
static bool rt_typing(runtime *rt, run_turn *t, bool on)
{
    const json_t *ch = json_object_get(t->conv, "channel");
    const char *name = json_string_value(json_object_get(ch, "instance"));
    const char *chat = json_string_value(json_object_get(ch, "chat_id"));
    instance *in = name && chat ? supervisor_find(rt->d.sup, name) : NULL;
    if (!in || rt->stopped) return false;
    size_t i;
    const json_t *a;
    bool declared = false;
    json_array_foreach(json_object_get(instance_manifest(in)->json, "actions"), i, a) declared |=
        json_string_value(json_object_get(a, "name")) &&
        !strcmp(json_string_value(json_object_get(a, "name")), "typing");
    if (!declared) return false;
    json_t *args = json_pack("{s:s,s:b}", "chat_id", chat, "on", on);
    char err[200];
    int rc =
        args ? instance_call(in, "typing", args, 10000, typing_told, NULL, err, sizeof(err)) : -1;
    json_decref(args);
    return rc == 0;
}

/* Its record (held until answered) goes with it: a call never answered
 * (refused, or cut off by a stop) leaves no record behind. */
static void ctx_free(call_ctx *c)
{
    json_decref(c->rec);
    free(c);
}

static void ctx_unref(call_ctx *c)
{
    if (--c->refs == 0) ctx_free(c);
}

static void timer_closed(uv_handle_t *h)
{
    ctx_unref(h->data);
}

static void ctx_stop_timer(call_ctx *c)
{
    if (!c->timer_on) return;
    c->timer_on = false;
    rt_link_del(&c->link);
    uv_close((uv_handle_t *)&c->timer, timer_closed);
}

/* runtime_free, with the outside gone: nothing refers to it any more. */
static void ctx_forced(uv_handle_t *h)
{
    ctx_free(h->data);
}

/* Tell the turn (once; never once the runtime has stopped). */
static void ctx_answer(call_ctx *c, const json_t *result, const char *error, const char *msg)
{
    if (c->answered) return;
    c->answered = true;
    ctx_stop_timer(c);
    rt_record_answer(c->rec, result, error, msg, ah_now_ms() - c->started_ms);
    c->rec = NULL;
    if (c->rt->stopped) return;
    if (c->typing) rt_typing(c->rt, c->t, false);
    if (c->instance[0])
        run_turn_integration(c->t, c->instance, c->action,
                             !error                      ? "ok"
                             : !strcmp(error, "timeout") ? "timeout"
                             : !strcmp(error, "config")  ? "refused"
                                                         : "error",
                             ah_now_ms() - c->started_ms, error, msg);
    if (c->emits[0] && !error) run_turn_emit(c->t, c->emits, c->plugin, c->instance, result);
    if (c->link_field[0] && !error)
        run_turn_link(c->t, c->plugin, c->instance, c->link_field, result);
    c->cb(c->t, result, error, msg);
}

static void deadline_fired(uv_timer_t *h)
{
    call_ctx *c = h->data;
    ctx_answer(c, NULL, "timeout", "no answer within the step's timeout_ms");
}

/* A context with a deadline (0: none) and two references: the caller
 * drops one when the outside answers (or will never answer). */
static call_ctx *ctx_new(runtime *rt, run_turn *t, run_cb cb, uint32_t deadline_ms)
{
    call_ctx *c = calloc(1, sizeof(*c));
    if (!c) abort(); /* the turn cannot be told otherwise; out of memory is fatal here */
    *c = (call_ctx){.rt = rt, .t = t, .cb = cb, .refs = 2};
    uv_timer_init(loop_uv(rt->d.loop), &c->timer);
    c->timer.data = c;
    c->timer_on = true;
    c->link.timer = &c->timer;
    c->link.closed = ctx_forced;
    rt_link_add(rt, &c->link);
    uv_timer_start(&c->timer, deadline_fired, deadline_ms ? deadline_ms : 0, 0);
    if (!deadline_ms) uv_timer_stop(&c->timer);
    return c;
}

/* An answer known now, told later (the turn expects callbacks from the loop). */
typedef struct later {
    rt_link link;
    runtime *rt;
    uv_timer_t timer;
    run_turn *t;
    run_cb cb;
    json_t *result;
    char *error, *message;
} later;

static void later_closed(uv_handle_t *h)
{
    later *l = h->data;
    json_decref(l->result);
    free(l->error);
    free(l->message);
    free(l);
}

static void later_fire(uv_timer_t *h)
{
    later *l = h->data;
    rt_link_del(&l->link);
    if (!l->rt->stopped) l->cb(l->t, l->result, l->error, l->message);
    uv_close((uv_handle_t *)h, later_closed);
}

static void tell_after(runtime *rt, run_turn *t, run_cb cb, uint32_t ms, json_t *result,
                       const char *error, const char *message)
{
    later *l = calloc(1, sizeof(*l));
    if (!l) abort();
    l->rt = rt;
    l->t = t;
    l->cb = cb;
    l->result = result;
    l->error = error ? strdup(error) : NULL;
    l->message = message ? strdup(message) : NULL;
    uv_timer_init(loop_uv(rt->d.loop), &l->timer);
    l->timer.data = l;
    l->link.timer = &l->timer;
    l->link.closed = later_closed;
    rt_link_add(rt, &l->link);
    uv_timer_start(&l->timer, later_fire, ms, 0);
}

void rt_tell_later(runtime *rt, run_turn *t, run_cb cb, json_t *result, const char *error,
                   const char *message)
{
    tell_after(rt, t, cb, 0, result, error, message);
}

/* A call that could not be made: told later, its context let go. */
static void ctx_refused(call_ctx *c, const char *error, const char *message)
{
    c->answered = true;
    ctx_stop_timer(c);
    rt_record_answer(c->rec, NULL, error, message, 0);
    c->rec = NULL;
    if (c->instance[0] && !c->rt->stopped)
        run_turn_integration(c->t, c->instance, c->action, "refused", 0, error, message);
    rt_tell_later(c->rt, c->t, c->cb, NULL, error, message);
    ctx_unref(c);
}

/* The turn's job ends, not committed; its input comes back from the bus
 * (rt_fail, retried). On the loop's next pass: out of the engine's call. */
static void retry_now(void *ud)
{
    rt_job *j = ud;
    rt_fail(j, true, AH_EBUSY, "not_ready", "%s", j->retry);
}

static void retry_dropped(void *ud)
{
    (void)ud; /* the runtime is gone, and the job with it */
}

/* A call refused for a while only (its instance starting or restarting):
 * the turn is not told (its step would fail, or a hook be skipped) but
 * ended, nothing of it kept, and tried again from its input. */
static void ctx_retry(call_ctx *c, const char *why)
{
    c->answered = true;
    ctx_stop_timer(c);
    rt_record_answer(c->rec, NULL, "not_ready", why, 0);
    c->rec = NULL;
    rt_job *j = c->t->ud;
    runtime *rt = c->rt;
    ctx_unref(c);
    if (j->retry[0]) return; /* already ending */
    snprintf(j->retry, sizeof(j->retry), "%s", why);
    if (rt_soon(rt, retry_now, retry_dropped, j) != 0) abort(); /* out of memory (as ctx_new) */
}

/* ---- jq --------------------------------------------------------------------------- */

static void eval_done(void *ud, const expr_result *r)
{
    call_ctx *c = ud;
    ctx_answer(c, r->outputs, r->error, r->message);
    ctx_unref(c);
}

static void env_eval(void *ud, run_turn *t, const char *program, const json_t *input, run_cb cb)
{
    runtime *rt = ud;
    char err[300] = "";
    if (!rt->d.expr) {
        rt_tell_later(rt, t, cb, NULL, "unavailable", "no expression workers are configured");
        return;
    }
    call_ctx *c = ctx_new(rt, t, cb, 0);
    int rc = expr_eval(rt->d.expr, program, input, NULL, NULL, eval_done, c, err, sizeof(err));
    if (rc)
        ctx_refused(c, rc == AH_EBUSY ? "busy" : rc == AH_EINVAL ? "invalid" : "unavailable", err);
}

/* ---- plugin actions ---------------------------------------------------------------- */

/* The instance to call for a step kind (or a named one), and the action. */
static instance *find_instance(runtime *rt, const char *kind, const char *name, const char **action,
                               const json_t **decl, char *err, size_t errlen)
{
    instance *found = NULL;
    if (name) {
        found = supervisor_find(rt->d.sup, name);
        if (!found) {
            snprintf(err, errlen, "no plugin instance %s", name);
            return NULL;
        }
    }
    if (!kind) return found;
    size_t n = supervisor_count(rt->d.sup), matches = 0;
    for (size_t i = 0; i < n; i++) {
        instance *in = supervisor_at(rt->d.sup, i);
        if (found && in != found) continue;
        const manifest *m = instance_manifest(in);
        size_t k;
        const json_t *st;
        json_array_foreach(json_object_get(m->json, "steps"), k, st)
        {
            if (!str_of(st, "kind") || strcmp(str_of(st, "kind"), kind) != 0) continue;
            *action = str_of(st, "action");
            *decl = st;
            if (!found || in == found) {
                if (!name) matches++;
                if (!name && matches > 1) {
                    snprintf(err, errlen,
                             "several instances declare %s: name the one to call (instance)", kind);
                    return NULL;
                }
                found = in;
            }
        }
    }
    if (!found || !*action) {
        snprintf(err, errlen, "no plugin instance declares the step kind %s", kind);
        return NULL;
    }
    return found;
}

static void call_done(void *ud, const json_t *result, const char *err_code, const char *message)
{
    call_ctx *c = ud;
    ctx_answer(c, result, err_code, message);
    ctx_unref(c);
}

static void call_partial(void *ud, const json_t *partial)
{
    call_ctx *c = ud;
    runtime *rt = c->rt;
    if (rt->partials && !c->answered)
        rt->partials(rt->partials_ud, c->chan_instance, c->chan_chat, c->stream, partial);
}

/* Whether an LLM chat call of t's conversation streams: its channel's kind
 * is watched. Then c knows where the partials go. */
static bool wants_stream(runtime *rt, run_turn *t, const char *act, const json_t *args, call_ctx *c)
{
    const json_t *ch = json_object_get(t->conv, "channel");
    const char *kind = json_string_value(json_object_get(ch, "kind"));
    if (!rt->partials || !kind || strcmp(kind, rt->partials_kind) != 0 || !act ||
        strcmp(act, "chat") != 0 || !json_is_array(json_object_get(args, "messages")))
        return false;
    snprintf(c->chan_instance, sizeof(c->chan_instance), "%s",
             json_string_value(json_object_get(ch, "instance")) ?: "");
    snprintf(c->chan_chat, sizeof(c->chan_chat), "%s",
             json_string_value(json_object_get(ch, "chat_id")) ?: "");
    snprintf(c->stream, sizeof(c->stream), "st%llu", (unsigned long long)++rt->streams);
    return true;
}

void runtime_watch_partials(runtime *rt, const char *kind, runtime_partial_fn fn, void *ud)
{
    rt->partials = fn;
    rt->partials_ud = ud;
    snprintf(rt->partials_kind, sizeof(rt->partials_kind), "%s", kind ? kind : "");
}

static void env_call(void *ud, run_turn *t, const char *kind, const char *inst_name,
                     const char *action, const json_t *args, uint32_t timeout_ms, run_cb cb)
{
    runtime *rt = ud;
    char err[300] = "";
    const char *act = action;
    const json_t *decl = NULL;
    instance *in = find_instance(rt, kind, inst_name, &act, &decl, err, sizeof(err));
    char key[200];
    snprintf(key, sizeof(key), "%s%s%s",
             kind        ? kind
             : in        ? instance_id(in)
             : inst_name ? inst_name
                         : "",
             kind ? "" : ".",
             kind  ? ""
             : act ? act
                   : "");
    json_t *rec = rt_record_call(t, key, in ? instance_id(in) : inst_name, act, args);
    if (!in) {
        rt_record_answer(rec, NULL, "config", err, 0);
        rt_tell_later(rt, t, cb, NULL, "config", err);
        return;
    }
    call_ctx *c = ctx_new(rt, t, cb, timeout_ms);
    snprintf(c->instance, sizeof(c->instance), "%s", instance_id(in));
    snprintf(c->action, sizeof(c->action), "%s", act ? act : "");
    if (str_of(decl, "emits")) snprintf(c->emits, sizeof(c->emits), "%s", str_of(decl, "emits"));
    if (str_of(decl, "links_contact"))
        snprintf(c->link_field, sizeof(c->link_field), "%s", str_of(decl, "links_contact"));
    if (c->emits[0] || c->link_field[0])
        snprintf(c->plugin, sizeof(c->plugin), "%s", str_of(instance_manifest(in)->json, "name"));
    c->started_ms = ah_now_ms();
    c->rec = rec;
    if (kind && !strcmp(kind, "llm.chat")) c->typing = rt_typing(rt, t, true);
    int rc;
    if (wants_stream(rt, t, act, args, c)) {
        json_t *streamed = json_deep_copy(args);
        json_object_set_new(streamed, "stream", json_true());
        rc = instance_call_streamed(in, act, streamed, 0, NULL, call_partial, call_done, c, err,
                                    sizeof(err));
        json_decref(streamed);
    } else {
        rc = instance_call(in, act, args, 0, call_done, c, err, sizeof(err));
    }
    if (rc != 0) {
        /* err is "code: message" */
        char code[40] = "unavailable";
        const char *colon = strchr(err, ':');
        if (colon && (size_t)(colon - err) < sizeof(code)) {
            memcpy(code, err, (size_t)(colon - err));
            code[colon - err] = '\0';
        }
        /* An instance starting (after a restart, say) or about to restart
         * answers soon: the turn is tried again then, not failed. */
        instance_state st = instance_get_state(in);
        if (!strcmp(code, "not_ready") && (st == INST_STARTING || st == INST_BACKOFF)) {
            ctx_retry(c, err);
            return;
        }
        ctx_refused(c, code, colon && colon[1] ? colon + 2 : err);
    }
}

static json_t *env_tools(void *ud, run_turn *t, const json_t *tools, char *err, size_t errlen)
{
    (void)t;
    runtime *rt = ud;
    json_t *out = json_array();
    size_t i;
    const json_t *tool;
    json_array_foreach(tools, i, tool)
    {
        const char *name = str_of(tool, "instance"), *action = str_of(tool, "action");
        instance *in = name ? supervisor_find(rt->d.sup, name) : NULL;
        const json_t *def = NULL, *a;
        size_t k;
        json_array_foreach(in ? json_object_get(instance_manifest(in)->json, "actions") : NULL, k,
                           a) if (action && str_of(a, "name") && !strcmp(str_of(a, "name"), action))
            def = a;
        if (!def) {
            snprintf(err, errlen, "tools[%zu]: %s has no action %s", i, name ? name : "?",
                     action ? action : "?");
            json_decref(out);
            return NULL;
        }
        json_t *f = json_object();
        if (str_of(def, "description"))
            json_object_set(f, "description", json_object_get(def, "description"));
        const json_t *params = json_object_get(def, "args");
        json_object_set_new(f, "parameters",
                            json_is_object(params)
                                ? json_deep_copy(params)
                                : json_pack("{s:s,s:{}}", "type", "object", "properties"));
        json_array_append_new(out, f);
    }
    return out;
}

/* ---- HTTP --------------------------------------------------------------------------- */

static void http_answer(void *ud, json_t *answer)
{
    call_ctx *c = ud;
    const json_t *e = json_object_get(answer, "error");
    if (e) {
        ctx_answer(c, NULL, str_of(e, "code") ? str_of(e, "code") : "failed", str_of(e, "message"));
    } else {
        json_t *r = json_pack("{s:O?,s:O?}", "status", json_object_get(answer, "status"), "headers",
                              json_object_get(answer, "headers"));
        const char *body = str_of(answer, "body");
        json_t *parsed = body && *body ? json_loads(body, JSON_DECODE_ANY, NULL) : NULL;
        json_object_set_new(r, "body", parsed ? parsed : json_string(body ? body : ""));
        ctx_answer(c, r, NULL, NULL);
        json_decref(r);
    }
    json_decref(answer);
    ctx_unref(c);
}

static void http_partial(void *ud, json_t *chunk)
{
    (void)ud;
    json_decref(chunk);
}

static bool http_live(void *ud)
{
    return !((call_ctx *)ud)->answered;
}

static void http_dropped(void *ud)
{
    call_ctx *c = ud;
    ctx_answer(c, NULL, "unavailable", "the request was dropped");
    ctx_unref(c);
}

static const egress_sink HTTP_SINK = {http_answer, http_partial, http_live, http_dropped};

static void env_http(void *ud, run_turn *t, const json_t *request, uint32_t timeout_ms, run_cb cb)
{
    runtime *rt = ud;
    if (!rt->d.egress) {
        rt_tell_later(rt, t, cb, NULL, "unavailable", "no egress broker");
        return;
    }
    json_t *req =
        json_pack("{s:O,s:O,s:[],s:I}", "method", json_object_get(request, "method"), "url",
                  json_object_get(request, "url"), "headers", "timeout_ms", (json_int_t)timeout_ms);
    json_t *headers = json_object_get(req, "headers");
    const char *k;
    const json_t *v;
    bool typed = false;
    json_object_foreach((json_t *)json_object_get(request, "headers"), k, v)
    {
        if (!json_is_string(v)) continue;
        typed |= !strcasecmp(k, "content-type");
        json_array_append_new(headers, json_sprintf("%s: %s", k, json_string_value(v)));
    }
    const json_t *body = json_object_get(request, "body");
    if (json_is_string(body)) {
        json_object_set(req, "body", (json_t *)body);
    } else if (body) {
        char *s = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        json_object_set_new(req, "body", json_string(s ? s : "null"));
        free(s);
        if (!typed) json_array_append_new(headers, json_string("Content-Type: application/json"));
    }
    call_ctx *c = ctx_new(rt, t, cb, 0);
    char key[600];
    snprintf(key, sizeof(key), "%s %s",
             str_of(request, "method") ? str_of(request, "method") : "GET",
             str_of(request, "url") ? str_of(request, "url") : "");
    c->started_ms = ah_now_ms();
    c->rec = rt_record_call(t, key, NULL, NULL, json_object_get(request, "body"));
    broker_request(rt->d.egress, &rt->http_client, req, NULL, &HTTP_SINK, c);
    json_decref(req);
}

/* ---- other agents' scenarios ------------------------------------------------------------- */

typedef struct load_arg {
    runtime *rt;
    const json_t *ref;
    json_t *result;
    char err[300];
} load_arg;

static int load_ref(doc_txn *t, void *ud)
{
    load_arg *a = ud;
    const char *agent = str_of(a->ref, "agent");
    json_t *doc = NULL;
    const char *scn = str_of(a->ref, "scenario_id");
    json_int_t version = json_integer_value(json_object_get(a->ref, "version"));
    char id[64] = "";
    if (agent) {
        int rc = 0;
        snprintf(id, sizeof(id), "%s", agent);
        if (!id_valid(agent, "agt")) {
            json_t *v = json_pack("[s]", agent);
            rc = doc_find(t, COLL_AGENTS, "by_name", v, id, sizeof(id));
            json_decref(v);
        }
        if (!rc) rc = doc_get(t, COLL_AGENTS, id, &doc, NULL);
        if (rc) {
            snprintf(a->err, sizeof(a->err), "no agent %s", agent);
            return AH_ENOTFOUND;
        }
        scn = str_of(json_object_get(doc, "scenario"), "scenario_id");
        version = json_integer_value(json_object_get(json_object_get(doc, "scenario"), "version"));
    }
    if (!scn) {
        snprintf(a->err, sizeof(a->err), "agent %s runs no scenario", agent ? agent : "?");
        json_decref(doc);
        return AH_ENOTFOUND;
    }
    (void)t;
    a->result = json_pack("{s:s?,s:{s:s,s:I}}", "agent_id", id[0] ? id : NULL, "scenario",
                          "scenario_id", scn, "version", version);
    json_decref(doc);
    return 0;
}

json_t *rt_load_ref(runtime *rt, const json_t *ref, char *err, size_t errlen)
{
    load_arg a = {.rt = rt, .ref = ref};
    doc_error e;
    if (docs_read(rt->d.docs, load_ref, &a, &e) != 0) {
        snprintf(err, errlen, "%s", a.err[0] ? a.err : e.message);
        return NULL;
    }
    json_t *s = json_object_get(a.result, "scenario");
    json_int_t version = json_integer_value(json_object_get(s, "version"));
    const json_t *content = rt_scenario(rt, str_of(s, "scenario_id"), &version, err, errlen);
    if (!content) {
        json_decref(a.result);
        return NULL;
    }
    json_object_set_new(s, "version", json_integer(version));
    json_object_set(a.result, "content", (json_t *)content);
    return a.result;
}

static void env_load(void *ud, run_turn *t, const json_t *ref, run_cb cb)
{
    runtime *rt = ud;
    char err[300] = "";
    json_t *r = rt_load_ref(rt, ref, err, sizeof(err));
    if (!r)
        rt_tell_later(rt, t, cb, NULL, "not_found", err);
    else
        rt_tell_later(rt, t, cb, r, NULL, NULL);
}

/* ---- delays, logs, metrics ------------------------------------------------------------- */

static void env_delay(void *ud, run_turn *t, uint32_t ms, run_cb cb)
{
    tell_after(ud, t, cb, ms, NULL, NULL, NULL);
}

/* A hook called (run_hooks.c): events.log; a failed one at warn level. */
static void log_hook(run_turn *t, const json_t *entry)
{
    const char *agent = str_of(t->conv, "agent_id");
    const json_t *err = json_object_get(entry, "error");
    json_t *f = json_deep_copy(entry);
    json_object_set_new(f, "agent_id", json_string(agent ? agent : "-"));
    if (str_of(t->conv, "id"))
        json_object_set_new(f, "conversation_id", json_string(str_of(t->conv, "id")));
    log_write("events", err ? LOG_WARN : LOG_INFO, "engine", NULL, f,
              err ? "hook failed, skipped" : "hook");
    json_decref(f);
    char labels[300];
    metrics_labels(labels, sizeof(labels), "agent", agent ? agent : "-", "point",
                   str_of(entry, "point"), "result", err ? "error" : "ok", NULL);
    metrics_counter_add("agenthost_engine_hooks_total", labels, 1);
}

static void env_log_step(void *ud, run_turn *t, const json_t *entry)
{
    (void)ud;
    if (json_object_get(entry, "hook")) {
        log_hook(t, entry);
        return;
    }
    rt_record_vars(t->ud, (json_t *)entry); /* for the replay, not the log */
    const char *agent = str_of(t->conv, "agent_id"), *kind = str_of(entry, "kind");
    const json_t *err = json_object_get(entry, "error");
    json_t *f = json_pack(
        "{s:s?,s:s?,s:O,s:O,s:O?,s:O?,s:O?,s:O?}", "agent_id", agent, "conversation_id",
        str_of(t->conv, "id"), "step", json_object_get(entry, "step"), "kind",
        json_object_get(entry, "kind"), "ms", json_object_get(entry, "ms"), "attempt",
        json_object_get(entry, "attempt"), "next", json_object_get(entry, "next"), "error", err);
    log_write("events", LOG_INFO, "engine", NULL, f, "step");
    json_decref(f);
    char labels[300];
    metrics_labels(labels, sizeof(labels), "agent", agent ? agent : "-", "step",
                   str_of(entry, "step"), "kind", kind ? kind : "-", "result", err ? "error" : "ok",
                   NULL);
    metrics_counter_add("agenthost_engine_steps_total", labels, 1);
    metrics_labels(labels, sizeof(labels), "agent", agent ? agent : "-", "kind", kind ? kind : "-",
                   NULL);
    metrics_observe("agenthost_engine_step_seconds", labels,
                    json_number_value(json_object_get(entry, "ms")) / 1000.0);
}

static void env_missing_text(void *ud, run_turn *t, const char *path, const char *lang)
{
    runtime *rt = ud;
    const json_t *scn = json_object_get(t->conv, "scenario");
    char key[400];
    snprintf(key, sizeof(key), "%s:%lld:%s@%s", str_of(scn, "scenario_id"),
             (long long)json_integer_value(json_object_get(scn, "version")), path, lang);
    if (strmap_get(&rt->told, key) || rt->told.n >= 10000) return;
    strmap_put(&rt->told, key, (void *)1);
    json_t *f = json_pack("{s:O?,s:s,s:s}", "scenario", scn, "text", path, "language", lang);
    log_write("locale_errors", LOG_WARN, "engine", NULL, f,
              "no text in %s: the default language's was sent", lang);
    json_decref(f);
}

void rt_env_init(runtime *rt)
{
    rt->env = (run_env){.ud = rt,
                        .eval = env_eval,
                        .call = env_call,
                        .tools = env_tools,
                        .http = env_http,
                        .load = env_load,
                        .delay = env_delay,
                        .log_step = env_log_step,
                        .missing_text = env_missing_text};
}
