/*
 * runtime.c - the runtime's jobs: each runs one turn of one conversation,
 * one job at a time per conversation (the others wait in its queue, in
 * order), and ends exactly once. See runtime.h.
 */
#include "runtime/rt_priv.h"

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "model/ids.h"

#include <agenthost/plugin.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- jobs -------------------------------------------------------------------- */

rt_job *rt_job_new(runtime *rt, rt_kind kind)
{
    rt_job *j = calloc(1, sizeof(*j));
    if (!j) return NULL;
    j->rt = rt;
    j->kind = kind;
    j->started_ns = ah_mono_ns();
    return j;
}

static void drop_loaded(rt_job *j)
{
    json_decref(j->agent);
    json_decref(j->contact);
    json_decref(j->conv);
    json_decref(j->scenario);
    json_decref(j->sent);
    json_decref(j->unlinked);
    j->agent = j->contact = j->conv = j->scenario = j->sent = j->unlinked = NULL;
    j->link_turn = j->links_changed = false;
}

void rt_job_free(rt_job *j)
{
    if (!j) return;
    drop_loaded(j);
    run_turn_clear(&j->turn);
    json_decref(j->msg);
    json_decref(j->input);
    json_decref(j->identity);
    json_decref(j->vars);
    json_decref(j->trigger);
    json_decref(j->ended);
    json_decref(j->exp_base);
    json_decref(j->last_vars);
    json_decref(j->ended_exp_base);
    free(j);
}

bool rt_busy_has(runtime *rt, const char *conv_id)
{
    return strmap_get(&rt->busy, conv_id) != NULL;
}

static const char *kind_name(rt_kind k)
{
    static const char *const names[] = {"message", "start", "timer", "resume", "drop"};
    return names[k];
}

/* ---- what the loop may call back ----------------------------------------------------- */

void rt_link_add(runtime *rt, rt_link *l)
{
    l->next = rt->handles.next;
    l->prev = &rt->handles;
    rt->handles.next->prev = l;
    rt->handles.next = l;
}

void rt_link_del(rt_link *l)
{
    if (!l->next) return;
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->next = l->prev = NULL;
}

/* ---- on the next loop pass ------------------------------------------------------- */

typedef struct soon {
    rt_link link;
    uv_timer_t timer;
    void (*fn)(void *ud);
    void (*drop)(void *ud);
    void *ud;
} soon;

static void soon_closed(uv_handle_t *h)
{
    free(h->data);
}

static void soon_dropped(uv_handle_t *h) /* runtime_free: never run */
{
    soon *s = h->data;
    s->drop(s->ud);
    free(s);
}

static void soon_run(uv_timer_t *h)
{
    soon *s = h->data;
    rt_link_del(&s->link);
    s->fn(s->ud);
    uv_close((uv_handle_t *)h, soon_closed);
}

int rt_soon(runtime *rt, void (*fn)(void *ud), void (*drop)(void *ud), void *ud)
{
    soon *s = calloc(1, sizeof(*s));
    if (!s) return -1;
    *s = (soon){.fn = fn, .drop = drop, .ud = ud};
    uv_timer_init(loop_uv(rt->d.loop), &s->timer);
    s->timer.data = s;
    s->link.timer = &s->timer;
    s->link.closed = soon_dropped;
    rt_link_add(rt, &s->link);
    uv_timer_start(&s->timer, soon_run, 0, 0);
    return 0;
}

/* ---- ending --------------------------------------------------------------------- */

static void release(rt_job *j);

