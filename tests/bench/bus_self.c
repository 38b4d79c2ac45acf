/* bus_self.c - this bus, in-process on the host's loop and store: closed-
 * loop publishers (each publishes again once answered, i.e. once its event
 * is committed and fsynced), publish->deliver latency with a consumer
 * that acks, and consume+ack of a preloaded topic. */
#include "bus.h"

#include "bus/bus.h"
#include "core/log.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAP_SIZE (2ull << 30)

struct self_bus {
    bench *b;
    char dir[512];
    ah_loop *loop;
    store *st;
    bus *bus;
    json_t *body; /* 256 bytes as compact JSON */
    unsigned topics_made;
    /* deferred acks: a consumer acks on the next loop iteration */
    uv_idle_t idle;
    uint64_t *acks;
    size_t nacks, capacks;
};

/* ---- running the loop ---------------------------------------------------------- */

static bool g_deadline;

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    g_deadline = true;
}

static bool run_until(self_bus *s, bool (*cond)(void *), void *arg, int timeout_ms)
{
    uv_timer_t t;
    uv_timer_init(loop_uv(s->loop), &t);
    g_deadline = false;
    uv_timer_start(&t, on_deadline, (uint64_t)timeout_ms, 0);
    while (!cond(arg) && !g_deadline)
        uv_run(loop_uv(s->loop), UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop_uv(s->loop), UV_RUN_NOWAIT);
    return cond(arg);
}

static void on_idle(uv_idle_t *h)
{
    self_bus *s = h->data;
    /* Acks may deliver more, which queue more acks: take the batch first. */
    uint64_t *batch = s->acks;
    size_t n = s->nacks;
    s->acks = NULL;
    s->nacks = s->capacks = 0;
    uv_idle_stop(h);
    for (size_t i = 0; i < n; i++)
        if (bus_ack(s->bus, batch[i]) != 0)
            bench_fail(s->b, "bus_ack refused delivery %llu", (unsigned long long)batch[i]);
    free(batch);
}

static void defer_ack(self_bus *s, uint64_t id)
{
    if (s->nacks == s->capacks) {
        size_t cap = s->capacks ? s->capacks * 2 : 1024;
        uint64_t *nv = realloc(s->acks, cap * sizeof(*nv));
        if (!nv) {
            bench_fail(s->b, "out of memory");
            return;
        }
        s->acks = nv;
        s->capacks = cap;
    }
    s->acks[s->nacks++] = id;
    uv_idle_start(&s->idle, on_idle);
}

/* ---- open and close ---------------------------------------------------------------- */

int self_open(self_bus **out, bench *b)
{
    char err[512];
    self_bus *s = calloc(1, sizeof(*s));
    s->b = b;
    *out = s;
    if (bench_tmpdir(s->dir, sizeof(s->dir), "bus") < 0) {
        bench_fail(b, "cannot make a temporary directory");
        return -1;
    }
    char data[600];
    snprintf(data, sizeof(data), "%s/var", s->dir);
    store_opts so = {.dir = data, .map_size = MAP_SIZE};
    bus_opts bo = {.max_event_bytes = 64 << 10,
                   .idempotency_window_ms = 24ull * 3600 * 1000,
                   .ack_timeout_ms = 30000,
                   .max_attempts = 5,
                   .backoff_ms = 100,
                   .max_backoff_ms = 10000,
                   .max_in_flight = 1000,
                   .sweep_interval_ms = 1000};
    if (loop_new(&s->loop) < 0 || store_open(&s->st, s->loop, &so, err, sizeof(err)) != 0 ||
        bus_open(&s->bus, s->loop, s->st, &bo, err, sizeof(err)) != 0) {
        bench_fail(b, "cannot open the loop, store and bus: %s", err);
        return -1;
    }
    uv_idle_init(loop_uv(s->loop), &s->idle);
    s->idle.data = s;
    size_t n = EVENT_BYTES - strlen("{\"d\":\"\"}");
    char *text = malloc(n + 1);
    memset(text, 'e', n);
    text[n] = 0;
    s->body = json_pack("{s:s}", "d", text);
    free(text);
    return 0;
}

void self_close(self_bus *s)
{
    if (!s) return;
    if (s->bus) bus_close(s->bus);
    if (s->st) store_close(s->st);
    if (s->bus) bus_free(s->bus);
    if (s->loop) {
        uv_close((uv_handle_t *)&s->idle, NULL);
        loop_free(s->loop);
    }
    json_decref(s->body);
    free(s->acks);
    bench_rmdir(s->dir);
    free(s);
}

/* ---- closed-loop publishers ----------------------------------------------------------- */

typedef struct pub_run {
    self_bus *s;
    char topic[64];
    const pub_plan *p;
    uint64_t t0, stop_at;
    long issued, acked, errors;
    uint64_t last_offset;
    bool stopped; /* no more issuing */
    /* latency: publish time by offset - 1 (a ring of window slots suffices
     * since at most window are in flight) */
    uint64_t *sent_at;
    bench_lat *lat;
    long delivered;
} pub_run;

