/*
 * bench_expr - the expression pool (host/expr/, ADR 0016) against its
 * floor, in the same run:
 *
 *   pool   a typical condition (.variables.age >= 18) on a realistic
 *          conversation context (about 1 KiB), through expr_eval: the
 *          call to a confined jq worker, libjq there, the answer back
 *   floor  the same program on the same input with libjq in this process
 *          (compiled once, jq_start + jq_next per evaluation): what an
 *          evaluation costs with no isolation at all
 *
 * Rounds alternate pool and floor so a load spike hits both. Also: the
 * latency at one call in flight and with both workers kept busy, a cold
 * evaluation (a program the worker has not compiled: jq 1.6 compiles in
 * milliseconds), how long a runaway expression holds a worker (deadline,
 * kill, restart), and the workers' memory.
 *
 * Usage: bench_expr --smoke | --full. Fails only when something breaks (an
 * evaluation that errs or answers wrong), never because of timing.
 */
#include "bench.h"

#include "core/log.h"
#include "core/loop.h"
#include "expr/expr.h"
#include "plugin/manifest.h"
#include "plugin/supervisor.h"

#include <jq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#ifndef BENCH_BUILD_DIR
#error "BENCH_BUILD_DIR must be defined by the build"
#endif

#define PROGRAM ".variables.age >= 18"
#define WORKERS 2

static const char *const context_json =
    "{\"conversation\": \"c-7f3a\", \"channel\": \"telegram\", \"step\": \"ask_age\","
    " \"variables\": {\"age\": 34, \"plan\": \"pro\", \"city\": \"Leeds\", \"consent\": true,"
    "  \"tags\": [\"returning\", \"vip\"], \"score\": 0.82},"
    " \"contact\": {\"id\": \"u-1029\", \"name\": \"Ann Lee\", \"email\": \"ann@example.com\","
    "  \"phone\": \"+44 20 7946 0018\", \"language\": \"en\"},"
    " \"last_message\": {\"text\": \"I am 34 and I would like the pro plan, please\","
    "  \"at\": \"2026-11-24T09:00:00Z\"},"
    " \"history\": [{\"role\": \"bot\", \"text\": \"Hello! How old are you?\"},"
    "  {\"role\": \"user\", \"text\": \"34\"}, {\"role\": \"bot\", \"text\": \"Which plan?\"},"
    "  {\"role\": \"user\", \"text\": \"pro\"}],"
    " \"items\": [{\"id\": 1, \"sku\": \"A-100\", \"qty\": 2, \"price\": 9.5},"
    "  {\"id\": 2, \"sku\": \"B-220\", \"qty\": 1, \"price\": 120}]}";

typedef struct world {
    ah_loop *loop;
    supervisor *sup;
    manifest *m;
    expr_pool *pool;
    json_t *input;
} world;

static bool g_expired;

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    g_expired = true;
}

static bool run_until(world *w, bool (*cond)(void *), void *arg, int timeout_ms)
{
    if (cond(arg)) return true;
    uv_timer_t t;
    uv_timer_init(loop_uv(w->loop), &t);
    g_expired = false;
    uv_timer_start(&t, on_deadline, (uint64_t)timeout_ms, 0);
    while (!cond(arg) && !g_expired)
        uv_run(loop_uv(w->loop), UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop_uv(w->loop), UV_RUN_NOWAIT);
    return cond(arg);
}

static instance *worker(world *w, int i)
{
    char id[16];
    snprintf(id, sizeof(id), "jq-%d", i);
    return supervisor_find(w->sup, id);
}

static bool all_ready(void *arg)
{
    world *w = arg;
    for (int i = 1; i <= WORKERS; i++)
        if (instance_get_state(worker(w, i)) != INST_READY) return false;
    return true;
}

/* ---- the pool ------------------------------------------------------------------ */

typedef struct load {
    bench *b;
    world *w;
    const char *program;
    long target, started, done, errors;
    uint64_t *t0; /* per slot */
    bench_lat *lat;
} load;

