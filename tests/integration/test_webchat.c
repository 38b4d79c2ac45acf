/*
 * The web chat channel through the real binary (docs/channels/webchat.md):
 * widgets over the admin API (the identity secret write-only), a session,
 * a message answered after its commit, the agent's answer over SSE, a
 * reconnect with Last-Event-ID after the host was killed and restarted
 * (nothing lost, nothing twice), the long-poll fallback and the history,
 * CORS allowed and denied, rate limits, oversized and malformed input,
 * forged and expired tokens, and forged identities.
 */
#include "../fakes/fake_proc.h"
#include "../support/th.h"
#include "api/webchat_token.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FAKE_BIN TH_BUILD_DIR "/tests/fakes/fake_openai"
#define API_KEY "sk-test-Zq8vN3kLpW5xR2mT7yB4"

static th_host H;
static fake_proc LLM;
static char AGENT[64], WIDGET[64];

/* An agent that hands each question to the model, which streams three
 * events, pauses, then ends (the fake's pause-stream). */
static const char *ASKS_LLM =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": [\"en\"],"
    " \"variables\": {\"q\": {\"type\": \"string\"}}, \"start\": \"listen\","
    " \"steps\": {\"listen\": {\"kind\": \"ask\", \"text\": {\"en\": \"Ask me.\"}, \"var\": \"q\","
    "                         \"next\": \"answer\"},"
    "            \"answer\": {\"kind\": \"llm.chat\", \"args\": {\"messages\": [{\"role\": "
    "\"user\", \"content\": \"{{ vars.q }}\"}]}, \"say\": true, \"timeout_ms\": 30000,"
    "                       \"next\": \"listen\"}}}";

#define SECRET "site-identity-secret-0123456789"

static const char *ECHO =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": [\"en\"],"
    " \"variables\": {\"said\": {\"type\": \"string\"}}, \"start\": \"listen\","
    " \"steps\": {\"listen\": {\"kind\": \"ask\", \"text\": {\"en\": \"?\"}, \"var\": \"said\","
    "                         \"next\": \"echo\"},"
    "            \"echo\": {\"kind\": \"say\", \"text\": {\"en\": \"got {{ vars.said }}\"},"
    "                       \"next\": \"listen\"}}}";

/* ---- helpers ------------------------------------------------------------------------- */

static json_t *make_widget(const char *extra, int want)
{
    char body[1024];
    snprintf(body, sizeof(body), "{\"name\": \"Shop\", \"agent_id\": \"%s\"%s%s}", AGENT,
             extra ? ", " : "", extra ? extra : "");
    json_t *o = NULL;
    int st = th_http(&H, "POST", "/api/v1/widgets", body, NULL, &o);
    if (st != want) fail_msg("POST /api/v1/widgets answered %d, not %d", st, want);
    return o;
}

/* A request to /chat/...: the status; *out the JSON body, *hdrs the headers. */
static int chat(const char *method, const char *path, const char *body, const char *token,
                const char *origin, json_t **out, char **hdrs)
{
    char auth[400], org[300];
    const char *hs[4] = {0};
    int n = 0;
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        hs[n++] = auth;
    }
    if (origin) {
        snprintf(org, sizeof(org), "Origin: %s", origin);
        hs[n++] = org;
    }
    char *rb = NULL, *rh = NULL;
    int st = th_http_raw(&H, method, path, body ? "application/json" : NULL, body,
                         body ? strlen(body) : 0, hs, &rh, &rb);
    if (out) *out = rb ? json_loads(rb, 0, NULL) : NULL;
    if (hdrs)
        *hdrs = rh;
    else
        free(rh);
    free(rb);
    return st;
}

/* A new session of widget w: its token into tok. */
static void new_session(const char *w, char *tok, size_t n, char *session, size_t sn)
{
    char path[200];
    snprintf(path, sizeof(path), "/chat/%s/sessions", w);
    json_t *o = NULL;
    assert_int_equal(chat("POST", path, "{}", NULL, NULL, &o, NULL), 201);
    snprintf(tok, n, "%s", json_string_value(json_object_get(o, "token")));
    if (session) snprintf(session, sn, "%s", json_string_value(json_object_get(o, "session_id")));
    json_decref(o);
}

