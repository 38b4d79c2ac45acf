#include "cmocka_pre.h"

#include "bus/bus.h"
#include "core/log.h"
#include "core/util.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a host-sized world: loop, store, bus ------------------------------- */

typedef struct world {
    char dir[64];
    ah_loop *loop;
    store *st;
    bus *b;
    bus_opts o;
} world;

static world W;
static bus_opts default_opts;

/* The bus's wall clock: the system's, stepped by clock_step_ms (a test
 * moves it forward past a window or back as an NTP correction would). */
static int64_t clock_step_ms;

static int64_t test_clock(void)
{
    return ah_now_ms() + clock_step_ms;
}

/* Bytes of a stored event with a 3-digit body, no key and no headers: the
 * 40-byte record header and the body. */
#define EVENT_BYTES (40 + 3)

/* Retention limits of the topics the retention tests use (no other topic
 * has any, so none competes with them for sweeps). */
static json_t *overrides;

static void open_world(world *w)
{
    char err[256];
    assert_int_equal(loop_new(&w->loop), 0);
    store_opts so = {.dir = w->dir};
    assert_int_equal(store_open(&w->st, w->loop, &so, err, sizeof(err)), 0);
    assert_int_equal(bus_open(&w->b, w->loop, w->st, &w->o, err, sizeof(err)), 0);
}

static void close_world(world *w)
{
    bus_close(w->b);
    store_close(w->st);
    bus_free(w->b);
    loop_free(w->loop);
}

static int setup(void **s)
{
    (void)s;
    log_opts lo = {.to_stderr = false, .min_level = LOG_ERROR};
    log_init(&lo);
    memset(&W, 0, sizeof(W));
    snprintf(W.dir, sizeof(W.dir), "/tmp/ah-bus-XXXXXX");
    if (!mkdtemp(W.dir)) return -1;
    overrides = json_pack("{s:{s:i},s:{s:i},s:{s:i,s:b},s:{s:i}}", "retb.t", "max_bytes",
                          4 * EVENT_BYTES, "reta.t", "max_age_s", 60, "drop.t", "max_count", 2,
                          "drop_unacked", 1, "starve.*", "max_count", 2);
    W.o = (bus_opts){.max_event_bytes = 4096,
                     .idempotency_window_ms = 60000,
                     .ack_timeout_ms = 30000,
                     .max_attempts = 3,
                     .backoff_ms = 5,
                     .max_backoff_ms = 20,
                     .max_in_flight = 64,
                     .sweep_interval_ms = 20,
                     .topic_overrides = overrides,
                     .now_ms = test_clock};
    default_opts = W.o;
    open_world(&W);
    return 0;
}

/* After a test that steps the clock or changes options, even one that
 * failed half-way: the clock and the options as the other tests expect. */
static int restore_world(void **s)
{
    (void)s;
    clock_step_ms = 0;
    close_world(&W);
    W.o = default_opts;
    open_world(&W);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    close_world(&W);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", W.dir);
    json_decref(overrides);
    return system(cmd);
}

static bool flag_fired;
static void on_deadline(uv_timer_t *t)
{
    (void)t;
    flag_fired = true;
}

/* Run the loop until *cond becomes true (or fail after timeout_ms). */
static void run_until(bool (*cond)(void *), void *arg, int timeout_ms)
{
    uv_timer_t t;
    uv_timer_init(loop_uv(W.loop), &t);
    flag_fired = false;
    uv_timer_start(&t, on_deadline, (uint64_t)timeout_ms, 0);
    while (!cond(arg) && !flag_fired)
        uv_run(loop_uv(W.loop), UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop_uv(W.loop), UV_RUN_NOWAIT);
    if (!cond(arg)) fail_msg("condition not reached within %d ms", timeout_ms);
}

static void run_for(int ms)
{
    uv_timer_t t;
    uv_timer_init(loop_uv(W.loop), &t);
    flag_fired = false;
    uv_timer_start(&t, on_deadline, (uint64_t)ms, 0);
    while (!flag_fired)
        uv_run(loop_uv(W.loop), UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop_uv(W.loop), UV_RUN_NOWAIT);
}

/* ---- publishing ---------------------------------------------------------------- */

typedef struct pub_result {
    bool done;
    int status;
    uint64_t offsets[16];
    bool dup[16];
    size_t n;
} pub_result;

static void on_published(void *ud, int status, const uint64_t *offsets, const bool *dup, size_t n)
{
    pub_result *r = ud;
    r->done = true;
    r->status = status;
    r->n = n;
    for (size_t i = 0; i < n && i < 16; i++) {
        r->offsets[i] = offsets[i];
        r->dup[i] = dup[i];
    }
}

static bool is_done(void *arg)
{
    return ((pub_result *)arg)->done;
}

static uint64_t publish(const char *topic, const char *key, const char *body_json, const char *idem,
                        bool *dup)
{
    json_t *body = json_loads(body_json, JSON_DECODE_ANY, NULL);
    bus_msg m = {.topic = topic, .key = key, .body = body, .idempotency_key = idem};
    pub_result r = {0};
    char err[256];
    assert_int_equal(bus_publish(W.b, &m, 1, false, on_published, &r, err, sizeof(err)), 0);
    json_decref(body);
    assert_false(r.done); /* never answered before the commit */
    run_until(is_done, &r, 5000);
    assert_int_equal(r.status, 0);
    if (dup) *dup = r.dup[0];
    return r.offsets[0];
}