typedef struct slot {
    load *l;
    unsigned i;
} slot;

static void start_eval(load *l, slot *s);

static void on_eval(void *ud, const expr_result *r)
{
    slot *s = ud;
    load *l = s->l;
    uint64_t now = bench_now_ns();
    l->done++;
    if (r->error || !json_is_true(json_array_get(r->outputs, 0))) {
        if (l->errors++ == 0)
            bench_fail(l->b, "evaluation failed: %s: %s", r->error ? r->error : "wrong output",
                       r->message ? r->message : "");
    } else if (l->lat) {
        bench_lat_add(l->lat, now - l->t0[s->i]);
    }
    if (l->started < l->target) start_eval(l, s);
}

static void start_eval(load *l, slot *s)
{
    char err[300];
    expr_eval_opts o = {.timeout_ms = 5000, .max_outputs = 1};
    l->started++;
    l->t0[s->i] = bench_now_ns();
    if (expr_eval(l->w->pool, l->program, l->w->input, NULL, &o, on_eval, s, err, sizeof(err))) {
        l->done++;
        if (l->errors++ == 0) bench_fail(l->b, "expr_eval: %s", err);
    }
}

static bool load_done(void *arg)
{
    load *l = arg;
    return l->done >= l->target;
}

/* n evaluations with `window` in flight; the elapsed seconds. */
static double pool_evals(bench *b, world *w, long n, unsigned window, bench_lat *lat)
{
    load l = {.b = b, .w = w, .program = PROGRAM, .target = n, .lat = lat};
    l.t0 = calloc(window, sizeof(*l.t0));
    slot *slots = calloc(window, sizeof(*slots));
    uint64_t t0 = bench_now_ns();
    for (unsigned i = 0; i < window && l.started < n; i++) {
        slots[i] = (slot){.l = &l, .i = i};
        start_eval(&l, &slots[i]);
    }
    if (!run_until(w, load_done, &l, 120000))
        bench_fail(b, "pool: %ld of %ld answered within 120 s", l.done, n);
    double s = (double)(bench_now_ns() - t0) / 1e9;
    free(l.t0);
    free(slots);
    return s;
}

/* ---- the floor ------------------------------------------------------------------- */

/* n evaluations by libjq in this process; the elapsed seconds. */
static double floor_evals(bench *b, jq_state *jq, jv input, long n, bench_lat *lat)
{
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        uint64_t s = lat ? bench_now_ns() : 0;
        jq_start(jq, jv_copy(input), 0);
        jv r = jq_next(jq);
        if (jv_get_kind(r) != JV_KIND_TRUE) {
            bench_fail(b, "floor: the condition did not hold");
            jv_free(r);
            break;
        }
        jv_free(r);
        if (lat) bench_lat_add(lat, bench_now_ns() - s);
    }
    return (double)(bench_now_ns() - t0) / 1e9;
}

/* ---- one-off measurements ---------------------------------------------------------- */

typedef struct one {
    bool done;
    char error[32];
} one;

static void on_one(void *ud, const expr_result *r)
{
    one *o = ud;
    o->done = true;
    snprintf(o->error, sizeof(o->error), "%s", r->error ? r->error : "");
}

static bool one_done(void *arg)
{
    return ((one *)arg)->done;
}

/* Milliseconds of one evaluation, or -1; its outcome code in want. */
static double once(bench *b, world *w, const char *program, uint32_t timeout_ms, const char *want)
{
    one o = {.done = false};
    char err[300];
    expr_eval_opts eo = {.timeout_ms = timeout_ms};
    uint64_t t0 = bench_now_ns();
    if (expr_eval(w->pool, program, w->input, NULL, &eo, on_one, &o, err, sizeof(err))) {
        bench_fail(b, "expr_eval %s: %s", program, err);
        return -1;
    }
    if (!run_until(w, one_done, &o, 60000) || strcmp(o.error, want) != 0) {
        bench_fail(b, "%s: expected \"%s\", got \"%s\"", program, want, o.error);
        return -1;
    }
    return (double)(bench_now_ns() - t0) / 1e6;
}

