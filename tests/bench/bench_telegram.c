/*
 * bench_telegram - the Telegram channel end to end (issue 14): updates
 * POSTed by the fake Bot API to the host's webhook -> the telegram plugin
 * -> message.in -> the engine runs one llm.chat step (the fake OpenAI
 * server answering at once) -> message.out -> the plugin -> sendMessage
 * arriving at the fake. For 1, 100 and 1,000 chats at once (each chat one
 * message at a time): throughput, and p50/p99 from the update's injection
 * at the fake to its sendMessage.
 *
 * The floors, in the same run at the same concurrency: the host's bare
 * webhook ingress (POST /hooks/echo/..., answered once durable) and the
 * bare egress to the same fake (the telegram plugin's action send, no KV:
 * API -> plugin -> broker -> sendMessage). Target: >= 0.5 of the slower.
 */
#include "../fakes/fake_proc.h"
#include "../support/th.h"
#include "bench.h"
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOKEN "7000000001:AAH-fake-token_for-tests"
#define HOOK_SECRET "bench-hook-secret_42"
#define ECHO_SECRET "bench-echo-secret"

static th_host H;
static fake_proc TG, LLM;

static const char SCENARIO[] =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": "
    "[\"en\"], \"start\": \"answer\", \"steps\": {\"answer\": {\"kind\": \"llm.chat\", \"args\": "
    "{\"messages\": [{\"role\": \"user\", \"content\": \"{{ input.text }}\"}]}, \"say\": true, "
    "\"next\": \"done\"}, \"done\": {\"kind\": \"end\"}}}";