static void test_publish_is_answered_after_commit_and_reads_back(void **s)
{
    (void)s;
    json_t *h = json_pack("{s:s}", "source", "test");
    json_t *b1 = json_pack("{s:s}", "text", "привет");
    bus_msg m[2] = {{.topic = "chat.in", .key = "conv-1", .headers = h, .body = b1},
                    {.topic = "chat.in", .body = NULL}};
    pub_result r = {0};
    char err[256];
    assert_int_equal(bus_publish(W.b, m, 2, false, on_published, &r, err, sizeof(err)), 0);
    json_decref(h);
    json_decref(b1);
    run_until(is_done, &r, 5000);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.offsets[0], 1);
    assert_int_equal(r.offsets[1], 2);
    json_t *events;
    uint64_t next;
    assert_int_equal(bus_read(W.b, "chat.in", 1, 10, NULL, &events, &next, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(events), 2);
    assert_int_equal(next, 3);
    json_t *e = json_array_get(events, 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "body"), "text")),
                        "привет");
    assert_string_equal(json_string_value(json_object_get(e, "key")), "conv-1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "headers"), "source")),
                        "test");
    assert_int_equal(strlen(json_string_value(json_object_get(e, "id"))), 32);
    assert_true(json_is_null(json_object_get(json_array_get(events, 1), "body")));
    json_decref(events);
}

/* Event ids come from a pool of random bytes refilled every 256 ids:
 * 600 events (two refills) carry 600 distinct ids of 32 hex digits. */
