/*
 * Knowledge bases: records in memory, searches over the index on disk
 * (kb.h).
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
    for (size_t i = 0; i < kb->ndocs; i++) {
        free(kb->docs[i].id);
        json_decref(kb->docs[i].rec);
    }
    free(kb->docs);
    free(kb->slots);
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
    if (!kb->name || !kb->rec) {
        kb_free(kb);
        return NULL;
    }
    s->kbs[s->n++] = kb;
    return kb;
}

int rag_kbs_remove(rag_kbs *s, const char *name)
{
    int rc = s->disk ? rag_disk_drop_kb(s->disk, name) : 0;
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->kbs[i]->name, name) != 0) continue;
        kb_free(s->kbs[i]);
        s->kbs[i] = s->kbs[--s->n];
        break;
    }
    return rc;
}

void rag_kbs_free(rag_kbs *s)
{
    for (size_t i = 0; i < s->n; i++)
        kb_free(s->kbs[i]);
    free(s->kbs);
    s->kbs = NULL;
    s->n = s->cap = 0;
}

/* ---- the live documents by id: linear probing, at most half full -------- */

static size_t id_home(const rag_kb *kb, const char *id, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)id[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29)) & (kb->nslots - 1);
}

/* The slot holding that id, or the empty one where it would go. */
static size_t slot_of(const rag_kb *kb, const char *id, size_t len)
{
    size_t mask = kb->nslots - 1, i = id_home(kb, id, len);
    while (kb->slots[i]) { /* ends: an empty slot is always left */
        const char *e = kb->docs[kb->slots[i] - 1].id;
        if (strncmp(e, id, len) == 0 && e[len] == '\0') return i;
        i = (i + 1) & mask;
    }
    return i;
}

static int slots_grow(rag_kb *kb)
{
    size_t n = kb->nslots ? kb->nslots * 2 : 16, *old = kb->slots, oldn = kb->nslots;
    size_t *ns = calloc(n, sizeof *ns);
    if (!ns) return -1;
    kb->slots = ns;
    kb->nslots = n;
    for (size_t i = 0; i < oldn; i++) {
        if (!old[i]) continue;
        const char *id = kb->docs[old[i] - 1].id;
        kb->slots[slot_of(kb, id, strlen(id))] = old[i];
    }
    free(old);
    return 0;
}

/* Empties slot i, moving back the entries after it that probed past it. */
static void slot_remove(rag_kb *kb, size_t i)
{
    size_t mask = kb->nslots - 1;
    kb->slots[i] = 0;
    for (size_t j = (i + 1) & mask; kb->slots[j]; j = (j + 1) & mask) {
        const char *id = kb->docs[kb->slots[j] - 1].id;
        size_t home = id_home(kb, id, strlen(id));
        int stays = i <= j ? home > i && home <= j : home > i || home <= j;
        if (stays) continue;
        kb->slots[i] = kb->slots[j];
        kb->slots[j] = 0;
        i = j;
    }
}

rag_doc *rag_kb_doc_n(const rag_kb *kb, const char *id, size_t len)
{
    if (!kb->nslots) return NULL;
    size_t i = slot_of(kb, id, len);
    return kb->slots[i] ? &kb->docs[kb->slots[i] - 1] : NULL;
}

rag_doc *rag_kb_doc(rag_kb *kb, const char *id)
{
    return rag_kb_doc_n(kb, id, strlen(id));
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
    if (2 * (kb->nlive + 1) > kb->nslots && slots_grow(kb) < 0) return NULL;
    rag_doc *d = &kb->docs[kb->ndocs];
    *d = (rag_doc){strdup(id), json_deep_copy(rec), 1, 0};
    if (!d->id || !d->rec) {
        free(d->id);
        json_decref(d->rec);
        return NULL;
    }
    kb->ndocs++;
    size_t i = slot_of(kb, id, strlen(id));
    if (!kb->slots[i]) { /* a live one of that id (never, by the contract) stays found */
        kb->slots[i] = kb->ndocs;
        kb->nlive++;
    }
    return d;
}

int rag_kb_doc_drop(rag_kbs *s, rag_kb *kb, rag_doc *d)
{
    if (!d) return 0;
    if (d->live && kb->nslots) {
        size_t i = slot_of(kb, d->id, strlen(d->id));
        if (kb->slots[i] == (size_t)(d - kb->docs) + 1) {
            slot_remove(kb, i);
            kb->nlive--;
        }
    }
    d->live = 0;
    return s->disk ? rag_disk_drop_doc(s->disk, s->a, kb->name, d->id) : 0;
}

/* The filter: the ids of the documents it keeps, sorted, or all. */
typedef struct {
    const char **ids;
    size_t n;
} filter;

