/*
 * bus.h - the bus benchmarks (issue 5), run by bench_bus. Every system
 * stores 256-byte events and answers a publisher only once its event is
 * on disk (NATS JetStream excepted: it is labelled with its weaker
 * default, no fsync per message). Windows are publishers in flight.
 *   bus_self.c   this bus in-process: publish, publish->deliver latency,
 *                consume+ack
 *   bus_raw.c    raw LMDB appends, same env flags, transactions of the
 *                window's size: the floor of the design
 *   bus_redis.c  Redis Streams, XADD pipelined up to the window,
 *                appendonly yes + appendfsync always
 *   bus_nats.c   NATS JetStream, file store, publishes with acks up to
 *                the window
 */
#ifndef AH_BENCH_BUS_H
#define AH_BENCH_BUS_H

#include "bench.h"

#define EVENT_BYTES 256

/* A closed-loop run: `window` publishers in flight, each publishing again
 * when answered, until `max_events` are issued or `seconds` have passed
 * (whichever first); then the in-flight ones are drained. */
typedef struct pub_plan {
    unsigned window;
    long max_events;
    double seconds;
} pub_plan;

typedef struct pub_result {
    long events; /* acknowledged */
    double seconds;
    double batch;           /* mean events per commit, where known (0 if not) */
    double durable_seconds; /* consume: until the acked position is on disk */
    bool ok;
} pub_result;

static inline double pub_rate(const pub_result *r)
{
    return r->seconds > 0 ? (double)r->events / r->seconds : 0;
}

/* ---- this bus ------------------------------------------------------------------- */
typedef struct self_bus self_bus;
int self_open(self_bus **out, bench *b);
void self_close(self_bus *s);
pub_result self_publish(self_bus *s, const pub_plan *p);
/* Publish->deliver latency with a consumer attached that acks at once. */
void self_latency(self_bus *s, unsigned window, long events, bench_lat *lat, pub_result *r);
/* Preload `events`, then consume and ack them all: events/s. */
pub_result self_consume(self_bus *s, long events, unsigned max_in_flight);

/* ---- raw LMDB ----------------------------------------------------------------------- */
typedef struct raw_log raw_log;
int raw_open_log(raw_log **out, bench *b);
void raw_close_log(raw_log *r);
pub_result raw_append(raw_log *r, const pub_plan *p);

/* ---- Redis Streams ------------------------------------------------------------------- */
typedef struct redis_peer redis_peer;
/* NULL (and a note) when redis-server is missing; a failure to start is
 * a failure of the run. */
redis_peer *redis_start(bench *b);
void redis_stop(redis_peer *r);
pub_result redis_publish(redis_peer *r, const pub_plan *p);

/* ---- NATS JetStream -------------------------------------------------------------------- */
typedef struct nats_peer nats_peer;
nats_peer *nats_start(bench *b);
void nats_stop(nats_peer *n);
pub_result nats_publish(nats_peer *n, const pub_plan *p);

#endif
