/*
 * The HTTP server's edges: bytes that are not UTF-8, requests past the
 * header and query limits, bodies that are not JSON, webhook secret
 * guessing, request ids that are not ids, the webhook topics, and clients
 * that send their headers too slowly. Each gets an answer in the API's JSON
 * shape (or, for the slow ones, is cut), and the server goes on serving.
 * Inputs curl cannot make are sent over raw sockets from chosen loopback
 * addresses.
 */
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define HOOK_SECRET "limits-hook-secret-3141"
#define FFFD "\xEF\xBF\xBD" /* U+FFFD, the replacement character */

static th_host H;
static th_host T; /* a second host, for the tests that need their own */
static char editor[128];

/* http.max_header_kb stays at its documented default, 32. */
static const char *config_json = "{\"http\": {\"per_ip_connections\": 16, \"idle_timeout_s\": 5},"
                                 " \"instances\": [{\"id\": \"echo\", \"plugin\": \"echo\"}]}";

static int setup(void **s)
{
    (void)s;
    if (th_init(&H, "limits") || th_install_plugin(&H, "echo") || th_config(&H, config_json) ||
        th_make_token(&H) ||
        th_cli(&H, HOOK_SECRET, NULL, 0, "secret", "set", "echo", "webhook_secret", NULL))
        return -1;
    if (th_cli(&H, NULL, editor, sizeof(editor), "token", "create", "--name", "writer", "--role",
               "editor", NULL) != 0)
        return -1;
    editor[strcspn(editor, "\n")] = 0;
    if (th_start(&H, NULL, 15000) || !th_wait_state(&H, "echo", "ready", 10000)) return -1;
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    th_cleanup(&T); /* left running only by a failed test */
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

static void still_serving(th_host *h)
{
    assert_int_equal(th_http(h, "GET", "/health", NULL, "", NULL), 200);
}

/* ---- raw sockets ------------------------------------------------------------ */

/* A connection to h from the loopback address src; receives time out after
 * timeout_ms (so no test waits forever for an answer that never comes). */
static int dial(const th_host *h, const char *src, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &a.sin_addr);
    struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons((uint16_t)h->port)};
    inet_pton(AF_INET, "127.0.0.1", &d.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        connect(fd, (struct sockaddr *)&d, sizeof(d)) < 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

typedef struct answer {
    int status;   /* 0: no answer */
    char *head;   /* status line and headers */
    char *body;   /* after the blank line */
    json_t *json; /* the body parsed, or NULL */
} answer;

static void answer_free(answer *a)
{
    free(a->head);
    free(a->body);
    json_decref(a->json);
    memset(a, 0, sizeof(*a));
}

/* Send bytes (a request that says Connection: close), then read the answer
 * until the server closes or timeout_ms passes without a byte. */
static answer exchange(const th_host *h, const char *src, const char *bytes, size_t n,
                       int timeout_ms)
{
    answer a = {0};
    int fd = dial(h, src, timeout_ms);
    if (fd < 0) return a;
    for (size_t off = 0; off < n;) {
        ssize_t w = send(fd, bytes + off, n - off, MSG_NOSIGNAL);
        if (w <= 0) break; /* the server may answer and close before reading it all */
        off += (size_t)w;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (len == cap) buf = realloc(buf, (cap *= 2) + 1);
        ssize_t r = recv(fd, buf + len, cap - len, 0);
        if (r <= 0) break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = 0;
    char *sep = strstr(buf, "\r\n\r\n");
    if (len >= 12 && !strncmp(buf, "HTTP/1.", 7) && sep) {
        a.status = atoi(buf + 9);
        a.head = strndup(buf, (size_t)(sep - buf));
        a.body = strdup(sep + 4);
        a.json = json_loads(a.body, 0, NULL);
    }
    free(buf);
    return a;
}

static const char *error_code(const answer *a)
{
    return json_string_value(th_get(a->json, "error.code"));
}

/* "GET /health?q=1&q=1..." with n parameters. */
static char *query_request(int n)
{
    size_t cap = (size_t)n * 4 + 128, len = 0;
    char *req = malloc(cap);
    len += (size_t)snprintf(req, cap, "GET /health?q=1");
    for (int i = 1; i < n; i++)
        len += (size_t)snprintf(req + len, cap - len, "&q=1");
    snprintf(req + len, cap - len, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    return req;
}

/* A GET /health whose request line and headers take exactly `bytes` bytes,
 * most of them in one header. */
static char *request_of_size(size_t bytes, size_t *n)
{
    const char *start = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: ";
    size_t fixed = strlen(start) + 4; /* the pad's CRLF and the blank line */
    assert_true(bytes > fixed);
    char *req = malloc(bytes + 1);
    memcpy(req, start, strlen(start));
    memset(req + strlen(start), 'p', bytes - fixed);
    memcpy(req + bytes - 4, "\r\n\r\n", 4);
    req[bytes] = 0;
    *n = bytes;
    return req;
}

/* ---- 6: bytes that are not UTF-8 -------------------------------------------- */

/* The api.log line of the request with this id, parsed (NULL if none). */
static json_t *api_log_line(th_host *h, const char *request_id)
{
    char needle[128];
    snprintf(needle, sizeof(needle), "\"request_id\":\"%s\"", request_id);
    if (!th_wait_file(h, "logs/api.log", needle, 3000)) return NULL;
    char *text = th_read(h, "logs/api.log");
    char *at = strstr(text, needle);
    while (at > text && at[-1] != '\n')
        at--;
    at[strcspn(at, "\n")] = 0;
    json_t *o = json_loads(at, 0, NULL);
    free(text);
    return o;
}

static void test_invalid_utf8_in_a_path_gets_a_json_error_and_a_whole_log_line(void **s)
{
    (void)s;
    /* The seven routes that quote a path parameter in their error, and one
     * where the quote cuts a valid two-byte character in half. */
    static const struct {
        const char *method, *path;
        bool invalid_path; /* else a valid path whose quote is cut */
    } cases[] = {
        {"GET", "/api/v1/instances/%ff", true},
        {"POST", "/api/v1/instances/%ff/restart", true},
        {"POST", "/api/v1/instances/%ff/enable", true},
        {"POST", "/api/v1/instances/%ff/disable", true},
        {"GET", "/api/v1/instances/%ff/log", true},
        {"POST", "/api/v1/instances/%ff/actions/echo", true},
        {"POST", "/api/v1/instances/echo/actions/%fe%ff", true},
        {"GET",
         "/api/v1/instances/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa%c3%a9",
         false},
    };
    char auth[200];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char rid[64], rid_h[96];
        snprintf(rid, sizeof(rid), "utf8-case-%zu", i);
        snprintf(rid_h, sizeof(rid_h), "X-Request-Id: %s", rid);
        const char *hdr[] = {auth, rid_h, NULL};
        char *rb = NULL;
        int st = th_http_raw(&H, cases[i].method, cases[i].path, NULL, NULL, 0, hdr, NULL, &rb);
        json_t *o = rb ? json_loads(rb, 0, NULL) : NULL;
        if (st != 404 || !o)
            fail_msg("%s %s answered %d with body \"%s\"", cases[i].method, cases[i].path, st,
                     rb ? rb : "");
        const char *code = json_string_value(th_get(o, "error.code"));
        const char *msg = json_string_value(th_get(o, "error.message"));
        assert_true(!strcmp(code, "not_found") || !strcmp(code, "unknown_action"));
        assert_non_null(strstr(msg, FFFD));
        json_decref(o);
        free(rb);
        /* Its api.log line keeps every field, the path with the same mark. */
        json_t *line = api_log_line(&H, rid);
        assert_non_null(line);
        assert_int_equal(json_integer_value(json_object_get(line, "status")), 404);
        const char *path = json_string_value(json_object_get(line, "path"));
        assert_non_null(path);
        assert_true(!cases[i].invalid_path || strstr(path, FFFD));
        json_decref(line);
    }
    still_serving(&H);
}

static void test_invalid_utf8_in_a_webhook_is_kept_as_replacement_characters(void **s)
{
    (void)s;
    const char *hdr[] = {"X-Agenthost-Secret: " HOOK_SECRET, "X-Note: caf\xe9", NULL};
    char *rb = NULL;
    int st = th_http_raw(&H, "POST", "/hooks/echo/in%ffvalid?q=%fe", "text/plain", "hi", 2, hdr,
                         NULL, &rb);
    if (st != 200) fail_msg("the webhook answered %d: %s", st, rb ? rb : "");
    free(rb);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", "/api/v1/topics/hooks.echo/events", NULL, NULL, &o), 200);
    json_t *ev = th_get(o, "events.0.body");
    const char *path = json_string_value(json_object_get(ev, "path"));
    if (!path)
        fail_msg("the webhook's event lost its request: %s", json_dumps(ev, JSON_ENCODE_ANY));
    assert_string_equal(path, "in" FFFD "valid");
    assert_string_equal(json_string_value(th_get(ev, "query.q")), FFFD);
    assert_string_equal(json_string_value(th_get(ev, "headers.x-note")), "caf" FFFD);
    assert_string_equal(json_string_value(json_object_get(ev, "body")), "hi");
    json_decref(o);
}

/* ---- 7 and 8: query and header limits ----------------------------------------- */

static void test_a_thousand_query_parameters_get_a_json_414(void **s)
{
    (void)s;
    char *req = query_request(1000);
    answer a = exchange(&H, "127.0.0.1", req, strlen(req), 5000);
    free(req);
    if (a.status != 414) fail_msg("1000 parameters answered %d", a.status);
    assert_string_equal(error_code(&a), "uri_too_long");
    assert_non_null(strstr(a.head, "Content-Type: application/json"));
    answer_free(&a);
    /* At the limit (100) the request is served. */
    req = query_request(100);
    a = exchange(&H, "127.0.0.1", req, strlen(req), 5000);
    free(req);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    still_serving(&H);
}

static void test_headers_over_32_kib_get_a_json_431(void **s)
{
    (void)s;
    size_t n;
    char *req = request_of_size(32 * 1024, &n);
    answer a = exchange(&H, "127.0.0.1", req, n, 5000);
    free(req);
    assert_int_equal(a.status, 200); /* exactly the limit */
    answer_free(&a);
    req = request_of_size(32 * 1024 + 1, &n);
    a = exchange(&H, "127.0.0.1", req, n, 5000);
    free(req);
    if (a.status != 431) fail_msg("32 KiB + 1 of headers answered %d", a.status);
    assert_string_equal(error_code(&a), "headers_too_large");
    answer_free(&a);
    req = request_of_size(46 * 1024, &n);
    a = exchange(&H, "127.0.0.1", req, n, 5000);
    free(req);
    if (a.status != 431) fail_msg("46 KiB of headers answered %d", a.status);
    assert_string_equal(error_code(&a), "headers_too_large");
    answer_free(&a);
    still_serving(&H);
}

static void test_more_than_100_header_fields_get_a_json_431(void **s)
{
    (void)s;
    char req[8192];
    size_t n = (size_t)snprintf(req, sizeof(req), "GET /health HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 150; i++)
        n += (size_t)snprintf(req + n, sizeof(req) - n, "X-F%d: v\r\n", i);
    n += (size_t)snprintf(req + n, sizeof(req) - n, "Connection: close\r\n\r\n");
    answer a = exchange(&H, "127.0.0.1", req, n, 5000);
    if (a.status != 431) fail_msg("152 header fields answered %d", a.status);
    assert_string_equal(error_code(&a), "headers_too_large");
    answer_free(&a);
    still_serving(&H);
}

/* The answer to a GET /health of `bytes` bytes of request line and
 * headers, over plain HTTP or TLS: its status (0: none) and whether its
 * body is the API's JSON error. */
static int header_size_answer(const th_host *h, bool tls, size_t bytes, bool *json)
{
    *json = false;
    if (!tls) {
        size_t n;
        char *req = request_of_size(bytes, &n);
        answer a = exchange(h, "127.0.0.1", req, n, 5000);
        free(req);
        int st = a.status;
        *json = error_code(&a) != NULL;
        answer_free(&a);
        return st;
    }
    /* curl adds its own few headers: the size is close, not exact. */
    char *pad = malloc(bytes + 16);
    memcpy(pad, "X-Pad: ", 7);
    memset(pad + 7, 'p', bytes - 7 - 64);
    pad[bytes - 64] = 0;
    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/health", h->port);
    CURL *c = curl_easy_init();
    struct curl_slist *hl = curl_slist_append(NULL, pad);
    hl = curl_slist_append(hl, "Connection: close");
    char *body = NULL;
    size_t blen = 0;
    FILE *mem = open_memstream(&body, &blen);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L); /* loopback, a throwaway certificate */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, mem);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long st = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    fclose(mem);
    json_t *o = body ? json_loads(body, 0, NULL) : NULL;
    *json = json_string_value(th_get(o, "error.code")) != NULL;
    json_decref(o);
    free(body);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    free(pad);
    return (int)st;
}

/* Whatever the size of the request line and headers, an answer comes: 200
 * up to the limit (32 KiB), the API's JSON 431 past it up to at least
 * twice the limit, then, past what a connection's memory holds (about
 * twice the limit and 36 KiB), libmicrohttpd's own 431. The sweep is fine
 * across that edge: just below it libmicrohttpd 0.9.75 has no room left to
 * build any answer, and the server writes its own to the socket. */
static void every_header_size_is_answered(const th_host *h, bool tls)
{
    for (size_t bytes = 30 * 1024; bytes <= 112 * 1024; bytes += bytes < 96 * 1024 ? 2048 : 32) {
        size_t limit = 32 * 1024, near = tls ? 256 : 0; /* curl's sizes are not exact */
        if (bytes + near > limit && bytes <= limit + near) continue;
        bool json;
        int st = header_size_answer(h, tls, bytes, &json);
        int want = bytes <= limit ? 200 : 431;
        if (st != want)
            fail_msg("%s: %zu bytes of headers answered %d", tls ? "TLS" : "HTTP", bytes, st);
        if (st == 431 && bytes <= 64 * 1024 && !json)
            fail_msg("%s: %zu bytes of headers: a 431 without the JSON body", tls ? "TLS" : "HTTP",
                     bytes);
    }
}

static void test_every_header_size_gets_an_answer(void **s)
{
    (void)s;
    every_header_size_is_answered(&H, false);
    /* A request line of 200 KiB. */
    size_t big = 200 * 1024;
    char *req = malloc(big + 64);
    memcpy(req, "GET /", 5);
    memset(req + 5, 'a', big);
    size_t n = 5 + big + (size_t)sprintf(req + 5 + big, " HTTP/1.1\r\nHost: x\r\n\r\n");
    answer a = exchange(&H, "127.0.0.1", req, n, 5000);
    free(req);
    assert_true(a.status == 414 || a.status == 431);
    answer_free(&a);
    /* A Content-Length and a chunk size that do not fit in 64 bits. */
    const char *cl = "POST /api/v1/topics/x.y/events HTTP/1.1\r\nHost: x\r\n"
                     "Content-Length: 99999999999999999999999\r\n\r\n";
    a = exchange(&H, "127.0.0.1", cl, strlen(cl), 5000);
    assert_int_equal(a.status, 413);
    answer_free(&a);
    const char *chunk = "POST /api/v1/topics/x.y/events HTTP/1.1\r\nHost: x\r\n"
                        "Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\n";
    a = exchange(&H, "127.0.0.1", chunk, strlen(chunk), 5000);
    assert_int_equal(a.status, 413);
    answer_free(&a);
    still_serving(&H);
}

static void test_every_header_size_gets_an_answer_over_tls(void **s)
{
    (void)s;
    assert_int_equal(th_init(&T, "tlslimits"), 0);
    char cmd[2048], cfg[2048];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
             "-keyout %s/key.pem -out %s/cert.pem >/dev/null 2>&1",
             T.dir, T.dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cfg, sizeof(cfg),
             "{\"http\": {\"tls_cert\": \"%s/cert.pem\", \"tls_key\": \"%s/key.pem\"},"
             " \"instances\": []}",
             T.dir, T.dir);
    assert_int_equal(th_config(&T, cfg), 0);
    assert_int_equal(th_start(&T, NULL, 15000), 0);
    every_header_size_is_answered(&T, true);
    assert_int_equal(th_stop_clean(&T, 10000), 0);
    th_cleanup(&T);
    memset(&T, 0, sizeof(T));
}

