/* tmpl_filters.c - the filters: their arguments, checked when a template
 * is compiled, and what they do to a value when it is rendered. */
#include "engine/lang.h"
#include "engine/tmpl_priv.h"

#include <agenthost/plugin.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 3, 4))) static int ffail(fctx *f, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->what, sizeof(f->what), fmt, ap);
    va_end(ap);
    return code;
}

static int type_error(fctx *f, const char *filter, const char *expected, const json_t *got)
{
    char d[64];
    describe(got, d, sizeof(d));
    return ffail(f, AH_EINVAL, "%s: expected %s, got %s", filter, expected, d);
}

/* Finish a filter that built a string in b. */
static int set_string(fctx *f, val *v, sbuf *b, int rc, const char *filter)
{
    if (rc == 0) rc = val_take(v, json_stringn_nocheck(b->p ? b->p : "", b->n));
    sbuf_free(b);
    if (rc == AH_ETOOBIG)
        return ffail(f, rc, "%s: the value grew past %zu bytes", filter, f->max_value);
    if (rc == AH_ENOMEM) return ffail(f, rc, "out of memory");
    return rc;
}

/* A number from a number or a string holding one. */
static bool number_of(const json_t *j, double *d)
{
    if (json_is_number(j)) {
        *d = json_number_value(j);
        return true;
    }
    if (!json_is_string(j) || !json_string_length(j)) return false;
    char *end;
    errno = 0;
    *d = strtod(json_string_value(j), &end);
    return !*end && !errno && isfinite(*d);
}

/* ---- argument checks -------------------------------------------------------- */

__attribute__((format(printf, 5, 6))) static int bad_arg(size_t *bad, size_t i, char *why,
                                                         size_t whylen, const char *fmt, ...)
{
    *bad = i;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return -1;
}

static int check_any(json_t *const *args, size_t nargs, size_t *bad, char *why, size_t whylen)
{
    return 0;
}

static bool int_in(const json_t *j, long lo, long hi)
{
    return json_is_integer(j) && json_integer_value(j) >= lo && json_integer_value(j) <= hi;
}

static int check_truncate(json_t *const *args, size_t nargs, size_t *bad, char *why, size_t whylen)
{
    if (!int_in(args[0], 0, TMPL_MAX_OUTPUT))
        return bad_arg(bad, 0, why, whylen, "the length must be an integer from 0 to %d",
                       TMPL_MAX_OUTPUT);
    if (nargs > 1 && !json_is_string(args[1]))
        return bad_arg(bad, 1, why, whylen, "the ending must be a string");
    return 0;
}

static int check_number(json_t *const *args, size_t nargs, size_t *bad, char *why, size_t whylen)
{
    if (nargs && !int_in(args[0], 0, 10))
        return bad_arg(bad, 0, why, whylen, "the decimals must be an integer from 0 to 10");
    return 0;
}

static int check_date(json_t *const *args, size_t nargs, size_t *bad, char *why, size_t whylen)
{
    if (!json_is_string(args[0]))
        return bad_arg(bad, 0, why, whylen, "the format must be a string");
    const char *fmt = json_string_value(args[0]);
    long at = date_format_check(fmt);
    if (at >= 0)
        return bad_arg(bad, 0, why, whylen,
                       "unknown format \"%.3s\" at character %ld of \"%s\" (known: %%Y %%y %%m "
                       "%%d %%e %%H %%I %%M %%S %%p %%j %%F %%T %%R %%z %%Z %%B %%b %%A %%a %%u "
                       "%%w %%s %%%%, and %%-d for no padding)",
                       fmt + at, at + 1, fmt);
    int minutes;
    if (nargs > 1 && (!json_is_string(args[1]) || !tz_parse(json_string_value(args[1]), &minutes)))
        return bad_arg(bad, 1, why, whylen,
                       "the time zone must be \"UTC\" or an offset such as \"+03:00\"");
    return 0;
}

/* ---- default, yesno --------------------------------------------------------- */

