/*
 * amo.h - the crm-amocrm plugin's shared state and its parts: OAuth and
 * the tokens (auth.c), the request scheduler (sched.c), the pure readers
 * (hal.c: phones, HAL bodies, webhook forms), the actions (actions.c),
 * amoCRM's webhooks and the OAuth redirect (inbound.c) and the sync of
 * linked contacts' profile changes (sync.c). Internal.
 */
#ifndef AMO_H
#define AMO_H

#include <agenthost/plugin.h>

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AMO_MAX_RPS 50
#define AMO_BATCH 50 /* entities in one add request */

typedef struct amo_req amo_req;

typedef struct amo {
    const ah_host *host;
    ah_ctx *ctx;
    const json_t *config;
    char instance[128];
    char base[600]; /* https://SUBDOMAIN.amocrm.ru, no trailing slash */
    char country[8];
    bool debug, stopping;
    /* OAuth (auth.c). */
    const char *client_id, *client_secret, *long_lived;
    char *access, *refresh;
    int64_t expires_ms; /* wall clock */
    int64_t ttl_ms;     /* the access token's lifetime when issued */
    bool loaded;        /* the stored tokens were read */
    bool refreshing;    /* one refresh (or code exchange) in flight */
    bool needs_reauth;  /* the grant was refused: nothing is sent until a new code */
    char reauth_reason[200];
    char state[40]; /* the OAuth state of the authorisation URL handed out */
    ah_timer *refresh_timer;
    long refreshes;
    /* The scheduler (sched.c). */
    amo_req *head, *tail;
    size_t queued;
    /* rps slots: when each may start a request again (monotonic ms;
     * INT64_MAX while its request is on the way). */
    int64_t slot_free_at[AMO_MAX_RPS];
    int rps;
    ah_timer *pump_timer;
    int64_t pump_at;
    long calls, retries, batched, failures;
    /* Sync (sync.c): the debounce window (-1: off), counters. */
    int sync_debounce_ms;
    long calls_synced, sync_unchanged;
    /* Caches (actions.c): pipelines, custom fields by entity. */
    json_t *pipelines, *contact_fields, *lead_fields;
} amo;

int64_t amo_now_ms(void);  /* wall clock */
int64_t amo_mono_ms(void); /* monotonic */

/* Equal strings, compared in constant time for equal lengths. */
bool amo_same(const char *x, const char *y);

/* One record into logs/crm_integration.log (fields borrowed, may be NULL). */
void amo_log(amo *a, ah_log_level level, const json_t *fields, const char *msg);

/* ---- hal.c: pure readers (no host) --------------------------------------------------- */

/* A phone number in E.164 ("+79123456789") into out: spaces, dashes, dots,
 * slashes and brackets dropped; "00" or "+" international; a national
 * number gets country (digits, e.g. "7"); Russia's trunk "8" before ten
 * digits becomes 7. 0, or -1 when it is not a phone number. */
int amo_phone_e164(const char *in, const char *country, char *out, size_t n);
/* _embedded.<key> of a HAL body (borrowed), or NULL. */
const json_t *amo_hal_items(const json_t *body, const char *key);
/* _links.next.href, or NULL. */
const char *amo_hal_next(const json_t *body);
/* A readable reason from an error body (problem+json detail, hint, the
 * first validation error's path and detail) into out. */
void amo_problem_text(const json_t *body, char *out, size_t n);
/* An x-www-form-urlencoded body with bracketed keys ("leads[status][0][id]=5")
 * as nested objects ({"leads": {"status": {"0": {"id": "5"}}}}). New
 * reference; NULL when it is not such a body. */
json_t *amo_form_parse(const char *body, size_t len);

/* ---- auth.c -------------------------------------------------------------------------- */

/* Read the stored tokens; the scheduler waits until they are. */
void amo_auth_start(amo *a);
/* The bearer token to send now, or NULL (then see amo_auth_ready). */
const char *amo_auth_token(amo *a);
/* true: requests may go; false: a refresh is due or in flight (it pumps
 * the scheduler when done), or the instance needs re-authorisation. */
bool amo_auth_ready(amo *a);
/* A 401 for `token`: refresh once (if it is still the current one). */
void amo_auth_rejected(amo *a, const char *token);
/* Exchange an authorisation code (from the redirect or the action);
 * cb(ok, why) when done. state NULL skips the state check (the action). */
typedef void (*amo_auth_cb)(amo *a, bool ok, const char *why, void *ud);
void amo_auth_exchange(amo *a, const char *code, const char *state, amo_auth_cb cb, void *ud);
/* The authorisation URL (a new state is kept) into out. */
void amo_auth_url(amo *a, char *out, size_t n);
/* {authorized, needs_reauthorization, reason, expires_at, mode, refreshes}. */
json_t *amo_auth_status(amo *a);
void amo_auth_stop(amo *a);

/* ---- sched.c ------------------------------------------------------------------------- */

/* An answer: status (0 when none came), the body (borrowed, NULL on 204 or
 * none), and on failure a stable error code ("unauthorized",
 * "needs_reauthorization", "rate_limited", "unavailable", "rejected",
 * "not_found") and a message. */
typedef struct amo_res {
    int status;
    const json_t *body;
    const char *error;
    const char *message;
} amo_res;
typedef void (*amo_cb)(amo *a, const amo_res *r, void *ud);

/* Queue a request (body borrowed, may be NULL). batch_key: an add
 * endpoint's embedded key ("contacts", "leads", "notes", "tasks") when body
 * is ONE entity that may share a request with others for the same path;
 * its answer body is then that entity's item of _embedded. */
int amo_request(amo *a, const char *method, const char *path, const json_t *body,
                const char *batch_key, amo_cb cb, void *ud);
/* Send what may go now (after a refresh, a timer, a new request). */
void amo_pump(amo *a);
/* Fail every queued request (shutdown, re-authorisation needed). */
void amo_fail_all(amo *a, const char *error, const char *message);

/* ---- actions.c ----------------------------------------------------------------------- */

/* true when the action was one of the CRM actions (answered, now or later). */
bool amo_action(amo *a, ah_call *call, const char *action, const json_t *args);

/* A multitext field (PHONE, EMAIL) with one WORK value into cfv (none when
 * value is NULL). */
void amo_add_multitext(json_t *cfv, const char *code, const char *value);

/* ---- sync.c: linked contacts' profile changes (ADR 0039) ------------------------------ */

/* The values a contact is synced by: {name?, phone? (E.164), email?}. */
json_t *amo_sync_values(amo *a, const char *name, const char *phone, const char *email);
/* Record values as what the CRM contact holds (after creating it). */
void amo_sync_remember(amo *a, json_int_t crm_id, const json_t *values);
/* A platform.contact event: acked once its values are kept (KV
 * "pending:<crm id>"), written when its window closes. */
void amo_sync_event(amo *a, const ah_event *ev);
/* Resume the writes a stop or a crash left pending. */
void amo_sync_start(amo *a);
/* Forget the windows (what they hold stays pending in KV). */
void amo_sync_stop(amo *a);

/* ---- inbound.c ----------------------------------------------------------------------- */

/* A hooks.INSTANCE event: the OAuth redirect or an amoCRM webhook. */
void amo_on_hook(amo *a, const ah_event *ev);

#endif
