/*
 * expr.c - the expression pool: jq workers as supervised instances, one
 * call at a time each, a bounded queue, outcomes classified (ADR 0016).
 */
#include "expr.h"

#include "../../plugins/jq/protocol.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

#include <agenthost/plugin.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <uv.h>

#define M_CALLS "agenthost_expr_calls_total"
#define M_DURATION "agenthost_expr_call_duration_seconds"
#define M_READY "agenthost_expr_workers_ready"
#define M_QUEUE "agenthost_expr_queue_depth"

typedef enum call_kind { CALL_EVAL, CALL_CHECK } call_kind;

typedef struct worker worker;

typedef struct call {
    expr_pool *p;
    struct call *next; /* in the queue */
    call_kind kind;
    json_t *args; /* the action's arguments */
    uint32_t timeout_ms;
    uint64_t affinity;     /* the program's hash: the worker it prefers */
    uint64_t submitted_ms; /* for the queue's timeout and the duration */
    uint64_t deadline_ms;  /* once a worker took it */
    int64_t cpu0;          /* its worker's CPU ms when it took it; -1: timed by the wall clock */
    uint64_t check_ms;     /* when to look at the CPU it has spent next */
    double submitted_s;    /* monotonic, fractional, for the histogram */
    expr_cb cb;
    void *ud;
    worker *w;
} call;

struct worker {
    instance *inst;
    call *busy; /* the call it serves, or NULL */
};

struct expr_pool {
    ah_loop *loop;
    supervisor *sup;
    expr_opts o;
    worker *w;
    size_t n;
    call *head, *tail; /* the queue, oldest first */
    size_t queued;
    uv_timer_t timer; /* the queue's timeouts, and a pump after lifecycle news */
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* ---- finishing a call ------------------------------------------------------ */

static void finish(call *c, const char *error, const char *message, const json_t *outputs)
{
    char labels[128];
    const char *kind = c->kind == CALL_EVAL ? "eval" : "compile";
    metrics_counter_add(
        M_CALLS,
        metrics_labels(labels, sizeof(labels), "kind", kind, "outcome", error ? error : "ok", NULL),
        1);
    metrics_observe(M_DURATION, metrics_labels(labels, sizeof(labels), "kind", kind, NULL),
                    mono_s() - c->submitted_s);
    json_t *empty = outputs ? NULL : json_array();
    expr_result r = {.error = error,
                     .message = error ? (message ? message : error) : NULL,
                     .outputs = error ? NULL : (outputs ? outputs : empty)};
    c->cb(c->ud, &r);
    json_decref(empty);
    json_decref(c->args);
    free(c);
}

/* The outcome of a call whose worker died while serving it. */
static void finish_died(call *c, worker *w, const char *why)
{
    char msg[600];
    int st = instance_last_exit_status(w->inst);
    if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == JQ_WORKER_EXIT_NO_MEMORY) {
        snprintf(msg, sizeof(msg),
                 "the expression exhausted its worker's memory (%u MB, expressions.memory_mb); "
                 "%s was restarted",
                 c->p->o.memory_mb, instance_id(w->inst));
        finish(c, "memory", msg, NULL);
    } else if (ah_mono_ms() >= c->deadline_ms) {
        snprintf(msg, sizeof(msg),
                 "the expression ran past its %u ms deadline; %s was stopped and restarted",
                 c->timeout_ms, instance_id(w->inst));
        finish(c, "timeout", msg, NULL);
    } else {
        snprintf(msg, sizeof(msg), "the expression's worker %s died (%s); it was restarted",
                 instance_id(w->inst), why ? why : "?");
        finish(c, "crashed", msg, NULL);
    }
}

static bool worker_code(const char *code)
{
    static const char *const codes[] = {"compile", "runtime", "output", "invalid"};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (!strcmp(code, codes[i])) return true;
    return false;
}

static void pump(expr_pool *p);

