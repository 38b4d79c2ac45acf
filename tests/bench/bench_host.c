/*
 * bench_host.c - the "host" phase of bench_egress: a fresh process
 * assembles the host's loop, logger, supervisor, broker, egress service
 * and plugin metrics the way host/app/app.c does (no HTTP API: the calls come from
 * inside, as the engine's will), runs one llm-openai instance unconfined
 * (test build), makes `calls` chat calls at once, and prints its figures
 * as JSON.
 */
#include "../support/th.h"
#include "bench_util.h"
#include "broker/broker.h"
#include "core/log.h"
#include "core/loop.h"
#include "plugin/manifest.h"
#include "plugin/supervisor.h"
#include "services/egress_service.h"
#include "services/metrics_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef struct run {
    double *start, *lat;
    int done, ok, failed;
    int calls, fired, in_flight, peak;
    double t0;
    int ramp_ms;
    instance *inst;
    json_t *args;
} run;

typedef struct one {
    run *r;
    int i;
} one;

static void on_done(void *ud, const json_t *result, const char *err_code, const char *message)
{
    one *o = ud;
    run *r = o->r;
    r->lat[o->i] = now_ms() - r->start[o->i];
    r->done++;
    r->in_flight--;
    if (err_code) {
        r->failed++;
        if (r->failed <= 3)
            fprintf(stderr, "bench host phase: call %d: %s: %s\n", o->i, err_code, message);
    } else if (json_string_value(json_object_get(result, "content"))) {
        r->ok++;
    } else {
        r->failed++;
    }
    free(o);
}

/* The broker's own latency per request, from integration.log: the first
 * `calls` lines are round 1, the rest round 2. */