static void test_event_ids_stay_distinct_across_refills_of_the_random_pool(void **s)
{
    (void)s;
    enum { N = 600, BATCH = 100 };
    bus_msg m[BATCH];
    for (int i = 0; i < BATCH; i++)
        m[i] = (bus_msg){.topic = "ids.t", .body = NULL};
    for (int k = 0; k < N / BATCH; k++) {
        pub_result r = {0};
        char err[256];
        assert_int_equal(bus_publish(W.b, m, BATCH, false, on_published, &r, err, sizeof(err)), 0);
        run_until(is_done, &r, 5000);
        assert_int_equal(r.status, 0);
    }
    static char ids[N][33];
    size_t got = 0;
    for (uint64_t from = 1; got < N;) {
        json_t *events;
        uint64_t next;
        char err[256];
        assert_int_equal(bus_read(W.b, "ids.t", from, 100, NULL, &events, &next, err, sizeof(err)),
                         0);
        assert_true(json_array_size(events) > 0);
        for (size_t i = 0; i < json_array_size(events); i++) {
            const char *id = json_string_value(json_object_get(json_array_get(events, i), "id"));
            assert_int_equal(strlen(id), 32);
            snprintf(ids[got++], 33, "%s", id);
        }
        json_decref(events);
        from = next;
    }
    qsort(ids, N, sizeof(ids[0]), (int (*)(const void *, const void *))strcmp);
    for (size_t i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
}

static void test_idempotency_key_returns_the_first_offset_and_stores_nothing(void **s)
{
    (void)s;
    bool dup;
    uint64_t a = publish("orders", NULL, "{\"n\":1}", "order-77", &dup);
    assert_false(dup);
    uint64_t b = publish("orders", NULL, "{\"n\":2}", "order-77", &dup);
    assert_true(dup);
    assert_int_equal(a, b);
    json_t *t = bus_topic(W.b, "orders");
    assert_int_equal(json_integer_value(json_object_get(t, "depth")), 1);
    json_decref(t);
}

static void test_bad_events_are_refused_and_a_batch_is_all_or_nothing(void **s)
{
    (void)s;
    char err[256], big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    json_t *bb = json_string(big), *ok = json_integer(1);
    bus_msg m[2] = {{.topic = "batch.t", .body = ok}, {.topic = "batch.t", .body = bb}};
    assert_int_equal(bus_publish(W.b, m, 2, false, on_published, NULL, err, sizeof(err)),
                     AH_ETOOBIG);
    assert_non_null(strstr(err, "event 1"));
    assert_non_null(strstr(err, "limit"));
    json_decref(bb);
    bus_msg bad = {.topic = "$dlq.x", .body = ok};
    assert_int_equal(bus_publish(W.b, &bad, 1, false, on_published, NULL, err, sizeof(err)),
                     AH_EINVAL);
    /* Once the host has published to a reserved topic (its name checked
     * and remembered), a plugin's publish there is still refused. */
    pub_result r = {0};
    assert_int_equal(bus_publish(W.b, &bad, 1, true, on_published, &r, err, sizeof(err)), 0);
    run_until(is_done, &r, 5000);
    assert_int_equal(r.status, 0);
    assert_int_equal(bus_publish(W.b, &bad, 1, false, on_published, NULL, err, sizeof(err)),
                     AH_EINVAL);
    bad.topic = "has space";
    assert_int_equal(bus_publish(W.b, &bad, 1, false, on_published, NULL, err, sizeof(err)),
                     AH_EINVAL);
    json_decref(ok);
    run_for(50);
    assert_null(bus_topic(W.b, "batch.t"));
}

/* ---- a consumer the test drives --------------------------------------------------- */

typedef struct got {
    uint64_t id, offset;
    uint64_t at_ms; /* monotonic time of the delivery */
    uint32_t attempt;
    char key[32];
    char topic[64];
    long body;
} got;

typedef struct tcons {
    bus_consumer *c;
    got v[256];
    size_t n;
    int refuse; /* answer deliver with -1 */
} tcons;

static int tdeliver(void *ud, const bus_delivery *d)
{
    tcons *t = ud;
    if (t->refuse || t->n == 256) return -1;
    got *g = &t->v[t->n++];
    g->id = d->id;
    g->at_ms = ah_mono_ms();
    g->offset = d->offset;
    g->attempt = d->attempt;
    snprintf(g->key, sizeof(g->key), "%s", d->key ? d->key : "");
    snprintf(g->topic, sizeof(g->topic), "%s", d->topic);
    g->body = (long)json_integer_value(d->body);
    return 0;
}

static const bus_consumer_ops tops = {.deliver = tdeliver};

/* Consumers outlive the test that opens them (the bus keeps them until it
 * closes), so they live in a static pool. */
static tcons pool[32];
static int npool;

static tcons *open_consumer(const char *name, const char *pattern, bus_start start, uint64_t value,
                            uint32_t max_in_flight, uint32_t ack_timeout)
{
    assert_true(npool < 32);
    tcons *t = &pool[npool++];
    memset(t, 0, sizeof(*t));
    const char *pats[] = {pattern};
    bus_consumer_opts o = {.name = name,
                           .patterns = pats,
                           .npatterns = 1,
                           .start = start,
                           .start_value = value,
                           .max_in_flight = max_in_flight,
                           .ack_timeout_ms = ack_timeout};
    char err[256];
    assert_int_equal(bus_consumer_open(W.b, &o, &tops, t, &t->c, err, sizeof(err)), 0);
    bus_consumer_attach(t->c);
    return t;
}

typedef struct want {
    tcons *t;
    size_t n;
} want;

static bool has_n(void *arg)
{
    want *w = arg;
    return w->t->n >= w->n;
}

static void wait_n(tcons *t, size_t n)
{
    want w = {t, n};
    run_until(has_n, &w, 5000);
}

static void test_per_key_order_holds_while_keys_run_in_parallel(void **s)
{
    (void)s;
    tcons *t = open_consumer("order", "ord.k", BUS_START_EARLIEST, 0, 10, 30000);
    const char *keys[] = {"a", "b", "a", "b", "a", "c"};
    for (int i = 0; i < 6; i++) {
        char body[8];
        snprintf(body, sizeof(body), "%d", i);
        publish("ord.k", keys[i], body, NULL, NULL);
    }
    run_for(30);
    /* One event per key in flight: a#0, b#1, c#5. */
    assert_int_equal(t->n, 3);
    assert_int_equal(t->v[0].body, 0);
    assert_int_equal(t->v[1].body, 1);
    assert_int_equal(t->v[2].body, 5);
    /* Acking a#0 releases a#2 (not a#4), b stays blocked. */
    assert_int_equal(bus_ack(W.b, t->v[0].id), 0);
    wait_n(t, 4);
    assert_int_equal(t->v[3].body, 2);
    assert_int_equal(bus_ack(W.b, t->v[3].id), 0);
    assert_int_equal(bus_ack(W.b, t->v[1].id), 0);
    wait_n(t, 6);
    for (size_t i = 4; i < 6; i++)
        assert_int_equal(bus_ack(W.b, t->v[i].id), 0);
    assert_int_equal(bus_ack(W.b, t->v[2].id), 0);
    /* A second ack of the same delivery changes nothing. */
    assert_int_equal(bus_ack(W.b, t->v[0].id), AH_ENOTFOUND);
    json_t *c = bus_consumers(W.b);
    char *dump = json_dumps(c, JSON_COMPACT);
    assert_non_null(strstr(dump, "\"name\":\"order\""));
    free(dump);
    json_decref(c);
}

static void test_nacked_event_retries_then_moves_to_the_dlq_and_the_rest_flows(void **s)
{
    (void)s;
    tcons *t = open_consumer("poison", "poison.t", BUS_START_EARLIEST, 0, 1, 30000);
    publish("poison.t", "k", "666", NULL, NULL);
    publish("poison.t", "k", "7", NULL, NULL);
    for (uint32_t attempt = 1; attempt <= 3; attempt++) {
        wait_n(t, attempt);
        assert_int_equal(t->v[attempt - 1].body, 666);
        assert_int_equal(t->v[attempt - 1].attempt, attempt);
        assert_int_equal(bus_nack(W.b, t->v[attempt - 1].id, "cannot parse", 0), 0);
    }
    /* max_attempts = 3: the next delivery is the following event. */
    wait_n(t, 4);
    assert_int_equal(t->v[3].body, 7);
    assert_int_equal(bus_ack(W.b, t->v[3].id), 0);
    json_t *events;
    uint64_t next;
    char err[256];
    run_for(30);
    assert_int_equal(bus_read(W.b, "$dlq.poison.t", 1, 10, NULL, &events, &next, err, sizeof(err)),
                     0);
    assert_int_equal(json_array_size(events), 1);
    json_t *h = json_object_get(json_array_get(events, 0), "headers");
    assert_string_equal(json_string_value(json_object_get(h, "x-dlq-attempts")), "3");
    assert_string_equal(json_string_value(json_object_get(h, "x-dlq-error")), "cannot parse");
    assert_string_equal(json_string_value(json_object_get(h, "x-dlq-topic")), "poison.t");
    json_decref(events);
}

static void test_unacknowledged_delivery_is_redelivered_after_the_timeout(void **s)
{
    (void)s;
    tcons *t = open_consumer("slow", "slow.t", BUS_START_EARLIEST, 0, 4, 60);
    publish("slow.t", NULL, "1", NULL, NULL);
    wait_n(t, 1);
    wait_n(t, 2); /* after the 60 ms ack timeout and a short backoff */
    assert_int_equal(t->v[1].offset, t->v[0].offset);
    assert_int_equal(t->v[1].attempt, 2);
    assert_int_equal(bus_ack(W.b, t->v[0].id), AH_ENOTFOUND); /* stale */
    assert_int_equal(bus_ack(W.b, t->v[1].id), 0);
}

static void test_crash_counts_an_attempt_and_a_graceful_stop_does_not(void **s)
{
    (void)s;
    tcons *t = open_consumer("det", "det.t", BUS_START_EARLIEST, 0, 4, 30000);
    publish("det.t", NULL, "1", NULL, NULL);
    wait_n(t, 1);
    bus_consumer_detach(t->c, NULL); /* graceful */
    bus_consumer_attach(t->c);
    wait_n(t, 2);
    assert_int_equal(t->v[1].attempt, 1);
    bus_consumer_detach(t->c, "instance crashed");
    bus_consumer_attach(t->c);
    wait_n(t, 3);
    assert_int_equal(t->v[2].attempt, 2);
    assert_int_equal(bus_ack(W.b, t->v[2].id), 0);
    /* While the target refuses, nothing is lost. */
    t->refuse = 1;
    publish("det.t", NULL, "2", NULL, NULL);
    run_for(30);
    assert_int_equal(t->n, 3);
    t->refuse = 0;
    bus_consumer_attach(t->c);
    wait_n(t, 4);
    assert_int_equal(t->v[3].body, 2);
}

static void test_crash_with_several_in_flight_charges_none_and_isolates_them(void **s)
{
    (void)s;
    tcons *t = open_consumer("iso", "iso.t", BUS_START_EARLIEST, 0, 8, 30000);
    publish("iso.t", "a", "1", NULL, NULL);
    publish("iso.t", "b", "2", NULL, NULL);
    publish("iso.t", "c", "3", NULL, NULL);
    wait_n(t, 3);
    bus_consumer_detach(t->c, "instance crashed");
    bus_consumer_attach(t->c);
    /* One suspect at a time, none charged. */
    wait_n(t, 4);
    run_for(30);
    assert_int_equal(t->n, 4);
    assert_int_equal(t->v[3].attempt, 1);
    /* It crashes again with only this one in flight: charged to it alone. */
    bus_consumer_detach(t->c, "instance crashed");
    bus_consumer_attach(t->c);
    wait_n(t, 5);
    run_for(30);
    assert_int_equal(t->n, 5);
    assert_int_equal(bus_ack(W.b, t->v[4].id), 0);
    wait_n(t, 6);
    assert_int_equal(t->v[5].attempt, 1);
    assert_int_equal(bus_ack(W.b, t->v[5].id), 0);
    wait_n(t, 7);
    assert_int_equal(bus_ack(W.b, t->v[6].id), 0);
    /* Every suspect settled: parallel again. */
    publish("iso.t", "d", "4", NULL, NULL);
    publish("iso.t", "e", "5", NULL, NULL);
    wait_n(t, 9);
    uint32_t charged = 0;
    for (size_t i = 3; i < 7; i++)
        charged += t->v[i].attempt > 1;
    assert_int_equal(charged, 1);
}

static void test_start_positions_latest_earliest_offset_time(void **s)
{
    (void)s;
    for (int i = 1; i <= 5; i++) {
        char b[4];
        snprintf(b, sizeof(b), "%d", i);
        publish("pos.t", NULL, b, NULL, NULL);
    }
    tcons *latest = open_consumer("pos-latest", "pos.t", BUS_START_LATEST, 0, 16, 30000);
    tcons *earliest = open_consumer("pos-earliest", "pos.t", BUS_START_EARLIEST, 0, 16, 30000);
    tcons *off = open_consumer("pos-offset", "pos.t", BUS_START_OFFSET, 4, 16, 30000);
    publish("pos.t", NULL, "6", NULL, NULL);
    wait_n(earliest, 6);
    wait_n(off, 3);
    wait_n(latest, 1);
    run_for(20);
    assert_int_equal(latest->n, 1);
    assert_int_equal(latest->v[0].body, 6);
    assert_int_equal(off->v[0].body, 4);
    assert_int_equal(earliest->v[0].body, 1);
    uint64_t at;
    json_t *events;
    uint64_t next;
    char err[128];
    bus_read(W.b, "pos.t", 3, 1, NULL, &events, &next, err, sizeof(err));
    int64_t t3 = json_integer_value(json_object_get(json_array_get(events, 0), "time_ms"));
    json_decref(events);
    assert_int_equal(bus_offset_at(W.b, "pos.t", t3, &at), 0);
    assert_true(at <= 3);
    assert_int_equal(bus_offset_at(W.b, "pos.t", INT64_MAX, &at), 0);
    assert_int_equal(at, 7);
}

/* A new consumer starting at a time gets the first event at or after it. */
static void test_a_consumer_starting_at_a_time_begins_at_the_first_event_since(void **s)
{
    (void)s;
    for (int i = 1; i <= 3; i++) {
        char b[4];
        snprintf(b, sizeof(b), "%d", i);
        publish("when.t", NULL, b, NULL, NULL);
    }
    int64_t cut = test_clock() + 5000;
    clock_step_ms += 10000; /* the next ones are ten seconds later */
    publish("when.t", NULL, "4", NULL, NULL);
    publish("when.t", NULL, "5", NULL, NULL);
    tcons *t = open_consumer("when-time", "when.t", BUS_START_TIME, (uint64_t)cut, 16, 30000);
    wait_n(t, 2);
    run_for(20);
    assert_int_equal(t->n, 2);
    assert_int_equal(t->v[0].body, 4);
    assert_int_equal(t->v[1].body, 5);
}

static void test_positions_survive_a_restart(void **s)
{
    (void)s;
    tcons *t = open_consumer("durable", "dur.t", BUS_START_EARLIEST, 0, 1, 30000);
    for (int i = 1; i <= 5; i++) {
        char b[4];
        snprintf(b, sizeof(b), "%d", i);
        publish("dur.t", NULL, b, NULL, NULL);
    }
    for (size_t i = 0; i < 3; i++) {
        wait_n(t, i + 1);
        assert_int_equal(bus_ack(W.b, t->v[i].id), 0);
    }
    wait_n(t, 4); /* the 4th is in flight, unacked, when the host stops */
    run_for(20);  /* positions are written at the end of the tick */
    close_world(&W);
    open_world(&W);
    tcons *again = open_consumer("durable", "dur.t", BUS_START_LATEST, 0, 8, 30000);
    wait_n(again, 2);
    assert_int_equal(again->v[0].body, 4);
    assert_int_equal(again->v[1].body, 5);
}

/* The crash of a host between a topic's first events and its consumers'
 * first position write: the positions of "late" are erased as if never
 * written. Reopened, the consumer (not new: it was open before the topic
 * was made) reads the topic from its first event, not from its end. */
static int erase_positions(store_txn *txn, void *arg)
{
    const char *name = arg;
    size_t n;
    return store_del_prefix(txn, STORE_DB_CONSUMERS, name, strlen(name) + 1, &n);
}

static void test_a_topic_made_after_a_consumer_opened_is_read_from_its_first_event(void **s)
{
    (void)s;
    tcons *t = open_consumer("late", "late.*", BUS_START_LATEST, 0, 8, 30000);
    run_for(20); /* the consumer's record is written */
    publish("late.t", NULL, "1", NULL, NULL);
    publish("late.t", NULL, "2", NULL, NULL);
    wait_n(t, 2); /* delivered, never acked */
    close_world(&W);
    open_world(&W);
    assert_int_equal(store_write_now(W.st, erase_positions, "late"), 0);
    tcons *again = open_consumer("late", "late.*", BUS_START_LATEST, 0, 8, 30000);
    wait_n(again, 2);
    assert_int_equal(again->v[0].body, 1);
    assert_int_equal(again->v[1].body, 2);
    /* A new consumer still starts where it says. */
    tcons *fresh = open_consumer("fresh", "late.*", BUS_START_LATEST, 0, 8, 30000);
    publish("late.t", NULL, "3", NULL, NULL);
    wait_n(fresh, 1);
    assert_int_equal(fresh->v[0].body, 3);
}

static json_int_t topic_stat(const char *topic, const char *field)
{
    json_t *tp = bus_topic(W.b, topic);
    assert_non_null(tp);
    json_int_t v = json_integer_value(json_object_get(tp, field));
    json_decref(tp);
    return v;
}

/* A topic's stat once retention sweeps have brought it to `target`, or
 * whatever it is after 10 s of sweeps. Sweeps visit one topic at a time,
 * round every topic the tests made: on a loaded machine that takes a
 * while, so tests wait for the outcome rather than a fixed time. */
static json_int_t stat_after_sweeps(const char *topic, const char *field, json_int_t target)
{
    json_int_t v = 0;
    for (int i = 0; i < 200 && (v = topic_stat(topic, field)) != target; i++)
        run_for(50);
    return v;
}

static void test_retention_never_drops_what_a_consumer_has_not_acked(void **s)
{
    (void)s;
    close_world(&W);
    W.o.retention_max_count = 2;
    open_world(&W);
    tcons *t = open_consumer("keeper", "ret.t", BUS_START_EARLIEST, 0, 1, 30000);
    for (int i = 1; i <= 10; i++) {
        char b[4];
        snprintf(b, sizeof(b), "%d", i);
        publish("ret.t", NULL, b, NULL, NULL);
    }
    for (size_t i = 0; i < 5; i++) {
        wait_n(t, i + 1);
        assert_int_equal(bus_ack(W.b, t->v[i].id), 0);
    }
    /* Sweeps visit one topic at a time, round the topics of every test
     * so far: wait for them to reach this one, then never past offset 6. */
    assert_int_equal(stat_after_sweeps("ret.t", "first_offset", 6), 6);
    run_for(150);
    assert_int_equal(stat_after_sweeps("ret.t", "first_offset", 6), 6);
    for (size_t i = 5; i < 10; i++) {
        wait_n(t, i + 1);
        assert_int_equal(bus_ack(W.b, t->v[i].id), 0);
    }
    assert_int_equal(stat_after_sweeps("ret.t", "first_offset", 9), 9);
    json_t *tp = bus_topic(W.b, "ret.t");
    assert_int_equal(json_integer_value(json_object_get(tp, "depth")), 2);
    json_decref(tp);
    close_world(&W);
    W.o.retention_max_count = 0;
    open_world(&W);
}

static void test_wildcards_reach_new_topics_but_not_reserved_ones(void **s)
{
    (void)s;
    tcons *t = open_consumer("wild", "wild.>", BUS_START_LATEST, 0, 16, 30000);
    publish("wild.a.b", NULL, "1", NULL, NULL); /* a topic created after the consumer */
    wait_n(t, 1);
    assert_string_equal(t->v[0].topic, "wild.a.b");
    assert_int_equal(t->v[0].offset, 1);
    tcons *all = open_consumer("everything", ">", BUS_START_EARLIEST, 0, 256, 30000);
    run_for(50);
    for (size_t i = 0; i < all->n; i++)
        assert_true(all->v[i].topic[0] != '$');
}

static void test_key_replay_reads_one_conversation(void **s)
{
    (void)s;
    publish("replay.t", "c1", "1", NULL, NULL);
    publish("replay.t", "c2", "2", NULL, NULL);
    publish("replay.t", "c1", "3", NULL, NULL);
    json_t *events;
    uint64_t next;
    char err[128];
    assert_int_equal(bus_read(W.b, "replay.t", 0, 10, "c1", &events, &next, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(events), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(events, 1), "body")), 3);
    json_decref(events);
    assert_int_equal(bus_read(W.b, "nope", 0, 10, NULL, &events, &next, err, sizeof(err)),
                     AH_ENOTFOUND);
}

