/*
 * The SDK's fake host keeps host->commit's promises (ABI 1.6, ADR 0059),
 * driven through echo, which republishes with it: the republish and the
 * settle complete together; a refused commit (an undeclared topic, more
 * than 1,000 events) publishes nothing and leaves the event nacked (the
 * host would deliver it again), never acked.
 */
#include <agenthost/testing.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <string.h>

extern const ah_plugin agenthost_plugin;

static void a_commit_publishes_and_acks_together(void **s)
{
    (void)s;
    aht *t = aht_new(&agenthost_plugin, "echo-test");
    assert_int_equal(aht_init(t, NULL), AH_OK);
    assert_true(aht_event(t, "echo.in", "{\"n\": 1}", "k1") > 0);
    /* Nothing settles inside the call: only once the commit completes. */
    assert_int_equal(aht_acked(t), 0);
    aht_run(t);
    assert_int_equal(aht_acked(t), 1);
    assert_int_equal(aht_nacked(t), 0);
    const json_t *p = aht_published(t);
    assert_int_equal(json_array_size(p), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(p, 0), "topic")),
                        "echo.out");
    assert_string_equal(json_string_value(json_object_get(json_array_get(p, 0), "key")), "k1");
    aht_free(t);
}

static void a_refused_commit_publishes_nothing_and_nacks(void **s)
{
    (void)s;
    aht *t = aht_new(&agenthost_plugin, "echo-test");
    aht_deny_topics(t, "echo.out");
    assert_int_equal(aht_init(t, NULL), AH_OK);
    assert_true(aht_event(t, "echo.in", "{\"n\": 1}", NULL) > 0);
    aht_run(t);
    assert_int_equal(aht_acked(t), 0);
    assert_int_equal(aht_nacked(t), 1);
    assert_int_equal(json_array_size(aht_published(t)), 0);
    aht_free(t);
}

static void an_oversized_commit_publishes_nothing_and_nacks(void **s)
{
    (void)s;
    aht *t = aht_new(&agenthost_plugin, "echo-test");
    assert_int_equal(aht_init(t, "{\"diagnostics\": true}"), AH_OK);
    assert_true(aht_event(t, "echo.in", "{\"commit_topic\": \"echo.out\", \"commit_count\": 1001}",
                          NULL) > 0);
    aht_run(t);
    assert_int_equal(aht_acked(t), 0);
    assert_int_equal(aht_nacked(t), 1);
    assert_int_equal(json_array_size(aht_published(t)), 0);
    /* 1,000 is allowed, all in one. */
    assert_true(aht_event(t, "echo.in", "{\"commit_topic\": \"echo.out\", \"commit_count\": 1000}",
                          NULL) > 0);
    aht_run(t);
    assert_int_equal(aht_acked(t), 1);
    assert_int_equal(json_array_size(aht_published(t)), 1000);
    aht_free(t);
}

/* A plugin of the test's own that commits two events with each event: the
 * fake host's commit itself, not through echo's fallback. */
static const ah_host *cp_host;
static int cp_calls, cp_status;
static size_t cp_n;

static int cp_init(ah_ctx *ctx, const ah_host *host, const json_t *config)
{
    (void)ctx;
    (void)config;
    cp_host = host;
    return AH_HOST_HAS(host, commit) ? AH_OK : AH_EUNSUPPORTED;
}

static void cp_committed(ah_ctx *ctx, int status, const uint64_t *offsets, size_t n, void *ud)
{
    (void)ctx;
    (void)offsets;
    (void)ud;
    cp_calls++;
    cp_status = status;
    cp_n = n;
}

static void cp_event(ah_ctx *ctx, const ah_event *ev)
{
    ah_publish_item items[2] = {{.topic = "a.out", .body = ev->body},
                                {.topic = "b.out", .body = ev->body}};
    if (cp_host->commit(ctx, ev, items, 2, cp_committed, NULL) != AH_OK)
        cp_host->nack(ctx, ev, "commit", 0);
}

static const ah_plugin commit_plugin = {.abi_major = AH_ABI_MAJOR,
                                        .abi_minor = AH_ABI_MINOR,
                                        .size = sizeof(ah_plugin),
                                        .name = "commitprobe",
                                        .version = "1.0.0",
                                        .init = cp_init,
                                        .on_event = cp_event};

static void the_fake_hosts_commit_answers_once_with_every_offset_and_acks(void **s)
{
    (void)s;
    cp_calls = 0;
    aht *t = aht_new(&commit_plugin, "probe");
    assert_int_equal(aht_init(t, NULL), AH_OK);
    assert_true(aht_event(t, "x.in", "{\"n\": 1}", NULL) > 0);
    assert_int_equal(cp_calls, 0); /* never inside the call */
    assert_int_equal(aht_acked(t), 0);
    aht_run(t);
    assert_int_equal(cp_calls, 1);
    assert_int_equal(cp_status, AH_OK);
    assert_int_equal(cp_n, 2);
    assert_int_equal(aht_acked(t), 1);
    assert_int_equal(json_array_size(aht_published(t)), 2);
    aht_free(t);
    /* A denied topic among the two: nothing published, the error, a nack. */
    cp_calls = 0;
    t = aht_new(&commit_plugin, "probe");
    aht_deny_topics(t, "b.");
    assert_int_equal(aht_init(t, NULL), AH_OK);
    assert_true(aht_event(t, "x.in", "{\"n\": 2}", NULL) > 0);
    aht_run(t);
    assert_int_equal(cp_calls, 1);
    assert_int_equal(cp_status, AH_EDENIED);
    assert_int_equal(aht_acked(t), 0);
    assert_int_equal(aht_nacked(t), 1);
    assert_int_equal(json_array_size(aht_published(t)), 0);
    aht_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_commit_publishes_and_acks_together),
        cmocka_unit_test(a_refused_commit_publishes_nothing_and_nacks),
        cmocka_unit_test(an_oversized_commit_publishes_nothing_and_nacks),
        cmocka_unit_test(the_fake_hosts_commit_answers_once_with_every_offset_and_acks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
