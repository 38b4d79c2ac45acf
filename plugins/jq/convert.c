/*
 * convert.c - JSON values between jansson (the host's messages) and jv
 * (libjq), with what an evaluation may emit counted and bounded.
 */
#include "jqw.h"
#include "protocol.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

jv jqw_from_json(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        jv o = jv_object();
        const char *key;
        size_t klen;
        json_t *val;
        json_object_keylen_foreach((json_t *)v, key, klen, val)
        {
            o = jv_object_set(o, jv_string_sized(key, (int)klen), jqw_from_json(val));
        }
        return o;
    }
    case JSON_ARRAY: {
        jv a = jv_array_sized((int)json_array_size(v));
        size_t i;
        json_t *val;
        json_array_foreach(v, i, val) a = jv_array_append(a, jqw_from_json(val));
        return a;
    }
    case JSON_STRING:
        return jv_string_sized(json_string_value(v), (int)json_string_length(v));
    case JSON_INTEGER:
        return jv_number((double)json_integer_value(v));
    case JSON_REAL:
        return jv_number(json_real_value(v));
    case JSON_TRUE:
        return jv_true();
    case JSON_FALSE:
        return jv_false();
    case JSON_NULL:
    default:
        return jv_null();
    }
}

/* Bytes of s as a JSON string: quotes and escapes included. */
static size_t string_bytes(const char *s, size_t n)
{
    size_t total = n + 2;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
            total += 1;
        else if (c < 0x20)
            total += 5; /* \u00XX */
    }
    return total;
}

/* The length of the valid UTF-8 sequence at s (jansson's rules: no
 * overlong forms, no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0], cp;
    size_t len;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, cp = c & 0x1Fu;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, cp = c & 0x0Fu;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, cp = c & 0x07u;
    else
        return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0u) != 0x80u) return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* s with every byte that is not valid UTF-8 replaced by U+FFFD (libjq
 * lets some through: implode of a surrogate), malloc'd, its length in
 * *out_len. */
static char *utf8_clean(const char *s, size_t n, size_t *out_len)
{
    char *out = malloc(n * 3 + 1);
    if (!out) jqw_no_memory();
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq((const unsigned char *)s + i, n - i);
        if (k) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    *out_len = o;
    return out;
}

json_t *jqw_json_string(const char *s, size_t n)
{
    json_t *r = json_stringn(s, n);
    if (!r) {
        size_t clen;
        char *clean = utf8_clean(s, n, &clen);
        r = json_stringn(clean, clen);
        free(clean);
    }
    if (!r) jqw_no_memory();
    return r;
}

static void set_member(json_t *o, const char *k, size_t klen, json_t *v)
{
    if (json_object_setn_new(o, k, klen, json_incref(v)) == 0) {
        json_decref(v);
        return;
    }
    size_t clen;
    char *clean = utf8_clean(k, klen, &clen);
    int rc = json_object_setn_new(o, clean, clen, v);
    free(clean);
    if (rc < 0) jqw_no_memory();
}

static bool charge(jqw_budget *b, size_t n)
{
    if (n > b->bytes_left) {
        if (!b->why[0]) snprintf(b->why, sizeof(b->why), "the outputs exceed max_output_bytes");
        return false;
    }
    b->bytes_left -= n;
    return true;
}

static json_t *number_to_json(double d, jqw_budget *b)
{
    if (isnan(d)) return charge(b, 4) ? json_null() : NULL;
    if (isinf(d)) d = d > 0 ? DBL_MAX : -DBL_MAX;
    if (d == trunc(d) && fabs(d) < 9007199254740992.0) { /* 2^53: exact as an integer */
        char digits[32];
        int n = snprintf(digits, sizeof(digits), "%lld", (long long)d);
        return charge(b, (size_t)n) ? json_integer((json_int_t)d) : NULL;
    }
    return charge(b, 24) ? json_real(d) : NULL;
}

