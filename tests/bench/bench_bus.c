/*
 * bench_bus - the bus's figures (issue 5): publish throughput of this bus
 * with 1, 16 and 1,000 publishers in flight against raw LMDB appends at
 * the same batch size (the floor), Redis Streams at equal durability and
 * window, and NATS JetStream (weaker default durability); publish->deliver
 * latency; consume+ack throughput. See bus.h and docs/benchmarks.md.
 *
 *   bench_bus --smoke | --full
 */
#include "bus.h"

#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct totals {
    long events;
    double seconds, batch_sum;
    int runs;
} totals;

static void add(totals *t, const pub_result *r)
{
    t->events += r->events;
    t->seconds += r->seconds;
    t->batch_sum += r->batch;
    t->runs++;
}

static double rate(const totals *t)
{
    return t->seconds > 0 ? (double)t->events / t->seconds : 0;
}

static void publish_section(bench *b, self_bus *self, raw_log *raw, redis_peer *redis,
                            nats_peer *nats)
{
    static const unsigned windows[] = {1, 16, 100, 1000};
    int rounds = (int)bench_pick(b, 1, 8);
    double seconds = b->full ? 1.0 : 0.25;
    bench_section(b, "publish",
                  "Publish throughput, 256-byte events, acknowledged once on disk (issue 5)");
    /* Warm-up: files created and grown, caches and allocators primed. */
    pub_plan warm = {.window = 16, .max_events = 5000, .seconds = b->full ? 1.0 : 0.1};
    raw_append(raw, &warm);
    self_publish(self, &warm);
    if (redis) redis_publish(redis, &warm);
    if (nats) nats_publish(nats, &warm);
    enum { MAX_ROUNDS = 8 };
    const char *only_w = getenv("BENCH_BUS_WINDOW"); /* one window alone (profiling) */
    for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
        unsigned w = windows[i];
        if (only_w && (unsigned)atoi(only_w) != w) continue;
        pub_plan p = {.window = w, .max_events = bench_pick(b, 20000, 5000000), .seconds = seconds};
        totals ts = {0}, tr = {0}, tre = {0}, tn = {0};
        double vs_raw[MAX_ROUNDS], vs_redis[MAX_ROUNDS], vs_nats[MAX_ROUNDS];
        /* Rounds run every system once, in an order that reverses each
         * round; the per-round ratios are what drift least when the shared
         * disk's fsync time or the machine's load does. */
        for (int r = 0; r < rounds; r++) {
            pub_result x[4] = {{0}};
            for (int k = 0; k < 4; k++) {
                int which = r % 2 ? 3 - k : k;
                if (which == 0)
                    x[0] = raw_append(raw, &p);
                else if (which == 1)
                    x[1] = self_publish(self, &p);
                else if (which == 2 && redis)
                    x[2] = redis_publish(redis, &p);
                else if (which == 3 && nats)
                    x[3] = nats_publish(nats, &p);
            }
            add(&tr, &x[0]);
            add(&ts, &x[1]);
            add(&tre, &x[2]);
            add(&tn, &x[3]);
            double bus = pub_rate(&x[1]);
            vs_raw[r] = pub_rate(&x[0]) > 0 ? bus / pub_rate(&x[0]) : 0;
            vs_redis[r] = pub_rate(&x[2]) > 0 ? bus / pub_rate(&x[2]) : 0;
            vs_nats[r] = pub_rate(&x[3]) > 0 ? bus / pub_rate(&x[3]) : 0;
        }
        char k[96];
        double m_raw = bench_median(vs_raw, rounds), m_redis = bench_median(vs_redis, rounds);
        double m_nats = bench_median(vs_nats, rounds);
        snprintf(k, sizeof(k), "window %u: this bus", w);
        bench_row(b, "publish", k, rate(&ts), "ev/s", "%.0f publishes per commit",
                  ts.runs ? ts.batch_sum / ts.runs : 0);
        snprintf(k, sizeof(k), "window %u: raw LMDB, batch %u", w, w);
        bench_row(b, "publish", k, rate(&tr), "ev/s", "the floor");
        snprintf(k, sizeof(k), "window %u: Redis Streams (fsync always)", w);
        bench_row(b, "publish", k, rate(&tre), "ev/s", "equal durability");
        snprintf(k, sizeof(k), "window %u: NATS JetStream (file)", w);
        bench_row(b, "publish", k, rate(&tn), "ev/s", "WEAKER: acked before fsync");
        snprintf(k, sizeof(k), "window %u: bus / raw LMDB", w);
        bench_row(b, "publish", k, m_raw, "x",
                  "median of %d rounds (%.2f-%.2f); target >= 0.70: %s", rounds, vs_raw[0],
                  vs_raw[rounds - 1], m_raw >= 0.70 ? "met" : "MISSED");
        snprintf(k, sizeof(k), "window %u: bus / Redis", w);
        bench_row(b, "publish", k, m_redis, "x", "median of %d rounds (%.2f-%.2f); target >= 2: %s",
                  rounds, vs_redis[0], vs_redis[rounds - 1], m_redis >= 2.0 ? "met" : "MISSED");
        snprintf(k, sizeof(k), "window %u: bus / NATS", w);
        bench_row(b, "publish", k, m_nats, "x", "median of %d rounds", rounds);
    }
}