static bool int_set(void *arg)
{
    return *(int *)arg != -99;
}

static void on_dlq(void *ud, int status)
{
    *(int *)ud = status;
}

static void test_dead_letters_can_be_requeued_or_dropped(void **s)
{
    (void)s;
    tcons *t = open_consumer("dlq-c", "dl.t", BUS_START_EARLIEST, 0, 1, 30000);
    publish("dl.t", NULL, "1", NULL, NULL);
    publish("dl.t", NULL, "2", NULL, NULL);
    size_t seen = 0;
    while (seen < 6) { /* both fail three times */
        wait_n(t, seen + 1);
        bus_nack(W.b, t->v[seen].id, "boom", 0);
        seen++;
    }
    json_t *events = NULL;
    uint64_t next;
    char err[256];
    /* The third failures' dead letters commit on the writer thread: read
     * until both are there (a loaded machine may take a while). */
    for (int waited = 0; waited < 5000; waited += 20) {
        json_decref(events);
        events = NULL;
        if (bus_read(W.b, "$dlq.dl.t", 0, 10, NULL, &events, &next, err, sizeof(err)) == 0 &&
            json_array_size(events) == 2)
            break;
        run_for(20);
    }
    assert_int_equal(json_array_size(events), 2);
    char id1[40], id2[40];
    snprintf(id1, sizeof(id1), "%s",
             json_string_value(json_object_get(json_array_get(events, 0), "id")));
    snprintf(id2, sizeof(id2), "%s",
             json_string_value(json_object_get(json_array_get(events, 1), "id")));
    json_decref(events);
    int st = -99;
    assert_int_equal(bus_dlq_requeue(W.b, "dl.t", id1, on_dlq, &st, err, sizeof(err)), 0);
    run_until(int_set, &st, 5000);
    assert_int_equal(st, 0);
    wait_n(t, 7); /* the requeued event comes back to the consumer */
    assert_int_equal(t->v[6].body, 1);
    assert_int_equal(bus_ack(W.b, t->v[6].id), 0);
    st = -99;
    assert_int_equal(bus_dlq_drop(W.b, "dl.t", id2, on_dlq, &st, err, sizeof(err)), 0);
    run_until(int_set, &st, 5000);
    assert_int_equal(st, 0);
    bus_read(W.b, "$dlq.dl.t", 0, 10, NULL, &events, &next, err, sizeof(err));
    assert_int_equal(json_array_size(events), 0);
    json_decref(events);
    assert_int_equal(bus_dlq_drop(W.b, "dl.t", id2, on_dlq, &st, err, sizeof(err)), AH_ENOTFOUND);
    assert_int_equal(bus_dlq_drop(W.b, "dl.t", "zz", on_dlq, &st, err, sizeof(err)), AH_EINVAL);
}