/* ---- 9: Content-Type ---------------------------------------------------------- */

static int post_typed(const char *path, const char *content_type, const char *body, json_t **out)
{
    char auth[200];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    /* "Content-Type:" with no value makes curl send none at all. */
    const char *hdr[] = {auth, content_type ? NULL : "Content-Type:", NULL};
    char *rb = NULL;
    int st = th_http_raw(&H, "POST", path, content_type, body, strlen(body), hdr, NULL, &rb);
    if (out) *out = rb ? json_loads(rb, 0, NULL) : NULL;
    free(rb);
    return st;
}

static void test_json_bodies_need_exactly_application_json(void **s)
{
    (void)s;
    static const char *refused[] = {NULL,
                                    "application/jsonx",
                                    "text/plain",
                                    "application/json-seq",
                                    "application/x-www-form-urlencoded",
                                    "json"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        json_t *o = NULL;
        int st = post_typed("/api/v1/topics/ct.refused/events", refused[i], "{\"body\":1}", &o);
        if (st != 415)
            fail_msg("Content-Type %s answered %d", refused[i] ? refused[i] : "(none)", st);
        assert_string_equal(json_string_value(th_get(o, "error.code")), "unsupported_media_type");
        json_decref(o);
        st = post_typed("/api/v1/instances/echo/actions/echo", refused[i], "{\"x\":1}", NULL);
        if (st != 415)
            fail_msg("an action call with Content-Type %s answered %d",
                     refused[i] ? refused[i] : "(none)", st);
    }
    assert_int_equal(th_topic_depth(&H, "ct.refused"), -1); /* nothing stored */
    static const char *accepted[] = {"application/json", "Application/JSON",
                                     "application/json; charset=utf-8",
                                     "application/json;charset=UTF-8"};
    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
        int st = post_typed("/api/v1/topics/ct.accepted/events", accepted[i], "{\"body\":1}", NULL);
        if (st != 201) fail_msg("Content-Type %s answered %d", accepted[i], st);
    }
    /* No body, no type needed: an action without arguments, a restart. */
    assert_int_equal(post_typed("/api/v1/instances/echo/actions/echo", NULL, "", NULL), 200);
    /* Webhooks take any type: the plugin reads the request as it came. */
    const char *hh[] = {"X-Agenthost-Secret: " HOOK_SECRET, NULL};
    assert_int_equal(th_http_raw(&H, "POST", "/hooks/echo/form",
                                 "application/x-www-form-urlencoded", "a=1", 3, hh, NULL, NULL),
                     200);
}

