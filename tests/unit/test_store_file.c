/* The store's data file before LMDB maps it: the meta-page reader, and the
 * files store_open refuses (empty, truncated, damaged metas) or accepts
 * (a file whose pages past its end are all free). */
#include "cmocka_pre.h"

#include "store/store.h"
#include "store/store_lmdb.h"
#include "store/store_file.h"

#include <agenthost/plugin.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];
static int seq;

static int setup(void **s)
{
    (void)s;
    snprintf(root, sizeof(root), "/tmp/ah-store-file-XXXXXX");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    return system(cmd);
}

/* A new data directory under root. */
static void new_dir(char *out, size_t len)
{
    snprintf(out, len, "%s/d%d", root, ++seq);
}

typedef struct fill {
    store *st;
    int from, n;
    size_t vlen;
} fill;

static int apply_fill(store_txn *stx, void *arg)
{
    MDB_txn *txn = store_lmdb_txn(stx);
    fill *f = arg;
    for (int i = f->from; i < f->from + f->n; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%06d", i);
        MDB_val k = {strlen(key), key}, v = {f->vlen, NULL};
        int rc = mdb_put(txn, store_dbi(f->st, STORE_DB_KV), &k, &v, MDB_RESERVE);
        if (rc) return rc;
        memset(v.mv_data, 'v', f->vlen);
    }
    return 0;
}

/* A store in dir holding n records of vlen bytes, closed. */
static void make_store(const char *dir, int n, size_t vlen)
{
    store *st;
    char err[512];
    store_opts o = {.dir = dir};
    assert_int_equal(store_open(&st, NULL, &o, err, sizeof(err)), 0);
    fill f = {.st = st, .n = n, .vlen = vlen};
    if (n) assert_int_equal(store_write_now(st, apply_fill, &f), 0);
    store_close(st);
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void read_page(const char *path, off_t off, uint8_t *buf, size_t n)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, n, off), (ssize_t)n);
    close(fd);
}

static void scribble(const char *path, off_t off, size_t n)
{
    uint8_t junk[256];
    memset(junk, 0x5a, sizeof(junk));
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, junk, n, off), (ssize_t)n);
    close(fd);
}

