/*
 * The bus over the writer's pipeline (ADR 0056): publishes of one loop
 * pass reach the writer in parts while the pass still publishes; each
 * topic's events must keep the order they were published in, every
 * publish must be stored once, and offsets must run without gaps.
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

static int setup(void **s)
{
    (void)s;
    log_opts lo = {.to_stderr = false, .min_level = LOG_ERROR};
    log_init(&lo);
    snprintf(dir, sizeof(dir), "/tmp/ah-bus-pipe-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    char err[256];
    if (loop_new(&loop) != 0) return -1;
    store_opts so = {.dir = dir};
    if (store_open(&st, loop, &so, err, sizeof(err)) != 0) return -1;
    bus_opts o = {.max_event_bytes = 4096,
                  .idempotency_window_ms = 60000,
                  .ack_timeout_ms = 30000,
                  .max_attempts = 5,
                  .backoff_ms = 5,
                  .max_backoff_ms = 20,
                  .max_in_flight = 16};
    return bus_open(&B, loop, st, &o, err, sizeof(err));
}

static int teardown(void **s)
{
    (void)s;
    bus_close(B);
    store_close(st);
    bus_free(B);
    loop_free(loop);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

enum { N = 300 }; /* one pass: several parts of the hand-off */

typedef struct answer {
    int status, calls;
    uint64_t offset;
} answer;

static int answered;

static void on_published(void *ud, int status, const uint64_t *offsets, const bool *dup, size_t n)
{
    answer *a = ud;
    (void)dup;
    a->status = status;
    a->calls++;
    a->offset = n == 1 ? offsets[0] : 0;
    answered++;
}

/* The i-th publish of the pass goes to topic a (even i) or b (odd i). */
static const char *topic_of(int i)
{
    return i % 2 ? "pipe.b" : "pipe.a";
}

static void assert_topic_reads_back_in_publish_order(const char *topic, int first)
{
    json_t *events;
    uint64_t next;
    char err[256];
    assert_int_equal(bus_read(B, topic, 1, 2 * N, NULL, &events, &next, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(events), N / 2); /* each once: none lost, none twice */
    assert_int_equal(next, N / 2 + 1);
    for (size_t k = 0; k < N / 2; k++) {
        json_t *body = json_object_get(json_array_get(events, k), "body");
        assert_int_equal(json_integer_value(json_object_get(body, "i")), first + 2 * (int)k);
    }
    json_decref(events);
}

static void test_publishes_of_one_pass_keep_their_order_per_topic_and_are_stored_once(void **s)
{
    (void)s;
    static answer ans[N];
    char err[256];
    answered = 0;
    for (int i = 0; i < N; i++) {
        json_t *body = json_pack("{s:i}", "i", i);
        bus_msg m = {.topic = topic_of(i), .body = body};
        assert_int_equal(bus_publish(B, &m, 1, false, on_published, &ans[i], err, sizeof(err)), 0);
        json_decref(body);
    }
    for (int spins = 0; spins < 100000 && answered < N; spins++)
        uv_run(loop_uv(loop), UV_RUN_ONCE);
    assert_int_equal(answered, N);
    /* Offsets: 1, 2, 3 ... per topic, in publish order. */
    for (int i = 0; i < N; i++) {
        assert_int_equal(ans[i].status, 0);
        assert_int_equal(ans[i].calls, 1);
        assert_int_equal(ans[i].offset, (uint64_t)(i / 2 + 1));
    }
    assert_topic_reads_back_in_publish_order("pipe.a", 0);
    assert_topic_reads_back_in_publish_order("pipe.b", 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_publishes_of_one_pass_keep_their_order_per_topic_and_are_stored_once, setup,
            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
