/*
 * The RAG plugin's index on disk (ADR 0054): one LMDB environment in the
 * instance's private storage (host->storage_dir, ADR 0051) holding, per
 * base, its chunks, their postings, vectors and approximate index, and
 * the embeddings by content hash for every base. Searches read the
 * memory-mapped pages of what they need (a query's terms' postings, the
 * vectors of the lists probed); nothing of a base is held in memory
 * between calls. Plain C with LMDB, no host.
 *
 * Layout (named databases; "kb\0" is the base's name and a NUL):
 *   meta    kb\0                 rag_disk_stats (binary)
 *           \0format             u32: the layout's version (2; converted at open, ADR 0058)
 *   chunk   kb\0 id(be32)        seq, tokens, start, end, document id, heading path (JSON), text
 *   post    kb\0 term            sorted duplicates {id(be32), tf, dl}: the term's postings
 *   dchunk  kb\0 dochash         sorted duplicates id(be32): the document's chunks
 *   ddoc    kb\0 dochash         the document version indexed: hash(16) and its id
 *   vec     kb\0 id(be32)        dim floats, unit length, while the vector is in
 *                                no IVF list; u32 the list's number once it is
 *   ivf     kb\0 'C'             nlist * dim floats: the IVF centroids
 *           kb\0 'L' list id     dim floats: list `list`'s vectors, consecutive keys
 *                                (a base's vector is in vec or here, not both)
 *   emb     hash(16)             model length (u16), model, dim floats: embeddings
 * Every change of a base is one write transaction: a crash leaves the
 * index as it was before that transaction or after it. The IVF is trained
 * in slices in memory and written in one transaction (dtrain.c).
 */
#ifndef RAG_DISK_H
#define RAG_DISK_H

#include "analyze.h"
#include "ann.h"
#include "topk.h"

#include <stddef.h>
#include <stdint.h>

typedef struct rag_disk rag_disk;

typedef struct {
    uint64_t chunks;  /* chunks indexed */
    uint64_t total;   /* the sum of their lengths in terms (BM25's average) */
    uint64_t vecs;    /* chunks with a vector */
    uint64_t trained; /* vecs when the IVF was trained; 0: no IVF */
    uint32_t next_id; /* the next chunk's id (ids are never reused) */
    uint32_t dim;     /* the vectors' dimension; 0 before the first */
    uint32_t nlist;   /* IVF lists; 0: no IVF */
} rag_disk_stats;

/* Opens (creating) the environment in dir with a map of map_mb MiB. 0, or
 * -1 with a message naming the path in err. */
int rag_disk_open(rag_disk **out, const char *dir, size_t map_mb, char *err, size_t errn);
void rag_disk_close(rag_disk *d);
/* The last LMDB error's text (after a -1). */
const char *rag_disk_error(const rag_disk *d);

/* A base's counters (zero for a base with nothing indexed). 0 or -1. */
int rag_disk_stats_get(rag_disk *d, const char *kb, rag_disk_stats *st);

/* ---- embeddings by content hash ------------------------------------------ */

/* 1 when an embedding of that text hash by model is stored (*dim set, and
 * the floats copied into out when out is not NULL and outn >= *dim), 0 when
 * not, -1 on error. */
int rag_disk_emb_get(rag_disk *d, const char *hash, const char *model, float *out, size_t outn,
                     size_t *dim);
/* Stores n embeddings (vecs[i] of dims[i] floats) in one transaction. */
int rag_disk_emb_put(rag_disk *d, const char (*hashes)[17], const float *const *vecs,
                     const size_t *dims, size_t n, const char *model);

/* ---- documents ------------------------------------------------------------- */

typedef struct {
    uint32_t seq;
    size_t start, end, tokens; /* characters, and tokens */
    const char *text;
    size_t len;
    const char *path; /* the heading path as JSON text */
    const char *hash; /* the text's hash: its embedding, if stored */
} rag_disk_chunk;

/* Indexes document doc of kb at version doc_hash in one transaction: its
 * previous chunks dropped, these added with their postings, and their
 * embeddings by model when stored (of the base's dimension; listed in the
 * IVF when the base has one). 0, or -1 with nothing changed. */
int rag_disk_index_doc(rag_disk *d, rag_analyzer *a, const char *kb, const char *doc,
                       const char *doc_hash, const rag_disk_chunk *c, size_t n, const char *model);
