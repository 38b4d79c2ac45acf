#include "jsonw.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef struct wbuf {
    char *p;
    size_t n, cap;
    bool failed;
} wbuf;

static bool reserve(wbuf *b, size_t more)
{
    if (b->failed) return false;
    if (b->n + more + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 512;
    while (cap < b->n + more + 1)
        cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
        b->failed = true;
        return false;
    }
    b->p = np;
    b->cap = cap;
    return true;
}

static void put(wbuf *b, const char *s, size_t n)
{
    if (!reserve(b, n)) return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void put_c(wbuf *b, char c)
{
    if (!reserve(b, 1)) return;
    b->p[b->n++] = c;
}

/* Length of the valid UTF-8 sequence at p, or 0 (the rules of jansson's
 * utf8_check_first/utf8_check_full: no overlong forms, no surrogates,
 * nothing above U+10FFFF, no truncation). p[0] >= 0x80. */
static size_t utf8_seq(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    size_t len;
    uint32_t v;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
    } else {
        return 0;
    }
    if (len > avail) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (p[i] & 0x3F);
    }
    if ((len == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) ||
        (len == 4 && (v < 0x10000 || v > 0x10FFFF)))
        return 0;
    return len;
}

/* Bytes copied as they are: printable ASCII but the quote and backslash. */
#define P16 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
static const unsigned char plain[256] = {
    [0x20] = 1,   1,   0,          1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20-0x2F, no '"' */
    [0x30] = P16, P16, [0x50] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* no '\\' */
    [0x60] = P16, P16,
};
#undef P16

/* Whether any of the 8 bytes in x is not plain: a control byte, a byte
 * >= 0x80, '"' or '\\' (word-at-a-time tests; exact for "any"). */
static inline bool special8(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t q = x ^ (ones * '"'), bs = x ^ (ones * '\\');
    uint64_t t = ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((bs - ones) & ~bs) | x;
    return (t & high) != 0;
}

/* The index of the first byte at or after i that is not plain, or a point
 * at most 15 bytes short of len from where the slower scans go on. */
static inline size_t skip_plain16(const unsigned char *s, size_t i, size_t len)
{
#if defined(__SSE2__)
    /* A signed compare against 0x20 takes both the control bytes and the
     * bytes >= 0x80 (negative as signed). */
    const __m128i lim = _mm_set1_epi8(0x20), q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');
    for (; i + 16 <= len; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i bad = _mm_or_si128(_mm_cmpgt_epi8(lim, x),
                                   _mm_or_si128(_mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(x, bs)));
        unsigned m = (unsigned)_mm_movemask_epi8(bad);
        if (m) return i + (size_t)__builtin_ctz(m);
    }
#else
    (void)s;
    (void)len;
#endif
    return i;
}

static void put_string(wbuf *b, const char *str, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)str;
    if (!reserve(b, len + 2)) return;
    b->p[b->n++] = '"';
    size_t run = 0; /* start of the bytes not yet copied */
    for (size_t i = 0; i < len;) {
        i = skip_plain16(s, i, len);
        for (uint64_t x; i + 8 <= len; i += 8) {
            memcpy(&x, s + i, 8);
            if (special8(x)) break;
        }
        while (i < len && plain[s[i]])
            i++;
        if (i == len) break;
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t n = utf8_seq(s + i, len - i);
            if (!n) {
                b->failed = true;
                return;
            }
            i += n;
            continue;
        }
        put(b, str + run, i - run);
        char esc[6] = {'\\', 0};
        size_t elen = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xF];
            elen = 6;
        }
        put(b, esc, elen);
        run = ++i;
    }
    put(b, str + run, len - run);
    put_c(b, '"');
}

static void put_int(wbuf *b, json_int_t v)
{
    char buf[24];
    size_t i = sizeof(buf);
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do {
        buf[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) buf[--i] = '-';
    put(b, buf + i, sizeof(buf) - i);
}

static void put_value(wbuf *b, const json_t *v, int depth)
{
    if (b->failed) return;
    if (!v || depth > AH_JSONW_MAX_DEPTH) {
        b->failed = true;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_NULL:
        put(b, "null", 4);
        break;
    case JSON_TRUE:
        put(b, "true", 4);
        break;
    case JSON_FALSE:
        put(b, "false", 5);
        break;
    case JSON_INTEGER:
        put_int(b, json_integer_value(v));
        break;
    case JSON_REAL: {
        /* Rare on hot paths: jansson's own formatting, so the digits match. */
        char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!t) {
            b->failed = true;
            return;
        }
        put(b, t, strlen(t));
        free(t);
        break;
    }
    case JSON_STRING:
        put_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        put_c(b, '[');
        for (size_t i = 0; i < n && !b->failed; i++) {
            if (i) put_c(b, ',');
            put_value(b, json_array_get(v, i), depth + 1);
        }
        put_c(b, ']');
        break;
    }
    case JSON_OBJECT: {
        put_c(b, '{');
        bool first = true;
        for (void *it = json_object_iter((json_t *)v); it && !b->failed;
             it = json_object_iter_next((json_t *)v, it)) {
            if (!first) put_c(b, ',');
            first = false;
            put_string(b, json_object_iter_key(it), json_object_iter_key_len(it));
            put_c(b, ':');
            put_value(b, json_object_iter_value(it), depth + 1);
        }
        put_c(b, '}');
        break;
    }
    default:
        b->failed = true;
    }
}

char *ah_json_dumps_after(const json_t *v, size_t prefix, size_t *len)
{
    wbuf b = {0};
    if (!reserve(&b, prefix + 256)) return NULL;
    b.n = prefix;
    put_value(&b, v, 0);
    if (b.failed || !reserve(&b, 0)) {
        free(b.p);
        return NULL;
    }
    b.p[b.n] = 0;
    if (len) *len = b.n - prefix;
    return b.p;
}

char *ah_json_dumps(const json_t *v, size_t *len)
{
    return ah_json_dumps_after(v, 0, len);
}
