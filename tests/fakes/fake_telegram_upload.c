/*
 * fake_telegram_upload.c - uploads as Telegram takes them: a Bot API call
 * whose body is multipart/form-data (RFC 7578). Each part is a parameter
 * (its text parsed as JSON when it is JSON, as form values are), a part
 * with a filename is a file: kept as {upload, filename, content_type,
 * size, content_b64}. A body that is not well-formed multipart (no
 * boundary, a part without its Content-Disposition name, no closing
 * delimiter) is refused with 400, as Telegram refuses it.
 */
#include "fake_telegram.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *b64(const unsigned char *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc(4 * ((n + 2) / 3) + 1), *w = o;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        *w++ = a[v >> 18 & 63];
        *w++ = a[v >> 12 & 63];
        *w++ = i + 1 < n ? a[v >> 6 & 63] : '=';
        *w++ = i + 2 < n ? a[v & 63] : '=';
    }
    *w = 0;
    return o;
}

static const char *find(const char *h, size_t hn, const char *n, size_t nn)
{
    if (nn > hn) return NULL;
    for (size_t i = 0; i + nn <= hn; i++)
        if (!memcmp(h + i, n, nn)) return h + i;
    return NULL;
}

/* The value of attribute `attr` ("name", "filename") in a Content-Disposition
 * line, into out; false when absent. */
static bool disposition_attr(const char *line, size_t n, const char *attr, char *out, size_t outn)
{
    char pat[32];
    snprintf(pat, sizeof(pat), "; %s=\"", attr);
    const char *s = find(line, n, pat, strlen(pat));
    if (!s) return false;
    s += strlen(pat);
    const char *e = memchr(s, '"', (size_t)(line + n - s));
    if (!e || (size_t)(e - s) >= outn) return false;
    memcpy(out, s, (size_t)(e - s));
    out[e - s] = 0;
    return true;
}

int multipart_into(json_t *params, const char *ct, const char *body, size_t len, char *why,
                   size_t whyn)
{
    const char *bd = strcasestr(ct, "boundary=");
    char boundary[200];
    if (!bd) {
        snprintf(why, whyn, "Bad Request: multipart/form-data without a boundary");
        return -1;
    }
    bd += 9;
    size_t bl = strcspn(bd, "\"; ");
    if (*bd == '"') bl = strcspn(++bd, "\"");
    if (!bl || bl > 70) {
        snprintf(why, whyn, "Bad Request: a multipart boundary of 1 to 70 characters");
        return -1;
    }
    char delim[200];
    snprintf(boundary, sizeof(boundary), "%.*s", (int)bl, bd);
    int dl = snprintf(delim, sizeof(delim), "--%s", boundary);
    const char *p = find(body, len, delim, (size_t)dl), *end = body + len;
    if (!p) {
        snprintf(why, whyn, "Bad Request: no multipart part found");
        return -1;
    }
    for (;;) {
        p += dl;
        if (end - p >= 2 && !memcmp(p, "--", 2)) return 0; /* the closing delimiter */
        if (end - p < 2 || memcmp(p, "\r\n", 2)) break;
        p += 2;
        const char *hend = find(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hend) break;
        char name[100] = "", filename[200] = "", ctype[100] = "";
        bool has_name = false, has_file = false;
        for (const char *l = p; l < hend + 2;) {
            const char *le = find(l, (size_t)(hend + 2 - l), "\r\n", 2);
            if (!le) break;
            size_t n = (size_t)(le - l);
            if (n > 20 && !strncasecmp(l, "Content-Disposition:", 20) &&
                find(l, n, "form-data", 9)) {
                has_name = disposition_attr(l, n, "name", name, sizeof(name));
                has_file = disposition_attr(l, n, "filename", filename, sizeof(filename));
            } else if (n > 13 && !strncasecmp(l, "Content-Type:", 13)) {
                const char *v = l + 13;
                while (*v == ' ')
                    v++;
                snprintf(ctype, sizeof(ctype), "%.*s", (int)(le - v), v);
            }
            l = le + 2;
        }
        if (!has_name || !*name) {
            snprintf(why, whyn, "Bad Request: a multipart part without its name");
            return -1;
        }
        const char *data = hend + 4;
        char next[210];
        int nl = snprintf(next, sizeof(next), "\r\n%s", delim);
        const char *dend = find(data, (size_t)(end - data), next, (size_t)nl);
        if (!dend) break;
        size_t n = (size_t)(dend - data);
        if (has_file) {
            char *enc = b64((const unsigned char *)data, n);
            json_object_set_new(params, name,
                                json_pack("{s:b,s:s,s:s,s:I,s:s}", "upload", 1, "filename",
                                          filename, "content_type", ctype, "size", (json_int_t)n,
                                          "content_b64", enc));
            free(enc);
        } else {
            char *v = strndup(data, n);
            json_t *parsed = json_loads(v, JSON_DECODE_ANY, NULL);
            json_object_set_new(params, name, parsed ? parsed : json_string(v));
            free(v);
        }
        p = dend + 2;
    }
    snprintf(why, whyn, "Bad Request: the multipart body is cut short (no closing delimiter)");
    return -1;
}
