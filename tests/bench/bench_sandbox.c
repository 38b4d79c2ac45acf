/*
 * bench_sandbox - what the sandbox costs, confined against unconfined
 * (the same runner with --no-sandbox, test builds) in the same run:
 *
 *   spawn-to-ready  posix_spawn of the runner by the host's own proc_spawn,
 *                   HELLO, INIT, its RESULT: an instance ready for calls
 *   call round trip a CALL to the echo plugin and its RESULT, on a ready
 *                   instance: the cost of the two seccomp filters on the
 *                   hot path (every syscall of the plugin process)
 *
 * Usage: bench_sandbox --smoke | --full. Prints a table and writes
 * $BENCH_OUT/sandbox.json. Fails only if something breaks (a runner that
 * does not start or answer), never because of timing (scripts/bench.sh).
 * Confined and unconfined measurements alternate within each series.
 */
#include "../../host/plugin/proc.h"
#include "../../sdk/ipc/chan.h"
#include "../../sdk/ipc/frame.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef BENCH_BUILD_DIR
#error "BENCH_BUILD_DIR must be defined by the build"
#endif

typedef struct stats {
    double median, p95, mean;
} stats;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static stats summarize(double *v, size_t n)
{
    stats s = {0};
    qsort(v, n, sizeof(*v), cmp_double);
    for (size_t i = 0; i < n; i++)
        s.mean += v[i] / (double)n;
    s.median = v[n / 2];
    s.p95 = v[(n * 95) / 100 < n ? (n * 95) / 100 : n - 1];
    return s;
}

/* ---- one runner -------------------------------------------------------------- */

typedef struct runner {
    proc_handle p;
    uint8_t frame[AH_FRAME_MAX];
    ah_msg_asm in;
} runner;

static int send_msg(runner *r, uint16_t type, uint64_t id, const char *body)
{
    uint8_t buf[AH_FRAME_MAX];
    size_t off = 0, len = strlen(body);
    do {
        size_t n = ah_frame_next(buf, type, id, body, len, &off);
        if (ah_chan_send(r->p.ipc_fd, buf, n, 0) < 0) return -1;
    } while (off < len);
    return 0;
}

/* Wait (up to 10 s) for the next message that is not a log line or a
 * metric; 0 and *type, or -1. */
static int recv_msg(runner *r, uint16_t *type)
{
    for (;;) {
        struct pollfd pf = {.fd = r->p.ipc_fd, .events = POLLIN};
        if (poll(&pf, 1, 10000) <= 0) return -1;
        const char *why = NULL;
        ssize_t n = ah_chan_recv(r->p.ipc_fd, r->frame, &why);
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        ah_frame_hdr h;
        ah_msg m;
        if (n <= 0 || ah_frame_parse(r->frame, (size_t)n, &h, &why) < 0) return -1;
        int rc = ah_asm_feed(&r->in, &h, r->frame, &m, &why);
        if (rc < 0) return -1;
        if (rc == 1 && m.type != AH_MSG_LOG && m.type != AH_MSG_METRIC) {
            *type = m.type;
            return 0;
        }
    }
}

static int start(runner *r, bool confined)
{
    static const char *library = BENCH_BUILD_DIR "/plugins/echo/libecho.so";
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    const char *argv[] = {BENCH_BUILD_DIR "/agenthost-runner",
                          "--library",
                          library,
                          "--plugin",
                          "echo",
                          "--instance",
                          "bench",
                          "--host-pid",
                          pid,
                          confined ? NULL : "--no-sandbox",
                          NULL};
    const char *envp[] = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "TZ=UTC",
                          "UBSAN_OPTIONS=print_stacktrace=0:halt_on_error=1:symbolize=0", NULL};
    proc_spec spec = {.runner = argv[0], .argv = argv, .envp = envp};
    ah_asm_init(&r->in, AH_MSG_MAX_DEFAULT);
    if (proc_spawn(&spec, &r->p) < 0) return -1;
    uint16_t type = 0;
    if (recv_msg(r, &type) < 0 || type != AH_MSG_HELLO) return -1;
    if (send_msg(r, AH_MSG_INIT, 1,
                 "{\"instance\":\"bench\",\"config\":{},\"secrets\":{},\"exports\":[]}") < 0 ||
        recv_msg(r, &type) < 0 || type != AH_MSG_RESULT)
        return -1;
    return 0;
}

/* What the runner said on stderr, to explain a failure. */
static void show_log(runner *r)
{
    char buf[4096];
    usleep(100000);
    ssize_t n = read(r->p.log_fd, buf, sizeof(buf) - 1);
    if (n > 0) {
        buf[n] = 0;
        fprintf(stderr, "%s", buf);
    }
}

static void stop(runner *r)
{
    kill(r->p.pid, SIGKILL);
    int status;
    waitpid(r->p.pid, &status, 0);
    proc_close_fds(&r->p);
    ah_asm_free(&r->in);
}

