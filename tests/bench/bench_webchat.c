/*
 * bench_webchat - the web chat channel (issue 15) through the real binary:
 *
 * 1. N concurrent SSE streams (10,000 in --full) held open on the host
 *    (GET /chat/{w}/events, each its own session, from the loopback
 *    addresses 127.0.0.2... at 500 a address, as visitors come from many
 *    addresses): the host's RSS per stream, and its CPU while they idle
 *    (keepalive comments every webchat.keepalive_ms).
 * 2. One message from every session (POST /chat/{w}/messages, 64 at a
 *    time), each answered by the agent (a say step): answers delivered per
 *    second, and the delivery latency from the answer's time ("ts", set
 *    when the turn made it) to its frame at the client, p50/p99; also from
 *    the POST to the answer.
 * 3. Time to first token: an agent whose llm.chat step streams from the
 *    fake OpenAI server, which sends its first token after a pause
 *    (stall-stream:MS); the first "token" frame at the client, timed from
 *    the POST, beside the same request made straight to the fake (the
 *    provider's first token): the latency the host adds, p50/p99.
 *
 * The floor for 1 and 2, in the same run: a bare SSE server (epoll, no
 * HTTP library; sse_load.c) in a child process holding the same N
 * streams with the same keepalive, writing one frame to each at once.
 */
#include "../fakes/fake_proc.h"
#include "../support/th.h"
#include "bench.h"
#include "bench_util.h"
#include "sse_load.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define STALL_MS 200

static th_host H;
static fake_proc LLM;

typedef struct run {
    int n;
    char widget[64];
    char (*tok)[160];
    char path[200];
    char *events; /* n paths */
} run;

static const char GREETER[] =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": [\"en\"],"
    " \"start\": \"hello\", \"steps\": {\"hello\": {\"kind\": \"say\", \"text\": {\"en\": "
    "\"Hello, how can I help?\"}, \"next\": \"done\"}, \"done\": {\"kind\": \"end\"}}}";

static const char ASKER[] =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": [\"en\"],"
    " \"start\": \"answer\", \"steps\": {\"answer\": {\"kind\": \"llm.chat\", \"args\": "
    "{\"messages\": [{\"role\": \"user\", \"content\": \"{{ input.text }}\"}]}, \"say\": true, "
    "\"timeout_ms\": 30000, \"next\": \"done\"}, \"done\": {\"kind\": \"end\"}}}";

/* ---- the host ------------------------------------------------------------------------- */

static int start_host(bench *b, int n, int keepalive_ms)
{
    char *cfg = NULL;
    if (asprintf(&cfg,
                 "{\"engine\": {\"flood_per_minute\": 1000000}, \"expressions\": {\"workers\": 1},"
                 " \"http\": {\"per_ip_connections\": 0, \"max_connections\": %d},"
                 " \"webchat\": {\"keepalive_ms\": %d, \"connections_per_ip\": 1000000},"
                 " \"instances\": [{\"id\": \"llm\", \"plugin\": \"llm-openai\","
                 "   \"config\": {\"base_url\": \"http://127.0.0.1:%d/v1\","
                 "                \"model\": \"stall-stream:%d\"},"
                 "   \"egress\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": %d,"
                 "                \"private\": true}]}]}",
                 n + 1000, keepalive_ms, LLM.port, STALL_MS, LLM.port) < 0)
        return -1;
    int rc = th_init(&H, "bench-webchat") || th_install_plugin(&H, "jq") ||
             th_install_plugin(&H, "llm-openai") || th_config(&H, cfg) ||
             th_cli(&H, "sk-bench\n", NULL, 0, "secret", "set", "llm", "api_key", NULL) ||
             th_start(&H, NULL, 30000) || !th_wait_state(&H, "llm", "ready", 30000);
    free(cfg);
    if (rc) {
        char cmd[700];
        snprintf(cmd, sizeof(cmd), "tail -5 '%s' >&2", H.stderr_path);
        if (system(cmd) != 0) fprintf(stderr, "no stderr\n");
        char *log = th_read(&H, "logs/errors.log");
        bench_fail(b, "the host did not start (%d): %.2000s", H.exit_status, log ? log : "");
        free(log);
    }
    return rc ? -1 : 0;
}

