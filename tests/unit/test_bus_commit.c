/*
 * bus_commit: a delivery settled, the events it caused published and the
 * consumer's own state written, as one transaction: all of it after a
 * restart, or (when the transaction fails) none of it and the delivery
 * comes again. And what it costs (ADR 0057): one commit and its flushes,
 * counted at the store (commits) and at the system call (this executable
 * defines fdatasync, exported, so LMDB's calls land here first).
 */
#include "cmocka_pre.h"

#include "bus/bus.h"
#include "core/log.h"
#include "core/util.h"

#include <agenthost/plugin.h>

#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic int fdatasyncs;

int fdatasync(int fd)
{
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    int rc = real(fd);
    if (rc == 0) fdatasyncs++;
    return rc;
}

static char dir[64];
static ah_loop *loop;
static store *st;
static bus *B;

static void open_world(void)
{
    char err[256];
    assert_int_equal(loop_new(&loop), 0);
    store_opts so = {.dir = dir};
    assert_int_equal(store_open(&st, loop, &so, err, sizeof(err)), 0);
    bus_opts o = {.max_event_bytes = 4096,
                  .idempotency_window_ms = 60000,
                  .ack_timeout_ms = 30000,
                  .max_attempts = 5,
                  .backoff_ms = 5,
                  .max_backoff_ms = 20,
                  .max_in_flight = 16,
                  /* No sweep while a test runs: an idempotency sweep's
                   * write is a commit (empty), and commits are counted. */
                  .sweep_interval_ms = 3600000};
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
    snprintf(dir, sizeof(dir), "/tmp/ah-bus-commit-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    open_world();
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    close_world();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

/* ---- a consumer that remembers its deliveries ------------------------------ */

typedef struct inbox {
    uint64_t ids[16];
    char bodies[16][32];
    int n;
} inbox;

static int take(void *ud, const bus_delivery *d)
{
    inbox *in = ud;
    if (in->n == 16) return -1;
    in->ids[in->n] = d->id;
    snprintf(in->bodies[in->n], sizeof(in->bodies[0]), "%s", json_string_value(d->body) ?: "");
    in->n++;
    return 0;
}

static const bus_consumer_ops ops = {.deliver = take};

/* The loop runs while a timer of ours keeps it alive (the bus's own
 * timers do not hold a loop open). */
static void noop(uv_timer_t *t)
{
    (void)t;
}

static void run_while(bool (*more)(const int *, int), const int *n, int want, int ms)
{
    uv_timer_t keep;
    uv_timer_init(loop_uv(loop), &keep);
    uv_timer_start(&keep, noop, 5, 5);
    uint64_t until = ah_mono_ms() + (uint64_t)ms;
    while (ah_mono_ms() < until && more(n, want))
        uv_run(loop_uv(loop), UV_RUN_ONCE);
    uv_close((uv_handle_t *)&keep, NULL);
    uv_run(loop_uv(loop), UV_RUN_NOWAIT);
}

static bool always(const int *n, int want)
{
    (void)n, (void)want;
    return true;
}

static bool below(const int *n, int want)
{
    return *n < want;
}

static void spin(int ms)
{
    run_while(always, NULL, 0, ms);
}

static void wait_for_at(const int *n, int want, int ms, int line)
{
    run_while(below, n, want, ms);
    if (*n < want) fail_msg("line %d: %d of %d", line, *n, want);
}

#define wait_for(n, w, ms) wait_for_at(n, w, ms, __LINE__)

static bus_consumer *consumer(inbox *in, const char *name, const char *topic)
{
    char err[256];
    const char *pats[] = {topic};
    bus_consumer_opts co = {
        .name = name, .patterns = pats, .npatterns = 1, .start = BUS_START_EARLIEST};
    bus_consumer *c = NULL;
    assert_int_equal(bus_consumer_open(B, &co, &ops, in, &c, err, sizeof(err)), 0);
    bus_consumer_attach(c);
    return c;
}

static int published;
static void on_pub(void *ud, int status, const uint64_t *o, const bool *d, size_t n)
{
    (void)ud, (void)o, (void)d, (void)n;
    assert_int_equal(status, 0);
    published++;
}

static void publish(const char *topic, const char *text)
{
    json_t *body = json_string(text);
    bus_msg m = {.topic = topic, .key = "conv-1", .body = body};
    char err[256];
    int before = published;
    assert_int_equal(bus_publish(B, &m, 1, false, on_pub, NULL, err, sizeof(err)), 0);
    json_decref(body);
    wait_for(&published, before + 1, 5000);
}

/* The consumer's own state: a KV record written in the commit. */
static int apply_state(store_txn *t, void *arg)
{
    const char *v = arg;
    if (!strcmp(v, "refuse")) return AH_EINVAL; /* this write alone fails */
    return store_put(t, STORE_DB_KV, "conv-1", 6, v, strlen(v));
}

static int commit_status = 99, commits;
static void on_commit(void *ud, int status, const uint64_t *o, const bool *d, size_t n)
{
    (void)ud, (void)o, (void)d, (void)n;
    commit_status = status;
    commits++;
}

static int state_of(char *out, size_t len)
{
    store_txn *t;
    store_val v;
    assert_int_equal(store_read_begin(st, &t), 0);
    int rc = store_get(t, STORE_DB_KV, "conv-1", 6, &v);
    if (!rc) snprintf(out, len, "%.*s", (int)v.len, (const char *)v.data);
    store_read_end(st, t);
    return rc;
}

static void test_a_commit_settles_publishes_and_writes_together(void **s)
{
    (void)s;
    inbox in = {0};
    consumer(&in, "worker", "work.in");
    publish("work.in", "hello");
    wait_for(&in.n, 1, 5000);
    json_t *reply = json_string("hi back");
    bus_msg out = {.topic = "work.out", .key = "conv-1", .body = reply};
    bus_commit_req r = {
        .settle = in.ids[0], .msgs = &out, .n = 1, .apply = apply_state, .apply_arg = "asked"};
    char err[256];
    assert_int_equal(bus_commit(B, &r, on_commit, NULL, err, sizeof(err)), 0);
    json_decref(reply);
    wait_for(&commits, 1, 5000);
    assert_int_equal(commit_status, 0);
    /* A stale id (settled by the commit) changes nothing. */
    assert_int_equal(bus_ack(B, in.ids[0]), AH_ENOTFOUND);
    assert_int_equal(bus_commit(B, &r, on_commit, NULL, err, sizeof(err)), AH_ENOTFOUND);
    /* After a restart: the state and the reply are there, the input is not
     * delivered again. */
    close_world();
    open_world();
    char state[32] = "";
    assert_int_equal(state_of(state, sizeof(state)), 0);
    assert_string_equal(state, "asked");
    json_t *events = NULL;
    uint64_t next = 0;
    assert_int_equal(bus_read(B, "work.out", 1, 10, NULL, &events, &next, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(events), 1);
    json_decref(events);
    inbox again = {0};
    consumer(&again, "worker", "work.in");
    spin(200);
    assert_int_equal(again.n, 0);
}

/* A commit whose write fails leaves nothing: no reply, no state, and the
 * input comes again (a retry, as after a nack). */
static void test_a_failed_commit_leaves_nothing_and_the_input_comes_again(void **s)
{
    (void)s;
    inbox in = {0};
    consumer(&in, "worker2", "work2.in");
    publish("work2.in", "second");
    wait_for(&in.n, 1, 5000);
    json_t *reply = json_string("lost");
    bus_msg out = {.topic = "work.out", .key = "conv-1", .body = reply};
    bus_commit_req r = {
        .settle = in.ids[0], .msgs = &out, .n = 1, .apply = apply_state, .apply_arg = "refuse"};
    char err[256];
    int before = commits;
    assert_int_equal(bus_commit(B, &r, on_commit, NULL, err, sizeof(err)), 0);
    json_decref(reply);
    wait_for(&commits, before + 1, 5000);
    assert_int_equal(commit_status, AH_EINVAL);
    char state[32] = "";
    assert_int_equal(state_of(state, sizeof(state)), 0);
    assert_string_equal(state, "asked"); /* the previous test's, unchanged */
    json_t *events = NULL;
    uint64_t next = 0;
    assert_int_equal(bus_read(B, "work.out", 1, 10, NULL, &events, &next, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(events), 1); /* still only the first reply */
    json_decref(events);
    wait_for(&in.n, 2, 5000);
    assert_string_equal(in.bodies[1], "second"); /* the same input, again */
    assert_int_equal(bus_ack(B, in.ids[1]), 0);
}

/* ---- one topic, several writes in one batch ---------------------------------- */

typedef struct pub_res {
    int status;
    uint64_t offset;
} pub_res;

static int answered;
static void on_res(void *ud, int status, const uint64_t *o, const bool *d, size_t n)
{
    (void)d;
    pub_res *r = ud;
    r->status = status;
    r->offset = n ? o[0] : 0;
    answered++;
}

static json_int_t topic_field(const char *topic, const char *field)
{
    json_t *t = bus_topic(B, topic);
    assert_non_null(t);
    json_int_t v = json_integer_value(json_object_get(t, field));
    json_decref(t);
    return v;
}

/* The topic's record as the batch left it: offsets 1..2, two events. */
static void assert_two_events(const char *topic)
{
    assert_int_equal(topic_field(topic, "first_offset"), 1);
    assert_int_equal(topic_field(topic, "last_offset"), 2);
    assert_int_equal(topic_field(topic, "depth"), 2);
    json_t *events = NULL;
    uint64_t next = 0;
    char err[256];
    assert_int_equal(bus_read(B, topic, 1, 10, NULL, &events, &next, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(events), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(events, 0), "body")), "a");
    assert_string_equal(json_string_value(json_object_get(json_array_get(events, 1), "body")), "c");
    assert_int_equal(next, 3);
    json_decref(events);
}

/* A topic record is read once per transaction and written once, before the
 * commit (bl_txn.c). A commit of two events to a topic, refused by its own
 * write, between two publishes to that topic in the same batch: the batch
 * runs again without it, so the record counts the two publishes only, with
 * no gap in the offsets, now and after a restart; the next event follows. */
static void
test_a_refused_commit_between_two_publishes_to_one_topic_leaves_the_record_right(void **s)
{
    (void)s;
    json_t *a = json_string("a"), *x = json_string("x"), *c = json_string("c");
    bus_msg ma = {.topic = "same.t", .body = a}, mc = {.topic = "same.t", .body = c};
    bus_msg mx[2] = {{.topic = "same.t", .body = x}, {.topic = "same.t", .body = x}};
    bus_commit_req r = {.msgs = mx, .n = 2, .apply = apply_state, .apply_arg = "refuse"};
    pub_res ra = {99, 0}, rc = {99, 0};
    char err[256];
    int before = commits;
    answered = 0;
    /* Queued in one loop pass: one batch. */
    assert_int_equal(bus_publish(B, &ma, 1, false, on_res, &ra, err, sizeof(err)), 0);
    assert_int_equal(bus_commit(B, &r, on_commit, NULL, err, sizeof(err)), 0);
    assert_int_equal(bus_publish(B, &mc, 1, false, on_res, &rc, err, sizeof(err)), 0);
    json_decref(a);
    json_decref(x);
    json_decref(c);
    wait_for(&answered, 2, 5000);
    wait_for(&commits, before + 1, 5000);
    assert_int_equal(commit_status, AH_EINVAL);
    assert_int_equal(ra.status, 0);
    assert_int_equal(rc.status, 0);
    assert_int_equal(ra.offset, 1);
    assert_int_equal(rc.offset, 2);
    assert_two_events("same.t");
    close_world();
    open_world();
    assert_two_events("same.t");
    json_t *d = json_string("d");
    bus_msg md = {.topic = "same.t", .body = d};
    pub_res rd = {99, 0};
    assert_int_equal(bus_publish(B, &md, 1, false, on_res, &rd, err, sizeof(err)), 0);
    json_decref(d);
    wait_for(&answered, 3, 5000);
    assert_int_equal(rd.status, 0);
    assert_int_equal(rd.offset, 3);
    assert_int_equal(topic_field("same.t", "depth"), 3);
}

/* ---- what a commit costs (ADR 0057) ---------------------------------------- */

static uint64_t commits_now(void)
{
    store_stats ss;
    store_get_stats(st, &ss);
    return ss.commits;
}

static json_int_t position_of(const char *consumer_name, const char *topic)
{
    json_t *all = bus_consumers(B);
    json_int_t pos = -1;
    size_t i, k;
    json_t *c, *t;
    json_array_foreach(all, i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "name")) ?: "", consumer_name)) continue;
        json_array_foreach(json_object_get(c, "topics"), k, t)
        {
            if (!strcmp(json_string_value(json_object_get(t, "topic")) ?: "", topic))
                pos = json_integer_value(json_object_get(t, "position"));
        }
    }
    json_decref(all);
    return pos;
}

