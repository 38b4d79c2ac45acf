/*
 * The writer's pipeline (ADR 0056): the writes of one loop pass reach the
 * writer thread in parts while the pass still runs, and are applied there
 * in one open transaction; the pass's end seals the batch and only then is
 * it committed. These tests stop the writer inside an apply (a gate the
 * test opens) to put a second batch in the hand-off while the first one
 * commits, then check that no batch is reordered, lost, committed twice or
 * merged with the next, and that a failed batch fails exactly its writes.
 */
#include "cmocka_pre.h"

#include "store/store.h"

#include <agenthost/plugin.h>

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char dir[256];

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof(dir), "/tmp/ah-store-pipe-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

/* ---- writes that record their applies ------------------------------------------ */

enum { N = 200 }; /* per batch: more than three parts of the hand-off */

static _Atomic int applies;       /* every apply, in the order they ran */
static int order[4 * N];          /* key index of each apply, by applies */
static _Atomic bool gate_entered; /* the gated write's apply has begun */
static _Atomic bool gate_open;    /* the test lets it go on */

typedef struct put {
    int idx;       /* key "k%04d" */
    int fail_with; /* apply returns this (<0: a refusal, >0: LMDB's code) */
    bool gated;    /* apply waits for gate_open first */
    int applied;   /* applies of this write (writer thread) */
    int status;
    int done;
} put;

static void pause_ms(int ms)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = ms * 1000000L};
    nanosleep(&ts, NULL);
}

static int apply_put(store_txn *txn, void *arg)
{
    put *p = arg;
    int at = atomic_fetch_add(&applies, 1);
    if (at < 4 * N) order[at] = p->idx;
    p->applied++;
    if (p->gated) {
        atomic_store(&gate_entered, true);
        for (int i = 0; i < 20000 && !atomic_load(&gate_open); i++)
            pause_ms(1);
    }
    if (p->fail_with) return p->fail_with;
    char key[16], val[8];
    snprintf(key, sizeof(key), "k%04d", p->idx);
    memset(val, 'v', sizeof(val));
    return store_put(txn, STORE_DB_KV, key, strlen(key), val, sizeof(val));
}

static void done_put(int status, void *arg)
{
    put *p = arg;
    p->status = status;
    p->done++;
}