/* An agent running content and a widget for it: the widget's id into w. */
static int make_widget(bench *b, const char *name, const char *content, char *w, size_t wn)
{
    char agent[64], body[400];
    if (th_make_agent(&H, name, content, NULL, agent, sizeof(agent)) != 0) {
        bench_fail(b, "agent %s", name);
        return -1;
    }
    snprintf(body, sizeof(body),
             "{\"name\": \"%s\", \"agent_id\": \"%s\", \"limits\": "
             "{\"sessions_per_minute_per_ip\": 600, \"messages_per_minute\": 600}}",
             name, agent);
    json_t *o = NULL;
    int st = th_http(&H, "POST", "/api/v1/widgets", body, NULL, &o);
    snprintf(w, wn, "%s", st == 201 ? json_string_value(json_object_get(o, "id")) : "");
    json_decref(o);
    if (st != 201) bench_fail(b, "POST /api/v1/widgets: %d", st);
    return st == 201 ? 0 : -1;
}

/* A new session of widget w from address ip: its token into tok. */
static int new_session(const char *w, int ip, char *tok, size_t n)
{
    char path[200], out[1024];
    snprintf(path, sizeof(path), "/chat/%s/sessions", w);
    int st = sse_http(ip, H.port, "POST", path, NULL, "{}", out, sizeof(out));
    json_t *o = st == 201 ? json_loads(out, 0, NULL) : NULL;
    const char *t = json_string_value(json_object_get(o, "token"));
    snprintf(tok, n, "%s", t ? t : "");
    json_decref(o);
    if (!t)
        fprintf(stderr, "bench_webchat: POST %s from 127.0.0.%d: %d %s\n", path, ip + 2, st, out);
    return t ? 0 : -1;
}

static const char *events_path(int i, void *ud)
{
    run *r = ud;
    return r->events + (size_t)i * 256;
}

static const char *messages_path(int i, void *ud)
{
    (void)i;
    return ((run *)ud)->path;
}

static const char *hello_body(int i, void *ud)
{
    (void)i, (void)ud;
    return "{\"text\": \"hi\"}";
}

static const char *token_of(int i, void *ud)
{
    return ((run *)ud)->tok[i];
}

static bool all_answered(sse_load *l, void *ud)
{
    run *r = ud;
    for (int i = 0; i < r->n; i++)
        if (!sse_load_stream(l, i)->got_ms && sse_load_stream(l, i)->fd >= 0) return false;
    return true;
}

/* ---- measuring ------------------------------------------------------------------------ */

typedef struct held {
    double rss_per_stream; /* bytes */
    double idle_cpu_pct;   /* of one core */
    int open, still_open;
    double per_s, p50, p99, e2e_p50, e2e_p99; /* fan-out */
    int delivered;
    double cpu_us_per_msg; /* the server's CPU during the fan-out, per answer */
} held;

static int open_count(sse_load *l, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += sse_load_stream(l, i)->fd >= 0 && sse_load_stream(l, i)->status == 200;
    return k;
}

/* Delivery figures of the streams after a fan-out. */
static void delivery(sse_load *l, int n, held *h)
{
    double *lat = calloc((size_t)n, sizeof(double)), *e2e = calloc((size_t)n, sizeof(double));
    double first = 0, last = 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        sse_stream *s = sse_load_stream(l, i);
        if (!s->got_ms) continue;
        lat[k] = s->got_ms - s->ts_ms;
        e2e[k] = s->sent_ms ? s->got_ms - s->sent_ms : 0;
        double start = s->sent_ms ? s->sent_ms : s->ts_ms;
        if (!first || start < first) first = start;
        if (s->got_ms > last) last = s->got_ms;
        k++;
    }
    h->delivered = k;
    h->per_s = k && last > first ? k / ((last - first) / 1000.0) : 0;
    h->p50 = pct_of(lat, (size_t)k, 50);
    h->p99 = pct_of(lat, (size_t)k, 99);
    h->e2e_p50 = pct_of(e2e, (size_t)k, 50);
    h->e2e_p99 = pct_of(e2e, (size_t)k, 99);
    free(lat);
    free(e2e);
}

