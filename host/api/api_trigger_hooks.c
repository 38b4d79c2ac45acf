/*
 * on_webhook triggers: an outside system starts an agent with a request.
 *
 *   POST /api/v1/triggers/{id}/webhook        the ingress (public: the
 *        trigger's secret is the credential); the request becomes the
 *        conversation's input variables and an engine.start event,
 *        answered 202 once that event is committed.
 *   GET  /api/v1/triggers/{id}/webhook        its address, secret and
 *        how a sender proves it (for the editor who wires it up).
 *   POST /api/v1/triggers/{id}/webhook/rotate a new secret; the old one
 *        stops working at once.
 *
 * The secret is not stored: it is a keyed hash of the trigger's id and
 * its webhook_generation under a key derived from the master key, so it
 * is as safe at rest as the master key and rotating it is a counter.
 * A sender proves it either by the header X-Agenthost-Token: <secret>
 * ("auth": "token") or by X-Agenthost-Signature: sha256=<hex HMAC-SHA256
 * of the raw body, keyed with the secret> ("auth": "hmac", the default,
 * as GitHub and Stripe sign). Wrong proofs are counted per address and
 * trigger and throttled as the plugin ingress does (api_hooks.c).
 *
 * The variables: the trigger's own, then either the result of its jq
 * "map" over the request ({"method", "path", "query", "headers", "body"})
 * run in the sandboxed workers (host/expr), or the body when it is an
 * object (else {"body": ...}).
 */
#include "bus/bus.h"
#include "core/log.h"
#include "core/util.h"
#include "expr/expr.h"
#include "model/collections.h"
#include "model/ids.h"
#include "store/secrets.h"
#include "api_docs.h"
#include "api_priv.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL_SLOTS 256
#define SECRET_HEX (2 * 32 + 1)
#define TOKEN_HEADER "X-Agenthost-Token"
#define SIGNATURE_HEADER "X-Agenthost-Signature"

typedef struct thook_ctx {
    docs *d;
    secrets *sec;
    bus *bus;
    expr_pool *expr;
    throttle *fails; /* wrong proofs, by client address and trigger */
} thook_ctx;

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The trigger's secret for its generation: 0, or AH_EDENIED without a
 * master key. */
static int trigger_secret(thook_ctx *x, const json_t *trg, char out[SECRET_HEX])
{
    uint8_t key[32], mac[32];
    int rc = secrets_derive_key(x->sec, "trghook1", key);
    if (rc) return rc;
    char in[120];
    int n = snprintf(in, sizeof(in), "%s:%lld", str_of(trg, "id"),
                     (long long)json_integer_value(json_object_get(trg, "webhook_generation")));
    crypto_generichash(mac, sizeof(mac), (const uint8_t *)in, (size_t)n, key, sizeof(key));
    sodium_memzero(key, sizeof(key));
    sodium_bin2hex(out, SECRET_HEX, mac, sizeof(mac));
    return 0;
}

static const char *auth_kind(const json_t *trg)
{
    const char *a = str_of(json_object_get(trg, "webhook"), "auth");
    return a ? a : "hmac";
}

/* Whether the request proves the secret the trigger's way. */
static bool proof_ok(http_req *req, const json_t *trg, const char *secret)
{
    size_t slen = strlen(secret);
    if (!strcmp(auth_kind(trg), "token")) {
        const char *given = http_req_header(req, TOKEN_HEADER);
        return given && strlen(given) == slen && sodium_memcmp(given, secret, slen) == 0;
    }
    const char *sig = http_req_header(req, SIGNATURE_HEADER);
    if (!sig || strncmp(sig, "sha256=", 7) != 0 || strlen(sig + 7) != 64) return false;
    size_t len;
    const char *body = http_req_body(req, &len);
    uint8_t mac[crypto_auth_hmacsha256_BYTES], given[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const uint8_t *)secret, slen);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    size_t got = 0;
    if (sodium_hex2bin(given, sizeof(given), sig + 7, 64, NULL, &got, NULL) != 0 ||
        got != sizeof(given))
        return false;
    return sodium_memcmp(mac, given, sizeof(mac)) == 0;
}

