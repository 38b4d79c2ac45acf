/*
 * Bad input over HTTP: each gets the right status and a clear message,
 * nothing is stored, and the server keeps answering everyone else.
 */
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <errno.h>
#include <sys/time.h>
#include <unistd.h>

#define HEALTH_REQ "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"

static th_host H;
static char viewer[128];

static const char *config_json =
    "{\"http\": {\"per_ip_connections\": 4, \"idle_timeout_s\": 2, \"max_body_kb\": 64,"
    "           \"max_header_kb\": 8},"
    " \"instances\": [{\"id\": \"echo\", \"plugin\": \"echo\"}]}";

static int setup(void **s)
{
    (void)s;
    if (th_init(&H, "api") || th_install_plugin(&H, "echo") || th_config(&H, config_json) ||
        th_make_token(&H))
        return -1;
    if (th_cli(&H, NULL, viewer, sizeof(viewer), "token", "create", "--name", "watcher", "--role",
               "viewer", NULL) != 0)
        return -1;
    viewer[strcspn(viewer, "\n")] = 0;
    if (th_start(&H, NULL, 15000) || !th_wait_state(&H, "echo", "ready", 10000)) return -1;
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    assert_int_equal(th_stop(&H, 10000), 0); /* clean exit: no leaks, no errors */
    th_cleanup(&H);
    return 0;
}

static void still_serving(void)
{
    assert_int_equal(th_http(&H, "GET", "/health", NULL, "", NULL), 200);
}

/* A raw connection from a chosen loopback address. */
static int dial_from(const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &a.sin_addr);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons((uint16_t)H.port)};
    inet_pton(AF_INET, "127.0.0.1", &d.sin_addr);
    if (connect(fd, (struct sockaddr *)&d, sizeof(d)) < 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Send raw bytes, return the status of the answer (0 if none). */
static int raw_status(const char *src, const char *bytes, size_t n)
{
    int fd = dial_from(src);
    if (fd < 0) return 0;
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(fd, bytes + off, n - off, MSG_NOSIGNAL);
        if (w <= 0) break;
        off += (size_t)w;
    }
    char buf[256] = "";
    ssize_t r = recv(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    if (r < 12) return 0;
    buf[r] = 0;
    return atoi(buf + 9);
}

static void test_malformed_json_is_400_with_line_and_column(void **s)
{
    (void)s;
    json_t *o;
    assert_int_equal(
        th_http(&H, "POST", "/api/v1/topics/bad.json/events", "{\"body\":\n  [1, 2,}", NULL, &o),
        400);
    const char *m = json_string_value(th_get(o, "error.message"));
    assert_string_equal(json_string_value(th_get(o, "error.code")), "malformed_json");
    assert_non_null(strstr(m, "line 2"));
    assert_non_null(strstr(m, "column"));
    json_decref(o);
    still_serving();
}

static void test_wrong_missing_and_unknown_fields_are_422_naming_the_field(void **s)
{
    (void)s;
    json_t *o;
    assert_int_equal(
        th_http(&H, "POST", "/api/v1/topics/bad.fields/events", "{\"bodyy\":1}", NULL, &o), 422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "bodyy");
    json_decref(o);
    assert_int_equal(
        th_http(&H, "POST", "/api/v1/topics/bad.fields/events", "{\"key\":7,\"body\":1}", NULL, &o),
        422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "key");
    json_decref(o);
    assert_int_equal(th_http(&H, "POST", "/api/v1/topics/bad.fields/events",
                             "[{\"body\":1},{\"key\":\"k\"}]", NULL, &o),
                     422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "[1].body");
    json_decref(o);
    assert_int_equal(
        th_http(&H, "POST", "/api/v1/topics/bad%20name/events", "{\"body\":1}", NULL, &o), 422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "topic");
    json_decref(o);
    assert_int_equal(
        th_http(&H, "POST", "/api/v1/instances/echo/actions/add", "{\"a\":1}", NULL, &o), 422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "b");
    json_decref(o);
    assert_int_equal(th_http(&H, "GET", "/api/v1/topics/echo.in/events?limit=abc", NULL, NULL, &o),
                     422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "limit");
    json_decref(o);
    /* Nothing was stored. */
    assert_int_equal(th_http(&H, "GET", "/api/v1/topics/bad.fields", NULL, NULL, NULL), 404);
    still_serving();
}

static void test_huge_body_is_413_before_it_is_read(void **s)
{
    (void)s;
    char req[600];
    int n = snprintf(req, sizeof(req),
                     "POST /api/v1/topics/big.t/events HTTP/1.1\r\nHost: x\r\n"
                     "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: 104857600\r\n\r\n{\"body\":\"",
                     H.token);
    long long t0 = th_now_ms();
    assert_int_equal(raw_status("127.0.0.1", req, (size_t)n), 413);
    assert_true(th_now_ms() - t0 < 5000);
    /* A body over the limit without a Content-Length (chunked) is cut too. */
    size_t big = 200 * 1024;
    char *body = malloc(big + 20);
    memcpy(body, "{\"body\":\"", 9);
    memset(body + 9, 'x', big);
    strcpy(body + 9 + big, "\"}");
    json_t *o;
    assert_int_equal(th_http(&H, "POST", "/api/v1/topics/big.t/events", body, NULL, &o), 413);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "payload_too_large");
    json_decref(o);
    free(body);
    assert_int_equal(th_http(&H, "GET", "/api/v1/topics/big.t", NULL, NULL, NULL), 404);
    still_serving();
}

