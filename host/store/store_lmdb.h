/*
 * store_lmdb.h - LMDB beneath the store's typed face. For the store itself
 * and the bus's LMDB backend only (tests/check_layers.sh keeps it so):
 * every other module reads and writes records through store.h.
 */
#ifndef AH_STORE_LMDB_H
#define AH_STORE_LMDB_H

#include "store.h"

#include <lmdb.h>

/* State a layer keeps for the rest of one write transaction (store_txn_attach). */
typedef int (*store_txn_flush_fn)(store_txn *txn, void *data);
typedef void (*store_txn_drop_fn)(void *data);

struct store_txn {
    MDB_txn *txn;
    store *st;
    bool read_only;
    int err;           /* the first environment failure of a write (sticky), else 0 */
    const void *owner; /* store_txn_attach's, or NULL */
    void *data;
    store_txn_flush_fn flush;
    store_txn_drop_fn drop;
};

MDB_env *store_env(store *s);
/* The handle of a database, for use in this thread's transaction now: it
 * also marks the database this thread is reading (store_guard.h). */
MDB_dbi store_dbi(store *s, store_db db);

/* The LMDB transaction under txn. */
static inline MDB_txn *store_lmdb_txn(store_txn *txn)
{
    return txn->txn;
}

/* A read-only LMDB transaction, as store_read_begin: 0 or AH_E*. */
int store_lmdb_read_begin(store *s, MDB_txn **txn);
/* The transaction id the loop's snapshot holds now, without beginning a
 * read; 0 when there is none (no loop, or none taken yet). A cheap "has
 * anything committed since": a read may still see a newer snapshot. */
uint64_t store_lmdb_snapshot_id(store *s);
void store_lmdb_read_end(store *s, MDB_txn *txn);

/* Attach a layer's state to a write transaction (the bus's topic records,
 * bl_txn.c): `flush` runs once, after the batch's last apply and before
 * the commit, to write what the state holds; a code it returns fails the
 * batch as an environment failure does (never one write alone). `drop`
 * runs when the transaction ends, committed or not. A batch retried
 * without a write that refused itself runs again in a new transaction,
 * without the state: whatever the failed attempt left in it is gone with
 * its transaction. One owner per transaction: 0, AH_EEXIST (another owner's
 * state is attached), AH_EINVAL (a read transaction). */
int store_txn_attach(store_txn *txn, const void *owner, void *data, store_txn_flush_fn flush,
                     store_txn_drop_fn drop);
/* The state `owner` attached to txn, or NULL. */
static inline void *store_txn_state(store_txn *txn, const void *owner)
{
    return txn->owner == owner ? txn->data : NULL;
}

/* Record an environment failure on a write transaction (sticky) and
 * return rc. */
int store_txn_fail(store_txn *txn, int rc);

#endif
