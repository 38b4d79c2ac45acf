/* core_spawn.c - spawn-to-ready of one echo instance and of 20 started
 * together (in-process supervisor, the real runner and sandbox), and the
 * memory of the real `agenthost serve` with 1 and with 20 idle instances. */
#include "core.h"

#include "../support/th.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FLEET 20

/* ---- spawn-to-ready ---------------------------------------------------------- */

typedef struct group {
    instance **v;
    size_t n;
    instance_state want;
} group;

static bool all_in(void *arg)
{
    group *g = arg;
    for (size_t i = 0; i < g->n; i++) {
        instance_state s = instance_get_state(g->v[i]);
        if (s != g->want && s != INST_FAILED && s != INST_QUARANTINED) return false;
    }
    return true;
}

/* Start every instance of g at once; the seconds until the last is ready
 * (first_s gets the first), or -1 if one failed. Then stop them all. */
static double start_group(bench *b, core_world *w, group *g, double *first_s)
{
    char err[512];
    w->first_ready_ns = 0;
    uint64_t t0 = bench_now_ns();
    for (size_t i = 0; i < g->n; i++)
        if (instance_enable(g->v[i], err, sizeof(err)) != 0)
            bench_fail(b, "enable %s: %s", instance_id(g->v[i]), err);
    g->want = INST_READY;
    core_run_until(w, all_in, g, 30000);
    uint64_t first = w->first_ready_ns;
    double took = -1;
    bool ok = true;
    for (size_t i = 0; i < g->n; i++)
        ok = ok && instance_get_state(g->v[i]) == INST_READY;
    if (ok)
        took = (double)(w->last_ready_ns - t0) / 1e9;
    else
        bench_fail(b, "%zu instances did not all become ready within 30 s", g->n);
    if (first_s) *first_s = first ? (double)(first - t0) / 1e9 : took;
    for (size_t i = 0; i < g->n; i++)
        instance_disable(g->v[i], err, sizeof(err));
    g->want = INST_DISABLED;
    if (!core_run_until(w, all_in, g, 15000)) bench_fail(b, "instances did not stop within 15 s");
    return took;
}

void bench_core_spawn(bench *b, core_world *w)
{
    instance *solo = core_add_echo(w, b, "spawn-solo", false);
    instance *fleet[FLEET];
    for (int i = 0; i < FLEET; i++) {
        char id[32];
        snprintf(id, sizeof(id), "spawn-%02d", i + 1);
        fleet[i] = core_add_echo(w, b, id, false);
        if (!fleet[i]) return;
    }
    if (!solo) return;
    int reps = (int)bench_pick(b, 1, 15);
    double one[16], all[16], first[16];
    group g1 = {&solo, 1, INST_READY};
    for (int r = 0; r < reps; r++)
        one[r] = start_group(b, w, &g1, NULL);
    group gn = {fleet, FLEET, INST_READY};
    int reps_n = (int)bench_pick(b, 1, 7);
    for (int r = 0; r < reps_n; r++)
        all[r] = start_group(b, w, &gn, &first[r]);
    double one_max = 0;
    for (int r = 0; r < reps; r++)
        one_max = one[r] > one_max ? one[r] : one_max;
    bench_section(b, "spawn", "Spawn-to-ready (runner exec, sandbox, dlopen, handshake, init)");
    bench_row(b, "spawn", "1 instance, median", bench_median(one, reps) * 1e3, "ms", "of %d starts",
              reps);
    bench_row(b, "spawn", "1 instance, slowest", one_max * 1e3, "ms", NULL);
    bench_row(b, "spawn", "20 together, all ready (median)", bench_median(all, reps_n) * 1e3, "ms",
              "of %d starts", reps_n);
    bench_row(b, "spawn", "20 together, first ready (median)", bench_median(first, reps_n) * 1e3,
              "ms", NULL);
}

/* ---- memory of the real host --------------------------------------------------- */