void rt_finish(rt_job *j, int status, const char *code, const char *message)
{
    runtime *rt = j->rt;
    const char *state = json_string_value(json_object_get(j->conv, "state"));
    runtime_outcome o = {.status = status,
                         .error = status ? (code ? code : "failed") : NULL,
                         .message = status ? message : NULL,
                         .conversation_id = j->conv_id[0] ? j->conv_id : NULL,
                         .contact_id = j->contact_id[0] ? j->contact_id : NULL,
                         .state = status ? NULL : state,
                         .stop = status || !j->ran      ? NULL
                                 : j->stop == RUN_ENDED ? "ended"
                                 : j->stop == RUN_IDLE  ? "idle"
                                                        : "waiting",
                         .messages = j->sent,
                         .conversation = status ? NULL : j->conv};
    if (!rt->stopped) { /* once stopped, the API that asked is gone */
        if (j->cb) j->cb(j->cb_ud, &o);
        rt_waiter_answer(j, &o);
    }

    char labels[200];
    const char *agent = j->agent_id[0] ? j->agent_id : "-";
    metrics_labels(labels, sizeof(labels), "agent", agent, "kind", kind_name(j->kind), "result",
                   status ? (code ? code : "failed") : (j->error[0] ? "error" : "ok"), NULL);
    metrics_counter_add("agenthost_engine_turns_total", labels, 1);
    if (!status) {
        metrics_labels(labels, sizeof(labels), "agent", agent, NULL);
        metrics_observe("agenthost_engine_turn_seconds", labels,
                        (double)(ah_mono_ns() - j->started_ns) / 1e9);
    }
    if (j->error[0] || (status && j->ran)) {
        json_t *f = json_pack("{s:s,s:s?,s:s?,s:s}", "agent_id", agent, "conversation_id",
                              j->conv_id[0] ? j->conv_id : NULL, "step",
                              json_string_value(json_object_get(j->conv, "current_step")), "turn",
                              kind_name(j->kind));
        log_write("engine", LOG_ERROR, "engine", NULL, f, "%s",
                  j->error[0] ? j->error : (message ? message : code));
        json_decref(f);
    }
    if (j->ran) rt->running--;
    rt_link_del(&j->link);
    release(j);
}

void rt_fail(rt_job *j, bool retry, int status, const char *code, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (j->delivery && !j->rt->stopped) { /* stopped: delivered again after a restart */
        if (retry)
            bus_nack(j->rt->d.bus, j->delivery, msg, 1000);
        else
            bus_ack(j->rt->d.bus, j->delivery);
        j->delivery = 0;
    }
    if (!retry && (!strcmp(code, "dropped") || !strcmp(code, "flooded"))) {
        json_t *f = json_pack("{s:s,s:s}", "turn", kind_name(j->kind), "reason", msg);
        log_write("events", LOG_INFO, "engine", NULL, f, "input dropped");
        json_decref(f);
        char labels[120];
        metrics_labels(labels, sizeof(labels), "turn", kind_name(j->kind), NULL);
        metrics_counter_add("agenthost_engine_dropped_total", labels, 1);
    }
    rt_finish(j, status, code, msg);
}

/* ---- one at a time per conversation ------------------------------------------------- */

static void turn_done(run_turn *t, run_stop stop, const char *error)
{
    rt_job *j = t->ud;
    if (j->rt->stopped) return; /* left for runtime_free: its input comes back after a restart */
    j->stop = stop;
    snprintf(j->error, sizeof(j->error), "%s", error ? error : "");
    rt_commit(j);
}

static void run_job(rt_job *j)
{
    runtime *rt = j->rt;
    static const run_wake wakes[] = {RUN_WAKE_MESSAGE, RUN_WAKE_START, RUN_WAKE_TIMER,
                                     RUN_WAKE_RESUME};
    run_turn *t = &j->turn;
    run_turn_clear(t);
    t->scenario = j->scenario;
    t->conv = j->conv;
    t->contact = j->contact;
    t->agent = j->agent;
    t->wake = wakes[j->kind];
    if (j->kind == JOB_START && j->new_conv) t->wake = RUN_WAKE_START;
    if (j->kind == JOB_MESSAGE && j->new_conv) t->wake = RUN_WAKE_START;
    t->input = j->input;
    t->timer_step = json_string_value(
        json_object_get(json_object_get(json_object_get(j->conv, "engine"), "timer"), "step"));
    t->now_ms = ah_now_ms();
    t->env = &rt->env;
    t->done = turn_done;
    t->ud = j;
    json_decref(j->last_vars);
    j->last_vars = json_deep_copy(json_object_get(j->conv, "variables"));
    j->ran = true;
    rt->running++;
    rt_link_add(rt, &j->link);
    if (j->link_turn) { /* linked from another channel: the conversation goes on here */
        rt_link_turn(j);
        turn_done(t, RUN_WAITING, NULL);
        return;
    }
    run_turn_start(t);
}