/* The engine's settle-state-publish: the input settled, the reply
 * published, the state written and the consumer's position moved past the
 * input are one commit, whose flushes are its own data flush and the
 * meta-page flush that follows when nothing else comes (two fdatasyncs);
 * no position write follows in a commit of its own. After a restart the
 * position is past the input, which is not delivered again. */
static void test_a_settling_commit_is_one_commit_with_its_position_and_two_flushes(void **s)
{
    (void)s;
    inbox in = {0};
    consumer(&in, "turns", "turn.in");
    publish("turn.in", "question");
    wait_for(&in.n, 1, 5000);
    spin(100); /* the consumer's first position and record are written */
    uint64_t c0 = commits_now();
    int f0 = fdatasyncs;
    json_t *reply = json_string("answer");
    bus_msg out = {.topic = "turn.out", .key = "conv-1", .body = reply};
    bus_commit_req r = {
        .settle = in.ids[0], .msgs = &out, .n = 1, .apply = apply_state, .apply_arg = "turned"};
    char err[256];
    int before = commits;
    assert_int_equal(bus_commit(B, &r, on_commit, NULL, err, sizeof(err)), 0);
    json_decref(reply);
    wait_for(&commits, before + 1, 5000);
    assert_int_equal(commit_status, 0);
    spin(200); /* ticks: a position write of its own would come now */
    assert_int_equal(commits_now() - c0, 1);
    assert_int_equal(fdatasyncs - f0, 2);
    assert_int_equal(position_of("turns", "turn.in"), 1);
    close_world();
    open_world();
    assert_int_equal(position_of("turns", "turn.in"), 1);
    inbox again = {0};
    consumer(&again, "turns", "turn.in");
    spin(200);
    assert_int_equal(again.n, 0);
}