static int call(runner *r, uint64_t id)
{
    uint16_t type = 0;
    if (send_msg(r, AH_MSG_CALL, id, "{\"action\":\"echo\",\"args\":{\"n\":1,\"text\":\"ping\"}}") <
            0 ||
        recv_msg(r, &type) < 0 || type != AH_MSG_RESULT)
        return -1;
    return 0;
}

/* ---- the measurements ----------------------------------------------------------- */

/* Confined and unconfined alternate, so that both see the same machine
 * (other load, caches, frequency) over the run. */
static int spawn_to_ready(int n, stats *confined, stats *unconfined)
{
    double *v[2] = {calloc((size_t)n, sizeof(double)), calloc((size_t)n, sizeof(double))};
    int rc = 0;
    for (int i = 0; i < 2 * n && rc == 0; i++) {
        bool conf = i % 2 == 0;
        runner *r = calloc(1, sizeof(*r));
        double t0 = now_us();
        if (start(r, conf) < 0) {
            fprintf(stderr, "bench_sandbox: the %s runner did not become ready\n",
                    conf ? "confined" : "unconfined");
            show_log(r);
            rc = -1;
        } else {
            v[conf ? 0 : 1][i / 2] = (now_us() - t0) / 1000.0;
        }
        stop(r);
        free(r);
    }
    if (rc == 0) {
        *confined = summarize(v[0], (size_t)n);
        *unconfined = summarize(v[1], (size_t)n);
    }
    free(v[0]);
    free(v[1]);
    return rc;
}

static int round_trips(int n, stats *confined, stats *unconfined)
{
    runner *r[2] = {calloc(1, sizeof(runner)), calloc(1, sizeof(runner))};
    double *v[2] = {calloc((size_t)n, sizeof(double)), calloc((size_t)n, sizeof(double))};
    int rc = start(r[0], true) == 0 && start(r[1], false) == 0 ? 0 : -1;
    for (int i = 0; rc == 0 && i < n / 10 + 1; i++) /* warm up */
        rc = call(r[i % 2], 100 + (uint64_t)i);
    for (int i = 0; rc == 0 && i < 2 * n; i++) {
        double t0 = now_us();
        rc = call(r[i % 2], 1000000 + (uint64_t)i);
        v[i % 2][i / 2] = now_us() - t0;
    }
    if (rc == 0) {
        *confined = summarize(v[0], (size_t)n);
        *unconfined = summarize(v[1], (size_t)n);
    } else {
        fprintf(stderr, "bench_sandbox: a call failed\n");
    }
    for (int k = 0; k < 2; k++) {
        stop(r[k]);
        free(r[k]);
        free(v[k]);
    }
    return rc;
}

int main(int argc, char **argv)
{
    bool full = argc > 1 && !strcmp(argv[1], "--full");
    if (argc < 2 || (!full && strcmp(argv[1], "--smoke") != 0)) {
        fprintf(stderr, "usage: bench_sandbox --smoke | --full\n");
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);
    int spawns = full ? 100 : 5, calls = full ? 20000 : 300;
    stats sc, su, cc, cu;
    if (spawn_to_ready(spawns, &sc, &su) < 0 || round_trips(calls, &cc, &cu) < 0) return 1;

    printf("%-28s %12s %12s %12s\n", "", "confined", "unconfined", "ratio");
    printf("%-28s %12.2f %12.2f %11.2fx\n", "spawn-to-ready median (ms)", sc.median, su.median,
           sc.median / su.median);
    printf("%-28s %12.2f %12.2f %11.2fx\n", "spawn-to-ready p95 (ms)", sc.p95, su.p95,
           sc.p95 / su.p95);
    printf("%-28s %12.1f %12.1f %11.2fx\n", "call round trip median (us)", cc.median, cu.median,
           cc.median / cu.median);
    printf("%-28s %12.1f %12.1f %11.2fx\n", "call round trip p95 (us)", cc.p95, cu.p95,
           cc.p95 / cu.p95);
    printf("(%d spawns and %d calls per column; target: spawn-to-ready ratio <= 3x)\n", spawns,
           calls);

    const char *dir = getenv("BENCH_OUT");
    if (dir) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/sandbox.json", dir);
        json_t *o = json_pack(
            "{s:s,s:i,s:i,s:{s:f,s:f,s:f},s:{s:f,s:f,s:f},s:f,s:{s:f,s:f,s:f},s:{s:f,s:f,s:f},"
            "s:f}",
            "mode", full ? "full" : "smoke", "spawns", spawns, "calls", calls, "spawn_confined_ms",
            "median", sc.median, "p95", sc.p95, "mean", sc.mean, "spawn_unconfined_ms", "median",
            su.median, "p95", su.p95, "mean", su.mean, "spawn_ratio", sc.median / su.median,
            "call_confined_us", "median", cc.median, "p95", cc.p95, "mean", cc.mean,
            "call_unconfined_us", "median", cu.median, "p95", cu.p95, "mean", cu.mean, "call_ratio",
            cc.median / cu.median);
        if (!o || json_dump_file(o, path, JSON_INDENT(2)) < 0)
            fprintf(stderr, "bench_sandbox: cannot write %s\n", path);
        json_decref(o);
    }
    return 0;
}