static void security_log(http_req *req, const char *trigger, const char *event, const char *msg)
{
    log_ctx c = {.request_id = http_req_id(req)};
    json_t *f = json_pack("{s:s,s:s,s:s}", "event", event, "client_ip", http_req_client_ip(req),
                          "trigger", trigger);
    log_write("security", LOG_WARN, "triggers", &c, f, "%s", msg);
    json_decref(f);
}

/* ---- reading the trigger ----------------------------------------------------------------- */

typedef struct read_arg {
    const char *id;
    json_t *doc;
    uint64_t rev;
} read_arg;

static int read_one(doc_txn *t, void *ud)
{
    read_arg *a = ud;
    int rc = doc_get(t, COLL_TRIGGERS, a->id, &a->doc, &a->rev);
    return rc == AH_ENOTFOUND ? doc_fail(t, rc, NULL, "no trigger %s", a->id) : rc;
}

/* The on_webhook trigger of the route's id: a new reference, or NULL
 * after answering. */
static json_t *webhook_trigger(thook_ctx *x, http_req *req, const route_params *p, uint64_t *rev)
{
    read_arg a = {.id = route_param(p, "id")};
    doc_error e;
    int rc = id_valid(a.id, "trg") ? docs_read(x->d, read_one, &a, &e) : AH_ENOTFOUND;
    if (!rc && strcmp(str_of(a.doc, "kind"), "on_webhook") != 0) rc = AH_ENOTFOUND;
    if (rc == AH_ENOTFOUND) {
        json_decref(a.doc);
        http_respond_error(req, 404, "not_found", "no on_webhook trigger at this address", NULL);
        return NULL;
    }
    if (rc) {
        http_respond_error(req, 503, "unavailable", e.message, NULL);
        return NULL;
    }
    if (rev) *rev = a.rev;
    return a.doc;
}

/* ---- the ingress --------------------------------------------------------------------------- */

typedef struct start_req {
    thook_ctx *x;
    http_req *req;
    json_t *trg;
    json_t *request; /* the request as JSON (the map's input) */
    size_t bytes;    /* the body's size, for the launch log */
} start_req;

static void start_free(start_req *s)
{
    json_decref(s->trg);
    json_decref(s->request);
    free(s);
}

static void committed(void *ud, int status, const uint64_t *offsets, const bool *dup, size_t n)
{
    start_req *s = ud;
    if (status || n != 1)
        http_respond_error(s->req, 503, status == AH_ENOSPC ? "store_full" : "store_error",
                           "the start could not be stored; retry later", NULL);
    else
        http_respond_json(s->req, 202,
                          json_pack("{s:b,s:s,s:I,s:b}", "accepted", 1, "trigger",
                                    str_of(s->trg, "id"), "offset", (json_int_t)offsets[0],
                                    "duplicate", dup[0]));
    start_free(s);
}

/* Publish the engine.start of the trigger with mapped (stolen) over its
 * own variables; answers the request either way. */
static void start(start_req *s, json_t *mapped)
{
    json_t *vars = json_deep_copy(json_object_get(s->trg, "variables"));
    if (!vars) vars = json_object();
    json_object_update(vars, mapped);
    json_decref(mapped);
    json_t *body =
        json_pack("{s:s,s:o,s:{s:s,s:s,s:s?,s:I}}", "agent", str_of(s->trg, "agent_id"), "input",
                  vars, "trigger", "id", str_of(s->trg, "id"), "kind", "on_webhook", "name",
                  str_of(s->trg, "name"), "bytes", (json_int_t)s->bytes);
    if (str_of(s->trg, "contact_id"))
        json_object_set(body, "contact_id", json_object_get(s->trg, "contact_id"));
    const char *given = http_req_header(s->req, "Idempotency-Key");
    char idem[BUS_IDEMPOTENCY_KEY_MAX];
    if (given) snprintf(idem, sizeof(idem), "trgw:%s:%.200s", str_of(s->trg, "id"), given);
    bus_msg m = {.topic = "engine.start", .body = body, .idempotency_key = given ? idem : NULL};
    char err[300];
    int rc = bus_publish(s->x->bus, &m, 1, false, committed, s, err, sizeof(err));
    json_decref(body);
    if (rc) {
        http_respond_error(s->req, rc == AH_ETOOBIG ? 413 : 503,
                           rc == AH_ETOOBIG ? "payload_too_large" : "unavailable", err, NULL);
        start_free(s);
    }
}

