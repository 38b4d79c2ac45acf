/*
 * bench_egress - the egress broker and the LLM plugin under load, beside
 * their floor, in one run (scripts/bench.sh convention):
 *
 *   bench_egress --smoke | --full
 *
 * 1. Concurrency: N LLM calls at once (full: 10,000) against the fake
 *    OpenAI server answering each after a delay (full: 1 s). Through the
 *    host and plugin: a fresh process runs the host's loop, supervisor,
 *    broker and one llm-openai instance and makes the calls the way the
 *    engine will (instance_call). The floor: the same HTTP requests made
 *    directly with curl multi, in another fresh process. Reported: all
 *    complete, wall time, host and plugin peak RSS, and the added latency
 *    per call (median, p99), end to end and inside the broker (its
 *    integration.log latency against the direct transfer).
 * 2. A chat turn: `agenthost serve` over its HTTP API, the plugin and the
 *    broker, against a fake that answers at once, under a closed loop of
 *    32 clients; beside the same load sent directly to the fake; and the
 *    ratio to Flowise's figures measured on this machine class (~38
 *    requests/s ceiling, ~28 ms added per request, ~1 GiB RSS).
 *
 * Figures go to stdout as a table and to $BENCH_OUT/egress.json. The exit
 * status is non-zero only when a request failed, never for timing.
 */
#include "../fakes/fake_proc.h"
#include "../support/th.h"
#include "bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FLOWISE_RPS 38.0
#define FLOWISE_ADDED_MS 28.0
#define FLOWISE_RSS_MB 1024.0

extern char **environ;

typedef struct scenario {
    int calls;    /* LLM calls */
    int delay_ms; /* the fake's answer time */
    int ramp_ms;  /* all calls start within this */
} scenario;

typedef struct mode {
    const char *name;
    scenario sc[2]; /* part 1: the case first, then an unsaturated one */
    int nsc;
    int turn_clients; /* part 2: the throughput ceiling's closed loop */
    int turn_ms;      /* part 2: per measurement */
} mode;

static const mode SMOKE = {"smoke", {{200, 200, 100}}, 1, 8, 1000};
static const mode FULL = {"full", {{10000, 1000, 500}, {1000, 1000, 500}}, 2, 32, 10000};

/* Run this binary in a phase and read the JSON it prints. */
static json_t *run_phase(const char *self, const char *phase, const scenario *m, int port)
{
    char a[16], b[16], c[16], d[16];
    snprintf(a, sizeof(a), "%d", m->calls);
    snprintf(b, sizeof(b), "%d", m->delay_ms);
    snprintf(c, sizeof(c), "%d", m->ramp_ms);
    snprintf(d, sizeof(d), "%d", port);
    const char *argv[] = {self, "--phase", phase, a, b, c, d, NULL};
    int out[2];
    if (pipe(out) < 0) return NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    pid_t pid;
    int rc = posix_spawn(&pid, self, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (rc != 0) {
        close(out[0]);
        return NULL;
    }
    char *text = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 > cap) {
            cap = cap ? cap * 2 : 65536;
            text = realloc(text, cap);
        }
        ssize_t got = read(out[0], text + n, cap - n - 1);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        n += (size_t)got;
    }
    close(out[0]);
    int status;
    waitpid(pid, &status, 0);
    if (!text) return NULL;
    text[n] = 0;
    json_t *o = json_loads(text, 0, NULL);
    if (!o) fprintf(stderr, "bench_egress: phase %s printed no result (exit %d)\n", phase, status);
    free(text);
    return o;
}

static double num(json_t *o, const char *path)
{
    return json_number_value(th_get(o, path));
}

/* ---- part 2: a chat turn through `agenthost serve` --------------------------------- */

