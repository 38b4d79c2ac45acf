/*
 * text.c - escaping, markdown as HTML, splitting. See text.h.
 */
#include "text.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) abort();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static char *done(buf *b)
{
    if (!b->p) put(b, "", 0);
    return b->p;
}

char *tg_escape_markdown_v2(const char *s)
{
    buf b = {0};
    for (; *s; s++) {
        if (strchr("_*[]()~`>#+-=|{}.!\\", *s)) put(&b, "\\", 1);
        put(&b, s, 1);
    }
    return done(&b);
}

static void html_escape_n(buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '&':
            put(b, "&amp;", 5);
            break;
        case '<':
            put(b, "&lt;", 4);
            break;
        case '>':
            put(b, "&gt;", 4);
            break;
        case '"':
            put(b, "&quot;", 6);
            break;
        default:
            put(b, s + i, 1);
        }
    }
}

char *tg_escape_html(const char *s)
{
    buf b = {0};
    html_escape_n(&b, s, strlen(s));
    return done(&b);
}

/* ---- markdown ---------------------------------------------------------------------------- */

static void render(buf *b, const char *s, size_t n, int depth);

static bool space(char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/* A span opened by `mark` at s[0]: its inner length (the closing marker
 * found within n), or -1. */
static long closing(const char *s, size_t n, const char *mark)
{
    size_t m = strlen(mark);
    if (n < 2 * m + 1 || space(s[m])) return -1; /* "2 * 3": not an opening */
    for (size_t i = m + 1; i + m <= n; i++)
        if (!memcmp(s + i, mark, m) && !space(s[i - 1])) return (long)(i - m);
    return -1;
}

static bool span(buf *b, const char **s, size_t *n, const char *mark, const char *tag, int depth,
                 bool verbatim)
{
    size_t m = strlen(mark);
    if (*n < m || memcmp(*s, mark, m)) return false;
    long inner = closing(*s, *n, mark);
    if (inner <= 0) return false;
    put(b, "<", 1);
    put(b, tag, strlen(tag));
    put(b, ">", 1);
    if (verbatim)
        html_escape_n(b, *s + m, (size_t)inner);
    else
        render(b, *s + m, (size_t)inner, depth + 1);
    put(b, "</", 2);
    put(b, tag, strlen(tag));
    put(b, ">", 1);
    *s += m + (size_t)inner + m;
    *n -= m + (size_t)inner + m;
    return true;
}

/* [text](url) */
static bool link(buf *b, const char **s, size_t *n, int depth)
{
    if (**s != '[') return false;
    const char *close = memchr(*s, ']', *n);
    if (!close || (size_t)(close - *s) + 1 >= *n || close[1] != '(') return false;
    size_t rest = *n - (size_t)(close + 2 - *s);
    const char *end = memchr(close + 2, ')', rest);
    if (!end || end == close + 2) return false;
    put(b, "<a href=\"", 9);
    html_escape_n(b, close + 2, (size_t)(end - close - 2));
    put(b, "\">", 2);
    render(b, *s + 1, (size_t)(close - *s - 1), depth + 1);
    put(b, "</a>", 4);
    *n -= (size_t)(end + 1 - *s);
    *s = end + 1;
    return true;
}

static void render(buf *b, const char *s, size_t n, int depth)
{
    if (depth > 8) {
        html_escape_n(b, s, n);
        return;
    }
    while (n) {
        if (span(b, &s, &n, "```", "pre", depth, true) ||
            span(b, &s, &n, "`", "code", depth, true) || span(b, &s, &n, "**", "b", depth, false) ||
            span(b, &s, &n, "~~", "s", depth, false) || span(b, &s, &n, "*", "i", depth, false) ||
            span(b, &s, &n, "_", "i", depth, false) || link(b, &s, &n, depth))
            continue;
        html_escape_n(b, s, 1);
        s++;
        n--;
    }
}

char *tg_markdown_to_html(const char *md)
{
    buf b = {0};
    render(&b, md, strlen(md), 0);
    return done(&b);
}

/* ---- splitting ------------------------------------------------------------------------------ */

static size_t char_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

size_t tg_utf16_len(const char *s)
{
    size_t u = 0;
    for (size_t i = 0; s[i];) {
        size_t n = char_len((unsigned char)s[i]);
        u += n == 4 ? 2 : 1;
        for (size_t k = 0; k < n && s[i]; k++)
            i++;
    }
    return u;
}

/* Bytes of s that fit in limit UTF-16 units (a character boundary). */
static size_t fit(const char *s, size_t limit)
{
    size_t i = 0, u = 0;
    while (s[i]) {
        size_t n = char_len((unsigned char)s[i]);
        size_t w = n == 4 ? 2 : 1;
        if (u + w > limit) break;
        u += w;
        for (size_t k = 0; k < n && s[i]; k++)
            i++;
    }
    return i;
}

/* The cut within s[0..room): the end of the first part (after the
 * boundary), or 0 when none is found. */
static size_t last_boundary(const char *s, size_t room)
{
    for (size_t i = room; i > 1; i--) /* a paragraph */
        if (s[i - 1] == '\n' && s[i - 2] == '\n') return i;
    for (size_t i = room; i > 0; i--) /* a line */
        if (s[i - 1] == '\n') return i;
    for (size_t i = room; i > 1; i--) /* a sentence */
        if ((s[i - 1] == ' ' || s[i - 1] == '\n') && strchr(".!?", s[i - 2])) return i;
    for (size_t i = room; i > 0; i--) /* a word */
        if (s[i - 1] == ' ' || s[i - 1] == '\t') return i;
    return 0;
}

json_t *tg_split(const char *s, size_t limit)
{
    json_t *parts = json_array();
    if (limit == 0) limit = TG_TEXT_MAX;
    while (*s) {
        if (tg_utf16_len(s) <= limit) {
            json_array_append_new(parts, json_string(s));
            break;
        }
        size_t room = fit(s, limit);
        if (room == 0) room = char_len((unsigned char)*s); /* a limit below one character */
        /* One byte past the room may be the space that ends a sentence. */
        size_t cut = last_boundary(s, space(s[room]) ? room + 1 : room);
        if (cut == 0 || cut > room + 1) cut = room;
        size_t end = cut;
        while (end > 0 && space(s[end - 1]))
            end--;
        if (end == 0) end = cut = room; /* only whitespace before the cut */
        if (end > room) end = room;
        json_array_append_new(parts, json_stringn(s, end));
        s += cut;
        while (space(*s))
            s++;
    }
    return parts;
}