static int send_text(const char *w, const char *tok, const char *text)
{
    char path[200], body[300];
    snprintf(path, sizeof(path), "/chat/%s/messages", w);
    snprintf(body, sizeof(body), "{\"text\": \"%s\"}", text);
    return chat("POST", path, body, tok, NULL, NULL, NULL);
}

/* An SSE stream read from a raw socket. */
typedef struct sse {
    int fd;
    char buf[65536];
    size_t len;
} sse;

static void sse_open(sse *s, const char *w, const char *tok, const char *last_id)
{
    memset(s, 0, sizeof(*s));
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)H.port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    char req[1024], le[100] = "";
    if (last_id) snprintf(le, sizeof(le), "Last-Event-ID: %s\r\n", last_id);
    int n = snprintf(req, sizeof(req),
                     "GET /chat/%s/events?token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Accept: text/event-stream\r\n%s\r\n",
                     w, tok, le);
    assert_int_equal(write(s->fd, req, (size_t)n), n);
}

/* Read until needle is in the stream (true), or timeout_ms passed. */
static bool sse_wait(sse *s, const char *needle, int timeout_ms)
{
    long long end = th_now_ms() + timeout_ms;
    while (!strstr(s->buf, needle)) {
        long long left = end - th_now_ms();
        if (left <= 0 || s->len + 1 >= sizeof(s->buf)) return false;
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0) return false;
        ssize_t r = read(s->fd, s->buf + s->len, sizeof(s->buf) - 1 - s->len);
        if (r <= 0) return false;
        s->len += (size_t)r;
        s->buf[s->len] = 0;
    }
    return true;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void sse_close(sse *s)
{
    close(s->fd);
}

/* ---- setup --------------------------------------------------------------------------- */

