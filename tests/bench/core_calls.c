/* core_calls.c - call round trip host -> echo instance -> host through the
 * real supervisor, against its floor: a bare SOCK_SEQPACKET socketpair
 * ping-pong of 256 bytes between two processes pinned like the host and
 * the plugin. Both run in alternating rounds so that a load spike on the
 * shared machine hits both sides alike. */
#include "core.h"

#include "../../sdk/ipc/jsonw.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define ARG_BYTES 256
#define FLOOR_BYTES 256

/* ---- the host side ------------------------------------------------------------ */

typedef struct call_run {
    bench *b;
    instance *inst;
    json_t *args;
    size_t text_len;
    long target, started, done, errors;
    unsigned window;
    uint64_t *t0; /* per slot */
    bench_lat *lat;
} call_run;

typedef struct call_slot {
    call_run *r;
    unsigned i;
} call_slot;

static void start_call(call_run *r, call_slot *s);

static void on_result(void *ud, const json_t *result, const char *err_code, const char *message)
{
    call_slot *s = ud;
    call_run *r = s->r;
    uint64_t now = bench_now_ns();
    r->done++;
    const char *text = json_string_value(json_object_get(result, "text"));
    if (err_code || !text || strlen(text) != r->text_len) {
        if (r->errors++ == 0)
            bench_fail(r->b, "echo call failed: %s: %s", err_code ? err_code : "wrong result",
                       message ? message : "");
    } else if (r->lat) {
        bench_lat_add(r->lat, now - r->t0[s->i]);
    }
    if (r->started < r->target) start_call(r, s);
}

static void start_call(call_run *r, call_slot *s)
{
    char err[256];
    r->started++;
    r->t0[s->i] = bench_now_ns();
    if (instance_call(r->inst, "echo", r->args, 0, on_result, s, err, sizeof(err)) != 0) {
        r->done++;
        if (r->errors++ == 0) bench_fail(r->b, "instance_call: %s", err);
    }
}

static bool run_done(void *arg)
{
    call_run *r = arg;
    return r->done >= r->target;
}

/* n calls with `window` in flight; returns the elapsed seconds. */
static double host_calls(bench *b, core_world *w, instance *inst, json_t *args, size_t text_len,
                         long n, unsigned window, bench_lat *lat)
{
    call_run r = {.b = b,
                  .inst = inst,
                  .args = args,
                  .text_len = text_len,
                  .target = n,
                  .window = window,
                  .lat = lat};
    r.t0 = calloc(window, sizeof(*r.t0));
    call_slot *slots = calloc(window, sizeof(*slots));
    uint64_t t0 = bench_now_ns();
    for (unsigned i = 0; i < window && r.started < n; i++) {
        slots[i] = (call_slot){.r = &r, .i = i};
        start_call(&r, &slots[i]);
    }
    if (!core_run_until(w, run_done, &r, 60000))
        bench_fail(b, "calls: %ld of %ld answered within 60 s", r.done, n);
    double s = (double)(bench_now_ns() - t0) / 1e9;
    free(r.t0);
    free(slots);
    return s;
}

/* ---- the floor ------------------------------------------------------------------ */

typedef struct floor_pair {
    pid_t child;
    int fd;
} floor_pair;

static int floor_start(floor_pair *p, int cpu)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        close(sv[0]);
        bench_pin_self(cpu);
        char buf[FLOOR_BYTES * 2];
        for (;;) {
            ssize_t n = recv(sv[1], buf, sizeof(buf), 0);
            if (n <= 0) _exit(n == 0 ? 0 : 1);
            if (send(sv[1], buf, (size_t)n, MSG_NOSIGNAL) != n) _exit(1);
        }
    }
    close(sv[1]);
    p->child = pid;
    p->fd = sv[0];
    return 0;
}

