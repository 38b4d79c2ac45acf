/*
 * bus_consumer_delete: a deleted consumer holds no event back from
 * retention any more (while a consumer only closed, open or stored, still
 * does); its deliveries still out go stale; writes of it in flight do not
 * bring it back; the deletion survives a restart; the name is free again
 * once the deletion is durable.
 */
#include "cmocka_pre.h"

#include "bus/bus.h"
#include "core/log.h"
#include "core/util.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[64];
static ah_loop *loop;
static store *st;
static bus *B;
static json_t *overrides;

static void open_world(void)
{
    char err[256];
    assert_int_equal(loop_new(&loop), 0);
    store_opts so = {.dir = dir};
    assert_int_equal(store_open(&st, loop, &so, err, sizeof(err)), 0);
    bus_opts o = {.max_event_bytes = 4096,
                  .ack_timeout_ms = 30000,
                  .max_attempts = 5,
                  .backoff_ms = 5,
                  .max_backoff_ms = 20,
                  .max_in_flight = 16,
                  .sweep_interval_ms = 10,
                  .topic_overrides = overrides};
    assert_int_equal(bus_open(&B, loop, st, &o, err, sizeof(err)), 0);
}

static void close_world(void)
{
    bus_close(B);
    store_close(st);
    bus_free(B);
    loop_free(loop);
}

