/*
 * Bodies and header words to UTF-8 (mail.h): through GMime's cached iconv
 * converters, malformed bytes as U+FFFD, a charset with no converter
 * decoded with the fallback charsets and reported.
 */
#include "mail.h"

#include <errno.h>
#include <gmime/gmime.h>
#include <iconv.h>
#include <string.h>

static bool is_utf8_name(const char *cs)
{
    return !g_ascii_strcasecmp(cs, "utf-8") || !g_ascii_strcasecmp(cs, "utf8") ||
           !g_ascii_strcasecmp(cs, "us-ascii") || !g_ascii_strcasecmp(cs, "ascii");
}

/* Names that say "no idea": treated like a missing charset. */
static bool is_unknown_name(const char *cs)
{
    return !*cs || !g_ascii_strcasecmp(cs, "unknown-8bit") ||
           !g_ascii_strcasecmp(cs, "x-unknown") || !g_ascii_strcasecmp(cs, "unknown");
}

/* A valid UTF-8 copy with NUL bytes dropped (they end C strings and JSON
 * texts early), CRLF as LF and malformed sequences as U+FFFD. */
static char *make_valid(const char *s, size_t n)
{
    char *v = g_utf8_make_valid(s, (gssize)n);
    size_t w = 0, len = strlen(v);
    for (size_t i = 0; i < len; i++)
        if (v[i] && !(v[i] == '\r' && v[i + 1] == '\n')) v[w++] = v[i];
    v[w] = 0;
    return v;
}

/* Converts with cd; a byte the charset does not map becomes U+FFFD. */
static char *convert(iconv_t cd, const char *bytes, size_t n)
{
    GString *out = g_string_sized_new(n + n / 2 + 16);
    char *in = (char *)bytes;
    size_t inleft = n;
    char buf[4096];
    for (;;) {
        char *op = buf;
        size_t opleft = sizeof(buf);
        size_t rc =
            inleft ? iconv(cd, &in, &inleft, &op, &opleft) : iconv(cd, NULL, NULL, &op, &opleft);
        g_string_append_len(out, buf, (gssize)(op - buf));
        if (rc != (size_t)-1) {
            if (!inleft) break;
            continue;
        }
        if (errno == E2BIG) continue;
        g_string_append(out, "\xEF\xBF\xBD");
        if (errno == EINVAL || !inleft) break; /* cut short at the end */
        in++;
        inleft--;
    }
    iconv(cd, NULL, NULL, NULL, NULL);
    char *v = make_valid(out->str, out->len);
    g_string_free(out, TRUE);
    return v;
}

char *em_to_utf8(const char *bytes, size_t n, const char *charset, const char **problem)
{
    *problem = NULL;
    if (!bytes) bytes = "", n = 0; /* an empty GByteArray has no data */
    bool unknown = !charset || is_unknown_name(charset);
    if (unknown || is_utf8_name(charset)) {
        if (g_utf8_validate(bytes, (gssize)n, NULL) || !unknown) return make_valid(bytes, n);
        /* 8-bit text that names no charset: the fallback charsets decide. */
        char *d = g_mime_utils_decode_8bit(NULL, bytes, n);
        char *v = make_valid(d, strlen(d));
        g_free(d);
        return v;
    }
    iconv_t cd = em_charset_usable(charset) ? g_mime_iconv_open("UTF-8", charset) : (iconv_t)-1;
    if (cd == (iconv_t)-1) {
        *problem = "charset_unsupported";
        char *d = g_mime_utils_decode_8bit(NULL, bytes, n);
        char *v = make_valid(d, strlen(d));
        g_free(d);
        return v;
    }
    char *v = convert(cd, bytes, n);
    g_mime_iconv_close(cd);
    return v;
}
