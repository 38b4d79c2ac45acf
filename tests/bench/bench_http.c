/*
 * bench_http: the host's HTTP face under wrk, beside its floors, in one run.
 *
 *   floor A  a bare libmicrohttpd hello-world (one thread, epoll), built here
 *   host     GET /health, authenticated GET /api/v1/instances,
 *            durable POST /hooks/echo/... (answered once committed)
 *   floor B  raw LMDB group commits at the same concurrency (p99 latency)
 *
 * Reports requests/s and latency (median, p99) and the ratios the issue
 * sets targets for: /health >= 80% of the floor's requests/s; the durable
 * webhook's p99 <= 2x raw LMDB's group-commit p99. Never fails on timing.
 * Around the webhook run it also reads the CPU time of the host, of its
 * plugin processes, of wrk and of the whole machine, per webhook.
 *
 *   bench_http --smoke | --full
 *
 * BENCH_HTTP_ONLY=hook runs only the webhook and raw LMDB (for profiling);
 * BENCH_HTTP_CONNS=N sets the connections (and raw LMDB's commit size), 16
 * by default.
 */
#include "../support/th.h"

#include <errno.h>
#include <lmdb.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CONNS_DEFAULT 16
#define MAX_PROCS 8192

static int CONNS = CONNS_DEFAULT;
#define HOOK_SECRET "bench-hook-secret"

typedef struct result {
    const char *name;
    double rps;
    double p50_ms, p99_ms;
    long requests, errors;
} result;

/* ---- floor A: a bare libmicrohttpd hello-world -------------------------------- */

static enum MHD_Result hello(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_size, void **ctx)
{
    (void)cls, (void)url, (void)method, (void)version, (void)upload, (void)upload_size, (void)ctx;
    static const char body[] = "{\"status\":\"ok\"}";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return rc;
}

/* ---- wrk ------------------------------------------------------------------------ */

static double to_ms(const char *v, const char *unit)
{
    double d = atof(v);
    if (!strcmp(unit, "us")) return d / 1000.0;
    if (!strcmp(unit, "s")) return d * 1000.0;
    return d;
}

/* The "Latency Distribution" line "     50%  123.45us" -> ms. */
static double parse_pct(const char *out, const char *pct)
{
    const char *dist = strstr(out, "Latency Distribution");
    const char *p = dist ? strstr(dist, pct) : NULL;
    if (!p) return -1;
    p += strlen(pct);
    char num[32] = "", unit[8] = "";
    if (sscanf(p, " %31[0-9.]%7[a-z]", num, unit) != 2) return -1;
    return to_ms(num, unit);
}

static int run_wrk(result *r, int port, const char *path, const char *script, int seconds,
                   const char *auth)
{
    char cmd[2048], hdr[300] = "";
    if (auth) snprintf(hdr, sizeof(hdr), "-H 'Authorization: Bearer %s'", auth);
    snprintf(cmd, sizeof(cmd), "wrk -t2 -c%d -d%ds --latency %s %s%s 'http://127.0.0.1:%d%s' 2>&1",
             CONNS, seconds, hdr, script ? "-s " : "", script ? script : "", port, path);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    static char out[16384];
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = 0;
    int st = pclose(p);
    if (st != 0) {
        fprintf(stderr, "wrk failed:\n%s\n", out);
        return -1;
    }
    const char *rq = strstr(out, "Requests/sec:");
    r->rps = rq ? atof(rq + 13) : 0;
    r->p50_ms = parse_pct(out, "50%");
    r->p99_ms = parse_pct(out, "99%");
    /* "  12345 requests in 2.00s, ..." */
    const char *done = strstr(out, " requests in");
    const char *q = done;
    while (q && q > out && q[-1] >= '0' && q[-1] <= '9')
        q--;
    r->requests = q && q != done ? atol(q) : 0;
    const char *non = strstr(out, "Non-2xx or 3xx responses:");
    const char *sock = strstr(out, "Socket errors:");
    r->errors = (non ? atol(non + 26) : 0);
    if (sock) {
        long a = 0, b = 0, c = 0, d = 0;
        sscanf(sock, "Socket errors: connect %ld, read %ld, write %ld, timeout %ld", &a, &b, &c,
               &d);
        r->errors += a + c + d; /* reads at the end of a run are wrk closing */
    }
    return 0;
}

