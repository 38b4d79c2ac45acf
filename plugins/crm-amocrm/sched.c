/*
 * sched.c - every amoCRM API call goes through this queue, in order:
 *  - at most `rate_per_second` (amoCRM: 7) requests within any second as
 *    amoCRM sees them, whatever the delays on the way: there are that many
 *    slots, a request holds one from its start until its answer, and the
 *    slot starts another request a second after that answer (amoCRM counted
 *    the request at the latest when it answered);
 *  - nothing goes while the tokens are loading or a refresh is in flight
 *    (amo_auth_ready), so callers wait for the one refresh;
 *  - adds of one kind waiting together share one request (up to 50
 *    entities); a 400 for a shared request sends its entities one by one,
 *    so one bad entity fails only its own call;
 *  - 429, 502, 503, 504 and no answer: the request goes back to the head
 *    of the queue and waits 0.5, 1, 2, 4 s (the whole account waits: the
 *    limit is the account's), then fails "rate_limited" or "unavailable";
 *  - 401: the token is refreshed once and the request sent again.
 * Each call writes one record to logs/crm_integration.log: method, the
 * path without its query, status, attempts and milliseconds; the query
 * and bodies (personal data) only with config.debug.
 */
#include "amo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ATTEMPTS 5
#define RATE_MARGIN_MS 10

struct amo_req {
    amo_req *next;
    char method[8];
    char path[700];
    json_t *body;
    char batch_key[16]; /* "" when alone */
    bool solo;          /* sent alone after a shared request was refused */
    int attempts;
    bool retried_401;
    int64_t not_before; /* monotonic ms */
    int64_t queued_at;
    amo_cb cb;
    void *ud;
};

typedef struct flight {
    amo *a;
    amo_req *reqs[AMO_BATCH];
    size_t n;
    char token[600];
    int64_t started;
    int slot;
} flight;

/* ---- the queue --------------------------------------------------------------------- */

static void push_back(amo *a, amo_req *r)
{
    r->next = NULL;
    if (a->tail)
        a->tail->next = r;
    else
        a->head = r;
    a->tail = r;
    a->queued++;
}

static void push_front(amo *a, amo_req *r)
{
    r->next = a->head;
    a->head = r;
    if (!a->tail) a->tail = r;
    a->queued++;
}

static amo_req *pop(amo *a)
{
    amo_req *r = a->head;
    if (!r) return NULL;
    a->head = r->next;
    if (!a->head) a->tail = NULL;
    a->queued--;
    return r;
}

static void finish(amo *a, amo_req *r, const amo_res *res)
{
    if (res->error) a->failures++;
    if (r->cb) r->cb(a, res, r->ud);
    json_decref(r->body);
    free(r);
}

int amo_request(amo *a, const char *method, const char *path, const json_t *body,
                const char *batch_key, amo_cb cb, void *ud)
{
    amo_req *r = calloc(1, sizeof(*r));
    if (!r) return AH_ENOMEM;
    snprintf(r->method, sizeof(r->method), "%s", method);
    snprintf(r->path, sizeof(r->path), "%s", path);
    snprintf(r->batch_key, sizeof(r->batch_key), "%s", batch_key ? batch_key : "");
    r->body = body ? json_deep_copy(body) : NULL;
    r->cb = cb;
    r->ud = ud;
    r->queued_at = amo_mono_ms();
    push_back(a, r);
    amo_pump(a);
    return AH_OK;
}

void amo_fail_all(amo *a, const char *error, const char *message)
{
    amo_req *r;
    while ((r = pop(a))) {
        amo_res res = {.error = error, .message = message};
        finish(a, r, &res);
    }
}

/* ---- the rate ---------------------------------------------------------------------- */

/* A free slot (its index), or -1 and the milliseconds until one frees
 * (-1: when an answer comes). */
static int rate_slot(amo *a, int64_t now, int64_t *wait)
{
    int64_t soonest = INT64_MAX;
    for (int i = 0; i < a->rps; i++) {
        if (a->slot_free_at[i] <= now) return i;
        if (a->slot_free_at[i] < soonest) soonest = a->slot_free_at[i];
    }
    *wait = soonest == INT64_MAX ? -1 : soonest - now;
    return -1;
}

