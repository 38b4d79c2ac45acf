#include "index_key.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

enum { T_NULL = 1, T_FALSE, T_TRUE, T_NUMBER, T_STRING, T_JSON };
#define STR_CUT 128

/* ---- values of a document ------------------------------------------------ */

/* Append to out the values at path in v: one, or one per element where a
 * segment ends in "[]". */
static void values_at(const json_t *v, const char *path, json_t *out)
{
    if (!*path) {
        json_array_append(out, v ? (json_t *)v : json_null());
        return;
    }
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : strlen(path);
    const char *rest = dot ? dot + 1 : "";
    bool each = n > 2 && path[n - 2] == '[' && path[n - 1] == ']';
    char name[64];
    size_t nl = each ? n - 2 : n;
    if (nl >= sizeof(name)) return;
    memcpy(name, path, nl);
    name[nl] = 0;
    const json_t *child = json_is_object(v) ? json_object_get(v, name) : NULL;
    if (!each) {
        values_at(child, rest, out);
        return;
    }
    size_t i;
    const json_t *e;
    json_array_foreach(child, i, e) values_at(e, rest, out);
}

json_t *ikey_tuples(const docs *d, const doc_index_def *ix, const json_t *doc)
{
    json_t *tuples = json_array();
    if (!tuples) return NULL;
    if (ix->extract) {
        if (ix->extract(d, doc, tuples) < 0) {
            json_decref(tuples);
            return NULL;
        }
        return tuples;
    }
    /* A cross product is never needed: at most one field may be an array. */
    json_t *vals[DOC_INDEX_MAX_FIELDS];
    size_t nf = 0, many = 1;
    for (; nf < DOC_INDEX_MAX_FIELDS && ix->fields[nf]; nf++) {
        vals[nf] = json_array();
        values_at(doc, ix->fields[nf], vals[nf]);
        if (json_array_size(vals[nf]) != 1) many = json_array_size(vals[nf]);
    }
    for (size_t e = 0; e < many; e++) {
        json_t *t = json_array();
        for (size_t f = 0; f < nf; f++) {
            size_t k = json_array_size(vals[f]) == 1 ? 0 : e;
            json_array_append(t, json_array_get(vals[f], k));
        }
        bool skip = (ix->flags & DOC_INDEX_SPARSE) && json_is_null(json_array_get(t, 0));
        if (skip || json_array_size(t) != nf)
            json_decref(t);
        else
            json_array_append_new(tuples, t);
    }
    for (size_t f = 0; f < nf; f++)
        json_decref(vals[f]);
    return tuples;
}

/* ---- folding ------------------------------------------------------------- */

static uint32_t fold_cp(uint32_t c)
{
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;    /* Latin-1 */
    if (c >= 0x410 && c <= 0x42F) return c + 32;               /* А-Я */
    if (c >= 0x400 && c <= 0x40F) return c + 80;               /* Ѐ-Џ, Ё */
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32; /* Greek */
    return c;
}

static size_t put_cp(char *o, uint32_t c)
{
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xC0 | c >> 6);
        o[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | c >> 12);
        o[1] = (char)(0x80 | (c >> 6 & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | c >> 18);
    o[1] = (char)(0x80 | (c >> 12 & 0x3F));
    o[2] = (char)(0x80 | (c >> 6 & 0x3F));
    o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

char *ikey_fold(const char *s, size_t len, size_t *outlen)
{
    char *out = malloc(len + 1); /* folding never lengthens these ranges */
    if (!out) return NULL;
    size_t o = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t c = u[i];
        size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
        if (i + n > len || n == 1) { /* ASCII (or a stray byte, kept) */
            out[o++] = (char)(c < 0x80 ? fold_cp(c) : c);
            i++;
            continue;
        }
        c &= n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07;
        for (size_t k = 1; k < n; k++)
            c = c << 6 | (u[i + k] & 0x3F);
        uint32_t f = fold_cp(c);
        size_t w = put_cp(out + o, f);
        if (w > n) { /* cannot happen for the ranges above; keep the original */
            memcpy(out + o, s + i, n);
            w = n;
        }
        o += w;
        i += n;
    }
    out[o] = 0;
    *outlen = o;
    return out;
}

/* ---- spelling ------------------------------------------------------------ */

typedef struct kbuf {
    uint8_t *p;
    size_t n, cap;
    bool over;
} kbuf;

static void put(kbuf *b, const void *src, size_t n)
{
    if (b->over || b->n + n > b->cap) {
        b->over = true;
        return;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_byte(kbuf *b, uint8_t c)
{
    put(b, &c, 1);
}

static void put_string(kbuf *b, uint8_t tag, const char *s, size_t len)
{
    put_byte(b, tag);
    size_t cut = len > STR_CUT ? STR_CUT : len;
    for (size_t i = 0; i < cut; i++) {
        put_byte(b, (uint8_t)s[i]);
        if (!s[i]) put_byte(b, 0xFF); /* NUL escaped: 00 FF */
    }
    if (len > STR_CUT) { /* cut: 00 01, then a hash of the whole */
        uint8_t h[8];
        crypto_generichash(h, sizeof(h), (const uint8_t *)s, len, NULL, 0);
        put_byte(b, 0);
        put_byte(b, 1);
        put(b, h, sizeof(h));
    }
    put_byte(b, 0);
    put_byte(b, 0);
}

static void put_number(kbuf *b, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    u = (u >> 63) ? ~u : u | (1ull << 63); /* IEEE 754 bits in numeric order */
    uint8_t be[8];
    for (int i = 7; i >= 0; i--, u >>= 8)
        be[i] = (uint8_t)u;
    put_byte(b, T_NUMBER);
    put(b, be, 8);
}

static void put_value(kbuf *b, const json_t *v, bool fold)
{
    if (!v || json_is_null(v)) {
        put_byte(b, T_NULL);
    } else if (json_is_boolean(v)) {
        put_byte(b, json_is_true(v) ? T_TRUE : T_FALSE);
    } else if (json_is_number(v)) {
        put_number(b, json_number_value(v));
    } else if (json_is_string(v)) {
        size_t n = json_string_length(v);
        char *f = fold ? ikey_fold(json_string_value(v), n, &n) : NULL;
        if (fold && !f) {
            b->over = true;
            return;
        }
        put_string(b, T_STRING, f ? f : json_string_value(v), n);
        free(f);
    } else {
        char *js = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        if (!js) {
            b->over = true;
            return;
        }
        put_string(b, T_JSON, js, strlen(js));
        free(js);
    }
}

size_t ikey_encode(uint8_t *buf, size_t cap, const char *coll, const doc_index_def *ix,
                   const json_t *tuple, size_t n)
{
    kbuf b = {.p = buf, .cap = cap};
    put(&b, coll, strlen(coll) + 1);
    put(&b, ix->name, strlen(ix->name) + 1);
    for (size_t i = 0; i < n && i < json_array_size(tuple); i++)
        put_value(&b, json_array_get(tuple, i), ix->flags & DOC_INDEX_FOLD);
    return b.over ? 0 : b.n;
}
