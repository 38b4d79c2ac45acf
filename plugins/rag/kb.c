/*
 * Knowledge bases in memory (kb.h).
 */
#include "kb.h"

#include <stdlib.h>
#include <string.h>

rag_kb *rag_kbs_find(const rag_kbs *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->kbs[i]->name, name) == 0) return s->kbs[i];
    return NULL;
}

static void kb_free(rag_kb *kb)
{
    if (!kb) return;
    for (size_t i = 0; i < kb->nchunks; i++) {
        free(kb->chunks[i].text);
        json_decref(kb->chunks[i].path);
    }
    for (size_t i = 0; i < kb->ndocs; i++) {
        free(kb->docs[i].id);
        json_decref(kb->docs[i].rec);
    }
    free(kb->chunks);
    free(kb->docs);
    rag_ann_free(kb->ann);
    rag_vecs_free(&kb->vecs);
    free(kb->vec_chunk);
    rag_index_free(kb->ix);
    json_decref(kb->rec);
    free(kb->name);
    free(kb);
}

rag_kb *rag_kbs_add(rag_kbs *s, const char *name, const json_t *rec)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        rag_kb **nk = realloc(s->kbs, cap * sizeof *nk);
        if (!nk) return NULL;
        s->kbs = nk;
        s->cap = cap;
    }
    rag_kb *kb = calloc(1, sizeof *kb);
    if (!kb) return NULL;
    kb->name = strdup(name);
    kb->rec = json_deep_copy(rec);
    kb->ix = rag_index_new(s->a);
    if (!kb->name || !kb->rec || !kb->ix) {
        kb_free(kb);
        return NULL;
    }
    s->kbs[s->n++] = kb;
    return kb;
}

void rag_kbs_remove(rag_kbs *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->kbs[i]->name, name) != 0) continue;
        kb_free(s->kbs[i]);
        s->kbs[i] = s->kbs[--s->n];
        return;
    }
}

void rag_kbs_free(rag_kbs *s)
{
    for (size_t i = 0; i < s->n; i++)
        kb_free(s->kbs[i]);
    free(s->kbs);
    s->kbs = NULL;
    s->n = s->cap = 0;
}

rag_doc *rag_kb_doc(rag_kb *kb, const char *id)
{
    for (size_t i = 0; i < kb->ndocs; i++)
        if (kb->docs[i].live && strcmp(kb->docs[i].id, id) == 0) return &kb->docs[i];
    return NULL;
}

rag_doc *rag_kb_doc_add(rag_kb *kb, const char *id, const json_t *rec)
{
    if (kb->ndocs == kb->dcap) {
        size_t cap = kb->dcap ? kb->dcap * 2 : 16;
        rag_doc *nd = realloc(kb->docs, cap * sizeof *nd);
        if (!nd) return NULL;
        kb->docs = nd;
        kb->dcap = cap;
    }
    rag_doc *d = &kb->docs[kb->ndocs];
    *d = (rag_doc){strdup(id), json_deep_copy(rec), 1, 0};
    if (!d->id || !d->rec) {
        free(d->id);
        json_decref(d->rec);
        return NULL;
    }
    kb->ndocs++;
    return d;
}

void rag_kb_doc_drop(rag_kb *kb, rag_doc *d)
{
    uint32_t di = (uint32_t)(d - kb->docs);
    d->live = 0;
    for (size_t i = 0; i < kb->nchunks; i++) {
        if (kb->chunks[i].doc != di || !kb->chunks[i].live) continue;
        kb->chunks[i].live = 0;
        free(kb->chunks[i].text);
        kb->chunks[i].text = NULL;
        rag_index_remove(kb->ix, (uint32_t)i);
    }
}

static int64_t vec_add(rag_kb *kb, uint32_t chunk, const float *vec, size_t dim)
{
    if (!vec || !dim) return -1;
    if (!kb->vecs.dim) kb->vecs.dim = dim;
    if (dim != kb->vecs.dim) return -1;
    if (kb->vecs.n == kb->vcap) {
        size_t cap = kb->vcap ? kb->vcap * 2 : 64;
        uint32_t *nv = realloc(kb->vec_chunk, cap * sizeof *nv);
        if (!nv) return -1;
        kb->vec_chunk = nv;
        kb->vcap = cap;
    }
    int64_t id = rag_vecs_add(&kb->vecs, vec);
    if (id >= 0) kb->vec_chunk[id] = chunk;
    return id;
}