static int f_default(fctx *f, val *v, json_t *const *args, size_t nargs)
{
    if (!v->j || json_is_null(v->j) || (json_is_string(v->j) && !json_string_length(v->j)))
        val_borrow(v, args[0]);
    return 0;
}

static int f_yesno(fctx *f, val *v, json_t *const *args, size_t nargs)
{
    if ((!v->j || json_is_null(v->j)) && nargs > 2)
        val_borrow(v, args[2]);
    else
        val_borrow(v, args[val_truthy(v->j) ? 0 : 1]);
    return 0;
}

/* ---- text ------------------------------------------------------------------- */

static int map_case(fctx *f, val *v, uint32_t (*map)(uint32_t), bool first_only, const char *filter)
{
    text t;
    if (text_of(v->j, &t) < 0) return ffail(f, AH_ENOMEM, "out of memory");
    sbuf b = {.max = f->max_value};
    int rc = 0;
    size_t i = 0;
    while (i < t.n && !rc) {
        size_t at = i;
        uint32_t cp = utf8_next(t.s, t.n, &i);
        uint32_t to = cp < 0x80 || i - at > 1 ? map(cp) : cp;
        char enc[4];
        rc = to == cp ? sbuf_add(&b, t.s + at, i - at) : sbuf_add(&b, enc, utf8_put(enc, to));
        if (first_only) {
            if (!rc) rc = sbuf_add(&b, t.s + i, t.n - i);
            break;
        }
    }
    text_done(&t);
    return set_string(f, v, &b, rc, filter);
}

static int f_upper(fctx *f, val *v, json_t *const *args, size_t nargs)
{
    return map_case(f, v, cp_upper, false, "upper");
}

static int f_lower(fctx *f, val *v, json_t *const *args, size_t nargs)
{
    return map_case(f, v, cp_lower, false, "lower");
}

static int f_capitalize(fctx *f, val *v, json_t *const *args, size_t nargs)
{
    return map_case(f, v, cp_upper, true, "capitalize");
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int f_trim(fctx *f, val *v, json_t *const *args, size_t nargs)
{
    text t;
    if (text_of(v->j, &t) < 0) return ffail(f, AH_ENOMEM, "out of memory");
    size_t a = 0, b = t.n;
    while (a < b && blank(t.s[a]))
        a++;
    while (b > a && blank(t.s[b - 1]))
        b--;
    int rc = val_take(v, json_stringn_nocheck(t.s + a, b - a));
    text_done(&t);
    return rc < 0 ? ffail(f, rc, "out of memory") : 0;
}

static int f_truncate(fctx *f, val *v, json_t *const *args, size_t nargs)
{
    size_t keep = (size_t)json_integer_value(args[0]);
    const char *end = nargs > 1 ? json_string_value(args[1]) : "\xe2\x80\xa6"; /* … */
    size_t end_len = strlen(end), end_chars = utf8_count(end, end_len);
    text t;
    if (text_of(v->j, &t) < 0) return ffail(f, AH_ENOMEM, "out of memory");
    sbuf b = {.max = f->max_value};
    int rc;
    if (utf8_count(t.s, t.n) <= keep)
        rc = sbuf_add(&b, t.s, t.n);
    else {
        bool ending = keep >= end_chars;
        size_t chars = ending ? keep - end_chars : keep, i = 0;
        for (size_t k = 0; k < chars; k++)
            utf8_next(t.s, t.n, &i); /* whole characters only */
        rc = sbuf_add(&b, t.s, i);
        if (!rc && ending) rc = sbuf_add(&b, end, end_len);
    }
    text_done(&t);
    return set_string(f, v, &b, rc, "truncate");
}

static int escape(fctx *f, val *v, const char *filter, const char *(*rep)(char))
{
    text t;
    if (text_of(v->j, &t) < 0) return ffail(f, AH_ENOMEM, "out of memory");
    sbuf b = {.max = f->max_value};
    int rc = 0;
    size_t from = 0;
    for (size_t i = 0; i < t.n && !rc; i++) {
        const char *r = rep(t.s[i]);
        if (!r) continue;
        rc = sbuf_add(&b, t.s + from, i - from);
        if (!rc) rc = sbuf_add(&b, r, strlen(r));
        from = i + 1;
    }
    if (!rc) rc = sbuf_add(&b, t.s + from, t.n - from);
    text_done(&t);
    return set_string(f, v, &b, rc, filter);
}

static const char *html_rep(char c)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&#39;";
    default:
        return NULL;
    }
}