static int setup(void **st)
{
    (void)st;
    char cfg[1200];
    if (fake_start(&LLM, FAKE_BIN, 5000)) return -1;
    snprintf(cfg, sizeof(cfg),
             "{\"engine\": {\"flood_per_minute\": 1000000},"
             " \"webchat\": {\"keepalive_ms\": 200, \"connections_per_session\": 3},"
             " \"instances\": [{\"id\": \"llm\", \"plugin\": \"llm-openai\","
             "   \"config\": {\"base_url\": \"http://127.0.0.1:%d/v1\", \"model\": "
             "\"pause-stream:1500\"},"
             "   \"egress\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": %d,"
             "                \"private\": true}]}]}",
             LLM.port, LLM.port);
    if (th_init(&H, "webchat") || th_install_plugin(&H, "llm-openai") || th_config(&H, cfg) ||
        th_cli(&H, API_KEY "\n", NULL, 0, "secret", "set", "llm", "api_key", NULL))
        return -1;
    if (th_start(&H, NULL, 15000) || !th_wait_state(&H, "llm", "ready", 15000)) {
        fprintf(stderr, "the host did not start (%d)\n", H.exit_status);
        return -1;
    }
    if (th_make_agent(&H, "Echo", ECHO, NULL, AGENT, sizeof(AGENT)) != 0) return -1;
    json_t *o = NULL;
    char body[400];
    snprintf(body, sizeof(body),
             "{\"name\": \"Shop\", \"agent_id\": \"%s\", \"allowed_origins\": "
             "[\"https://shop.example\"], \"identity_secret\": \"" SECRET "\"}",
             AGENT);
    int st2 = th_http(&H, "POST", "/api/v1/widgets", body, NULL, &o);
    if (st2 != 201) {
        char *d = o ? json_dumps(o, 0) : NULL;
        fprintf(stderr, "POST /api/v1/widgets: %d %s\n", st2, d ? d : "");
        free(d);
        json_decref(o);
        return -1;
    }
    snprintf(WIDGET, sizeof(WIDGET), "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    fake_stop(&LLM);
    return rc ? -1 : 0;
}

/* ---- widgets --------------------------------------------------------------------------- */

/* A widget is a document: its agent must exist, its identity secret is
 * taken but never shown (only whether it is set), changes carry ETags. */
static void test_widgets_are_documents_whose_identity_secret_is_write_only(void **st)
{
    (void)st;
    json_t *o = NULL;
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/widgets/%s", WIDGET);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    assert_null(json_object_get(o, "identity_secret"));
    assert_true(json_is_true(json_object_get(o, "identity_secret_set")));
    json_decref(o);
    char *rh = NULL, *rb = NULL;
    char auth[200];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    const char *hs[] = {auth, NULL};
    assert_int_equal(th_http_raw(&H, "GET", path, NULL, NULL, 0, hs, &rh, &rb), 200);
    assert_non_null(strcasestr(rh, "ETag:"));
    assert_null(strstr(rb, SECRET));
    free(rh);
    free(rb);
    /* No agent, no widget; a secret too short for the store is refused. */
    char body[300];
    snprintf(body, sizeof(body), "{\"name\": \"X\", \"agent_id\": \"agt_%s\"}",
             "01J00000000000000000000000");
    assert_int_equal(th_http(&H, "POST", "/api/v1/widgets", body, NULL, &o), 422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "agent_id");
    json_decref(o);
    o = make_widget("\"identity_secret\": \"short\"", 422);
    json_decref(o);
    /* Listed, and the secret nowhere in the audit trail. */
    assert_int_equal(th_http(&H, "GET", "/api/v1/widgets?limit=1", NULL, NULL, &o), 200);
    assert_int_equal(json_array_size(json_object_get(o, "items")), 1);
    json_decref(o);
    char *audit = NULL;
    assert_int_equal(
        th_http_raw(&H, "GET", "/api/v1/audit?limit=50", NULL, NULL, 0, hs, NULL, &audit), 200);
    assert_non_null(strstr(audit, "widget.create"));
    assert_null(strstr(audit, SECRET));
    free(audit);
}

/* ---- a conversation ------------------------------------------------------------------- */

/* A visitor starts a session, writes, and sees both its message and the
 * agent's answers on the SSE stream, numbered 1, 2, 3...; the history
 * and the long poll say the same. */
static void test_a_message_sent_is_answered_on_the_event_stream(void **st)
{
    (void)st;
    char tok[300];
    new_session(WIDGET, tok, sizeof(tok), NULL, 0);
    sse s;
    sse_open(&s, WIDGET, tok, NULL);
    assert_true(sse_wait(&s, "text/event-stream", 5000));
    assert_int_equal(send_text(WIDGET, tok, "hello"), 202);
    /* The first message starts the conversation: "?" asked. */
    assert_true(sse_wait(&s, "\"text\":\"?\"", 10000));
    assert_non_null(strstr(s.buf, "id: 1\n"));
    assert_non_null(strstr(s.buf, "\"role\":\"user\",\"text\":\"hello\""));
    assert_true(sse_wait(&s, "event: typing", 5000));
    assert_int_equal(send_text(WIDGET, tok, "socks"), 202);
    assert_true(sse_wait(&s, "got socks", 10000));
    assert_true(sse_wait(&s, ": keepalive", 5000));
    sse_close(&s);
    /* The history: every message, in order. */
    char path[800];
    snprintf(path, sizeof(path), "/chat/%s/history?token=%s", WIDGET, tok);
    json_t *o = NULL;
    assert_int_equal(chat("GET", path, NULL, NULL, NULL, &o, NULL), 200);
    json_t *m = json_object_get(o, "messages");
    assert_true(json_array_size(m) >= 4);
    assert_string_equal(json_string_value(th_get(m, "0.id")), "1");
    assert_string_equal(json_string_value(th_get(m, "0.text")), "hello");
    assert_string_equal(json_string_value(th_get(m, "3.text")), "got socks");
    json_decref(o);
    /* The long poll after the last answers at once with nothing... */
    snprintf(path, sizeof(path), "/chat/%s/poll?token=%s&after=2&wait_ms=0", WIDGET, tok);
    assert_int_equal(chat("GET", path, NULL, NULL, NULL, &o, NULL), 200);
    assert_string_equal(json_string_value(th_get(o, "messages.0.id")), "3");
    json_decref(o);
}

/* A long poll waiting is answered by the next message. */
static void test_a_long_poll_is_answered_when_the_agent_speaks(void **st)
{
    (void)st;
    char tok[300];
    new_session(WIDGET, tok, sizeof(tok), NULL, 0);
    assert_int_equal(send_text(WIDGET, tok, "hi"), 202);
    char path[800];
    json_t *o = NULL;
    snprintf(path, sizeof(path), "/chat/%s/poll?token=%s&after=0&wait_ms=10000", WIDGET, tok);
    assert_int_equal(chat("GET", path, NULL, NULL, NULL, &o, NULL), 200);
    assert_true(json_array_size(json_object_get(o, "messages")) >= 1);
    const char *next = json_string_value(json_object_get(o, "next"));
    assert_non_null(next);
    char after[24];
    snprintf(after, sizeof(after), "%s", next);
    json_decref(o);
    /* Wait for the answer to "later" after what was seen. */
    if (strcmp(after, "2") < 0) {
        snprintf(path, sizeof(path), "/chat/%s/poll?token=%s&after=%s&wait_ms=10000", WIDGET, tok,
                 after);
        assert_int_equal(chat("GET", path, NULL, NULL, NULL, &o, NULL), 200);
        json_decref(o);
        snprintf(after, sizeof(after), "2");
    }
    assert_int_equal(send_text(WIDGET, tok, "later"), 202);
    bool got = false;
    for (int i = 0; i < 10 && !got; i++) {
        snprintf(path, sizeof(path), "/chat/%s/poll?token=%s&after=%s&wait_ms=5000", WIDGET, tok,
                 after);
        assert_int_equal(chat("GET", path, NULL, NULL, NULL, &o, NULL), 200);
        size_t k;
        json_t *m;
        json_array_foreach(json_object_get(o, "messages"), k, m) got |=
            !strcmp(json_string_value(json_object_get(m, "text")), "got later");
        snprintf(after, sizeof(after), "%s", json_string_value(json_object_get(o, "next")));
        json_decref(o);
    }
    assert_true(got);
}

/* The host killed and started again: a returning visitor's token still
 * holds, and the stream resumed from Last-Event-ID gives what was missed,
 * none of what was seen. */
static void test_reconnecting_after_a_restart_loses_nothing_and_repeats_nothing(void **st)
{
    (void)st;
    char tok[300];
    new_session(WIDGET, tok, sizeof(tok), NULL, 0);
    sse s;
    sse_open(&s, WIDGET, tok, NULL);
    assert_int_equal(send_text(WIDGET, tok, "one"), 202);
    assert_true(sse_wait(&s, "id: 2\n", 10000)); /* "one", then "?" */
    sse_close(&s);
    th_kill(&H);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    /* Written while the client was away. */
    assert_int_equal(send_text(WIDGET, tok, "two"), 202);
    char path[800];
    json_t *o = NULL;
    snprintf(path, sizeof(path), "/chat/%s/poll?token=%s&after=3&wait_ms=10000", WIDGET, tok);
    assert_int_equal(chat("GET", path, NULL, NULL, NULL, &o, NULL), 200);
    json_decref(o);
    sse_open(&s, WIDGET, tok, "2");
    assert_true(sse_wait(&s, "got two", 10000));
    assert_null(strstr(s.buf, "id: 1\n"));
    assert_null(strstr(s.buf, "id: 2\n"));
    assert_int_equal(count(s.buf, "id: 3\n"), 1);
    assert_int_equal(count(s.buf, "id: 4\n"), 1);
    sse_close(&s);
    /* The session resumes with the same id. */
    snprintf(path, sizeof(path), "/chat/%s/sessions", WIDGET);
    assert_int_equal(chat("POST", path, NULL, tok, NULL, &o, NULL), 200);
    assert_true(json_is_true(json_object_get(o, "resumed")));
    assert_non_null(json_string_value(json_object_get(o, "conversation_id")));
    json_decref(o);
}

/* ---- the edges ------------------------------------------------------------------------ */

static void test_cors_allows_the_widgets_origins_only(void **st)
{
    (void)st;
    char path[200], *h = NULL;
    snprintf(path, sizeof(path), "/chat/%s/config", WIDGET);
    assert_int_equal(chat("GET", path, NULL, NULL, "https://shop.example", NULL, &h), 200);
    assert_non_null(strstr(h, "Access-Control-Allow-Origin: https://shop.example"));
    free(h);
    json_t *o = NULL;
    assert_int_equal(chat("GET", path, NULL, NULL, "https://evil.example", &o, &h), 403);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "origin_not_allowed");
    assert_null(strstr(h, "Access-Control-Allow-Origin"));
    json_decref(o);
    free(h);
    snprintf(path, sizeof(path), "/chat/%s/messages", WIDGET);
    assert_int_equal(chat("OPTIONS", path, NULL, NULL, "https://shop.example", NULL, &h), 204);
    assert_non_null(strstr(h, "Access-Control-Allow-Headers: Authorization"));
    free(h);
    assert_int_equal(chat("OPTIONS", path, NULL, NULL, "https://evil.example", NULL, NULL), 403);
    assert_true(th_wait_file(&H, "logs/security.log", "origin not allowed", 5000));
}

