/*
 * fake_amocrm - a protocol-faithful fake of amoCRM's API v4 over real HTTP
 * on loopback, for the integration tests and the benchmark.
 *
 *   fake_amocrm [--port N] [--port-file PATH]
 *
 * As amoCRM's developer documentation describes it:
 *   POST /oauth2/access_token   JSON {client_id, client_secret, grant_type,
 *                               code | refresh_token, redirect_uri}: grant_type
 *                               authorization_code (a code is used once) or
 *                               refresh_token. Answers {token_type: "Bearer",
 *                               expires_in, access_token, refresh_token}. The
 *                               refresh token ROTATES: the one presented is
 *                               invalid from then on (a second use is 400
 *                               "Token has been revoked", counted as
 *                               refresh_reused).
 *   /api/v4/...                 Authorization: Bearer <access token> (or the
 *                               long-lived token); an unknown or expired one is
 *                               401 application/problem+json. Past `rps` calls
 *                               within one second: 429. Empty lists: 204 with no
 *                               body. Entities in fake_amocrm_api.c.
 *
 * Control (for tests):
 *   POST /_fake/code      a new authorization code: {"code"}
 *   POST /_fake/config    {"access_ttl_s", "rps", "long_lived_token",
 *                         "refresh_delay_ms"}
 *   POST /_fake/expire    every access token expires now
 *   POST /_fake/revoke    every token is revoked (the user removed the integration)
 *   POST /_fake/fail      {"status", "count"}: the next count API calls get status
 *   POST /_fake/contacts  [contact...]: stored as they are, with new ids (seeding)
 *   GET  /_fake/state     {contacts, leads, notes, tasks}
 *   GET  /_fake/stats     counters: token_code, token_refresh, refresh_reused,
 *                         401, 429, api, max_rps_seen, max_batch, ...
 *   POST /_fake/reset     entities and counters forgotten (tokens kept)
 */
#include "fake_amocrm.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

fake_amo F;

/* ---- helpers ------------------------------------------------------------------------- */

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void count(const char *what)
{
    json_object_set_new(F.stats, what,
                        json_integer(json_integer_value(json_object_get(F.stats, what)) + 1));
}

void count_max(const char *what, long v)
{
    if (v > json_integer_value(json_object_get(F.stats, what)))
        json_object_set_new(F.stats, what, json_integer(v));
}

void respond(fh_conn *c, int status, const char *type, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    fh_respond(c, status, type, NULL, s, strlen(s));
    free(s);
}