/* A dead letter dropped in the batch of another event published to its
 * dead-letter topic: both change the topic's record, which a transaction
 * reads once and writes once (bl_txn.c). The drop goes through the same
 * record, so the depth counts the new event and not the dropped one, also
 * after a restart (a drop that read the record from the store would be
 * overwritten by the publish's at the commit: depth 2). */
static void test_a_dead_letter_dropped_beside_a_publish_to_its_topic_keeps_the_count(void **s)
{
    (void)s;
    tcons *t = open_consumer("dd-c", "dd.t", BUS_START_EARLIEST, 0, 1, 30000);
    publish("dd.t", NULL, "1", NULL, NULL);
    for (size_t seen = 0; seen < 3; seen++) { /* max_attempts 3 */
        wait_n(t, seen + 1);
        bus_nack(W.b, t->v[seen].id, "boom", 0);
    }
    json_t *events = NULL;
    uint64_t next;
    char err[256];
    for (int waited = 0; waited < 5000; waited += 20) {
        json_decref(events);
        events = NULL;
        if (bus_read(W.b, "$dlq.dd.t", 0, 10, NULL, &events, &next, err, sizeof(err)) == 0 &&
            json_array_size(events) == 1)
            break;
        run_for(20);
    }
    assert_int_equal(json_array_size(events), 1);
    char id[40];
    snprintf(id, sizeof(id), "%s",
             json_string_value(json_object_get(json_array_get(events, 0), "id")));
    json_decref(events);
    assert_int_equal(topic_stat("$dlq.dd.t", "depth"), 1);
    /* One loop pass: the publish, then the drop, in one batch. */
    json_t *body = json_integer(2);
    bus_msg m = {.topic = "$dlq.dd.t", .body = body};
    pub_result r = {0};
    int st = -99;
    assert_int_equal(bus_publish(W.b, &m, 1, true, on_published, &r, err, sizeof(err)), 0);
    assert_int_equal(bus_dlq_drop(W.b, "dd.t", id, on_dlq, &st, err, sizeof(err)), 0);
    json_decref(body);
    run_until(is_done, &r, 5000);
    run_until(int_set, &st, 5000);
    assert_int_equal(r.status, 0);
    assert_int_equal(st, 0);
    assert_int_equal(r.offsets[0], 2);
    assert_int_equal(topic_stat("$dlq.dd.t", "depth"), 1);
    assert_int_equal(topic_stat("$dlq.dd.t", "first_offset"), 2);
    assert_int_equal(topic_stat("$dlq.dd.t", "last_offset"), 2);
    close_world(&W);
    open_world(&W);
    assert_int_equal(topic_stat("$dlq.dd.t", "depth"), 1);
    assert_int_equal(topic_stat("$dlq.dd.t", "first_offset"), 2);
    assert_int_equal(bus_read(W.b, "$dlq.dd.t", 0, 10, NULL, &events, &next, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(events), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(events, 0), "body")), 2);
    json_decref(events);
}

