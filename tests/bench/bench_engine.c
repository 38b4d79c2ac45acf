/*
 * bench_engine - the scenario engine (issue 12) beside its floor, in one
 * run (scripts/bench.sh convention):
 *
 *   bench_engine --smoke | --full
 *
 * A fresh process per store size (bench_engine --host ...) assembles the
 * host from its modules (engine_host.c: store, documents, bus, supervisor,
 * broker, jq pool, one llm-openai instance against the fake OpenAI server
 * answering at once, the runtime), over a store first filled with
 * generated conversations. In it, at 1, 100 and 10,000 concurrent chats
 * (engine_load.c), alternating rounds of:
 *
 *   turns  a closed loop of three-step turns (ask answered -> llm.chat
 *          through the plugin -> say, then ask again) fed on message.in;
 *   floor  the bus's own consume + publish with one state write per event
 *          (one bus_commit each) at the same concurrency;
 *   calls  (at 1) the plugin call alone, for the latency a turn adds.
 *
 * Then the process's memory with that many conversations active: the host
 * (VmRSS, its heap RssAnon, LMDB's mapped pages RssFile), the llm plugin
 * and the jq worker pool. Full: 1,000 and 1,000,000 stored conversations
 * (BENCH_ENGINE_STORED=N for a shorter second size); smoke: 200 and 50,
 * at 1, 10 and 100 chats.
 *
 * Figures go to stdout and $BENCH_OUT/engine.json. The exit status is
 * non-zero only when something broke (a turn or call failed or never
 * came back), never for timing.
 */
#include "../fakes/fake_proc.h"
#include "engine.h"

#include "core/log.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The published peers (docs/benchmarks.md says where they come from). */
#define N8N_PER_S 220.0
#define BOTPRESS_PER_CPU_LO 40.0
#define BOTPRESS_PER_CPU_HI 60.0

typedef struct mode {
    long stored[2];
    const char *levels[2]; /* the levels each size runs */
    int rounds, round_ms;
} mode;

static const mode SMOKE = {{200, 50}, {"1,10,100", "100"}, 1, 500};
static const mode FULL = {{1000, 1000000}, {"1,100,10000", "10000"}, 5, 2000};

/* ---- the host process ------------------------------------------------------------------ */

static double status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    double v = 0;
    if (!f) return 0;
    size_t n = strlen(field);
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, field, n)) v = atof(line + n);
    fclose(f);
    return v;
}

static pid_t instance_pid(eb_host *h, const char *id)
{
    instance *in = supervisor_find(h->sup, id);
    if (!in) return 0;
    json_t *st = instance_status(in);
    pid_t pid = (pid_t)json_integer_value(json_object_get(st, "pid"));
    json_decref(st);
    return pid;
}

static json_t *lat_json(bench_lat *l)
{
    if (!l->n) return json_null();
    return json_pack("{s:f,s:f,s:i}", "p50_us", bench_lat_us(l, 0.5), "p99_us",
                     bench_lat_us(l, 0.99), "n", (int)l->n);
}

static void lat_merge(bench_lat *into, bench_lat *from)
{
    for (size_t i = 0; i < from->n; i++)
        bench_lat_add(into, from->v[i]);
    bench_lat_free(from);
}

/* BENCH_ENGINE_ONLY=turns,floor,calls: some kinds only (for profiling). */
static bool kind_wanted(eb_kind k)
{
    const char *only = getenv("BENCH_ENGINE_ONLY");
    const char *name = k == EB_TURNS ? "turns" : k == EB_FLOOR ? "floor" : "calls";
    return !only || strstr(only, name);
}

/* One concurrency: warm its conversations, then rounds of turns and floor
 * (and calls at 1), the order reversing each round. */
