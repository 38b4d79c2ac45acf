/*
 * store.h - the host's one LMDB environment.
 *
 * Reads run on the loop thread in short read-only transactions, and see the
 * newest durable commit only (a snapshot: a commit whose writers have not
 * been answered is not visible to them). Writes are queued during a loop
 * tick and committed together, as one transaction, by a writer thread
 * (group commit); each writer's done callback runs on the loop only after
 * that transaction is durable. One flush per commit under load (ADR 0022):
 * a commit flushes its pages, its meta page is flushed by the next
 * commit's flush, or at once when no next batch waits; never MDB_WRITEMAP,
 * MDB_NOSYNC or MDB_MAPASYNC. KV, bus, documents and tokens share these
 * batches, so state and events commit atomically.
 *
 * The map grows by doubling up to max_map_size; past that, and when the
 * disk is full, writes fail with AH_ENOSPC and a clear store_last_error(),
 * nothing already written is damaged, and writing works again once space
 * is freed.
 *
 * Without a loop (store_open with loop == NULL, for CLI commands) a write
 * commits at once in the caller's thread and calls done before returning.
 *
 * Callers see records, not LMDB: a transaction (store_txn) is read with
 * store_get and store_scan and written with store_put, store_insert,
 * store_put_rev, store_del and store_del_prefix. Only the store and the
 * bus's LMDB backend reach beneath it (store_lmdb.h).
 */
#ifndef AH_STORE_H
#define AH_STORE_H

#include "core/loop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct store store;
/* A transaction: read-only (store_read_begin) or the batch a write runs in. */
typedef struct store_txn store_txn;

/* The meta database's format marker: an agenthost store has it. */
#define STORE_FORMAT_KEY "format"
#define STORE_FORMAT "agenthost-store/1"

/* The named databases of the environment. Append only: names are on disk. */
typedef enum store_db {
    STORE_DB_META = 0,    /* format marker and host-wide settings */
    STORE_DB_KV,          /* "<instance>\0<key>" -> JSON */
    STORE_DB_SECRETS,     /* "<instance>\0<name>" -> nonce || ciphertext */
    STORE_DB_INSTANCES,   /* instance id -> last known state (JSON) */
    STORE_DB_TOKENS,      /* API tokens (hash -> JSON) */
    STORE_DB_TOPICS,      /* bus: topic name -> topic record */
    STORE_DB_EVENTS,      /* bus: (topic id, seq) big-endian -> event */
    STORE_DB_CONSUMERS,   /* bus: consumer name -> consumer record */
    STORE_DB_PENDING,     /* bus: per-consumer delivery state */
    STORE_DB_IDEMPOTENCY, /* bus: (topic id, key) -> offset and time */
    STORE_DB_KEYS,        /* bus: (topic id, key, seq) index for key replay */
    STORE_DB_DOCS,        /* documents: "<collection>\0<id>" -> revision, checksum, JSON */
    STORE_DB_DOC_INDEX,   /* documents' indexes: "<collection>\0<index>\0" values [id] */
    STORE_DB_COUNT
} store_db;

typedef struct store_opts {
    const char *dir;     /* data directory (created 0700) */
    size_t map_size;     /* initial map size; 0: 64 MiB */
    size_t max_map_size; /* growth limit; 0: 64 GiB */
    bool read_only;      /* open read-only (CLI listing, backups) */
} store_opts;

/* Open the store in o->dir, or make it when the directory holds no
 * data.mdb (a first start; made under a temporary name and linked into
 * place, so a data.mdb is never left half made). Before LMDB maps the file
 * it is checked (store_file.h): an empty data.mdb, one cut shorter than its
 * pages in use, one with a damaged meta page, a foreign LMDB file or one
 * without the format marker is refused with AH_EINVAL and a reason naming
 * the file, never reinitialised; so is a data directory path too long.
 * Other failures: AH_EIO (unreadable, or read_only and no store),
 * AH_ENOMEM, AH_ENOSPC. err says why. */