static void test_forged_and_foreign_tokens_are_refused(void **st)
{
    (void)st;
    char tok[300], path[800];
    new_session(WIDGET, tok, sizeof(tok), NULL, 0);
    size_t n = strlen(tok);
    tok[n - 1] = tok[n - 1] == 'a' ? 'b' : 'a'; /* the signature altered */
    json_t *o = NULL;
    snprintf(path, sizeof(path), "/chat/%s/messages", WIDGET);
    assert_int_equal(chat("POST", path, "{\"text\": \"x\"}", tok, NULL, &o, NULL), 401);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "invalid_token");
    json_decref(o);
    /* A token whose expiry was moved is forged too. */
    tok[n - 1] = tok[n - 1] == 'a' ? 'b' : 'a';
    char moved[300];
    snprintf(moved, sizeof(moved), "%s", tok);
    char *exp = strrchr(moved, '.') - 1;
    *exp = *exp == '9' ? '8' : '9';
    assert_int_equal(chat("POST", path, "{\"text\": \"x\"}", moved, NULL, NULL, NULL), 401);
    /* Another widget's token is not this one's. */
    json_t *w2 = make_widget(NULL, 201);
    char p2[200];
    snprintf(p2, sizeof(p2), "/chat/%s/messages", json_string_value(json_object_get(w2, "id")));
    assert_int_equal(chat("POST", p2, "{\"text\": \"x\"}", tok, NULL, NULL, NULL), 401);
    json_decref(w2);
    snprintf(path, sizeof(path), "/chat/%s/events?token=garbage", WIDGET);
    assert_int_equal(chat("GET", path, NULL, NULL, NULL, NULL, NULL), 401);
    assert_true(th_wait_file(&H, "logs/security.log", "invalid session token", 5000));
}