/* ---- backpressure, backoff, retention limits, the idempotency window ---------------- */

/* Publish the numbers first..last, one event each. */
static void publish_numbers(const char *topic, int first, int last)
{
    for (int i = first; i <= last; i++) {
        char b[16];
        snprintf(b, sizeof(b), "%d", i);
        publish(topic, NULL, b, NULL, NULL);
    }
}

/* Ack deliveries from..to-1 of a consumer as each arrives. */
static void ack_in_turn(tcons *t, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        wait_n(t, i + 1);
        assert_int_equal(bus_ack(W.b, t->v[i].id), 0);
    }
}

static void test_max_in_flight_caps_unacked_deliveries_until_an_ack(void **s)
{
    (void)s;
    tcons *t = open_consumer("capped", "cap.t", BUS_START_EARLIEST, 0, 2, 30000);
    publish_numbers("cap.t", 1, 5); /* no keys: only the cap holds them back */
    run_for(100);
    assert_int_equal(t->n, 2);
    /* Each ack lets exactly one more through. */
    assert_int_equal(bus_ack(W.b, t->v[0].id), 0);
    wait_n(t, 3);
    run_for(50);
    assert_int_equal(t->n, 3);
    assert_int_equal(t->v[2].body, 3);
    assert_int_equal(bus_ack(W.b, t->v[1].id), 0);
    wait_n(t, 4);
    run_for(50);
    assert_int_equal(t->n, 4);
    ack_in_turn(t, 2, 5);
    assert_int_equal(t->v[4].body, 5);
}

