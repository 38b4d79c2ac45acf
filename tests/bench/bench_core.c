/*
 * bench_core - the host core's figures (issue 2): call round trip against
 * a bare socketpair ping-pong, spawn-to-ready, RSS, and store puts against
 * raw LMDB. See core.h and docs/benchmarks.md.
 *
 *   bench_core --smoke | --full
 */
#include "core.h"

#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef BENCH_BUILD_DIR
#error "BENCH_BUILD_DIR must be defined by the build"
#endif

/* ---- the in-process host ------------------------------------------------------ */

static bool g_deadline;

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    g_deadline = true;
}

bool core_run_until(core_world *w, bool (*cond)(void *), void *arg, int timeout_ms)
{
    if (cond(arg)) return true;
    uv_timer_t t;
    uv_timer_init(loop_uv(w->loop), &t);
    g_deadline = false;
    uv_timer_start(&t, on_deadline, (uint64_t)timeout_ms, 0);
    while (!cond(arg) && !g_deadline)
        uv_run(loop_uv(w->loop), UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop_uv(w->loop), UV_RUN_NOWAIT);
    return cond(arg);
}

static void on_ready(void *ud, instance *inst)
{
    (void)inst;
    core_world *w = ud;
    w->ready_events++;
    w->last_ready_ns = bench_now_ns();
    if (!w->first_ready_ns) w->first_ready_ns = w->last_ready_ns;
}

static void on_down(void *ud, instance *inst)
{
    (void)ud;
    (void)inst;
}

int core_open(core_world *w, bench *b)
{
    char err[1024];
    memset(w, 0, sizeof(*w));
    if (bench_tmpdir(w->dir, sizeof(w->dir), "core") < 0) {
        bench_fail(b, "cannot make a temporary directory");
        return -1;
    }
    char data[600];
    snprintf(data, sizeof(data), "%s/var", w->dir);
    store_opts so = {.dir = data};
    if (loop_new(&w->loop) < 0 || store_open(&w->st, w->loop, &so, err, sizeof(err)) != 0) {
        bench_fail(b, "cannot open the loop and store: %s", err);
        return -1;
    }
    if (manifest_load(BENCH_BUILD_DIR "/plugins/echo/manifest.json", true, &w->echo, err,
                      sizeof(err)) != 0) {
        bench_fail(b, "echo manifest: %s", err);
        return -1;
    }
    /* Profiling aids: BENCH_RUNNER runs plugins through a wrapper (one that
     * execs valgrind --tool=callgrind on the runner, say), and
     * BENCH_NO_SANDBOX=1 runs them unconfined (valgrind needs more address
     * space than the sandbox's RLIMIT_AS allows; test builds only). */
    const char *runner = getenv("BENCH_RUNNER");
    supervisor_opts o = {.runner =
                             runner && *runner ? runner : BENCH_BUILD_DIR "/agenthost-runner"};
#ifdef AH_TEST_NO_SANDBOX
    o.no_sandbox = getenv("BENCH_NO_SANDBOX") && !strcmp(getenv("BENCH_NO_SANDBOX"), "1");
#endif
    if (supervisor_new(&w->sup, w->loop, w->st, NULL, &o) != 0) {
        bench_fail(b, "cannot create the supervisor");
        return -1;
    }
    sup_listener l = {.on_ready = on_ready, .on_down = on_down};
    supervisor_add_listener(w->sup, &l, w);
    return 0;
}

typedef struct ready_wait {
    instance *inst;
    instance_state want;
} ready_wait;

static bool in_state(void *arg)
{
    ready_wait *r = arg;
    instance_state s = instance_get_state(r->inst);
    return s == r->want || s == INST_FAILED || s == INST_QUARANTINED;
}

instance *core_add_echo(core_world *w, bench *b, const char *id, bool enabled)
{
    char err[1024];
    if (supervisor_add(w->sup, id, w->echo, NULL, NULL, enabled, err, sizeof(err)) != 0) {
        bench_fail(b, "supervisor_add %s: %s", id, err);
        return NULL;
    }
    instance *inst = supervisor_find(w->sup, id);
    if (!enabled) return inst;
    if (instance_restart(inst, err, sizeof(err)) != 0) {
        bench_fail(b, "start %s: %s", id, err);
        return NULL;
    }
    ready_wait rw = {inst, INST_READY};
    if (!core_run_until(w, in_state, &rw, 10000) || instance_get_state(inst) != INST_READY) {
        json_t *st = instance_status(inst);
        char *s = json_dumps(st, JSON_COMPACT);
        bench_fail(b, "instance %s did not become ready: %s", id, s);
        free(s);
        json_decref(st);
        return NULL;
    }
    return inst;
}

pid_t core_pid(const instance *inst)
{
    json_t *st = instance_status(inst);
    pid_t pid = (pid_t)json_integer_value(json_object_get(st, "pid"));
    json_decref(st);
    return pid;
}

static bool g_stopped;

static void on_stopped(void *ud)
{
    (void)ud;
    g_stopped = true;
}

static bool stopped(void *arg)
{
    (void)arg;
    return g_stopped;
}

void core_close(core_world *w)
{
    if (w->sup) {
        g_stopped = false;
        supervisor_stop_all(w->sup, on_stopped, NULL);
        core_run_until(w, stopped, NULL, 10000);
    }
    if (w->st) store_close(w->st);
    if (w->sup) supervisor_free(w->sup);
    if (w->echo) manifest_free(w->echo);
    if (w->loop) loop_free(w->loop);
    bench_rmdir(w->dir);
}

int main(int argc, char **argv)
{
    bench b;
    bench_init(&b, "core", argc, argv);
    log_opts lo = {.to_stderr = false, .min_level = LOG_ERROR};
    log_init(&lo);

    core_world w;
    if (bench_want(&b, "calls") || bench_want(&b, "spawn")) {
        if (core_open(&w, &b) == 0) {
            if (bench_want(&b, "calls")) bench_core_calls(&b, &w);
            if (bench_want(&b, "spawn")) bench_core_spawn(&b, &w);
        }
        core_close(&w);
    }
    if (bench_want(&b, "memory")) bench_core_rss(&b);
    if (bench_want(&b, "store")) bench_core_store(&b);
    log_shutdown();
    return bench_finish(&b);
}