static void rate_release(amo *a, int slot)
{
    a->slot_free_at[slot] = amo_mono_ms() + 1000 + RATE_MARGIN_MS;
}

static void pump_fired(ah_ctx *ctx, ah_timer *t, void *ud)
{
    (void)ctx;
    (void)t;
    amo *a = ud;
    a->pump_timer = NULL;
    a->pump_at = 0;
    amo_pump(a);
}

static void pump_later(amo *a, int64_t ms)
{
    int64_t at = amo_mono_ms() + ms;
    if (a->pump_timer && a->pump_at <= at) return;
    if (a->pump_timer) a->host->timer_stop(a->ctx, a->pump_timer);
    a->pump_timer = a->host->timer_start(a->ctx, (uint64_t)ms, 0, pump_fired, a);
    a->pump_at = at;
}

/* ---- sending ----------------------------------------------------------------------- */

static void answered(ah_ctx *ctx, const ah_http_response *resp, void *ud);

static void log_call(amo *a, const flight *f, const ah_http_response *resp, const char *error)
{
    const amo_req *r = f->reqs[0];
    char path[700];
    snprintf(path, sizeof(path), "%s", r->path);
    char *q = strchr(path, '?');
    if (q && !a->debug) *q = 0;
    json_t *fields =
        json_pack("{s:s,s:s,s:i,s:i,s:I,s:i,s:s*}", "method", r->method, "path", path, "status",
                  resp->status, "attempt", r->attempts, "ms",
                  (json_int_t)(amo_mono_ms() - f->started), "entities", (int)f->n, "error", error);
    if (a->debug && r->body) json_object_set(fields, "request", r->body);
    amo_log(a, error ? AH_LOG_WARN : AH_LOG_INFO, fields, "amoCRM call");
    json_decref(fields);
}