static json_t *chat_turn(const mode *m, const fake_proc *fk, int *failed)
{
    th_host h;
    if (th_init(&h, "bench-egress") || th_install_plugin(&h, "llm-openai")) return NULL;
    char cfg[1400];
    snprintf(
        cfg, sizeof(cfg),
        "{\"log\":{\"stderr\":false},\"http\":{\"per_ip_connections\":0,\"max_connections\":4096},"
        "\"instances\":[{\"id\":\"llm\",\"plugin\":\"llm-openai\",\"config\":{\"base_url\":"
        "\"http://127.0.0.1:%d/v1\"},\"egress\":[{\"scheme\":\"http\",\"host\":\"127.0.0.1\","
        "\"port\":%d,\"private\":true}]}]}",
        fk->port, fk->port);
    if (th_config(&h, cfg) || th_start(&h, NULL, 15000) ||
        !th_wait_state(&h, "llm", "ready", 15000)) {
        th_cleanup(&h);
        return NULL;
    }
    const char *prompt = "What is the capital of England?";
    char direct_url[200], api_url[200], direct_body[300], api_body[200], auth[200];
    snprintf(direct_url, sizeof(direct_url), "http://127.0.0.1:%d/v1/chat/completions", fk->port);
    snprintf(api_url, sizeof(api_url), "http://127.0.0.1:%d/api/v1/instances/llm/actions/chat",
             h.port);
    snprintf(direct_body, sizeof(direct_body),
             "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}",
             prompt);
    snprintf(api_body, sizeof(api_body), "{\"prompt\":\"%s\"}", prompt);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", h.token);
    const char *direct_h[] = {"Content-Type: application/json", NULL};
    const char *api_h[] = {"Content-Type: application/json", auth, NULL};
    /* Warm both paths. */
    lg_result warm = {0};
    loadgen(
        &(lg_opts){
            .url = api_url, .body = api_body, .headers = api_h, .total = 50, .concurrency = 4},
        &warm);
    lg_free(&warm);
    /* Added latency: one client at a time, nothing queued. */
    lg_result d1 = {0}, a1 = {0}, d = {0}, a = {0};
    loadgen(&(lg_opts){.url = direct_url,
                       .body = direct_body,
                       .headers = direct_h,
                       .concurrency = 1,
                       .duration_ms = m->turn_ms / 2},
            &d1);
    loadgen(&(lg_opts){.url = api_url,
                       .body = api_body,
                       .headers = api_h,
                       .concurrency = 1,
                       .duration_ms = m->turn_ms / 2},
            &a1);
    /* The ceiling: a closed loop of clients. */
    loadgen(&(lg_opts){.url = direct_url,
                       .body = direct_body,
                       .headers = direct_h,
                       .concurrency = m->turn_clients,
                       .duration_ms = m->turn_ms},
            &d);
    loadgen(&(lg_opts){.url = api_url,
                       .body = api_body,
                       .headers = api_h,
                       .concurrency = m->turn_clients,
                       .duration_ms = m->turn_ms},
            &a);
    json_t *inst = NULL;
    th_http(&h, "GET", "/api/v1/instances/llm", NULL, NULL, &inst);
    pid_t plugin = (pid_t)json_integer_value(json_object_get(inst, "pid"));
    json_decref(inst);
    double host_mb = rss_kb(h.pid, "VmHWM:") / 1024.0;
    double plugin_mb = rss_kb(plugin, "VmHWM:") / 1024.0;
    th_stop(&h, 10000);
    th_cleanup(&h);
    *failed += d.failed + a.failed + d1.failed + a1.failed;
    double rps = a.ok / (a.wall_ms / 1000.0);
    double added = pct(&a1, 50) - pct(&d1, 50);
    json_t *o = json_pack(
        "{s:i,s:i,s:{s:f,s:f,s:f,s:f,s:i},s:{s:f,s:f,s:f,s:f,s:i},s:f,s:f,s:f,s:f,s:{s:f,s:f,s:f}}",
        "clients", m->turn_clients, "seconds", m->turn_ms / 1000, "direct", "rps",
        d.ok / (d.wall_ms / 1000.0), "median_ms", pct(&d1, 50), "p99_ms", pct(&d1, 99),
        "loaded_median_ms", pct(&d, 50), "failed", d.failed + d1.failed, "through_host", "rps", rps,
        "median_ms", pct(&a1, 50), "p99_ms", pct(&a1, 99), "loaded_median_ms", pct(&a, 50),
        "failed", a.failed + a1.failed, "added_median_ms", added, "added_p99_ms",
        pct(&a1, 99) - pct(&d1, 99), "host_rss_mb", host_mb, "plugin_rss_mb", plugin_mb,
        "vs_flowise", "throughput_x", rps / FLOWISE_RPS, "added_latency_x",
        added > 0 ? FLOWISE_ADDED_MS / added : 0.0, "rss_x",
        FLOWISE_RSS_MB / (host_mb + plugin_mb));
    lg_free(&d);
    lg_free(&a);
    lg_free(&d1);
    lg_free(&a1);
    return o;
}

