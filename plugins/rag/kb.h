/*
 * The RAG plugin's knowledge bases in memory: bases, their documents (the
 * records the KV holds) and their searchable chunks, each base with its own
 * BM25 index (bm25.h) whose document ids are the chunks' indexes. No host:
 * rag.c and store.c keep it in step with the KV (ADR 0029).
 */
#ifndef RAG_KB_H
#define RAG_KB_H

#include "ann.h"
#include "bm25.h"
#include "vec.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t doc; /* index in the base's docs */
    uint32_t seq; /* the chunk's number in its document */
    size_t start, end, tokens;
    char *text;
    json_t *path; /* array of heading titles */
    int live;
    int64_t vec; /* its embedding's id in the base's vecs, or -1 */
} rag_chunk_rec;

typedef struct {
    char *id;
    json_t *rec; /* the document record (title, format, language, tags, hash, state...) */
    int live;
    size_t done; /* chunks written by the ingestion job */
} rag_doc;

typedef struct {
    char *name;
    json_t *rec; /* the base record (name, max_tokens, overlap_tokens) */
    rag_index *ix;
    rag_chunk_rec *chunks;
    size_t nchunks, ccap;
    rag_doc *docs;
    size_t ndocs, dcap;
    rag_vecs vecs;       /* the chunks' embeddings (dim set by the first) */
    uint32_t *vec_chunk; /* embedding id -> chunk index */
    size_t vcap;
    rag_ann *ann; /* the approximate index over vecs, once a search needs it */
} rag_kb;

typedef struct {
    rag_analyzer *a;
    rag_kb **kbs;
    size_t n, cap;
} rag_kbs;

rag_kb *rag_kbs_find(const rag_kbs *s, const char *name);
/* Adds a base (rec borrowed, copied); NULL when out of memory. */
rag_kb *rag_kbs_add(rag_kbs *s, const char *name, const json_t *rec);
void rag_kbs_remove(rag_kbs *s, const char *name);
void rag_kbs_free(rag_kbs *s);

/* The live document of that id, or NULL; rag_kb_doc_add replaces none. */
rag_doc *rag_kb_doc(rag_kb *kb, const char *id);
rag_doc *rag_kb_doc_add(rag_kb *kb, const char *id, const json_t *rec);
/* Tombstones the document and its chunks. */
void rag_kb_doc_drop(rag_kb *kb, rag_doc *d);

/* Indexes one chunk of document d (text copied, path borrowed), with its
 * embedding (dim floats, copied) when vec is not NULL: an embedding of
 * another dimension than the base's first is left out. 0 or -1. */
int rag_kb_chunk_add(rag_kb *kb, rag_doc *d, uint32_t seq, const char *text, size_t start,
                     size_t end, size_t tokens, const json_t *path, const float *vec, size_t dim);

typedef enum { RAG_BM25 = 0, RAG_VECTOR, RAG_HYBRID } rag_mode;

typedef struct {
    rag_mode mode;
    const float *qvec; /* the query's embedding (vector, hybrid) */
    size_t qdim;
    double w_bm25, w_vector;     /* hybrid: reciprocal rank fusion weights */
    const rag_vsearch_opts *ann; /* exact below ann->min_vectors, IVF above; NULL: exact */
} rag_search_opts;

/* Searches: passages [{document, title, chunk, heading_path, start, end,
 * text, score}] best first, at most top_k, among documents whose record
 * has every tag in tags (an array or NULL) and, when language is given,
 * that language; NULL when out of memory. By mode: bm25 ranks by BM25;
 * vector ranks chunks by cosine to qvec (score: the cosine); hybrid fuses
 * the BM25 and vector rankings (each at least 50 deep) by reciprocal rank
 * (score: the fused one). Chunks without an embedding take part in BM25
 * only. */
json_t *rag_kb_search_ex(rag_kb *kb, const char *query, const rag_search_opts *o, size_t top_k,
                         const json_t *tags, const char *language);

#endif
