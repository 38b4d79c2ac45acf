/*
 * The web chat's files: the widget script (/chat/widget.js, built into
 * admin/widget/dist/ and served from the webchat.script option), the demo
 * page (/chat/{widget}/demo), and visitors' uploads (/chat/{widget}/uploads,
 * kept under <data_dir>/webchat-uploads/<widget>/).
 */
#include "core/util.h"
#include "model/ids.h"
#include "store/secrets.h"
#include "api_webchat.h"
#include "webchat_rate.h"
#include "webchat_token.h"

#include <agenthost/plugin.h>

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCRIPT_MAX (4u << 20)
#define UPLOAD_DEFAULT_MAX (5u << 20)

typedef struct pages_ctx {
    docs *d;
    secrets *sec;
    char script[1024];
    char uploads[1024]; /* "" : no uploads */
    uint8_t key[WCT_KEY_BYTES];
    wc_rates rates; /* uploads per session and per address */
} pages_ctx;

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void h_script(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    pages_ctx *x = ctx;
    size_t len = 0;
    char *js = x->script[0] ? ah_read_file(x->script, SCRIPT_MAX, &len) : NULL;
    if (!js) {
        char msg[1300];
        snprintf(msg, sizeof(msg),
                 "the widget script is not there: build it (make widget) or set the option "
                 "webchat.script (now \"%s\")",
                 x->script);
        http_respond_error(req, 404, "widget_script_missing", msg, NULL);
        return;
    }
    static const char *const hs[] = {"Cache-Control: public, max-age=300",
                                     "Access-Control-Allow-Origin: *",
                                     "X-Content-Type-Options: nosniff", NULL};
    http_respond(req, 200, "application/javascript; charset=utf-8", js, len, hs);
    free(js);
}

/* HTML-escape s into out (for attributes). */
static void esc(const char *s, char *out, size_t n)
{
    size_t o = 0;
    for (; s && *s && o + 7 < n; s++) {
        const char *r = *s == '&'   ? "&amp;"
                        : *s == '<' ? "&lt;"
                        : *s == '>' ? "&gt;"
                        : *s == '"' ? "&quot;"
                                    : NULL;
        if (r) {
            memcpy(out + o, r, strlen(r));
            o += strlen(r);
        } else {
            out[o++] = *s;
        }
    }
    out[o] = 0;
}

static void h_demo(void *ctx, http_req *req, const route_params *p)
{
    pages_ctx *x = ctx;
    json_t *w = webchat_widget(x->d, req, route_param(p, "widget"));
    if (!w) return;
    const json_t *theme = json_object_get(w, "theme");
    char name[400], color[40], lang[16];
    esc(str_of(w, "name"), name, sizeof(name));
    esc(str_of(theme, "color") ? str_of(theme, "color") : "#2f6fed", color, sizeof(color));
    esc(str_of(w, "lang") ? str_of(w, "lang") : "en", lang, sizeof(lang));
    char *page = NULL;
    int n = asprintf(&page,
                     "<!doctype html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\">\n"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                     "<title>%s: web chat demo</title></head>\n"
                     "<body style=\"font-family:system-ui,sans-serif;margin:2rem\">\n"
                     "<h1>%s</h1>\n<p>The agent's web chat as a site would embed it: open the "
                     "bubble at the bottom right.</p>\n"
                     "<pre>&lt;script src=\"/chat/widget.js\" data-widget=\"%s\" "
                     "data-color=\"%s\" data-lang=\"%s\" async&gt;&lt;/script&gt;</pre>\n"
                     "<script src=\"/chat/widget.js\" data-widget=\"%s\" data-color=\"%s\" "
                     "data-lang=\"%s\" async></script>\n</body></html>\n",
                     lang, name, name, str_of(w, "id"), color, lang, str_of(w, "id"), color, lang);
    json_decref(w);
    static const char *const hs[] = {
        "Content-Security-Policy: default-src 'none'; script-src 'self'; connect-src 'self'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
        "X-Content-Type-Options: nosniff", NULL};
    if (n < 0) {
        http_respond_error(req, 503, "unavailable", "out of memory", NULL);
        return;
    }
    http_respond(req, 200, "text/html; charset=utf-8", page, (size_t)n, hs);
    free(page);
}

/* ---- uploads ---------------------------------------------------------------------- */

