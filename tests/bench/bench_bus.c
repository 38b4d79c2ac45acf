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
    static const unsigned windows[] = {1, 16, 1000};
    int rounds = (int)bench_pick(b, 1, 6);
    double seconds = b->full ? 1.5 : 0.25;
    bench_section(b, "publish",
                  "Publish throughput, 256-byte events, acknowledged once on disk (issue 5)");
    /* Warm-up: files created and grown, caches and allocators primed. */
    pub_plan warm = {.window = 16, .max_events = 5000, .seconds = b->full ? 1.0 : 0.1};
    raw_append(raw, &warm);
    self_publish(self, &warm);
    if (redis) redis_publish(redis, &warm);
    if (nats) nats_publish(nats, &warm);
    for (int i = 0; i < 3; i++) {
        unsigned w = windows[i];
        pub_plan p = {.window = w, .max_events = bench_pick(b, 20000, 5000000), .seconds = seconds};
        totals ts = {0}, tr = {0}, tre = {0}, tn = {0};
        /* Rounds alternate the systems so that load on the machine falls
         * on all of them alike. */
        for (int r = 0; r < rounds; r++) {
            pub_result x = raw_append(raw, &p);
            add(&tr, &x);
            x = self_publish(self, &p);
            add(&ts, &x);
            if (redis) {
                x = redis_publish(redis, &p);
                add(&tre, &x);
            }
            if (nats) {
                x = nats_publish(nats, &p);
                add(&tn, &x);
            }
        }
        char k[96];
        double bus = rate(&ts), floor = rate(&tr), rd = rate(&tre), nt = rate(&tn);
        snprintf(k, sizeof(k), "window %u: this bus", w);
        bench_row(b, "publish", k, bus, "ev/s", "%.0f publishes per commit",
                  ts.runs ? ts.batch_sum / ts.runs : 0);
        snprintf(k, sizeof(k), "window %u: raw LMDB, batch %u", w, w);
        bench_row(b, "publish", k, floor, "ev/s", "the floor");
        snprintf(k, sizeof(k), "window %u: Redis Streams (fsync always)", w);
        bench_row(b, "publish", k, rd, "ev/s", "equal durability");
        snprintf(k, sizeof(k), "window %u: NATS JetStream (file)", w);
        bench_row(b, "publish", k, nt, "ev/s", "WEAKER: acked before fsync");
        snprintf(k, sizeof(k), "window %u: bus / raw LMDB", w);
        bench_row(b, "publish", k, floor > 0 ? bus / floor : 0, "x", "target >= 0.70: %s",
                  floor > 0 && bus / floor >= 0.70 ? "met" : "MISSED");
        snprintf(k, sizeof(k), "window %u: bus / Redis", w);
        bench_row(b, "publish", k, rd > 0 ? bus / rd : 0, "x", "target >= 2: %s",
                  rd > 0 && bus / rd >= 2.0 ? "met" : "MISSED");
        snprintf(k, sizeof(k), "window %u: bus / NATS", w);
        bench_row(b, "publish", k, nt > 0 ? bus / nt : 0, "x", NULL);
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
