/*
 * auth.c - the instance's access to its amoCRM account.
 *
 * Either a long-lived token (the secret long_lived_token, from the
 * integration's "Keys and access" tab: sent as is, never refreshed), or
 * OAuth 2.0: the authorisation code (from the redirect, or the action
 * oauth.exchange) is exchanged at /oauth2/access_token for an access token
 * (a day) and a refresh token (three months, ONE use: amoCRM rotates it).
 *
 * The pair is kept in the instance's KV ("oauth") and written durably
 * BEFORE the new access token is used, so a restart never comes back with
 * a refresh token amoCRM has already retired. One refresh at a time: it
 * starts ahead of the expiry (a tenth of the lifetime, at least a
 * minute), or at the first 401; the scheduler sends nothing while it is in
 * flight, so concurrent callers wait for it and the refresh token is never
 * presented twice. A refresh refused by amoCRM (400/401: the integration
 * was removed, or the token was used elsewhere) sets "needs
 * re-authorisation": calls fail at once with needs_reauthorization, health
 * reports it, and a new code (oauth.url, the redirect) clears it. There is
 * no retry loop against a refused grant.
 */
#include "amo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define KV_KEY "oauth"

typedef struct exchange {
    amo *a;
    bool by_code;
    amo_auth_cb cb;
    void *ud;
    char *access, *refresh;
    int64_t expires_ms;
} exchange;

static void schedule_refresh(amo *a);

static void set_tokens(amo *a, const char *access, const char *refresh, int64_t expires_ms)
{
    free(a->access);
    free(a->refresh);
    a->access = access ? strdup(access) : NULL;
    a->refresh = refresh ? strdup(refresh) : NULL;
    a->expires_ms = expires_ms;
}

static json_t *stored(amo *a)
{
    return json_pack("{s:s*,s:s*,s:I,s:I,s:b,s:s,s:I}", "access_token", a->access, "refresh_token",
                     a->refresh, "expires_at_ms", (json_int_t)a->expires_ms, "ttl_ms",
                     (json_int_t)a->ttl_ms, "needs_reauth", a->needs_reauth, "reason",
                     a->reauth_reason, "updated_at_ms", (json_int_t)amo_now_ms());
}

/* ---- loading -------------------------------------------------------------------------- */

static void loaded(ah_ctx *ctx, int status, const json_t *v, void *ud)
{
    (void)ctx;
    amo *a = ud;
    if (status == 0) {
        set_tokens(a, json_string_value(json_object_get(v, "access_token")),
                   json_string_value(json_object_get(v, "refresh_token")),
                   json_integer_value(json_object_get(v, "expires_at_ms")));
        a->ttl_ms = json_integer_value(json_object_get(v, "ttl_ms"));
        a->needs_reauth = json_is_true(json_object_get(v, "needs_reauth"));
        snprintf(a->reauth_reason, sizeof(a->reauth_reason), "%s",
                 json_string_value(json_object_get(v, "reason"))
                     ? json_string_value(json_object_get(v, "reason"))
                     : "");
    } else if (status != AH_ENOTFOUND) {
        a->host->log(a->ctx, AH_LOG_ERROR, "reading the stored tokens: %s", ah_strerror(status));
    }
    a->loaded = true;
    if (a->needs_reauth)
        a->host->log(a->ctx, AH_LOG_WARN,
                     "amoCRM access needs re-authorisation (%s): call the action oauth.url and "
                     "open the link",
                     a->reauth_reason);
    schedule_refresh(a);
    amo_pump(a);
}

void amo_auth_start(amo *a)
{
    if (a->long_lived) {
        a->loaded = true;
        return;
    }
    if (a->host->kv_get(a->ctx, KV_KEY, loaded, a)) loaded(a->ctx, AH_EIO, NULL, a);
}

/* ---- the token endpoint --------------------------------------------------------------- */

static void saved(ah_ctx *ctx, int status, void *ud)
{
    (void)ctx;
    exchange *x = ud;
    amo *a = x->a;
    a->refreshing = false;
    if (status) {
        /* Not durable: the new refresh token would be lost on a restart.
         * Use it now anyway (the old one is already retired). */
        a->host->log(a->ctx, AH_LOG_ERROR, "storing the new tokens failed: %s",
                     ah_strerror(status));
    }
    if (x->cb) x->cb(a, true, NULL, x->ud);
    free(x);
    schedule_refresh(a);
    amo_pump(a);
}