static int run_level(eb_load *l, int conc, int rounds, int round_ms, json_t *out)
{
    char tag[32];
    snprintf(tag, sizeof(tag), "c%d", conc);
    if (conc >= 1000) { /* a turn there takes seconds: fewer, longer rounds */
        rounds = rounds > 2 ? 2 : rounds;
        round_ms *= 5;
    }
    uint64_t t0 = bench_now_ns();
    if (eb_warm(l, tag, conc) < 0) return -1;
    double warm_s = (double)(bench_now_ns() - t0) / 1e9;
    json_t *turns = json_array(), *floor = json_array(), *calls = json_array(), *cpu = json_array();
    bench_lat lt = {0}, lf = {0}, lc = {0};
    long failed = 0;
    for (int r = 0; r < rounds; r++) {
        eb_kind order[3] = {EB_TURNS, EB_FLOOR, EB_CALLS};
        if (r % 2) {
            order[0] = EB_CALLS;
            order[2] = EB_TURNS;
        }
        for (int k = 0; k < 3; k++) {
            if (!kind_wanted(order[k])) continue;
            eb_round x;
            if (eb_round_run(l, order[k], tag, conc, round_ms, true, &x) < 0) return -1;
            failed += x.failed;
            json_t *into = order[k] == EB_TURNS ? turns : order[k] == EB_FLOOR ? floor : calls;
            json_array_append_new(into, json_real(x.per_s));
            json_array_append_new(cpu, json_pack("{s:s,s:f,s:f,s:f,s:i}", "kind",
                                                 order[k] == EB_TURNS   ? "turns"
                                                 : order[k] == EB_FLOOR ? "floor"
                                                                        : "calls",
                                                 "wall_s", x.wall_s, "loop_cpu_s", x.loop_cpu_s,
                                                 "proc_cpu_s", x.proc_cpu_s, "done", (int)x.done));
            lat_merge(order[k] == EB_TURNS ? &lt : order[k] == EB_FLOOR ? &lf : &lc, &x.lat);
        }
    }
    json_object_set_new(out, "conc", json_integer(conc));
    json_object_set_new(out, "warm_s", json_real(warm_s));
    json_object_set_new(out, "turns_per_s", turns);
    json_object_set_new(out, "floor_per_s", floor);
    json_object_set_new(out, "calls_per_s", calls);
    json_object_set_new(out, "cpu", cpu);
    json_object_set_new(out, "turn_lat", lat_json(&lt));
    json_object_set_new(out, "floor_lat", lat_json(&lf));
    json_object_set_new(out, "call_lat", lat_json(&lc));
    json_object_set_new(out, "failed", json_integer(failed));
    bench_lat_free(&lt);
    bench_lat_free(&lf);
    bench_lat_free(&lc);
    return failed ? -1 : 0;
}

static json_t *memory(eb_host *h, long active)
{
    pid_t self = getpid(), llm = instance_pid(h, "llm");
    double jq_kb = 0, jq_pss = 0;
    int workers = 0;
    for (int i = 1; i <= 64; i++) {
        char id[16];
        snprintf(id, sizeof(id), "jq-%d", i);
        pid_t p = instance_pid(h, id);
        if (!supervisor_find(h->sup, id)) break;
        workers++;
        if (p > 0) {
            jq_kb += (double)bench_tree(p, bench_rss) / 1024.0;
            jq_pss += (double)bench_tree(p, bench_pss) / 1024.0;
        }
    }
    double rss = status_kb(self, "VmRSS:") / 1024, anon = status_kb(self, "RssAnon:") / 1024;
    double file = status_kb(self, "RssFile:") / 1024, hwm = status_kb(self, "VmHWM:") / 1024;
    /* What the heap holds, apart from what malloc keeps after the peak
     * (freed but not given back to the system). */
    malloc_trim(0);
    double held = status_kb(self, "RssAnon:") / 1024;
    return json_pack("{s:i,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:i,s:f,s:f}", "active", (int)active,
                     "host_rss_mb", rss, "host_anon_mb", anon, "host_anon_held_mb", held,
                     "host_file_mb", file, "host_hwm_mb", hwm, "llm_rss_mb",
                     llm > 0 ? (double)bench_tree(llm, bench_rss) / 1048576.0 : 0.0, "llm_pss_mb",
                     llm > 0 ? (double)bench_tree(llm, bench_pss) / 1048576.0 : 0.0, "jq_workers",
                     workers, "jq_rss_mb", jq_kb / 1024, "jq_pss_mb", jq_pss / 1024);
}

