/*
 * The KV operations of ABI 1.3 in the real sandbox, through `agenthost
 * plugin run` and the kvplus fixture: revisions and compare-and-swap,
 * atomic increments, batched reads and writes, TTL, paged scans; the
 * harness's KV seed, dump and kept store; and the race of a read-modify-
 * write under concurrent delivery, which kv_incr does not have.
 */
#include "../support/kit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KVPLUS TH_BUILD_DIR "/tests/plugins/kvplus/manifest.json"

static char tmp[512];

static const char *in_tmp(const char *name, const char *content)
{
    static char paths[8][700];
    static int k;
    k = (k + 1) % 8;
    snprintf(paths[k], sizeof(paths[k]), "%s/%s", tmp, name);
    if (content) kit_write(paths[k], content);
    return paths[k];
}

static int setup(void **state)
{
    (void)state;
    return kit_tmpdir("kvops", tmp, sizeof(tmp));
}

static int teardown(void **state)
{
    (void)state;
    kit_rmtree(tmp);
    return 0;
}

/* The reply printed for line n of the events file. */
static json_t *reply_at(json_t *lines, int n)
{
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l)
    {
        if (!strcmp(json_string_value(json_object_get(l, "type")) ?: "", "reply") &&
            json_integer_value(json_object_get(l, "line")) == n)
            return l;
    }
    fail_msg("no reply for line %d", n);
    return NULL;
}

static json_int_t int_at(json_t *lines, int n, const char *field)
{
    return json_integer_value(
        json_object_get(json_object_get(reply_at(lines, n), "result"), field));
}

static const char *error_at(json_t *lines, int n)
{
    return json_string_value(json_object_get(json_object_get(reply_at(lines, n), "error"), "code"));
}

static json_t *run(kit_out *r, const char *events, const char *a1, const char *a2, const char *a3,
                   const char *a4, const char *a5, const char *a6)
{
    kit_runl(r, NULL, NULL, KIT_AGENTHOST, "plugin", "run", KVPLUS, "--events", events, a1, a2, a3,
             a4, a5, a6, NULL);
    return kit_lines(r->out);
}

