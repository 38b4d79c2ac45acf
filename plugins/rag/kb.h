/*
 * The RAG plugin's knowledge bases: the bases and their documents (the
 * records the KV holds) in memory; their chunks, postings and vectors in
 * the index on disk (disk.h, ADR 0054), read by the searches. No host:
 * rag.c and store.c keep the records in step with the KV.
 */
#ifndef RAG_KB_H
#define RAG_KB_H

#include "ann.h"
#include "disk.h"
#include "vec.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *id;
    json_t *rec; /* the document record (title, format, language, tags, hash, state...) */
    int live;
    size_t done; /* chunks written by the ingestion job */
} rag_doc;

typedef struct {
    char *name;
    json_t *rec;   /* the base record (name, max_tokens, overlap_tokens) */
    rag_doc *docs; /* every document added, live or dropped, in order */
    size_t ndocs, dcap;
    size_t *slots; /* the live documents by id: open addressing, index + 1 */
    size_t nslots, nlive;
} rag_kb;

typedef struct {
    rag_analyzer *a;
    rag_disk *disk; /* the index (borrowed) */
    rag_kb **kbs;
    size_t n, cap;
} rag_kbs;

rag_kb *rag_kbs_find(const rag_kbs *s, const char *name);
/* Adds a base (rec borrowed, copied); NULL when out of memory. */
rag_kb *rag_kbs_add(rag_kbs *s, const char *name, const json_t *rec);
/* Forgets the base and drops its index; 0, or -1 when the index refused
 * (the base is forgotten all the same). */
int rag_kbs_remove(rag_kbs *s, const char *name);
void rag_kbs_free(rag_kbs *s);

/* The live document of that id, or NULL (a hash lookup, whatever the
 * base's size); rag_kb_doc_add replaces none: a live document of the same
 * id is dropped first. */
rag_doc *rag_kb_doc(rag_kb *kb, const char *id);
/* The same for an id of len bytes, not terminated. */
rag_doc *rag_kb_doc_n(const rag_kb *kb, const char *id, size_t len);
rag_doc *rag_kb_doc_add(rag_kb *kb, const char *id, const json_t *rec);
/* Forgets the document and drops its chunks from the index; 0, or -1 when
 * the index refused (the document is forgotten all the same). */
int rag_kb_doc_drop(rag_kbs *s, rag_kb *kb, rag_doc *d);

typedef enum { RAG_BM25 = 0, RAG_VECTOR, RAG_HYBRID } rag_mode;

typedef struct {
    rag_mode mode;
    const float *qvec; /* the query's embedding (vector, hybrid) */
    size_t qdim;
    double w_bm25, w_vector;     /* hybrid: the fusion's weights */
    rag_fusion fusion;           /* hybrid: how the lists are fused (vec.h) */
    const rag_vsearch_opts *ann; /* exact below ann->min_vectors, IVF above; NULL: exact */
} rag_search_opts;

/* Searches: passages [{document, title, chunk, heading_path, start, end,
 * text, score}] best first, at most top_k, among documents whose record
 * has every tag in tags (an array or NULL) and, when language is given,
 * that language; NULL when out of memory or the index failed. By mode:
 * bm25 ranks by BM25; vector ranks chunks by cosine to qvec (score: the
 * cosine); hybrid fuses the BM25 and vector rankings (each at least 50
 * deep) as o->fusion says (score: the fused one). Chunks without an
 * embedding take part in BM25 only. *approx: the vector side went through
 * the IVF. */
json_t *rag_kb_search_ex(rag_kbs *s, rag_kb *kb, const char *query, const rag_search_opts *o,
                         size_t top_k, const json_t *tags, const char *language, int *approx);

#endif