static void idle(sse_load *l, pid_t pid, int ms, held *h)
{
    uint64_t c0 = bench_cpu_pid_ns(pid);
    double t0 = now_ms();
    sse_load_pump(l, ms);
    double wall = now_ms() - t0;
    h->idle_cpu_pct = (double)(bench_cpu_pid_ns(pid) - c0) / 1e6 / wall * 100.0;
}

static const char *root_path(int i, void *ud)
{
    (void)i, (void)ud;
    return "/events";
}

static bool floor_done(sse_load *l, void *ud)
{
    return all_answered(l, ud);
}

static int floor_run(bench *b, int n, int keepalive_ms, int idle_ms, held *h)
{
    pid_t pid;
    int port;
    if (sse_floor_start(n + 16, keepalive_ms, &pid, &port) != 0) {
        bench_fail(b, "the floor server did not start");
        return -1;
    }
    sse_load *l = sse_load_new(n, 1);
    run r = {.n = n};
    usleep(100000);
    uint64_t rss0 = bench_rss(pid);
    h->open = sse_load_open(l, n, port, root_path, NULL, 256, 120000);
    sse_load_pump(l, 200);
    h->rss_per_stream = h->open ? (double)(bench_rss(pid) - rss0) / h->open : 0;
    idle(l, pid, idle_ms, h);
    h->still_open = open_count(l, n);
    uint64_t c0 = bench_cpu_pid_ns(pid);
    kill(pid, SIGUSR1);
    double end = now_ms() + 60000;
    while (!floor_done(l, &r) && now_ms() < end)
        sse_load_pump(l, 20);
    h->cpu_us_per_msg = (double)(bench_cpu_pid_ns(pid) - c0) / 1e3 / n;
    delivery(l, n, h);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    sse_load_free(l);
    if (h->open != n || h->delivered != n)
        bench_fail(b, "floor: %d of %d open, %d delivered", h->open, n, h->delivered);
    return 0;
}

static int host_run(bench *b, run *r, int idle_ms, held *h)
{
    int n = r->n;
    for (int i = 0; i < n; i++)
        if (new_session(r->widget, i / SSE_PER_ADDRESS, r->tok[i], sizeof(r->tok[i])) != 0) {
            bench_fail(b, "session %d of %d", i, n);
            return -1;
        }
    for (int i = 0; i < n; i++)
        snprintf(r->events + (size_t)i * 256, 256, "/chat/%s/events?token=%s", r->widget,
                 r->tok[i]);
    snprintf(r->path, sizeof(r->path), "/chat/%s/messages", r->widget);
    sse_load *l = sse_load_new(n, 64);
    uint64_t rss0 = bench_rss(H.pid);
    h->open = sse_load_open(l, n, H.port, events_path, r, 256, 300000);
    sse_load_pump(l, 500);
    h->rss_per_stream = h->open ? ((double)bench_rss(H.pid) - (double)rss0) / h->open : 0;
    idle(l, H.pid, idle_ms, h);
    h->still_open = open_count(l, n);
    sse_post p = {.path_of = messages_path,
                  .body_of = hello_body,
                  .auth_of = token_of,
                  .done = all_answered,
                  .ud = r};
    uint64_t c0 = bench_cpu_pid_ns(H.pid);
    int accepted = sse_load_post(l, n, H.port, &p, 600000);
    h->cpu_us_per_msg = (double)(bench_cpu_pid_ns(H.pid) - c0) / 1e3 / (n ? n : 1);
    delivery(l, n, h);
    sse_load_free(l);
    if (h->open != n || h->still_open != n || accepted != n || h->delivered != n)
        bench_fail(b, "host: %d of %d open, %d after idling, %d accepted, %d answered", h->open, n,
                   h->still_open, accepted, h->delivered);
    return 0;
}

