/*
 * files.c - attachments on demand: a `ref` of "telegram:FILE_ID" that this
 * instance put in a message is resolved with getFile, and the file is
 * downloaded through the egress broker, within a size limit (Telegram's
 * cloud Bot API serves files up to 20 MB; the broker's
 * broker.max_response_kb caps it too). The bytes are answered base64.
 */
#include "tg.h"

#include <agenthost/base64.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FETCH_MAX (20u << 20)

typedef struct fetch {
    ah_call *call;
    char ref[300];
    char name[200];
    json_int_t max;
} fetch;

static void got_bytes(tg *t, const ah_http_response *r, void *ud)
{
    fetch *f = ud;
    if (r->status != 200) {
        char why[200];
        snprintf(why, sizeof(why), "downloading the file: %s (HTTP %d)",
                 r->error_code ? r->error_code : "failed", r->status);
        t->host->reply_error(
            f->call,
            r->error_code && !strcmp(r->error_code, "too_large") ? "too_large" : "download_failed",
            why);
    } else if ((json_int_t)r->body_len > f->max) {
        t->host->reply_error(f->call, "too_large", "the file is larger than max_bytes");
    } else {
        char *enc = ah_base64_encode(r->body, r->body_len);
        t->host->reply(f->call,
                       json_pack("{s:s,s:s,s:I,s:s}", "ref", f->ref, "name", f->name, "size",
                                 (json_int_t)r->body_len, "content_b64", enc ? enc : ""));
        free(enc);
    }
    free(f);
}

static void got_file(tg *t, const tg_result *r, void *ud)
{
    fetch *f = ud;
    const char *path = json_string_value(json_object_get(r->result, "file_path"));
    json_int_t size = json_integer_value(json_object_get(r->result, "file_size"));
    if (!r->ok || !path) {
        t->host->reply_error(f->call, r->error_code == 400 ? "not_found" : "unavailable",
                             r->description);
        free(f);
        return;
    }
    if (size > f->max) {
        t->host->reply_error(f->call, "too_large", "the file is larger than max_bytes");
        free(f);
        return;
    }
    const char *slash = strrchr(path, '/');
    snprintf(f->name, sizeof(f->name), "%s", slash ? slash + 1 : path);
    if (tg_download(t, path, 120000, got_bytes, f)) {
        t->host->reply_error(f->call, "unavailable", "the host refused the download");
        free(f);
    }
}

void tg_fetch_action(tg *t, ah_call *call, const json_t *args)
{
    const char *ref = json_string_value(json_object_get(args, "ref"));
    if (!ref || strncmp(ref, "telegram:", 9) != 0 || !ref[9] || strlen(ref) >= 300) {
        t->host->reply_error(call, "invalid",
                             "ref must be telegram:FILE_ID, as a message of "
                             "this instance gave it");
        return;
    }
    fetch *f = calloc(1, sizeof(*f));
    if (!f) {
        t->host->reply_error(call, "no_memory", "out of memory");
        return;
    }
    f->call = call;
    snprintf(f->ref, sizeof(f->ref), "%s", ref);
    json_int_t max = json_integer_value(json_object_get(args, "max_bytes"));
    f->max = max > 0 && max < FETCH_MAX ? max : FETCH_MAX;
    json_t *p = json_pack("{s:s}", "file_id", ref + 9);
    if (tg_call(t, "getFile", p, 30000, got_file, f)) {
        t->host->reply_error(call, "unavailable", "the host refused the request");
        free(f);
    }
    json_decref(p);
}