/* ---- 11: webhook secrets, request ids, webhook topics, slow headers ---------- */

static void test_wrong_webhook_secrets_from_an_address_are_throttled(void **s)
{
    (void)s;
    char req[512], good[512];
    snprintf(req, sizeof(req),
             "POST /hooks/echo/guess HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
             "X-Agenthost-Secret: guess\r\nContent-Length: 0\r\n\r\n");
    snprintf(good, sizeof(good),
             "POST /hooks/echo/guess HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
             "X-Agenthost-Secret: " HOOK_SECRET "\r\nContent-Length: 0\r\n\r\n");
    int forbidden = 0;
    answer a = {0};
    for (int i = 0; i < 60; i++) {
        answer_free(&a);
        a = exchange(&H, "127.0.0.4", req, strlen(req), 5000);
        if (a.status != 403) break;
        forbidden++;
    }
    if (a.status != 429) fail_msg("%d wrong secrets answered 403, then %d", forbidden, a.status);
    assert_true(forbidden >= 1);
    assert_non_null(strstr(a.head, "Retry-After: "));
    assert_string_equal(error_code(&a), "too_many_requests");
    answer_free(&a);
    /* Even the right secret waits, from that address... */
    a = exchange(&H, "127.0.0.4", good, strlen(good), 5000);
    assert_int_equal(a.status, 429);
    answer_free(&a);
    /* ...but not from another one. */
    a = exchange(&H, "127.0.0.1", good, strlen(good), 5000);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    assert_true(th_wait_file(&H, "logs/security.log", "webhook_throttled", 3000));
}