int store_open(store **out, ah_loop *loop, const store_opts *o, char *err, size_t errlen);

/* Commit what is queued, wait for the writer, and close. */
void store_close(store *s);

/* The name of a database on disk ("bus.events"), or NULL. */
const char *store_db_name(store_db db);

/* A read-only transaction for the loop thread (or a CLI command); end it
 * before returning to the loop. 0, or AH_EIO / AH_ENOMEM (the map was
 * resized by another process: reads resume after the next write). */
int store_read_begin(store *s, store_txn **txn);
void store_read_end(store *s, store_txn *txn);

/* A write runs `apply` on the writer thread inside the batch's transaction
 * and then `done` on the loop thread with 0 once durable, or a negative
 * AH_E* code. apply returns 0; a negative AH_E* code (>= -99) to fail this
 * write alone (the batch is retried without it, so partial writes vanish);
 * or the code a store_* write returned that is not an AH_E* code, which
 * fails the batch (the store grows the map and retries when it is full).
 * The first such failure also sticks to the transaction, so an apply that
 * ignores it still fails the batch. apply may run more than once for one
 * write and must give the same result each time. */
typedef int (*store_apply_fn)(store_txn *txn, void *arg);
typedef void (*store_done_fn)(int status, void *arg);

/* Queue a write. 0: done will run (with a loop, after the batch's commit;
 * without one, before store_write returns). AH_EINVAL when the store was
 * opened read-only, AH_ENOMEM when the write cannot be queued: done will
 * then not run. */
int store_write(store *s, store_apply_fn apply, store_done_fn done, void *arg);

/* Commit one write in the caller's thread and return its status: 0, apply's
 * negative AH_E* code, or the failed commit's (AH_ENOSPC, AH_EIO, ...:
 * store_map_error); AH_EINVAL when the store was opened read-only. Blocks on
 * fsync: for startup and CLI commands only, never from a loop callback. */
int store_write_now(store *s, store_apply_fn apply, void *arg);

/* ---- records --------------------------------------------------------------
 * Keys are 1..511 bytes; values are bytes. A value read is valid until the
 * transaction ends. Writes need a write transaction (AH_EINVAL otherwise).
 * Failures of the environment (a full map, an I/O error) are returned as
 * the store's own positive or LMDB codes: return them from apply as they
 * are (see store_apply_fn). */

typedef struct store_val {
    const void *data;
    size_t len;
} store_val;

/* 0; AH_ENOTFOUND (also for a key of 0 or more than 511 bytes); AH_EIO when
 * LMDB cannot read it. */
int store_get(store_txn *txn, store_db db, const void *key, size_t klen, store_val *out);
/* Create or replace. 0; AH_ETOOBIG (a key of 0 or more than 511 bytes);
 * AH_EINVAL (a read transaction); or an environment code (this write's, or
 * the one that already failed the transaction). */
int store_put(store_txn *txn, store_db db, const void *key, size_t klen, const void *val,
              size_t vlen);
/* Create only. 0, AH_EEXIST, or store_put's errors. */
int store_insert(store_txn *txn, store_db db, const void *key, size_t klen, const void *val,
                 size_t vlen);
/* 0; AH_ENOTFOUND (also for a key of 0 or more than 511 bytes); AH_EINVAL
 * (a read transaction); or an environment code. */
int store_del(store_txn *txn, store_db db, const void *key, size_t klen);
/* Delete every record whose key starts with prefix (plen 0: the whole
 * database); *n (may be NULL) gets how many. 0; AH_EINVAL (a read
 * transaction, or a prefix of more than 511 bytes); or an environment code. */
int store_del_prefix(store_txn *txn, store_db db, const void *prefix, size_t plen, size_t *n);
/* Records in a database. 0, or AH_EIO. */
int store_count(store_txn *txn, store_db db, size_t *n);