static void test_retry_backoff_doubles_from_one_attempt_to_the_next(void **s)
{
    (void)s;
    close_world(&W);
    W.o.backoff_ms = 150;
    W.o.max_backoff_ms = 60000;
    W.o.max_attempts = 4;
    open_world(&W);
    tcons *t = open_consumer("backoff", "backoff.t", BUS_START_EARLIEST, 0, 1, 30000);
    publish("backoff.t", NULL, "1", NULL, NULL);
    for (size_t i = 0; i < 3; i++) {
        wait_n(t, i + 1);
        assert_int_equal(t->v[i].attempt, i + 1);
        assert_int_equal(bus_nack(W.b, t->v[i].id, "again", 0), 0);
    }
    ack_in_turn(t, 3, 4);
    assert_int_equal(t->v[3].attempt, 4);
    uint64_t gap[3];
    for (size_t i = 0; i < 3; i++)
        gap[i] = t->v[i + 1].at_ms - t->v[i].at_ms;
    /* Nominal gaps 150, 300, 600 ms; +-20% jitter and the 50 ms timer tick
     * make them 120-230, 240-410 and 480-770 ms, so they cannot invert. */
    assert_true(gap[1] > gap[0]);
    assert_true(gap[2] > gap[1]);
    /* Doubling, not a fixed delay: the third wait is at least four bases
     * less the jitter (a lower bound, which load cannot break). */
    assert_true(gap[2] >= 150 * 4 * 4 / 5);
}

static void test_retention_by_bytes_removes_acked_events_beyond_the_budget_only(void **s)
{
    (void)s;
    tcons *t = open_consumer("bytes-keeper", "retb.t", BUS_START_EARLIEST, 0, 1, 30000);
    publish_numbers("retb.t", 100, 109);
    assert_int_equal(topic_stat("retb.t", "bytes"), 10 * EVENT_BYTES);
    ack_in_turn(t, 0, 3);
    wait_n(t, 4); /* the 4th is in flight, unacked */
    /* Over the 4-event budget, but the unacked 4th and all after it stay. */
    assert_int_equal(stat_after_sweeps("retb.t", "first_offset", 4), 4);
    run_for(150);
    assert_int_equal(topic_stat("retb.t", "first_offset"), 4);
    assert_int_equal(topic_stat("retb.t", "depth"), 7);
    ack_in_turn(t, 3, 10);
    assert_int_equal(stat_after_sweeps("retb.t", "first_offset", 7), 7);
    assert_int_equal(topic_stat("retb.t", "depth"), 4);
    assert_int_equal(topic_stat("retb.t", "bytes"), 4 * EVENT_BYTES);
}

static void test_retention_by_age_removes_acked_events_older_than_the_limit_only(void **s)
{
    (void)s;
    tcons *t = open_consumer("age-keeper", "reta.t", BUS_START_EARLIEST, 0, 1, 30000);
    publish_numbers("reta.t", 1, 4);
    ack_in_turn(t, 0, 2);
    wait_n(t, 3); /* the 3rd is in flight, unacked */
    run_for(100);
    assert_int_equal(topic_stat("reta.t", "first_offset"), 1); /* young: all stay */
    clock_step_ms = 61000;                                     /* past the 60 s limit */
    /* Old and acked: gone; old and unacked: stays, and so does what follows. */
    assert_int_equal(stat_after_sweeps("reta.t", "first_offset", 3), 3);
    run_for(150);
    assert_int_equal(topic_stat("reta.t", "first_offset"), 3);
    publish_numbers("reta.t", 5, 5);
    ack_in_turn(t, 2, 5);
    /* Every one acked: the old ones go, the young 5th stays. */
    assert_int_equal(stat_after_sweeps("reta.t", "first_offset", 5), 5);
    assert_int_equal(topic_stat("reta.t", "depth"), 1);
}

static void test_drop_unacked_topic_is_trimmed_past_a_consumer_that_never_acks(void **s)
{
    (void)s;
    tcons *t = open_consumer("drop-keeper", "drop.t", BUS_START_EARLIEST, 0, 1, 30000);
    publish_numbers("drop.t", 1, 5);
    wait_n(t, 1); /* never acked while retention runs */
    assert_int_equal(stat_after_sweeps("drop.t", "first_offset", 4), 4);
    assert_int_equal(topic_stat("drop.t", "depth"), 2);
    /* The consumer goes on at the first event still there. */
    ack_in_turn(t, 0, 1);
    wait_n(t, 2);
    assert_int_equal(t->v[1].body, 4);
}

