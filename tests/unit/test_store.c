#include "cmocka_pre.h"

#include "store/store.h"

#include <agenthost/plugin.h>

#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256];

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof(dir), "/tmp/ah-store-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

typedef struct put {
    store *st;
    char key[32];
    size_t vlen;
    int status;
    int done;
    int fail_with; /* apply returns this (an op-level refusal) */
} put;

static int apply_put(store_txn *txn, void *arg)
{
    put *p = arg;
    if (p->fail_with) return p->fail_with;
    char *v = malloc(p->vlen ? p->vlen : 1);
    if (!v) return AH_ENOMEM;
    memset(v, 'v', p->vlen);
    int rc = store_put(txn, STORE_DB_KV, p->key, strlen(p->key), v, p->vlen);
    free(v);
    return rc;
}

static void done_put(int status, void *arg)
{
    put *p = arg;
    p->status = status;
    p->done++;
}

static int get_len(store *st, const char *key)
{
    store_txn *txn;
    assert_int_equal(store_read_begin(st, &txn), 0);
    store_val v;
    int rc = store_get(txn, STORE_DB_KV, key, strlen(key), &v);
    store_read_end(st, txn);
    return rc == 0 ? (int)v.len : -1;
}

static void run_until_done(ah_loop *l, put *ps, int n)
{
    for (int spins = 0; spins < 100000; spins++) {
        int pending = 0;
        for (int i = 0; i < n; i++)
            pending += !ps[i].done;
        if (!pending) return;
        uv_run(loop_uv(l), UV_RUN_ONCE);
    }
    fail_msg("writes never completed");
}

static void test_writes_of_one_tick_share_one_commit(void **s)
{
    (void)s;
    ah_loop *l;
    store *st;
    char err[256];
    assert_int_equal(loop_new(&l), 0);
    store_opts o = {.dir = dir};
    assert_int_equal(store_open(&st, l, &o, err, sizeof(err)), 0);
    enum { N = 1000 };
    put *ps = calloc(N, sizeof(put));
    for (int i = 0; i < N; i++) {
        ps[i].st = st;
        snprintf(ps[i].key, sizeof(ps[i].key), "k%04d", i);
        ps[i].vlen = 100;
        assert_int_equal(store_write(st, apply_put, done_put, &ps[i]), 0);
    }
    /* Nothing is answered before the commit. */
    for (int i = 0; i < N; i++)
        assert_int_equal(ps[i].done, 0);
    run_until_done(l, ps, N);
    store_stats stats;
    store_get_stats(st, &stats);
    assert_int_equal(stats.commits, 1);
    assert_int_equal(stats.writes, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(ps[i].status, 0);
        assert_int_equal(ps[i].done, 1);
    }
    assert_int_equal(get_len(st, "k0999"), 100);
    store_close(st);
    loop_free(l);
    free(ps);
}

static void test_a_refused_write_fails_alone(void **s)
{
    (void)s;
    ah_loop *l;
    store *st;
    char err[256];
    loop_new(&l);
    store_opts o = {.dir = dir};
    assert_int_equal(store_open(&st, l, &o, err, sizeof(err)), 0);
    put ps[3] = {{.st = st, .key = "a", .vlen = 1},
                 {.st = st, .key = "b", .vlen = 1, .fail_with = AH_EINVAL},
                 {.st = st, .key = "c", .vlen = 1}};
    for (int i = 0; i < 3; i++)
        store_write(st, apply_put, done_put, &ps[i]);
    run_until_done(l, ps, 3);
    assert_int_equal(ps[0].status, 0);
    assert_int_equal(ps[1].status, AH_EINVAL);
    assert_int_equal(ps[2].status, 0);
    assert_int_equal(get_len(st, "a"), 1);
    assert_int_equal(get_len(st, "b"), -1);
    assert_int_equal(get_len(st, "c"), 1);
    store_close(st);
    loop_free(l);
}

/* A CLI command (another process) commits while the host runs: the host's
 * next read sees it, even right after a batch of the host's own that wrote
 * nothing (a refused write: LMDB gives the next commit, the other
 * process's, the transaction id that empty batch had begun). */