void problem(fh_conn *c, int status, const char *title, const char *detail)
{
    char type[64];
    snprintf(type, sizeof(type), "https://httpstatus.es/%d", status);
    respond(c, status, "application/problem+json",
            json_pack("{s:s,s:s,s:i,s:s}", "title", title, "type", type, "status", status, "detail",
                      detail));
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    ch = (char)(ch | 0x20);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

char *query_param(const char *query, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > nl && !strncmp(p, name, nl) && p[nl] == '=') {
            char *out = malloc(len + 1), *w = out;
            for (const char *r = p + nl + 1; r < p + len; r++) {
                if (*r == '%' && r + 2 < p + len && hexval(r[1]) >= 0 && hexval(r[2]) >= 0) {
                    *w++ = (char)(hexval(r[1]) << 4 | hexval(r[2]));
                    r += 2;
                } else {
                    *w++ = *r == '+' ? ' ' : *r;
                }
            }
            *w = 0;
            return out;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static void new_token(char *out, size_t n, const char *kind)
{
    static unsigned long seq;
    snprintf(out, n, "%s.%08lx%08lx.%lu", kind, (unsigned long)random(), (unsigned long)random(),
             ++seq);
}

/* ---- OAuth --------------------------------------------------------------------------- */

static void oauth_problem(fh_conn *c, const char *hint)
{
    respond(c, 400, "application/problem+json",
            json_pack("{s:s,s:s,s:s,s:i,s:s}", "hint", hint, "title", "Некорректный запрос", "type",
                      "https://developers.amocrm.ru/v3/errors/OAuthProblemJson", "status", 400,
                      "detail", "В запросе отсутствует ряд параметров или параметры невалидны"));
}

static void issue_tokens(fh_conn *c, void *ud)
{
    (void)ud;
    char at[80], rt[80];
    new_token(at, sizeof(at), "at");
    new_token(rt, sizeof(rt), "rt");
    json_object_set_new(F.access, at, json_integer(now_ms() + F.access_ttl_s * 1000));
    json_object_set_new(F.refresh, rt, json_true());
    respond(c, 200, "application/json",
            json_pack("{s:s,s:i,s:s,s:s}", "token_type", "Bearer", "expires_in",
                      (int)F.access_ttl_s, "access_token", at, "refresh_token", rt));
}

static void token_endpoint(fh_conn *c, const fh_req *req)
{
    json_t *b = json_loadb(req->body, req->body_len, 0, NULL);
    const char *id = json_string_value(json_object_get(b, "client_id"));
    const char *secret = json_string_value(json_object_get(b, "client_secret"));
    const char *grant = json_string_value(json_object_get(b, "grant_type"));
    const char *hint = NULL;
    if (!id || !secret || strcmp(id, F.client_id) || strcmp(secret, F.client_secret)) {
        hint = "Client authentication failed";
    } else if (grant && !strcmp(grant, "authorization_code")) {
        const char *code = json_string_value(json_object_get(b, "code"));
        if (!code || !json_is_true(json_object_get(F.codes, code)))
            hint = "Authorization code has been revoked";
        else
            json_object_set_new(F.codes, code, json_false());
        count(hint ? "token_code_refused" : "token_code");
    } else if (grant && !strcmp(grant, "refresh_token")) {
        const char *rt = json_string_value(json_object_get(b, "refresh_token"));
        json_t *v = rt ? json_object_get(F.refresh, rt) : NULL;
        if (!json_is_true(v)) {
            hint = "Token has been revoked";
            count(json_is_false(v) ? "refresh_reused" : "refresh_unknown");
        } else {
            json_object_set_new(F.refresh, rt, json_false()); /* rotation */
            count("token_refresh");
        }
    } else {
        hint = "Unsupported grant type";
    }
    json_decref(b);
    if (hint) {
        oauth_problem(c, hint);
        return;
    }
    if (F.refresh_delay_ms > 0)
        fh_later(c, (uint32_t)F.refresh_delay_ms, issue_tokens, NULL, NULL);
    else
        issue_tokens(c, NULL);
}

/* ---- the gate in front of /api/v4 ------------------------------------------------------ */

static bool authorised(const fh_req *req)
{
    const char *h = json_string_value(json_object_get(req->headers, "authorization"));
    if (!h || strncasecmp(h, "Bearer ", 7)) return false;
    const char *t = h + 7;
    if (F.long_lived && !strcmp(t, F.long_lived)) return true;
    json_t *exp = json_object_get(F.access, t);
    return exp && json_integer_value(exp) > now_ms();
}

/* The account's rate: more than rps calls within the last second is 429. */
static bool over_rate(void)
{
    int64_t now = now_ms();
    json_t *keep = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(F.recent, i, v) if (json_integer_value(v) > now - 1000)
        json_array_append(keep, v);
    json_decref(F.recent);
    F.recent = keep;
    if (F.rps > 0 && (long)json_array_size(F.recent) >= F.rps) return true;
    json_array_append_new(F.recent, json_integer(now));
    count_max("max_rps_seen", (long)json_array_size(F.recent));
    return false;
}

static void gate(fh_conn *c, const fh_req *req)
{
    count("requests");
    if (!authorised(req)) {
        count("401");
        problem(c, 401, "Unauthorized", "Authorization failed: the access token is invalid");
        return;
    }
    if (over_rate()) {
        count("429");
        problem(c, 429, "Too Many Requests", "Too many requests: 7 a second at most");
        return;
    }
    if (F.fail_count > 0) {
        F.fail_count--;
        count("injected");
        problem(c, F.fail_status, F.fail_status == 504 ? "Gateway Timeout" : "Error",
                "injected by the test");
        return;
    }
    count("api");
    api_v4(c, req);
}

/* ---- control --------------------------------------------------------------------------- */

static void control(fh_conn *c, const fh_req *req)
{
    const char *what = req->path + strlen("/_fake/");
    json_t *b = req->body_len ? json_loadb(req->body, req->body_len, 0, NULL) : NULL;
    if (!strcmp(what, "code")) {
        char code[80];
        new_token(code, sizeof(code), "def502");
        json_object_set_new(F.codes, code, json_true());
        respond(c, 200, "application/json", json_pack("{s:s}", "code", code));
    } else if (!strcmp(what, "config")) {
        json_t *v;
        if ((v = json_object_get(b, "access_ttl_s"))) F.access_ttl_s = (long)json_integer_value(v);
        if ((v = json_object_get(b, "rps"))) F.rps = (long)json_integer_value(v);
        if ((v = json_object_get(b, "refresh_delay_ms")))
            F.refresh_delay_ms = (long)json_integer_value(v);
        if ((v = json_object_get(b, "long_lived_token"))) {
            free((char *)F.long_lived);
            F.long_lived = json_string_value(v) ? strdup(json_string_value(v)) : NULL;
        }
        respond(c, 200, "application/json", json_pack("{s:b}", "ok", 1));
    } else if (!strcmp(what, "expire") || !strcmp(what, "revoke")) {
        const char *k;
        json_t *v;
        json_object_foreach(F.access, k, v) json_integer_set(v, 0);
        if (!strcmp(what, "revoke")) {
            json_object_clear(F.refresh);
            free((char *)F.long_lived);
            F.long_lived = NULL;
        }
        respond(c, 200, "application/json", json_pack("{s:b}", "ok", 1));
    } else if (!strcmp(what, "contacts") && json_is_array(b)) {
        size_t i;
        json_t *e;
        json_array_foreach(b, i, e)
        {
            json_object_set_new(e, "id", json_integer(F.next_id++));
            json_array_append(F.contacts, e);
        }
        respond(c, 200, "application/json", json_pack("{s:b}", "ok", 1));
    } else if (!strcmp(what, "fail")) {
        F.fail_status = (int)json_integer_value(json_object_get(b, "status"));
        F.fail_count = (long)json_integer_value(json_object_get(b, "count"));
        respond(c, 200, "application/json", json_pack("{s:b}", "ok", 1));
    } else if (!strcmp(what, "state")) {
        respond(c, 200, "application/json",
                json_pack("{s:O,s:O,s:O,s:O}", "contacts", F.contacts, "leads", F.leads, "notes",
                          F.notes, "tasks", F.tasks));
    } else if (!strcmp(what, "stats")) {
        respond(c, 200, "application/json", json_incref(F.stats));
    } else if (!strcmp(what, "reset")) {
        json_array_clear(F.contacts), json_array_clear(F.leads), json_array_clear(F.notes);
        json_array_clear(F.tasks), json_object_clear(F.stats);
        respond(c, 200, "application/json", json_pack("{s:b}", "ok", 1));
    } else {
        problem(c, 404, "Not Found", "no such control endpoint");
    }
    json_decref(b);
}

static void handle(void *ud, fh_conn *c, const fh_req *req)
{
    (void)ud;
    if (!strncmp(req->path, "/_fake/", 7))
        control(c, req);
    else if (!strcmp(req->path, "/oauth2/access_token") && !strcmp(req->method, "POST"))
        token_endpoint(c, req);
    else if (!strncmp(req->path, "/api/v4/", 8))
        gate(c, req);
    else
        problem(c, 404, "Not Found", "no such path");
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
        else {
            fprintf(stderr, "usage: fake_amocrm [--port N] [--port-file PATH]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    F = (fake_amo){.client_id = "3f1c9a52-7e0b-4d7a-9c1e-amo-test-client",
                   .client_secret = "amo-test-secret-Qx7Lr2Vn9Tb4",
                   .codes = json_object(),
                   .access = json_object(),
                   .refresh = json_object(),
                   .access_ttl_s = 86400,
                   .rps = 7,
                   .recent = json_array(),
                   .contacts = json_array(),
                   .leads = json_array(),
                   .notes = json_array(),
                   .tasks = json_array(),
                   .next_id = 1000001,
                   .stats = json_object(),
                   .uv = uv_default_loop()};
    return fh_serve(F.uv, &F.srv, "fake_amocrm", port, port_file, handle, NULL);
}