/* A token past its expiry (a widget whose sessions last 1 s) is refused
 * as session_expired on every route that takes one, resuming included;
 * the same token while fresh was taken on each, and a new session works. */
static void test_an_expired_session_token_is_refused_on_every_route(void **st)
{
    (void)st;
    json_t *w = make_widget("\"limits\": {\"session_ttl_s\": 1}", 201);
    char wid[64], tok[300], path[800];
    snprintf(wid, sizeof(wid), "%s", json_string_value(json_object_get(w, "id")));
    json_decref(w);
    new_session(wid, tok, sizeof(tok), NULL, 0);
    snprintf(path, sizeof(path), "/chat/%s/history?token=%s", wid, tok);
    assert_int_equal(chat("GET", path, NULL, NULL, NULL, NULL, NULL), 200);
    th_sleep_ms(1200);
    char auth[400];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
    const char *hs[] = {auth, "X-Filename: a.png", NULL};
    static const char *const routes[][3] = {
        {"POST", "/sessions", "{}"},      {"POST", "/messages", "{\"text\": \"hi\"}"},
        {"GET", "/events?token=", NULL},  {"GET", "/poll?wait_ms=0&token=", NULL},
        {"GET", "/history?token=", NULL}, {"POST", "/uploads", "\x89PNG"},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        bool in_query = routes[i][1][strlen(routes[i][1]) - 1] == '=';
        snprintf(path, sizeof(path), "/chat/%s%s%s", wid, routes[i][1], in_query ? tok : "");
        bool upload = !strcmp(routes[i][1], "/uploads");
        const char *body = routes[i][2];
        char *rb = NULL;
        int status = th_http_raw(&H, routes[i][0], path,
                                 body ? (upload ? "image/png" : "application/json") : NULL, body,
                                 body ? strlen(body) : 0, in_query ? NULL : hs, NULL, &rb);
        json_t *o = rb ? json_loads(rb, 0, NULL) : NULL;
        if (status != 401 || !json_string_value(th_get(o, "error.code")) ||
            strcmp(json_string_value(th_get(o, "error.code")), "session_expired") != 0)
            fail_msg("%s %s answered %d %s, not 401 session_expired", routes[i][0], routes[i][1],
                     status, rb ? rb : "");
        json_decref(o);
        free(rb);
    }
    assert_true(th_wait_file(&H, "logs/security.log", "expired session token", 5000));
    /* Without the stale token, the visitor starts again. */
    new_session(wid, tok, sizeof(tok), NULL, 0);
    assert_int_equal(send_text(wid, tok, "again"), 202);
}

