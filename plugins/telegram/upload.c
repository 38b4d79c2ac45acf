/*
 * upload.c - files sent as bytes: an attachment {kind, name, mime_type,
 * content_b64} is posted to sendPhoto, sendDocument, ... as
 * multipart/form-data (RFC 7578), as Telegram takes uploads: each parameter
 * a part of its own (objects such as reply_markup as JSON), the file a part
 * with its filename and type. The boundary is random (getrandom), so no
 * file can hold it by chance or design. Telegram's limits are checked
 * before anything is sent: 10 MB for a photo, 50 MB for anything else (the
 * host's broker.max_request_kb, 8 MB by default, caps it too).
 */
#include "tg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static int unb64(int c)
{
    return c >= 'A' && c <= 'Z'   ? c - 'A'
           : c >= 'a' && c <= 'z' ? c - 'a' + 26
           : c >= '0' && c <= '9' ? c - '0' + 52
           : c == '+'             ? 62
           : c == '/'             ? 63
                                  : -1;
}

/* Decoded into a new buffer (*len its size), or NULL when s is not base64. */
static unsigned char *decode(const char *s, size_t *len)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '=' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    unsigned char *o = malloc(n * 3 / 4 + 3);
    if (!o) return NULL;
    size_t k = 0, bits = 0;
    unsigned acc = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n' || s[i] == '\r') continue;
        int v = unb64((unsigned char)s[i]);
        if (v < 0) {
            free(o);
            return NULL;
        }
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *len = k;
    return o;
}

/* Base64 text's decoded size without decoding it, or -1 when it is not
 * base64 as decode() takes it: line breaks anywhere, '=' only as the last
 * one or two characters. */
static long long b64_size(const char *s)
{
    size_t data = 0, pad = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '\n' || *p == '\r') continue;
        if (*p == '=') {
            pad++;
            continue;
        }
        if (pad || unb64((unsigned char)*p) < 0) return -1; /* data after padding */
        data++;
    }
    if (pad > 2 || data % 4 == 1) return -1;
    return (long long)(data * 3 / 4);
}

static bool is_photo(const json_t *a)
{
    const char *k = json_string_value(json_object_get(a, "kind"));
    return k && !strcmp(k, "image");
}

const char *tg_upload_check(const json_t *a, size_t i, char *why, size_t n)
{
    const char *b64 = json_string_value(json_object_get(a, "content_b64"));
    if (!b64 || !*b64) {
        snprintf(why, n, "attachments[%zu].content_b64: the file's bytes, base64", i);
        return why;
    }
    long long size = b64_size(b64);
    size_t max = is_photo(a) ? TG_PHOTO_MAX : TG_UPLOAD_MAX;
    if (size < 0) {
        snprintf(why, n, "attachments[%zu].content_b64: not base64", i);
        return why;
    }
    if ((size_t)size > max) {
        snprintf(why, n, "attachments[%zu].content_b64: %.1f MB is over Telegram's %u MB for %s%s",
                 i, (double)size / (1 << 20), (unsigned)(max >> 20),
                 is_photo(a) ? "a photo" : "a file",
                 is_photo(a) ? " (send it as kind \"document\")" : "");
        return why;
    }
    const char *name = json_string_value(json_object_get(a, "name"));
    if (name && (strlen(name) > 200 || strpbrk(name, "\"\r\n"))) {
        snprintf(why, n, "attachments[%zu].name: at most 200 characters, no quotes or newlines", i);
        return why;
    }
    return NULL;
}

/* A growing buffer. */
typedef struct buf {
    char *p;
    size_t len, cap;
    bool failed;
} buf;

static void put(buf *b, const void *s, size_t n)
{
    if (b->failed) return;
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->failed = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void puts_(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void field(buf *b, const char *boundary, const char *name, const json_t *v)
{
    char *text = json_is_string(v) ? strdup(json_string_value(v))
                                   : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    puts_(b, "--");
    puts_(b, boundary);
    puts_(b, "\r\nContent-Disposition: form-data; name=\"");
    puts_(b, name);
    puts_(b, "\"\r\n\r\n");
    puts_(b, text ? text : "");
    puts_(b, "\r\n");
    free(text);
}

int tg_call_upload(tg *t, const char *method, const json_t *params, const char *fieldname,
                   const json_t *a, uint32_t timeout_ms, tg_api_cb cb, void *ud)
{
    unsigned char rnd[16];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) return AH_EIO;
    char boundary[64] = "agenthost-";
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(boundary + 10 + 2 * i, 3, "%02x", rnd[i]);
    size_t len = 0;
    unsigned char *bytes = decode(json_string_value(json_object_get(a, "content_b64")), &len);
    if (!bytes) return AH_EINVAL;
    buf b = {0};
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)params, k, v) field(&b, boundary, k, v);
    const char *name = json_string_value(json_object_get(a, "name"));
    const char *mime = json_string_value(json_object_get(a, "mime_type"));
    puts_(&b, "--");
    puts_(&b, boundary);
    puts_(&b, "\r\nContent-Disposition: form-data; name=\"");
    puts_(&b, fieldname);
    puts_(&b, "\"; filename=\"");
    puts_(&b, name && *name ? name : is_photo(a) ? "photo.jpg" : "file");
    puts_(&b, "\"\r\nContent-Type: ");
    puts_(&b, mime && *mime && !strpbrk(mime, "\r\n") ? mime : "application/octet-stream");
    puts_(&b, "\r\n\r\n");
    put(&b, bytes, len);
    puts_(&b, "\r\n--");
    puts_(&b, boundary);
    puts_(&b, "--\r\n");
    free(bytes);
    if (b.failed) {
        free(b.p);
        return AH_ENOMEM;
    }
    char ct[120];
    snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%s", boundary);
    int rc = tg_post(t, method, ct, b.p, b.len, timeout_ms, cb, ud);
    free(b.p);
    return rc;
}

const char *tg_uploaded_file_id(const json_t *m)
{
    const json_t *photo = json_object_get(m, "photo");
    if (json_array_size(photo))
        return json_string_value(
            json_object_get(json_array_get(photo, json_array_size(photo) - 1), "file_id"));
    static const char *const kinds[] = {"document",  "video",   "audio",     "voice",
                                        "animation", "sticker", "video_note"};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        const char *id =
            json_string_value(json_object_get(json_object_get(m, kinds[i]), "file_id"));
        if (id) return id;
    }
    return NULL;
}