static void on_answer(void *ud, const json_t *result, const char *err_code, const char *message)
{
    call *c = ud;
    expr_pool *p = c->p;
    worker *w = c->w;
    w->busy = NULL;
    c->w = NULL;
    if (!err_code) {
        const json_t *outputs = json_object_get(result, "outputs");
        if (c->kind == CALL_EVAL && !json_is_array(outputs))
            finish(c, "invalid", "the worker answered without outputs", NULL);
        else
            finish(c, NULL, NULL, c->kind == CALL_EVAL ? outputs : NULL);
    } else if (!strcmp(err_code, "instance_crashed")) {
        finish_died(c, w, message);
    } else if (worker_code(err_code)) {
        finish(c, err_code, message, NULL);
    } else {
        char msg[600];
        snprintf(msg, sizeof(msg), "%s: %s: %s", instance_id(w->inst), err_code,
                 message ? message : "");
        finish(c, "unavailable", msg, NULL);
    }
    pump(p);
}

/* ---- deadlines in CPU time -------------------------------------------------------- */

/* A call's deadline counts the CPU its worker spends on it: a loaded
 * machine that keeps the worker waiting for a core does not cut a quick
 * expression (and fail a conversation), while a runaway one burns its
 * CPU and is cut about as before. The supervisor's deadline, in wall
 * time, still stops a worker that never gets to run: ten times the
 * deadline, at least 2 s more, at most EXPR_MAX_TIMEOUT_MS (stall_ms). */
static uint32_t wall_ms(uint32_t timeout_ms)
{
    uint64_t w = (uint64_t)timeout_ms * 10;
    if (w < (uint64_t)timeout_ms + 2000) w = (uint64_t)timeout_ms + 2000;
    return w > EXPR_MAX_TIMEOUT_MS ? EXPR_MAX_TIMEOUT_MS : (uint32_t)w;
}

/* Busy calls past their check time: cut when the worker has spent the
 * deadline in CPU since taking the call, else looked at again when it
 * could have. */
static void check_cpu(expr_pool *p, uint64_t now)
{
    for (size_t i = 0; i < p->n; i++) {
        call *c = p->w[i].busy;
        if (!c || c->cpu0 < 0 || now < c->check_ms) continue;
        int64_t cpu = instance_cpu_ms(p->w[i].inst), used = cpu - c->cpu0;
        if (cpu < 0 || used >= (int64_t)c->timeout_ms) {
            c->cpu0 = -1; /* answered by its worker's death */
            instance_kill(p->w[i].inst, "an expression ran past its deadline");
        } else {
            int64_t left = (int64_t)c->timeout_ms - used;
            c->check_ms = now + (uint64_t)(left > 10 ? left : 10);
        }
    }
}

/* ---- dispatching -------------------------------------------------------------- */

/* 1: a worker took c; 0: none is free; -1: the arguments were refused
 * (*code and err say why). */
static int dispatch(expr_pool *p, call *c, const char **code, char *err, size_t errlen)
{
    for (size_t k = 0; k < p->n; k++) {
        worker *w = &p->w[(c->affinity + k) % p->n];
        if (w->busy || instance_get_state(w->inst) != INST_READY) continue;
        char why[600];
        uint64_t start = ah_mono_ms();
        const char *action = c->kind == CALL_EVAL ? "eval" : "compile";
        int64_t cpu0 = instance_cpu_ms(w->inst);
        if (instance_call(w->inst, action, c->args,
                          cpu0 < 0 ? c->timeout_ms : wall_ms(c->timeout_ms), on_answer, c, why,
                          sizeof(why)) == 0) {
            w->busy = c;
            c->w = w;
            c->deadline_ms = c->check_ms = start + c->timeout_ms; /* never after the supervisor's */
            c->cpu0 = cpu0;
            return 1;
        }
        const char *colon = strchr(why, ':');
        const char *text = colon ? colon + 2 : why;
        if (!strncmp(why, "invalid_args:", 13)) {
            *code = "invalid";
            snprintf(err, errlen, "%s", text);
            return -1;
        }
        if (!strncmp(why, "too_large:", 10)) {
            *code = "too_large";
            snprintf(err, errlen, "the input and variables do not fit in one message: %s", text);
            return -1;
        }
        /* not ready after all (it died this tick): try another */
    }
    return 0;
}