static int connect_local(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)H.port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    struct timeval tv = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char head[600];
    int n = snprintf(head, sizeof(head),
                     "POST /api/v1/topics/big.t/events HTTP/1.1\r\nHost: x\r\n"
                     "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n",
                     H.token);
    assert_int_equal(send(fd, head, (size_t)n, MSG_NOSIGNAL), n);
    return fd;
}

/* Chunked bodies (no Content-Length) over the limit (64 KiB here): four
 * times over gets its 413 at the end; an endless one is cut, the host
 * reading no more than a few times the limit before it closes. */
static void test_chunked_body_over_the_limit_is_413_and_an_endless_one_is_cut(void **s)
{
    (void)s;
    static char chunk[65536 + 16];
    int hl = snprintf(chunk, sizeof(chunk), "10000\r\n");
    memset(chunk + hl, 'x', 65536);
    memcpy(chunk + hl + 65536, "\r\n", 2);
    size_t clen = (size_t)hl + 65536 + 2;
    int fd = connect_local();
    for (int i = 0; i < 4; i++)
        assert_int_equal(send(fd, chunk, clen, MSG_NOSIGNAL), (ssize_t)clen);
    assert_int_equal(send(fd, "0\r\n\r\n", 5, MSG_NOSIGNAL), 5);
    char buf[512] = "";
    ssize_t r = recv(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    assert_true(r > 12);
    assert_int_equal(strncmp(buf, "HTTP/1.1 413", 12), 0);
    assert_non_null(strstr(buf, "payload_too_large"));

    fd = connect_local();
    size_t sent = 0, want = 100u << 20;
    while (sent < want) {
        ssize_t w = send(fd, chunk, clen, MSG_NOSIGNAL);
        if (w <= 0) break; /* closed by the host */
        sent += (size_t)w;
    }
    close(fd);
    assert_true(sent < want / 4);
    assert_int_equal(th_http(&H, "GET", "/api/v1/topics/big.t", NULL, NULL, NULL), 404);
    still_serving();
}

static void test_ten_thousand_headers_are_refused_with_431(void **s)
{
    (void)s;
    size_t cap = 10000 * 16 + 100;
    char *req = malloc(cap);
    size_t n = (size_t)snprintf(req, cap, "GET /health HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 10000; i++)
        n += (size_t)snprintf(req + n, cap - n, "X-H%d: v\r\n", i);
    n += (size_t)snprintf(req + n, cap - n, "\r\n");
    assert_int_equal(raw_status("127.0.0.1", req, n), 431);
    free(req);
    still_serving();
}

static void test_slowloris_from_one_address_does_not_starve_another(void **s)
{
    (void)s;
    int fds[4];
    for (int i = 0; i < 4; i++) {
        fds[i] = dial_from("127.0.0.2");
        assert_true(fds[i] >= 0);
        assert_true(send(fds[i], "GET /health HTTP/1.1\r\nHo", 24, MSG_NOSIGNAL) == 24);
    }
    th_sleep_ms(200);
    /* The fifth from 127.0.0.2 is over the per-address limit: closed. */
    assert_int_equal(raw_status("127.0.0.2", HEALTH_REQ, strlen(HEALTH_REQ)), 0);
    /* 127.0.0.1 is served meanwhile. */
    still_serving();
    /* The slow ones are dropped after the idle timeout (2 s). */
    th_sleep_ms(3500);
    char buf[16];
    for (int i = 0; i < 4; i++) {
        assert_true(recv(fds[i], buf, sizeof(buf), 0) <= 0);
        close(fds[i]);
    }
    assert_int_equal(raw_status("127.0.0.2", HEALTH_REQ, strlen(HEALTH_REQ)), 200);
}

static void test_dot_segments_and_encoded_tricks_are_400(void **s)
{
    (void)s;
    const char *paths[] = {"/api/v1/instances/../../etc/passwd",
                           "/api/v1/instances/%2e%2e/x",
                           "/api/v1/instances/echo%00x",
                           "/health%0a",
                           "//health",
                           "/api/v1/./instances",
                           "/api/v1/instances/echo%5c..%5cx"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        json_t *o = NULL;
        int st = th_http(&H, "GET", paths[i], NULL, NULL, &o);
        if (st != 400) fail_msg("%s answered %d", paths[i], st);
        assert_string_equal(json_string_value(th_get(o, "error.code")), "invalid_path");
        json_decref(o);
    }
    still_serving();
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_tokens_roles_and_request_ids(void **s)
{
    (void)s;
    json_t *o;
    char *rh = NULL;
    assert_int_equal(th_http(&H, "GET", "/api/v1/instances", NULL, "", &o), 401);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "unauthorized");
    json_decref(o);
    assert_int_equal(th_http(&H, "GET", "/api/v1/instances", NULL, "aht_000000000000nonsense", &o),
                     401);
    json_decref(o);
    /* A viewer may read but not operate. */
    assert_int_equal(th_http(&H, "GET", "/api/v1/instances", NULL, viewer, &o), 200);
    json_decref(o);
    assert_int_equal(th_http(&H, "POST", "/api/v1/instances/echo/restart", "", viewer, &o), 403);
    assert_string_equal(json_string_value(th_get(o, "error.permission")), "plugins:manage");
    json_decref(o);
    assert_int_equal(th_http(&H, "POST", "/api/v1/topics/x.y/events", "{\"body\":1}", viewer, &o),
                     403);
    json_decref(o);
    /* The request id is accepted, returned, and in the logs. */
    const char *hdr[] = {"X-Request-Id: trace-abc.123", NULL};
    assert_int_equal(th_http_raw(&H, "GET", "/health", NULL, NULL, 0, hdr, &rh, NULL), 200);
    assert_non_null(strstr(rh, "X-Request-Id: trace-abc.123"));
    free(rh);
    assert_true(th_wait_file(&H, "logs/api.log", "trace-abc.123", 3000));
    /* A bad one is replaced by a generated one. */
    const char *bad[] = {"X-Request-Id: <script>", NULL};
    assert_int_equal(th_http_raw(&H, "GET", "/health", NULL, NULL, 0, bad, &rh, NULL), 200);
    assert_null(strstr(rh, "<script>"));
    free(rh);
    assert_false(th_logs_contain(&H, H.token + 16)); /* token secrets never logged */
    /* Generated ids are 16 hex digits, none repeated (their random bytes
     * are drawn 4 KiB, 512 ids, at a time: 600 requests cross a draw). */
    enum { IDS = 600 };
    static char ids[IDS][17];
    for (int i = 0; i < IDS; i++) {
        assert_int_equal(th_http_raw(&H, "GET", "/health", NULL, NULL, 0, NULL, &rh, NULL), 200);
        const char *v = strstr(rh, "X-Request-Id: ");
        assert_non_null(v);
        v += strlen("X-Request-Id: ");
        assert_int_equal(strspn(v, "0123456789abcdef"), 16);
        memcpy(ids[i], v, 16);
        ids[i][16] = 0;
        free(rh);
    }
    qsort(ids, IDS, sizeof(ids[0]), cmp_id);
    for (int i = 1; i < IDS; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
}

/* api.log: one line per request with its method, route, status, bytes,
 * latency and request id, never a body or a token; audit.log: who changed
 * what (reads are not audited). */
static void test_api_and_audit_logs_record_requests_without_bodies(void **s)
{
    (void)s;
    char auth[200];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    const char *hdr[] = {auth, "X-Request-Id: trace-log-5521", NULL};
    const char *body = "{\"body\":{\"text\":\"body-marker-9913\"}}";
    assert_int_equal(th_http_raw(&H, "POST", "/api/v1/topics/audit.t/events", "application/json",
                                 body, strlen(body), hdr, NULL, NULL),
                     201);
    assert_true(th_wait_file(&H, "logs/api.log", "trace-log-5521", 3000));
    char *text = th_read(&H, "logs/api.log");
    char *line = strstr(text, "trace-log-5521");
    while (line > text && line[-1] != '\n')
        line--;
    line[strcspn(line, "\n")] = 0;
    json_t *o = json_loads(line, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "method")), "POST");
    assert_string_equal(json_string_value(json_object_get(o, "route")),
                        "/api/v1/topics/{topic}/events");
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 201);
    assert_true(json_integer_value(json_object_get(o, "bytes")) > 0);
    assert_true(json_is_number(json_object_get(o, "latency_ms")));
    json_decref(o);
    free(text);
    assert_false(th_file_contains(&H, "logs/api.log", "body-marker-9913"));
    assert_false(th_logs_contain(&H, "body-marker-9913"));
    assert_true(th_wait_file(&H, "logs/audit.log", "\"request_id\":\"trace-log-5521\"", 3000));
    assert_true(th_file_contains(&H, "logs/audit.log", "\"actor\":\"test\""));
    assert_false(th_file_contains(&H, "logs/audit.log", "\"action\":\"GET\""));
}