static void test_signed_identities_are_recognised_and_forged_ones_refused(void **st)
{
    (void)st;
    char path[200], body[600], sig[65];
    snprintf(path, sizeof(path), "/chat/%s/sessions", WIDGET);
    long long ts = (long long)time(NULL);
    wci_sign(SECRET, strlen(SECRET), "42", "ann@shop.example", "Ann", ts, sig);
    snprintf(body, sizeof(body),
             "{\"identity\": {\"user_id\": \"42\", \"email\": \"ann@shop.example\", \"name\": "
             "\"Ann\", \"ts\": %lld, \"sig\": \"%s\"}}",
             ts, sig);
    json_t *a = NULL, *b = NULL;
    assert_int_equal(chat("POST", path, body, NULL, NULL, &a, NULL), 201);
    /* The same user on another device: the same session. */
    assert_int_equal(chat("POST", path, body, NULL, NULL, &b, NULL), 201);
    assert_string_equal(json_string_value(json_object_get(a, "session_id")),
                        json_string_value(json_object_get(b, "session_id")));
    json_decref(a);
    json_decref(b);
    /* Another user id under the same signature: forged. */
    snprintf(body, sizeof(body),
             "{\"identity\": {\"user_id\": \"43\", \"email\": \"ann@shop.example\", \"name\": "
             "\"Ann\", \"ts\": %lld, \"sig\": \"%s\"}}",
             ts, sig);
    assert_int_equal(chat("POST", path, body, NULL, NULL, &a, NULL), 403);
    assert_string_equal(json_string_value(th_get(a, "error.code")), "identity_forged");
    json_decref(a);
    /* Signed two days ago: refused. */
    ts -= 2 * 86400;
    wci_sign(SECRET, strlen(SECRET), "42", NULL, NULL, ts, sig);
    snprintf(body, sizeof(body),
             "{\"identity\": {\"user_id\": \"42\", \"ts\": %lld, \"sig\": \"%s\"}}", ts, sig);
    assert_int_equal(chat("POST", path, body, NULL, NULL, &a, NULL), 403);
    assert_string_equal(json_string_value(th_get(a, "error.code")), "identity_expired");
    json_decref(a);
    assert_true(th_wait_file(&H, "logs/security.log", "forged identity", 5000));
}

