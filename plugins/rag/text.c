/*
 * UTF-8 tokenisation and case folding (text.h).
 */
#include "text.h"

#include <string.h>

int32_t rag_utf8_next(const char *s, size_t n, size_t *i)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t at = *i;
    unsigned char b = u[at];
    int32_t c;
    size_t need;
    int32_t min;
    *i = at + 1;
    if (b < 0x80) return b;
    if (b >= 0xC2 && b <= 0xDF) {
        c = b & 0x1F;
        need = 1;
        min = 0x80;
    } else if (b >= 0xE0 && b <= 0xEF) {
        c = b & 0x0F;
        need = 2;
        min = 0x800;
    } else if (b >= 0xF0 && b <= 0xF4) {
        c = b & 0x07;
        need = 3;
        min = 0x10000;
    } else {
        return -1;
    }
    if (n - at - 1 < need) return -1;
    for (size_t k = 1; k <= need; k++) {
        if ((u[at + k] & 0xC0) != 0x80) return -1;
        c = (c << 6) | (u[at + k] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return -1;
    *i = at + 1 + need;
    return c;
}

static int32_t fold_latin_ext_a(int32_t c)
{
    if (c == 0x130) return 'i';
    if (c == 0x178) return 0xFF;
    if (c == 0x17F) return 's';
    if (c == 0x131 || c == 0x138 || c == 0x149) return c;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? c + 1 : c;
    return (c & 1) ? c : c + 1;
}

static int32_t fold_greek(int32_t c)
{
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 0x20;
    if (c == 0x386) return 0x3AC;
    if (c >= 0x388 && c <= 0x38A) return c + 37;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 63;
    if (c == 0x3C2) return 0x3C3; /* final sigma */
    return c;
}

static int32_t fold_cyrillic(int32_t c)
{
    if (c == 0x401 || c == 0x451) return 0x435; /* Ё, ё → е */
    if (c >= 0x400 && c <= 0x40F) return c + 0x50;
    if (c >= 0x410 && c <= 0x42F) return c + 0x20;
    if (c == 0x4C0) return 0x4CF;
    if (c >= 0x4C1 && c <= 0x4CE) return (c & 1) ? c + 1 : c;
    if ((c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF) || (c >= 0x4D0 && c <= 0x52F))
        return (c & 1) ? c : c + 1;
    return c;
}

int32_t rag_fold(int32_t c)
{
    if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    if (c < 0x100) return (c >= 0xC0 && c <= 0xDE && c != 0xD7) ? c + 32 : c;
    if (c < 0x180) return fold_latin_ext_a(c);
    if (c >= 0x370 && c < 0x400) return fold_greek(c);
    if (c >= 0x400 && c < 0x530) return fold_cyrillic(c);
    return c;
}

typedef enum { CL_SEP, CL_LETTER, CL_DIGIT, CL_INVISIBLE, CL_COMBINING, CL_APOS, CL_NUMSEP } cls;

static int in(int32_t c, int32_t lo, int32_t hi)
{
    return c >= lo && c <= hi;
}

static cls classify_ascii(int32_t c)
{
    if (in(c, '0', '9')) return CL_DIGIT;
    if (in(c, 'a', 'z') || in(c, 'A', 'Z')) return CL_LETTER;
    if (c == '\'') return CL_APOS;
    if (c == '.' || c == ',') return CL_NUMSEP;
    return CL_SEP;
}

static cls classify(int32_t c)
{
    if (c < 0) return CL_SEP;
    if (c < 0x80) return classify_ascii(c);
    if (c == 0xAD || c == 0x200C || c == 0x200D || c == 0x2060 || in(c, 0xFE00, 0xFE0F))
        return CL_INVISIBLE;
    if (in(c, 0x300, 0x36F)) return CL_COMBINING;
    if (c == 0x2019 || c == 0x2BC) return CL_APOS;
    if (in(c, 0x80, 0xBF)) return (c == 0xAA || c == 0xB5 || c == 0xBA) ? CL_LETTER : CL_SEP;
    if (c == 0xD7 || c == 0xF7) return CL_SEP;
    if (in(c, 0x2000, 0x2BFF) || in(c, 0x3000, 0x303F) || in(c, 0xE000, 0xF8FF) || c == 0xFEFF ||
        in(c, 0xFFF0, 0xFFFF) || in(c, 0x1F000, 0x1FAFF))
        return CL_SEP;
    return CL_LETTER;
}

static rag_script script_of(int32_t c)
{
    if (c < 0x250) return RAG_SCRIPT_LATIN;
    if (in(c, 0x400, 0x52F)) return RAG_SCRIPT_CYRILLIC;
    return RAG_SCRIPT_OTHER;
}

static size_t utf8_put(char *o, int32_t c)
{
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xC0 | (c >> 6));
        o[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | (c >> 12));
        o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (c >> 18));
    o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* A token being built. */