static bool send_flight(amo *a, flight *f, const char *token)
{
    amo_req *r = f->reqs[0];
    char url[1400], auth[700];
    snprintf(url, sizeof(url), "%s%s", a->base, r->path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    snprintf(f->token, sizeof(f->token), "%s", token);
    char *body = NULL;
    if (f->n > 1 || r->batch_key[0]) {
        json_t *arr = json_array();
        for (size_t i = 0; i < f->n; i++)
            json_array_append(arr, f->reqs[i]->body);
        body = json_dumps(arr, JSON_COMPACT);
        json_decref(arr);
    } else if (r->body) {
        body = json_dumps(r->body, JSON_COMPACT);
    }
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    bool get = !strcmp(r->method, "GET");
    ah_http_request req = {.size = sizeof(req),
                           .method = r->method,
                           .url = url,
                           .headers = headers,
                           .body = body,
                           .body_len = body ? strlen(body) : 0,
                           .timeout_ms = 30000,
                           .flags = get ? AH_HTTP_IDEMPOTENT : 0};
    f->started = amo_mono_ms();
    int rc = a->host->http(a->ctx, &req, answered, f);
    memset(auth, 0, sizeof(auth));
    free(body);
    return rc == 0;
}

/* Take the head and, when it is an add, the queued adds to the same path. */
static void take_flight(amo *a, flight *f)
{
    f->reqs[f->n++] = pop(a);
    amo_req *r = f->reqs[0];
    if (!r->batch_key[0] || r->solo) return;
    amo_req *prev = NULL, *c = a->head;
    while (c && f->n < AMO_BATCH) {
        amo_req *next = c->next;
        if (!c->solo && !strcmp(c->path, r->path) && !strcmp(c->method, r->method) &&
            !strcmp(c->batch_key, r->batch_key)) {
            if (prev)
                prev->next = next;
            else
                a->head = next;
            if (a->tail == c) a->tail = prev;
            a->queued--;
            f->reqs[f->n++] = c;
        } else {
            prev = c;
        }
        c = next;
    }
    if (f->n > 1) a->batched += (long)f->n;
}

void amo_pump(amo *a)
{
    while (a->head && !a->stopping) {
        if (a->needs_reauth) {
            amo_fail_all(a, "needs_reauthorization", a->reauth_reason);
            return;
        }
        if (!amo_auth_ready(a)) return; /* the refresh pumps when done */
        const char *token = amo_auth_token(a);
        if (!token) {
            amo_fail_all(a, "not_authorized",
                         "the instance is not authorised: open oauth.url, or set long_lived_token");
            return;
        }
        int64_t now = amo_mono_ms(), wait = 0;
        if (a->head->not_before > now) {
            pump_later(a, a->head->not_before - now);
            return;
        }
        int slot = rate_slot(a, now, &wait);
        if (slot < 0) {
            if (wait > 0) pump_later(a, wait); /* else an answer pumps */
            return;
        }
        flight *f = calloc(1, sizeof(*f));
        if (!f) return;
        f->a = a;
        f->slot = slot;
        take_flight(a, f);
        a->slot_free_at[slot] = INT64_MAX;
        for (size_t i = 0; i < f->n; i++)
            f->reqs[i]->attempts++;
        a->calls++;
        if (!send_flight(a, f, token)) {
            rate_release(a, slot);
            for (size_t i = 0; i < f->n; i++) {
                amo_res res = {.error = "unavailable", .message = "the host refused the request"};
                finish(a, f->reqs[i], &res);
            }
            free(f);
        }
    }
}

/* ---- answers ------------------------------------------------------------------------ */

static bool transient(int status)
{
    return status == 0 || status == 429 || status == 502 || status == 503 || status == 504;
}

/* Put the flight's requests back at the head, in their order. */
static void requeue(amo *a, flight *f, int64_t not_before, bool solo)
{
    for (size_t i = f->n; i-- > 0;) {
        f->reqs[i]->not_before = not_before;
        f->reqs[i]->solo = f->reqs[i]->solo || solo;
        push_front(a, f->reqs[i]);
    }
}

static const char *error_of(int status)
{
    return status == 404 || status == 204 ? "not_found"
           : status == 401                ? "unauthorized"
           : status == 429                ? "rate_limited"
           : transient(status)            ? "unavailable"
           : status == 403                ? "forbidden"
                                          : "rejected";
}

static void deliver(amo *a, flight *f, const ah_http_response *resp, const json_t *body)
{
    char why[400] = "";
    bool ok = resp->status >= 200 && resp->status < 300;
    if (!ok) {
        if (body)
            amo_problem_text(body, why, sizeof(why));
        else
            snprintf(why, sizeof(why), "%s", resp->error_code ? resp->error_code : "no answer");
    }
    const json_t *items =
        f->reqs[0]->batch_key[0] ? amo_hal_items(body, f->reqs[0]->batch_key) : NULL;
    for (size_t i = 0; i < f->n; i++) {
        amo_res res = {.status = resp->status, .body = resp->status == 204 ? NULL : body};
        if (ok && f->reqs[i]->batch_key[0]) {
            res.body = json_array_get(items, i);
            if (!res.body) ok = false, snprintf(why, sizeof(why), "no item %zu in the answer", i);
        }
        if (!ok) res.error = error_of(resp->status), res.message = why, res.body = body;
        finish(a, f->reqs[i], &res);
    }
}

static void answered(ah_ctx *ctx, const ah_http_response *resp, void *ud)
{
    (void)ctx;
    flight *f = ud;
    amo *a = f->a;
    json_t *body = resp->body_len ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    int st = resp->status;
    amo_req *r = f->reqs[0];
    rate_release(a, f->slot);
    if (a->stopping) {
        requeue(a, f, 0, false);
    } else if (st == 401 && !r->retried_401) {
        log_call(a, f, resp, "unauthorized: refreshing once");
        for (size_t i = 0; i < f->n; i++)
            f->reqs[i]->retried_401 = true;
        requeue(a, f, 0, false);
        amo_auth_rejected(a, f->token);
    } else if (transient(st) && r->attempts < MAX_ATTEMPTS) {
        log_call(a, f, resp, st == 429 ? "rate limited: waiting" : "unavailable: waiting");
        a->retries++;
        requeue(a, f, amo_mono_ms() + (250LL << r->attempts), false);
    } else if (st == 400 && f->n > 1) {
        log_call(a, f, resp, "a shared add was refused: its entities go one by one");
        requeue(a, f, 0, true);
    } else {
        log_call(a, f, resp, st >= 200 && st < 300 ? NULL : error_of(st));
        deliver(a, f, resp, body);
    }
    json_decref(body);
    free(f);
    amo_pump(a);
}