static void test_bad_input_is_refused_naming_the_field(void **st)
{
    (void)st;
    char tok[300], path[200];
    new_session(WIDGET, tok, sizeof(tok), NULL, 0);
    snprintf(path, sizeof(path), "/chat/%s/messages", WIDGET);
    json_t *o = NULL;
    assert_int_equal(chat("POST", path, "{\"text\": ", tok, NULL, &o, NULL), 400);
    json_decref(o);
    assert_int_equal(chat("POST", path, "{\"text\": 5}", tok, NULL, &o, NULL), 422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "text");
    json_decref(o);
    assert_int_equal(chat("POST", path, "{\"html\": \"x\"}", tok, NULL, &o, NULL), 422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "html");
    json_decref(o);
    size_t big = 5000;
    char *body = malloc(big + 20);
    memset(body, 'a', big + 20);
    memcpy(body, "{\"text\": \"", 10);
    memcpy(body + 10 + big, "\"}", 3);
    assert_int_equal(chat("POST", path, body, tok, NULL, &o, NULL), 422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "text");
    json_decref(o);
    free(body);
    /* Uploads: a type the widget does not take, and one too large. */
    char auth[400];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
    const char *hs[] = {auth, "X-Filename: ../../etc/<b>.png", NULL};
    snprintf(path, sizeof(path), "/chat/%s/uploads", WIDGET);
    char *rb = NULL;
    assert_int_equal(th_http_raw(&H, "POST", path, "application/x-sh", "#!", 2, hs, NULL, &rb),
                     415);
    free(rb);
    rb = NULL;
    assert_int_equal(th_http_raw(&H, "POST", path, "image/png", "\x89PNG", 4, hs, NULL, &rb), 201);
    o = json_loads(rb, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "name")), "<b>.png");
    char url[300];
    snprintf(url, sizeof(url), "%s", json_string_value(json_object_get(o, "url")));
    json_decref(o);
    free(rb);
    char *rh = NULL;
    rb = NULL;
    assert_int_equal(th_http_raw(&H, "GET", url, NULL, NULL, 0, NULL, &rh, &rb), 200);
    assert_non_null(strcasestr(rh, "Content-Disposition: attachment"));
    free(rh);
    free(rb);
}

static void test_rate_limits_answer_429_with_retry_after(void **st)
{
    (void)st;
    json_t *w = make_widget("\"limits\": {\"messages_per_minute\": 2}", 201);
    char wid[64], tok[300];
    snprintf(wid, sizeof(wid), "%s", json_string_value(json_object_get(w, "id")));
    json_decref(w);
    new_session(wid, tok, sizeof(tok), NULL, 0);
    assert_int_equal(send_text(wid, tok, "a"), 202);
    assert_int_equal(send_text(wid, tok, "b"), 202);
    char path[200], *h = NULL;
    json_t *o = NULL;
    snprintf(path, sizeof(path), "/chat/%s/messages", wid);
    assert_int_equal(chat("POST", path, "{\"text\": \"c\"}", tok, NULL, &o, &h), 429);
    assert_non_null(strcasestr(h, "Retry-After:"));
    json_decref(o);
    free(h);
    /* Uploads count the same way: two a minute here, the third waits. */
    char auth[400];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
    const char *up[] = {auth, "X-Filename: a.png", NULL};
    snprintf(path, sizeof(path), "/chat/%s/uploads", wid);
    for (int i = 0; i < 3; i++) {
        char *rb = NULL;
        h = NULL;
        int status = th_http_raw(&H, "POST", path, "image/png", "\x89PNG", 4, up, &h, &rb);
        assert_int_equal(status, i < 2 ? 201 : 429);
        if (i == 2) assert_non_null(strcasestr(h, "Retry-After:"));
        free(rb);
        free(h);
    }
    /* Streams per session are bounded (3 in this host's config). */
    sse s[4];
    for (int i = 0; i < 3; i++) {
        sse_open(&s[i], wid, tok, NULL);
        assert_true(sse_wait(&s[i], "text/event-stream", 5000));
    }
    sse_open(&s[3], wid, tok, NULL);
    assert_true(sse_wait(&s[3], "429", 5000));
    for (int i = 0; i < 4; i++)
        sse_close(&s[i]);
}