static void test_a_topic_blocked_by_an_unacked_event_does_not_stall_retention_of_others(void **s)
{
    (void)s;
    const char *topics[] = {"starve.a", "starve.b"};
    tcons *t[2];
    for (size_t i = 0; i < 2; i++) {
        t[i] = open_consumer(topics[i], topics[i], BUS_START_EARLIEST, 0, 1, 30000);
        publish_numbers(topics[i], 1, 6);
    }
    /* Both stay over their count of 2, blocked by an unacked 3rd event. */
    for (size_t i = 0; i < 2; i++) {
        ack_in_turn(t[i], 0, 2);
        wait_n(t[i], 3);
    }
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(stat_after_sweeps(topics[i], "first_offset", 3), 3);
}

static void test_idempotency_key_repeated_after_the_window_stores_a_new_event(void **s)
{
    (void)s;
    bool dup;
    uint64_t a = publish("idem.t", NULL, "1", "late-1", &dup);
    assert_false(dup);
    clock_step_ms = 61000; /* past the 60 s window */
    uint64_t b = publish("idem.t", NULL, "2", "late-1", &dup);
    assert_false(dup);
    assert_int_equal(b, a + 1);
    /* The key now stands for the new event. */
    uint64_t c = publish("idem.t", NULL, "3", "late-1", &dup);
    assert_true(dup);
    assert_int_equal(c, b);
    assert_int_equal(topic_stat("idem.t", "depth"), 2);
}

static void test_idempotency_sweep_forgets_keys_older_than_the_window(void **s)
{
    (void)s;
    bool dup;
    uint64_t a = publish("idem.sweep", NULL, "1", "swept-1", &dup);
    clock_step_ms = 61000;
    run_for(100); /* several sweeps see the key expired */
    /* Back inside the window: the key would be a duplicate had it stayed. */
    clock_step_ms = 0;
    uint64_t b = publish("idem.sweep", NULL, "2", "swept-1", &dup);
    assert_false(dup);
    assert_int_equal(b, a + 1);
}

static void test_idempotency_key_stored_ahead_of_a_clock_stepped_back_is_a_duplicate(void **s)
{
    (void)s;
    bool dup;
    uint64_t a = publish("idem.back", NULL, "1", "stepped-1", &dup);
    assert_false(dup);
    clock_step_ms = -600000; /* the clock is corrected 10 minutes back */
    uint64_t b = publish("idem.back", NULL, "2", "stepped-1", &dup);
    assert_true(dup);
    assert_int_equal(b, a);
    run_for(100); /* nor does the sweep take the key for an expired one */
    b = publish("idem.back", NULL, "3", "stepped-1", &dup);
    assert_true(dup);
    assert_int_equal(topic_stat("idem.back", "depth"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_is_answered_after_commit_and_reads_back),
        cmocka_unit_test(test_event_ids_stay_distinct_across_refills_of_the_random_pool),
        cmocka_unit_test(test_idempotency_key_returns_the_first_offset_and_stores_nothing),
        cmocka_unit_test(test_bad_events_are_refused_and_a_batch_is_all_or_nothing),
        cmocka_unit_test(test_per_key_order_holds_while_keys_run_in_parallel),
        cmocka_unit_test(test_nacked_event_retries_then_moves_to_the_dlq_and_the_rest_flows),
        cmocka_unit_test(test_unacknowledged_delivery_is_redelivered_after_the_timeout),
        cmocka_unit_test(test_crash_counts_an_attempt_and_a_graceful_stop_does_not),
        cmocka_unit_test(test_crash_with_several_in_flight_charges_none_and_isolates_them),
        cmocka_unit_test(test_start_positions_latest_earliest_offset_time),
        cmocka_unit_test(test_positions_survive_a_restart),
        cmocka_unit_test(test_a_topic_made_after_a_consumer_opened_is_read_from_its_first_event),
        cmocka_unit_test(test_retention_never_drops_what_a_consumer_has_not_acked),
        cmocka_unit_test(test_wildcards_reach_new_topics_but_not_reserved_ones),
        cmocka_unit_test(test_key_replay_reads_one_conversation),
        cmocka_unit_test(test_dead_letters_can_be_requeued_or_dropped),
        cmocka_unit_test(test_a_dead_letter_dropped_beside_a_publish_to_its_topic_keeps_the_count),
        cmocka_unit_test(test_max_in_flight_caps_unacked_deliveries_until_an_ack),
        cmocka_unit_test_teardown(
            test_a_consumer_starting_at_a_time_begins_at_the_first_event_since, restore_world),
        cmocka_unit_test_teardown(test_retry_backoff_doubles_from_one_attempt_to_the_next,
                                  restore_world),
        cmocka_unit_test(test_retention_by_bytes_removes_acked_events_beyond_the_budget_only),
        cmocka_unit_test_teardown(
            test_retention_by_age_removes_acked_events_older_than_the_limit_only, restore_world),
        cmocka_unit_test(test_drop_unacked_topic_is_trimmed_past_a_consumer_that_never_acks),
        cmocka_unit_test(
            test_a_topic_blocked_by_an_unacked_event_does_not_stall_retention_of_others),
        cmocka_unit_test_teardown(test_idempotency_key_repeated_after_the_window_stores_a_new_event,
                                  restore_world),
        cmocka_unit_test_teardown(test_idempotency_sweep_forgets_keys_older_than_the_window,
                                  restore_world),
        cmocka_unit_test_teardown(
            test_idempotency_key_stored_ahead_of_a_clock_stepped_back_is_a_duplicate,
            restore_world),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