static void test_request_ids_that_are_not_plain_ids_are_replaced_and_never_logged(void **s)
{
    (void)s;
    char rid[200], long_id[80];
    memset(long_id, 'a', 65);
    long_id[65] = 0;
    const char *bad[] = {H.token, long_id, "trace id", "caf\xc3\xa9", "a\"b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(rid, sizeof(rid), "X-Request-Id: %s", bad[i]);
        const char *hdr[] = {rid, NULL};
        char *rh = NULL;
        assert_int_equal(th_http_raw(&H, "GET", "/health", NULL, NULL, 0, hdr, &rh, NULL), 200);
        assert_null(strstr(rh, bad[i]));
        assert_non_null(strstr(rh, "X-Request-Id: "));
        free(rh);
    }
    assert_false(th_logs_contain(&H, H.token + 16));
    assert_false(th_logs_contain(&H, long_id));
    /* Letters, digits and . _ : - up to 64 are kept (a W3C traceparent-like id too). */
    const char *good = "00-4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7.01_x";
    snprintf(rid, sizeof(rid), "X-Request-Id: %s", good);
    const char *hdr[] = {rid, NULL};
    char *rh = NULL;
    assert_int_equal(th_http_raw(&H, "GET", "/health", NULL, NULL, 0, hdr, &rh, NULL), 200);
    assert_non_null(strstr(rh, good));
    free(rh);
    assert_true(th_wait_file(&H, "logs/api.log", good, 3000));
}

