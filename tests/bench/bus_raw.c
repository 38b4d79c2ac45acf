/* bus_raw.c - the floor of this design: 256-byte events appended to an
 * LMDB database under (topic id, sequence) big-endian keys, in one thread,
 * one transaction per window's worth of events, each durable when its
 * commit returns (MDB_NOTLS; synchronous commits: no WRITEMAP, NOSYNC,
 * NOMETASYNC or MAPASYNC; the store's MDB_NOMETASYNC needs the next commit
 * or a flush before it answers, ADR 0022, which a closed loop cannot give
 * it). No loop, no writer thread, no encoding, no topic record: only what
 * any durable LMDB log must do. */
#include "bus.h"

#include "store/store.h"

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAP_SIZE (2ull << 30)

struct raw_log {
    bench *b;
    char dir[512];
    MDB_env *env;
    MDB_dbi dbi;
    uint32_t topic;
    uint64_t next_seq;
    char value[EVENT_BYTES];
};

int raw_open_log(raw_log **out, bench *b)
{
    raw_log *r = calloc(1, sizeof(*r));
    r->b = b;
    *out = r;
    memset(r->value, 'e', sizeof(r->value));
    if (bench_tmpdir(r->dir, sizeof(r->dir), "rawlog") < 0) {
        bench_fail(b, "cannot make a temporary directory");
        return -1;
    }
    MDB_txn *txn;
    int rc = mdb_env_create(&r->env);
    if (!rc) rc = mdb_env_set_maxdbs(r->env, STORE_DB_COUNT + 8);
    if (!rc) rc = mdb_env_set_mapsize(r->env, MAP_SIZE);
    if (!rc) rc = mdb_env_open(r->env, r->dir, MDB_NOTLS, 0600);
    if (!rc) rc = mdb_txn_begin(r->env, NULL, 0, &txn);
    if (!rc) {
        rc = mdb_dbi_open(txn, "bus.events", MDB_CREATE, &r->dbi);
        rc = rc ? rc : mdb_txn_commit(txn);
    }
    if (rc) {
        bench_fail(b, "raw LMDB: %s", mdb_strerror(rc));
        return -1;
    }
    return 0;
}

void raw_close_log(raw_log *r)
{
    if (!r) return;
    if (r->env) mdb_env_close(r->env);
    bench_rmdir(r->dir);
    free(r);
}

pub_result raw_append(raw_log *r, const pub_plan *p)
{
    pub_result res = {.ok = true, .batch = p->window};
    r->topic++; /* a fresh "topic" per run, like the bus side */
    r->next_seq = 1;
    uint64_t t0 = bench_now_ns(), stop_at = t0 + (uint64_t)(p->seconds * 1e9);
    while (res.events < p->max_events && bench_now_ns() < stop_at) {
        MDB_txn *txn;
        int rc = mdb_txn_begin(r->env, NULL, 0, &txn);
        long n = 0;
        for (; !rc && n < (long)p->window && res.events + n < p->max_events; n++) {
            uint8_t key[12];
            store_be32(key, r->topic);
            store_be64(key + 4, r->next_seq++);
            MDB_val k = {12, key}, v = {EVENT_BYTES, r->value};
            rc = mdb_put(txn, r->dbi, &k, &v, MDB_APPEND);
        }
        if (!rc)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        if (rc) {
            bench_fail(r->b, "raw LMDB append: %s", mdb_strerror(rc));
            res.ok = false;
            break;
        }
        res.events += n;
    }
    res.seconds = (double)(bench_now_ns() - t0) / 1e9;
    return res;
}