static int host_phase(long stored, int port, const char *levels, int rounds, int round_ms)
{
    int max = 1;
    for (const char *p = levels; *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : p + strlen(p))
        if (atoi(p) > max) max = atoi(p);
    eb_host h;
    if (eb_host_open(&h, stored, port, (uint32_t)max) < 0) return 1;
    eb_load *l = eb_load_new(&h);
    if (!l) return 1;
    json_t *out =
        json_pack("{s:I,s:f,s:[]}", "stored", (json_int_t)stored, "load_s", h.load_s, "levels");
    json_t *mem_before = memory(&h, 0);
    int rc = 0;
    long active = 0;
    for (const char *p = levels; *p && !rc;
         p = strchr(p, ',') ? strchr(p, ',') + 1 : p + strlen(p)) {
        json_t *lv = json_object();
        rc = run_level(l, atoi(p), rounds, round_ms, lv);
        active += atoi(p);
        json_array_append_new(json_object_get(out, "levels"), lv);
    }
    json_object_set_new(out, "memory_started", mem_before);
    json_object_set_new(out, "memory", memory(&h, active));
    json_object_set_new(out, "ok", json_boolean(!rc));
    char *s = json_dumps(out, JSON_COMPACT);
    printf("%s\n", s);
    fflush(stdout);
    free(s);
    json_decref(out);
    eb_load_free(l);
    eb_host_close(&h);
    return rc ? 1 : 0;
}

/* ---- the driver --------------------------------------------------------------------------- */

static json_t *run_host(const char *self, long stored, int port, const char *levels, int rounds,
                        int round_ms)
{
    char a[24], b[16], c[16], d[16];
    snprintf(a, sizeof(a), "%ld", stored);
    snprintf(b, sizeof(b), "%d", port);
    snprintf(c, sizeof(c), "%d", rounds);
    snprintf(d, sizeof(d), "%d", round_ms);
    const char *argv[] = {self, "--host", a, b, levels, c, d, NULL};
    int out[2];
    if (pipe(out) < 0) return NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    pid_t pid;
    extern char **environ;
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
    json_t *o = text ? (text[n] = 0, json_loads(text, 0, NULL)) : NULL;
    free(text);
    return o;
}

static double median_of(const json_t *a)
{
    double v[64];
    int n = 0;
    size_t i;
    const json_t *x;
    json_array_foreach(a, i, x) if (n < 64) v[n++] = json_number_value(x);
    return n ? bench_median(v, n) : 0;
}

/* The rounds' ratios turns/floor: median, min, max. */
static void ratios(const json_t *lv, double *med, double *lo, double *hi)
{
    const json_t *t = json_object_get(lv, "turns_per_s"), *f = json_object_get(lv, "floor_per_s");
    double v[64];
    int n = 0;
    for (size_t i = 0; i < json_array_size(t) && i < json_array_size(f) && n < 64; i++) {
        double fl = json_number_value(json_array_get(f, i));
        if (fl > 0) v[n++] = json_number_value(json_array_get(t, i)) / fl;
    }
    *med = *lo = *hi = 0;
    if (!n) return;
    *med = bench_median(v, n);
    *lo = v[0];
    *hi = v[n - 1];
}

/* The host process's CPU per completion of one kind, µs: median of rounds. */
static double cpu_per(const json_t *lv, const char *kind)
{
    double v[64];
    int n = 0;
    size_t i;
    const json_t *x;
    json_array_foreach(json_object_get(lv, "cpu"), i, x)
    {
        double done = (double)json_integer_value(json_object_get(x, "done"));
        if (strcmp(json_string_value(json_object_get(x, "kind")), kind) != 0 || done <= 0 ||
            n >= 64)
            continue;
        v[n++] = json_number_value(json_object_get(x, "proc_cpu_s")) * 1e6 / done;
    }
    return n ? bench_median(v, n) : 0;
}

static double num(const json_t *o, const char *a, const char *b)
{
    return json_number_value(json_object_get(json_object_get(o, a), b));
}