static json_t *to_json(jv x, jqw_budget *b, unsigned depth);

static json_t *array_to_json(jv x, jqw_budget *b, unsigned depth)
{
    int n = jv_array_length(jv_copy(x));
    json_t *a = json_array();
    if (!a) jqw_no_memory();
    if (!charge(b, n > 0 ? (size_t)n + 1 : 2)) goto refused; /* brackets and commas */
    for (int i = 0; i < n; i++) {
        json_t *e = to_json(jv_array_get(jv_copy(x), i), b, depth + 1);
        if (!e) goto refused;
        if (json_array_append_new(a, e) < 0) jqw_no_memory();
    }
    jv_free(x);
    return a;
refused:
    jv_free(x);
    json_decref(a);
    return NULL;
}

static json_t *object_to_json(jv x, jqw_budget *b, unsigned depth)
{
    json_t *o = json_object();
    if (!o) jqw_no_memory();
    if (!charge(b, 2)) goto refused; /* the braces */
    bool first = true;
    for (int it = jv_object_iter(x); jv_object_iter_valid(x, it); it = jv_object_iter_next(x, it)) {
        jv k = jv_object_iter_key(x, it);
        const char *ks = jv_string_value(k);
        size_t klen = (size_t)jv_string_length_bytes(jv_copy(k));
        /* the key, its colon, and a comma before every member but the first */
        json_t *e = charge(b, string_bytes(ks, klen) + (first ? 1 : 2))
                        ? to_json(jv_object_iter_value(x, it), b, depth + 1)
                        : NULL;
        if (!e) {
            jv_free(k);
            goto refused;
        }
        set_member(o, ks, klen, e);
        jv_free(k);
        first = false;
    }
    jv_free(x);
    return o;
refused:
    jv_free(x);
    json_decref(o);
    return NULL;
}

static json_t *to_json(jv x, jqw_budget *b, unsigned depth)
{
    json_t *r = NULL;
    if (depth > JQ_MAX_OUTPUT_DEPTH) {
        snprintf(b->why, sizeof(b->why), "an output is nested deeper than %d levels",
                 JQ_MAX_OUTPUT_DEPTH);
        jv_free(x);
        return NULL;
    }
    switch (jv_get_kind(x)) {
    case JV_KIND_OBJECT:
        return object_to_json(x, b, depth);
    case JV_KIND_ARRAY:
        return array_to_json(x, b, depth);
    case JV_KIND_STRING: {
        size_t n = (size_t)jv_string_length_bytes(jv_copy(x));
        const char *s = jv_string_value(x);
        if (charge(b, n + 2) && charge(b, string_bytes(s, n) - n - 2)) {
            r = jqw_json_string(s, n);
        }
        break;
    }
    case JV_KIND_NUMBER:
        r = number_to_json(jv_number_value(x), b);
        break;
    case JV_KIND_TRUE:
        r = charge(b, 4) ? json_true() : NULL;
        break;
    case JV_KIND_FALSE:
        r = charge(b, 5) ? json_false() : NULL;
        break;
    default:
        r = charge(b, 4) ? json_null() : NULL;
        break;
    }
    jv_free(x);
    return r;
}

json_t *jqw_to_json(jv x, jqw_budget *b)
{
    return to_json(x, b, 1);
}

void jqw_error_text(jv invalid, char *buf, size_t len)
{
    jv msg = jv_invalid_get_msg(invalid);
    if (jv_get_kind(msg) == JV_KIND_STRING) {
        snprintf(buf, len, "%s", jv_string_value(msg));
        jv_free(msg);
        return;
    }
    if (jv_get_kind(msg) == JV_KIND_NULL) {
        snprintf(buf, len, "null (null) not a string");
        jv_free(msg);
        return;
    }
    jv text = jv_dump_string(msg, 0);
    snprintf(buf, len, "%s (not a string)", jv_string_value(text));
    jv_free(text);
}