/* Telegram MarkdownV2: these characters, and the backslash, are escaped
 * with a backslash wherever they stand. */
static const char *markdown_rep(char c)
{
    static const char special[] = "_*[]()~`>#+-=|{}.!\\";
    static const char *const escaped[] = {"\\_", "\\*", "\\[", "\\]", "\\(", "\\)", "\\~",
                                          "\\`", "\\>", "\\#", "\\+", "\\-", "\\=", "\\|",
                                          "\\{", "\\}", "\\.", "\\!", "\\\\"};
    _Static_assert(sizeof(escaped) / sizeof(escaped[0]) == sizeof(special) - 1, "one each");
    const char *hit = c ? strchr(special, c) : NULL;
    return hit ? escaped[hit - special] : NULL;
}

static int f_escape_html(fctx *f, val *v, json_t *const *args, size_t nargs)
{
    return escape(f, v, "escape_html", html_rep);
}

static int f_escape_markdown(fctx *f, val *v, json_t *const *args, size_t nargs)
{
    return escape(f, v, "escape_markdown", markdown_rep);
}

static int f_json(fctx *f, val *v, json_t *const *args, size_t nargs)
{
    char *s = json_dumps(v->j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) return ffail(f, AH_ENOMEM, "out of memory");
    size_t n = strlen(s);
    int rc = n > f->max_value ? AH_ETOOBIG : val_take(v, json_stringn_nocheck(s, n));
    free(s);
    if (rc == AH_ETOOBIG) return ffail(f, rc, "json: the value is over %zu bytes", f->max_value);
    return rc < 0 ? ffail(f, rc, "out of memory") : 0;
}

/* ---- numbers, dates --------------------------------------------------------- */

static int f_number(fctx *f, val *v, json_t *const *args, size_t nargs)
{
    int decimals = nargs ? (int)json_integer_value(args[0]) : 0;
    char buf[400];
    double d;
    if (json_is_integer(v->j) && decimals == 0)
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v->j));
    else if (number_of(v->j, &d)) {
        snprintf(buf, sizeof(buf), "%.*f", decimals, d);
        if (buf[0] == '-' && strspn(buf + 1, "0.") == strlen(buf + 1))
            memmove(buf, buf + 1, strlen(buf)); /* no "-0.00" */
    } else
        return type_error(f, "number", "a number", v->j);
    return val_take(v, json_string(buf)) < 0 ? ffail(f, AH_ENOMEM, "out of memory") : 0;
}

static int f_date(fctx *f, val *v, json_t *const *args, size_t nargs)
{
    int tz = f->tz_minutes;
    if (nargs > 1) tz_parse(json_string_value(args[1]), &tz); /* checked when compiled */
    int64_t ms;
    if (!date_value(v->j, tz, &ms))
        return type_error(f, "date",
                          "a time (RFC 3339 such as \"2026-03-05T10:00:00Z\", or Unix ms) in the "
                          "years 0 to 9999",
                          v->j);
    sbuf b = {.max = f->max_value};
    int rc = date_format(&b, json_string_value(args[0]), ms, tz, f->lang);
    return set_string(f, v, &b, rc, "date");
}

static int f_plural(fctx *f, val *v, json_t *const *args, size_t nargs)
{
    double d;
    if (!number_of(v->j, &d)) return type_error(f, "plural", "a number", v->j);
    size_t i = (size_t)lang_plural_index(f->lang, d);
    val_borrow(v, args[i < nargs ? i : nargs - 1]);
    return 0;
}