typedef struct {
    char buf[RAG_TOKEN_MAX + 8];
    size_t len;
    size_t start, end;
    int32_t last; /* the last code point appended (folded), 0 when empty */
    rag_script script;
    int open;
} tokbuf;

static void tb_add(tokbuf *t, int32_t c, size_t start, size_t end)
{
    if (!t->open) {
        t->open = 1;
        t->len = 0;
        t->start = start;
        t->script = RAG_SCRIPT_DIGIT;
    }
    t->end = end;
    if (t->script == RAG_SCRIPT_DIGIT && classify(c) == CL_LETTER) t->script = script_of(c);
    int32_t f = rag_fold(c);
    char enc[8];
    size_t k = (c == 0xDF || c == 0x1E9E) ? (memcpy(enc, "ss", 2), 2) : utf8_put(enc, f);
    if (t->len + k <= RAG_TOKEN_MAX) {
        memcpy(t->buf + t->len, enc, k);
        t->len += k;
    }
    t->last = f;
}

static int tb_flush(tokbuf *t, rag_token_fn fn, void *ud)
{
    if (!t->open) return 0;
    t->open = 0;
    t->last = 0;
    t->buf[t->len] = 0;
    rag_token tok = {t->buf, t->len, t->start, t->end, t->script};
    return fn(ud, &tok);
}

/* A combining mark inside a word: й from и + breve; every other mark goes. */
static void tb_combine(tokbuf *t, int32_t mark)
{
    if (mark == 0x306 && t->len >= 2 && (unsigned char)t->buf[t->len - 2] == 0xD0 &&
        (unsigned char)t->buf[t->len - 1] == 0xB8) {
        t->buf[t->len - 1] = (char)0xB9; /* и (D0 B8) → й (D0 B9) */
        t->last = 0x439;
    }
}

static int32_t peek(const char *s, size_t n, size_t i)
{
    return i < n ? rag_utf8_next(s, n, &i) : -1;
}

int rag_tokenize(const char *s, size_t n, rag_token_fn fn, void *ud)
{
    tokbuf t = {.open = 0};
    size_t i = 0;
    while (i < n) {
        size_t at = i;
        int32_t c = rag_utf8_next(s, n, &i);
        cls k = classify(c);
        int rc = 0;
        if (k == CL_LETTER || k == CL_DIGIT) {
            tb_add(&t, c, at, i);
        } else if (k == CL_INVISIBLE && t.open) {
            t.end = i;
        } else if (k == CL_COMBINING && t.open) {
            tb_combine(&t, c);
            t.end = i;
        } else if (k == CL_APOS && t.open && classify(t.last) == CL_LETTER &&
                   classify(peek(s, n, i)) == CL_LETTER) {
            tb_add(&t, '\'', at, i);
        } else if (k == CL_NUMSEP && t.open && classify(t.last) == CL_DIGIT &&
                   classify(peek(s, n, i)) == CL_DIGIT) {
            tb_add(&t, c, at, i);
        } else {
            rc = tb_flush(&t, fn, ud);
        }
        if (rc) return rc;
    }
    return tb_flush(&t, fn, ud);
}

static int count_one(void *ud, const rag_token *tok)
{
    (void)tok;
    (*(size_t *)ud)++;
    return 0;
}

size_t rag_token_count(const char *s, size_t n)
{
    size_t c = 0;
    rag_tokenize(s, n, count_one, &c);
    return c;
}