static int floor_stop(floor_pair *p)
{
    close(p->fd);
    int st = 0;
    waitpid(p->child, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* n round trips with `window` in flight; -1 if a message went astray. */
static double floor_calls(floor_pair *p, long n, unsigned window, bench_lat *lat)
{
    char msg[FLOOR_BYTES], in[FLOOR_BYTES * 2];
    memset(msg, 'x', sizeof(msg));
    uint64_t *t0 = calloc(window, sizeof(*t0));
    long sent = 0, got = 0;
    uint64_t start = bench_now_ns();
    for (unsigned i = 0; i < window && sent < n; i++, sent++) {
        memcpy(msg, &i, sizeof(i));
        t0[i] = bench_now_ns();
        if (send(p->fd, msg, sizeof(msg), MSG_NOSIGNAL) != (ssize_t)sizeof(msg)) goto broken;
    }
    while (got < n) {
        ssize_t r = recv(p->fd, in, sizeof(in), 0);
        if (r != FLOOR_BYTES) goto broken;
        uint64_t now = bench_now_ns();
        unsigned i;
        memcpy(&i, in, sizeof(i));
        if (i >= window) goto broken;
        if (lat) bench_lat_add(lat, now - t0[i]);
        got++;
        if (sent < n) {
            memcpy(msg, &i, sizeof(i));
            t0[i] = bench_now_ns();
            if (send(p->fd, msg, sizeof(msg), MSG_NOSIGNAL) != (ssize_t)sizeof(msg)) goto broken;
            sent++;
        }
    }
    free(t0);
    return (double)(bench_now_ns() - start) / 1e9;
broken:
    free(t0);
    return -1;
}

/* ---- the benchmark ----------------------------------------------------------------- */

static json_t *make_args(size_t *text_len)
{
    /* {"text":"xxx..."} is exactly ARG_BYTES bytes of compact JSON. */
    size_t n = ARG_BYTES - strlen("{\"text\":\"\"}");
    char *text = malloc(n + 1);
    memset(text, 'x', n);
    text[n] = 0;
    json_t *args = json_pack("{s:s}", "text", text);
    free(text);
    *text_len = n;
    char *dump = json_dumps(args, JSON_COMPACT);
    if (strlen(dump) != ARG_BYTES)
        fprintf(stderr, "warning: call arguments are %zu bytes\n", strlen(dump));
    free(dump);
    return args;
}

/* The JSON work of one call, in this thread, as the host and the runtime
 * do it: encode the CALL and the RESULT (ah_json_dumps), decode both
 * (jansson's json_loadb) and copy the arguments as echo does. CPU
 * microseconds per call, encoding and decoding apart. */
typedef struct json_work {
    json_t *call, *reply;
    char *t1, *t2;
    size_t l1, l2;
} json_work;

static void encode_fast(json_work *w)
{
    free(ah_json_dumps(w->call, NULL));
    free(ah_json_dumps(w->reply, NULL));
}

static void encode_jansson(json_work *w)
{
    free(json_dumps(w->call, JSON_COMPACT | JSON_ENCODE_ANY));
    free(json_dumps(w->reply, JSON_COMPACT | JSON_ENCODE_ANY));
}

static void decode(json_work *w)
{
    json_t *in = json_loadb(w->t1, w->l1, 0, NULL);
    json_t *copy = json_deep_copy(json_object_get(in, "args"));
    json_t *back = json_loadb(w->t2, w->l2, JSON_REJECT_DUPLICATES, NULL);
    json_decref(back);
    json_decref(copy);
    json_decref(in);
}

/* CPU microseconds per run of fn: the best of ten slices of n/10 runs,
 * so that preemption on the shared machine does not count. */
static double best_us(void (*fn)(json_work *), json_work *w, long n)
{
    long slice = n / 10 > 0 ? n / 10 : 1;
    double best = 1e18;
    for (int r = 0; r < 10; r++) {
        uint64_t t0 = bench_cpu_thread_ns();
        for (long i = 0; i < slice; i++)
            fn(w);
        double us = (double)(bench_cpu_thread_ns() - t0) / 1e3 / (double)slice;
        best = us < best ? us : best;
    }
    return best;
}

static void json_cost(const json_t *args, long n, double *enc_us, double *dec_us,
                      double *jansson_us)
{
    json_work w;
    w.call =
        json_pack("{s:s,s:O,s:I}", "action", "echo", "args", args, "timeout_ms", (json_int_t)10000);
    w.reply = json_pack("{s:O}", "result", args);
    w.t1 = ah_json_dumps(w.call, &w.l1);
    w.t2 = ah_json_dumps(w.reply, &w.l2);
    *enc_us = best_us(encode_fast, &w, n);
    *dec_us = best_us(decode, &w, n);
    *jansson_us = best_us(encode_jansson, &w, n);
    free(w.t1);
    free(w.t2);
    json_decref(w.call);
    json_decref(w.reply);
}

typedef struct placement {
    const char *name; /* "split", "shared" */
    int host_cpu, plugin_cpu;
} placement;

/* Latency and throughput with the host and the plugin (and the floor's
 * two processes) pinned as p says. */
static void measure(bench *b, core_world *w, instance *inst, const placement *p)
{
    pid_t plugin = core_pid(inst);
    bool pinned = bench_pin_self(p->host_cpu) == 0 && bench_pin_pid(plugin, p->plugin_cpu) == 0;
    size_t text_len;
    json_t *args = make_args(&text_len);
    floor_pair fp;
    if (floor_start(&fp, p->plugin_cpu) < 0) {
        bench_fail(b, "floor: cannot start the ping-pong process: %s", strerror(errno));
        json_decref(args);
        return;
    }
    long n = bench_pick(b, 1000, 20000);
    int rounds = (int)bench_pick(b, 1, 5);
    /* Warm up both sides (page faults, caches, the plugin's allocator). */
    host_calls(b, w, inst, args, text_len, n / 4, 1, NULL);
    floor_calls(&fp, n / 4, 1, NULL);

    bench_lat host_lat = {0}, floor_lat = {0};
    for (int r = 0; r < rounds; r++) {
        if (floor_calls(&fp, n / rounds, 1, &floor_lat) < 0)
            bench_fail(b, "floor: a ping-pong message went astray");
        host_calls(b, w, inst, args, text_len, n / rounds, 1, &host_lat);
    }
    size_t samples = host_lat.n;
    double h50 = bench_lat_us(&host_lat, 0.5), h99 = bench_lat_us(&host_lat, 0.99);
    double f50 = bench_lat_us(&floor_lat, 0.5), f99 = bench_lat_us(&floor_lat, 0.99);

    static const unsigned windows[] = {16, 128};
    double host_tput[2], floor_tput[2];
    /* CPU time per round trip at 128 in flight: each side's own work. */
    uint64_t cpu_host = 0, cpu_plugin = 0, cpu_floor = 0;
    long tn = bench_pick(b, 2000, 100000);
    for (int i = 0; i < 2; i++) {
        double fs = 0, hs = 0;
        for (int r = 0; r < rounds; r++) {
            uint64_t c0 = bench_cpu_thread_ns() + bench_cpu_pid_ns(fp.child);
            double x = floor_calls(&fp, tn / rounds, windows[i], NULL);
            uint64_t c1 = bench_cpu_thread_ns(), p1 = bench_cpu_pid_ns(plugin);
            cpu_floor += c1 + bench_cpu_pid_ns(fp.child) - c0;
            if (x < 0) bench_fail(b, "floor: a ping-pong message went astray");
            fs += x;
            hs += host_calls(b, w, inst, args, text_len, tn / rounds, windows[i], NULL);
            cpu_host += bench_cpu_thread_ns() - c1;
            cpu_plugin += bench_cpu_pid_ns(plugin) - p1;
        }
        floor_tput[i] = (double)(tn / rounds * rounds) / fs;
        host_tput[i] = (double)(tn / rounds * rounds) / hs;
    }
    double per = 1e3 * 2.0 * (double)(tn / rounds * rounds); /* ns -> us, both windows */
    if (floor_stop(&fp) < 0) bench_fail(b, "floor: the ping-pong process failed");

    char sec[32], title[200], k[96];
    snprintf(sec, sizeof(sec), "calls_%s", p->name);
    snprintf(title, sizeof(title),
             "Call round trip, 256-byte JSON argument, echo instance; %s: host CPU %d, plugin "
             "CPU %d%s",
             p->name, p->host_cpu, p->plugin_cpu, pinned ? "" : " (pinning REFUSED)");
    bench_section(b, sec, title);
    bench_set(b, sec, "samples", json_integer((json_int_t)samples));
    bench_set(b, sec, "pinned", json_boolean(pinned));
    bench_row(b, sec, "host call median (1 in flight)", h50, "us", NULL);
    bench_row(b, sec, "host call p99 (1 in flight)", h99, "us", NULL);
    bench_row(b, sec, "floor ping-pong median", f50, "us", "bare SOCK_SEQPACKET, 2 processes");
    bench_row(b, sec, "floor ping-pong p99", f99, "us", NULL);
    bench_row(b, sec, "median ratio host/floor", f50 > 0 ? h50 / f50 : 0, "x", "target <= 2x: %s",
              f50 > 0 && h50 / f50 <= 2.0 ? "met" : "MISSED");
    for (int i = 0; i < 2; i++) {
        snprintf(k, sizeof(k), "host calls/s (%u in flight)", windows[i]);
        bench_row(b, sec, k, host_tput[i], "calls/s", NULL);
        snprintf(k, sizeof(k), "floor round trips/s (%u in flight)", windows[i]);
        bench_row(b, sec, k, floor_tput[i], "rt/s", NULL);
        snprintf(k, sizeof(k), "throughput ratio host/floor (%u)", windows[i]);
        bench_row(b, sec, k, floor_tput[i] > 0 ? host_tput[i] / floor_tput[i] : 0, "x", NULL);
    }
    bench_row(b, sec, "CPU per call: host", (double)cpu_host / per, "us",
              "loop thread, user+system");
    bench_row(b, sec, "CPU per call: plugin process", (double)cpu_plugin / per, "us", NULL);
    bench_row(b, sec, "CPU per round trip: floor, both", (double)cpu_floor / per, "us", NULL);
    double enc, dec, jenc;
    json_cost(args, tn, &enc, &dec, &jenc);
    bench_row(b, sec, "of which JSON encode, both sides", enc, "us",
              "ah_json_dumps of CALL and RESULT (jansson json_dumps: %.2f us)", jenc);
    bench_row(b, sec, "of which JSON decode, both sides", dec, "us",
              "jansson json_loadb of both, echo's copy");
    json_decref(args);
    bench_lat_free(&host_lat);
    bench_lat_free(&floor_lat);
}

void bench_core_calls(bench *b, core_world *w)
{
    instance *inst = core_add_echo(w, b, "echo-calls", true);
    if (!inst) return;
    cpu_set_t saved;
    sched_getaffinity(0, sizeof(saved), &saved);
    /* Host and plugin on two CPUs (every message wakes the other CPU), and
     * both on one CPU (every message is a context switch). */
    placement split = {"split", 0, 1}, shared = {"shared", 0, 0};
    if (bench_cpus() > 1) measure(b, w, inst, &split);
    measure(b, w, inst, &shared);
    sched_setaffinity(0, sizeof(saved), &saved);
}
