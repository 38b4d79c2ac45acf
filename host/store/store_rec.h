/*
 * store_rec.h - records that carry their own checksum.
 *
 * LMDB keeps no checksums of its pages. A record written with
 * store_rec_put carries one: a 5-byte frame, STORE_REC_V1 then the CRC-32C
 * (big-endian) of the key and the payload, then the payload. store_rec_get
 * verifies it: a record that fails is damage, reported (AH_EIO, and a log
 * line naming the database and the key), never returned as data.
 *
 * The documents database (STORE_DB_DOCS) holds only such records: its
 * layer reads and writes through these helpers. STORE_REC_V1 cannot begin
 * a JSON text, so a database of bare JSON values can move to framed
 * records and still tell its older records apart (store_rec_verify).
 * Bus events carry their checksum in their own header (bl_codec.c).
 */
#ifndef AH_STORE_REC_H
#define AH_STORE_REC_H

#include "store_lmdb.h"

#define STORE_REC_V1 0x01
#define STORE_REC_FRAME 5

/* Put payload data[0..len) under key, framed (one copy, with MDB_RESERVE).
 * flags as mdb_put's. Returns LMDB's code (0, MDB_KEYEXIST, MDB_MAP_FULL,
 * ...), as a store_apply_fn passes it on. */
int store_rec_put(MDB_txn *txn, store *s, store_db db, const MDB_val *key, const void *data,
                  size_t len, unsigned flags);

/* Get and verify the record under key: 0 with *payload pointing into the
 * map (valid until the transaction ends); AH_ENOTFOUND; AH_EIO when it is
 * damaged (logged, with the database and key) or LMDB fails. */
int store_rec_get(MDB_txn *txn, store *s, store_db db, const MDB_val *key, MDB_val *payload);

/* A stored value against its key: 1 framed and intact (*payload is its
 * payload); 0 not framed (a record from before frames: *payload is the
 * whole value); -1 framed and damaged (too short, or the checksum fails). */
int store_rec_verify(const MDB_val *key, const MDB_val *value, MDB_val *payload);

/* A key as text for messages: printable bytes as they are, others as \xNN,
 * cut at 48 bytes with "...". out gets at least 4 * 48 + 4 bytes. */
void store_key_text(const MDB_val *key, char *out, size_t len);

#endif
