/*
 * store_read.c - the loop's reads (ADR 0022): the newest durable snapshot,
 * pinned between answers (store_writer.c offers it), or, in a process
 * without a loop (CLI commands), a read transaction of the newest commit.
 */
#include "store_priv.h"

#include "core/log.h"
#include "store_guard.h"

#include <agenthost/plugin.h>

#include <stdlib.h>

/* ---- reads ------------------------------------------------------------------- */

/* Another process (a CLI command) committed after our snapshot and after
 * every commit of ours: its commits are synchronous, so the newest is
 * durable with everything before it; read it. */
static void adopt_foreign_commit(store *s)
{
    MDB_envinfo info;
    if (mdb_env_info(s->env, &info) != 0 || info.me_last_txnid <= mdb_txn_id(s->snap) ||
        info.me_last_txnid <= s->ours_max)
        return;
    MDB_txn *t;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t) != 0) return;
    if (mdb_txn_id(t) > s->ours_max) {
        mdb_txn_abort(s->snap);
        s->snap = t;
    } else {
        mdb_txn_abort(t); /* one of ours committed meanwhile, not yet durable */
    }
}

int store_lmdb_read_begin(store *s, MDB_txn **txn)
{
    pthread_rwlock_rdlock(&s->maplock);
    int rc = 0;
    if (!s->loop) {
        /* No writer thread: every commit is flushed before it returns. */
        rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
    } else {
        if (s->snap_depth == 0) {
            store_take_next_snap(s);
            if (s->snap) adopt_foreign_commit(s);
        }
        if (!s->snap) rc = store_snap_fallback(s);
        if (!rc) {
            s->snap_depth++;
            *txn = s->snap;
        }
    }
    if (rc) {
        pthread_rwlock_unlock(&s->maplock);
        if (rc == MDB_MAP_RESIZED)
            log_warn("store", "map resized by another process; reads resume after the "
                              "next write");
        return store_map_error(rc);
    }
    return 0;
}

uint64_t store_lmdb_snapshot_id(store *s)
{
    return s->loop && s->snap ? (uint64_t)mdb_txn_id(s->snap) : 0;
}

void store_lmdb_read_end(store *s, MDB_txn *txn)
{
    store_guard_mark(NULL);
    if (!s->loop)
        mdb_txn_abort(txn);
    else
        s->snap_depth--; /* the snapshot stays for the next read */
    pthread_rwlock_unlock(&s->maplock);
}

int store_read_begin(store *s, store_txn **out)
{
    MDB_txn *txn;
    int rc = store_lmdb_read_begin(s, &txn);
    if (rc) return rc;
    bool outer = s->loop && s->snap_depth == 1;
    store_txn *t = outer ? &s->rwrap : malloc(sizeof(*t)); /* nested: its own face */
    if (!t) {
        store_lmdb_read_end(s, txn);
        return AH_ENOMEM;
    }
    *t = (store_txn){.txn = txn, .st = s, .read_only = true};
    *out = t;
    return 0;
}

void store_read_end(store *s, store_txn *t)
{
    MDB_txn *txn = t->txn;
    if (t != &s->rwrap) free(t);
    store_lmdb_read_end(s, txn);
}