static void refused(exchange *x, const char *why)
{
    amo *a = x->a;
    a->refreshing = false;
    if (!x->by_code || !a->access) {
        a->needs_reauth = true;
        snprintf(a->reauth_reason, sizeof(a->reauth_reason), "%s", why);
        set_tokens(a, NULL, NULL, 0);
        json_t *v = stored(a);
        a->host->kv_put(a->ctx, KV_KEY, v, NULL, NULL);
        json_decref(v);
        a->host->log(a->ctx, AH_LOG_ERROR,
                     "amoCRM refused the grant (%s): the instance needs re-authorisation; "
                     "calls fail with needs_reauthorization until a new code is exchanged",
                     why);
        a->host->metric(a->ctx, "amocrm_reauth_needed", AH_METRIC_COUNTER, 1, NULL);
    }
    if (x->cb) x->cb(a, false, why, x->ud);
    free(x);
    amo_pump(a);
}

static void token_answered(ah_ctx *ctx, const ah_http_response *resp, void *ud)
{
    (void)ctx;
    exchange *x = ud;
    amo *a = x->a;
    json_t *b = resp->body_len ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    const char *at = json_string_value(json_object_get(b, "access_token"));
    const char *rt = json_string_value(json_object_get(b, "refresh_token"));
    json_int_t ttl = json_integer_value(json_object_get(b, "expires_in"));
    json_t *f = json_pack("{s:s,s:i}", "grant", x->by_code ? "authorization_code" : "refresh_token",
                          "status", resp->status);
    amo_log(a, resp->status == 200 ? AH_LOG_INFO : AH_LOG_WARN, f, "amoCRM token");
    json_decref(f);
    if (resp->status == 200 && at && rt && ttl > 0) {
        set_tokens(a, at, rt, amo_now_ms() + ttl * 1000);
        a->ttl_ms = ttl * 1000;
        a->needs_reauth = false;
        a->reauth_reason[0] = 0;
        a->refreshes++;
        json_t *v = stored(a);
        if (a->host->kv_put(a->ctx, KV_KEY, v, saved, x)) saved(a->ctx, AH_EIO, x);
        json_decref(v);
    } else if (resp->status == 400 || resp->status == 401 || resp->status == 403) {
        char why[300];
        amo_problem_text(b, why, sizeof(why));
        refused(x, why);
    } else {
        /* No answer or a server error: the grant may still be good. */
        a->refreshing = false;
        a->host->log(a->ctx, AH_LOG_WARN, "the token endpoint did not answer (%d %s)", resp->status,
                     resp->error_code ? resp->error_code : "");
        if (x->cb) x->cb(a, false, "the token endpoint did not answer", x->ud);
        free(x);
        amo_fail_all(a, "unavailable", "amoCRM's token endpoint did not answer");
        schedule_refresh(a);
    }
    json_decref(b);
}

static int post_token(amo *a, json_t *body, exchange *x)
{
    json_object_set_new(body, "client_id", json_string(a->client_id ? a->client_id : ""));
    json_object_set_new(body, "client_secret",
                        json_string(a->client_secret ? a->client_secret : ""));
    const char *redirect = json_string_value(json_object_get(a->config, "redirect_uri"));
    if (redirect) json_object_set_new(body, "redirect_uri", json_string(redirect));
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    char url[700];
    snprintf(url, sizeof(url), "%s/oauth2/access_token", a->base);
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    ah_http_request req = {.size = sizeof(req),
                           .method = "POST",
                           .url = url,
                           .headers = headers,
                           .body = s,
                           .body_len = s ? strlen(s) : 0,
                           .timeout_ms = 30000};
    a->refreshing = true;
    int rc = s ? a->host->http(a->ctx, &req, token_answered, x) : AH_ENOMEM;
    if (s) explicit_bzero(s, strlen(s));
    free(s);
    if (rc) a->refreshing = false;
    return rc;
}

static void refresh_now(amo *a)
{
    if (a->refreshing || !a->refresh || a->needs_reauth || a->stopping) return;
    exchange *x = calloc(1, sizeof(*x));
    if (!x) return;
    x->a = a;
    json_t *b = json_pack("{s:s,s:s}", "grant_type", "refresh_token", "refresh_token", a->refresh);
    if (post_token(a, b, x)) {
        free(x);
        amo_fail_all(a, "unavailable", "the refresh could not be sent");
    }
}

static void refresh_due(ah_ctx *ctx, ah_timer *t, void *ud)
{
    (void)ctx;
    (void)t;
    amo *a = ud;
    a->refresh_timer = NULL;
    refresh_now(a);
}

/* How early a refresh is due: a minute, or half the lifetime of a token
 * shorter than two (so a short-lived token is not refreshed in a loop). */
static int64_t margin_ms(amo *a)
{
    int64_t half = a->ttl_ms > 0 ? a->ttl_ms / 2 : 60000;
    return half < 60000 ? half : 60000;
}

static void schedule_refresh(amo *a)
{
    if (a->refresh_timer) a->host->timer_stop(a->ctx, a->refresh_timer);
    a->refresh_timer = NULL;
    if (!a->refresh || a->needs_reauth || a->stopping) return;
    int64_t left = a->expires_ms - amo_now_ms();
    int64_t early = left / 10 > margin_ms(a) ? left / 10 : margin_ms(a);
    int64_t in = left - early;
    if (in < 500) in = 500;
    a->refresh_timer = a->host->timer_start(a->ctx, (uint64_t)in, 0, refresh_due, a);
}

