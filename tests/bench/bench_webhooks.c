/*
 * bench_webhooks - outgoing webhooks (docs/webhooks.md) beside the
 * broker's bare egress, in one run (scripts/bench.sh convention):
 *
 *   bench_webhooks --smoke | --full
 *
 * The subscriber is tests/fakes/fake_webhook on loopback, answering at
 * once. 1. The floor: the egress broker alone, in this process, POSTing
 * the same number of bodies of the same size to the fake, with as many in
 * flight as a subscription may have. 2. Webhooks: `agenthost serve` with
 * one subscription; events published to platform.conversation through
 * the API in batches of 100 (64 conversations, round robin), all at once
 * and then at a steady 200 per second; each is
 * consumed, signed, sent through the broker and logged. Reported:
 * deliveries per second from the first publish to the last delivery, the
 * ratio to the floor (target >= 0.5), and the lag from each event's commit
 * to its arrival at the subscriber (p50, p99; both clocks are this
 * machine's wall clock): for the burst (mostly queueing) and at the
 * steady rate.
 *
 * Fails only when a delivery is missing or a signature does not verify.
 */
#include "../fakes/fake_proc.h"
#include "../support/th.h"
#include "bench.h"
#include "broker/broker.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_BIN BENCH_BUILD_DIR "/tests/fakes/fake_webhook"
#define SECRET "whsec_test_0123456789abcdef"
#define CONCURRENCY 16
#define KEYS 64

/* ---- 1. the broker alone ------------------------------------------------------ */

typedef struct bare {
    ah_loop *loop;
    broker *br;
    egress_client client;
    json_t *req;
    int total, started, done, failed;
} bare;

static void bare_next(bare *x);

static void bare_answer(void *ud, json_t *a)
{
    bare *x = ud;
    json_int_t st = json_integer_value(json_object_get(a, "status"));
    if (st < 200 || st > 299) x->failed++;
    json_decref(a);
    x->done++;
    if (x->done == x->total)
        loop_stop(x->loop);
    else
        bare_next(x);
}

static void bare_partial(void *ud, json_t *c)
{
    (void)ud;
    json_decref(c);
}

static bool bare_live(void *ud)
{
    (void)ud;
    return true;
}

static void bare_dropped(void *ud)
{
    bare *x = ud;
    x->failed++;
    x->done++;
    if (x->done == x->total) loop_stop(x->loop);
}

static const egress_sink BARE = {bare_answer, bare_partial, bare_live, bare_dropped};

static void bare_next(bare *x)
{
    if (x->started == x->total) return;
    x->started++;
    broker_request(x->br, &x->client, x->req, NULL, &BARE, x);
}

/* Requests per second, or 0 after bench_fail. */
static double run_bare(bench *b, int port, int total, const char *body)
{
    bare x = {.total = total};
    egress_policy pol = {0};
    char err[300] = "", url[200];
    json_t *allow = json_pack("[{s:s,s:s,s:i,s:b}]", "scheme", "http", "host", "127.0.0.1", "port",
                              port, "private", 1);
    broker_opts o = {0};
    broker_opts_defaults(&o);
    if (loop_new(&x.loop) < 0 || broker_new(&x.br, x.loop, &o, err, sizeof(err)) != 0 ||
        policy_compile(&pol, NULL, NULL, NULL, allow, err, sizeof(err)) != 0) {
        bench_fail(b, "the bare broker: %s", err);
        json_decref(allow);
        return 0;
    }
    json_decref(allow);
    x.client = (egress_client){.id = "bench", .name = "bench", .pol = &pol};
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/r/bare", port);
    x.req = json_pack("{s:s,s:s,s:[s,s],s:s,s:i}", "method", "POST", "url", url, "headers",
                      "Content-Type: application/json", "X-Agenthost-Signature: t=1,v1=00", "body",
                      body, "timeout_ms", 10000);
    uint64_t t0 = bench_now_ns();
    for (int i = 0; i < CONCURRENCY; i++)
        bare_next(&x);
    loop_run(x.loop);
    double s = (double)(bench_now_ns() - t0) / 1e9;
    if (x.failed) bench_fail(b, "bare egress: %d of %d requests failed", x.failed, total);
    json_decref(x.req);
    broker_free(x.br);
    policy_free(&pol);
    loop_free(x.loop);
    return x.failed ? 0 : total / s;
}