static bool type_allowed(const json_t *w, const char *type)
{
    const json_t *list = json_object_get(json_object_get(w, "limits"), "upload_types");
    static const char *const def[] = {"image/png",  "image/jpeg",      "image/gif",
                                      "image/webp", "application/pdf", "text/plain"};
    size_t n = json_is_array(list) ? json_array_size(list) : sizeof(def) / sizeof(def[0]);
    for (size_t i = 0; i < n; i++) {
        const char *t = json_is_array(list) ? json_string_value(json_array_get(list, i)) : def[i];
        if (!t) continue;
        size_t tl = strlen(t);
        if (tl > 2 && !strcmp(t + tl - 2, "/*") ? !strncasecmp(type, t, tl - 1)
                                                : api_is_media_type(type, t))
            return true;
    }
    return false;
}

/* A file name as shown: its last path part, control characters out. */
static void clean_name(const char *in, char *out, size_t n)
{
    const char *base = in;
    for (const char *q = in; *q; q++)
        if (*q == '/' || *q == '\\') base = q + 1;
    size_t o = 0;
    for (; *base && o + 1 < n; base++)
        if ((unsigned char)*base >= 0x20 && *base != 0x7f) out[o++] = *base;
    out[o] = 0;
    if (!o) snprintf(out, n, "file");
}

/* Uploads count like messages (limits.messages_per_minute a session, five
 * times that an address): true after answering 429. */
static bool upload_throttled(pages_ctx *x, const json_t *w, http_req *req, const char *session,
                             const char *const *cors)
{
    const json_t *lim = json_object_get(json_object_get(w, "limits"), "messages_per_minute");
    uint32_t per_min = json_is_integer(lim) ? (uint32_t)json_integer_value(lim) : 20;
    unsigned wait = wc_rate_hit(&x->rates, "upload", session, per_min);
    if (!wait) wait = wc_rate_hit(&x->rates, "uploadip", http_req_client_ip(req), per_min * 5);
    if (!wait) return false;
    char ra[40];
    snprintf(ra, sizeof(ra), "Retry-After: %u", wait);
    const char *hs[6];
    int n = 0;
    for (; cors[n] && n < 4; n++)
        hs[n] = cors[n];
    hs[n++] = ra;
    hs[n] = NULL;
    http_respond_error_h(req, 429, "too_many_requests", "too many uploads; retry later", NULL, hs);
    return true;
}

static void h_upload(void *ctx, http_req *req, const route_params *p)
{
    pages_ctx *x = ctx;
    json_t *w = webchat_widget(x->d, req, route_param(p, "widget"));
    if (!w) return;
    char buf[2][400];
    const char *hs[5];
    const char *wid = str_of(w, "id");
    const char *auth = http_req_header(req, "Authorization");
    const char *tok = auth && !strncasecmp(auth, "Bearer ", 7) ? auth + 7 : NULL;
    wct t;
    wct_status ts;
    size_t len;
    const char *body = http_req_body(req, &len);
    const char *type = http_req_header(req, "Content-Type");
    json_int_t max =
        json_integer_value(json_object_get(json_object_get(w, "limits"), "upload_max_bytes"));
    if (!json_is_integer(json_object_get(json_object_get(w, "limits"), "upload_max_bytes")))
        max = UPLOAD_DEFAULT_MAX;
    if (!webchat_cors(w, req, buf, hs)) {
        webchat_log_refused(req, wid, "origin not allowed");
        http_respond_error(req, 403, "origin_not_allowed",
                           "this widget does not allow calls from this origin", NULL);
    } else if ((ts = tok ? wct_parse(x->key, tok, strlen(tok), ah_now_ms(), &t) : WCT_MALFORMED) !=
                   WCT_OK ||
               strcmp(t.widget, wid) != 0) {
        bool expired = ts == WCT_EXPIRED && !strcmp(t.widget, wid);
        webchat_log_refused(req, wid, expired ? "expired session token" : "invalid session token");
        http_respond_error_h(req, 401, expired ? "session_expired" : "invalid_token",
                             expired ? "the session has expired: start a new one"
                                     : "send a valid session token",
                             "token", hs);
    } else if (upload_throttled(x, w, req, t.session, hs)) {
    } else if (!x->uploads[0]) {
        http_respond_error_h(req, 503, "unavailable", "this host takes no uploads", NULL, hs);
    } else if (len == 0 || (json_int_t)len > max) {
        http_respond_error_h(req, 413, "payload_too_large",
                             len ? "the file is larger than the widget's upload_max_bytes"
                                 : "send the file as the body",
                             NULL, hs);
    } else if (!type || !type_allowed(w, type) || strpbrk(type, "\r\n")) {
        http_respond_error_h(req, 415, "unsupported_media_type",
                             "this widget does not take files of this type (limits.upload_types)",
                             "Content-Type", hs);
    } else {
        char id[40], dir[1200], path[1300], name[200];
        id_new("upl", ah_now_ms(), id, sizeof(id));
        clean_name(http_req_header(req, "X-Filename") ? http_req_header(req, "X-Filename") : "",
                   name, sizeof(name));
        snprintf(dir, sizeof(dir), "%s/%s", x->uploads, wid);
        snprintf(path, sizeof(path), "%s/%s", dir, id);
        char mt[120];
        snprintf(mt, sizeof(mt), "%.*s", (int)strcspn(type, "; "), type);
        json_t *meta = json_pack("{s:s,s:s,s:s,s:I,s:s}", "id", id, "name", name, "type", mt,
                                 "size", (json_int_t)len, "session", t.session);
        char *ms = json_dumps(meta, JSON_COMPACT);
        char mpath[1320];
        snprintf(mpath, sizeof(mpath), "%s.json", path);
        if (ah_mkdir_p(dir, 0700) != 0 || ah_write_file_atomic(path, body, len, 0600) != 0 || !ms ||
            ah_write_file_atomic(mpath, ms, strlen(ms), 0600) != 0) {
            http_respond_error_h(req, 503, "unavailable", "cannot store the file", NULL, hs);
        } else {
            char url[200];
            snprintf(url, sizeof(url), "/chat/%s/uploads/%s", wid, id);
            json_object_del(meta, "session");
            json_object_set_new(meta, "url", json_string(url));
            char *out = json_dumps(meta, JSON_COMPACT);
            http_respond(req, 201, "application/json", out ? out : "{}", out ? strlen(out) : 2, hs);
            free(out);
        }
        free(ms);
        json_decref(meta);
    }
    json_decref(w);
}

