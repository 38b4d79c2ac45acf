/*
 * llm_world.c - the world of the llm-openai tests (test_llm*.c): two fake
 * OpenAI servers (A, and B for the breaker alone), an agenthost serving
 * HTTPS with a throwaway CA (T), and the agenthost under test (H) with
 * every instance the tests call, each with its key and grant.
 */
#include "llm_world.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FAKE_BIN TH_BUILD_DIR "/tests/fakes/fake_openai"

th_host H;
th_host T;
fake_proc A, B;

typedef struct buf {
    char *p;
    size_t n;
} buf;

static size_t collect(char *d, size_t s, size_t n, void *ud)
{
    buf *b = ud;
    char *np = realloc(b->p, b->n + s * n + 1);
    memcpy(np + b->n, d, s * n);
    b->p = np;
    b->n += s * n;
    b->p[b->n] = 0;
    return s * n;
}

/* GET (or POST) on a fake's control API. */
json_t *fake_api(const fake_proc *f, const char *method, const char *path)
{
    char url[600];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port, path);
    CURL *c = curl_easy_init();
    buf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_perform(c);
    curl_easy_cleanup(c);
    json_t *o = b.p ? json_loads(b.p, 0, NULL) : NULL;
    free(b.p);
    return o;
}

long fake_count(const fake_proc *f, const char *model)
{
    json_t *s = fake_api(f, "GET", "/_fake/stats");
    long n = (long)json_integer_value(json_object_get(json_object_get(s, "counts"), model));
    json_decref(s);
    return n;
}

json_t *fake_last(const fake_proc *f, const char *model)
{
    char path[300];
    snprintf(path, sizeof(path), "/_fake/last?model=%s", model);
    return fake_api(f, "GET", path);
}

int call(const char *inst, const char *action, const char *args, json_t **out)
{
    return th_call(&H, inst, action, args, out);
}

const char *err_code(json_t *o)
{
    return json_string_value(th_get(o, "error.code"));
}

/* A streamed call: the SSE body of the answer. */
char *call_sse(const char *inst, const char *action, const char *args)
{
    char path[300], auth[256];
    snprintf(path, sizeof(path), "/api/v1/instances/%s/actions/%s", inst, action);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    const char *hdrs[] = {auth, "Accept: text/event-stream", NULL};
    char *body = NULL;
    int st =
        th_http_raw(&H, "POST", path, "application/json", args, strlen(args), hdrs, NULL, &body);
    assert_int_equal(st, 200);
    return body;
}