static void cold_and_runaway(bench *b, world *w)
{
    const char *sec = "events";
    bench_section(b, sec, "Cold evaluation and a runaway expression");
    int n = (int)bench_pick(b, 3, 15);
    double *cold = calloc((size_t)n, sizeof(double));
    for (int i = 0; i < n; i++) {
        char prog[96];
        snprintf(prog, sizeof(prog), ".variables.age >= %d", 100 + i); /* never compiled yet */
        cold[i] = once(b, w, prog, 5000, "");
    }
    bench_row(b, sec, "cold evaluation (compile + run), median", bench_median(cold, n), "ms",
              "a program the worker has not cached; %d programs", n);
    int m = (int)bench_pick(b, 1, 5);
    double *cut = calloc((size_t)m, sizeof(double)), *back = calloc((size_t)m, sizeof(double));
    for (int i = 0; i < m; i++) {
        cut[i] = once(b, w, "until(false; .)", 0, "timeout");
        uint64_t t0 = bench_now_ns();
        if (!run_until(w, all_ready, w, 30000)) bench_fail(b, "a worker did not come back");
        back[i] = (double)(bench_now_ns() - t0) / 1e6;
    }
    bench_row(b, sec, "runaway answered as timeout, median", bench_median(cut, m), "ms",
              "deadline 200 ms, checked every 100 ms");
    bench_row(b, sec, "worker ready again after it, median", bench_median(back, m), "ms",
              "kill, spawn, sandbox, dlopen libjq, handshake");
    free(cold);
    free(cut);
    free(back);
}

static void throughput(bench *b, world *w)
{
    const char *sec = "evals";
    bench_section(b, sec, "A typical condition: pool against libjq in-process");
    long n = bench_pick(b, 300, 20000), fn = bench_pick(b, 20000, 2000000);
    int rounds = (int)bench_pick(b, 2, 5);
    jq_state *jq = jq_init();
    if (jq) jq_set_debug_cb(jq, NULL, NULL); /* jq 1.6's jq_init leaves it unset */
    if (!jq || !jq_compile(jq, PROGRAM)) {
        bench_fail(b, "libjq: cannot compile the floor's program");
        return;
    }
    char *text = json_dumps(w->input, JSON_COMPACT);
    jv input = jv_parse(text);
    free(text);
    pool_evals(b, w, n / 4 + 1, 2 * WORKERS, NULL); /* warm: both workers compiled it */
    double pool_rate[8], floor_rate[8], ratio[8];
    bench_lat one_lat = {0}, busy_lat = {0}, floor_lat = {0};
    for (int r = 0; r < rounds; r++) {
        double s = pool_evals(b, w, n, 4 * WORKERS, &busy_lat);
        pool_rate[r] = (double)n / s;
        double f = floor_evals(b, jq, input, fn, NULL);
        floor_rate[r] = (double)fn / f;
        ratio[r] = floor_rate[r] / pool_rate[r];
    }
    pool_evals(b, w, n / 2, 1, &one_lat);
    floor_evals(b, jq, input, fn / 10, &floor_lat);
    double pr = bench_median(pool_rate, rounds), fr = bench_median(floor_rate, rounds);
    double lo = ratio[0], hi = ratio[0];
    for (int r = 0; r < rounds; r++) {
        lo = ratio[r] < lo ? ratio[r] : lo;
        hi = ratio[r] > hi ? ratio[r] : hi;
    }
    double rm = bench_median(ratio, rounds);
    bench_row(b, sec, "pool", pr, "evals/s", "%d workers, %d calls in flight", WORKERS,
              4 * WORKERS);
    bench_row(b, sec, "floor: libjq in-process", fr, "evals/s", "one thread, no isolation");
    bench_row(b, sec, "floor / pool", rm, "x", "median of %d rounds (%.0f-%.0f)", rounds, lo, hi);
    bench_row(b, sec, "pool latency p50, 1 in flight", bench_lat_us(&one_lat, 0.5), "us", NULL);
    bench_row(b, sec, "pool latency p99, 1 in flight", bench_lat_us(&one_lat, 0.99), "us", NULL);
    bench_row(b, sec, "pool latency p50, workers busy", bench_lat_us(&busy_lat, 0.5), "us",
              "queueing included");
    bench_row(b, sec, "pool latency p99, workers busy", bench_lat_us(&busy_lat, 0.99), "us", NULL);
    bench_row(b, sec, "floor latency p50", bench_lat_us(&floor_lat, 0.5), "us", NULL);
    bench_row(b, sec, "floor latency p99", bench_lat_us(&floor_lat, 0.99), "us", NULL);
    bench_lat_free(&one_lat);
    bench_lat_free(&busy_lat);
    bench_lat_free(&floor_lat);
    jv_free(input);
    jq_teardown(&jq);
}