/* Whether some worker is serving or will be again without an operator. */
static bool may_serve(const expr_pool *p)
{
    if (supervisor_stopping(p->sup)) return false; /* the host is shutting down */
    for (size_t i = 0; i < p->n; i++) {
        instance_state s = instance_get_state(p->w[i].inst);
        if (s == INST_READY || s == INST_STARTING || s == INST_BACKOFF || s == INST_STOPPING)
            return true;
    }
    return false;
}

static const char *why_unavailable(const expr_pool *p)
{
    if (!p->n) return "expressions are unavailable: no jq worker is configured or installed";
    if (supervisor_stopping(p->sup)) return "the host is shutting down";
    return "no expression worker can serve: they are stopped, quarantined, failed or disabled";
}

static call *pop(expr_pool *p)
{
    call *c = p->head;
    p->head = c->next;
    if (!p->head) p->tail = NULL;
    c->next = NULL;
    p->queued--;
    return c;
}

static void on_timer(uv_timer_t *t);

/* The timer, at the queue's first timeout or a busy call's CPU check. */
static void arm(expr_pool *p)
{
    uint64_t due = p->head ? p->head->submitted_ms + p->o.queue_timeout_ms : UINT64_MAX;
    for (size_t i = 0; i < p->n; i++) {
        const call *c = p->w[i].busy;
        if (c && c->cpu0 >= 0 && c->check_ms < due) due = c->check_ms;
    }
    if (due == UINT64_MAX) {
        uv_timer_stop(&p->timer);
        return;
    }
    uint64_t now = ah_mono_ms();
    uv_timer_start(&p->timer, on_timer, due > now ? due - now : 0, 0);
}

static void pump(expr_pool *p)
{
    while (p->head && may_serve(p)) {
        const char *code = NULL;
        char err[700];
        int rc = dispatch(p, p->head, &code, err, sizeof(err));
        if (rc == 0) break;
        call *c = pop(p);
        if (rc < 0) finish(c, code, err, NULL);
    }
    while (p->head && !may_serve(p))
        finish(pop(p), "unavailable", why_unavailable(p), NULL);
    arm(p);
}

static void on_timer(uv_timer_t *t)
{
    expr_pool *p = t->data;
    uint64_t now = ah_mono_ms();
    check_cpu(p, now);
    pump(p);
    while (p->head && now >= p->head->submitted_ms + p->o.queue_timeout_ms) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "no expression worker was free within %u ms (expressions.queue_timeout_ms)",
                 p->o.queue_timeout_ms);
        finish(pop(p), "busy", msg, NULL);
    }
    arm(p);
}

/* A worker became ready or went down: pump once the supervisor is done
 * with it (its state is updated after the listeners run). */
static void on_lifecycle(void *ud, instance *inst)
{
    expr_pool *p = ud;
    (void)inst;
    uv_timer_start(&p->timer, on_timer, 0, 0);
}

static int submit(expr_pool *p, call *c, char *err, size_t errlen)
{
    if (!may_serve(p)) {
        snprintf(err, errlen, "%s", why_unavailable(p));
        return AH_ECLOSED;
    }
    if (p->head) pump(p); /* those waiting go first */
    const char *code = NULL;
    int rc = p->head ? 0 : dispatch(p, c, &code, err, errlen);
    if (rc < 0) return !strcmp(code, "too_large") ? AH_ETOOBIG : AH_EINVAL;
    if (rc == 1) {
        arm(p);
        return 0;
    }
    if (p->queued >= p->o.queue) {
        snprintf(err, errlen,
                 "every expression worker is busy and %u calls wait (expressions.queue)",
                 p->o.queue);
        return AH_EBUSY;
    }
    if (p->tail)
        p->tail->next = c;
    else
        p->head = c;
    p->tail = c;
    p->queued++;
    if (p->queued == 1) arm(p);
    return 0;
}

/* ---- the calls ------------------------------------------------------------------ */

static int check_program(const char *program, char *err, size_t errlen)
{
    size_t n = program ? strlen(program) : 0;
    if (!n || !program[strspn(program, " \t\r\n")]) {
        snprintf(err, errlen, "the expression is empty");
        return AH_EINVAL;
    }
    if (n > EXPR_MAX_PROGRAM_BYTES) {
        snprintf(err, errlen, "the expression is longer than %u bytes", EXPR_MAX_PROGRAM_BYTES);
        return AH_EINVAL;
    }
    return 0;
}