void rt_submit(rt_job *j)
{
    runtime *rt = j->rt;
    if (rt->stopped) {
        rt_fail(j, true, AH_ECLOSED, "unavailable", "the engine is stopping");
        return;
    }
    if (j->kind == JOB_DROP) {
        char why[sizeof(j->error)];
        snprintf(why, sizeof(why), "%s", j->error);
        j->error[0] = '\0';
        rt_fail(j, false, AH_EINVAL, "flooded", "%s", why);
        return;
    }
    drop_loaded(j);
    if (rt_load(j) != 0) return;
    rt_busy *b = strmap_get(&rt->busy, j->conv_id);
    if (b) {
        uint32_t max = rt->o.queue_per_conv ? rt->o.queue_per_conv : 100;
        if (b->n >= max) {
            /* The input stays on the bus, durable, and comes back later. */
            rt_fail(j, true, AH_EBUSY, "busy",
                    "conversation %s has %u turns waiting already (engine.queue_per_conversation)",
                    j->conv_id, (unsigned)b->n);
            return;
        }
        j->next = NULL;
        if (b->tail)
            b->tail->next = j;
        else
            b->head = j;
        b->tail = j;
        b->n++;
        rt->queued++;
        return;
    }
    b = calloc(1, sizeof(*b));
    if (!b || strmap_put(&rt->busy, j->conv_id, b) != 0) {
        free(b);
        rt_fail(j, true, AH_ENOMEM, "unavailable", "out of memory");
        return;
    }
    run_job(j);
}

/* j ends: its conversation is free for the next job waiting, which loads
 * again (the conversation has changed) and runs. */
static void release(rt_job *j)
{
    runtime *rt = j->rt;
    rt_busy *b = NULL;
    bool held = j->ran; /* only a job that ran holds its conversation */
    if (held) b = strmap_del(&rt->busy, j->conv_id);
    rt_job_free(j);
    if (!b) return;
    rt_job *q = b->head;
    free(b);
    while (q) {
        rt_job *next = q->next;
        q->next = NULL;
        rt->queued--;
        rt_submit(q);
        q = next;
    }
}

/* ---- the face ----------------------------------------------------------------------- */