int rag_kb_chunk_add(rag_kb *kb, rag_doc *d, uint32_t seq, const char *text, size_t start,
                     size_t end, size_t tokens, const json_t *path, const float *vec, size_t dim)
{
    if (kb->nchunks == kb->ccap) {
        size_t cap = kb->ccap ? kb->ccap * 2 : 64;
        rag_chunk_rec *nc = realloc(kb->chunks, cap * sizeof *nc);
        if (!nc) return -1;
        kb->chunks = nc;
        kb->ccap = cap;
    }
    char *t = strdup(text);
    if (!t) return -1;
    int64_t id = rag_index_add(kb->ix, text, strlen(text));
    if (id != (int64_t)kb->nchunks) {
        free(t);
        return -1;
    }
    kb->chunks[kb->nchunks] = (rag_chunk_rec){(uint32_t)(d - kb->docs),
                                              seq,
                                              start,
                                              end,
                                              tokens,
                                              t,
                                              json_incref((json_t *)path),
                                              1,
                                              vec_add(kb, (uint32_t)kb->nchunks, vec, dim)};
    kb->nchunks++;
    return 0;
}

typedef struct {
    rag_kb *kb;
    const json_t *tags;
    const char *language;
} filter;

static int has_tag(const json_t *tags, const char *tag)
{
    size_t i;
    json_t *t;
    json_array_foreach(tags, i,
                       t) if (json_is_string(t) && strcmp(json_string_value(t), tag) == 0) return 1;
    return 0;
}

static int keep(void *ud, uint32_t id)
{
    filter *f = ud;
    const rag_chunk_rec *c = &f->kb->chunks[id];
    const json_t *rec = f->kb->docs[c->doc].rec;
    if (!c->live) return 0;
    if (f->language) {
        const char *l = json_string_value(json_object_get(rec, "language"));
        if (!l || strcmp(l, f->language) != 0) return 0;
    }
    size_t i;
    json_t *t;
    json_array_foreach(f->tags, i, t)
    {
        if (!has_tag(json_object_get(rec, "tags"), json_string_value(t))) return 0;
    }
    return 1;
}

static int keep_vec(void *ud, uint32_t id)
{
    filter *f = ud;
    return keep(f, f->kb->vec_chunk[id]);
}

static json_t *passages(rag_kb *kb, const rag_hit *hits, int n)
{
    json_t *out = json_array();
    for (int i = 0; out && i < n; i++) {
        const rag_chunk_rec *c = &kb->chunks[hits[i].doc];
        const rag_doc *d = &kb->docs[c->doc];
        json_array_append_new(out, json_pack("{s:s,s:O?,s:i,s:O,s:I,s:I,s:s,s:f}", "document",
                                             d->id, "title", json_object_get(d->rec, "title"),
                                             "chunk", (int)c->seq, "heading_path", c->path, "start",
                                             (json_int_t)c->start, "end", (json_int_t)c->end,
                                             "text", c->text, "score", hits[i].score));
    }
    return out;
}

#define FUSE_DEPTH 50

json_t *rag_kb_search_ex(rag_kb *kb, const char *query, const rag_search_opts *o, size_t top_k,
                         const json_t *tags, const char *language)
{
    size_t depth = o->mode == RAG_HYBRID && top_k < FUSE_DEPTH ? FUSE_DEPTH : top_k;
    rag_hit *lex = calloc(depth ? depth : 1, sizeof *lex);
    rag_hit *sem = calloc(depth ? depth : 1, sizeof *sem);
    rag_hit *fused = calloc(top_k ? top_k : 1, sizeof *fused);
    json_t *out = NULL;
    filter f = {kb, tags, language};
    int nl = 0, ns = 0, n = -1;
    if (!lex || !sem || !fused) goto done;
    if (o->mode != RAG_VECTOR)
        nl = rag_index_search(kb->ix, query, strlen(query), keep, &f, lex, depth);
    if (o->mode != RAG_BM25 && o->qvec && o->qdim == kb->vecs.dim && kb->vecs.n) {
        ns = o->ann ? rag_vsearch(&kb->ann, &kb->vecs, o->ann, o->qvec, keep_vec, &f, sem, depth)
                    : rag_vecs_search(&kb->vecs, o->qvec, keep_vec, &f, sem, depth);
        for (int i = 0; i < ns; i++)
            sem[i].doc = kb->vec_chunk[sem[i].doc];
    }
    if (nl < 0 || ns < 0) goto done;
    if (o->mode == RAG_BM25) {
        n = nl < (int)top_k ? nl : (int)top_k;
        out = passages(kb, lex, n);
    } else if (o->mode == RAG_VECTOR) {
        n = ns < (int)top_k ? ns : (int)top_k;
        out = passages(kb, sem, n);
    } else {
        const rag_hit *lists[2] = {lex, sem};
        size_t lens[2] = {(size_t)nl, (size_t)ns};
        double w[2] = {o->w_bm25, o->w_vector};
        n = rag_rrf(lists, lens, w, 2, 60.0, kb->nchunks, fused, top_k);
        if (n >= 0) out = passages(kb, fused, n);
    }
done:
    free(lex);
    free(sem);
    free(fused);
    return out;
}