typedef struct mem {
    uint64_t host_rss, host_pss;
    uint64_t inst_rss_median, inst_pss_median, inst_rss_sum, inst_pss_sum;
    int instances;
} mem;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int measure_host(bench *b, int n, mem *out)
{
    memset(out, 0, sizeof(*out));
    th_host h;
    json_t *cfg = json_pack("{s:{s:i},s:[]}", "supervisor", "ping_interval_ms", 5000, "instances");
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "echo-%02d", i + 1);
        json_array_append_new(json_object_get(cfg, "instances"),
                              json_pack("{s:s,s:s}", "id", id, "plugin", "echo"));
    }
    char *text = json_dumps(cfg, 0);
    json_decref(cfg);
    int rc = -1;
    if (th_init(&h, "bench-rss") || th_install_plugin(&h, "echo") || th_config(&h, text) ||
        th_start(&h, NULL, 15000) != 0) {
        bench_fail(b, "cannot start agenthost serve with %d instances", n);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "echo-%02d", i + 1);
        if (!th_wait_state(&h, id, "ready", 20000)) {
            bench_fail(b, "instance %s of the real host did not become ready", id);
            goto out;
        }
    }
    th_sleep_ms(1000); /* idle: pings and timers only */
    json_t *list = NULL;
    if (th_http(&h, "GET", "/api/v1/instances", NULL, NULL, &list) != 200) {
        bench_fail(b, "GET /api/v1/instances failed");
        json_decref(list);
        goto out;
    }
    json_t *arr = json_is_array(list) ? list : json_object_get(list, "instances");
    uint64_t rss[64], pss[64];
    size_t k = 0, i;
    json_t *it;
    json_array_foreach(arr, i, it)
    {
        pid_t pid = (pid_t)json_integer_value(json_object_get(it, "pid"));
        if (pid > 0 && k < 64) {
            rss[k] = bench_tree(pid, bench_rss);
            pss[k] = bench_tree(pid, bench_pss);
            out->inst_rss_sum += rss[k];
            out->inst_pss_sum += pss[k];
            k++;
        }
    }
    json_decref(list);
    if ((int)k != n) {
        bench_fail(b, "expected %d instance pids from the API, found %zu", n, k);
        goto out;
    }
    out->host_rss = bench_rss(h.pid);
    out->host_pss = bench_pss(h.pid);
    qsort(rss, k, sizeof(*rss), cmp_u64);
    qsort(pss, k, sizeof(*pss), cmp_u64);
    out->inst_rss_median = rss[k / 2];
    out->inst_pss_median = pss[k / 2];
    out->instances = n;
    rc = 0;
out:
    free(text);
    if (h.pid > 0 && th_stop(&h, 10000) != 0) bench_fail(b, "agenthost serve did not stop cleanly");
    th_cleanup(&h);
    return rc;
}

void bench_core_rss(bench *b)
{
    mem one, many;
    if (measure_host(b, 1, &one) < 0 || measure_host(b, FLEET, &many) < 0) return;
    const double MiB = 1024.0 * 1024.0;
    bench_section(b, "memory", "Memory of `agenthost serve` (idle, after 1 s), the real binary");
    bench_row(b, "memory", "host RSS, 1 instance", (double)one.host_rss / MiB, "MiB", NULL);
    bench_row(b, "memory", "host RSS, 20 instances", (double)many.host_rss / MiB, "MiB",
              "PSS %.1f MiB", (double)many.host_pss / MiB);
    bench_row(b, "memory", "one idle instance RSS", (double)many.inst_rss_median / MiB, "MiB",
              "median of 20; PSS %.2f MiB (shared libraries split)",
              (double)many.inst_pss_median / MiB);
    bench_row(b, "memory", "20 idle instances, PSS total", (double)many.inst_pss_sum / MiB, "MiB",
              "RSS total %.1f MiB", (double)many.inst_rss_sum / MiB);
}