/* ---- floor B: raw LMDB group commits -------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Commits of CONNS 512-byte puts each (what a tick of the host's webhooks
 * writes); a write's latency is at most one commit in progress plus its own,
 * so the p99 of two consecutive commits is the floor. */
static int raw_lmdb(const char *dir, int seconds, result *r)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    mdb_env_create(&env);
    mdb_env_set_mapsize(env, 1ull << 30);
    if (mdb_env_open(env, dir, 0, 0600) != 0) return -1;
    size_t cap = 200000, n = 0;
    double *lat = malloc(cap * sizeof(double));
    char val[512];
    memset(val, 'v', sizeof(val));
    uint64_t seq = 0;
    double end = now_ms() + seconds * 1000.0, prev = 0;
    while (now_ms() < end && n < cap) {
        double t0 = now_ms();
        if (mdb_txn_begin(env, NULL, 0, &txn) || mdb_dbi_open(txn, NULL, 0, &dbi)) return -1;
        for (int i = 0; i < CONNS; i++) {
            uint8_t key[8]; /* big-endian: byte order is numeric order */
            seq++;
            for (int b = 0; b < 8; b++)
                key[b] = (uint8_t)(seq >> (56 - 8 * b));
            MDB_val k = {sizeof(key), key}, v = {sizeof(val), val};
            if (mdb_put(txn, dbi, &k, &v, MDB_APPEND) != 0) return -1;
        }
        if (mdb_txn_commit(txn) != 0) return -1;
        double d = now_ms() - t0;
        lat[n++] = prev + d;
        prev = d;
    }
    mdb_env_close(env);
    qsort(lat, n, sizeof(double), cmp_double);
    r->name = "raw LMDB group commit";
    r->requests = (long)(n * CONNS);
    r->rps = (double)r->requests / seconds;
    r->p50_ms = lat[n / 2];
    r->p99_ms = lat[(size_t)(n * 0.99)];
    free(lat);
    return 0;
}

/* ---- the run --------------------------------------------------------------------- */

enum { ROUNDS = 5 }; /* alternating rounds of the webhook and its floor (--full) */

static double median(const double *v, int n)
{
    double t[ROUNDS];
    memcpy(t, v, (size_t)n * sizeof(double));
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static const char *config_json =
    "{\"log\": {\"stderr\": false},"
    " \"http\": {\"per_ip_connections\": 0, \"max_connections\": 4096},"
    " \"instances\": [{\"id\": \"echo\", \"plugin\": \"echo\"}]}";

/* A process's pid, parent and CPU time (all its threads), in ms. */
typedef struct proc_cpu {
    pid_t pid, ppid;
    double ms, user_ms; /* ms: user and system */
} proc_cpu;

static int read_proc_cpu(pid_t pid, proc_cpu *out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the name may hold spaces */
    int ppid;
    unsigned long ut, st;
    if (!p ||
        sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ppid, &ut, &st) != 3)
        return -1;
    double tick = 1000.0 / (double)sysconf(_SC_CLK_TCK);
    *out = (proc_cpu){pid, (pid_t)ppid, (double)(ut + st) * tick, (double)ut * tick};
    return 0;
}

/* CPU time the host process has used (all its threads), in ms, or -1;
 * *user_ms the part in user space. */
static double host_cpu_ms(pid_t pid, double *user_ms)
{
    proc_cpu p;
    if (read_proc_cpu(pid, &p)) return *user_ms = -1;
    *user_ms = p.user_ms;
    return p.ms;
}

