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

#include <agenthost/base64.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

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
    size_t size, max = is_photo(a) ? TG_PHOTO_MAX : TG_UPLOAD_MAX;
    if (ah_base64_size(b64, strlen(b64), &size) != AH_OK) {
        snprintf(why, n, "attachments[%zu].content_b64: not base64", i);
        return why;
    }
    if (size > max) {
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
    const char *b64 = json_string_value(json_object_get(a, "content_b64"));
    size_t len = 0;
    unsigned char *bytes = NULL;
    int rc = ah_base64_decode(b64 ? b64 : "", b64 ? strlen(b64) : 0, TG_UPLOAD_MAX, &bytes, &len);
    if (rc != AH_OK) return rc;
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
    rc = tg_post(t, method, ct, b.p, b.len, timeout_ms, cb, ud);
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