/* Drops a document's chunks (one transaction). */
int rag_disk_drop_doc(rag_disk *d, rag_analyzer *a, const char *kb, const char *doc);
/* Bytes of the file's pages in use by the index's databases (the file
 * itself only grows: pages freed are reused by later writes). */
size_t rag_disk_used_bytes(rag_disk *d);
/* Drops everything of a base (one transaction), and its training if one is
 * under way. */
int rag_disk_drop_kb(rag_disk *d, const char *kb);
/* 1 with the hash of the version of doc indexed in out, 0 when none. */
int rag_disk_doc_hash(rag_disk *d, const char *kb, const char *doc, char out[17]);

/* ---- searches (dlex.c, dvec.c) --------------------------------------------- */

/* A filter on a candidate chunk's document id (not NUL-terminated):
 * nonzero to keep. NULL keeps every chunk. */
typedef int (*rag_disk_keep)(void *ud, const char *doc, size_t len);

/* BM25 (k1 1.2, b 0.75, Lucene's idf) over the postings of the query's
 * terms only: the k best chunk ids, best first. Returns how many, or -1. */
int rag_disk_bm25(rag_disk *d, rag_analyzer *a, const char *kb, const char *q, size_t qn,
                  rag_disk_keep keep, void *ud, rag_hit *hits, size_t k);

/* The k nearest chunks by cosine to q (dim floats): exact below
 * o->min_vectors (every vector of the base read in key order), above
 * through the IVF (its lists read as consecutive keys); a filter leaving
 * fewer than k in the probed lists falls back to exact. *approx says
 * which. With no IVF yet, or the base doubled since it was trained, a
 * training starts: in slices when rag_disk_on_train is set (this search
 * and those until the switch answered exact, or by the IVF before), at
 * once otherwise. Returns how many, or -1. */
int rag_disk_vsearch(rag_disk *d, const char *kb, const float *q, size_t dim,
                     const rag_vsearch_opts *o, rag_disk_keep keep, void *ud, rag_hit *hits,
                     size_t k, int *approx);

/* (Re)trains the base's IVF on a sample of its vectors and lists every
 * vector under its nearest centroid, at once (a training under way is
 * dropped). The lists are written in one transaction. 0 or -1. */
int rag_disk_ivf_train(rag_disk *d, const char *kb, const rag_ann_opts *o);

/* ---- training in slices (dtrain.c, ADR 0058) ----------------------------------- */

/* Called when rag_disk_vsearch starts a training: the caller then calls
 * rag_disk_train_step from its loop until it returns 0. */
void rag_disk_on_train(rag_disk *d, void (*fn)(void *ud), void *ud);
/* Starts training kb's IVF (one base at a time): 0 started, 1 when a
 * training is already under way, -1 (no vectors, no memory). Nothing on
 * disk changes until the last step. */
int rag_disk_train_begin(rag_disk *d, const char *kb, const rag_ann_opts *o);
/* One slice: about budget multiply-adds (vector-to-centroid comparisons
 * times the dimension; a vector read for the sample counts 16 per float). 1
 * when there is more to do; 0 when done (the centroids
 * and lists committed in one transaction, vectors added meanwhile listed,
 * dropped ones not) or nothing is under way; -1 when it failed (dropped;
 * the index is as before). */
int rag_disk_train_step(rag_disk *d, size_t budget);
/* Is kb's IVF (any base's when kb is NULL) being trained? */
int rag_disk_training(const rag_disk *d, const char *kb);

/* A chunk as stored: fields borrowed from the map for the callback. */
typedef struct {
    uint32_t seq, tokens;
    uint64_t start, end;
    const char *doc, *path, *text;
    size_t doc_len, path_len, text_len;
} rag_disk_chunk_view;
/* Reads the chunks of hits[0..n) in one read transaction, calling fn for
 * each one found (in order). 0 or -1. */
typedef void (*rag_disk_chunk_fn)(void *ud, const rag_hit *h, const rag_disk_chunk_view *v);
int rag_disk_chunks_read(rag_disk *d, const char *kb, const rag_hit *hits, size_t n,
                         rag_disk_chunk_fn fn, void *ud);

/* Chunks decoded into the heap right now, and the most at any time since
 * open: the index holds none between calls, and a search only its
 * passages (the test of a base larger than memory reads these). */
size_t rag_disk_resident(void);
size_t rag_disk_resident_peak(void);

/* Tests: called at named points of a write transaction (before commit:
 * "index.commit"); a hook may abort the process there to prove that a
 * crash leaves the index consistent. NULL in production. */
extern void (*rag_disk_fault)(const char *point);

#endif