static int has_tag(const json_t *tags, const char *tag)
{
    size_t i;
    json_t *t;
    json_array_foreach(tags, i,
                       t) if (json_is_string(t) && strcmp(json_string_value(t), tag) == 0) return 1;
    return 0;
}

static int passes(const json_t *rec, const json_t *tags, const char *language)
{
    if (language) {
        const char *l = json_string_value(json_object_get(rec, "language"));
        if (!l || strcmp(l, language) != 0) return 0;
    }
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
    {
        if (!has_tag(json_object_get(rec, "tags"), json_string_value(t))) return 0;
    }
    return 1;
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct {
    const char *p;
    size_t n;
} span;

static int cmp_span(const void *key, const void *elem)
{
    const span *k = key;
    const char *e = *(const char *const *)elem;
    size_t el = strlen(e);
    int c = memcmp(k->p, e, k->n < el ? k->n : el);
    return c ? c : (k->n > el) - (k->n < el);
}

static int keep(void *ud, const char *doc, size_t len)
{
    const filter *f = ud;
    span k = {doc, len};
    return bsearch(&k, f->ids, f->n, sizeof *f->ids, cmp_span) != NULL;
}

typedef struct {
    const rag_kb *kb;
    json_t *out;
} building;

static void passage(void *ud, const rag_hit *h, const rag_disk_chunk_view *c)
{
    building *b = ud;
    const rag_doc *d = rag_kb_doc_n(b->kb, c->doc, c->doc_len);
    if (!d) return; /* dropped meanwhile */
    json_t *path = json_loadb(c->path, c->path_len, 0, NULL);
    json_array_append_new(
        b->out, json_pack("{s:s,s:O?,s:i,s:o,s:I,s:I,s:s%,s:f}", "document", d->id, "title",
                          json_object_get(d->rec, "title"), "chunk", (int)c->seq, "heading_path",
                          path ? path : json_array(), "start", (json_int_t)c->start, "end",
                          (json_int_t)c->end, "text", c->text, c->text_len, "score", h->score));
}

static json_t *passages(rag_kbs *s, const rag_kb *kb, const rag_hit *hits, int n)
{
    building b = {kb, json_array()};
    if (b.out && rag_disk_chunks_read(s->disk, kb->name, hits, (size_t)n, passage, &b) < 0) {
        json_decref(b.out);
        return NULL;
    }
    return b.out;
}

#define FUSE_DEPTH 50

json_t *rag_kb_search_ex(rag_kbs *s, rag_kb *kb, const char *query, const rag_search_opts *o,
                         size_t top_k, const json_t *tags, const char *language, int *approx)
{
    size_t depth = o->mode == RAG_HYBRID && top_k < FUSE_DEPTH ? FUSE_DEPTH : top_k;
    rag_hit *lex = calloc(depth ? depth : 1, sizeof *lex);
    rag_hit *sem = calloc(depth ? depth : 1, sizeof *sem);
    rag_hit *fused = calloc(top_k ? top_k : 1, sizeof *fused);
    json_t *out = NULL;
    filter f = {NULL, 0};
    int filtered = language || json_array_size(tags), nl = 0, ns = 0, n = -1;
    *approx = 0;
    if (!lex || !sem || !fused || !s->disk) goto done;
    if (filtered) {
        f.ids = calloc(kb->ndocs + 1, sizeof *f.ids);
        if (!f.ids) goto done;
        for (size_t i = 0; i < kb->ndocs; i++)
            if (kb->docs[i].live && passes(kb->docs[i].rec, tags, language))
                f.ids[f.n++] = kb->docs[i].id;
        qsort(f.ids, f.n, sizeof *f.ids, cmp_id);
    }
    rag_disk_keep kf = filtered ? keep : NULL;
    if (o->mode != RAG_VECTOR)
        nl = rag_disk_bm25(s->disk, s->a, kb->name, query, strlen(query), kf, &f, lex, depth);
    if (o->mode != RAG_BM25 && o->qvec)
        ns = rag_disk_vsearch(s->disk, kb->name, o->qvec, o->qdim, o->ann, kf, &f, sem, depth,
                              approx);
    if (nl < 0 || ns < 0) goto done;
    if (o->mode == RAG_BM25) {
        n = nl < (int)top_k ? nl : (int)top_k;
        out = passages(s, kb, lex, n);
    } else if (o->mode == RAG_VECTOR) {
        n = ns < (int)top_k ? ns : (int)top_k;
        out = passages(s, kb, sem, n);
    } else {
        const rag_hit *lists[2] = {lex, sem};
        size_t lens[2] = {(size_t)nl, (size_t)ns};
        double w[2] = {o->w_bm25, o->w_vector};
        n = rag_fuse(lists, lens, w, 2, o->fusion, fused, top_k);
        if (n >= 0) out = passages(s, kb, fused, n);
    }
done:
    free(f.ids);
    free(lex);
    free(sem);
    free(fused);
    return out;
}