static void h_upload_get(void *ctx, http_req *req, const route_params *p)
{
    pages_ctx *x = ctx;
    const char *wid = route_param(p, "widget"), *id = route_param(p, "id");
    if (!id_valid(wid, "wdg") || !id_valid(id, "upl") || !x->uploads[0]) {
        api_respond_not_found(req, "upload", id);
        return;
    }
    char path[1300], mpath[1320];
    snprintf(path, sizeof(path), "%s/%s/%s", x->uploads, wid, id);
    snprintf(mpath, sizeof(mpath), "%s.json", path);
    size_t len = 0, mlen = 0;
    char *ms = ah_read_file(mpath, 1 << 16, &mlen);
    json_t *meta = ms ? json_loads(ms, 0, NULL) : NULL;
    free(ms);
    char *data = meta ? ah_read_file(path, 64u << 20, &len) : NULL;
    if (!data) {
        json_decref(meta);
        api_respond_not_found(req, "upload", id);
        return;
    }
    char ct[160], cd[300];
    snprintf(ct, sizeof(ct), "%s", str_of(meta, "type"));
    /* Never rendered by the host's origin: a download, with no sniffing. */
    snprintf(cd, sizeof(cd), "Content-Disposition: attachment");
    const char *hs[] = {cd, "X-Content-Type-Options: nosniff",
                        "Content-Security-Policy: default-src 'none'; sandbox",
                        "Cache-Control: private, max-age=86400", NULL};
    http_respond(req, 200, ct, data, len, hs);
    free(data);
    json_decref(meta);
}

static const route routes[] = {
    {"GET", "/chat/widget.js", h_script, "public", "Web chat: the widget script"},
    {"GET", "/chat/{widget}/demo", h_demo, "public", "Web chat: a demo page embedding the widget"},
    {"POST", "/chat/{widget}/uploads", h_upload, "public",
     "Web chat: upload a file to attach to a message"},
    {"GET", "/chat/{widget}/uploads/{id}", h_upload_get, "public",
     "Web chat: a file a visitor uploaded"},
};

static void pages_free(void *p)
{
    pages_ctx *x = p;
    wc_rates_free(&x->rates);
    free(x);
}

int webchat_pages_routes(api_table *t, const api_deps *deps)
{
    pages_ctx *x = NULL;
    if (deps) {
        if (!deps->rt) return 0;
        if (!(x = calloc(1, sizeof(*x)))) return AH_ENOMEM;
        x->d = deps->docs;
        x->sec = deps->sec;
        const char *s = deps->opts ? deps->opts->webchat_script : NULL;
        snprintf(x->script, sizeof(x->script), "%s", s ? s : "");
        if (deps->data_dir)
            snprintf(x->uploads, sizeof(x->uploads), "%s/webchat-uploads", deps->data_dir);
        if (!x->sec || secrets_derive_key(x->sec, "ahwchat1", x->key) != 0)
            x->uploads[0] = 0; /* tokens this file cannot check: no uploads */
        wc_rates_init(&x->rates);
        int rc = api_table_own(t, x, pages_free);
        if (rc) return rc;
    }
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), x);
}