static void report_levels(bench *b, const json_t *r)
{
    bench_section(b, "turns", "Turns per second beside the floor (ask -> llm.chat -> say)");
    size_t i;
    const json_t *lv;
    json_array_foreach(json_object_get(r, "levels"), i, lv)
    {
        int c = (int)json_integer_value(json_object_get(lv, "conc"));
        char key[64];
        double med, lo, hi;
        ratios(lv, &med, &lo, &hi);
        int rounds = (int)json_array_size(json_object_get(lv, "turns_per_s"));
        snprintf(key, sizeof(key), "turns_%d", c);
        bench_row(b, "turns", key, median_of(json_object_get(lv, "turns_per_s")), "turns/s",
                  "%d chats, median of %d rounds", c, rounds);
        snprintf(key, sizeof(key), "floor_%d", c);
        bench_row(b, "turns", key, median_of(json_object_get(lv, "floor_per_s")), "ev/s",
                  "floor: consume + commit(ack, publish, 2 KiB state write)");
        snprintf(key, sizeof(key), "cpu_turn_%d", c);
        bench_row(b, "turns", key, cpu_per(lv, "turns"), "us",
                  "host process CPU per turn (every thread; plugin and fake apart)");
        snprintf(key, sizeof(key), "cpu_floor_%d", c);
        bench_row(b, "turns", key, cpu_per(lv, "floor"), "us", "host process CPU per floor event");
        snprintf(key, sizeof(key), "ratio_%d", c);
        bench_row(b, "turns", key, med, "x", "turns / floor (%.2f-%.2f), target >= 0.5: %s", lo, hi,
                  med >= 0.5 ? "met" : "missed");
    }
    bench_row(b, "turns", "peer_n8n", N8N_PER_S, "exec/s", "n8n, one instance (published)");
    bench_row(b, "turns", "peer_botpress", (BOTPRESS_PER_CPU_LO + BOTPRESS_PER_CPU_HI) / 2,
              "msg/s/CPU", "Botpress, 40-60 per CPU (published)");

    bench_section(b, "latency", "Latency per turn at 1 chat, and what the turn adds");
    json_array_foreach(json_object_get(r, "levels"), i, lv)
    {
        int c = (int)json_integer_value(json_object_get(lv, "conc"));
        char key[64];
        snprintf(key, sizeof(key), "turn_p50_%d", c);
        bench_row(b, "latency", key, num(lv, "turn_lat", "p50_us"), "us",
                  "%d chats: publish on message.in -> the question back on message.out", c);
        snprintf(key, sizeof(key), "turn_p99_%d", c);
        bench_row(b, "latency", key, num(lv, "turn_lat", "p99_us"), "us", "%d chats", c);
        snprintf(key, sizeof(key), "floor_p50_%d", c);
        bench_row(b, "latency", key, num(lv, "floor_lat", "p50_us"), "us",
                  "floor, %d chats: floor.in -> floor.out", c);
        snprintf(key, sizeof(key), "floor_p99_%d", c);
        bench_row(b, "latency", key, num(lv, "floor_lat", "p99_us"), "us", "floor, %d chats", c);
        if (c != 1) continue;
        double cp50 = num(lv, "call_lat", "p50_us"), cp99 = num(lv, "call_lat", "p99_us");
        bench_row(b, "latency", "call_p50", cp50, "us", "the llm.chat call alone (instance_call)");
        bench_row(b, "latency", "call_p99", cp99, "us", "the llm.chat call alone");
        bench_row(b, "latency", "added_p50", num(lv, "turn_lat", "p50_us") - cp50, "us",
                  "turn p50 - call p50 (%.0f of it the floor's two commits)",
                  num(lv, "floor_lat", "p50_us"));
        bench_row(b, "latency", "added_p99", num(lv, "turn_lat", "p99_us") - cp99, "us",
                  "turn p99 - call p99");
    }
}

