/*
 * bench_schedules - scheduled starts (issue 13, ADR 0026): N on_schedule
 * triggers stored through the API (100,000 with --full; cron schedules
 * whose next run is weeks away), then the real binary measured idle with
 * them after a restart (RSS, CPU over a window), and D one-off schedules due a few
 * seconds on fired: their lateness (when agent_launch.log says the run was
 * committed, minus the time it was due) at p50, p99 and max. Side by side,
 * in the same run, the floor: the same host with no schedule stored (idle
 * RSS and CPU, and the same D one-offs' lateness). The next-run index
 * lives in LMDB, so the stored ones should cost neither memory nor CPU
 * while idle, and the due ones fire within one second (the timer scan is
 * engine.timer_scan_ms, 250 ms). The host is pinned to one CPU, the loader
 * to the other (2 cores shared).
 */
#include "../support/th.h"
#include "bench.h"
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static th_host H;
static char agent[64];

static const char SCENARIO[] =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": [\"en\"],"
    " \"start\": \"hello\", \"steps\": {\"hello\": {\"kind\": \"say\", \"text\": {\"en\": "
    "\"Time!\"},"
    " \"next\": \"bye\"}, \"bye\": {\"kind\": \"end\", \"outcome\": \"done\"}}}";

static int start_host(bench *b, const char *tag)
{
    int port = bench_free_port();
    char cfg[300];
    snprintf(cfg, sizeof(cfg),
             "{\"listen\": \"127.0.0.1:%d\", \"http\": {\"per_ip_connections\": 0}}", port);
    if (th_init(&H, tag) || th_config(&H, cfg) || th_make_token(&H) || th_start(&H, NULL, 30000) ||
        th_make_agent(&H, "Scheduled", SCENARIO, NULL, agent, sizeof(agent))) {
        bench_fail(b, "the host did not start");
        return -1;
    }
    if (bench_cpus() > 1) bench_pin_pid(H.pid, 1);
    return 0;
}

static void stop_host(void)
{
    th_stop(&H, 15000);
    th_cleanup(&H);
}

/* Store n schedules whose next run is weeks away (1 January, 03:00), from
 * a closed loop of 8: 0 or -1. */
static int store_far(bench *b, long n, double *per_s)
{
    char url[200], auth[200], body[300];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/triggers", H.port);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    snprintf(body, sizeof(body),
             "{\"agent_id\": \"%s\", \"kind\": \"on_schedule\", \"name\": \"yearly\","
             " \"schedule\": {\"cron\": \"0 3 1 1 *\", \"timezone\": \"Europe/Berlin\"}}",
             agent);
    const char *headers[] = {"Content-Type: application/json", auth, NULL};
    long chunk = n < 10 ? n : n / 10, done = 0;
    double wall = 0;
    int rc = 0;
    while (!rc && done < n) {
        long k = n - done < chunk ? n - done : chunk;
        lg_opts o = {
            .url = url, .body = body, .headers = headers, .total = (int)k, .concurrency = 8};
        lg_result r = {0};
        loadgen(&o, &r);
        wall += r.wall_ms;
        done += r.ok;
        fprintf(stderr, "stored %ld: %.0f/s\n", done,
                r.wall_ms > 0 ? r.ok * 1000.0 / r.wall_ms : 0);
        if (r.ok != k || r.failed) rc = -1;
        lg_free(&r);
    }
    *per_s = wall > 0 ? done * 1000.0 / wall : 0;
    if (rc) bench_fail(b, "storing schedules: %ld stored of %ld", done, n);
    return rc;
}

/* RSS (bytes: all, and its anonymous part: heap and stacks, not the LMDB
 * map's file pages) and CPU (% of one core) of the host over ms of
 * idleness. */
static void idle(int ms, double *rss, double *anon, double *cpu_pct)
{
    uint64_t c0 = bench_cpu_pid_ns(H.pid), t0 = bench_now_ns();
    usleep((useconds_t)ms * 1000);
    uint64_t c1 = bench_cpu_pid_ns(H.pid), t1 = bench_now_ns();
    *rss = (double)bench_rss(H.pid);
    *anon = rss_kb(H.pid, "RssAnon:") * 1024.0;
    *cpu_pct = t1 > t0 ? 100.0 * (double)(c1 - c0) / (double)(t1 - t0) : 0;
}

/* ---- due ones and their lateness ---------------------------------------------------- */

static int64_t parse_ms(const char *t)
{
    struct tm tm = {0};
    int ms = 0;
    if (sscanf(t, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &ms) < 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static void rfc3339(int64_t ms, char *buf, size_t n)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[40];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, n, "%s.%03dZ", base, (int)(ms % 1000));
}

/* d one-off schedules due from first_ms, spread over spread_ms: their ids
 * and times into due (trigger id -> due ms). */