static void test_repeated_auth_failures_from_an_address_get_429(void **s)
{
    (void)s;
    const char *req =
        "GET /api/v1/instances HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n\r\n";
    int st = 0;
    for (int i = 0; i < 25 && st != 429; i++)
        st = raw_status("127.0.0.3", req, strlen(req));
    assert_int_equal(st, 429);
    /* Other addresses are not affected. */
    assert_int_equal(th_http(&H, "GET", "/api/v1/instances", NULL, NULL, NULL), 200);
    assert_true(th_file_contains(&H, "logs/security.log", "authentication failed"));
}

static void test_wrong_method_is_405_with_allow_and_wrong_type_is_415(void **s)
{
    (void)s;
    char *rh = NULL, *rb = NULL;
    char auth[200];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    const char *hdr[] = {auth, NULL};
    assert_int_equal(th_http_raw(&H, "DELETE", "/api/v1/instances", NULL, NULL, 0, hdr, &rh, &rb),
                     405);
    assert_non_null(strstr(rh, "Allow: GET"));
    assert_non_null(strstr(rb, "method_not_allowed"));
    free(rh);
    free(rb);
    assert_int_equal(th_http_raw(&H, "POST", "/api/v1/topics/t.t/events", "text/plain", "hello", 5,
                                 hdr, NULL, &rb),
                     415);
    assert_non_null(strstr(rb, "unsupported_media_type"));
    free(rb);
    assert_int_equal(th_http(&H, "GET", "/api/v1/nothing/here", NULL, NULL, NULL), 404);
    still_serving();
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* The first start prints an admin token once (stderr only, never a log);
 * `token create|list|revoke` manage the others, and a revoked token is
 * refused at once by the running host. */
static void test_first_admin_token_then_create_list_and_revoke(void **s)
{
    (void)s;
    th_host T;
    assert_int_equal(th_init(&T, "tokens"), 0);
    assert_int_equal(th_config(&T, "{\"instances\": []}"), 0);
    snprintf(T.token, sizeof(T.token), "none yet"); /* th_start must not make one */
    assert_int_equal(th_start(&T, NULL, 15000), 0);
    char *err = th_read(&T, "stderr.txt");
    assert_non_null(err);
    const char *at = strstr(err, "first start");
    assert_non_null(at);
    at = strstr(at, "\n    ");
    assert_non_null(at);
    snprintf(T.token, sizeof(T.token), "%.*s", (int)strcspn(at + 5, "\n"), at + 5);
    free(err);
    assert_int_equal(strncmp(T.token, "aht_", 4), 0);
    assert_int_equal(th_http(&T, "GET", "/api/v1/instances", NULL, NULL, NULL), 200);
    assert_false(th_logs_contain(&T, T.token + 16));
    /* Only the first start prints one. */
    assert_int_equal(th_stop(&T, 10000), 0);
    assert_int_equal(th_start(&T, NULL, 15000), 0);
    err = th_read(&T, "stderr.txt");
    assert_int_equal(count_of(err, "first start"), 1);
    free(err);

    char ops[256], out[4096];
    assert_int_equal(th_cli(&T, NULL, ops, sizeof(ops), "token", "create", "--name", "ops", NULL),
                     0);
    ops[strcspn(ops, "\n")] = 0;
    assert_int_equal(strncmp(ops, "aht_", 4), 0);
    assert_int_equal(th_http(&T, "GET", "/api/v1/instances", NULL, ops, NULL), 200);
    assert_int_equal(th_cli(&T, NULL, out, sizeof(out), "token", "list", NULL), 0);
    assert_non_null(strstr(out, "admin"));
    assert_non_null(strstr(out, "ops"));
    assert_null(strstr(out, ops + 16)); /* names and ids, never the secrets */
    assert_null(strstr(out, T.token + 16));
    assert_int_equal(th_cli(&T, NULL, out, sizeof(out), "token", "revoke", "ops", NULL), 0);
    json_t *o = NULL;
    assert_int_equal(th_http(&T, "GET", "/api/v1/instances", NULL, ops, &o), 401);
    json_decref(o);
    assert_int_equal(th_http(&T, "GET", "/api/v1/instances", NULL, NULL, NULL), 200);
    /* Revoking what does not exist is an error with a reason. */
    assert_int_not_equal(th_cli(&T, NULL, out, sizeof(out), "token", "revoke", "ops", NULL), 0);
    assert_int_equal(th_stop(&T, 10000), 0);
    th_cleanup(&T);
}

/* TLS: with http.tls_cert and http.tls_key the same API answers over HTTPS. */
static void test_tls_serves_the_api_over_https(void **s)
{
    (void)s;
    th_host T;
    assert_int_equal(th_init(&T, "tls"), 0);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
             "-keyout %s/key.pem -out %s/cert.pem >/dev/null 2>&1",
             T.dir, T.dir);
    assert_int_equal(system(cmd), 0);
    char cfg[2048];
    snprintf(cfg, sizeof(cfg),
             "{\"http\": {\"tls_cert\": \"%s/cert.pem\", \"tls_key\": \"%s/key.pem\"},"
             " \"instances\": []}",
             T.dir, T.dir);
    assert_int_equal(th_config(&T, cfg), 0);
    assert_int_equal(th_start(&T, NULL, 15000), 0);
    snprintf(cmd, sizeof(cmd),
             "curl -fsS --cacert %s/cert.pem -H 'Authorization: Bearer %s' "
             "https://127.0.0.1:%d/api/v1/instances >/dev/null",
             T.dir, T.token, T.port);
    assert_int_equal(system(cmd), 0);
    /* Under TLS every answer carries HSTS (issue 17). */
    snprintf(cmd, sizeof(cmd),
             "curl -fsS -D - -o /dev/null --cacert %s/cert.pem https://127.0.0.1:%d/health "
             "| grep -qi '^Strict-Transport-Security: max-age='",
             T.dir, T.port);
    assert_int_equal(system(cmd), 0);
    /* Plain HTTP to the TLS port gets nothing useful. */
    snprintf(cmd, sizeof(cmd), "curl -fsS -m 3 http://127.0.0.1:%d/health >/dev/null 2>&1", T.port);
    assert_true(system(cmd) != 0);
    /* A missing key file is a clear error at start. */
    assert_int_equal(th_stop(&T, 10000), 0);
    snprintf(cfg, sizeof(cfg),
             "{\"http\": {\"tls_cert\": \"%s/cert.pem\", \"tls_key\": \"%s/nope.pem\"}}", T.dir,
             T.dir);
    assert_int_equal(th_config(&T, cfg), 0);
    assert_true(th_spawn_serve(&T, NULL) > 0);
    assert_int_equal(th_wait_exit(&T, 15000), 1);
    assert_true(th_file_contains(&T, "stderr.txt", "nope.pem"));
    th_cleanup(&T);
}