static void env_info(const char *dir, MDB_envinfo *info, MDB_stat *st)
{
    MDB_env *env;
    mdb_env_create(&env);
    assert_int_equal(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
    mdb_env_info(env, info);
    mdb_env_stat(env, st);
    mdb_env_close(env);
}

static void test_meta_pages_read_as_lmdb_reads_them(void **s)
{
    (void)s;
    char dir[300], path[400];
    new_dir(dir, sizeof(dir));
    make_store(dir, 300, 200);
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    MDB_envinfo info;
    MDB_stat ms;
    env_info(dir, &info, &ms);
    uint8_t page[4096];
    store_meta m[2];
    read_page(path, 0, page, sizeof(page));
    assert_int_equal(store_meta_parse(page, sizeof(page), &m[0]), 0);
    read_page(path, ms.ms_psize, page, sizeof(page));
    assert_int_equal(store_meta_parse(page, sizeof(page), &m[1]), 0);
    int newest = m[1].txnid > m[0].txnid ? 1 : 0;
    assert_int_equal(m[newest].page_size, ms.ms_psize);
    assert_int_equal(m[newest].version, 1);
    assert_int_equal(m[newest].last_page, info.me_last_pgno);
    assert_int_equal(m[newest].txnid, info.me_last_txnid);
    /* The whole file check agrees, and the file holds its pages. */
    store_file_info fi;
    char err[512];
    assert_int_equal(store_file_check(path, dir, &fi, err, sizeof(err)), 0);
    assert_int_equal(fi.meta, newest);
    assert_int_equal(fi.last_page, info.me_last_pgno);
    assert_int_equal(fi.txnid, info.me_last_txnid);
    assert_int_equal(fi.file_bytes, file_size(path));
    assert_true(fi.needed_bytes <= fi.file_bytes);
    /* Not a meta page: a data page, a short read, a wrong magic. */
    read_page(path, 3 * ms.ms_psize, page, sizeof(page));
    assert_int_equal(store_meta_parse(page, sizeof(page), &m[0]), -1);
    read_page(path, 0, page, sizeof(page));
    assert_int_equal(store_meta_parse(page, 40, &m[0]), -1);
    page[16] ^= 1; /* the magic, right after the page header */
    assert_int_equal(store_meta_parse(page, sizeof(page), &m[0]), -1);
}

static void test_an_empty_data_file_is_refused_never_initialised(void **s)
{
    (void)s;
    char dir[300], path[400], lock[400], err[512];
    new_dir(dir, sizeof(dir));
    make_store(dir, 10, 10);
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    snprintf(lock, sizeof(lock), "%s/lock.mdb", dir);
    assert_int_equal(truncate(path, 0), 0);
    store *st;
    store_opts o = {.dir = dir};
    /* Beside its lock file, and alone. */
    for (int alone = 0; alone < 2; alone++) {
        if (alone) assert_int_equal(unlink(lock), 0);
        assert_int_equal(store_open(&st, NULL, &o, err, sizeof(err)), AH_EINVAL);
        assert_non_null(strstr(err, "data.mdb is empty: refusing to initialise over it; restore "
                                    "from a backup or move it away"));
        assert_int_equal(file_size(path), 0);
    }
}

static void test_a_first_start_makes_the_store_whole_and_leaves_nothing_else(void **s)
{
    (void)s;
    char dir[300], err[512];
    new_dir(dir, sizeof(dir));
    store *st;
    store_opts o = {.dir = dir};
    assert_int_equal(store_open(&st, NULL, &o, err, sizeof(err)), 0);
    store_close(st);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            n++;
            if (strcmp(e->d_name, "data.mdb") && strcmp(e->d_name, "lock.mdb"))
                fail_msg("unexpected file %s", e->d_name);
        }
    closedir(d);
    assert_int_equal(n, 2);
    /* Reopened, it is the same store (not made again). */
    assert_int_equal(store_open(&st, NULL, &o, err, sizeof(err)), 0);
    store_close(st);
}

static void test_an_lmdb_file_without_the_format_marker_is_refused_even_empty(void **s)
{
    (void)s;
    char dir[300], err[512];
    new_dir(dir, sizeof(dir));
    mkdir(dir, 0700);
    MDB_env *env;
    mdb_env_create(&env);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0); /* metas only: no databases */
    mdb_env_close(env);
    store *st;
    store_opts o = {.dir = dir};
    assert_int_equal(store_open(&st, NULL, &o, err, sizeof(err)), AH_EINVAL);
    assert_non_null(strstr(err, "not an agenthost store"));
}

static void test_a_truncated_data_file_is_refused_naming_both_sizes(void **s)
{
    (void)s;
    char dir[300], path[400], err[512], want[128];
    new_dir(dir, sizeof(dir));
    make_store(dir, 2000, 300);
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    long long full = file_size(path);
    assert_true(full > 100 * 4096);
    assert_int_equal(truncate(path, full / 2), 0);
    store *st;
    store_opts o = {.dir = dir};
    assert_int_equal(store_open(&st, NULL, &o, err, sizeof(err)), AH_EINVAL);
    assert_non_null(strstr(err, "data.mdb is truncated"));
    snprintf(want, sizeof(want), "it holds %lld bytes", full / 2);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "need"));
    assert_int_equal(file_size(path), full / 2);
    /* Read-only (the CLI's listings and backups) refuses it the same way. */
    o.read_only = true;
    assert_int_equal(store_open(&st, NULL, &o, err, sizeof(err)), AH_EINVAL);
    assert_non_null(strstr(err, "is truncated"));
    /* And so does a restore's check of it as a backup. */
    assert_int_equal(store_check_file(path, err, sizeof(err)), AH_EINVAL);
    assert_non_null(strstr(err, "is truncated"));
}