static void mapped(void *ud, const expr_result *r)
{
    start_req *s = ud;
    const json_t *out = r->error ? NULL : json_array_get(r->outputs, 0);
    if (!json_is_object(out)) {
        char msg[400];
        snprintf(msg, sizeof(msg), "the trigger's map %s: %s",
                 r->error ? "failed" : "gave no object",
                 r->error ? (r->message ? r->message : r->error) : "it must give an object");
        json_t *f = json_pack("{s:s,s:s?}", "trigger", str_of(s->trg, "id"), "error", r->error);
        log_write("errors", LOG_ERROR, "triggers", NULL, f, "%s", msg);
        json_decref(f);
        http_respond_error(s->req, 422, "map_failed", msg, "webhook.map");
        start_free(s);
        return;
    }
    start(s, json_deep_copy(out));
}

static void h_ingress(void *ctx, http_req *req, const route_params *p)
{
    thook_ctx *x = ctx;
    const char *id = route_param(p, "id");
    char key[THROTTLE_KEY_MAX + 1];
    snprintf(key, sizeof(key), "%s %s", http_req_client_ip(req), id);
    unsigned wait_s = throttle_wait_s(x->fails, key, ah_mono_ms());
    if (wait_s) {
        api_respond_throttled(req, wait_s, "too many wrong webhook proofs from this address");
        return;
    }
    json_t *trg = webhook_trigger(x, req, p, NULL);
    if (!trg) return;
    char secret[SECRET_HEX];
    if (trigger_secret(x, trg, secret) != 0) {
        http_respond_error(req, 503, "not_configured",
                           "the host has no master key to check webhook secrets with", NULL);
        json_decref(trg);
        return;
    }
    bool ok = proof_ok(req, trg, secret);
    sodium_memzero(secret, sizeof(secret));
    if (!ok) {
        security_log(req, id, "webhook_proof_mismatch",
                     "trigger webhook refused: wrong or missing secret or signature");
        if (throttle_fail(x->fails, key, ah_mono_ms()) == API_HOOK_FAIL_LIMIT)
            security_log(req, id, "webhook_throttled",
                         "trigger webhook throttled: too many wrong proofs from this address");
        http_respond_error(req, 403, "forbidden",
                           !strcmp(auth_kind(trg), "token") ? "wrong or missing " TOKEN_HEADER
                                                            : "wrong or missing " SIGNATURE_HEADER
                                                              " (sha256=<hex HMAC>)",
                           NULL);
        json_decref(trg);
        return;
    }
    if (json_is_false(json_object_get(trg, "enabled"))) {
        http_respond_error(req, 409, "disabled", "the trigger is disabled", "enabled");
        json_decref(trg);
        return;
    }
    start_req *s = calloc(1, sizeof(*s));
    json_t *request = api_request_json(req, NULL, TOKEN_HEADER);
    if (!s || !request) {
        free(s);
        json_decref(request);
        json_decref(trg);
        http_respond_error(req, 503, "unavailable", "out of memory", NULL);
        return;
    }
    json_object_del(json_object_get(request, "headers"), "x-agenthost-signature");
    *s = (start_req){.x = x, .req = req, .trg = trg, .request = request};
    http_req_body(req, &s->bytes);
    const char *map = str_of(json_object_get(trg, "webhook"), "map");
    if (!map) {
        json_t *b = json_object_get(request, "body");
        start(s, json_is_object(b)
                     ? json_incref(b)
                     : json_pack("{s:O?}", "body", b ? b : json_object_get(request, "body_b64")));
        return;
    }
    char err[300];
    int rc = expr_eval(x->expr, map, request, NULL, NULL, mapped, s, err, sizeof(err));
    if (rc) {
        http_respond_error(req, rc == AH_EINVAL ? 422 : 503,
                           rc == AH_EINVAL ? "map_failed" : "unavailable", err,
                           rc == AH_EINVAL ? "webhook.map" : NULL);
        start_free(s);
    }
}

/* ---- the editor's side --------------------------------------------------------------------- */

