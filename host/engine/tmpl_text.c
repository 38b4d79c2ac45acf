/* tmpl_text.c - UTF-8 text, growable buffers and the text of a value. */
#include "engine/tmpl_priv.h"

#include <agenthost/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- buffers ---------------------------------------------------------------- */

int sbuf_add(sbuf *b, const char *s, size_t n)
{
    if (n > b->max - b->n) return AH_ETOOBIG;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        if (cap > b->max + 1) cap = b->max + 1;
        char *p = realloc(b->p, cap);
        if (!p) return AH_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

int sbuf_addc(sbuf *b, char c)
{
    return sbuf_add(b, &c, 1);
}

void sbuf_free(sbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

/* ---- UTF-8 ------------------------------------------------------------------ */

/* The length of the well-formed sequence at s[0..n), or 0 (RFC 3629: no
 * overlongs, no surrogates, nothing above U+10FFFF). */
static size_t seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t k;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        k = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (n < k || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return k;
}

uint32_t utf8_next(const char *str, size_t n, size_t *i)
{
    const unsigned char *s = (const unsigned char *)str + *i;
    size_t k = seq_len(s, n - *i);
    if (k <= 1) {
        (*i)++;
        return s[0];
    }
    uint32_t cp = s[0] & (0xFF >> (k + 1));
    for (size_t j = 1; j < k; j++)
        cp = (cp << 6) | (s[j] & 0x3F);
    *i += k;
    return cp;
}

size_t utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t utf8_count(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; count++)
        utf8_next(s, n, &i);
    return count;
}

size_t utf8_check(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = seq_len((const unsigned char *)s + i, n - i);
        if (!k) return i;
        i += k;
    }
    return n;
}

/* ---- case ------------------------------------------------------------------- */

/* Simple (one to one) case mapping for Latin, Latin-1, Latin Extended-A,
 * Greek, Cyrillic and Armenian; other characters are left as they are. */
typedef struct case_range {
    uint32_t lo, hi; /* upper-case letters */
    int32_t delta;   /* lower = upper + delta */
    uint8_t step;    /* 1: a block; 2: alternating upper, lower pairs */
} case_range;

static const case_range CASES[] = {
    {0x41, 0x5A, 32, 1},   {0xC0, 0xD6, 32, 1},   {0xD8, 0xDE, 32, 1},   {0x100, 0x12E, 1, 2},
    {0x132, 0x136, 1, 2},  {0x139, 0x147, 1, 2},  {0x14A, 0x176, 1, 2},  {0x179, 0x17D, 1, 2},
    {0x386, 0x386, 38, 1}, {0x388, 0x38A, 37, 1}, {0x38C, 0x38C, 64, 1}, {0x38E, 0x38F, 63, 1},
    {0x391, 0x3A1, 32, 1}, {0x3A3, 0x3AB, 32, 1}, {0x400, 0x40F, 80, 1}, {0x410, 0x42F, 32, 1},
    {0x460, 0x480, 1, 2},  {0x48A, 0x4BE, 1, 2},  {0x4C0, 0x4C0, 15, 1}, {0x4C1, 0x4CD, 1, 2},
    {0x4D0, 0x52E, 1, 2},  {0x531, 0x556, 48, 1},
};

uint32_t cp_lower(uint32_t c)
{
    if (c == 0x178) return 0xFF;
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        const case_range *r = &CASES[i];
        if (c >= r->lo && c <= r->hi && (c - r->lo) % r->step == 0)
            return (uint32_t)((int32_t)c + r->delta);
    }
    return c;
}

uint32_t cp_upper(uint32_t c)
{
    if (c == 0xFF) return 0x178;
    if (c == 0x3C2) return 0x3A3; /* final sigma */
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        const case_range *r = &CASES[i];
        uint32_t lo = (uint32_t)((int32_t)r->lo + r->delta);
        uint32_t hi = (uint32_t)((int32_t)r->hi + r->delta);
        if (c >= lo && c <= hi && (c - lo) % r->step == 0) return (uint32_t)((int32_t)c - r->delta);
    }
    return c;
}

/* ---- values ----------------------------------------------------------------- */

void val_drop(val *v)
{
    if (v->own) json_decref(v->j);
    v->j = NULL;
    v->own = false;
}

int val_take(val *v, json_t *j)
{
    val_drop(v);
    if (!j) return AH_ENOMEM;
    v->j = j;
    v->own = true;
    return 0;
}

void val_borrow(val *v, const json_t *j)
{
    val_drop(v);
    v->j = (json_t *)j;
}

bool val_truthy(const json_t *j)
{
    switch (j ? json_typeof(j) : JSON_NULL) {
    case JSON_TRUE:
        return true;
    case JSON_INTEGER:
        return json_integer_value(j) != 0;
    case JSON_REAL:
        return json_real_value(j) != 0;
    case JSON_STRING:
        return json_string_length(j) > 0;
    case JSON_ARRAY:
        return json_array_size(j) > 0;
    case JSON_OBJECT:
        return json_object_size(j) > 0;
    default:
        return false;
    }
}

static void real_text(double d, char *buf, size_t len)
{
    snprintf(buf, len, "%.15g", d);
    if (strtod(buf, NULL) != d) snprintf(buf, len, "%.17g", d);
}

int text_of(const json_t *j, text *t)
{
    t->heap = NULL;
    t->s = t->tmp;
    t->n = 0;
    t->tmp[0] = '\0';
    switch (j ? json_typeof(j) : JSON_NULL) {
    case JSON_STRING:
        t->s = json_string_value(j);
        t->n = json_string_length(j);
        return 0;
    case JSON_INTEGER:
        snprintf(t->tmp, sizeof(t->tmp), "%lld", (long long)json_integer_value(j));
        break;
    case JSON_REAL:
        real_text(json_real_value(j), t->tmp, sizeof(t->tmp));
        break;
    case JSON_TRUE:
        strcpy(t->tmp, "true");
        break;
    case JSON_FALSE:
        strcpy(t->tmp, "false");
        break;
    case JSON_ARRAY:
    case JSON_OBJECT:
        t->heap = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!t->heap) return AH_ENOMEM;
        t->s = t->heap;
        break;
    default:
        break;
    }
    t->n = strlen(t->s);
    return 0;
}

void text_done(text *t)
{
    free(t->heap);
    t->heap = NULL;
}

void describe(const json_t *j, char *buf, size_t len)
{
    if (!j) {
        snprintf(buf, len, "nothing");
        return;
    }
    switch (json_typeof(j)) {
    case JSON_ARRAY:
        snprintf(buf, len, "an array");
        return;
    case JSON_OBJECT:
        snprintf(buf, len, "an object");
        return;
    case JSON_NULL:
        snprintf(buf, len, "null");
        return;
    case JSON_STRING: {
        const char *s = json_string_value(j);
        size_t n = json_string_length(j), cut = 0;
        while (cut < n && cut < 40)
            utf8_next(s, n, &cut); /* never inside a character */
        snprintf(buf, len, "\"%.*s%s\"", (int)cut, s, cut < n ? "..." : "");
        return;
    }
    default: {
        text t;
        text_of(j, &t);
        snprintf(buf, len, "%s", t.s);
        return;
    }
    }
}

char *tmpl_fold(const char *s, size_t n)
{
    char *out = malloc(n * 3 + 1); /* a bad byte becomes U+FFFD: three bytes */
    if (!out) return NULL;
    size_t i = 0, o = 0;
    while (i < n)
        o += utf8_put(out + o, cp_lower(utf8_next(s, n, &i)));
    out[o] = '\0';
    return out;
}
