/* core_store.c - KV puts through store_write with 1, 100 and 1,000
 * writers in flight (each done callback issues that writer's next put),
 * against raw LMDB committing the same puts in transactions of the same
 * size, with the same environment flags (MDB_NOTLS, synchronous commits:
 * no WRITEMAP, NOSYNC, NOMETASYNC or MAPASYNC). Rounds alternate between
 * the two so that load on the shared machine falls on both. */
#include "core.h"

#include <agenthost/plugin.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALUE_BYTES 256
#define KEY_SPACE 10000 /* puts update a working set of keys, like conversation state */
#define MAP_SIZE (1ull << 30)

static char g_value[VALUE_BYTES];

static size_t make_key(char *out, uint64_t seq)
{
    /* "<instance>\0<key>", as the KV service lays keys out. */
    memcpy(out, "bench", 6);
    return 6 + (size_t)snprintf(out + 6, 32, "k%05u", (unsigned)(seq % KEY_SPACE));
}

/* ---- through the store ---------------------------------------------------------- */

typedef struct kv_run kv_run;
typedef struct writer {
    kv_run *r;
    uint64_t seq;
} writer;

struct kv_run {
    bench *b;
    store *st;
    uint64_t next_seq;
    long target, started, done, errors;
};

static int apply_put(store_txn *txn, void *arg)
{
    writer *w = arg;
    char key[48];
    return store_put(txn, STORE_DB_KV, key, make_key(key, w->seq), g_value, VALUE_BYTES);
}

static void issue(kv_run *r, writer *w);

static void done_put(int status, void *arg)
{
    writer *w = arg;
    kv_run *r = w->r;
    r->done++;
    if (status && r->errors++ == 0) bench_fail(r->b, "store_write failed: %s", ah_strerror(status));
    if (r->started < r->target) issue(r, w);
}

static void issue(kv_run *r, writer *w)
{
    r->started++;
    w->seq = r->next_seq++;
    int rc = store_write(r->st, apply_put, done_put, w);
    if (rc) {
        r->done++;
        if (r->errors++ == 0) bench_fail(r->b, "store_write refused: %s", ah_strerror(rc));
    }
}

static bool kv_done(void *arg)
{
    kv_run *r = arg;
    return r->done >= r->target;
}

/* Returns puts/s; *batch gets the mean writes per commit. */
static double store_puts(bench *b, core_world *w, long writers, long puts, double *batch)
{
    kv_run r = {.b = b, .st = w->st, .target = puts};
    writer *ws = calloc((size_t)writers, sizeof(*ws));
    store_stats s0, s1;
    store_get_stats(w->st, &s0);
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < writers && r.started < puts; i++) {
        ws[i].r = &r;
        issue(&r, &ws[i]);
    }
    if (!core_run_until(w, kv_done, &r, 120000))
        bench_fail(b, "store: %ld of %ld puts answered within 120 s", r.done, puts);
    double s = (double)(bench_now_ns() - t0) / 1e9;
    store_get_stats(w->st, &s1);
    uint64_t commits = s1.commits - s0.commits;
    *batch = commits ? (double)(s1.writes - s0.writes) / (double)commits : 0;
    free(ws);
    return (double)r.done / s;
}

/* ---- raw LMDB --------------------------------------------------------------------- */

typedef struct raw_env {
    MDB_env *env;
    MDB_dbi dbi;
    uint64_t next_seq;
} raw_env;

static int raw_open(raw_env *e, const char *dir)
{
    memset(e, 0, sizeof(*e));
    MDB_txn *txn;
    if (mdb_env_create(&e->env) || mdb_env_set_maxdbs(e->env, STORE_DB_COUNT + 8) ||
        mdb_env_set_mapsize(e->env, MAP_SIZE) || mdb_env_open(e->env, dir, MDB_NOTLS, 0600) ||
        mdb_txn_begin(e->env, NULL, 0, &txn))
        return -1;
    if (mdb_dbi_open(txn, "kv", MDB_CREATE, &e->dbi) || mdb_txn_commit(txn)) return -1;
    return 0;
}

