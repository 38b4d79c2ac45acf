/*
 * tmpl_priv.h - the template engine's insides, shared by its files only:
 * the compiled form (template.c builds it), the values a render passes
 * through filters (tmpl_render.c), the filters (tmpl_filters.c), dates
 * (tmpl_date.c) and UTF-8 text (tmpl_text.c).
 */
#ifndef AH_TMPL_PRIV_H
#define AH_TMPL_PRIV_H

#include "engine/template.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the compiled form ------------------------------------------------------ */

typedef enum node_kind { N_TEXT, N_EXPR, N_IF, N_EACH, N_ELSE, N_END } node_kind;
typedef enum expr_base { E_PATH, E_THIS, E_META, E_LITERAL } expr_base;
typedef enum meta_var { M_INDEX, M_NUMBER, M_FIRST, M_LAST } meta_var;

/* One segment of a path, a key in t->src; idx >= 0 when it is all digits
 * (it then also indexes arrays). */
typedef struct seg {
    uint32_t off, len;
    long idx;
} seg;

struct filter_def;
typedef struct filt {
    const struct filter_def *def;
    uint32_t off;       /* where its name is, for errors */
    uint32_t first_arg; /* in t->args */
    uint32_t nargs;
} filt;

typedef struct expr {
    expr_base base;
    meta_var meta;      /* E_META */
    uint32_t literal;   /* E_LITERAL: index in t->args */
    uint32_t first_seg; /* path segments after the root (E_PATH) or after "this" */
    uint32_t nsegs;
    uint32_t first_filt;
    uint32_t nfilts;
    uint32_t path_off, path_len; /* the path as written, for messages */
} expr;

typedef struct node {
    node_kind kind;
    uint32_t off;      /* the tag's first byte ("{{"), or the text's */
    uint32_t len;      /* N_TEXT: bytes of text at off */
    uint32_t mid, end; /* N_IF, N_EACH: index of the N_ELSE (or N_END), of the N_END */
    expr e;            /* N_EXPR, N_IF, N_EACH */
} node;

struct tmpl {
    char *src;
    size_t len;
    node *nodes;
    size_t nnodes;
    seg *segs;
    size_t nsegs;
    filt *filts;
    size_t nfilts;
    json_t **args; /* literal arguments and string heads, owned */
    size_t nargs;
};

/* Line and column of a byte offset in src. */
tmpl_pos tmpl_pos_at(const char *src, size_t len, size_t off);
/* Fill err (if not NULL) and return code. */
int tmpl_fail(tmpl_error *err, int code, const char *src, size_t len, size_t off, const char *fmt,
              ...) __attribute__((format(printf, 6, 7)));

/* ---- values during a render ------------------------------------------------- */

/* j NULL: the variable is missing. own: j is a reference to drop. */
typedef struct val {
    json_t *j;
    bool own;
} val;

void val_drop(val *v);
/* Replace v by a new reference (j may be NULL: out of memory, AH_ENOMEM). */
int val_take(val *v, json_t *j);
/* Replace v by a borrowed value. */
void val_borrow(val *v, const json_t *j);
/* false, null, missing, 0, "", [] and {} are false. */
bool val_truthy(const json_t *j);

/* What filters know of the render. */
typedef struct fctx {
    const char *lang;
    int tz_minutes;
    size_t max_value; /* bytes a string value may grow to */
    char what[200];   /* the error, for the caller to place */
} fctx;

/* ---- text ------------------------------------------------------------------- */

/* A growable byte buffer; fails beyond max. */
typedef struct sbuf {
    char *p;
    size_t n, cap, max;
} sbuf;
int sbuf_add(sbuf *b, const char *s, size_t n); /* 0, AH_ETOOBIG, AH_ENOMEM */
int sbuf_addc(sbuf *b, char c);                 /* sbuf_add's */
void sbuf_free(sbuf *b);

/* The text of a value: strings as they are, numbers in their shortest
 * exact form, true/false, null as "", arrays and objects as compact JSON.
 * *s points into the value, into tmp, or into *heap (free it). */
typedef struct text {
    const char *s;
    size_t n;
    char tmp[40];
    char *heap;
} text;
int text_of(const json_t *j, text *t); /* 0 or AH_ENOMEM */
void text_done(text *t);

/* Decode the code point at s[*i] (of n), advancing *i; bad bytes decode
 * as themselves, one at a time. */
uint32_t utf8_next(const char *s, size_t n, size_t *i);
size_t utf8_put(char *out, uint32_t cp); /* 1-4 bytes */
size_t utf8_count(const char *s, size_t n);
/* Offset of the first byte that is not well-formed UTF-8, or n. */
size_t utf8_check(const char *s, size_t n);
uint32_t cp_upper(uint32_t c);
uint32_t cp_lower(uint32_t c);

/* A short description of a value for messages: "\"abc\"", "3", "an array". */
void describe(const json_t *j, char *buf, size_t len);

/* ---- filters ---------------------------------------------------------------- */

typedef int (*filter_apply)(fctx *f, val *v, json_t *const *args, size_t nargs);
typedef int (*filter_check)(json_t *const *args, size_t nargs, size_t *bad_arg, char *why,
                            size_t whylen);

typedef struct filter_def {
    const char *name;
    uint8_t min_args, max_args;
    bool takes_missing; /* default, yesno: a missing value is null to them */
    filter_check check; /* NULL: every argument a string */
    filter_apply apply; /* AH_EINVAL, AH_ETOOBIG, AH_ENOMEM with f->what */
} filter_def;

const filter_def *filter_find(const char *name, size_t len);

/* ---- dates ------------------------------------------------------------------ */

/* "UTC", "Z", "GMT", "", "+03:00", "+0300", "+03", "-05:30" (up to 18:00). */
bool tz_parse(const char *s, int *minutes);
/* Unix ms from an integer, a real, a digits-only string (Unix ms) or an
 * RFC 3339 string ("2026-03-05T10:00:00Z", "...+03:00", ".123"; a bare
 * "2026-03-05" is that day at 00:00 in the render's time zone). */
bool date_value(const json_t *j, int tz_minutes, int64_t *ms);
/* Check a format at compile time: the index of the bad token, or -1. */
long date_format_check(const char *fmt);
/* Format ms into out: 0, or sbuf_add's AH_ETOOBIG or AH_ENOMEM. */
int date_format(sbuf *out, const char *fmt, int64_t ms, int tz_minutes, const char *lang);

#endif
