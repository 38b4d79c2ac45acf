/*
 * fake_webhook - a webhook subscriber on loopback (real HTTP through
 * fake_http): receives agenthost's signed deliveries at /r/NAME, verifies
 * each signature (X-Agenthost-Signature: t=..,v1=.., HMAC-SHA256 of
 * "t.body" under --secret), and plays what a subscriber does: answer 200,
 * fail (503) the next N requests, or never answer.
 *
 * Control API:
 *   POST /_fake/mode?name=NAME&fail=N     fail the next N deliveries
 *   POST /_fake/mode?name=NAME&hang=1     never answer (hang=0: answer again)
 *   GET  /_fake/count?name=NAME           {"events": N, "bad_signatures": N}
 *   GET  /_fake/received?name=NAME        {"events": [{id, type, key, attempt,
 *                                          signed, at_ms, created_at}], "failed": N,
 *                                          "bad_signatures": N}
 *
 * Usage: fake_webhook [--port N] [--port-file PATH] --secret S
 */
#include "fake_http.h"

#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static struct {
    fh_server *srv;
    const char *secret;
    json_t *subs; /* name -> {events: [], failed, fail_left, hang, bad} */
} F;

static long long now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static json_t *sub(const char *name)
{
    json_t *s = json_object_get(F.subs, name);
    if (!s) {
        s = json_pack("{s:[],s:i,s:i,s:b,s:i}", "events", "failed", 0, "fail_left", 0, "hang", 0,
                      "bad_signatures", 0);
        json_object_set_new(F.subs, name, s);
    }
    return s;
}

static void respond_json(fh_conn *c, int status, json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);
    fh_respond(c, status, "application/json", NULL, s, strlen(s));
    free(s);
    json_decref(v);
}

/* The value of name in a query string ("a=1&b=2"), into buf. */
static const char *param(const char *q, const char *name, char *buf, size_t len)
{
    size_t n = strlen(name);
    for (const char *p = q; p && *p;) {
        if (!strncmp(p, name, n) && p[n] == '=') {
            const char *v = p + n + 1, *end = strchr(v, '&');
            snprintf(buf, len, "%.*s", (int)(end ? (size_t)(end - v) : strlen(v)), v);
            return buf;
        }
        p = strchr(p, '&');
        if (p) p++;
    }
    return NULL;
}

static void incr(json_t *s, const char *k, int by)
{
    json_object_set_new(s, k, json_integer(json_integer_value(json_object_get(s, k)) + by));
}

/* Whether the header signs body under the secret. */
static int signed_ok(const char *h, const char *body, size_t len)
{
    if (!h || strncmp(h, "t=", 2) != 0) return 0;
    const char *v1 = strstr(h, ",v1=");
    if (!v1) return 0;
    crypto_auth_hmacsha256_state st;
    unsigned char mac[32];
    char hex[65];
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)F.secret, strlen(F.secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)h + 2, (size_t)(v1 - h - 2));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    return strlen(v1 + 4) == 64 && sodium_memcmp(hex, v1 + 4, 64) == 0;
}

static void receive(fh_conn *c, const fh_req *r, const char *name)
{
    json_t *s = sub(name);
    if (json_is_true(json_object_get(s, "hang"))) return; /* never answered */
    if (json_integer_value(json_object_get(s, "fail_left")) > 0) {
        incr(s, "fail_left", -1);
        incr(s, "failed", 1);
        respond_json(c, 503, json_pack("{s:s}", "error", "down for a while"));
        return;
    }
    const char *sig = json_string_value(json_object_get(r->headers, "x-agenthost-signature"));
    int ok = signed_ok(sig, r->body, r->body_len);
    if (!ok) incr(s, "bad_signatures", 1);
    json_t *body = json_loadb(r->body, r->body_len, 0, NULL);
    const json_t *data = json_object_get(body, "data");
    const json_t *key = json_object_get(data, "conversation_id");
    if (!key) key = json_object_get(data, "contact_id");
    const char *att = json_string_value(json_object_get(r->headers, "x-agenthost-attempt"));
    json_array_append_new(
        json_object_get(s, "events"),
        json_pack("{s:O?,s:O?,s:O?,s:O?,s:i,s:b,s:I,s:O?}", "id", json_object_get(body, "id"),
                  "type", json_object_get(body, "type"), "key", key, "n",
                  json_object_get(data, "n"), "attempt", att ? atoi(att) : 0, "signed", ok, "at_ms",
                  now_ms(), "created_at", json_object_get(body, "created_at")));
    json_decref(body);
    fh_respond(c, 200, "text/plain", NULL, "ok", 2);
}

static void handle(void *ud, fh_conn *c, const fh_req *r)
{
    (void)ud;
    char name[128] = "", v[32];
    param(r->query, "name", name, sizeof(name));
    if (!strncmp(r->path, "/r/", 3)) {
        receive(c, r, r->path + 3);
    } else if (!strcmp(r->path, "/_fake/mode")) {
        json_t *s = sub(name);
        if (param(r->query, "fail", v, sizeof(v)))
            json_object_set_new(s, "fail_left", json_integer(atoi(v)));
        if (param(r->query, "hang", v, sizeof(v)))
            json_object_set_new(s, "hang", json_boolean(atoi(v)));
        respond_json(c, 200, json_object());
    } else if (!strcmp(r->path, "/_fake/count")) {
        json_t *s = sub(name);
        respond_json(c, 200,
                     json_pack("{s:I,s:O}", "events",
                               (json_int_t)json_array_size(json_object_get(s, "events")),
                               "bad_signatures", json_object_get(s, "bad_signatures")));
    } else if (!strcmp(r->path, "/_fake/received")) {
        respond_json(c, 200, json_incref(sub(name)));
    } else {
        respond_json(c, 404, json_pack("{s:s}", "error", "no such path"));
    }
}

int main(int argc, char **argv)
{
    int port = 0;
    const char *port_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--port-file") && i + 1 < argc)
            port_file = argv[++i];
        else if (!strcmp(argv[i], "--secret") && i + 1 < argc)
            F.secret = argv[++i];
        else {
            fprintf(stderr, "usage: fake_webhook [--port N] [--port-file PATH] --secret S\n");
            return 2;
        }
    }
    if (!F.secret) F.secret = "whsec_test_0123456789abcdef";
    signal(SIGPIPE, SIG_IGN);
    if (sodium_init() < 0) return 1;
    F.subs = json_object();
    uv_loop_t *uv = uv_default_loop();
    if (fh_listen(&F.srv, uv, "127.0.0.1", port, handle, NULL) < 0) {
        fprintf(stderr, "fake_webhook: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    if (fh_announce(F.srv, "fake_webhook", port_file) < 0) return 1;
    uv_run(uv, UV_RUN_DEFAULT);
    return 0;
}