int runtime_new(runtime **out, const runtime_deps *deps, const runtime_opts *o, char *err,
                size_t errlen)
{
    *out = NULL;
    runtime *rt = calloc(1, sizeof(*rt));
    if (!rt) {
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    rt->d = *deps;
    if (o) rt->o = *o;
    rt->handles.next = rt->handles.prev = &rt->handles;
    strmap_init(&rt->busy);
    strmap_init(&rt->waiters);
    strmap_init(&rt->flood);
    strmap_init(&rt->firing);
    strmap_init(&rt->evtrgs);
    strmap_init(&rt->scenarios);
    strmap_init(&rt->told);
    strmap_init(&rt->sessions);
    if (rt->o.http_allow && json_array_size(rt->o.http_allow)) {
        char why[300] = "";
        if (policy_compile(&rt->http_pol, NULL, NULL, NULL, rt->o.http_allow, why, sizeof(why))) {
            snprintf(err, errlen, "engine.http_allow: %s", why);
            runtime_free(rt);
            return AH_EINVAL;
        }
        rt->http_client.pol = &rt->http_pol;
    } else {
        rt->http_client.refusal = "no destination is allowed: add it to engine.http_allow";
    }
    rt->http_client.id = "engine";
    rt->http_client.name = "http.request";
    rt_env_init(rt);
    metrics_describe("agenthost_engine_turns_total", METRIC_COUNTER,
                     "Turns run, by agent, what woke them and how they ended");
    metrics_describe("agenthost_engine_turn_seconds", METRIC_HISTOGRAM,
                     "A turn from its input to its commit");
    metrics_describe("agenthost_engine_steps_total", METRIC_COUNTER,
                     "Steps run, by agent, step, kind and result");
    metrics_describe("agenthost_engine_step_seconds", METRIC_HISTOGRAM,
                     "How long steps took, by agent and kind");
    metrics_describe("agenthost_engine_hooks_total", METRIC_COUNTER,
                     "Hooks called, by agent, point and result (a failed one is skipped)");
    metrics_describe("agenthost_engine_conversations_started_total", METRIC_COUNTER,
                     "Conversations started, by agent");
    metrics_describe("agenthost_engine_conversations_ended_total", METRIC_COUNTER,
                     "Conversations ended, by agent and outcome");
    metrics_describe("agenthost_engine_dropped_total", METRIC_COUNTER,
                     "Inputs dropped (no agent bound, an agent paused, a flood), by turn kind");
    *out = rt;
    return 0;
}

int runtime_start(runtime *rt, char *err, size_t errlen)
{
    int rc = rt_inbox_open(rt, err, errlen);
    if (rc) return rc;
    if ((rc = rt_events_start(rt, err, errlen)) != 0) return rc;
    rt_timers_start(rt);
    return 0;
}

/* Tell an API caller the turn will not end now (its input, if any, stays
 * on the bus). */
static void tell_stopping(rt_job *j)
{
    if (!j->cb) return;
    runtime_outcome o = {.status = AH_ECLOSED,
                         .error = "unavailable",
                         .message = "the engine is stopping",
                         .conversation_id = j->conv_id[0] ? j->conv_id : NULL};
    j->cb(j->cb_ud, &o);
    j->cb = NULL;
}

void runtime_stop(runtime *rt)
{
    if (!rt || rt->stopped) return;
    for (rt_link *l = rt->handles.next; l != &rt->handles; l = l->next)
        if (!l->timer) tell_stopping((rt_job *)l);
    size_t pos = 0;
    const char *k;
    void *v;
    while (strmap_next(&rt->busy, &pos, &k, &v))
        for (rt_job *q = ((rt_busy *)v)->head; q; q = q->next)
            tell_stopping(q);
    rt_inbox_close(rt); /* REST waiters are told too */
    rt_events_stop(rt);
    rt_sims_stop(rt);
    rt->stopped = true;
}

static void free_map_values(strmap *m)
{
    size_t pos = 0;
    const char *k;
    void *v;
    while (strmap_next(m, &pos, &k, &v))
        free(v);
    strmap_free(m);
}

void runtime_free(runtime *rt)
{
    if (!rt) return;
    rt->stopped = true;
    rt_sims_free(rt);
    /* What is left: jobs frozen mid-turn (their inputs are not settled: the
     * bus delivers them again after a restart) and timers not fired. */
    while (rt->handles.next != &rt->handles) {
        rt_link *l = rt->handles.next;
        rt_link_del(l);
        if (l->timer) {
            uv_timer_stop(l->timer);
            uv_close((uv_handle_t *)l->timer, l->closed);
        } else {
            rt_job *j = (rt_job *)l;
            if (j->op) docs_op_finish(j->op, AH_ECLOSED, NULL);
            j->op = NULL;
            rt_job_free(j);
        }
    }
    size_t pos = 0;
    const char *k;
    void *v;
    while (strmap_next(&rt->busy, &pos, &k, &v)) {
        rt_busy *b = v;
        for (rt_job *q = b->head, *n; q; q = n) {
            n = q->next;
            rt_job_free(q);
        }
        free(b);
    }
    strmap_free(&rt->busy);
    strmap_free(&rt->waiters); /* closed with their timers by rt_inbox_close */
    free_map_values(&rt->flood);
    free_map_values(&rt->firing);
    rt_events_free(rt);
    pos = 0;
    while (strmap_next(&rt->scenarios, &pos, &k, &v))
        json_decref(v);
    strmap_free(&rt->scenarios);
    strmap_free(&rt->told);
    policy_free(&rt->http_pol);
    free(rt);
}

json_t *runtime_status(const runtime *rt)
{
    return json_pack("{s:I,s:I,s:I}", "running", (json_int_t)rt->running, "queued",
                     (json_int_t)rt->queued, "conversations_busy", (json_int_t)rt->busy.n);
}

/* ---- turns the API asks for ---------------------------------------------------------- */

int runtime_run(runtime *rt, const char *agent_id, const json_t *contact, const json_t *vars,
                runtime_cb cb, void *ud, char *err, size_t errlen)
{
    if (!agent_id || strlen(agent_id) >= sizeof(((rt_job *)0)->agent_id)) {
        snprintf(err, errlen, "no such agent");
        return AH_EINVAL;
    }
    if (vars && !json_is_object(vars)) {
        snprintf(err, errlen, "variables: expected an object");
        return AH_EINVAL;
    }
    rt_job *j = rt_job_new(rt, JOB_START);
    if (!j) return AH_ENOMEM;
    snprintf(j->agent_id, sizeof(j->agent_id), "%s", agent_id);
    j->vars = vars ? json_deep_copy(vars) : json_object();
    if (contact) j->identity = json_deep_copy(contact);
    j->trigger = json_pack("{s:s}", "kind", "api");
    j->cb = cb;
    j->cb_ud = ud;
    rt_submit(j);
    return 0;
}

int runtime_resume(runtime *rt, const char *conversation_id, runtime_cb cb, void *ud, char *err,
                   size_t errlen)
{
    if (!conversation_id || !id_valid(conversation_id, "cnv")) {
        snprintf(err, errlen, "not a conversation id");
        return AH_EINVAL;
    }
    rt_job *j = rt_job_new(rt, JOB_RESUME);
    if (!j) return AH_ENOMEM;
    snprintf(j->conv_id, sizeof(j->conv_id), "%s", conversation_id);
    j->cb = cb;
    j->cb_ud = ud;
    rt_submit(j);
    return 0;
}
