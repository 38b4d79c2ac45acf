/*
 * store_lmdb.h - LMDB beneath the store's typed face. For the store itself
 * and the bus's LMDB backend only (tests/check_layers.sh keeps it so):
 * every other module reads and writes records through store.h.
 */
#ifndef AH_STORE_LMDB_H
#define AH_STORE_LMDB_H

#include "store.h"

#include <lmdb.h>

struct store_txn {
    MDB_txn *txn;
    store *st;
    bool read_only;
    int err; /* the first environment failure of a write (sticky), else 0 */
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
void store_lmdb_read_end(store *s, MDB_txn *txn);

/* Record an environment failure on a write transaction (sticky) and
 * return rc. */
int store_txn_fail(store_txn *txn, int rc);

#endif