/* CPU time of every live descendant of `root` (the host's plugin
 * processes), in ms. */
static double descendants_cpu_ms(pid_t root)
{
    static proc_cpu ps[MAX_PROCS];
    static bool mine[MAX_PROCS];
    size_t n = 0;
    DIR *d = opendir("/proc");
    for (struct dirent *e; d && n < MAX_PROCS && (e = readdir(d));) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid > 0 && read_proc_cpu(pid, &ps[n]) == 0) mine[n++] = false;
    }
    if (d) closedir(d);
    /* A pass marks the children of what is marked; the tree is shallow. */
    bool grew = true;
    for (int pass = 0; grew && pass < 16; pass++) {
        grew = false;
        for (size_t i = 0; i < n; i++) {
            if (mine[i]) continue;
            bool child = ps[i].ppid == root;
            for (size_t j = 0; !child && j < n; j++)
                child = mine[j] && ps[j].pid == ps[i].ppid;
            if (child) mine[i] = grew = true;
        }
    }
    double ms = 0;
    for (size_t i = 0; i < n; i++)
        if (mine[i]) ms += ps[i].ms;
    return ms;
}

/* CPU time of the reaped children (wrk, through popen's shell), in ms. */
static double children_cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

/* The machine's busy and total CPU time, in ms (every core, from /proc/stat). */
static void machine_cpu_ms(double *busy, double *total)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    int got = f ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                         &v[3], &v[4], &v[5], &v[6], &v[7])
                : 0;
    if (f) fclose(f);
    double tick = 1000.0 / (double)sysconf(_SC_CLK_TCK), all = 0;
    for (int i = 0; i < 8 && i < got; i++)
        all += (double)v[i];
    *total = all * tick;
    *busy = (all - (double)v[3] - (double)v[4]) * tick; /* less idle and iowait */
}

/* The CPU counters read around the webhook run. */
typedef struct cpu_snap {
    double host, host_user, plugins, wrk, busy, total;
} cpu_snap;

static void cpu_snap_take(cpu_snap *s, pid_t host)
{
    s->host = host_cpu_ms(host, &s->host_user);
    s->plugins = descendants_cpu_ms(host);
    s->wrk = children_cpu_ms();
    machine_cpu_ms(&s->busy, &s->total);
}

/* The store's commits and writes so far, to count them per webhook. */
static void store_counts(th_host *h, double *commits, double *writes)
{
    *commits = th_metric(h, "agenthost_store_commits_total");
    *writes = th_metric(h, "agenthost_store_writes_total");
}