typedef struct publisher {
    pub_run *r;
    uint64_t t0;
} publisher;

static void issue(publisher *pb);

static void on_published(void *ud, int status, const uint64_t *offsets, const bool *dup, size_t n)
{
    publisher *pb = ud;
    pub_run *r = pb->r;
    (void)dup;
    if (status != 0 || n != 1) {
        if (r->errors++ == 0) bench_fail(r->s->b, "publish failed: %s", ah_strerror(status));
    } else {
        r->acked++;
        if (offsets[0] > r->last_offset) r->last_offset = offsets[0];
    }
    if (!r->stopped && (r->issued >= r->p->max_events || bench_now_ns() >= r->stop_at))
        r->stopped = true;
    if (!r->stopped) issue(pb);
}

static void issue(publisher *pb)
{
    pub_run *r = pb->r;
    char err[256];
    bus_msg m = {.topic = r->topic, .body = r->s->body};
    r->issued++;
    uint64_t now = bench_now_ns();
    if (r->sent_at) r->sent_at[(uint64_t)r->issued % (r->p->window * 4u + 1)] = now;
    if (bus_publish(r->s->bus, &m, 1, false, on_published, pb, err, sizeof(err)) != 0) {
        r->errors++;
        r->stopped = true;
        bench_fail(r->s->b, "bus_publish: %s", err);
    }
}

static bool all_answered(void *arg)
{
    pub_run *r = arg;
    return r->acked + r->errors >= r->issued && (r->stopped || r->errors);
}

static pub_result run_publishers(self_bus *s, pub_run *r)
{
    pub_result res = {0};
    store_stats s0, s1;
    store_get_stats(s->st, &s0);
    publisher *pbs = calloc(r->p->window, sizeof(*pbs));
    r->t0 = bench_now_ns();
    r->stop_at = r->t0 + (uint64_t)(r->p->seconds * 1e9);
    for (unsigned i = 0; i < r->p->window && r->issued < r->p->max_events; i++) {
        pbs[i].r = r;
        issue(&pbs[i]);
    }
    int limit_ms = (int)(r->p->seconds * 1000) + 60000;
    if (!run_until(s, all_answered, r, limit_ms))
        bench_fail(s->b, "bus: %ld of %ld publishes answered in time", r->acked, r->issued);
    res.seconds = (double)(bench_now_ns() - r->t0) / 1e9;
    res.events = r->acked;
    store_get_stats(s->st, &s1);
    uint64_t commits = s1.commits - s0.commits;
    res.batch = commits ? (double)(s1.writes - s0.writes) / (double)commits : 0;
    res.ok = r->errors == 0;
    free(pbs);
    return res;
}

pub_result self_publish(self_bus *s, const pub_plan *p)
{
    pub_run r = {.s = s, .p = p};
    snprintf(r.topic, sizeof(r.topic), "bench.pub.%u", ++s->topics_made);
    return run_publishers(s, &r);
}

/* ---- publish -> deliver latency ----------------------------------------------------------- */

static int lat_deliver(void *ud, const bus_delivery *d)
{
    pub_run *r = ud;
    uint64_t now = bench_now_ns();
    if (r->lat && d->offset > 0)
        bench_lat_add(r->lat, now - r->sent_at[d->offset % (r->p->window * 4u + 1)]);
    r->delivered++;
    defer_ack(r->s, d->id);
    return 0;
}

static bool all_delivered(void *arg)
{
    pub_run *r = arg;
    return r->delivered >= r->acked && r->s->nacks == 0;
}

void self_latency(self_bus *s, unsigned window, long events, bench_lat *lat, pub_result *res)
{
    pub_plan p = {.window = window, .max_events = events, .seconds = 60};
    pub_run r = {.s = s, .p = &p, .lat = lat};
    r.sent_at = calloc(window * 4u + 1, sizeof(*r.sent_at));
    snprintf(r.topic, sizeof(r.topic), "bench.lat.%u", ++s->topics_made);
    char err[256], name[64];
    snprintf(name, sizeof(name), "bench-lat-%u", s->topics_made);
    const char *pats[] = {r.topic};
    bus_consumer_opts co = {.name = name,
                            .patterns = pats,
                            .npatterns = 1,
                            .start = BUS_START_EARLIEST,
                            .max_in_flight = 1000};
    bus_consumer_ops ops = {.deliver = lat_deliver};
    bus_consumer *c;
    if (bus_consumer_open(s->bus, &co, &ops, &r, &c, err, sizeof(err)) != 0) {
        bench_fail(s->b, "bus_consumer_open: %s", err);
        free(r.sent_at);
        return;
    }
    bus_consumer_attach(c);
    /* Offsets start at 1 and follow issue order: event k is issue k. */
    *res = run_publishers(s, &r);
    if (!run_until(s, all_delivered, &r, 10000))
        bench_fail(s->b, "latency: %ld of %ld events delivered", r.delivered, r.acked);
    bus_consumer_detach(c, NULL);
    free(r.sent_at);
}