static void test_revisions_cas_increments_batches_ttl_and_pages(void **state)
{
    (void)state;
    const char *ev = in_tmp(
        "ops.jsonl",
        "{\"call\": {\"action\": \"put_many\", \"args\": {\"items\": [{\"key\": \"a\", \"value\": "
        "1},"
        " {\"key\": \"b\", \"value\": \"two\"}, {\"key\": \"c\", \"value\": {\"x\": 3}}]}}}\n"
        "{\"call\": {\"action\": \"get_many\", \"args\": {\"keys\": [\"a\", \"b\", \"zz\"]}}}\n"
        "{\"call\": {\"action\": \"get\", \"args\": {\"key\": \"a\"}}}\n"
        "{\"call\": {\"action\": \"put\", \"args\": {\"key\": \"a\", \"value\": 10, \"if_rev\": "
        "1}}}\n"
        "{\"call\": {\"action\": \"put\", \"args\": {\"key\": \"a\", \"value\": 11, \"if_rev\": "
        "1}}}\n"
        "{\"call\": {\"action\": \"put\", \"args\": {\"key\": \"new\", \"value\": 1, \"if_rev\": "
        "0}}}\n"
        "{\"call\": {\"action\": \"put\", \"args\": {\"key\": \"new\", \"value\": 2, \"if_rev\": "
        "0}}}\n"
        "{\"call\": {\"action\": \"incr\", \"args\": {\"key\": \"n\", \"delta\": 5}}}\n"
        "{\"call\": {\"action\": \"incr\", \"args\": {\"key\": \"n\", \"delta\": -2}}}\n"
        "{\"call\": {\"action\": \"incr\", \"args\": {\"key\": \"b\", \"delta\": 1}}}\n"
        "{\"call\": {\"action\": \"put\", \"args\": {\"key\": \"t\", \"value\": 1, \"ttl_ms\": "
        "1}}}\n"
        "{\"sleep_ms\": 20}\n"
        "{\"call\": {\"action\": \"get\", \"args\": {\"key\": \"t\"}}}\n"
        "{\"call\": {\"action\": \"scan\", \"args\": {\"limit\": 2}}}\n"
        "{\"call\": {\"action\": \"scan\", \"args\": {\"limit\": 2, \"after\": \"b\"}}}\n"
        "{\"call\": {\"action\": \"put_many\", \"args\": {\"items\": [{\"key\": \"user:1\", "
        "\"value\": 1}, {\"key\": \"user:2\", \"value\": 2}, {\"key\": \"user:3\", \"value\": 3},"
        " {\"key\": \"userx\", \"value\": 0}]}}}\n"
        "{\"call\": {\"action\": \"scan\", \"args\": {\"prefix\": \"user:\", \"limit\": 2}}}\n"
        "{\"call\": {\"action\": \"scan\", \"args\": {\"prefix\": \"user:\", \"limit\": 2, "
        "\"after\": \"user:2\"}}}\n"
        "{\"call\": {\"action\": \"scan\", \"args\": {\"prefix\": \"nosuch\", \"limit\": 2}}}\n");
    const char *dump = in_tmp("ops-dump.json", NULL);
    kit_out r;
    json_t *l = run(&r, ev, "--kv-dump", dump, NULL, NULL, NULL, NULL);
    if (r.status != 0) fail_msg("exit %d\n%s%s", r.status, r.out, r.err);
    /* Batches: one commit, one snapshot; an absent key has revision 0. */
    json_t *items = json_object_get(json_object_get(reply_at(l, 2), "result"), "items");
    assert_int_equal(json_array_size(items), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 0), "value")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 0), "rev")), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "value")),
                        "two");
    const json_t *absent = json_object_get(json_array_get(items, 2), "value");
    assert_true(!absent || json_is_null(absent));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 2), "rev")), 0);
    /* Compare-and-swap on the revision read; 0 means "absent". */
    assert_int_equal(int_at(l, 3, "rev"), 1);
    assert_int_equal(int_at(l, 4, "rev"), 2);
    assert_string_equal(error_at(l, 5), "conflict");
    assert_int_equal(int_at(l, 6, "rev"), 1);
    assert_string_equal(error_at(l, 7), "conflict");
    /* Increments; a value that is not an integer is refused. */
    assert_int_equal(int_at(l, 8, "value"), 5);
    assert_int_equal(int_at(l, 9, "value"), 3);
    assert_string_equal(error_at(l, 10), "kv");
    /* A key past its TTL reads as absent, and is not scanned. */
    assert_int_equal(int_at(l, 11, "rev"), 1);
    assert_string_equal(error_at(l, 13), "kv");
    /* Pages of a scan. */
    json_t *p1 = json_object_get(reply_at(l, 14), "result");
    assert_int_equal(json_array_size(json_object_get(p1, "keys")), 2);
    assert_string_equal(json_string_value(json_object_get(p1, "next")), "b");
    json_t *p2 = json_object_get(reply_at(l, 15), "result");
    assert_string_equal(json_string_value(json_array_get(json_object_get(p2, "keys"), 0)), "c");
    assert_string_equal(json_string_value(json_array_get(json_object_get(p2, "keys"), 1)), "n");
    /* Pages of a prefix scan: only the prefix's keys ("userx" is not one),
     * in byte order, the last page without a next mark. */
    json_t *q1 = json_object_get(reply_at(l, 17), "result");
    json_t *k1 = json_object_get(q1, "keys");
    assert_int_equal(json_array_size(k1), 2);
    assert_string_equal(json_string_value(json_array_get(k1, 0)), "user:1");
    assert_string_equal(json_string_value(json_array_get(k1, 1)), "user:2");
    assert_string_equal(json_string_value(json_object_get(q1, "next")), "user:2");
    json_t *q2 = json_object_get(reply_at(l, 18), "result");
    assert_int_equal(json_array_size(json_object_get(q2, "keys")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(q2, "keys"), 0)),
                        "user:3");
    assert_true(json_is_null(json_object_get(q2, "next")) || !json_object_get(q2, "next"));
    json_t *q3 = json_object_get(reply_at(l, 19), "result");
    assert_int_equal(json_array_size(json_object_get(q3, "keys")), 0);
    assert_true(json_is_null(json_object_get(q3, "next")) || !json_object_get(q3, "next"));
    /* The dump: live keys only. */
    json_t *d = json_load_file(dump, 0, NULL);
    assert_non_null(d);
    assert_int_equal(json_object_size(d), 9);
    assert_int_equal(json_integer_value(json_object_get(d, "a")), 10);
    assert_int_equal(json_integer_value(json_object_get(d, "n")), 3);
    assert_null(json_object_get(d, "t"));
    json_decref(d);
    json_decref(l);
    kit_out_free(&r);
}