static void test_webhook_topics_take_no_events_from_the_topics_api(void **s)
{
    (void)s;
    long long before = th_topic_depth(&H, "hooks.echo");
    json_t *o = NULL;
    assert_int_equal(
        th_http(&H, "POST", "/api/v1/topics/hooks.echo/events", "{\"body\":{\"x\":1}}", editor, &o),
        403);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "forbidden");
    assert_non_null(strstr(json_string_value(th_get(o, "error.message")), "webhook"));
    json_decref(o);
    /* Not for an admin either, and not for an instance with no webhook yet. */
    assert_int_equal(
        th_http(&H, "POST", "/api/v1/topics/hooks.other/events", "{\"body\":1}", NULL, NULL), 403);
    assert_int_equal(th_topic_depth(&H, "hooks.echo"), before);
    assert_int_equal(th_topic_depth(&H, "hooks.other"), -1);
    /* Reading them stays open to viewers and up. */
    assert_int_equal(th_http(&H, "GET", "/api/v1/topics/hooks.echo/events", NULL, editor, NULL),
                     200);
}

/* Connections from one address that send their headers a byte at a time
 * fill that address's connection slots; each is closed once its headers
 * are late (http.header_timeout_s, 2 s here), so a new request from the
 * address is served while they still trickle. A connection that sends
 * nothing meanwhile is left to the idle timeout (30 s here). */
