/*
 * The store's typed face: gets, inserts, revisioned puts, prefix scans
 * both ways with page marks, prefix deletes, and the sticky failure.
 */
#include "cmocka_pre.h"

#include "store/store.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[256];
static store *st;

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof(dir), "/tmp/ah-store-txn-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    char err[256];
    store_opts o = {.dir = dir};
    return store_open(&st, NULL, &o, err, sizeof(err));
}

static int teardown(void **s)
{
    (void)s;
    store_close(st);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

/* Keys "a:1".."a:5", "b:1", "b:2" and "c" (the KV database as scratch). */
static int apply_fill(store_txn *t, void *arg)
{
    (void)arg;
    static const char *const keys[] = {"a:1", "a:2", "a:3", "a:4", "a:5", "b:1", "b:2", "c"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        int rc = store_put(t, STORE_DB_KV, keys[i], strlen(keys[i]), keys[i], strlen(keys[i]));
        if (rc) return rc;
    }
    return 0;
}

typedef struct seen {
    char keys[16][8];
    int n, stop_at;
} seen;

static int collect(void *ud, store_val k, store_val v)
{
    seen *s = ud;
    assert_int_equal(k.len, v.len); /* the value is the key */
    snprintf(s->keys[s->n], sizeof(s->keys[0]), "%.*s", (int)k.len, (const char *)k.data);
    return ++s->n == s->stop_at ? 1 : 0;
}

static seen scan(const char *prefix, const char *after, unsigned flags, int stop_at)
{
    seen s = {.stop_at = stop_at};
    store_txn *t;
    assert_int_equal(store_read_begin(st, &t), 0);
    assert_int_equal(store_scan(t, STORE_DB_KV, prefix, prefix ? strlen(prefix) : 0, after,
                                after ? strlen(after) : 0, flags, collect, &s),
                     0);
    store_read_end(st, t);
    return s;
}

static void test_prefix_scans_page_forwards_and_backwards(void **state)
{
    (void)state;
    assert_int_equal(store_write_now(st, apply_fill, NULL), 0);
    seen s = scan("a:", NULL, 0, 0);
    assert_int_equal(s.n, 5);
    assert_string_equal(s.keys[0], "a:1");
    assert_string_equal(s.keys[4], "a:5");
    /* A page of two, then the next from its last key. */
    s = scan("a:", NULL, 0, 2);
    assert_int_equal(s.n, 2);
    s = scan("a:", s.keys[1], 0, 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.keys[0], "a:3");
    /* Backwards: from the prefix's last key, and strictly before a mark. */
    s = scan("a:", NULL, STORE_SCAN_REVERSE, 0);
    assert_int_equal(s.n, 5);
    assert_string_equal(s.keys[0], "a:5");
    assert_string_equal(s.keys[4], "a:1");
    s = scan("a:", "a:3", STORE_SCAN_REVERSE, 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.keys[0], "a:2");
    s = scan("b:", NULL, STORE_SCAN_REVERSE, 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.keys[0], "b:2");
    /* The last range of the database, the whole of it, and an empty one. */
    assert_int_equal(scan("c", NULL, STORE_SCAN_REVERSE, 0).n, 1);
    assert_int_equal(scan(NULL, NULL, 0, 0).n, 8);
    assert_string_equal(scan(NULL, NULL, STORE_SCAN_REVERSE, 0).keys[0], "c");
    assert_int_equal(scan("zz", NULL, 0, 0).n, 0);
    assert_int_equal(scan("zz", NULL, STORE_SCAN_REVERSE, 0).n, 0);
    /* A mark before the range starts at the range. */
    assert_int_equal(scan("b:", "a:9", 0, 0).n, 2);
}

static int apply_del_a(store_txn *t, void *arg)
{
    return store_del_prefix(t, STORE_DB_KV, "a:", 2, arg);
}

static void test_a_prefix_delete_removes_exactly_its_range(void **state)
{
    (void)state;
    size_t n = 0;
    assert_int_equal(store_write_now(st, apply_del_a, &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(scan(NULL, NULL, 0, 0).n, 3);
    assert_string_equal(scan(NULL, NULL, 0, 0).keys[0], "b:1");
}

typedef struct rev_op {
    uint64_t expect, rev;
    const char *val;
} rev_op;

static int apply_rev(store_txn *t, void *arg)
{
    rev_op *o = arg;
    return store_put_rev(t, STORE_DB_DOCS, "doc", 3, o->val, strlen(o->val), o->expect, &o->rev);
}

static void test_revisioned_puts_refuse_a_stale_revision(void **state)
{
    (void)state;
    rev_op o = {.expect = 1, .val = "x"};
    assert_int_equal(store_write_now(st, apply_rev, &o), AH_ENOTFOUND);
    o = (rev_op){.expect = 0, .val = "first"};
    assert_int_equal(store_write_now(st, apply_rev, &o), 0);
    assert_int_equal(o.rev, 1);
    o = (rev_op){.expect = 0, .val = "again"};
    assert_int_equal(store_write_now(st, apply_rev, &o), AH_EEXIST);
    o = (rev_op){.expect = 1, .val = "second"};
    assert_int_equal(store_write_now(st, apply_rev, &o), 0);
    assert_int_equal(o.rev, 2);
    o = (rev_op){.expect = 1, .val = "lost update"};
    assert_int_equal(store_write_now(st, apply_rev, &o), AH_ECONFLICT);
    o = (rev_op){.expect = STORE_REV_ANY, .val = "forced"};
    assert_int_equal(store_write_now(st, apply_rev, &o), 0);
    assert_int_equal(o.rev, 3);
    store_txn *t;
    store_val v;
    uint64_t rev = 0;
    assert_int_equal(store_read_begin(st, &t), 0);
    assert_int_equal(store_get_rev(t, STORE_DB_DOCS, "doc", 3, &v, &rev), 0);
    assert_int_equal(rev, 3);
    assert_int_equal(v.len, 6);
    assert_memory_equal(v.data, "forced", 6);
    /* A read transaction cannot write. */
    assert_int_equal(store_put(t, STORE_DB_DOCS, "k", 1, "v", 1), AH_EINVAL);
    store_read_end(st, t);
}

static int apply_insert_twice(store_txn *t, void *arg)
{
    (void)arg;
    int rc = store_insert(t, STORE_DB_KV, "once", 4, "1", 1);
    if (rc) return rc;
    return store_insert(t, STORE_DB_KV, "once", 4, "2", 1);
}

static char big_key[600];

static int apply_bad_key(store_txn *t, void *arg)
{
    (void)arg;
    memset(big_key, 'k', sizeof(big_key));
    return store_put(t, STORE_DB_KV, big_key, sizeof(big_key), "v", 1);
}

/* An insert over an existing key fails its write alone, and nothing of it
 * stays; a key past LMDB's limit is refused, not a batch failure. */
static void test_inserts_refuse_existing_keys_and_keys_too_long(void **state)
{
    (void)state;
    assert_int_equal(store_write_now(st, apply_insert_twice, NULL), AH_EEXIST);
    store_txn *t;
    store_val v;
    assert_int_equal(store_read_begin(st, &t), 0);
    assert_int_equal(store_get(t, STORE_DB_KV, "once", 4, &v), AH_ENOTFOUND);
    store_read_end(st, t);
    assert_int_equal(store_write_now(st, apply_bad_key, NULL), AH_ETOOBIG);
    assert_int_equal(store_health(st), 0);
}

static int never(void *ud, store_val k, store_val v)
{
    (void)ud;
    (void)k;
    (void)v;
    fail_msg("a refused scan visited a record");
    return 1;
}

/* The errors store.h lists for a read transaction and for keys out of
 * range, as the header names them. */
static void test_reads_refuse_writes_and_keys_out_of_range_with_the_listed_codes(void **state)
{
    (void)state;
    static const char long_key[600] = {'k'};
    store_txn *t;
    store_val v;
    uint64_t rev;
    size_t n;
    assert_int_equal(store_read_begin(st, &t), 0);
    assert_int_equal(store_get(t, STORE_DB_KV, "", 0, &v), AH_ENOTFOUND);
    assert_int_equal(store_get(t, STORE_DB_KV, long_key, sizeof(long_key), &v), AH_ENOTFOUND);
    assert_int_equal(store_put(t, STORE_DB_KV, "k", 1, "v", 1), AH_EINVAL);
    assert_int_equal(store_insert(t, STORE_DB_KV, "k", 1, "v", 1), AH_EINVAL);
    assert_int_equal(store_del(t, STORE_DB_KV, "k", 1), AH_EINVAL);
    assert_int_equal(store_del_prefix(t, STORE_DB_KV, "k", 1, &n), AH_EINVAL);
    assert_int_equal(store_put_rev(t, STORE_DB_KV, "k", 1, "v", 1, 0, &rev), AH_EINVAL);
    assert_int_equal(
        store_scan(t, STORE_DB_KV, long_key, sizeof(long_key), NULL, 0, 0, never, NULL), AH_EINVAL);
    assert_int_equal(
        store_scan(t, STORE_DB_KV, NULL, 0, long_key, sizeof(long_key), 0, never, NULL), AH_EINVAL);
    store_read_end(st, t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix_scans_page_forwards_and_backwards),
        cmocka_unit_test(test_a_prefix_delete_removes_exactly_its_range),
        cmocka_unit_test(test_revisioned_puts_refuse_a_stale_revision),
        cmocka_unit_test(test_inserts_refuse_existing_keys_and_keys_too_long),
        cmocka_unit_test(test_reads_refuse_writes_and_keys_out_of_range_with_the_listed_codes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