/* `puts` puts in transactions of `batch`; puts/s, or -1 on an LMDB error. */
static double raw_puts(raw_env *e, long batch, long puts, int *err)
{
    uint64_t t0 = bench_now_ns();
    for (long done = 0; done < puts;) {
        MDB_txn *txn;
        int rc = mdb_txn_begin(e->env, NULL, 0, &txn);
        for (long i = 0; !rc && i < batch && done + i < puts; i++) {
            char key[48];
            MDB_val k = {make_key(key, e->next_seq++), key}, v = {VALUE_BYTES, g_value};
            rc = mdb_put(txn, e->dbi, &k, &v, 0);
        }
        if (!rc)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        if (rc) {
            *err = rc;
            return -1;
        }
        done += batch;
    }
    return (double)puts / ((double)(bench_now_ns() - t0) / 1e9);
}

/* ---- the benchmark ---------------------------------------------------------------------- */

void bench_core_store(bench *b)
{
    memset(g_value, 'v', sizeof(g_value));
    g_value[0] = '"';
    g_value[VALUE_BYTES - 1] = '"'; /* a JSON string, as KV stores values */

    core_world w;
    memset(&w, 0, sizeof(w));
    char rawdir[512];
    if (bench_tmpdir(w.dir, sizeof(w.dir), "store") < 0 ||
        bench_tmpdir(rawdir, sizeof(rawdir), "rawkv") < 0) {
        bench_fail(b, "cannot make temporary directories");
        return;
    }
    char err[512], data[600];
    snprintf(data, sizeof(data), "%s/var", w.dir);
    store_opts so = {.dir = data, .map_size = MAP_SIZE};
    raw_env raw = {0};
    if (loop_new(&w.loop) < 0 || store_open(&w.st, w.loop, &so, err, sizeof(err)) != 0 ||
        raw_open(&raw, rawdir) < 0) {
        bench_fail(b, "cannot open the store or the raw environment: %s", err);
        goto out;
    }

    static const long writers[] = {1, 100, 1000};
    /* commits per round, per writer count */
    const long commits[] = {bench_pick(b, 30, 120), bench_pick(b, 10, 60), bench_pick(b, 3, 20)};
    enum { MAX_ROUNDS = 9 };
    int rounds = (int)bench_pick(b, 1, MAX_ROUNDS);
    /* Warm-up: fill the working set once, so that both sides update keys. */
    double batch = 0;
    int lmdb_err = 0;
    store_puts(b, &w, 1000, KEY_SPACE, &batch);
    if (raw_puts(&raw, 1000, KEY_SPACE, &lmdb_err) < 0)
        bench_fail(b, "raw LMDB: %s", mdb_strerror(lmdb_err));
    bench_section(b, "store", "Store: KV puts (256-byte values) through store_write vs raw LMDB");
    for (int i = 0; i < 3; i++) {
        long puts = writers[i] * commits[i];
        double st_sum = 0, raw_sum = 0, ratio[MAX_ROUNDS];
        /* Paired rounds, the order alternating; the ratio of each pair is
         * what drifts least when the shared disk's fsync time does. */
        for (int r = 0; r < rounds; r++) {
            double x = 0, y = 0;
            if (r % 2 == 0) x = raw_puts(&raw, writers[i], puts, &lmdb_err);
            y = store_puts(b, &w, writers[i], puts, &batch);
            if (r % 2 == 1) x = raw_puts(&raw, writers[i], puts, &lmdb_err);
            if (x < 0) {
                bench_fail(b, "raw LMDB: %s", mdb_strerror(lmdb_err));
                goto out;
            }
            raw_sum += 1.0 / x;
            st_sum += 1.0 / y;
            ratio[r] = y / x;
        }
        double st_rate = rounds / st_sum, raw_rate = rounds / raw_sum;
        double med = bench_median(ratio, rounds);
        char k[64];
        snprintf(k, sizeof(k), "store puts/s, %ld writers", writers[i]);
        bench_row(b, "store", k, st_rate, "puts/s", "%.0f writes per commit", batch);
        snprintf(k, sizeof(k), "raw LMDB puts/s, batch %ld", writers[i]);
        bench_row(b, "store", k, raw_rate, "puts/s", NULL);
        snprintf(k, sizeof(k), "ratio store/raw, %ld", writers[i]);
        bench_row(b, "store", k, med, "x",
                  "median of %d paired rounds (%.2f-%.2f); target >= 0.70: %s", rounds, ratio[0],
                  ratio[rounds - 1], med >= 0.70 ? "met" : "MISSED");
    }
out:
    if (raw.env) mdb_env_close(raw.env);
    if (w.st) store_close(w.st);
    if (w.loop) loop_free(w.loop);
    bench_rmdir(w.dir);
    bench_rmdir(rawdir);
}