static int check_name(const char *name, size_t count, char *err, size_t errlen)
{
    if (count > JQ_MAX_VARS) {
        snprintf(err, errlen, "more than %d variables", JQ_MAX_VARS);
        return AH_EINVAL;
    }
    if (!jq_var_name_ok(name)) {
        snprintf(err, errlen,
                 "variable \"%.64s\": a name is an identifier (letters, digits, _), not a jq "
                 "keyword, and does not start with \"__\"",
                 name ? name : "");
        return AH_EINVAL;
    }
    return 0;
}

static call *new_call(expr_pool *p, call_kind kind, const char *program, uint32_t timeout_ms,
                      expr_cb cb, void *ud)
{
    call *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->p = p;
    c->kind = kind;
    c->timeout_ms = timeout_ms;
    c->affinity = fnv1a(program);
    c->submitted_ms = ah_mono_ms();
    c->submitted_s = mono_s();
    c->cb = cb;
    c->ud = ud;
    return c;
}

static int start(expr_pool *p, call *c, char *err, size_t errlen)
{
    if (!c->args) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    int rc = submit(p, c, err, errlen);
    if (rc != 0) {
        json_decref(c->args);
        free(c);
    }
    return rc;
}

int expr_eval(expr_pool *p, const char *program, const json_t *input, const json_t *vars,
              const expr_eval_opts *o, expr_cb cb, void *ud, char *err, size_t errlen)
{
    int rc = check_program(program, err, errlen);
    if (rc) return rc;
    if (vars && !json_is_object(vars)) {
        snprintf(err, errlen, "vars must be an object");
        return AH_EINVAL;
    }
    const char *k;
    json_t *v;
    size_t count = 0;
    json_object_foreach((json_t *)vars, k, v)
    {
        if ((rc = check_name(k, ++count, err, errlen))) return rc;
    }
    uint32_t timeout = o && o->timeout_ms ? o->timeout_ms : p->o.timeout_ms;
    if (timeout > EXPR_MAX_TIMEOUT_MS) timeout = EXPR_MAX_TIMEOUT_MS;
    uint32_t max_outputs = o && o->max_outputs ? o->max_outputs : p->o.max_outputs;
    call *c = new_call(p, CALL_EVAL, program, timeout, cb, ud);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    c->args = json_pack("{s:s,s:O,s:I,s:I}", "program", program, "input",
                        input ? input : json_null(), "max_outputs", (json_int_t)max_outputs,
                        "max_output_bytes", (json_int_t)p->o.max_output_kb * 1024);
    if (c->args && vars) json_object_set(c->args, "vars", (json_t *)vars);
    return start(p, c, err, errlen);
}

int expr_check(expr_pool *p, const char *program, const json_t *var_names, expr_cb cb, void *ud,
               char *err, size_t errlen)
{
    int rc = check_program(program, err, errlen);
    if (rc) return rc;
    if (var_names && !json_is_array(var_names)) {
        snprintf(err, errlen, "var_names must be an array of strings");
        return AH_EINVAL;
    }
    size_t i;
    const json_t *n;
    json_array_foreach(var_names, i, n)
    {
        if ((rc = check_name(json_string_value(n), i + 1, err, errlen))) return rc;
    }
    call *c = new_call(p, CALL_CHECK, program, p->o.compile_timeout_ms, cb, ud);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    c->args = json_pack("{s:s}", "program", program);
    if (c->args && var_names) json_object_set(c->args, "vars", (json_t *)var_names);
    return start(p, c, err, errlen);
}

/* ---- the pool ------------------------------------------------------------------- */

static void collect(void *ud)
{
    expr_pool *p = ud;
    size_t ready = 0;
    for (size_t i = 0; i < p->n; i++)
        ready += instance_get_state(p->w[i].inst) == INST_READY;
    metrics_gauge_set(M_READY, NULL, (double)ready);
    metrics_gauge_set(M_QUEUE, NULL, (double)p->queued);
}

