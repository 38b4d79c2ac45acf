/*
 * A plugin's caused events and its settle in one commit (host->commit, ABI
 * 1.6, ADR 0059), through the real host with echo: the republish and the
 * ack are one store write, and a hostile commit (an undeclared topic, more
 * than 1,000 events) is refused whole: nothing published, the event not
 * settled but delivered again (and dead-lettered after its attempts).
 */
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static th_host H;

static const char *config_json =
    "{\"supervisor\": {\"ping_interval_ms\": 500},"
    " \"bus\": {\"max_attempts\": 2, \"backoff_ms\": 20, \"max_backoff_ms\": 50},"
    " \"instances\": ["
    "  {\"id\": \"echo-c\", \"plugin\": \"echo\", \"config\": {\"diagnostics\": true}}"
    "]}";

/* A host named `name` with echo as instance echo-c under `config`, ready. */
static int start_echo(const char *name, const char *config)
{
    if (th_init(&H, name) || th_install_plugin(&H, "echo") || th_config(&H, config)) return -1;
    if (th_start(&H, NULL, 10000) != 0 || !th_wait_state(&H, "echo-c", "ready", 10000)) return -1;
    return 0;
}

static int setup(void **state)
{
    (void)state;
    return start_echo("pcommit", config_json);
}

static int teardown(void **state)
{
    (void)state;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

/* The consumer's counter `field` ("acked", "nacked"), or -1. */
static long long consumer_count(const char *field)
{
    json_t *o = NULL;
    long long v = -1;
    if (th_http(&H, "GET", "/api/v1/consumers", NULL, NULL, &o) == 200) {
        size_t i;
        json_t *c;
        json_t *arr = json_is_array(o) ? o : json_object_get(o, "consumers");
        json_array_foreach(arr, i, c)
        {
            if (!strcmp(json_string_value(json_object_get(c, "name")) ?: "", "instance:echo-c"))
                v = json_integer_value(json_object_get(c, field));
        }
    }
    json_decref(o);
    return v;
}

static bool wait_count(const char *field, long long n)
{
    for (int i = 0; i < 500; i++) { /* bounded: 10 s */
        if (consumer_count(field) >= n) return true;
        th_sleep_ms(20);
    }
    return false;
}

/* One event published over HTTP (answered once committed). */
static void publish(const char *topic, const char *body)
{
    char path[128], ev[512];
    snprintf(path, sizeof(path), "/api/v1/topics/%s/events", topic);
    snprintf(ev, sizeof(ev), "{\"body\":%s}", body);
    assert_int_equal(th_http(&H, "POST", path, ev, NULL, NULL), 201);
}

/* One event through echo, then a barrier publish (answered after every
 * write queued before it, which makes a count final): the store writes
 * this took. */
static long long one_round(int n)
{
    long long acked = consumer_count("acked");
    long long out = th_topic_depth(&H, "echo.out");
    if (out < 0) out = 0;
    double w0 = th_metric(&H, "agenthost_store_writes_total");
    assert_true(w0 >= 0 && acked >= 0);
    char body[32];
    snprintf(body, sizeof(body), "{\"n\":%d}", n);
    publish("echo.in", body);
    assert_true(wait_count("acked", acked + 1));
    assert_true(th_wait_depth(&H, "echo.out", out + 1, 5000));
    publish("pcommit.barrier", "{\"b\":1}");
    return (long long)(th_metric(&H, "agenthost_store_writes_total") - w0);
}

/* Echo republishes and acks with host->commit: the ingress event is one
 * write, the republish with the consumer's position one more; nothing
 * follows (an ack after the republish would be a third write: the
 * position). The first round also creates the topics. */
static void test_a_republish_and_its_ack_are_one_store_write(void **s)
{
    (void)s;
    one_round(1);
    /* ingress + (republish, position) + barrier */
    assert_int_equal(one_round(2), 3);
    assert_int_equal(one_round(3), 3);
    /* The position is durable with the republish: the consumer has no lag. */
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", "/api/v1/consumers", NULL, NULL, &o), 200);
    char *dump = json_dumps(o, JSON_COMPACT);
    assert_non_null(strstr(dump, "\"lag\":0"));
    free(dump);
    json_decref(o);
}

/* An undeclared topic in a commit refuses the whole commit: the echo.out
 * copies in it are not published, and the event is not settled: it comes
 * again (nacked) and ends in the dead-letter topic after its attempts. */
static void test_a_commit_to_an_undeclared_topic_publishes_nothing_and_redelivers(void **s)
{
    (void)s;
    long long nacked = consumer_count("nacked");
    long long out = th_topic_depth(&H, "echo.out");
    long long dlq = th_topic_depth(&H, "$dlq.echo.in");
    if (dlq < 0) dlq = 0;
    publish("echo.in", "{\"commit_topic\":\"crm.lead\",\"commit_count\":3}");
    assert_true(wait_count("nacked", nacked + 2)); /* both attempts refused */
    assert_true(th_wait_file(&H, "logs/security.log", "commit to undeclared topic", 3000));
    assert_int_equal(th_topic_depth(&H, "crm.lead"), -1);
    assert_int_equal(th_topic_depth(&H, "echo.out"), out);
    assert_true(th_wait_depth(&H, "$dlq.echo.in", dlq + 1, 5000));
}

/* More than 1,000 events in one commit: refused whole, as above. */
static void test_an_oversized_commit_publishes_nothing_and_redelivers(void **s)
{
    (void)s;
    long long nacked = consumer_count("nacked");
    long long out = th_topic_depth(&H, "echo.out");
    publish("echo.in", "{\"commit_topic\":\"echo.out\",\"commit_count\":1001}");
    assert_true(wait_count("nacked", nacked + 2));
    assert_int_equal(th_topic_depth(&H, "echo.out"), out);
}

/* A commit without events is an ack answered once durable: the event is
 * settled (acked, not nacked, nothing left in flight) and nothing is
 * published. */
static void test_a_commit_without_events_settles_the_event_alone(void **s)
{
    (void)s;
    long long acked = consumer_count("acked"), nacked = consumer_count("nacked");
    long long out = th_topic_depth(&H, "echo.out");
    publish("echo.in", "{\"commit_topic\":\"echo.out\",\"commit_count\":0}");
    assert_true(wait_count("acked", acked + 1));
    assert_int_equal(consumer_count("nacked"), nacked);
    assert_int_equal(th_topic_depth(&H, "echo.out"), out);
}

/* ---- a commit the host answers "busy" (limits.in_flight) ---------------------- */

/* Echo may have one request in flight; a batch of events arrives at once,
 * so its commits after the first are answered busy before the bus service
 * sees them. The ack timeout is long (60 s): only the runtime's nack brings
 * those events back within the wait. */
static const char *busy_config_json =
    "{\"supervisor\": {\"ping_interval_ms\": 500},"
    " \"bus\": {\"max_attempts\": 1000, \"backoff_ms\": 5, \"max_backoff_ms\": 20,"
    "  \"ack_timeout_ms\": 60000},"
    " \"instances\": [{\"id\": \"echo-c\", \"plugin\": \"echo\", \"limits\": {\"in_flight\": 1}}]}";

static int setup_busy(void **state)
{
    (void)state;
    return start_echo("pcbusy", busy_config_json);
}

static void test_a_commit_refused_busy_is_nacked_by_the_runtime_and_comes_again(void **s)
{
    (void)s;
    char batch[2048] = "[";
    for (int i = 0; i < 20; i++) {
        char one[64];
        snprintf(one, sizeof(one), "%s{\"body\":{\"n\":%d}}", i ? "," : "", i);
        strcat(batch, one);
    }
    strcat(batch, "]");
    assert_int_equal(th_http(&H, "POST", "/api/v1/topics/echo.in/events", batch, NULL, NULL), 201);
    assert_true(wait_count("acked", 20)); /* bounded: 10 s, far below the ack timeout */
    assert_true(th_wait_depth(&H, "echo.out", 20, 5000));
    assert_int_equal(th_topic_depth(&H, "echo.out"), 20); /* each once */
    assert_true(consumer_count("nacked") > 0);            /* busy answers were taken and nacked */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_republish_and_its_ack_are_one_store_write),
        cmocka_unit_test(test_a_commit_to_an_undeclared_topic_publishes_nothing_and_redelivers),
        cmocka_unit_test(test_an_oversized_commit_publishes_nothing_and_redelivers),
        cmocka_unit_test(test_a_commit_without_events_settles_the_event_alone),
    };
    const struct CMUnitTest busy[] = {
        cmocka_unit_test(test_a_commit_refused_busy_is_nacked_by_the_runtime_and_comes_again),
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    return failed + cmocka_run_group_tests(busy, setup_busy, teardown);
}