/* A plugin that acks a delivery and publishes what it caused in one burst
 * (one loop pass): the ack's position is queued before the store hands the
 * pass's writes to its writer, so both are one commit. */
static void test_an_ack_and_a_publish_of_one_loop_pass_are_one_commit(void **s)
{
    (void)s;
    inbox in = {0};
    consumer(&in, "burst", "burst.in");
    publish("burst.in", "ping");
    wait_for(&in.n, 1, 5000);
    spin(100);
    uint64_t c0 = commits_now();
    assert_int_equal(bus_ack(B, in.ids[0]), 0);
    json_t *body = json_string("pong");
    bus_msg m = {.topic = "burst.out", .body = body};
    char err[256];
    pub_res res = {99, 0};
    int before = answered;
    assert_int_equal(bus_publish(B, &m, 1, false, on_res, &res, err, sizeof(err)), 0);
    json_decref(body);
    wait_for(&answered, before + 1, 5000);
    assert_int_equal(res.status, 0);
    spin(200);
    assert_int_equal(commits_now() - c0, 1);
    assert_int_equal(position_of("burst", "burst.in"), 1);
}

/* An ack and a settling commit of the next event in one pass: the ack's
 * position (1) is left to the commit, which writes 2; were the tick's
 * write of 1 queued after the commit, it would take the position back and
 * the second input, whose reply is committed, would be handled twice
 * after a restart. */