/* ---- the scheduler's questions --------------------------------------------------------- */

const char *amo_auth_token(amo *a)
{
    return a->long_lived ? a->long_lived : a->access;
}

bool amo_auth_ready(amo *a)
{
    if (!a->loaded || a->refreshing) return false;
    if (a->long_lived || a->needs_reauth || !a->access) return true;
    if (a->expires_ms - amo_now_ms() > margin_ms(a) / 2) return true;
    if (!a->refresh) return true; /* it will be refused, and say so */
    refresh_now(a);
    return !a->refreshing;
}

void amo_auth_rejected(amo *a, const char *token)
{
    if (a->long_lived) {
        if (strcmp(token, a->long_lived)) return;
        a->needs_reauth = true;
        snprintf(a->reauth_reason, sizeof(a->reauth_reason),
                 "amoCRM refused the long-lived token: set a new one");
        a->host->log(a->ctx, AH_LOG_ERROR, "%s", a->reauth_reason);
        return;
    }
    if (!a->access || strcmp(token, a->access)) return; /* already replaced */
    a->expires_ms = 0;
    refresh_now(a);
}

/* ---- authorisation ---------------------------------------------------------------------- */

void amo_auth_url(amo *a, char *out, size_t n)
{
    unsigned char r[12] = {0};
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        a->host->log(a->ctx, AH_LOG_WARN, "getrandom failed: the OAuth state is weak");
    for (size_t i = 0; i < sizeof(r); i++)
        snprintf(a->state + 2 * i, 3, "%02x", r[i]);
    json_t *v = json_pack("{s:s}", "state", a->state);
    a->host->kv_put(a->ctx, "oauth_state", v, NULL, NULL);
    json_decref(v);
    const char *site = json_string_value(json_object_get(a->config, "authorize_url"));
    snprintf(out, n, "%s?client_id=%s&state=%s&mode=post_message",
             site ? site : "https://www.amocrm.ru/oauth", a->client_id ? a->client_id : "",
             a->state);
}

typedef struct pending {
    amo *a;
    char *code;
    char state[40];
    amo_auth_cb cb;
    void *ud;
} pending;

static void exchange_code(amo *a, const char *code, amo_auth_cb cb, void *ud)
{
    exchange *x = calloc(1, sizeof(*x));
    if (!x) {
        cb(a, false, "out of memory", ud);
        return;
    }
    *x = (exchange){.a = a, .by_code = true, .cb = cb, .ud = ud};
    json_t *b = json_pack("{s:s,s:s}", "grant_type", "authorization_code", "code", code);
    if (post_token(a, b, x)) {
        free(x);
        cb(a, false, "the exchange could not be sent", ud);
    }
}

static void state_read(ah_ctx *ctx, int status, const json_t *v, void *ud)
{
    (void)ctx;
    pending *p = ud;
    const char *want = status == 0 ? json_string_value(json_object_get(v, "state")) : NULL;
    if (!want || !amo_same(want, p->state))
        p->cb(p->a, false, "the OAuth state does not match the last oauth.url", p->ud);
    else
        exchange_code(p->a, p->code, p->cb, p->ud);
    free(p->code);
    free(p);
}

void amo_auth_exchange(amo *a, const char *code, const char *state, amo_auth_cb cb, void *ud)
{
    if (!state) {
        exchange_code(a, code, cb, ud);
        return;
    }
    pending *p = calloc(1, sizeof(*p));
    if (!p || !(p->code = strdup(code))) {
        free(p);
        cb(a, false, "out of memory", ud);
        return;
    }
    *p = (pending){.a = a, .code = p->code, .cb = cb, .ud = ud};
    snprintf(p->state, sizeof(p->state), "%s", state);
    if (a->host->kv_get(a->ctx, "oauth_state", state_read, p)) state_read(a->ctx, AH_EIO, NULL, p);
}

json_t *amo_auth_status(amo *a)
{
    bool authorised = !a->needs_reauth && (a->long_lived || a->access);
    return json_pack("{s:b,s:b,s:s,s:s,s:I,s:I,s:b}", "authorized", authorised,
                     "needs_reauthorization", a->needs_reauth, "reason", a->reauth_reason, "mode",
                     a->long_lived ? "long_lived_token" : "oauth", "expires_at_ms",
                     (json_int_t)(a->long_lived ? 0 : a->expires_ms), "refreshes",
                     (json_int_t)a->refreshes, "refreshing", a->refreshing);
}

void amo_auth_stop(amo *a)
{
    if (a->refresh_timer) a->host->timer_stop(a->ctx, a->refresh_timer);
    a->refresh_timer = NULL;
    set_tokens(a, NULL, NULL, 0);
}