/* ---- 2. webhooks through the host --------------------------------------------- */

static json_t *fake_get(int port, const char *path)
{
    th_host f = {.port = port};
    json_t *o = NULL;
    return th_http(&f, "GET", path, NULL, "", &o) == 200 ? o : (json_decref(o), NULL);
}

static long long wall_ms(void)
{
    return ah_now_ms();
}

/* Publish total events in batches of `batch`, one batch every pace_ms
 * (0: at once), and wait until the subscriber has them all: *rps from the
 * first publish to the last delivery, lag from each commit to its arrival. */
static void deliver_run(bench *b, th_host *h, int port, const char *name, int total, int batch,
                        int pace_ms, double *rps, bench_lat *lag)
{
    char path[200];
    snprintf(path, sizeof(path), "/_fake/count?name=%s", name);
    json_t *c0 = fake_get(port, path);
    json_int_t before = json_integer_value(json_object_get(c0, "events"));
    json_decref(c0);
    long long t0 = wall_ms();
    for (int i = 0; i < total; i += batch) {
        json_t *arr = json_array();
        for (int j = i; j < i + batch && j < total; j++) {
            char key[40];
            snprintf(key, sizeof(key), "cnv_bench_%02d", j % KEYS);
            json_array_append_new(arr,
                                  json_pack("{s:s,s:{s:s,s:i,s:s,s:s,s:i,s:s,s:i}}", "key", key,
                                            "body", "type", "step.completed", "event_version", 1,
                                            "conversation_id", key, "result", "ok", "n", j,
                                            "next_step", "ask_phone", "duration_ms", 12));
        }
        char *text = json_dumps(arr, JSON_COMPACT);
        if (th_http(h, "POST", "/api/v1/topics/platform.conversation/events", text, NULL, NULL) !=
            201)
            bench_fail(b, "publishing a batch failed");
        free(text);
        json_decref(arr);
        if (pace_ms) th_sleep_ms(pace_ms);
    }
    long long until = th_now_ms() + (b->full ? 300000 : 60000);
    while (th_now_ms() < until) {
        json_t *c = fake_get(port, path);
        json_int_t have = json_integer_value(json_object_get(c, "events"));
        json_decref(c);
        if (have - before >= total) break;
        th_sleep_ms(20);
    }
    snprintf(path, sizeof(path), "/_fake/received?name=%s", name);
    json_t *r = fake_get(port, path);
    const json_t *ev = json_object_get(r, "events");
    if ((json_int_t)json_array_size(ev) - before != total)
        bench_fail(b, "%lld of %d events delivered",
                   (long long)(json_array_size(ev) - (size_t)before), total);
    if (json_integer_value(json_object_get(r, "bad_signatures")))
        bench_fail(b, "signatures that do not verify");
    long long last = t0;
    for (size_t i = (size_t)before; i < json_array_size(ev); i++) {
        const json_t *e = json_array_get(ev, i);
        long long at = json_integer_value(json_object_get(e, "at_ms"));
        int64_t made = 0;
        if (ah_parse_time(json_string_value(json_object_get(e, "created_at")), &made) && at >= made)
            bench_lat_add(lag, (uint64_t)(at - made) * 1000000u);
        if (at > last) last = at;
    }
    if (rps) *rps = last > t0 ? total / ((double)(last - t0) / 1000.0) : 0;
    json_decref(r);
}