/* Concurrent delivery (async lines, as the host delivers events without
 * a key): a read-modify-write over kv_get and kv_put loses updates, and
 * kv_incr loses none. */
static void test_concurrent_events_race_a_get_put_counter_but_not_kv_incr(void **state)
{
    (void)state;
    enum { N = 40 };
    static char events[N * 2 * 80];
    size_t off = 0;
    for (int i = 0; i < 2 * N; i++)
        off += (size_t)snprintf(events + off, sizeof(events) - off,
                                "{\"event\": {\"topic\": \"%s\", \"body\": {}}, \"async\": true}\n",
                                i < N ? "count.racy" : "count.atomic");
    const char *ev = in_tmp("race.jsonl", events);
    const char *dump = in_tmp("race-dump.json", NULL);
    kit_out r;
    json_t *l = run(&r, ev, "--kv-dump", dump, NULL, NULL, NULL, NULL);
    if (r.status != 0) fail_msg("exit %d\n%s%s", r.status, r.out, r.err);
    json_t *s = kit_find(l, "summary", NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(s, "acked")), 2 * N);
    json_t *d = json_load_file(dump, 0, NULL);
    assert_non_null(d);
    json_int_t racy = json_integer_value(json_object_get(d, "racy"));
    json_int_t atomic = json_integer_value(json_object_get(d, "atomic"));
    print_message("get/put counter: %lld of %d; kv_incr: %lld of %d\n", (long long)racy, N,
                  (long long)atomic, N);
    assert_int_equal(atomic, N);
    assert_true(racy < N);
    json_decref(d);
    json_decref(l);
    kit_out_free(&r);
}

/* --kv-seed writes keys before the start; --store keeps them (and what the
 * plugin wrote) for the next run. */
static void test_seeded_store_is_kept_across_two_runs(void **state)
{
    (void)state;
    const char *seed = in_tmp("seed.json", "{\"n\": 100, \"greeting\": \"hi\"}");
    const char *ev =
        in_tmp("incr.jsonl",
               "{\"call\": {\"action\": \"incr\", \"args\": {\"key\": \"n\", \"delta\": 1}}}\n");
    char store[700];
    snprintf(store, sizeof(store), "%s/store", tmp);
    const char *dump = in_tmp("kept-dump.json", NULL);
    kit_out r;
    json_t *l = run(&r, ev, "--store", store, "--kv-seed", seed, NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(int_at(l, 1, "value"), 101);
    json_decref(l);
    kit_out_free(&r);
    l = run(&r, ev, "--store", store, "--kv-dump", dump, NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(int_at(l, 1, "value"), 102);
    json_t *d = json_load_file(dump, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(d, "greeting")), "hi");
    json_decref(d);
    json_decref(l);
    kit_out_free(&r);
    /* `agenthost check` reads the values' envelopes as intact. */
    char data[760];
    snprintf(data, sizeof(data), "%s/data", store);
    kit_runl(&r, NULL, NULL, KIT_AGENTHOST, "check", "--data", data, NULL);
    if (r.status != 0) fail_msg("check exited %d\n%s%s", r.status, r.out, r.err);
    kit_out_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_revisions_cas_increments_batches_ttl_and_pages),
        cmocka_unit_test(test_concurrent_events_race_a_get_put_counter_but_not_kv_incr),
        cmocka_unit_test(test_seeded_store_is_kept_across_two_runs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