/* ---- arrays ----------------------------------------------------------------- */

static int f_join(fctx *f, val *v, json_t *const *args, size_t nargs)
{
    if (!json_is_array(v->j)) return type_error(f, "join", "an array", v->j);
    const char *sep = nargs ? json_string_value(args[0]) : ", ";
    size_t sep_len = nargs ? json_string_length(args[0]) : 2;
    sbuf b = {.max = f->max_value};
    int rc = 0;
    for (size_t i = 0; i < json_array_size(v->j); i++) {
        text t;
        if (i && (rc = sbuf_add(&b, sep, sep_len)) < 0) break;
        if ((rc = text_of(json_array_get(v->j, i), &t)) < 0) break;
        rc = sbuf_add(&b, t.s, t.n);
        text_done(&t);
        if (rc < 0) break;
    }
    return set_string(f, v, &b, rc, "join");
}

static int f_count(fctx *f, val *v, json_t *const *args, size_t nargs)
{
    size_t n;
    if (json_is_array(v->j))
        n = json_array_size(v->j);
    else if (json_is_object(v->j))
        n = json_object_size(v->j);
    else if (json_is_string(v->j))
        n = utf8_count(json_string_value(v->j), json_string_length(v->j));
    else if (json_is_null(v->j))
        n = 0;
    else
        return type_error(f, "count", "an array, an object or a string", v->j);
    return val_take(v, json_integer((json_int_t)n)) < 0 ? ffail(f, AH_ENOMEM, "out of memory") : 0;
}

static int edge(fctx *f, val *v, bool last, const char *filter)
{
    json_t *j;
    if (json_is_array(v->j)) {
        size_t n = json_array_size(v->j);
        j = n ? json_incref(json_array_get(v->j, last ? n - 1 : 0)) : json_null();
    } else if (json_is_string(v->j)) {
        const char *s = json_string_value(v->j);
        size_t n = json_string_length(v->j), a = 0, b = 0;
        while (b < n) { /* the first character, or the last one */
            a = b;
            utf8_next(s, n, &b);
            if (!last) break;
        }
        j = json_stringn_nocheck(s + a, b - a);
    } else
        return type_error(f, filter, "an array or a string", v->j);
    return val_take(v, j) < 0 ? ffail(f, AH_ENOMEM, "out of memory") : 0;
}

static int f_first(fctx *f, val *v, json_t *const *args, size_t nargs)
{
    return edge(f, v, false, "first");
}

static int f_last(fctx *f, val *v, json_t *const *args, size_t nargs)
{
    return edge(f, v, true, "last");
}

/* ---- the table -------------------------------------------------------------- */

static const filter_def FILTERS[] = {
    {"default", 1, 1, true, check_any, f_default},
    {"upper", 0, 0, false, NULL, f_upper},
    {"lower", 0, 0, false, NULL, f_lower},
    {"capitalize", 0, 0, false, NULL, f_capitalize},
    {"trim", 0, 0, false, NULL, f_trim},
    {"truncate", 1, 2, false, check_truncate, f_truncate},
    {"json", 0, 0, false, NULL, f_json},
    {"number", 0, 1, false, check_number, f_number},
    {"date", 1, 2, false, check_date, f_date},
    {"join", 0, 1, false, NULL, f_join},
    {"count", 0, 0, false, NULL, f_count},
    {"length", 0, 0, false, NULL, f_count},
    {"first", 0, 0, false, NULL, f_first},
    {"last", 0, 0, false, NULL, f_last},
    {"escape_html", 0, 0, false, NULL, f_escape_html},
    {"escape_markdown", 0, 0, false, NULL, f_escape_markdown},
    {"plural", 1, 4, false, NULL, f_plural},
    {"yesno", 2, 3, true, NULL, f_yesno},
};

const filter_def *filter_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(FILTERS) / sizeof(FILTERS[0]); i++)
        if (strlen(FILTERS[i].name) == len && !memcmp(FILTERS[i].name, name, len))
            return &FILTERS[i];
    return NULL;
}