static void run_hooks(bench *b, int port, int total, double bare_rps)
{
    th_host h;
    char cfg[600];
    snprintf(cfg, sizeof(cfg),
             "{\"webhooks\": {\"allow\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", "
             "\"port\": %d, \"private\": true}], \"concurrency\": %d}}",
             port, CONCURRENCY);
    if (th_init(&h, "bench-webhooks") || th_config(&h, cfg) || th_start(&h, NULL, 20000)) {
        bench_fail(b, "cannot start the host");
        return;
    }
    char body[600];
    snprintf(body, sizeof(body),
             "{\"url\": \"http://127.0.0.1:%d/r/hooks\", \"events\": [\"step.completed\"], "
             "\"secret\": \"" SECRET "\"}",
             port);
    json_t *o = NULL;
    if (th_http(&h, "POST", "/api/v1/webhooks", body, NULL, &o) != 201) {
        bench_fail(b, "cannot subscribe");
        json_decref(o);
        th_stop_clean(&h, 10000);
        th_cleanup(&h);
        return;
    }
    json_decref(o);
    double rps = 0;
    bench_lat burst = {0}, paced = {0};
    deliver_run(b, &h, port, "hooks", total, 100, 0, &rps, &burst);
    /* The same at a steady rate well below the ceiling: the lag an event
     * sees when the subscriber keeps up. */
    int steady = (int)bench_pick(b, 100, 2000);
    deliver_run(b, &h, port, "hooks", steady, 10, 50, NULL, &paced);
    bench_section(b, "webhooks", "Webhook deliveries to a fast loopback subscriber");
    bench_row(b, "webhooks", "bare_rps", bare_rps, "req/s", "the broker alone, %d in flight",
              CONCURRENCY);
    bench_row(b, "webhooks", "deliveries_rps", rps, "/s",
              "%d events at once, %d conversations, concurrency %d", total, KEYS, CONCURRENCY);
    bench_row(b, "webhooks", "ratio", bare_rps > 0 ? rps / bare_rps : 0, "x",
              "deliveries / bare egress (target >= 0.5)");
    bench_row(b, "webhooks", "burst_lag_p99_ms", bench_lat_us(&burst, 0.99) / 1000.0, "ms",
              "commit -> subscriber, all %d published at once (queueing)", total);
    bench_row(b, "webhooks", "lag_p50_ms", bench_lat_us(&paced, 0.5) / 1000.0, "ms",
              "commit -> subscriber, %d events at 200/s", steady);
    bench_row(b, "webhooks", "lag_p99_ms", bench_lat_us(&paced, 0.99) / 1000.0, "ms",
              "commit -> subscriber, %d events at 200/s", steady);
    bench_lat_free(&burst);
    bench_lat_free(&paced);
    th_stop_clean(&h, 20000);
    th_cleanup(&h);
}

int main(int argc, char **argv)
{
    bench b;
    bench_init(&b, "webhooks", argc, argv);
    log_opts lo = {.to_stderr = false, .min_level = LOG_ERROR};
    log_init(&lo);
    fake_proc f;
    if (fake_start(&f, FAKE_BIN, 5000)) {
        bench_fail(&b, "cannot start fake_webhook");
        return bench_finish(&b);
    }
    int total = (int)bench_pick(&b, 500, 20000);
    /* A body the size of a step.completed delivery. */
    char body[700];
    snprintf(body, sizeof(body),
             "{\"id\":\"0195b2c4a1e07f3c9d2b6e8a40f1c5d7\",\"type\":\"step.completed\","
             "\"topic\":\"platform.conversation\",\"offset\":4211,\"created_at\":"
             "\"2026-03-14T09:12:03.455Z\",\"data\":{\"type\":\"step.completed\","
             "\"event_version\":1,\"conversation_id\":\"cnv_bench_01\",\"result\":\"ok\","
             "\"n\":1,\"next_step\":\"ask_phone\",\"duration_ms\":12}}");
    double bare_rps = bench_want(&b, "bare") ? run_bare(&b, f.port, total, body) : 0;
    if (bench_want(&b, "webhooks")) run_hooks(&b, f.port, total, bare_rps);
    fake_stop(&f);
    log_shutdown();
    return bench_finish(&b);
}