static json_t *fake_req(const char *method, const char *path, const char *body)
{
    th_host x = {.port = TG.port};
    json_t *o = NULL;
    if (th_http(&x, method, path, body, "", &o) != 200) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static long long sent_count(void)
{
    json_t *o = fake_req("GET", "/_fake/stats", NULL);
    long long n = json_integer_value(json_object_get(o, "sendMessage"));
    json_decref(o);
    return n;
}

static int start_host(bench *b)
{
    int port = bench_free_port();
    char *cfg = NULL;
    if (asprintf(&cfg,
                 "{\"listen\": \"127.0.0.1:%d\", \"expressions\": {\"workers\": 2},"
                 " \"engine\": {\"flood_per_minute\": 1000000},"
                 " \"http\": {\"per_ip_connections\": 0, \"max_connections\": 4096},"
                 " \"instances\": ["
                 "  {\"id\": \"tgw\", \"plugin\": \"telegram\", \"config\": {\"api_base_url\": "
                 "   \"http://127.0.0.1:%d\", \"mode\": \"webhook\", \"webhook_url\": "
                 "   \"http://127.0.0.1:%d/hooks/tgw/telegram\", \"max_connections\": 100, "
                 "\"typing\": false,"
                 "   \"send_limits\": {\"per_second\": 100000, \"burst\": 100000, "
                 "              \"per_chat_per_second\": 100000}},"
                 "   \"egress\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": %d,"
                 "                \"private\": true}]},"
                 "  {\"id\": \"echo\", \"plugin\": \"echo\"},"
                 "  {\"id\": \"llm\", \"plugin\": \"llm-openai\","
                 "   \"config\": {\"base_url\": \"http://127.0.0.1:%d/v1\", \"model\": \"gpt-4o\"},"
                 "   \"egress\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": %d,"
                 "                \"private\": true}]}]}",
                 port, TG.port, port, TG.port, LLM.port, LLM.port) < 0)
        return -1;
    int rc =
        th_init(&H, "bench-telegram") || th_install_plugin(&H, "jq") ||
        th_install_plugin(&H, "telegram") || th_install_plugin(&H, "llm-openai") ||
        th_install_plugin(&H, "echo") || th_config(&H, cfg) ||
        th_cli(&H, TOKEN "\n", NULL, 0, "secret", "set", "tgw", "token", NULL) ||
        th_cli(&H, HOOK_SECRET "\n", NULL, 0, "secret", "set", "tgw", "webhook_secret", NULL) ||
        th_cli(&H, ECHO_SECRET "\n", NULL, 0, "secret", "set", "echo", "webhook_secret", NULL) ||
        th_cli(&H, "sk-bench\n", NULL, 0, "secret", "set", "llm", "api_key", NULL) ||
        th_start(&H, NULL, 30000) || !th_wait_state(&H, "tgw", "ready", 30000) ||
        !th_wait_state(&H, "llm", "ready", 30000) || !th_wait_state(&H, "echo", "ready", 30000);
    free(cfg);
    if (rc) bench_fail(b, "the host did not start");
    return rc ? -1 : 0;
}

static int make_agent(bench *b)
{
    json_t *o = NULL;
    if (th_http(&H, "POST", "/api/v1/scenarios", "{\"name\": \"bench\"}", NULL, &o) != 201)
        return -1;
    char path[200], scn[64];
    snprintf(scn, sizeof(scn), "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    snprintf(path, sizeof(path), "/api/v1/scenarios/%s/versions", scn);
    char *ver = NULL, *ag = NULL;
    if (asprintf(&ver, "{\"message\": \"bench\", \"content\": %s}", SCENARIO) < 0) return -1;
    int st = th_http(&H, "POST", path, ver, NULL, &o);
    free(ver);
    if (st != 201) {
        bench_fail(b, "scenario: %d %s", st, json_dumps(o, 0));
        return -1;
    }
    json_decref(o);
    if (asprintf(&ag,
                 "{\"name\": \"bench\", \"status\": \"active\", \"scenario\": "
                 "{\"scenario_id\": \"%s\"}, \"channels\": [{\"instance\": \"tgw\"}]}",
                 scn) < 0)
        return -1;
    st = th_http(&H, "POST", "/api/v1/agents", ag, NULL, &o);
    free(ag);
    json_decref(o);
    return st == 201 ? 0 : -1;
}

/* rounds of `chats` updates at once, each round once every chat has its
 * answer; throughput into *thr, latencies into lat. */
static int end_to_end(bench *b, int chats, int rounds, long long first, double *thr, double *p50,
                      double *p99)
{
    json_decref(fake_req("POST", "/_fake/reset", "{}"));
    double t0 = now_ms();
    for (int r = 0; r < rounds; r++) {
        long long before = sent_count();
        char body[200];
        snprintf(body, sizeof(body), "{\"first_chat\": %lld, \"count\": %d, \"text\": \"hi\"}",
                 first, chats);
        json_t *o = fake_req("POST", "/_fake/texts", body);
        if (!o) return bench_fail(b, "injecting updates failed"), -1;
        json_decref(o);
        double deadline = now_ms() + 120000;
        while (sent_count() < before + chats) {
            if (now_ms() > deadline)
                return bench_fail(b, "%d chats: %lld of %d answers after 120 s", chats,
                                  sent_count() - before, chats),
                       -1;
            usleep(2000);
        }
    }
    double wall = now_ms() - t0;
    *thr = (double)chats * rounds / (wall / 1000.0);
    json_t *l = fake_req("GET", "/_fake/latencies", NULL);
    json_t *ms = json_object_get(l, "ms");
    size_t n = json_array_size(ms);
    double *v = calloc(n ? n : 1, sizeof(double));
    for (size_t i = 0; i < n; i++)
        v[i] = (double)json_integer_value(json_array_get(ms, i));
    *p50 = pct_of(v, n, 50);
    *p99 = pct_of(v, n, 99);
    free(v);
    json_decref(l);
    return 0;
}

static double closed_loop(bench *b, const char *what, const char *url, const char *body,
                          const char *const *headers, int concurrency, int ms)
{
    lg_result r = {0};
    loadgen(&(lg_opts){.url = url,
                       .body = body,
                       .headers = headers,
                       .concurrency = concurrency,
                       .duration_ms = ms},
            &r);
    double thr = r.wall_ms > 0 ? r.ok / (r.wall_ms / 1000.0) : 0;
    if (r.failed || !r.ok) bench_fail(b, "%s: %d of %d failed", what, r.failed, r.ok + r.failed);
    lg_free(&r);
    return thr;
}

int main(int argc, char **argv)
{
    bench b;
    bench_init(&b, "telegram", argc, argv);
    if (fake_start(&TG, BENCH_BUILD_DIR "/tests/fakes/fake_telegram", 5000) ||
        fake_start(&LLM, BENCH_BUILD_DIR "/tests/fakes/fake_openai", 5000)) {
        bench_fail(&b, "the fakes did not start");
        return bench_finish(&b);
    }
    if (start_host(&b) || make_agent(&b)) {
        bench_fail(&b, "setup failed");
        goto out;
    }
    char hook_url[200], send_url[200], auth[200];
    snprintf(hook_url, sizeof(hook_url), "http://127.0.0.1:%d/hooks/echo/bench", H.port);
    snprintf(send_url, sizeof(send_url), "http://127.0.0.1:%d/api/v1/instances/tgw/actions/send",
             H.port);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    const char *hook_h[] = {"Content-Type: application/json", "X-Agenthost-Secret: " ECHO_SECRET,
                            NULL};
    const char *send_h[] = {"Content-Type: application/json", auth, NULL};
    static const char update[] =
        "{\"update_id\": 1, \"message\": {\"message_id\": 1, \"date\": 1, \"chat\": {\"id\": 5, "
        "\"type\": \"private\"}, \"from\": {\"id\": 5, \"is_bot\": false, \"first_name\": "
        "\"Anna\"}, \"text\": \"hi\"}}";
    /* Warm up: the first conversation loads everything once. */
    double thr, p50, p99;
    if (end_to_end(&b, 1, 3, 900, &thr, &p50, &p99)) goto out;

    const int levels[] = {1, 100, 1000};
    int nlevels = b.full ? 3 : 2;
    bench_section(&b, "e2e", "webhook -> llm.chat step -> sendMessage, against the floors");
    for (int i = 0; i < nlevels; i++) {
        int c = b.full ? levels[i] : (i ? 10 : 1);
        int rounds = c == 1     ? (int)bench_pick(&b, 10, 200)
                     : c <= 100 ? (int)bench_pick(&b, 3, 20)
                                : 5;
        if (end_to_end(&b, c, rounds, 1000000LL * (i + 1), &thr, &p50, &p99)) goto out;
        int ms = (int)bench_pick(&b, 1000, 5000);
        double in = closed_loop(&b, "webhook ingress", hook_url, update, hook_h, c, ms);
        double out = closed_loop(&b, "egress", send_url, "{\"chat_id\": 77, \"text\": \"hi\"}",
                                 send_h, c, ms);
        double floor = in < out ? in : out;
        char key[40];
        snprintf(key, sizeof(key), "c%d_per_s", c);
        bench_row(&b, "e2e", key, thr, "msg/s", "%d chats, %d rounds; %.2f of the floor", c, rounds,
                  floor > 0 ? thr / floor : 0);
        snprintf(key, sizeof(key), "c%d_p50_ms", c);
        bench_row(&b, "e2e", key, p50, "ms", "injection at the fake to its sendMessage");
        snprintf(key, sizeof(key), "c%d_p99_ms", c);
        bench_row(&b, "e2e", key, p99, "ms", "%s", "the same, 99th percentile");
        snprintf(key, sizeof(key), "c%d_ingress_per_s", c);
        bench_row(&b, "e2e", key, in, "req/s", "floor: POST /hooks/echo/..., durable, %d at once",
                  c);
        snprintf(key, sizeof(key), "c%d_egress_per_s", c);
        bench_row(&b, "e2e", key, out, "req/s",
                  "floor: action send -> broker -> sendMessage, %d at once", c);
        snprintf(key, sizeof(key), "c%d_ratio", c);
        bench_row(&b, "e2e", key, floor > 0 ? thr / floor : 0, "x",
                  "end to end / the slower floor (target >= 0.5)");
    }
out:
    th_stop(&H, 15000);
    th_cleanup(&H);
    fake_stop(&TG);
    fake_stop(&LLM);
    return bench_finish(&b);
}