/* ---- the orchestrator ------------------------------------------------------------------ */

static json_t *added(json_t *direct, json_t *host, const char *round)
{
    char d[64], h[64], hb[64], dp[64], hp[64], hbp[64];
    snprintf(d, sizeof(d), "%s.median_ms", round);
    snprintf(dp, sizeof(dp), "%s.p99_ms", round);
    snprintf(h, sizeof(h), "%s.median_ms", round);
    snprintf(hp, sizeof(hp), "%s.p99_ms", round);
    snprintf(hb, sizeof(hb), "%s.broker_median_ms", round);
    snprintf(hbp, sizeof(hbp), "%s.broker_p99_ms", round);
    return json_pack("{s:f,s:f,s:f,s:f}", "end_to_end_median_ms", num(host, h) - num(direct, d),
                     "end_to_end_p99_ms", num(host, hp) - num(direct, dp),
                     "broker_view_minus_direct_median_ms", num(host, hb) - num(direct, d),
                     "broker_view_minus_direct_p99_ms", num(host, hbp) - num(direct, dp));
}

static void print_table(json_t *c, json_t *t)
{
    printf("\negress: %d LLM calls started within %d ms, fake answering after %d ms; round 1 "
           "opens the connections (cold), round 2 reuses them (warm)\n",
           (int)num(c, "calls"), (int)num(c, "ramp_ms"), (int)num(c, "delay_ms"));
    printf("  %-24s %8s %9s %10s %10s %9s %7s\n", "path", "round", "in flight", "median ms",
           "p99 ms", "wall ms", "failed");
    static const char *const rounds[] = {"cold", "warm"};
    for (int i = 0; i < 2; i++) {
        char k[64];
#define F(o, f) (snprintf(k, sizeof(k), "%s." f, rounds[i]), num(o, k))
        printf(
            "  %-24s %8s %9.0f %10.2f %10.2f %9.0f %7.0f\n", "curl multi (direct)", rounds[i],
            F(json_object_get(c, "direct"), "peak_in_flight"),
            F(json_object_get(c, "direct"), "median_ms"), F(json_object_get(c, "direct"), "p99_ms"),
            F(json_object_get(c, "direct"), "wall_ms"), F(json_object_get(c, "direct"), "failed"));
        printf("  %-24s %8s %9.0f %10.2f %10.2f %9.0f %7.0f\n", "host + plugin + broker", rounds[i],
               F(json_object_get(c, "host"), "peak_in_flight"),
               F(json_object_get(c, "host"), "median_ms"), F(json_object_get(c, "host"), "p99_ms"),
               F(json_object_get(c, "host"), "wall_ms"), F(json_object_get(c, "host"), "failed"));
        printf("  %-24s %8s %9s %10.2f %10.2f\n", "  added per call", rounds[i], "",
               F(json_object_get(c, "added"), "end_to_end_median_ms"),
               F(json_object_get(c, "added"), "end_to_end_p99_ms"));
        printf("  %-24s %8s %9s %10.2f %10.2f   (its integration.log latency)\n",
               "  the broker's own view", rounds[i], "",
               F(json_object_get(c, "host"), "broker_median_ms"),
               F(json_object_get(c, "host"), "broker_p99_ms"));
#undef F
    }
    printf("  CPU per call: host %.0f us, plugin %.0f us; curl multi alone %.0f us\n",
           num(c, "host.host_cpu_us_per_call"), num(c, "host.plugin_cpu_us_per_call"),
           num(c, "direct.cpu_us_per_call"));
    printf("  RSS peak: host %.1f MB + plugin %.1f MB = %.1f MB (target <= 300 MB); curl multi "
           "alone %.1f MB\n",
           num(c, "host.host_rss_mb"), num(c, "host.plugin_rss_mb"),
           num(c, "host.host_rss_mb") + num(c, "host.plugin_rss_mb"), num(c, "direct.rss_mb"));
    if (!t) return;
    printf("\nchat turn over the HTTP API, fake answering at once: latency with 1 client, "
           "ceiling with %d clients (%d s each)\n",
           (int)num(t, "clients"), (int)num(t, "seconds"));
    printf("  %-22s %10s %10s %10s %12s\n", "path", "median ms", "p99 ms", "req/s max",
           "loaded med");
    printf("  %-22s %10.2f %10.2f %10.0f %12.2f\n", "direct to the fake",
           num(t, "direct.median_ms"), num(t, "direct.p99_ms"), num(t, "direct.rps"),
           num(t, "direct.loaded_median_ms"));
    printf("  %-22s %10.2f %10.2f %10.0f %12.2f\n", "API + plugin + broker",
           num(t, "through_host.median_ms"), num(t, "through_host.p99_ms"),
           num(t, "through_host.rps"), num(t, "through_host.loaded_median_ms"));
    printf("  added per request: median %.2f ms, p99 %.2f ms; RSS host %.1f MB + plugin %.1f MB\n",
           num(t, "added_median_ms"), num(t, "added_p99_ms"), num(t, "host_rss_mb"),
           num(t, "plugin_rss_mb"));
    printf("  vs Flowise (38 req/s, 28 ms added, 1 GiB): throughput x%.0f, added latency x%.0f "
           "lower, RSS x%.0f lower\n",
           num(t, "vs_flowise.throughput_x"), num(t, "vs_flowise.added_latency_x"),
           num(t, "vs_flowise.rss_x"));
}

