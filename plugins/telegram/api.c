/*
 * api.c - the Bot API through the host's egress broker: one JSON POST per
 * call to BASE/bot<token>/<method>, the answer's envelope read
 * ({"ok", "result"} or {"ok": false, "error_code", "description",
 * "parameters": {"retry_after", "migrate_to_chat_id"}}). The URL holds the
 * token, so neither it nor the broker's message is ever logged here.
 */
#include "tg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct call {
    tg *t;
    tg_api_cb cb;
    void *ud;
    char method[48];
} call;

static void answered(ah_ctx *ctx, const ah_http_response *resp, void *ud)
{
    (void)ctx;
    call *c = ud;
    tg_result r = {.status = resp->status};
    json_t *env = NULL;
    char desc[300];
    if (resp->error && !resp->status) {
        snprintf(desc, sizeof(desc), "%s: no answer (%s)", c->method,
                 resp->error_code ? resp->error_code : "network");
        r.description = desc;
    } else {
        env = resp->body_len ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
        if (!json_is_object(env)) {
            snprintf(desc, sizeof(desc), "%s: not a Bot API answer (HTTP %d)", c->method,
                     resp->status);
            r.description = desc;
        } else {
            r.ok = json_is_true(json_object_get(env, "ok"));
            r.result = json_object_get(env, "result");
            r.error_code = (int)json_integer_value(json_object_get(env, "error_code"));
            r.description = json_string_value(json_object_get(env, "description"));
            const json_t *p = json_object_get(env, "parameters");
            r.retry_after = (int)json_integer_value(json_object_get(p, "retry_after"));
            r.migrate_to = json_integer_value(json_object_get(p, "migrate_to_chat_id"));
            if (!r.error_code && !r.ok) r.error_code = resp->status;
        }
    }
    if (!r.description) r.description = r.ok ? "ok" : "no description";
    if (c->cb) c->cb(c->t, &r, c->ud);
    json_decref(env);
    free(c);
}

int tg_post(tg *t, const char *method, const char *content_type, const void *body, size_t len,
            uint32_t timeout_ms, tg_api_cb cb, void *ud)
{
    char *url = NULL, ct[200];
    call *c = calloc(1, sizeof(*c));
    if (!c || asprintf(&url, "%s/bot%s/%s", t->base, t->token, method) < 0) {
        free(c);
        return AH_ENOMEM;
    }
    *c = (call){.t = t, .cb = cb, .ud = ud};
    snprintf(c->method, sizeof(c->method), "%s", method);
    snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
    const char *headers[] = {ct, NULL};
    ah_http_request req = {.size = sizeof(req),
                           .method = "POST",
                           .url = url,
                           .headers = headers,
                           .body = body,
                           .body_len = len,
                           .timeout_ms = timeout_ms};
    int rc = t->host->http(t->ctx, &req, answered, c);
    /* The url and body are copied by the runtime before http returns. */
    memset(url, 0, strlen(url));
    free(url);
    if (rc) free(c);
    return rc;
}

int tg_call(tg *t, const char *method, const json_t *params, uint32_t timeout_ms, tg_api_cb cb,
            void *ud)
{
    char *body = params ? json_dumps(params, JSON_COMPACT) : strdup("{}");
    if (!body) return AH_ENOMEM;
    int rc = tg_post(t, method, "application/json", body, strlen(body), timeout_ms, cb, ud);
    free(body);
    return rc;
}

bool tg_permanent(const tg_result *r)
{
    return !r->ok && r->error_code >= 400 && r->error_code < 500 && r->error_code != 429;
}

typedef struct dl {
    tg *t;
    tg_download_cb cb;
    void *ud;
} dl;

static void downloaded(ah_ctx *ctx, const ah_http_response *resp, void *ud)
{
    (void)ctx;
    dl *d = ud;
    d->cb(d->t, resp, d->ud);
    free(d);
}

int tg_download(tg *t, const char *file_path, uint32_t timeout_ms, tg_download_cb cb, void *ud)
{
    char *url = NULL;
    dl *d = calloc(1, sizeof(*d));
    if (!d || asprintf(&url, "%s/file/bot%s/%s", t->base, t->token, file_path) < 0) {
        free(d);
        return AH_ENOMEM;
    }
    *d = (dl){.t = t, .cb = cb, .ud = ud};
    ah_http_request req = {.size = sizeof(req),
                           .method = "GET",
                           .url = url,
                           .timeout_ms = timeout_ms,
                           .flags = AH_HTTP_IDEMPOTENT};
    int rc = t->host->http(t->ctx, &req, downloaded, d);
    memset(url, 0, strlen(url));
    free(url);
    if (rc) free(d);
    return rc;
}
