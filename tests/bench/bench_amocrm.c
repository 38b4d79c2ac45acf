/*
 * bench_amocrm - CRM calls through the crm-amocrm plugin at amoCRM's limit
 * (issue 19): the fake amoCRM enforces 7 requests a second per account and
 * answers 429 past it; the plugin's scheduler must keep to it. A closed
 * loop of callers (more than the limit allows at once) calls
 * contact.find (one request each) through the real binary for a while:
 * calls a second sustained, the requests a second the fake saw at most
 * within one second, and its 429s (0 expected). Beside it, in the same
 * run, the limit itself (the floor a perfect scheduler reaches: 7 a
 * second), and note.add from as many callers (adds waiting together share
 * a request of up to 50): notes a second at the same request rate.
 */
#include "../fakes/fake_proc.h"
#include "../support/th.h"
#include "bench.h"
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LONG_LIVED "bench-long-lived-token-7Hq2"

static th_host H;
static fake_proc AMO;

static json_t *fake_req(const char *method, const char *path, const char *body)
{
    th_host x = {.port = AMO.port};
    json_t *o = NULL;
    if (th_http(&x, method, path, body, "", &o) != 200) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static long long stat_of(const char *name)
{
    json_t *o = fake_req("GET", "/_fake/stats", NULL);
    long long v = json_integer_value(json_object_get(o, name));
    json_decref(o);
    return v;
}

static int start_host(bench *b)
{
    int port = bench_free_port();
    char *cfg = NULL;
    if (asprintf(&cfg,
                 "{\"listen\": \"127.0.0.1:%d\", \"expressions\": {\"workers\": 1},"
                 " \"http\": {\"per_ip_connections\": 0},"
                 " \"instances\": ["
                 "  {\"id\": \"amo\", \"plugin\": \"crm-amocrm\", \"config\": {\"base_url\": "
                 "   \"http://127.0.0.1:%d\"},"
                 "   \"egress\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": %d,"
                 "                \"private\": true}]}]}",
                 port, AMO.port, AMO.port) < 0)
        return -1;
    json_decref(fake_req("POST", "/_fake/config", "{\"long_lived_token\": \"" LONG_LIVED "\"}"));
    int rc =
        th_init(&H, "bench-amocrm") || th_install_plugin(&H, "jq") ||
        th_install_plugin(&H, "crm-amocrm") || th_config(&H, cfg) ||
        th_cli(&H, LONG_LIVED "\n", NULL, 0, "secret", "set", "amo", "long_lived_token", NULL) ||
        th_start(&H, NULL, 30000) || !th_wait_state(&H, "amo", "ready", 30000);
    free(cfg);
    if (rc) bench_fail(b, "the host did not start");
    return rc ? -1 : 0;
}

/* A closed loop on an action: calls a second. */
static double closed_loop(bench *b, const char *action, const char *body, int concurrency, int ms,
                          int *ok)
{
    char url[200], auth[200];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/instances/amo/actions/%s", H.port,
             action);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    const char *headers[] = {"Content-Type: application/json", auth, NULL};
    lg_result r = {0};
    loadgen(&(lg_opts){.url = url,
                       .body = body,
                       .headers = headers,
                       .concurrency = concurrency,
                       .duration_ms = ms},
            &r);
    double thr = r.wall_ms > 0 ? r.ok / (r.wall_ms / 1000.0) : 0;
    if (r.failed || !r.ok) bench_fail(b, "%s: %d of %d failed", action, r.failed, r.ok + r.failed);
    *ok = r.ok;
    lg_free(&r);
    return thr;
}

int main(int argc, char **argv)
{
    bench b;
    bench_init(&b, "amocrm", argc, argv);
    if (fake_start(&AMO, BENCH_BUILD_DIR "/tests/fakes/fake_amocrm", 5000)) {
        bench_fail(&b, "the fake did not start");
        return bench_finish(&b);
    }
    if (start_host(&b)) goto out;
    int ms = (int)bench_pick(&b, 3000, 30000), conc = 16, ok;
    bench_section(&b, "rate", "CRM calls at amoCRM's limit (7 requests a second per account)");
    long long api0 = stat_of("api"), r429 = stat_of("429");
    double finds = closed_loop(&b, "contact.find", "{\"phone\": \"+79123456789\"}", conc, ms, &ok);
    long long api = stat_of("api") - api0;
    bench_row(&b, "rate", "finds_per_s", finds, "calls/s", "contact.find, %d callers, %d calls",
              conc, ok);
    bench_row(&b, "rate", "limit_per_s", 7, "req/s", "the floor: amoCRM's limit");
    bench_row(&b, "rate", "ratio", finds / 7.0, "x", "calls a second / the limit");
    bench_row(&b, "rate", "max_in_one_second", (double)stat_of("max_rps_seen"), "req",
              "most requests the fake saw within one second");
    bench_row(&b, "rate", "http_429", (double)(stat_of("429") - r429), "", "429s from the fake");
    bench_row(&b, "rate", "requests", (double)api, "req", "requests that reached the fake");
    if (stat_of("429") != r429) bench_fail(&b, "the scheduler went past the limit: 429s");

    bench_section(&b, "batch", "note.add from many callers: adds share requests (up to 50)");
    long long n0 = stat_of("notes");
    api0 = stat_of("api");
    double notes =
        closed_loop(&b, "note.add", "{\"entity_id\": 1, \"text\": \"bench\"}", 100, ms, &ok);
    api = stat_of("api") - api0;
    bench_row(&b, "batch", "notes_per_s", notes, "calls/s", "note.add, 100 callers, %d calls", ok);
    bench_row(&b, "batch", "notes_per_request", api ? (double)ok / (double)api : 0, "",
              "%lld requests for %d notes", stat_of("notes") - n0, ok);
    bench_row(&b, "batch", "ratio", notes / 7.0, "x", "notes a second / the request limit");
    if (stat_of("429") != r429) bench_fail(&b, "batched adds went past the limit: 429s");
out:
    th_stop_clean(&H, 10000);
    th_cleanup(&H);
    fake_stop(&AMO);
    return bench_finish(&b);
}