static void latency_section(bench *b, self_bus *self)
{
    static const unsigned windows[] = {1, 16};
    bench_section(b, "latency", "This bus: publish -> deliver latency (consumer acks at once)");
    for (int i = 0; i < 2; i++) {
        bench_lat lat = {0};
        pub_result r;
        long n = windows[i] == 1 ? bench_pick(b, 100, 3000) : bench_pick(b, 800, 40000);
        self_latency(self, windows[i], n, &lat, &r);
        char k[96];
        snprintf(k, sizeof(k), "window %u: median", windows[i]);
        bench_row(b, "latency", k, bench_lat_us(&lat, 0.5), "us", "%zu events", lat.n);
        snprintf(k, sizeof(k), "window %u: p99", windows[i]);
        bench_row(b, "latency", k, bench_lat_us(&lat, 0.99), "us", NULL);
        snprintf(k, sizeof(k), "window %u: publish rate meanwhile", windows[i]);
        bench_row(b, "latency", k, pub_rate(&r), "ev/s", "%.1f writes per commit", r.batch);
        bench_lat_free(&lat);
    }
}

static void consume_section(bench *b, self_bus *self)
{
    long n = bench_pick(b, 2000, 200000);
    unsigned in_flight = 1000;
    pub_result r = self_consume(self, n, in_flight);
    bench_section(b, "consume", "This bus: consume + ack of a preloaded topic");
    bench_row(b, "consume", "consume+ack", pub_rate(&r), "ev/s", "%ld events, %u in flight",
              r.events, in_flight);
    bench_row(b, "consume", "until the acked position is on disk",
              r.durable_seconds > 0 ? (double)r.events / r.durable_seconds : 0, "ev/s", NULL);
}

int main(int argc, char **argv)
{
    bench b;
    bench_init(&b, "bus", argc, argv);
    log_opts lo = {.to_stderr = false, .min_level = LOG_ERROR};
    log_init(&lo);

    self_bus *self = NULL;
    raw_log *raw = NULL;
    redis_peer *redis = NULL;
    nats_peer *nats = NULL;
    if (self_open(&self, &b) == 0 && raw_open_log(&raw, &b) == 0) {
        if (bench_want(&b, "publish")) {
            redis = redis_start(&b);
            nats = nats_start(&b);
            publish_section(&b, self, raw, redis, nats);
        }
        if (bench_want(&b, "latency")) latency_section(&b, self);
        if (bench_want(&b, "consume")) consume_section(&b, self);
    }
    bench_set(&b, "publish", "durability",
              json_string("this bus, raw LMDB, Redis (appendfsync always): fsynced before the "
                          "acknowledgement; NATS JetStream 2.9: acknowledged from its write "
                          "buffers, fsynced every 2 minutes (sync_interval default)"));
    nats_stop(nats);
    redis_stop(redis);
    raw_close_log(raw);
    self_close(self);
    log_shutdown();
    return bench_finish(&b);
}