static void broker_latencies(const char *logs, int calls, double median[2], double p99[2])
{
    char path[600];
    snprintf(path, sizeof(path), "%s/integration.log", logs);
    FILE *f = fopen(path, "r");
    median[0] = median[1] = p99[0] = p99[1] = 0;
    if (!f) return;
    size_t n = 0, cap = 1024;
    double *v = malloc(cap * sizeof(double));
    char *line = NULL;
    size_t len = 0;
    while (getline(&line, &len, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        json_t *l = json_object_get(o, "latency_ms");
        if (json_is_number(l)) {
            if (n == cap) v = realloc(v, (cap *= 2) * sizeof(double));
            v[n++] = json_number_value(l);
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    size_t first = n < (size_t)calls ? n : (size_t)calls;
    median[0] = pct_of(v, first, 50);
    p99[0] = pct_of(v, first, 99);
    median[1] = pct_of(v + first, n - first, 50);
    p99[1] = pct_of(v + first, n - first, 99);
    free(v);
}

/* Open loop: call i is due at t0 + i * ramp / calls; its latency counts from then. */
static void fire_due(uv_timer_t *t)
{
    run *r = t->data;
    double now = now_ms();
    char err[300];
    while (r->fired < r->calls && r->t0 + (double)r->fired * r->ramp_ms / r->calls <= now) {
        int i = r->fired++;
        one *o = malloc(sizeof(*o));
        o->r = r;
        o->i = i;
        r->start[i] = r->t0 + (double)i * r->ramp_ms / r->calls;
        if (instance_call(r->inst, "chat", r->args, 600000, on_done, o, err, sizeof(err)) < 0) {
            fprintf(stderr, "bench host phase: call %d: %s\n", i, err);
            free(o);
            r->lat[i] = 0;
            r->done++;
            r->failed++;
            continue;
        }
        if (++r->in_flight > r->peak) r->peak = r->in_flight;
    }
    if (r->fired == r->calls) uv_timer_stop(t);
}

int bench_host_phase(int calls, int delay_ms, int ramp_ms, int port)
{
    char dir[] = "/tmp/ah-bench-host-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char logs[600];
    snprintf(logs, sizeof(logs), "%s/logs", dir);
    log_opts lo = {.dir = logs, .to_stderr = false, .min_level = LOG_INFO};
    if (log_init(&lo) < 0) return 1;
    ah_loop *loop;
    supervisor *sup;
    broker *b;
    metrics_service *pm;
    egress_service *es;
    char err[600];
    if (loop_new(&loop) < 0) return 1;
    supervisor_opts so = {.runner = TH_BUILD_DIR "/agenthost-runner", .no_sandbox = true};
    broker_opts bo = {.max_retries = 2,
                      .max_redirects = 5,
                      .max_retry_after_ms = 30000,
                      .max_in_flight = 20000,
                      .timeout_ms = 300000,
                      .max_idle_connections = (uint32_t)calls + 100};
    snprintf(err, sizeof(err), "out of memory");
    if (supervisor_new(&sup, loop, NULL, NULL, &so) != 0 || metrics_service_attach(&pm, sup) != 0 ||
        broker_new(&b, loop, &bo, err, sizeof(err)) != 0 ||
        egress_service_attach(&es, sup, b) != 0) {
        fprintf(stderr, "bench host phase: %s\n", err);
        return 1;
    }
    manifest *m;
    if (manifest_load(TH_BUILD_DIR "/plugins/llm-openai/manifest.json", true, &m, err,
                      sizeof(err)) < 0) {
        fprintf(stderr, "bench host phase: %s\n", err);
        return 1;
    }
    char text[800];
    snprintf(
        text, sizeof(text),
        "{\"base_url\":\"http://127.0.0.1:%d/v1\",\"model\":\"slow:%d\",\"timeout_ms\":300000}",
        port, delay_ms);
    json_t *config = json_loads(text, 0, NULL);
    snprintf(
        text, sizeof(text),
        "{\"egress\":[{\"scheme\":\"http\",\"host\":\"127.0.0.1\",\"port\":%d,\"private\":true}],"
        "\"limits\":{\"in_flight\":%d,\"memory_mb\":2048,\"stall_ms\":600000}}",
        port, calls + 16);
    json_t *over = json_loads(text, 0, NULL);
    if (supervisor_add(sup, "llm", m, config, over, true, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench host phase: %s\n", err);
        return 1;
    }
    json_decref(config);
    json_decref(over);
    supervisor_start_all(sup);
    instance *inst = supervisor_find(sup, "llm");
    double deadline = now_ms() + 20000;
    while (instance_get_state(inst) != INST_READY && now_ms() < deadline)
        uv_run(loop_uv(loop), UV_RUN_ONCE);
    if (instance_get_state(inst) != INST_READY) {
        fprintf(stderr, "bench host phase: the instance did not start\n");
        return 1;
    }
    json_t *st = instance_status(inst);
    pid_t plugin = (pid_t)json_integer_value(json_object_get(st, "pid"));
    json_decref(st);

    json_t *out = json_object();
    int failed = 0;
    json_t *args = json_pack("{s:s}", "prompt", "What is the capital of England?");
    struct rusage ru0;
    getrusage(RUSAGE_SELF, &ru0);
    double plugin_cpu0 = cpu_ms(plugin);
    /* Round 1 opens every connection (cold); round 2 reuses them (warm). */
    for (int round = 0; round < 2; round++) {
        run r = {.calls = calls, .ramp_ms = ramp_ms > 0 ? ramp_ms : 1, .inst = inst, .args = args};
        r.start = calloc((size_t)calls, sizeof(double));
        r.lat = calloc((size_t)calls, sizeof(double));
        uv_timer_t firing;
        uv_timer_init(loop_uv(loop), &firing);
        firing.data = &r;
        r.t0 = now_ms();
        uv_timer_start(&firing, fire_due, 0, 1);
        deadline = now_ms() + 300000;
        while (r.done < calls && now_ms() < deadline)
            uv_run(loop_uv(loop), UV_RUN_ONCE);
        double wall = now_ms() - r.t0;
        uv_close((uv_handle_t *)&firing, NULL);
        uv_run(loop_uv(loop), UV_RUN_NOWAIT); /* let the close finish before reuse */
        json_object_set_new(out, round ? "warm" : "cold",
                            json_pack("{s:i,s:i,s:f,s:f,s:f,s:i}", "ok", r.ok, "failed",
                                      r.failed + (calls - r.done), "wall_ms", wall, "median_ms",
                                      pct_of(r.lat, (size_t)calls, 50), "p99_ms",
                                      pct_of(r.lat, (size_t)calls, 99), "peak_in_flight", r.peak));
        failed += r.failed + (calls - r.done);
        free(r.start);
        free(r.lat);
    }
    /* CPU per call: robust to a busy machine, unlike latency. */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
#define RU_MS(r)                                                                                   \
    ((r).ru_utime.tv_sec * 1e3 + (r).ru_utime.tv_usec / 1e3 + (r).ru_stime.tv_sec * 1e3 +          \
     (r).ru_stime.tv_usec / 1e3)
    double host_cpu_ms = RU_MS(ru) - RU_MS(ru0);
    double plugin_cpu_ms = cpu_ms(plugin) - plugin_cpu0;
    double plugin_mb = rss_kb(plugin, "VmHWM:") / 1024.0;
    double host_mb = rss_kb(getpid(), "VmHWM:") / 1024.0;
    json_decref(args);
    double bmed[2], bp99[2];
    log_shutdown();
    broker_latencies(logs, calls, bmed, bp99);
    json_object_set_new(json_object_get(out, "cold"), "broker_median_ms", json_real(bmed[0]));
    json_object_set_new(json_object_get(out, "cold"), "broker_p99_ms", json_real(bp99[0]));
    json_object_set_new(json_object_get(out, "warm"), "broker_median_ms", json_real(bmed[1]));
    json_object_set_new(json_object_get(out, "warm"), "broker_p99_ms", json_real(bp99[1]));
    json_object_set_new(out, "failed", json_integer(failed));
    json_object_set_new(out, "host_rss_mb", json_real(host_mb));
    json_object_set_new(out, "plugin_rss_mb", json_real(plugin_mb));
    json_object_set_new(out, "host_cpu_us_per_call", json_real(host_cpu_ms * 1000 / (2.0 * calls)));
    json_object_set_new(out, "plugin_cpu_us_per_call",
                        json_real(plugin_cpu_ms * 1000 / (2.0 * calls)));
    char *s = json_dumps(out, JSON_COMPACT);
    printf("%s\n", s);
    fflush(stdout);
    free(s);
    json_decref(out);
    /* The process ends here; the OS reaps the plugin with its channel. */
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench host phase: cannot remove %s\n", dir);
    _exit(0);
}