/* Revisioned records: the value is stored behind an 8-byte revision, 1
 * for the first write and one more for each, in a checksummed record
 * (store_rec.h: a damaged one is never read as data, and `agenthost check`
 * verifies it). store_put_rev writes only if
 * the record's revision is `expect` (0: the record must not exist; with
 * STORE_REV_ANY, whatever it is); *rev gets the new one. 0, AH_ECONFLICT
 * (another revision: nothing written), AH_ENOTFOUND (expect > 0 but no
 * record), AH_EEXIST (expect 0 but one exists), AH_EIO (the record there is
 * damaged, or cannot be read), AH_ENOMEM, or store_put's errors (AH_EINVAL,
 * AH_ETOOBIG, an environment code). */
#define STORE_REV_ANY UINT64_MAX
int store_put_rev(store_txn *txn, store_db db, const void *key, size_t klen, const void *val,
                  size_t vlen, uint64_t expect, uint64_t *rev);
/* 0 with the value (without the revision) and *rev, or AH_ENOTFOUND;
 * AH_EIO for a damaged record (logged, naming the database and key). */
int store_get_rev(store_txn *txn, store_db db, const void *key, size_t klen, store_val *out,
                  uint64_t *rev);
/* The same for a record a scan visited (raw: the stored value). 0 or
 * AH_EIO (damaged). */
int store_rev_decode(store_val key, store_val raw, store_val *out, uint64_t *rev);

/* Visit records in key order: those starting with `prefix` (plen 0: all),
 * strictly after `after` when alen > 0 (a page's last key), backwards with
 * STORE_SCAN_REVERSE (then strictly before `after`). fn returns 0 to go on,
 * 1 to stop, or a negative code to stop with it. store_scan returns 0 (the
 * end, or fn stopped), fn's negative code, AH_EIO (LMDB failed), or
 * AH_EINVAL (a prefix or `after` of more than 511 bytes). */
typedef int (*store_scan_fn)(void *ud, store_val key, store_val val);
#define STORE_SCAN_REVERSE 1u
int store_scan(store_txn *txn, store_db db, const void *prefix, size_t plen, const void *after,
               size_t alen, unsigned flags, store_scan_fn fn, void *ud);

/* 0 when the last commit succeeded, else its AH_E* code. */
int store_health(store *s);
/* The reason for the last failure, or "" (loop thread). */
const char *store_last_error(store *s);

typedef struct store_stats {
    uint64_t commits;       /* transactions committed */
    uint64_t writes;        /* writes committed */
    uint64_t failed_writes; /* writes answered with an error */
    uint64_t map_size;      /* current map size, bytes */
    uint64_t used_bytes;    /* pages in use, bytes */
    uint64_t commit_ns_sum; /* time spent committing */
    uint64_t syncs;         /* flushes beyond the commits' own (idle, ADR 0022) */
} store_stats;
void store_get_stats(store *s, store_stats *st);

/* Write a hot, compacted copy of the store in dir to the file `to`
 * (mdb_env_copy2 with MDB_CP_COMPACT: a consistent snapshot taken while a
 * host may be writing; written to a temporary file, fsynced, renamed).
 * 0 or AH_E* with err; *bytes gets the size. */
int store_backup(const char *dir, const char *to, uint64_t *bytes, char *err, size_t errlen);

/* Check that a file is an agenthost store a restore can use: the file
 * checks of store_open (as a standalone copy) and the format marker. 0, or
 * AH_EINVAL / AH_EIO with err naming the file. The records themselves are
 * verified by store_check (store_check.h). */
int store_check_file(const char *path, char *err, size_t errlen);

/* Translate an LMDB or errno code to an AH_E* code (AH_E* codes pass). */
int store_map_error(int rc);

/* Big-endian helpers for keys whose byte order must be numeric order. */
static inline void store_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}
static inline uint64_t store_rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}
static inline void store_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}
static inline uint32_t store_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