int main(int argc, char **argv)
{
    if (argc >= 7 && !strcmp(argv[1], "--phase"))
        return bench_phase(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
    const mode *m = argc > 1 && !strcmp(argv[1], "--full") ? &FULL : &SMOKE;
    if (argc > 1 && strcmp(argv[1], "--full") && strcmp(argv[1], "--smoke")) {
        fprintf(stderr, "usage: bench_egress --smoke | --full\n");
        return 2;
    }
    char self[1024];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (sl <= 0) return 2;
    self[sl] = 0;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fake_proc fk;
    if (fake_start(&fk, TH_BUILD_DIR "/tests/fakes/fake_openai", 5000) < 0) {
        fprintf(stderr, "bench_egress: cannot start the fake OpenAI server\n");
        return 1;
    }
    int failed = 0;
    json_t *conc = json_array();
    for (int i = 0; i < m->nsc; i++) {
        const scenario *sc = &m->sc[i];
        json_t *direct = run_phase(self, "direct", sc, fk.port);
        json_t *host = run_phase(self, "host", sc, fk.port);
        if (!direct || !host) {
            fprintf(stderr, "bench_egress: a phase did not complete\n");
            fake_stop(&fk);
            return 1;
        }
        failed += (int)num(direct, "failed") + (int)num(host, "failed");
        json_t *c =
            json_pack("{s:i,s:i,s:i,s:O,s:O,s:{s:o,s:o}}", "calls", sc->calls, "delay_ms",
                      sc->delay_ms, "ramp_ms", sc->ramp_ms, "direct", direct, "host", host, "added",
                      "cold", added(direct, host, "cold"), "warm", added(direct, host, "warm"));
        json_array_append_new(conc, c);
        json_decref(direct);
        json_decref(host);
    }
    json_t *turn = chat_turn(m, &fk, &failed);
    fake_stop(&fk);
    size_t i;
    json_t *c;
    json_array_foreach(conc, i, c) print_table(c, i + 1 == json_array_size(conc) ? turn : NULL);
    json_t *all = json_pack("{s:s,s:o,s:o}", "mode", m->name, "concurrency", conc, "chat_turn",
                            turn ? turn : json_null());
    const char *dir = getenv("BENCH_OUT");
    if (dir) {
        char path[1100];
        snprintf(path, sizeof(path), "%s/egress.json", dir);
        if (json_dump_file(all, path, JSON_INDENT(2)) != 0)
            fprintf(stderr, "bench_egress: cannot write %s\n", path);
    }
    json_decref(all);
    if (!turn) fprintf(stderr, "bench_egress: the chat-turn part did not run\n");
    if (failed) fprintf(stderr, "bench_egress: %d requests failed\n", failed);
    return failed || !turn ? 1 : 0;
}