static void report_memory(bench *b, const json_t *small, const json_t *big)
{
    bench_section(b, "memory", "Memory with conversations active, by conversations stored");
    const json_t *rs[2] = {small, big};
    for (int k = 0; k < 2; k++) {
        if (!rs[k]) continue;
        const json_t *m = json_object_get(rs[k], "memory");
        long stored = (long)json_integer_value(json_object_get(rs[k], "stored"));
        int active = (int)json_integer_value(json_object_get(m, "active"));
        char key[64];
#define MEMROW(field, what)                                                                        \
    snprintf(key, sizeof(key), "%s_%ld", field, stored);                                           \
    bench_row(b, "memory", key, json_number_value(json_object_get(m, field)), "MiB",               \
              "%ld stored, %d active: %s", stored, active, what)
        MEMROW("host_rss_mb", "host VmRSS");
        MEMROW("host_anon_mb", "host RssAnon (its heap)");
        MEMROW("host_file_mb", "host RssFile (LMDB's pages mapped)");
        MEMROW("host_anon_held_mb", "host RssAnon after malloc_trim (what the heap holds)");
        MEMROW("llm_rss_mb", "llm-openai plugin (runner tree)");
        MEMROW("jq_rss_mb", "jq worker pool, every worker's tree");
        MEMROW("jq_pss_mb", "jq worker pool, proportional");
#undef MEMROW
        snprintf(key, sizeof(key), "load_s_%ld", stored);
        bench_row(b, "memory", key, json_number_value(json_object_get(rs[k], "load_s")), "s",
                  "loading %ld conversations and %ld contacts", stored,
                  stored / 4 ? stored / 4 : 1);
    }
    if (small && big) {
        double a = num(small, "memory", "host_anon_held_mb"),
               z = num(big, "memory", "host_anon_held_mb");
        bench_row(b, "memory", "anon_growth", a > 0 ? z / a : 0, "x",
                  "host heap, %lld stored against %lld (flat: ~1.0)",
                  (long long)json_integer_value(json_object_get(big, "stored")),
                  (long long)json_integer_value(json_object_get(small, "stored")));
    }
}

int main(int argc, char **argv)
{
    if (argc == 7 && !strcmp(argv[1], "--host"))
        return host_phase(atol(argv[2]), atoi(argv[3]), argv[4], atoi(argv[5]), atoi(argv[6]));
    bench b;
    bench_init(&b, "engine", argc, argv);
    const mode *m = b.full ? &FULL : &SMOKE;
    long big = m->stored[1];
    if (b.full && getenv("BENCH_ENGINE_STORED")) big = atol(getenv("BENCH_ENGINE_STORED"));
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[n > 0 ? n : 0] = 0;
    fake_proc fk;
    if (fake_start(&fk, BENCH_BUILD_DIR "/tests/fakes/fake_openai", 5000) < 0) {
        bench_fail(&b, "the fake OpenAI server did not start");
        return bench_finish(&b);
    }
    json_t *small = run_host(self, m->stored[0], fk.port, m->levels[0], m->rounds, m->round_ms);
    json_t *large = run_host(self, big, fk.port, m->levels[1], b.full ? 1 : 1, m->round_ms);
    fake_stop(&fk);
    if (!small || !json_is_true(json_object_get(small, "ok")))
        bench_fail(&b, "the host with %ld stored failed (see above)", m->stored[0]);
    if (!large || !json_is_true(json_object_get(large, "ok")))
        bench_fail(&b, "the host with %ld stored failed (see above)", big);
    if (small) report_levels(&b, small);
    if (large) {
        bench_section(&b, "large", "With the larger store");
        const json_t *lv = json_array_get(json_object_get(large, "levels"), 0);
        int c = (int)json_integer_value(json_object_get(lv, "conc"));
        double med, lo, hi;
        ratios(lv, &med, &lo, &hi);
        bench_row(&b, "large", "turns", median_of(json_object_get(lv, "turns_per_s")), "turns/s",
                  "%ld stored, %d chats", big, c);
        bench_row(&b, "large", "ratio", med, "x", "turns / floor");
        bench_row(&b, "large", "warm_s", json_number_value(json_object_get(lv, "warm_s")), "s",
                  "starting %d conversations (first turns)", c);
    }
    report_memory(&b, small, large);
    bench_set(&b, "raw", "small", small ? small : json_null());
    bench_set(&b, "raw", "large", large ? large : json_null());
    return bench_finish(&b);
}