static void test_connections_trickling_headers_are_cut_so_their_address_is_served(void **s)
{
    (void)s;
    assert_int_equal(th_init(&T, "slowheaders"), 0);
    assert_int_equal(th_config(&T, "{\"http\": {\"per_ip_connections\": 8, \"idle_timeout_s\": 30,"
                                   " \"header_timeout_s\": 2}, \"instances\": []}"),
                     0);
    assert_int_equal(th_start(&T, NULL, 15000), 0);
    int idle = dial(&T, "127.0.0.6", 5000);
    assert_true(idle >= 0);
    enum { SLOW = 8 };
    int fds[SLOW];
    for (int i = 0; i < SLOW; i++) {
        fds[i] = dial(&T, "127.0.0.5", 1000);
        assert_true(fds[i] >= 0);
    }
    const char *trickle =
        "GET /health HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    bool served = false;
    int rounds = 0;
    /* Bounded: at most 60 rounds of 250 to 750 ms. */
    for (size_t pos = 0; rounds < 60 && !served; rounds++) {
        for (int i = 0; i < SLOW; i++)
            (void)send(fds[i], trickle + pos % strlen(trickle), 1, MSG_NOSIGNAL);
        pos++;
        answer a =
            exchange(&T, "127.0.0.5",
                     "GET /health HTTP/1.1\r\nHost: x\r\n"
                     "Connection: close\r\n\r\n",
                     strlen("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 250);
        served = a.status == 200;
        answer_free(&a);
        if (!served) th_sleep_ms(250);
    }
    if (!served)
        fail_msg("127.0.0.5 not served in %d rounds while its slow connections trickle", rounds);
    /* The slow ones were closed by the host. */
    char c;
    for (int i = 0; i < SLOW; i++) {
        assert_true(recv(fds[i], &c, 1, 0) <= 0);
        close(fds[i]);
    }
    assert_true(th_wait_file(&T, "logs/security.log", "header_timeout", 3000));
    /* The idle one outlived the deadline: it is served now. */
    const char *get = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_int_equal(send(idle, get, strlen(get), MSG_NOSIGNAL), (ssize_t)strlen(get));
    char head[16] = "";
    assert_true(recv(idle, head, sizeof(head) - 1, 0) >= 12);
    assert_int_equal(strncmp(head, "HTTP/1.1 200", 12), 0);
    close(idle);
    still_serving(&T);
    assert_int_equal(th_stop_clean(&T, 10000), 0);
    th_cleanup(&T);
    memset(&T, 0, sizeof(T));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_utf8_in_a_path_gets_a_json_error_and_a_whole_log_line),
        cmocka_unit_test(test_invalid_utf8_in_a_webhook_is_kept_as_replacement_characters),
        cmocka_unit_test(test_a_thousand_query_parameters_get_a_json_414),
        cmocka_unit_test(test_headers_over_32_kib_get_a_json_431),
        cmocka_unit_test(test_more_than_100_header_fields_get_a_json_431),
        cmocka_unit_test(test_every_header_size_gets_an_answer),
        cmocka_unit_test(test_every_header_size_gets_an_answer_over_tls),
        cmocka_unit_test(test_json_bodies_need_exactly_application_json),
        cmocka_unit_test(test_wrong_webhook_secrets_from_an_address_are_throttled),
        cmocka_unit_test(test_request_ids_that_are_not_plain_ids_are_replaced_and_never_logged),
        cmocka_unit_test(test_webhook_topics_take_no_events_from_the_topics_api),
        cmocka_unit_test(test_connections_trickling_headers_are_cut_so_their_address_is_served),
    };
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