int main(int argc, char **argv)
{
    bool full = argc > 1 && !strcmp(argv[1], "--full");
    int seconds = full ? 10 : 2;
    const char *only = getenv("BENCH_HTTP_ONLY");
    bool hook_only = only && !strcmp(only, "hook");
    if (getenv("BENCH_HTTP_CONNS")) CONNS = atoi(getenv("BENCH_HTTP_CONNS"));
    if (CONNS < 1 || CONNS > 1024) {
        fprintf(stderr, "bench_http: BENCH_HTTP_CONNS must be 1 to 1024\n");
        return 1;
    }
    th_host H;
    if (th_init(&H, "bench-http") || th_install_plugin(&H, "echo") || th_config(&H, config_json) ||
        th_cli(&H, HOOK_SECRET, NULL, 0, "secret", "set", "echo", "webhook_secret", NULL) ||
        th_start(&H, NULL, 15000) || !th_wait_state(&H, "echo", "ready", 10000)) {
        fprintf(stderr, "bench_http: cannot start the host\n");
        return 1;
    }
    struct MHD_Daemon *floor =
        MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD, 0, NULL, NULL, hello, NULL,
                         MHD_OPTION_CONNECTION_LIMIT, 4096, MHD_OPTION_END);
    const union MHD_DaemonInfo *fi =
        floor ? MHD_get_daemon_info(floor, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!fi) {
        fprintf(stderr, "bench_http: cannot start the floor server\n");
        return 1;
    }
    char script[700];
    snprintf(script, sizeof(script), "%s/hook.lua", H.dir);
    FILE *f = fopen(script, "w");
    fprintf(f,
            "wrk.method = \"POST\"\n"
            "wrk.body = '{\"update_id\":1,\"message\":{\"text\":\"%0256d\"}}'\n"
            "wrk.headers[\"Content-Type\"] = \"application/json\"\n"
            "wrk.headers[\"X-Agenthost-Secret\"] = \"" HOOK_SECRET "\"\n",
            0);
    fclose(f);

    result rs[5] = {{.name = "floor: bare libmicrohttpd"},
                    {.name = "GET /health"},
                    {.name = "GET /api/v1/instances (token)"},
                    {.name = "POST /hooks/echo (durable)"},
                    {0}};
    int bad = 0;
    if (!hook_only) {
        bad |= run_wrk(&rs[0], fi->port, "/", NULL, seconds, NULL);
        bad |= run_wrk(&rs[1], H.port, "/health", NULL, seconds, NULL);
        bad |= run_wrk(&rs[2], H.port, "/api/v1/instances", NULL, seconds, H.token);
    }
    /* The webhook and its floor alternate in rounds, the order reversed
     * each round, and the ratio is the median of the rounds' ratios: run
     * seconds apart, one 10 s phase each, the disk's moods fell on one
     * side of the ratio only (docs/benchmarks.md). */
    int rounds = full ? ROUNDS : 1, round_s = full ? seconds / 2 : seconds;
    double c0, w0, c1, w1, ratios[ROUNDS], hook_p50[ROUNDS], hook_p99[ROUNDS], raw_p50[ROUNDS],
        raw_p99[ROUNDS];
    store_counts(&H, &c0, &w0);
    cpu_snap s0, s2, run = {0}; /* run: the webhook phases' sums */
    cpu_snap_take(&s0, H.pid);
    long hook_requests = 0, raw_requests = 0;
    for (int k = 0; k < rounds && !bad; k++) {
        result h = {0}, raw = {0};
        for (int step = 0; step < 2 && !bad; step++) {
            if ((step == 0) == (k % 2 == 0)) {
                cpu_snap a, b;
                cpu_snap_take(&a, H.pid);
                bad |= run_wrk(&h, H.port, "/hooks/echo/bench", script, round_s, NULL);
                cpu_snap_take(&b, H.pid);
                run.busy += b.busy - a.busy;
                run.total += b.total - a.total;
                run.wrk += b.wrk - a.wrk;
                rs[3].errors += h.errors;
            } else { /* a fresh file each round, as the first round's */
                char lmdb_dir[700];
                snprintf(lmdb_dir, sizeof(lmdb_dir), "%s/raw-lmdb-%d", H.dir, k);
                mkdir(lmdb_dir, 0700);
                bad |= raw_lmdb(lmdb_dir, round_s, &raw);
            }
        }
        hook_requests += h.requests;
        raw_requests += raw.requests;
        hook_p50[k] = h.p50_ms;
        hook_p99[k] = h.p99_ms;
        raw_p50[k] = raw.p50_ms;
        raw_p99[k] = raw.p99_ms;
        ratios[k] = raw.p99_ms > 0 ? h.p99_ms / raw.p99_ms : 0;
    }
    th_sleep_ms(2000); /* echo republishes and acks what is still in flight */
    store_counts(&H, &c1, &w1);
    cpu_snap_take(&s2, H.pid);
    double elapsed = (double)rounds * round_s;
    rs[3].requests = hook_requests;
    rs[3].rps = (double)hook_requests / elapsed;
    rs[3].p50_ms = median(hook_p50, rounds);
    rs[3].p99_ms = median(hook_p99, rounds);
    rs[4] = (result){.name = "raw LMDB group commit",
                     .requests = raw_requests,
                     .rps = (double)raw_requests / elapsed,
                     .p50_ms = median(raw_p50, rounds),
                     .p99_ms = median(raw_p99, rounds)};
    double lo = ratios[0], hi = ratios[0];
    for (int k = 1; k < rounds; k++) {
        lo = ratios[k] < lo ? ratios[k] : lo;
        hi = ratios[k] > hi ? ratios[k] : hi;
    }
    MHD_stop_daemon(floor);
    th_stop(&H, 10000);

    printf("%-34s %12s %10s %10s %10s\n", "", "requests/s", "p50 ms", "p99 ms", "errors");
    for (int i = hook_only ? 3 : 0; i < 5; i++) {
        printf("%-34s %12.0f %10.3f %10.3f %10ld\n", rs[i].name, rs[i].rps, rs[i].p50_ms,
               rs[i].p99_ms, rs[i].errors);
        bad |= rs[i].errors > 0 || rs[i].rps <= 0;
    }
    double health_ratio = rs[0].rps > 0 ? rs[1].rps / rs[0].rps : 0;
    double hook_ratio = median(ratios, rounds);
    printf("(webhook and raw LMDB: medians of %d alternating rounds of %d s each)\n\n", rounds,
           round_s);
    if (!hook_only) printf("/health vs floor requests/s: %.2f (target >= 0.80)\n", health_ratio);
    printf("durable webhook p99 vs raw LMDB group-commit p99: %.2f, median of %d rounds "
           "(%.2f-%.2f) (target <= 2.0)\n",
           hook_ratio, rounds, lo, hi);
    printf("concurrency %d connections, %d s per run\n", CONNS, seconds);
    double hooks = rs[3].requests > 0 ? (double)rs[3].requests : 1;
    if (c0 >= 0 && c1 >= 0)
        printf("per webhook (with echo's republish and ack): %.3f commits, %.3f store writes, "
               "%.1f us of host CPU\n",
               (c1 - c0) / hooks, (w1 - w0) / hooks,
               s0.host >= 0 && s2.host >= 0 ? (s2.host - s0.host) * 1000.0 / hooks : -1.0);
    printf("CPU per webhook: host %.1f us (user %.1f us), plugin processes %.1f us, wrk %.1f us; "
           "machine busy %.0f%% of %ld cores during the webhook phases\n",
           (s2.host - s0.host) * 1000.0 / hooks, (s2.host_user - s0.host_user) * 1000.0 / hooks,
           (s2.plugins - s0.plugins) * 1000.0 / hooks, run.wrk * 1000.0 / hooks,
           run.total > 0 ? 100.0 * run.busy / run.total : -1.0, sysconf(_SC_NPROCESSORS_ONLN));

    const char *outdir = getenv("BENCH_OUT");
    if (outdir) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/http.json", outdir);
        json_t *o = json_pack("{s:s,s:i,s:i,s:f,s:f}", "mode", full ? "full" : "smoke",
                              "connections", CONNS, "seconds", seconds, "health_vs_floor_rps",
                              health_ratio, "hook_p99_vs_raw_lmdb_p99", hook_ratio);
        json_t *runs = json_array();
        for (int i = 0; i < 5; i++)
            json_array_append_new(runs,
                                  json_pack("{s:s,s:f,s:f,s:f,s:I}", "name", rs[i].name, "rps",
                                            rs[i].rps, "p50_ms", rs[i].p50_ms, "p99_ms",
                                            rs[i].p99_ms, "requests", (json_int_t)rs[i].requests));
        json_object_set_new(o, "runs", runs);
        json_dump_file(o, path, JSON_INDENT(2));
        json_decref(o);
    }
    th_cleanup(&H);
    if (bad) fprintf(stderr, "bench_http: a run failed or saw errors\n");
    return bad ? 1 : 0;
}