static bool stored(store *st, int idx)
{
    char key[16];
    snprintf(key, sizeof(key), "k%04d", idx);
    store_txn *txn;
    assert_int_equal(store_read_begin(st, &txn), 0);
    store_val v;
    int rc = store_get(txn, STORE_DB_KV, key, strlen(key), &v);
    store_read_end(st, txn);
    return rc == 0;
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

/* Wait (bounded) until cond holds, the writer thread working meanwhile. */
static bool wait_for(bool (*cond)(void))
{
    for (int i = 0; i < 20000; i++) {
        if (cond()) return true;
        pause_ms(1);
    }
    return cond();
}

static bool two_parts_applied(void)
{
    return atomic_load(&applies) >= 128;
}

static bool gate_reached(void)
{
    return atomic_load(&gate_entered);
}

typedef struct fixture {
    ah_loop *l;
    store *st;
    put *ps; /* 2 * N: batch A is 0..N-1, batch B N..2N-1 */
} fixture;

static void open_fixture(fixture *f)
{
    char err[256];
    atomic_store(&applies, 0);
    atomic_store(&gate_entered, false);
    atomic_store(&gate_open, false);
    assert_int_equal(loop_new(&f->l), 0);
    store_opts o = {.dir = dir};
    assert_int_equal(store_open(&f->st, f->l, &o, err, sizeof(err)), 0);
    f->ps = calloc(2 * N, sizeof(put));
    for (int i = 0; i < 2 * N; i++)
        f->ps[i].idx = i;
}

static void close_fixture(fixture *f)
{
    store_close(f->st);
    loop_free(f->l);
    free(f->ps);
}

static void queue(fixture *f, int from, int to)
{
    for (int i = from; i < to; i++)
        assert_int_equal(store_write(f->st, apply_put, done_put, &f->ps[i]), 0);
}

/* Batch A queued (its last write gated), its pass ended, the writer held
 * in A's last apply; then batch B queued and its pass ended: B waits in
 * the hand-off while A commits. */
static void two_batches_in_flight(fixture *f)
{
    f->ps[N - 1].gated = true;
    queue(f, 0, N);
    uv_run(loop_uv(f->l), UV_RUN_NOWAIT); /* the pass ends: A sealed */
    assert_true(wait_for(gate_reached));
    queue(f, N, 2 * N);
    uv_run(loop_uv(f->l), UV_RUN_NOWAIT); /* B sealed, A still open */
    for (int i = 0; i < 2 * N; i++)
        assert_int_equal(f->ps[i].done, 0);
    atomic_store(&gate_open, true);
    run_until_done(f->l, f->ps, 2 * N);
}

/* B's writes: applied once each, in the order queued, after all of A's. */
static void assert_b_applied_once_in_order(fixture *f, int first_b_apply)
{
    for (int i = N; i < 2 * N; i++)
        assert_int_equal(f->ps[i].applied, 1);
    for (int k = 0; k < N; k++)
        assert_int_equal(order[first_b_apply + k], N + k);
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_a_pass_is_applied_in_parts_before_it_ends_and_committed_once(void **s)
{
    (void)s;
    fixture f;
    open_fixture(&f);
    queue(&f, 0, N);
    /* The loop has not run: the pass has not ended, yet the writer has
     * applied its first parts (the pipelining: without it, nothing is
     * applied before the hand-off at the pass's end). */
    assert_true(wait_for(two_parts_applied));
    store_stats stats;
    store_get_stats(f.st, &stats);
    assert_int_equal(stats.commits, 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(f.ps[i].done, 0);
    run_until_done(f.l, f.ps, N);
    store_get_stats(f.st, &stats);
    assert_int_equal(stats.commits, 1);
    assert_int_equal(stats.writes, N);
    assert_int_equal(atomic_load(&applies), N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(f.ps[i].status, 0);
        assert_int_equal(f.ps[i].applied, 1);
        assert_int_equal(order[i], i);
        assert_true(stored(f.st, i));
    }
    close_fixture(&f);
}

static void test_a_batch_failing_while_the_next_waits_fails_only_its_own_writes(void **s)
{
    (void)s;
    fixture f;
    open_fixture(&f);
    f.ps[N - 1].fail_with = MDB_TXN_FULL; /* the whole batch A fails */
    two_batches_in_flight(&f);
    for (int i = 0; i < N; i++) {
        assert_int_not_equal(f.ps[i].status, 0);
        assert_int_equal(f.ps[i].done, 1);
        assert_false(stored(f.st, i));
    }
    for (int i = N; i < 2 * N; i++) {
        assert_int_equal(f.ps[i].status, 0);
        assert_int_equal(f.ps[i].done, 1);
        assert_true(stored(f.st, i));
    }
    /* A was applied once and not retried; B once, after it, in order. */
    for (int i = 0; i < N; i++)
        assert_int_equal(f.ps[i].applied, 1);
    assert_int_equal(atomic_load(&applies), 2 * N);
    assert_b_applied_once_in_order(&f, N);
    store_stats stats;
    store_get_stats(f.st, &stats);
    assert_int_equal(stats.commits, 1); /* B alone: not merged into A's failure */
    assert_int_equal(stats.writes, N);
    assert_int_equal(stats.failed_writes, N);
    close_fixture(&f);
}

static void test_a_refusal_in_a_streamed_batch_while_the_next_waits_fails_alone(void **s)
{
    (void)s;
    fixture f;
    open_fixture(&f);
    f.ps[N - 1].fail_with = AH_EINVAL; /* refuses itself: A is run again without it */
    two_batches_in_flight(&f);
    for (int i = 0; i < 2 * N; i++) {
        assert_int_equal(f.ps[i].done, 1);
        assert_int_equal(f.ps[i].status, i == N - 1 ? AH_EINVAL : 0);
        assert_int_equal(stored(f.st, i), i != N - 1);
    }
    /* A: applied in parts, then once more from scratch without the
     * refused write; B once, after all of that, in order. */
    for (int i = 0; i < N; i++)
        assert_int_equal(f.ps[i].applied, i == N - 1 ? 1 : 2);
    for (int k = 0; k < N - 1; k++)
        assert_int_equal(order[N + k], k);
    assert_int_equal(atomic_load(&applies), 3 * N - 1);
    assert_b_applied_once_in_order(&f, 2 * N - 1);
    store_stats stats;
    store_get_stats(f.st, &stats);
    assert_int_equal(stats.commits, 2); /* A, then B: one pass, one commit */
    assert_int_equal(stats.writes, 2 * N - 1);
    close_fixture(&f);
}

static bool z_a_and_b_parts_applied(void)
{
    return atomic_load(&applies) >= 1 + N + 192;
}

/* The writer is held in a lone write Z while pass A ends (sealed) and
 * pass B's first parts queue behind A in the hand-off, B not yet ended.
 * A must commit alone: B's last write fails the whole of B, none of A. */
static void test_a_sealed_batch_commits_without_the_next_pass_parts_behind_it(void **s)
{
    (void)s;
    fixture f;
    open_fixture(&f);
    put z = {.idx = 3 * N, .gated = true};
    assert_int_equal(store_write(f.st, apply_put, done_put, &z), 0);
    uv_run(loop_uv(f.l), UV_RUN_NOWAIT); /* Z sealed */
    assert_true(wait_for(gate_reached));
    queue(&f, 0, N);
    uv_run(loop_uv(f.l), UV_RUN_NOWAIT); /* A sealed behind Z */
    f.ps[2 * N - 1].fail_with = MDB_TXN_FULL;
    queue(&f, N, 2 * N); /* B: three parts handed over, its pass not ended */
    atomic_store(&gate_open, true);
    assert_true(wait_for(z_a_and_b_parts_applied));
    run_until_done(f.l, f.ps, 2 * N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(f.ps[i].status, 0);
        assert_true(stored(f.st, i));
    }
    for (int i = N; i < 2 * N; i++) {
        assert_int_not_equal(f.ps[i].status, 0);
        assert_false(stored(f.st, i));
    }
    assert_int_equal(z.status, 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(order[1 + i], i);
    store_stats stats;
    store_get_stats(f.st, &stats);
    assert_int_equal(stats.commits, 2); /* Z, A */
    close_fixture(&f);
}

/* A synchronous write (store_write_now) in the middle of a pass whose
 * first parts the writer holds open: it ends that batch first (else both
 * would wait for each other's write lock), and everything is committed. */
static void test_a_write_now_in_the_middle_of_a_pass_seals_the_open_batch(void **s)
{
    (void)s;
    fixture f;
    open_fixture(&f);
    queue(&f, 0, N);
    assert_true(wait_for(two_parts_applied));
    put now = {.idx = 2 * N};
    assert_int_equal(store_write_now(f.st, apply_put, &now), 0);
    /* The parts handed over before it are committed with it or before. */
    store_stats stats;
    store_get_stats(f.st, &stats);
    assert_true(stats.commits >= 2);
    queue(&f, N, 2 * N);
    run_until_done(f.l, f.ps, 2 * N);
    for (int i = 0; i < 2 * N; i++) {
        assert_int_equal(f.ps[i].status, 0);
        assert_int_equal(f.ps[i].applied, 1);
        assert_true(stored(f.st, i));
    }
    assert_true(stored(f.st, 2 * N));
    for (int i = 0; i < 2 * N; i++)
        assert_int_equal(order[i < N ? i : i + 1], i);
    close_fixture(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_a_pass_is_applied_in_parts_before_it_ends_and_committed_once, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_batch_failing_while_the_next_waits_fails_only_its_own_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_refusal_in_a_streamed_batch_while_the_next_waits_fails_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_sealed_batch_commits_without_the_next_pass_parts_behind_it, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_write_now_in_the_middle_of_a_pass_seals_the_open_batch, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