/* LMDB does not write a page that the transaction which allocated it also
 * freed: the file may end before the last page in use, the missing pages
 * all free. Such a file is healthy and must open. */
static void test_a_file_ending_before_its_last_page_opens_when_those_pages_are_free(void **s)
{
    (void)s;
    char dir[300], path[400], err[512];
    new_dir(dir, sizeof(dir));
    make_store(dir, 0, 0);
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    MDB_env *env;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 32);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    bool shorter = false;
    char v[300];
    memset(v, 'x', sizeof(v));
    for (int round = 0; round < 200 && !shorter; round++) {
        MDB_txn *txn;
        MDB_dbi dbi;
        assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
        assert_int_equal(mdb_dbi_open(txn, "kv", 0, &dbi), 0);
        int n = 50 + (round * 37) % 500, del = (round * 53) % n;
        for (int i = 0; i < n; i++) {
            char k[16];
            snprintf(k, sizeof(k), "%08d", round * 100000 + i);
            MDB_val kk = {8, k}, vv = {100 + (size_t)(i * 7) % 200, v};
            assert_int_equal(mdb_put(txn, dbi, &kk, &vv, 0), 0);
        }
        for (int i = n - 1; i >= n - del; i--) {
            char k[16];
            snprintf(k, sizeof(k), "%08d", round * 100000 + i);
            MDB_val kk = {8, k};
            assert_int_equal(mdb_del(txn, dbi, &kk, NULL), 0);
        }
        assert_int_equal(mdb_txn_commit(txn), 0);
        MDB_envinfo info;
        MDB_stat ms;
        mdb_env_info(env, &info);
        mdb_env_stat(env, &ms);
        shorter = file_size(path) < (long long)((info.me_last_pgno + 1) * ms.ms_psize);
    }
    mdb_env_close(env);
    assert_true(shorter);
    store_file_info fi;
    assert_int_equal(store_file_check(path, dir, &fi, err, sizeof(err)), 0);
    assert_true(fi.file_bytes < (fi.last_page + 1) * fi.page_size);
    assert_true(fi.needed_bytes <= fi.file_bytes);
    store *st;
    store_opts o = {.dir = dir};
    assert_int_equal(store_open(&st, NULL, &o, err, sizeof(err)), 0);
    store_close(st);
}

static void test_damaged_meta_pages_are_refused_naming_which(void **s)
{
    (void)s;
    char dir[300], path[400], err[512];
    new_dir(dir, sizeof(dir));
    make_store(dir, 10, 10);
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    store *st;
    store_opts o = {.dir = dir};
    scribble(path, 4096 + 16, 8); /* meta page 1's magic and version */
    assert_int_equal(store_open(&st, NULL, &o, err, sizeof(err)), AH_EINVAL);
    assert_non_null(strstr(err, "LMDB meta page 1 is damaged"));
    scribble(path, 16, 8);
    assert_int_equal(store_open(&st, NULL, &o, err, sizeof(err)), AH_EINVAL);
    assert_non_null(strstr(err, "both of its meta pages are damaged"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta_pages_read_as_lmdb_reads_them),
        cmocka_unit_test(test_an_empty_data_file_is_refused_never_initialised),
        cmocka_unit_test(test_a_first_start_makes_the_store_whole_and_leaves_nothing_else),
        cmocka_unit_test(test_an_lmdb_file_without_the_format_marker_is_refused_even_empty),
        cmocka_unit_test(test_a_truncated_data_file_is_refused_naming_both_sizes),
        cmocka_unit_test(test_a_file_ending_before_its_last_page_opens_when_those_pages_are_free),
        cmocka_unit_test(test_damaged_meta_pages_are_refused_naming_which),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