/* curl over TLS trusting only ca (a PEM file): 0 when the handshake and
 * the answer succeed. */
static int curl_trusting(th_host *T, const char *ca)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "curl -fsS -m 5 --cacert %s/%s https://127.0.0.1:%d/health >/dev/null 2>&1", T->dir,
             ca, T->port);
    return system(cmd);
}

static void make_cert(th_host *T, const char *name)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
             "-keyout %s/%s.key -out %s/%s.pem >/dev/null 2>&1",
             T->dir, name, T->dir, name);
    assert_int_equal(system(cmd), 0);
}

/* Install name's pair as the served files (renamed into place, as a
 * certificate renewal does). */
static void install_cert(th_host *T, const char *name)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "cp %s/%s.pem %s/new.pem && cp %s/%s.key %s/new.key && mv %s/new.pem %s/cert.pem && "
             "mv %s/new.key %s/key.pem",
             T->dir, name, T->dir, T->dir, name, T->dir, T->dir, T->dir, T->dir, T->dir);
    assert_int_equal(system(cmd), 0);
}

/* SIGHUP reads the certificate again: new connections get the renewed
 * one; a broken or mismatched pair is refused, logged, and the served one
 * stays; the host keeps running throughout. */
static void test_sighup_reloads_the_tls_certificate_and_keeps_it_when_the_new_one_is_bad(void **s)
{
    (void)s;
    th_host T;
    assert_int_equal(th_init(&T, "tls-reload"), 0);
    make_cert(&T, "first");
    make_cert(&T, "second");
    install_cert(&T, "first");
    char cfg[2048];
    snprintf(cfg, sizeof(cfg),
             "{\"http\": {\"tls_cert\": \"%s/cert.pem\", \"tls_key\": \"%s/key.pem\"},"
             " \"instances\": []}",
             T.dir, T.dir);
    assert_int_equal(th_config(&T, cfg), 0);
    assert_int_equal(th_start(&T, NULL, 15000), 0);
    assert_int_equal(curl_trusting(&T, "first.pem"), 0);
    assert_int_not_equal(curl_trusting(&T, "second.pem"), 0);

    install_cert(&T, "second");
    assert_int_equal(kill(T.pid, SIGHUP), 0);
    bool renewed = false;
    for (int i = 0; i < 100 && !renewed; i++) {
        renewed = curl_trusting(&T, "second.pem") == 0;
        if (!renewed) th_sleep_ms(100);
    }
    assert_true(renewed);
    assert_int_not_equal(curl_trusting(&T, "first.pem"), 0);

    /* A key that is not the certificate's: refused, the second pair kept. */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cp %s/first.key %s/key.pem", T.dir, T.dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(kill(T.pid, SIGHUP), 0);
    bool logged = false;
    for (int i = 0; i < 100 && !logged; i++) {
        logged = th_logs_contain(&T, "is not the key of the certificate");
        if (!logged) th_sleep_ms(100);
    }
    assert_true(logged);
    assert_int_equal(curl_trusting(&T, "second.pem"), 0);
    /* Not PEM at all: the same. */
    snprintf(cmd, sizeof(cmd), "echo garbage > %s/cert.pem", T.dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(kill(T.pid, SIGHUP), 0);
    logged = false;
    for (int i = 0; i < 100 && !logged; i++) {
        logged = th_logs_contain(&T, "no PEM certificate");
        if (!logged) th_sleep_ms(100);
    }
    assert_true(logged);
    assert_int_equal(curl_trusting(&T, "second.pem"), 0);
    assert_int_equal(th_stop(&T, 10000), 0);
    th_cleanup(&T);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_json_is_400_with_line_and_column),
        cmocka_unit_test(test_wrong_missing_and_unknown_fields_are_422_naming_the_field),
        cmocka_unit_test(test_huge_body_is_413_before_it_is_read),
        cmocka_unit_test(test_chunked_body_over_the_limit_is_413_and_an_endless_one_is_cut),
        cmocka_unit_test(test_ten_thousand_headers_are_refused_with_431),
        cmocka_unit_test(test_slowloris_from_one_address_does_not_starve_another),
        cmocka_unit_test(test_dot_segments_and_encoded_tricks_are_400),
        cmocka_unit_test(test_tokens_roles_and_request_ids),
        cmocka_unit_test(test_api_and_audit_logs_record_requests_without_bodies),
        cmocka_unit_test(test_repeated_auth_failures_from_an_address_get_429),
        cmocka_unit_test(test_wrong_method_is_405_with_allow_and_wrong_type_is_415),
        cmocka_unit_test(test_tls_serves_the_api_over_https),
        cmocka_unit_test(
            test_sighup_reloads_the_tls_certificate_and_keeps_it_when_the_new_one_is_bad),
        cmocka_unit_test(test_first_admin_token_then_create_list_and_revoke),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