static void test_the_script_and_the_demo_page_are_served(void **st)
{
    (void)st;
    char path[200], *rb = NULL, *rh = NULL;
    snprintf(path, sizeof(path), "/chat/%s/demo", WIDGET);
    assert_int_equal(th_http_raw(&H, "GET", path, NULL, NULL, 0, NULL, &rh, &rb), 200);
    assert_non_null(strstr(rb, "src=\"/chat/widget.js\""));
    assert_non_null(strstr(rb, WIDGET));
    assert_non_null(strcasestr(rh, "Content-Security-Policy:"));
    free(rb);
    free(rh);
    json_t *o = NULL;
    int st2 = chat("GET", "/chat/widget.js", NULL, NULL, NULL, &o, NULL);
    /* Served when built (admin/widget/dist/widget.js), else a clear 404. */
    if (st2 == 404)
        assert_string_equal(json_string_value(th_get(o, "error.code")), "widget_script_missing");
    else
        assert_int_equal(st2, 200);
    json_decref(o);
}

/* An LLM answer streams: its tokens come as non-durable "token" events
 * (no id) while the model is still answering, then the whole answer as a
 * durable message. */
static void test_llm_tokens_stream_before_the_final_message(void **st)
{
    (void)st;
    char agent[64], body[300];
    assert_int_equal(th_make_agent(&H, "Asker", ASKS_LLM, NULL, agent, sizeof(agent)), 0);
    snprintf(body, sizeof(body), "{\"name\": \"LLM chat\", \"agent_id\": \"%s\"}", agent);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "POST", "/api/v1/widgets", body, NULL, &o), 201);
    char wid[64], tok[300];
    snprintf(wid, sizeof(wid), "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    new_session(wid, tok, sizeof(tok), NULL, 0);
    sse s;
    sse_open(&s, wid, tok, NULL);
    assert_int_equal(send_text(wid, tok, "hi"), 202);
    assert_true(sse_wait(&s, "Ask me.", 10000));
    assert_int_equal(send_text(wid, tok, "what is up"), 202);
    assert_true(sse_wait(&s, "id: 4\n", 20000)); /* hi, Ask me., what is up, the answer */
    const char *token = strstr(s.buf, "event: token");
    const char *final = strstr(s.buf, "id: 4\n");
    assert_non_null(token);
    assert_true(token < final);
    assert_non_null(strstr(token, "\"delta\":"));
    sse_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_widgets_are_documents_whose_identity_secret_is_write_only),
        cmocka_unit_test(test_a_message_sent_is_answered_on_the_event_stream),
        cmocka_unit_test(test_a_long_poll_is_answered_when_the_agent_speaks),
        cmocka_unit_test(test_reconnecting_after_a_restart_loses_nothing_and_repeats_nothing),
        cmocka_unit_test(test_cors_allows_the_widgets_origins_only),
        cmocka_unit_test(test_forged_and_foreign_tokens_are_refused),
        cmocka_unit_test(test_an_expired_session_token_is_refused_on_every_route),
        cmocka_unit_test(test_signed_identities_are_recognised_and_forged_ones_refused),
        cmocka_unit_test(test_bad_input_is_refused_naming_the_field),
        cmocka_unit_test(test_rate_limits_answer_429_with_retry_after),
        cmocka_unit_test(test_the_script_and_the_demo_page_are_served),
        cmocka_unit_test(test_llm_tokens_stream_before_the_final_message),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