static int setup(void **s)
{
    (void)s;
    log_opts lo = {.to_stderr = false, .min_level = LOG_ERROR};
    log_init(&lo);
    snprintf(dir, sizeof(dir), "/tmp/ah-bus-delete-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    overrides = json_pack("{s:{s:i}}", "keep.>", "max_count", 2);
    open_world();
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    close_world();
    json_decref(overrides);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static bool fired;
static void on_deadline(uv_timer_t *t)
{
    (void)t;
    fired = true;
}

/* Run the loop until *flag (or for ms when flag is NULL; fail after ms). */
static void run(const bool *flag, int ms)
{
    uv_timer_t t;
    uv_timer_init(loop_uv(loop), &t);
    fired = false;
    uv_timer_start(&t, on_deadline, (uint64_t)ms, 0);
    while (!(flag && *flag) && !fired)
        uv_run(loop_uv(loop), UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop_uv(loop), UV_RUN_NOWAIT);
    if (flag && !*flag) fail_msg("not reached within %d ms", ms);
}

static void on_published(void *ud, int status, const uint64_t *offsets, const bool *dup, size_t n)
{
    (void)offsets, (void)dup, (void)n;
    assert_int_equal(status, 0);
    *(bool *)ud = true;
}

static void publish_n(const char *topic, int n)
{
    for (int i = 1; i <= n; i++) {
        json_t *body = json_integer(i);
        bus_msg m = {.topic = topic, .body = body};
        bool done = false;
        char err[256];
        assert_int_equal(bus_publish(B, &m, 1, false, on_published, &done, err, sizeof(err)), 0);
        json_decref(body);
        run(&done, 5000);
    }
}

/* ---- a consumer that remembers its deliveries and never acks by itself ---- */

typedef struct inbox {
    bus_consumer *c;
    uint64_t ids[64];
    int n;
} inbox;

static int take(void *ud, const bus_delivery *d)
{
    inbox *in = ud;
    if (in->n == 64) return -1;
    in->ids[in->n++] = d->id;
    return 0;
}

static const bus_consumer_ops ops = {.deliver = take};

static int open_consumer(inbox *in, const char *name, const char *pattern)
{
    const char *pats[] = {pattern};
    bus_consumer_opts o = {
        .name = name, .patterns = pats, .npatterns = 1, .start = BUS_START_EARLIEST};
    char err[256];
    memset(in, 0, sizeof(*in));
    int rc = bus_consumer_open(B, &o, &ops, in, &in->c, err, sizeof(err));
    if (rc == 0) bus_consumer_attach(in->c);
    return rc;
}

static void wait_n(inbox *in, int n)
{
    for (int i = 0; i < 500 && in->n < n; i++)
        run(NULL, 10);
    assert_true(in->n >= n);
}

typedef struct deleted {
    bool done;
    int status;
} deleted;

static void on_deleted(void *ud, int status)
{
    deleted *d = ud;
    d->done = true;
    d->status = status;
}

static void delete_consumer(const char *name)
{
    deleted d = {0};
    char err[256];
    assert_int_equal(bus_consumer_delete(B, name, on_deleted, &d, err, sizeof(err)), 0);
    assert_false(d.done); /* answered once durable, never before */
    run(&d.done, 5000);
    assert_int_equal(d.status, 0);
}

static json_int_t first_offset(const char *topic)
{
    json_t *tp = bus_topic(B, topic);
    assert_non_null(tp);
    json_int_t v = json_integer_value(json_object_get(tp, "first_offset"));
    json_decref(tp);
    return v;
}

/* The topic's first offset once sweeps have brought it to target, or what
 * it is after 5 s of sweeps (every 10 ms, one topic each). */
static json_int_t first_after_sweeps(const char *topic, json_int_t target)
{
    json_int_t v = 0;
    for (int i = 0; i < 500 && (v = first_offset(topic)) != target; i++)
        run(NULL, 10);
    return v;
}

/* The listing's entry for name (a new reference), or NULL. */
static json_t *listed(const char *name)
{
    json_t *all = bus_consumers(B), *v, *found = NULL;
    size_t i;
    json_array_foreach(all, i, v)
    {
        if (!strcmp(json_string_value(json_object_get(v, "name")), name)) found = json_incref(v);
    }
    json_decref(all);
    return found;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_retention_waits_for_a_consumer_until_it_is_deleted(void **s)
{
    (void)s;
    static inbox slow, fast;
    assert_int_equal(open_consumer(&slow, "slow", "keep.a"), 0);
    assert_int_equal(open_consumer(&fast, "fast", "keep.a"), 0);
    publish_n("keep.a", 6);
    wait_n(&fast, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(bus_ack(B, fast.ids[i]), 0);
    wait_n(&slow, 1); /* never acked: every event is held for it */
    run(NULL, 200);
    assert_int_equal(first_offset("keep.a"), 1);
    /* Detached is not gone: it still holds them. */
    bus_consumer_detach(slow.c, NULL);
    run(NULL, 200);
    assert_int_equal(first_offset("keep.a"), 1);
    delete_consumer("slow");
    assert_int_equal(first_after_sweeps("keep.a", 5), 5); /* count 2 of 6 kept */
    /* Its delivery still out is stale. */
    assert_int_equal(bus_ack(B, slow.ids[0]), AH_ENOTFOUND);
    json_t *l = listed("slow");
    assert_null(l);
    json_decref(l);
}

static void test_a_consumer_from_a_run_before_is_listed_held_and_deleted_for_good(void **s)
{
    (void)s;
    static inbox in;
    assert_int_equal(open_consumer(&in, "gone-owner", "keep.b"), 0);
    publish_n("keep.b", 4);
    wait_n(&in, 1);
    assert_int_equal(bus_ack(B, in.ids[0]), 0);
    run(NULL, 50); /* its position (1) is written */
    close_world();
    open_world(); /* nobody opens gone-owner again */
    json_t *l = listed("gone-owner");
    assert_non_null(l);
    assert_false(json_is_true(json_object_get(l, "open")));
    assert_int_equal(json_integer_value(json_object_get(l, "in_flight")), 0);
    assert_int_equal(json_integer_value(json_object_get(l, "lag")), 3);
    json_t *t0 = json_array_get(json_object_get(l, "topics"), 0);
    assert_string_equal(json_string_value(json_object_get(t0, "topic")), "keep.b");
    assert_int_equal(json_integer_value(json_object_get(t0, "position")), 1);
    assert_int_equal(json_integer_value(json_object_get(t0, "lag")), 3);
    json_decref(l);
    run(NULL, 200);
    assert_int_equal(first_offset("keep.b"), 2); /* held at its position */
    delete_consumer("gone-owner");
    assert_int_equal(first_after_sweeps("keep.b", 3), 3);
    close_world();
    open_world();
    assert_null(listed("gone-owner"));
    char err[256];
    assert_int_equal(bus_consumer_delete(B, "gone-owner", NULL, NULL, err, sizeof(err)),
                     AH_ENOTFOUND);
}

static void test_writes_in_flight_do_not_bring_a_deleted_consumer_back(void **s)
{
    (void)s;
    static inbox in;
    assert_int_equal(open_consumer(&in, "racer", "keep.c"), 0);
    publish_n("keep.c", 3);
    wait_n(&in, 3);
    /* In one tick: an ack (its position goes dirty), a commit settling
     * another delivery, a nack (a failure record), then the deletion. */
    assert_int_equal(bus_ack(B, in.ids[0]), 0);
    bool committed = false;
    bus_commit_req r = {.settle = in.ids[1]};
    char err[256];
    assert_int_equal(bus_commit(B, &r, on_published, &committed, err, sizeof(err)), 0);
    assert_int_equal(bus_nack(B, in.ids[2], "nope", 0), 0);
    deleted d = {0};
    assert_int_equal(bus_consumer_delete(B, "racer", on_deleted, &d, err, sizeof(err)), 0);
    /* The name stays taken until the deletion is durable. */
    static inbox again;
    assert_int_equal(open_consumer(&again, "racer", "keep.c"), AH_EBUSY);
    assert_int_equal(bus_consumer_delete(B, "racer", NULL, NULL, err, sizeof(err)), AH_EBUSY);
    run(&d.done, 5000);
    assert_int_equal(d.status, 0);
    assert_true(committed); /* answered before the deletion */
    run(NULL, 100);         /* no retry of the nacked event comes back */
    assert_null(listed("racer"));
    close_world();
    open_world();
    assert_null(listed("racer"));
    /* The name is free: a new consumer of it starts afresh. */
    assert_int_equal(open_consumer(&again, "racer", "keep.c"), 0);
    wait_n(&again, 1);
    json_t *l = listed("racer");
    assert_true(json_is_true(json_object_get(l, "open")));
    json_decref(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retention_waits_for_a_consumer_until_it_is_deleted),
        cmocka_unit_test(test_a_consumer_from_a_run_before_is_listed_held_and_deleted_for_good),
        cmocka_unit_test(test_writes_in_flight_do_not_bring_a_deleted_consumer_back),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
