/*
 * The store's flush order (ADR 0022), counted at the system calls: this
 * executable defines fdatasync, pwrite and pwrite64 (exported, so LMDB's
 * calls land here first) and counts data flushes, meta-page writes and
 * writes through an O_DSYNC descriptor, in the order they happen.
 *
 * Two writes are made to land in two consecutive commits (each apply waits
 * for the test), so the second commit's data flush must carry the first
 * commit's meta page: two commits, three flushes (the last one explicit,
 * no third batch following), none through O_DSYNC; and no write is
 * answered, nor visible to the loop's reads, before a flush that began
 * after its commit's meta page was written has returned.
 */
#include "cmocka_pre.h"

#include "store/store.h"

#include <agenthost/plugin.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* ---- the counting layer ----------------------------------------------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int counting;
static unsigned long step;
static unsigned long meta_step[64]; /* step of each meta-page write, 1-based */
static int metas;                   /* meta pages written */
static int flushed_metas;           /* meta pages a completed flush began after */
static int syncs;                   /* fdatasync calls returned */
static int dsync_writes;            /* writes through an O_DSYNC descriptor */

static bool is_dsync(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & (O_DSYNC | O_SYNC));
}

static void note_write(int fd, off_t off, ssize_t rc)
{
    if (!counting || rc <= 0) return;
    pthread_mutex_lock(&mu);
    step++;
    if (is_dsync(fd)) dsync_writes++;
    if (off >= 0 && off < 2 * 4096 && metas < 63) meta_step[++metas] = step;
    pthread_mutex_unlock(&mu);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    ssize_t rc = real(fd, buf, n, off);
    note_write(fd, off, rc);
    return rc;
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite64");
    ssize_t rc = real(fd, buf, n, off);
    note_write(fd, off, rc);
    return rc;
}

int fdatasync(int fd)
{
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    pthread_mutex_lock(&mu);
    unsigned long started = ++step;
    pthread_mutex_unlock(&mu);
    int rc = real(fd);
    if (counting && rc == 0) {
        pthread_mutex_lock(&mu);
        syncs++;
        while (flushed_metas < metas && meta_step[flushed_metas + 1] < started)
            flushed_metas++;
        pthread_mutex_unlock(&mu);
    }
    return rc;
}

static int snap(int *v)
{
    pthread_mutex_lock(&mu);
    int x = *v;
    pthread_mutex_unlock(&mu);
    return x;
}

/* ---- writes that wait for the test inside their apply ------------------------- */

typedef struct gated {
    const char *key;
    _Atomic int entered, open;
    int done, status;
    int flushed_at_done; /* meta pages flushed when done ran */
    int metas_at_done;
} gated;

static int apply_gated(store_txn *txn, void *arg)
{
    gated *g = arg;
    g->entered = 1;
    while (!g->open) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return store_put(txn, STORE_DB_KV, g->key, strlen(g->key), "v", 1);
}

static void done_gated(int status, void *arg)
{
    gated *g = arg;
    g->status = status;
    g->done++;
    g->flushed_at_done = snap(&flushed_metas);
    g->metas_at_done = snap(&metas);
}

static bool visible(store *st, const char *key)
{
    store_txn *txn;
    assert_int_equal(store_read_begin(st, &txn), 0);
    store_val v;
    int rc = store_get(txn, STORE_DB_KV, key, strlen(key), &v);
    store_read_end(st, txn);
    return rc == 0;
}

static void spin_until(ah_loop *l, _Atomic int *flag)
{
    for (int i = 0; i < 20000 && !*flag; i++) {
        uv_run(loop_uv(l), UV_RUN_NOWAIT);
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
    }
    assert_true(*flag);
}

static void
test_two_commits_cost_three_flushes_and_nothing_is_answered_or_read_before_its_meta_flush(void **s)
{
    (void)s;
    char dir[] = "/tmp/ah-storeflush-XXXXXX";
    assert_non_null(mkdtemp(dir));
    ah_loop *l;
    store *st;
    char err[256];
    assert_int_equal(loop_new(&l), 0);
    store_opts o = {.dir = dir};
    assert_int_equal(store_open(&st, l, &o, err, sizeof(err)), 0);
    counting = 1;

    gated a = {.key = "a"}, b = {.key = "b"};
    assert_int_equal(store_write(st, apply_gated, done_gated, &a), 0);
    spin_until(l, &a.entered); /* the writer is inside commit 1 */
    assert_int_equal(store_write(st, apply_gated, done_gated, &b), 0);
    uv_run(loop_uv(l), UV_RUN_NOWAIT); /* handed to the writer, behind commit 1 */
    a.open = 1;
    spin_until(l, &b.entered); /* commit 1 returned: pages flushed, meta written */
    assert_int_equal(snap(&metas), 1);
    assert_int_equal(snap(&syncs), 1);
    assert_int_equal(snap(&flushed_metas), 0);
    for (int i = 0; i < 20; i++)
        uv_run(loop_uv(l), UV_RUN_NOWAIT);
    assert_int_equal(a.done, 0);    /* not answered ... */
    assert_false(visible(st, "a")); /* ... nor readable */
    b.open = 1;
    for (int i = 0; i < 100000 && !(a.done && b.done); i++)
        uv_run(loop_uv(l), UV_RUN_ONCE);
    assert_int_equal(a.done, 1);
    assert_int_equal(b.done, 1);
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, 0);
    /* Each was answered only once a flush begun after its meta page returned. */
    assert_true(a.flushed_at_done >= 1);
    assert_true(b.flushed_at_done >= 2);
    assert_true(visible(st, "a"));
    assert_true(visible(st, "b"));
    /* Two commits: their two data flushes and one explicit flush of the last
     * meta page; nothing written through O_DSYNC. */
    assert_int_equal(snap(&metas), 2);
    assert_int_equal(snap(&syncs), 3);
    assert_int_equal(snap(&dsync_writes), 0);
    store_stats stt;
    store_get_stats(st, &stt);
    assert_int_equal(stt.commits, 2);
    assert_int_equal(stt.syncs, 1);
    counting = 0;
    store_close(st);
    loop_free(l);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_a_lone_write_is_answered_after_its_own_two_flushes(void **s)
{
    (void)s;
    char dir[] = "/tmp/ah-storeflush-XXXXXX";
    assert_non_null(mkdtemp(dir));
    ah_loop *l;
    store *st;
    char err[256];
    assert_int_equal(loop_new(&l), 0);
    store_opts o = {.dir = dir};
    assert_int_equal(store_open(&st, l, &o, err, sizeof(err)), 0);
    pthread_mutex_lock(&mu);
    metas = flushed_metas = syncs = dsync_writes = 0;
    pthread_mutex_unlock(&mu);
    counting = 1;
    gated a = {.key = "a", .open = 1};
    assert_int_equal(store_write(st, apply_gated, done_gated, &a), 0);
    for (int i = 0; i < 100000 && !a.done; i++)
        uv_run(loop_uv(l), UV_RUN_ONCE);
    assert_int_equal(a.status, 0);
    assert_int_equal(a.metas_at_done, 1);
    assert_int_equal(a.flushed_at_done, 1);
    assert_int_equal(snap(&syncs), 2);
    assert_int_equal(snap(&dsync_writes), 0);
    counting = 0;
    store_close(st);
    loop_free(l);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_two_commits_cost_three_flushes_and_nothing_is_answered_or_read_before_its_meta_flush),
        cmocka_unit_test(test_a_lone_write_is_answered_after_its_own_two_flushes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
