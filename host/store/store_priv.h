/*
 * store_priv.h - the store's insides, shared by store.c (opening, closing,
 * records' environment) and store_writer.c (group commit, the deferred
 * meta flush and the durable snapshot readers see: ADR 0022). Nothing
 * outside host/store/ includes it.
 */
#ifndef AH_STORE_PRIV_H
#define AH_STORE_PRIV_H

#include "store.h"
#include "store_lmdb.h"

#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

typedef struct write_op {
    store_apply_fn apply;
    store_done_fn done;
    void *arg;
    int status; /* set by the writer */
} write_op;

typedef struct op_vec {
    write_op *v;
    size_t n, cap;
} op_vec;

struct store {
    MDB_env *env;
    MDB_dbi dbi[STORE_DB_COUNT];
    char dir[2048];
    bool read_only;
    size_t map_size, max_map;

    /* Loop side. */
    ah_loop *loop;
    uv_async_t *async; /* heap: it outlives the store until its close callback */
    op_vec pending;    /* queued this tick */
    bool streamed;     /* part of this tick's writes handed off, the batch not sealed */
    size_t inflight;   /* handed to the writer, not yet answered */
    MDB_txn *snap;     /* the durable snapshot the loop reads (loop mode) */
    unsigned snap_depth;
    store_txn rwrap; /* the face of snap for the outermost reader */
    char last_error[256];

    /* Shared with the writer, under mu. */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* work for the writer */
    pthread_cond_t done_cv; /* a batch was answered (used when closing) */
    op_vec handoff;
    bool sealed;   /* a loop's pass ended: commit the first seal_n of handoff */
    size_t seal_n; /* (with what the writer took of the pass before) */
    op_vec done;
    bool stop;
    char writer_error[256];

    /* Whoever commits holds commit_mu (the writer thread, or
     * store_write_now's caller): the held commit is theirs meanwhile. */
    pthread_mutex_t commit_mu;
    op_vec held;        /* committed, its meta page not yet flushed: nobody told */
    MDB_txn *held_snap; /* a read snapshot of the held commit */
    /* A newer durable snapshot for the loop, published by whoever made
     * it durable, taken by the loop's next outermost read. */
    _Atomic(MDB_txn *) next_snap;
    /* The newest transaction id this process began to commit (set before
     * the commit): a snapshot newer than it is another process's commit,
     * synchronous there (no loop), so durable with all before it. */
    _Atomic size_t ours_max;

    /* Readers hold it shared; the writer takes it exclusive to resize or
     * reopen the map (LMDB needs no live transaction in the process then). */
    pthread_rwlock_t maplock;

    _Atomic int health;
    _Atomic uint64_t commits, writes, failed, commit_ns, syncs;
};

/* store.c: open the environment (MDB_NOMETASYNC unless read-only) and its
 * databases, then flush whatever a previous process left unflushed. */
int store_env_open(store *s, char *err, size_t errlen);

/* store_txn.c: a write transaction's attached state (store_txn_attach):
 * write it before the commit (0 or the code that fails the batch), and let
 * it go when the transaction ends. */
int store_txn_flush_state(store_txn *t);
void store_txn_drop_state(store_txn *t);

/* store_writer.c */
int store_writer_start(store *s, char *err, size_t errlen);
void store_writer_stop(store *s);
/* Drop every read snapshot (before the environment closes). */
void store_snapshots_drop(store *s);
/* The loop (maplock held shared, no read in progress) takes the newest
 * durable snapshot offered. */
void store_take_next_snap(store *s);
/* No snapshot for the loop: end the open batch, flush what is held and
 * snapshot the newest commit (maplock held shared, kept). 0 or LMDB's code. */
int store_snap_fallback(store *s);

#endif