/* The events of an SSE body as [{"event": name, "data": json}]. */
json_t *sse_parse(const char *body)
{
    json_t *out = json_array();
    char *copy = strdup(body ? body : "");
    for (char *save = NULL, *ev = strtok_r(copy, "\n", &save); ev;
         ev = strtok_r(NULL, "\n", &save)) {
        if (strncmp(ev, "event: ", 7) != 0) continue;
        char *data = strtok_r(NULL, "\n", &save);
        if (!data || strncmp(data, "data: ", 6) != 0) continue;
        json_array_append_new(out, json_pack("{s:s,s:o}", "event", ev + 7, "data",
                                             json_loads(data + 6, JSON_DECODE_ANY, NULL)));
    }
    free(copy);
    return out;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

int host_port; /* the host's own listen port, fixed so an instance can aim at it */

static char *instance_json(const char *id, const fake_proc *f, const char *host,
                           const char *extra_config, const char *extra)
{
    char *s = NULL;
    int rc = asprintf(&s,
                      "{\"id\":\"%s\",\"plugin\":\"llm-openai\",\"config\":{\"base_url\":"
                      "\"http://%s:%d/v1\"%s%s}%s%s}",
                      id, host, f->port, extra_config ? "," : "", extra_config ? extra_config : "",
                      extra ? "," : "", extra ? extra : "");
    assert_true(rc > 0);
    return s;
}

static char *grant(const fake_proc *f)
{
    char *s = NULL;
    assert_true(asprintf(&s,
                         "\"egress\":[{\"scheme\":\"http\",\"host\":\"127.0.0.1\",\"port\":%d,"
                         "\"private\":true}]",
                         f->port) > 0);
    return s;
}

int llm_world_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (fake_start(&A, FAKE_BIN, 5000) || fake_start(&B, FAKE_BIN, 5000)) return -1;
    /* An HTTPS peer whose certificate no system CA signed. */
    if (th_init(&T, "llm-tls")) return -1;
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 -keyout %s/key.pem -out %s/cert.pem "
             ">/dev/null 2>&1",
             T.dir, T.dir);
    char tcfg[1400];
    snprintf(tcfg, sizeof(tcfg),
             "{\"http\": {\"tls_cert\": \"%s/cert.pem\", \"tls_key\": \"%s/key.pem\"},"
             " \"instances\": []}",
             T.dir, T.dir);
    if (system(cmd) != 0 || th_config(&T, tcfg) || th_start(&T, NULL, 15000)) return -1;
    if (th_init(&H, "llm") || th_install_plugin(&H, "llm-openai")) return -1;
    char *ga = grant(&A), *gb = grant(&B), *gone = NULL;
    (void)!asprintf(&gone, "%s,\"limits\":{\"in_flight\":1}", ga);
    char *i1 = instance_json(
        "llm", &A, "127.0.0.1",
        "\"system_prompt\":\"You are terse.\",\"openrouter\":{\"referer\":\"https://bot.example\","
        "\"title\":\"Example Bot\"},\"temperature\":0.2,\"stream_idle_ms\":400",
        ga);
    char *i2 =
        instance_json("llm-fb", &A, "127.0.0.1", "\"fallback_answer\":\"Sorry, try later.\"", ga);
    char *i3 = instance_json("llm-local", &A, "localhost", NULL, NULL);
    char *i4 = instance_json("llm-b", &B, "127.0.0.1", NULL, gb);
    char *i5 = instance_json("llm-one", &A, "127.0.0.1", NULL, gone);
    char *i6 = NULL, *i7 = NULL, *i8 = NULL;
    host_port = free_port();
    /* A broad grant (any host on that port, private) that does not name the
     * host's address: the host itself stays out of reach. */
    (void)!asprintf(&i8,
                    "{\"id\":\"llm-self\",\"plugin\":\"llm-openai\",\"config\":{\"base_url\":"
                    "\"http://127.0.0.1:%d/v1\"},\"egress\":[{\"scheme\":\"http\",\"host\":\"*\","
                    "\"port\":%d,\"private\":true}]}",
                    host_port, host_port);
    (void)!asprintf(&i6,
                    "{\"id\":\"llm-tls\",\"plugin\":\"llm-openai\",\"config\":{\"base_url\":"
                    "\"https://127.0.0.1:%d/v1\"},\"egress\":[{\"scheme\":\"https\",\"host\":"
                    "\"127.0.0.1\",\"port\":%d,\"private\":true}]}",
                    T.port, T.port);
    (void)!asprintf(&i7,
                    "{\"id\":\"llm-tls-ca\",\"plugin\":\"llm-openai\",\"config\":{\"base_url\":"
                    "\"https://127.0.0.1:%d/v1\"},\"egress\":[{\"scheme\":\"https\",\"host\":"
                    "\"127.0.0.1\",\"port\":%d,\"private\":true,\"ca_file\":\"%s/cert.pem\"}]}",
                    T.port, T.port, T.dir);
    char *cfg = NULL;
    (void)!asprintf(
        &cfg,
        "{\"listen\":\"127.0.0.1:%d\",\"log\":{\"level\":\"debug\"},"
        "\"supervisor\":{\"ping_interval_ms\":500},"
        "\"broker\":{\"retry_base_ms\":20,\"retry_max_ms\":100,\"max_retry_after_ms\":3000,"
        "\"max_retries\":2,\"breaker_failures\":10,\"breaker_cooldown_ms\":1000,"
        "\"max_response_kb\":1024},"
        "\"instances\":[%s,%s,%s,%s,%s,%s,%s,%s]}",
        host_port, i1, i2, i3, i4, i5, i6, i7, i8);
    int rc = th_config(&H, cfg);
    free(ga), free(gb), free(gone), free(i1), free(i2), free(i3), free(i4), free(i5), free(i6),
        free(i7), free(i8), free(cfg);
    if (rc) return -1;
    const char *with_key[] = {"llm", "llm-fb", "llm-b", "llm-one", "llm-local"};
    for (size_t i = 0; i < 5; i++)
        if (th_cli(&H, API_KEY "\n", NULL, 0, "secret", "set", with_key[i], "api_key", NULL) != 0)
            return -1;
    if (th_start(&H, NULL, 10000) != 0) return -1;
    for (size_t i = 0; i < 5; i++)
        if (!th_wait_state(&H, with_key[i], "ready", 10000)) return -1;
    if (!th_wait_state(&H, "llm-self", "ready", 10000) ||
        !th_wait_state(&H, "llm-tls", "ready", 10000) ||
        !th_wait_state(&H, "llm-tls-ca", "ready", 10000))
        return -1;
    return 0;
}

int llm_world_teardown(void **state)
{
    (void)state;
    int rc = th_stop_clean(&H, 5000) | th_stop_clean(&T, 5000);
    th_cleanup(&H);
    th_cleanup(&T);
    fake_stop(&A);
    fake_stop(&B);
    curl_global_cleanup();
    return rc ? -1 : 0;
}

void llm_world_expect_no_secret_in_logs(void)
{
    assert_false(th_logs_contain(&H, API_KEY));
    assert_false(th_logs_contain(&H, "Zq8vN3kLpW5xR2mT7yB4"));
    assert_false(th_logs_contain(&H, "Bearer sk-"));
}
