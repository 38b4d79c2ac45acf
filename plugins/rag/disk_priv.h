/*
 * What disk.c, dlex.c and dvec.c share of the index on disk (disk.h):
 * the environment's handles, key building, the counters and the chunk
 * record's encoding. Not for the rest of the plugin.
 */
#ifndef RAG_DISK_PRIV_H
#define RAG_DISK_PRIV_H

#include "disk.h"

#include <lmdb.h>

typedef struct rag_train rag_train; /* an IVF being trained in slices (dtrain.c) */

struct rag_disk {
    MDB_env *env;
    MDB_dbi meta, chunk, post, dchunk, ddoc, vec, ivf, emb;
    int rc;           /* the last LMDB error */
    rag_train *train; /* the training under way, or NULL */
    void (*on_train)(void *ud);
    void *on_train_ud;
};

void rag_train_free(rag_train *t);

/* Keys: the base's name and a NUL, then what follows. */
#define RAG_KEY_MAX 511
typedef struct {
    char b[RAG_KEY_MAX];
    size_t n, base; /* length; the prefix kb\0's length */
} rag_key;

/* kb\0; -1 when the name is too long. */
int rag_key_kb(rag_key *k, const char *kb);
/* Appends bytes (cut at the key limit: terms longer than it share a key). */
void rag_key_add(rag_key *k, const void *p, size_t n);
void rag_key_id(rag_key *k, uint32_t id); /* big-endian: ids sort as numbers */
uint32_t rag_be32(const void *p);
/* Does key start with k's base prefix? */
int rag_key_in_base(const rag_key *k, const MDB_val *key);

int rag_stats_read(rag_disk *d, MDB_txn *txn, const char *kb, rag_disk_stats *st);
int rag_stats_write(rag_disk *d, MDB_txn *txn, const char *kb, const rag_disk_stats *st);

/* Decodes a chunk record; 0, or -1 when it is malformed. */
int rag_chunk_decode(const MDB_val *v, rag_disk_chunk_view *out);

/* The index of the centroid nearest to v (nlist unit centroids of dim). */
uint32_t rag_ivf_nearest(const float *cent, size_t nlist, size_t dim, const float *v);
/* The vector of id whose vec value is v into out (dim floats): v itself,
 * or, when v is a list's number (the vector in its IVF list, ADR 0058),
 * the list's copy; *list is that number or UINT32_MAX. 1, 0 when there
 * is none of that dimension, -1 on an LMDB error. */
int rag_vec_read(rag_disk *d, MDB_txn *txn, const char *kb, uint32_t id, const MDB_val *v,
                 size_t dim, float *out, uint32_t *list);
/* The layout's version, under meta's key "\0format" (no base's name is
 * empty): 2 since ADR 0058 (a vector in vec or in its list, not both);
 * none is 1 (a copy in both). */
#define RAG_FORMAT 2u
/* At open, in its transaction: converts an index of format 1 (every vec
 * entry that is also in a list becomes that list's number) and writes the
 * format. *format is the one found. 0, or -1 (an LMDB error, or a format
 * newer than RAG_FORMAT). */
int rag_vec_migrate(rag_disk *d, MDB_txn *txn, uint32_t *format);
/* Reads the base's centroids into a new array (nlist * dim floats), or NULL. */
float *rag_ivf_centroids(rag_disk *d, MDB_txn *txn, const char *kb, const rag_disk_stats *st);

/* The resident-chunk counter (disk.h). */
void rag_resident_add(long delta);

/* Sets d->rc and returns -1 when rc is an error; 0 otherwise. */
int rag_disk_fail(rag_disk *d, int rc);

#endif
