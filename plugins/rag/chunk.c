/*
 * Structure-aware chunking of Markdown (chunk.h): lines into blocks, blocks
 * into chunks in token space.
 */
#include "chunk.h"

#include "text.h"

#include <stdlib.h>
#include <string.h>

typedef enum { B_PARA, B_ITEM, B_CODE, B_HEADING } bkind;

typedef struct {
    bkind kind;
    int level;           /* headings: 1..6 */
    size_t start, end;   /* the block's bytes */
    size_t tstart, tend; /* headings: the title's bytes */
} block;

typedef struct {
    block *b;
    size_t n, cap;
} blocks;

typedef struct {
    size_t start, end;
} span;

typedef struct {
    span *t;
    size_t n, cap;
} tokens;

static int push_block(blocks *bs, block b)
{
    if (bs->n == bs->cap) {
        size_t cap = bs->cap ? bs->cap * 2 : 64;
        block *nb = realloc(bs->b, cap * sizeof *nb);
        if (!nb) return -1;
        bs->b = nb;
        bs->cap = cap;
    }
    bs->b[bs->n++] = b;
    return 0;
}

static size_t indent(const char *l, size_t len)
{
    size_t i = 0;
    while (i < len && i < 4 && l[i] == ' ')
        i++;
    return i;
}

static int is_blank(const char *l, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (l[i] != ' ' && l[i] != '\t' && l[i] != '\r') return 0;
    return 1;
}

static int is_fence(const char *l, size_t len)
{
    size_t i = indent(l, len);
    return i < 4 && len - i >= 3 && (memcmp(l + i, "```", 3) == 0 || memcmp(l + i, "~~~", 3) == 0);
}

/* An ATX heading: its level, and the title's bytes relative to l. */
static int atx(const char *l, size_t len, size_t *ts, size_t *te)
{
    size_t i = indent(l, len);
    if (i >= 4) return 0;
    int level = 0;
    while (i < len && l[i] == '#' && level < 7)
        i++, level++;
    if (level < 1 || level > 6 || (i < len && l[i] != ' ' && l[i] != '\t')) return 0;
    while (i < len && (l[i] == ' ' || l[i] == '\t'))
        i++;
    size_t e = len;
    while (e > i && (l[e - 1] == ' ' || l[e - 1] == '\t' || l[e - 1] == '\r'))
        e--;
    size_t h = e;
    while (h > i && l[h - 1] == '#')
        h--;
    if (h < e && (h == i || l[h - 1] == ' ')) e = h;
    while (e > i && l[e - 1] == ' ')
        e--;
    *ts = i;
    *te = e;
    return level;
}

/* A setext underline: 1 for '=', 2 for '-', 0 otherwise. */
static int setext(const char *l, size_t len)
{
    size_t i = indent(l, len);
    if (i >= 4 || i >= len || (l[i] != '=' && l[i] != '-')) return 0;
    char c = l[i];
    size_t k = 0;
    while (i < len && l[i] == c)
        i++, k++;
    if (!is_blank(l + i, len - i) || (c == '-' && k < 2)) return 0;
    return c == '=' ? 1 : 2;
}

static int is_item(const char *l, size_t len)
{
    size_t i = indent(l, len);
    if (i >= 4 || i >= len) return 0;
    if ((l[i] == '-' || l[i] == '*' || l[i] == '+') && (i + 1 == len || l[i + 1] == ' ')) return 1;
    size_t d = i;
    while (d < len && d - i < 9 && l[d] >= '0' && l[d] <= '9')
        d++;
    return d > i && d < len && (l[d] == '.' || l[d] == ')') && (d + 1 == len || l[d + 1] == ' ');
}

typedef struct {
    blocks *bs;
    int open; /* a paragraph or item is open (the last block) */
    int lines;
    int in_code;
} parser;

static int line(parser *p, const char *s, size_t at, size_t len)
{
    const char *l = s + at;
    block *last = p->open ? &p->bs->b[p->bs->n - 1] : NULL;
    size_t ts, te;
    int lv;
    if (p->in_code) {
        p->bs->b[p->bs->n - 1].end = at + len;
        if (is_fence(l, len)) p->in_code = 0;
        return 0;
    }
    if (is_blank(l, len)) {
        p->open = 0;
        return 0;
    }
    if (is_fence(l, len)) {
        p->open = 0;
        p->in_code = 1;
        return push_block(p->bs, (block){B_CODE, 0, at, at + len, 0, 0});
    }
    if ((lv = atx(l, len, &ts, &te)) > 0) {
        p->open = 0;
        return push_block(p->bs, (block){B_HEADING, lv, at, at + len, at + ts, at + te});
    }
    if (last && last->kind == B_PARA && p->lines == 1 && (lv = setext(l, len)) > 0) {
        *last = (block){B_HEADING, lv, last->start, at + len, last->start, last->end};
        p->open = 0;
        return 0;
    }
    if (is_item(l, len) || !last) {
        p->open = 1;
        p->lines = 1;
        return push_block(p->bs, (block){is_item(l, len) ? B_ITEM : B_PARA, 0, at, at + len, 0, 0});
    }
    last->end = at + len;
    p->lines++;
    return 0;
}