static void describe_metrics(void)
{
    metrics_describe(M_CALLS, METRIC_COUNTER,
                     "Expression calls by kind (eval, compile) and outcome (ok or an error code).");
    metrics_describe(M_DURATION, METRIC_HISTOGRAM,
                     "Expression calls from submission to answer, queueing included.");
    metrics_describe(M_READY, METRIC_GAUGE, "jq workers ready to evaluate.");
    metrics_describe(M_QUEUE, METRIC_GAUGE, "Expression calls waiting for a free worker.");
}

/* Add worker i (jq-<i+1>); false when its id is taken or the config is refused. */
static bool add_worker(expr_pool *p, const manifest *m, unsigned i)
{
    char id[32], err[600];
    snprintf(id, sizeof(id), "%s-%u", EXPR_PLUGIN, i + 1);
    json_t *conf = json_pack("{s:I}", "cache_entries", (json_int_t)p->o.cache_entries);
    /* Every call's deadline, and the pings during the longest, fit in stall_ms. */
    json_t *over = json_pack("{s:{s:I,s:I},s:b}", "limits", "memory_mb", (json_int_t)p->o.memory_mb,
                             "stall_ms", (json_int_t)EXPR_MAX_TIMEOUT_MS, "required", 0);
    int rc = conf && over ? supervisor_add(p->sup, id, m, conf, over, true, err, sizeof(err))
                          : (snprintf(err, sizeof(err), "out of memory"), -1);
    json_decref(conf);
    json_decref(over);
    if (rc < 0) {
        log_error("expr", "expression worker %s not added: %s", id, err);
        return false;
    }
    p->w[p->n].inst = supervisor_find(p->sup, id);
    instance_charge_calls(p->w[p->n].inst);
    p->n++;
    return true;
}

int expr_pool_attach(expr_pool **out, ah_loop *loop, supervisor *sup, const manifest *m,
                     const expr_opts *o)
{
    expr_pool *p = calloc(1, sizeof(*p));
    if (!p || !(p->w = calloc(o->workers ? o->workers : 1, sizeof(*p->w)))) {
        free(p);
        return AH_ENOMEM;
    }
    p->loop = loop;
    p->sup = sup;
    p->o = *o;
    sup_listener l = {.on_ready = on_lifecycle, .on_down = on_lifecycle};
    if (m && o->workers && supervisor_add_listener(sup, &l, p) != 0) {
        free(p->w);
        free(p);
        return AH_EBUSY;
    }
    uv_timer_init(loop_uv(loop), &p->timer);
    p->timer.data = p;
    if (!m && o->workers)
        log_error("expr", "the %s plugin is not installed: expressions are unavailable (no worker)",
                  EXPR_PLUGIN);
    for (unsigned i = 0; m && i < o->workers; i++)
        add_worker(p, m, i);
    if (p->n)
        log_info("expr", "%zu expression workers (%s): %u MB each, deadline %u ms", p->n,
                 EXPR_PLUGIN, o->memory_mb, o->timeout_ms);
    describe_metrics();
    metrics_add_collector(collect, p);
    *out = p;
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    *(bool *)h->data = true;
}

void expr_pool_detach(expr_pool *p)
{
    if (!p) return;
    metrics_remove_collector(collect, p);
    while (p->head)
        finish(pop(p), "unavailable", "the host is shutting down", NULL);
    bool closed = false;
    p->timer.data = &closed;
    uv_close((uv_handle_t *)&p->timer, on_timer_closed);
    while (!closed)
        uv_run(loop_uv(p->loop), UV_RUN_NOWAIT);
    free(p->w);
    free(p);
}

json_t *expr_pool_status(const expr_pool *p)
{
    size_t ready = 0, busy = 0;
    for (size_t i = 0; i < p->n; i++) {
        ready += instance_get_state(p->w[i].inst) == INST_READY;
        busy += p->w[i].busy != NULL;
    }
    return json_pack("{s:b,s:I,s:I,s:I,s:I}", "ok", ready > 0 || p->n == 0, "workers",
                     (json_int_t)p->n, "ready", (json_int_t)ready, "busy", (json_int_t)busy,
                     "queued", (json_int_t)p->queued);
}