static void memory(bench *b, world *w)
{
    const char *sec = "memory";
    bench_section(b, sec, "The pool's memory (after the evaluations)");
    uint64_t rss = 0, pss = 0;
    for (int i = 1; i <= WORKERS; i++) {
        json_t *st = instance_status(worker(w, i));
        pid_t pid = (pid_t)json_integer_value(json_object_get(st, "pid"));
        json_decref(st);
        rss += bench_tree(pid, bench_rss);
        pss += bench_tree(pid, bench_pss);
    }
    bench_row(b, sec, "workers' RSS, together", (double)rss / 1048576.0, "MiB",
              "%d workers, each runner + init + plugin process", WORKERS);
    bench_row(b, sec, "workers' PSS, together", (double)pss / 1048576.0, "MiB",
              "shared libraries counted once");
}

static bool stopped_flag;

static void on_stopped(void *ud)
{
    (void)ud;
    stopped_flag = true;
}

static bool stopped(void *arg)
{
    (void)arg;
    return stopped_flag;
}

int main(int argc, char **argv)
{
    bench b;
    bench_init(&b, "expr", argc, argv);
    log_opts lo = {.to_stderr = false, .min_level = LOG_ERROR};
    log_init(&lo);
    world w = {0};
    char err[600];
    supervisor_opts so = {.runner = BENCH_BUILD_DIR "/agenthost-runner"};
    expr_opts eo = {.workers = WORKERS,
                    .timeout_ms = 200,
                    .compile_timeout_ms = 2000,
                    .memory_mb = 256,
                    .queue = 1024,
                    .queue_timeout_ms = 10000,
                    .max_outputs = 100,
                    .max_output_kb = 1024,
                    .cache_entries = 256};
    if (loop_new(&w.loop) < 0 || supervisor_new(&w.sup, w.loop, NULL, NULL, &so) != 0) {
        bench_fail(&b, "cannot make the loop and supervisor");
        return bench_finish(&b);
    }
    if (manifest_load(BENCH_BUILD_DIR "/plugins/jq/manifest.json", true, &w.m, err, sizeof(err))) {
        bench_fail(&b, "jq manifest: %s", err);
        return bench_finish(&b);
    }
    w.input = json_loads(context_json, 0, NULL);
    if (!w.input || expr_pool_attach(&w.pool, w.loop, w.sup, w.m, &eo) != 0) {
        bench_fail(&b, "cannot attach the pool");
        return bench_finish(&b);
    }
    supervisor_start_all(w.sup);
    if (!run_until(&w, all_ready, &w, 30000)) {
        bench_fail(&b, "the jq workers did not start");
    } else {
        throughput(&b, &w);
        memory(&b, &w);
        cold_and_runaway(&b, &w);
    }
    supervisor_stop_all(w.sup, on_stopped, NULL);
    run_until(&w, stopped, NULL, 20000);
    supervisor_free(w.sup);
    expr_pool_detach(w.pool);
    manifest_free(w.m);
    json_decref(w.input);
    loop_free(w.loop);
    log_shutdown();
    return bench_finish(&b);
}