static void respond_config(thook_ctx *x, http_req *req, json_t *trg, int status)
{
    char secret[SECRET_HEX];
    if (trigger_secret(x, trg, secret) != 0) {
        http_respond_error(req, 503, "not_configured",
                           "the host has no master key to derive webhook secrets with", NULL);
        return;
    }
    char path[120];
    snprintf(path, sizeof(path), "/api/v1/triggers/%s/webhook", str_of(trg, "id"));
    const char *auth = auth_kind(trg);
    http_respond_json(
        req, status,
        json_pack("{s:s,s:s,s:s,s:s,s:I}", "path", path, "secret", secret, "auth", auth, "header",
                  !strcmp(auth, "token") ? TOKEN_HEADER : SIGNATURE_HEADER, "generation",
                  json_integer_value(json_object_get(trg, "webhook_generation"))));
    sodium_memzero(secret, sizeof(secret));
}

static void h_config(void *ctx, http_req *req, const route_params *p)
{
    thook_ctx *x = ctx;
    json_t *trg = webhook_trigger(x, req, p, NULL);
    if (!trg) return;
    respond_config(x, req, trg, 200);
    json_decref(trg);
}

typedef struct rotate_arg {
    thook_ctx *x;
    json_t *doc;
    uint64_t rev;
    http_req *req;
} rotate_arg;

static int rotate_txn(doc_txn *t, void *ud)
{
    rotate_arg *a = ud;
    json_t *before = json_deep_copy(a->doc);
    json_int_t gen = json_integer_value(json_object_get(a->doc, "webhook_generation"));
    json_object_set_new(a->doc, "webhook_generation", json_integer(gen + 1));
    res_stamp(a->doc, a->req, doc_txn_now(t), false);
    int rc = doc_put(t, COLL_TRIGGERS, a->doc, a->rev, NULL);
    audit_actor who = res_actor(a->req);
    if (!rc)
        rc = audit_record(t, &who, http_req_id(a->req), "trigger.webhook_rotate", COLL_TRIGGERS,
                          str_of(a->doc, "id"), before, a->doc);
    json_decref(before);
    return rc;
}

static void rotated(int status, const doc_error *e, void *ud)
{
    rotate_arg *a = ud;
    if (status)
        res_respond_error(a->req, 503, e);
    else
        respond_config(a->x, a->req, a->doc, 200);
    json_decref(a->doc);
    free(a);
}

static void h_rotate(void *ctx, http_req *req, const route_params *p)
{
    thook_ctx *x = ctx;
    rotate_arg *a = calloc(1, sizeof(*a));
    if (!a) {
        http_respond_error(req, 503, "unavailable", "out of memory", NULL);
        return;
    }
    *a = (rotate_arg){.x = x, .req = req};
    if (!(a->doc = webhook_trigger(x, req, p, &a->rev))) {
        free(a);
        return;
    }
    int rc = docs_write(x->d, rotate_txn, a, rotated);
    if (rc) {
        http_respond_error(req, 503, "unavailable", ah_strerror(rc), NULL);
        json_decref(a->doc);
        free(a);
    }
}

static const route routes[] = {
    {"POST", "/api/v1/triggers/{id}/webhook", h_ingress, "public",
     "An on_webhook trigger's ingress: start its agent (proved by the trigger's secret)"},
    {"GET", "/api/v1/triggers/{id}/webhook", h_config, "agents:write",
     "An on_webhook trigger's address, secret and how a sender proves it"},
    {"POST", "/api/v1/triggers/{id}/webhook/rotate", h_rotate, "agents:write",
     "Give an on_webhook trigger a new secret (the old one stops working)"},
};

static void thook_free(void *ctx)
{
    thook_ctx *c = ctx;
    throttle_free(c->fails);
    free(c);
}

int api_trigger_hooks_routes(api_table *t, const api_deps *deps)
{
    thook_ctx *c = NULL;
    if (deps) {
        if (!(c = calloc(1, sizeof(*c)))) return AH_ENOMEM;
        *c = (thook_ctx){
            .d = deps->docs,
            .sec = deps->sec,
            .bus = deps->bus,
            .expr = deps->expr,
            .fails = throttle_new(FAIL_SLOTS, API_HOOK_FAIL_LIMIT, API_HOOK_FAIL_WINDOW_MS)};
        int rc = api_table_own(t, c, thook_free);
        if (rc) return rc;
        if (!c->fails) return AH_ENOMEM;
    }
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), c);
}