static int parse_blocks(const char *s, size_t n, blocks *bs)
{
    parser p = {bs, 0, 0, 0};
    size_t at = (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0;
    while (at < n) {
        const char *nl = memchr(s + at, '\n', n - at);
        size_t len = nl ? (size_t)(nl - (s + at)) : n - at;
        size_t e = len;
        while (e > 0 && s[at + e - 1] == '\r')
            e--;
        if (line(&p, s, at, e) < 0) return -1;
        at += len + 1;
    }
    return 0;
}

static int on_tok(void *ud, const rag_token *tok)
{
    tokens *t = ud;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        span *nt = realloc(t->t, cap * sizeof *nt);
        if (!nt) return -1;
        t->t = nt;
        t->cap = cap;
    }
    t->t[t->n++] = (span){tok->start, tok->end};
    return 0;
}

/* The first token starting at or after byte off. */
static size_t tok_at(const tokens *t, size_t off)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->t[mid].start < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The packer's state: the chunk being built. */
typedef struct {
    const char *s;
    const rag_chunk_opts *o;
    const tokens *t;
    rag_chunk *out;
    size_t n, cap;
    char *path[RAG_HEADING_DEPTH];
    size_t depth;
    int has, body;
    size_t cs, ce, ts, te; /* bytes and token indexes of the open chunk */
} packer;

static int emit(packer *k, size_t cs, size_t ce, size_t ntok)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 16;
        rag_chunk *nc = realloc(k->out, cap * sizeof *nc);
        if (!nc) return -1;
        k->out = nc;
        k->cap = cap;
    }
    rag_chunk *c = &k->out[k->n];
    memset(c, 0, sizeof *c);
    c->start = cs;
    c->end = ce;
    c->tokens = ntok;
    k->n++;
    for (size_t i = 0; i < k->depth; i++) {
        c->path[i] = strdup(k->path[i] ? k->path[i] : "");
        if (!c->path[i]) return -1;
        c->depth = i + 1;
    }
    return 0;
}

static int flush(packer *k)
{
    int rc = (k->has && k->body) ? emit(k, k->cs, k->ce, k->te - k->ts) : 0;
    k->has = k->body = 0;
    return rc;
}

/* The open chunk grows to token te (byte ce); cut while it is too long. */
static int grow(packer *k, size_t te, size_t ce)
{
    size_t max = k->o->max_tokens, ov = k->o->overlap_tokens;
    while (te - k->ts > max) {
        size_t cut = k->ts + max;
        if (emit(k, k->cs, k->t->t[cut - 1].end, max) < 0) return -1;
        k->ts = cut - ov;
        k->cs = k->t->t[k->ts].start;
    }
    k->te = te;
    k->ce = ce;
    k->body = 1;
    return 0;
}

static int add_block(packer *k, const block *b)
{
    size_t ts = tok_at(k->t, b->start), te = tok_at(k->t, b->end);
    if (te == ts) return 0; /* nothing to search in it */
    if (!k->has) {
        k->has = 1;
        k->cs = b->start;
        k->ts = ts;
        return grow(k, te, b->end);
    }
    /* it fits, or only a heading is open: cut from there */
    if (te - k->ts <= k->o->max_tokens || !k->body) return grow(k, te, b->end);
    size_t have = k->te - k->ts, need = te - ts;
    size_t ov = k->o->overlap_tokens < have ? k->o->overlap_tokens : have;
    if (ov && need < k->o->max_tokens && ov > k->o->max_tokens - need) ov = k->o->max_tokens - need;
    if (emit(k, k->cs, k->ce, have) < 0) return -1;
    k->ts = k->te - ov;
    k->cs = ov ? k->t->t[k->ts].start : b->start;
    return grow(k, te, b->end);
}

static int heading(packer *k, const block *b)
{
    if (flush(k) < 0) return -1;
    size_t lv = (size_t)b->level;
    for (size_t i = lv - 1; i < RAG_HEADING_DEPTH; i++) {
        free(k->path[i]);
        k->path[i] = NULL;
    }
    k->path[lv - 1] = strndup(k->s + b->tstart, b->tend - b->tstart);
    if (!k->path[lv - 1]) return -1;
    k->depth = lv;
    k->has = 1;
    k->cs = b->start;
    k->ce = b->end;
    k->ts = tok_at(k->t, b->start);
    k->te = tok_at(k->t, b->end);
    if (k->te - k->ts > k->o->max_tokens) k->te = k->ts + k->o->max_tokens;
    return 0;
}

int rag_chunk_markdown(const char *s, size_t n, const rag_chunk_opts *o, rag_chunk **out,
                       size_t *count)
{
    if (!o || o->max_tokens < 1 || o->overlap_tokens >= o->max_tokens) return -1;
    blocks bs = {0};
    tokens t = {0};
    packer k = {.s = s, .o = o, .t = &t};
    int rc = -1;
    if (parse_blocks(s, n, &bs) < 0 || rag_tokenize(s, n, on_tok, &t) != 0) goto out;
    for (size_t i = 0; i < bs.n; i++) {
        const block *b = &bs.b[i];
        if ((b->kind == B_HEADING ? heading(&k, b) : add_block(&k, b)) < 0) goto out;
    }
    if (flush(&k) < 0) goto out;
    rc = 0;
out:
    for (size_t i = 0; i < RAG_HEADING_DEPTH; i++)
        free(k.path[i]);
    free(bs.b);
    free(t.t);
    if (rc < 0) {
        rag_chunks_free(k.out, k.n);
        k.out = NULL;
        k.n = 0;
    }
    *out = k.out;
    *count = k.n;
    return rc;
}

void rag_chunks_free(rag_chunk *c, size_t n)
{
    if (!c) return;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < c[i].depth; j++)
            free(c[i].path[j]);
    free(c);
}