/* ---- time to first token -------------------------------------------------------------- */

/* The provider alone: a streamed completion straight from the fake, ms to
 * its first token with text. */
static double direct_first_token(void)
{
    char body[300], req[700];
    snprintf(body, sizeof(body),
             "{\"model\": \"stall-stream:%d\", \"stream\": true, \"messages\": [{\"role\": "
             "\"user\", \"content\": \"hi\"}]}",
             STALL_MS);
    int n = snprintf(req, sizeof(req),
                     "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
                     "Bearer sk-bench\r\nContent-Type: application/json\r\nContent-Length: "
                     "%zu\r\nConnection: close\r\n\r\n%s",
                     strlen(body), body);
    int fd = bench_connect(LLM.port);
    if (fd < 0) return -1;
    double t0 = now_ms(), t1 = -1;
    char buf[16384];
    size_t len = 0;
    if (write(fd, req, (size_t)n) == n) {
        ssize_t r;
        while (len + 1 < sizeof(buf) && (r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
            len += (size_t)r;
            buf[len] = 0;
            if (strstr(buf, "\"delta\":{\"content\":\"")) {
                t1 = now_ms();
                break;
            }
        }
    }
    close(fd);
    return t1 < 0 ? -1 : t1 - t0;
}

static bool got_all(sse_load *l, void *ud)
{
    (void)ud;
    return sse_load_stream(l, 0)->got_ms > 0;
}

/* Through the host: a new session, its stream, one message; ms from the
 * POST to the first token frame with text. */
static double host_first_token(bench *b, const char *widget, int ip)
{
    run r = {.n = 1};
    char tok[1][160];
    r.tok = tok;
    char events[256];
    r.events = events;
    if (new_session(widget, ip, tok[0], sizeof(tok[0])) != 0) return -1;
    snprintf(events, sizeof(events), "/chat/%s/events?token=%s", widget, tok[0]);
    snprintf(r.path, sizeof(r.path), "/chat/%s/messages", widget);
    sse_load *l = sse_load_new(1, 1);
    double ms = -1;
    if (sse_load_open(l, 1, H.port, events_path, &r, 1, 10000) == 1) {
        sse_post p = {.path_of = messages_path,
                      .body_of = hello_body,
                      .auth_of = token_of,
                      .done = got_all,
                      .ud = &r};
        sse_load_post(l, 1, H.port, &p, 30000);
        sse_stream *s = sse_load_stream(l, 0);
        if (s->token_ms && s->got_ms) ms = s->token_ms - s->sent_ms;
    }
    sse_load_free(l);
    if (ms < 0) bench_fail(b, "no streamed token through the host");
    return ms;
}

static void first_token(bench *b, int samples)
{
    char widget[64];
    if (make_widget(b, "Asker", ASKER, widget, sizeof(widget)) != 0) return;
    double *host = calloc((size_t)samples, sizeof(double));
    double *direct = calloc((size_t)samples, sizeof(double));
    double *added = calloc((size_t)samples, sizeof(double));
    host_first_token(b, widget, 200); /* warm: the plugin's first call */
    int k = 0;
    for (int i = 0; i < samples; i++) {
        double d = direct_first_token(), h = host_first_token(b, widget, 200 + i / 500);
        if (d < 0 || h < 0) continue;
        direct[k] = d;
        host[k] = h;
        added[k++] = h - d;
    }
    bench_section(b, "first_token", "time to first streamed token at the client");
    bench_row(b, "first_token", "direct_p50_ms", pct_of(direct, (size_t)k, 50), "ms",
              "the fake alone: its first token after a %d ms pause", STALL_MS);
    bench_row(b, "first_token", "host_p50_ms", pct_of(host, (size_t)k, 50), "ms",
              "POST /chat/{w}/messages to the first \"token\" frame, %d samples", k);
    bench_row(b, "first_token", "added_p50_ms", pct_of(added, (size_t)k, 50), "ms", "%s",
              "host - direct, pairwise");
    bench_row(b, "first_token", "added_p99_ms", pct_of(added, (size_t)k, 99), "ms", "%s",
              "the same, 99th percentile");
    free(host);
    free(direct);
    free(added);
}

/* ---- main ----------------------------------------------------------------------------- */

static void report(bench *b, int n, const held *f, const held *h)
{
    bench_section(b, "held", "SSE streams held open");
    bench_row(b, "held", "streams", n, "", "%d open on the host, %d on the floor", h->open,
              f->open);
    bench_row(b, "held", "host_rss_per_stream_kb", h->rss_per_stream / 1024, "KiB",
              "floor %.0f bytes (its socket buffers are the kernel's, as the host's)",
              f->rss_per_stream);
    bench_row(b, "held", "host_idle_cpu_pct", h->idle_cpu_pct, "% core",
              "floor %.2f%% (the same keepalives)", f->idle_cpu_pct);
    bench_section(b, "fanout", "one answer per session, delivered on its stream");
    bench_row(b, "fanout", "host_per_s", h->per_s, "msg/s",
              "first POST to last answer; floor %.0f/s (%.3fx)", f->per_s,
              f->per_s > 0 ? h->per_s / f->per_s : 0);
    bench_row(b, "fanout", "host_delivery_p50_ms", h->p50, "ms",
              "answer's ts to its frame; floor %.1f ms", f->p50);
    bench_row(b, "fanout", "host_delivery_p99_ms", h->p99, "ms", "floor %.1f ms", f->p99);
    bench_row(b, "fanout", "host_cpu_us_per_msg", h->cpu_us_per_msg, "us",
              "the host's CPU per answer (turn, commit, frame); floor %.1f us (a frame)",
              f->cpu_us_per_msg);
    bench_row(b, "fanout", "host_e2e_p50_ms", h->e2e_p50, "ms", "%s",
              "POST to the answer's frame (engine turn included)");
    bench_row(b, "fanout", "host_e2e_p99_ms", h->e2e_p99, "ms", "%s", "the same, 99th percentile");
}

int main(int argc, char **argv)
{
    bench b;
    bench_init(&b, "webchat", argc, argv);
    long nofile = sse_raise_nofile();
    int n = (int)bench_pick(&b, 200, 10000);
    if (getenv("BENCH_WEBCHAT_STREAMS")) n = atoi(getenv("BENCH_WEBCHAT_STREAMS"));
    if (n < 1) n = 1;
    if (nofile < n + 300) { /* the streams, and the host's own files */
        bench_fail(&b, "RLIMIT_NOFILE is %ld: %d streams need %d", nofile, n, n + 300);
        return bench_finish(&b);
    }
    int keepalive_ms = (int)bench_pick(&b, 500, 15000);
    int idle_ms = (int)bench_pick(&b, 1500, 30000);
    if (fake_start(&LLM, BENCH_BUILD_DIR "/tests/fakes/fake_openai", 5000)) {
        bench_fail(&b, "the fake did not start");
        return bench_finish(&b);
    }
    held f = {0}, h = {0};
    run r = {.n = n};
    r.tok = calloc((size_t)n, sizeof(*r.tok));
    r.events = calloc((size_t)n, 256);
    if (start_host(&b, n, keepalive_ms) ||
        make_widget(&b, "Greeter", GREETER, r.widget, sizeof(r.widget)))
        goto out;
    if (bench_want(&b, "held")) {
        if (floor_run(&b, n, keepalive_ms, idle_ms, &f) == 0 && host_run(&b, &r, idle_ms, &h) == 0)
            report(&b, n, &f, &h);
    }
    if (bench_want(&b, "first_token")) first_token(&b, (int)bench_pick(&b, 5, 200));
out:
    free(r.tok);
    free(r.events);
    th_stop(&H, 15000);
    th_cleanup(&H);
    fake_stop(&LLM);
    return bench_finish(&b);
}