/* ---- consume + ack ------------------------------------------------------------------------- */

typedef struct consume_run {
    self_bus *s;
    long want, delivered;
    uint64_t last_offset;
    bool out_of_order;
} consume_run;

static int consume_deliver(void *ud, const bus_delivery *d)
{
    consume_run *r = ud;
    if (d->offset != r->last_offset + 1) r->out_of_order = true;
    r->last_offset = d->offset;
    r->delivered++;
    defer_ack(r->s, d->id);
    return 0;
}

static bool consumed(void *arg)
{
    consume_run *r = arg;
    return r->delivered >= r->want && r->s->nacks == 0;
}

typedef struct preload {
    long done, errors;
} preload;

static void on_preloaded(void *ud, int status, const uint64_t *o, const bool *d, size_t n)
{
    preload *pl = ud;
    (void)o;
    (void)d;
    if (status) pl->errors++;
    pl->done += (long)n;
}

/* The durable position of a consumer: bus.consumers "<name>\0<topic id>". */
typedef struct position_scan {
    size_t nlen;
    uint64_t pos;
} position_scan;

static int position_of(void *ud, store_val k, store_val v)
{
    position_scan *ps = ud;
    if (k.len == ps->nlen + 4 && v.len == 8) ps->pos = store_rd64(v.data);
    return 0;
}

static uint64_t durable_position(self_bus *s, const char *name)
{
    store_txn *txn;
    position_scan ps = {.nlen = strlen(name) + 1};
    if (store_read_begin(s->st, &txn) != 0) return 0;
    store_scan(txn, STORE_DB_CONSUMERS, name, ps.nlen, NULL, 0, 0, position_of, &ps);
    store_read_end(s->st, txn);
    return ps.pos;
}

typedef struct durable_wait {
    self_bus *s;
    const char *name;
    uint64_t want;
} durable_wait;

static bool durable(void *arg)
{
    durable_wait *d = arg;
    return durable_position(d->s, d->name) >= d->want;
}

pub_result self_consume(self_bus *s, long events, unsigned max_in_flight)
{
    pub_result res = {0};
    char topic[64], name[64], err[256];
    snprintf(topic, sizeof(topic), "bench.consume.%u", ++s->topics_made);
    snprintf(name, sizeof(name), "bench-consume-%u", s->topics_made);
    /* Preload in batches of 500 (one commit each). */
    enum { BATCH = 500 };
    bus_msg *msgs = calloc(BATCH, sizeof(*msgs));
    for (int i = 0; i < BATCH; i++)
        msgs[i] = (bus_msg){.topic = topic, .body = s->body};
    preload pl = {0};
    for (long left = events; left > 0;) {
        size_t n = left > BATCH ? BATCH : (size_t)left;
        long target = pl.done + (long)n;
        if (bus_publish(s->bus, msgs, n, false, on_preloaded, &pl, err, sizeof(err)) != 0) {
            bench_fail(s->b, "preload: %s", err);
            free(msgs);
            return res;
        }
        left -= (long)n;
        while (pl.done < target && !pl.errors)
            uv_run(loop_uv(s->loop), UV_RUN_ONCE);
    }
    free(msgs);
    if (pl.errors) {
        bench_fail(s->b, "preload: a publish failed");
        return res;
    }
    consume_run r = {.s = s, .want = events};
    const char *pats[] = {topic};
    bus_consumer_opts co = {.name = name,
                            .patterns = pats,
                            .npatterns = 1,
                            .start = BUS_START_EARLIEST,
                            .max_in_flight = max_in_flight};
    bus_consumer_ops ops = {.deliver = consume_deliver};
    bus_consumer *c;
    if (bus_consumer_open(s->bus, &co, &ops, &r, &c, err, sizeof(err)) != 0) {
        bench_fail(s->b, "bus_consumer_open: %s", err);
        return res;
    }
    uint64_t t0 = bench_now_ns();
    bus_consumer_attach(c);
    if (!run_until(s, consumed, &r, 120000))
        bench_fail(s->b, "consume: %ld of %ld delivered and acked", r.delivered, events);
    uint64_t acked_at = bench_now_ns();
    durable_wait dw = {s, name, (uint64_t)events};
    if (!run_until(s, durable, &dw, 10000))
        bench_fail(s->b, "consume: the position did not reach %ld on disk", events);
    if (r.out_of_order) bench_fail(s->b, "consume: events delivered out of order");
    res.events = r.delivered;
    res.seconds = (double)(acked_at - t0) / 1e9;
    res.durable_seconds = (double)(bench_now_ns() - t0) / 1e9;
    res.ok = !r.out_of_order;
    bus_consumer_detach(c, NULL);
    return res;
}