static int make_due(bench *b, int d, int64_t first_ms, int spread_ms, json_t *due)
{
    for (int i = 0; i < d; i++) {
        int64_t at = first_ms + (int64_t)spread_ms * i / (d > 1 ? d - 1 : 1);
        char when[40], body[300];
        rfc3339(at, when, sizeof(when));
        snprintf(body, sizeof(body),
                 "{\"agent_id\": \"%s\", \"kind\": \"on_schedule\", \"name\": \"due\","
                 " \"schedule\": {\"at\": \"%s\"}}",
                 agent, when);
        json_t *o = NULL;
        if (th_http(&H, "POST", "/api/v1/triggers", body, NULL, &o) != 201) {
            json_decref(o);
            bench_fail(b, "a one-off schedule was refused");
            return -1;
        }
        json_object_set_new(due, json_string_value(json_object_get(o, "id")), json_integer(at));
        json_decref(o);
    }
    return 0;
}

/* Wait for every due one to have fired (agent_launch.log), then their
 * lateness in ms into lat[] (d of them). The count fired. */
static int lateness(json_t *due, double *lat, int wait_ms)
{
    int d = (int)json_object_size(due), got = 0;
    for (int waited = 0; waited <= wait_ms; waited += 200) {
        char *log = th_read(&H, "logs/agent_launch.log");
        got = 0;
        for (char *line = log ? strtok(log, "\n") : NULL; line; line = strtok(NULL, "\n")) {
            if (!strstr(line, "\"schedule fired\"")) continue;
            json_t *e = json_loads(line, 0, NULL);
            const char *id = json_string_value(json_object_get(e, "trigger"));
            json_t *at = id ? json_object_get(due, id) : NULL;
            if (at && got < d)
                lat[got++] = (double)(parse_ms(json_string_value(json_object_get(e, "time"))) -
                                      json_integer_value(at));
            json_decref(e);
        }
        free(log);
        if (got >= d) break;
        th_sleep_ms(200);
    }
    return got;
}

/* One host: n stored, idle measured, d due fired. Rows under section. */
static void run_host(bench *b, const char *section, long n, int d, int idle_ms)
{
    char tag[40];
    snprintf(tag, sizeof(tag), "bench-sched-%ld", n);
    if (start_host(b, tag)) return;
    double per_s = 0, rss, anon, cpu;
    idle(1000, &rss, &anon, &cpu); /* settled after start */
    if (n && store_far(b, n, &per_s) == 0)
        bench_row(b, section, "stored_per_s", per_s, "/s", "schedules stored through the API");
    /* Restarted, so what is measured is a host holding them, not the
     * high-water mark of the requests that stored them. */
    if (th_stop(&H, 15000) || th_start(&H, NULL, 30000)) {
        bench_fail(b, "%s: the host did not restart", section);
        return;
    }
    if (bench_cpus() > 1) bench_pin_pid(H.pid, 1);
    th_sleep_ms(2000); /* settled after the start */
    idle(idle_ms, &rss, &anon, &cpu);
    bench_row(b, section, "stored", (double)n, "", "on_schedule triggers stored");
    bench_row(b, section, "idle_rss_mb", rss / 1048576.0, "MiB", "host RSS while idle");
    bench_row(b, section, "idle_anon_mb", anon / 1048576.0, "MiB",
              "of which anonymous (not LMDB's mapped pages)");
    bench_row(b, section, "idle_cpu_pct", cpu, "%", "host CPU while idle, of one core");
    json_t *due = json_object();
    double *lat = calloc((size_t)d, sizeof(*lat));
    int64_t first = (int64_t)time(NULL) * 1000 + 3000;
    int spread = (int)bench_pick(b, 2000, 10000);
    if (lat && make_due(b, d, first, spread, due) == 0) {
        int got = lateness(due, lat, spread + 30000);
        if (got != d) bench_fail(b, "%s: %d of %d due schedules fired", section, got, d);
        bench_row(b, section, "due", d, "", "one-off schedules due over %d s", spread / 1000);
        bench_row(b, section, "late_p50_ms", bench_median(lat, got), "ms",
                  "fired after due, median");
        double mx = 0;
        for (int i = 0; i < got; i++)
            mx = lat[i] > mx ? lat[i] : mx;
        bench_row(b, section, "late_p99_ms", pct_of(lat, (size_t)got, 99), "ms", "p99");
        bench_row(b, section, "late_max_ms", mx, "ms", "max (timer scan every 250 ms)");
    }
    free(lat);
    json_decref(due);
    stop_host();
}

int main(int argc, char **argv)
{
    bench b;
    bench_init(&b, "schedules", argc, argv);
    if (bench_cpus() > 1) bench_pin_self(0);
    long n = bench_pick(&b, 2000, 100000);
    int d = (int)bench_pick(&b, 20, 200);
    int idle_ms = (int)bench_pick(&b, 3000, 30000);
    bench_section(&b, "floor", "The floor: the host with no schedule stored");
    run_host(&b, "floor", 0, d, idle_ms);
    bench_section(&b, "stored", "The host with the schedules stored");
    run_host(&b, "stored", n, d, idle_ms);
    return bench_finish(&b);
}