static void test_another_process_commit_is_seen_after_an_empty_batch(void **s)
{
    (void)s;
    char sub[300], err[256];
    snprintf(sub, sizeof(sub), "%s/cli", dir);
    ah_loop *l;
    store *st;
    loop_new(&l);
    store_opts o = {.dir = sub};
    assert_int_equal(store_open(&st, l, &o, err, sizeof(err)), 0);
    put ps[2] = {{.st = st, .key = "host", .vlen = 3},
                 {.st = st, .key = "refused", .vlen = 1, .fail_with = AH_EINVAL}};
    store_write(st, apply_put, done_put, &ps[0]);
    run_until_done(l, ps, 1);
    store_write(st, apply_put, done_put, &ps[1]);
    run_until_done(l, ps + 1, 1);
    assert_int_equal(ps[1].status, AH_EINVAL);
    assert_int_equal(get_len(st, "host"), 3);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        store *cli;
        if (store_open(&cli, NULL, &o, err, sizeof(err)) != 0) _exit(2);
        put p = {.st = cli, .key = "from-cli", .vlen = 7};
        int rc = store_write_now(cli, apply_put, &p);
        store_close(cli);
        _exit(rc == 0 ? 0 : 3);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(get_len(st, "from-cli"), 7);
    assert_int_equal(get_len(st, "host"), 3);
    store_close(st);
    loop_free(l);
}

static void test_map_grows_then_fills_with_a_clear_error_and_recovers(void **s)
{
    (void)s;
    char sub[300];
    snprintf(sub, sizeof(sub), "%s/small", dir);
    store *st;
    char err[256];
    store_opts o = {.dir = sub, .map_size = 1 << 20, .max_map_size = 8 << 20};
    assert_int_equal(store_open(&st, NULL, &o, err, sizeof(err)), 0);
    /* Grows past the initial 1 MiB. */
    put p = {.st = st, .key = "big1", .vlen = 3 << 20};
    store_write(st, apply_put, done_put, &p);
    assert_int_equal(p.status, 0);
    store_stats stats;
    store_get_stats(st, &stats);
    assert_true(stats.map_size > (1u << 20));
    /* Then fills at the 8 MiB maximum. */
    int i, last = 0;
    for (i = 0; i < 10 && last == 0; i++) {
        put q = {.st = st, .vlen = 2 << 20};
        snprintf(q.key, sizeof(q.key), "more%d", i);
        store_write(st, apply_put, done_put, &q);
        last = q.status;
    }
    assert_int_equal(last, AH_ENOSPC);
    assert_non_null(strstr(store_last_error(st), "map full"));
    /* What was written is intact. */
    assert_int_equal(get_len(st, "big1"), 3 << 20);
    store_close(st);
    /* Reopening works, and after freeing space writes succeed again. */
    assert_int_equal(store_open(&st, NULL, &o, err, sizeof(err)), 0);
    assert_int_equal(get_len(st, "big1"), 3 << 20);
    put small = {.st = st, .key = "small", .vlen = 10};
    store_write(st, apply_put, done_put, &small);
    assert_int_equal(small.status, 0);
    store_close(st);
}

static void write_file(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
}

static void test_foreign_and_corrupt_files_are_refused(void **s)
{
    (void)s;
    char sub[300], path[400], err[512];
    store *st;
    /* Random bytes. */
    snprintf(sub, sizeof(sub), "%s/garbage", dir);
    mkdir(sub, 0700);
    snprintf(path, sizeof(path), "%s/data.mdb", sub);
    char junk[65536];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (char)(i * 131 + 17);
    write_file(path, junk, sizeof(junk));
    store_opts o = {.dir = sub};
    assert_true(store_open(&st, NULL, &o, err, sizeof(err)) != 0);
    assert_non_null(strstr(err, "data.mdb"));
    /* Truncated. */
    write_file(path, junk, 100);
    assert_true(store_open(&st, NULL, &o, err, sizeof(err)) != 0);
    assert_non_null(strstr(err, "truncated"));
    /* A real LMDB file that is not ours. */
    snprintf(sub, sizeof(sub), "%s/foreign", dir);
    mkdir(sub, 0700);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    mdb_env_create(&env);
    assert_int_equal(mdb_env_open(env, sub, 0, 0600), 0);
    mdb_txn_begin(env, NULL, 0, &txn);
    mdb_dbi_open(txn, NULL, 0, &dbi);
    MDB_val k = {3, "foo"}, v = {3, "bar"};
    mdb_put(txn, dbi, &k, &v, 0);
    mdb_txn_commit(txn);
    mdb_env_close(env);
    o.dir = sub;
    assert_true(store_open(&st, NULL, &o, err, sizeof(err)) != 0);
    assert_non_null(strstr(err, "not an agenthost store"));
    /* The foreign file was not touched. */
    mdb_env_create(&env);
    mdb_env_open(env, sub, MDB_RDONLY, 0600);
    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    mdb_dbi_open(txn, NULL, 0, &dbi);
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writes_of_one_tick_share_one_commit),
        cmocka_unit_test(test_a_refused_write_fails_alone),
        cmocka_unit_test(test_another_process_commit_is_seen_after_an_empty_batch),
        cmocka_unit_test(test_map_grows_then_fills_with_a_clear_error_and_recovers),
        cmocka_unit_test(test_foreign_and_corrupt_files_are_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