static void test_a_tick_position_never_takes_back_a_commits_position(void **s)
{
    (void)s;
    inbox in = {0};
    consumer(&in, "pair", "pair.in");
    json_t *b1 = json_string("one"), *b2 = json_string("two");
    bus_msg m[2] = {{.topic = "pair.in", .key = "k1", .body = b1},
                    {.topic = "pair.in", .key = "k2", .body = b2}};
    char err[256];
    int before = published;
    assert_int_equal(bus_publish(B, m, 2, false, on_pub, NULL, err, sizeof(err)), 0);
    json_decref(b1);
    json_decref(b2);
    wait_for(&published, before + 1, 5000);
    wait_for(&in.n, 2, 5000);
    json_t *reply = json_string("reply-two");
    bus_msg out = {.topic = "pair.out", .body = reply};
    bus_commit_req r = {.settle = in.ids[1], .msgs = &out, .n = 1};
    int cbefore = commits;
    assert_int_equal(bus_ack(B, in.ids[0]), 0);
    assert_int_equal(bus_commit(B, &r, on_commit, NULL, err, sizeof(err)), 0);
    json_decref(reply);
    wait_for(&commits, cbefore + 1, 5000);
    assert_int_equal(commit_status, 0);
    spin(200);
    close_world();
    open_world();
    assert_int_equal(position_of("pair", "pair.in"), 2);
    inbox again = {0};
    consumer(&again, "pair", "pair.in");
    spin(200);
    assert_int_equal(again.n, 0);
}

int main(void)
{

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_commit_settles_publishes_and_writes_together),
        cmocka_unit_test(test_a_failed_commit_leaves_nothing_and_the_input_comes_again),
        cmocka_unit_test(
            test_a_refused_commit_between_two_publishes_to_one_topic_leaves_the_record_right),
        cmocka_unit_test(test_a_settling_commit_is_one_commit_with_its_position_and_two_flushes),
        cmocka_unit_test(test_an_ack_and_a_publish_of_one_loop_pass_are_one_commit),
        cmocka_unit_test(test_a_tick_position_never_takes_back_a_commits_position),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
