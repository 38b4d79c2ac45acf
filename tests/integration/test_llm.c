/*
 * The real agenthost with the llm-openai plugin against the fake OpenAI
 * server (tests/fakes/fake_openai, real HTTP on loopback): what a caller of
 * the chat and embed actions sees in every case the fake plays, that the
 * broker retries and trips its breaker as specified, that a redirect to
 * the host's neighbourhood and a name resolving to loopback are refused
 * and logged, and that the API key reaches no file under logs/.
 */
#include "../fakes/fake_proc.h"
#include "../support/th.h"

#include <curl/curl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define API_KEY "sk-test-Zq8vN3kLpW5xR2mT7yB4"
#define FAKE_BIN TH_BUILD_DIR "/tests/fakes/fake_openai"

static th_host H;
static th_host T;      /* another agenthost serving HTTPS with a throwaway CA */
static fake_proc A, B; /* B serves the breaker tests alone */

/* ---- helpers --------------------------------------------------------------------- */

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
static json_t *fake_api(const fake_proc *f, const char *method, const char *path)
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

static long fake_count(const fake_proc *f, const char *model)
{
    json_t *s = fake_api(f, "GET", "/_fake/stats");
    long n = (long)json_integer_value(json_object_get(json_object_get(s, "counts"), model));
    json_decref(s);
    return n;
}

static json_t *fake_last(const fake_proc *f, const char *model)
{
    char path[300];
    snprintf(path, sizeof(path), "/_fake/last?model=%s", model);
    return fake_api(f, "GET", path);
}

static int call(const char *inst, const char *action, const char *args, json_t **out)
{
    return th_call(&H, inst, action, args, out);
}

static const char *err_code(json_t *o)
{
    return json_string_value(th_get(o, "error.code"));
}

/* A streamed call: the SSE body of the answer. */
static char *call_sse(const char *inst, const char *action, const char *args)
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
static json_t *sse_parse(const char *body)
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

static int host_port; /* the host's own listen port, fixed so an instance can aim at it */

/* ---- setup -------------------------------------------------------------------- */

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

static int setup(void **state)
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

static int teardown(void **state)
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

/* ---- answers ------------------------------------------------------------------ */

/* The plugin talks to providers only through the host: it runs confined
 * (under CI, with every layer). */
static void test_the_llm_plugin_runs_confined(void **state)
{
    (void)state;
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", "/api/v1/instances/llm", NULL, NULL, &o), 200);
    json_t *c = json_object_get(o, "confinement");
    assert_true(json_is_true(json_object_get(c, "sandbox")));
    assert_int_equal(json_integer_value(json_object_get(c, "seccomp_filters")), 2);
    assert_true(json_is_true(th_get(c, "namespaces.net")) || !getenv("CI"));
    if (getenv("CI") && !strcmp(getenv("CI"), "true"))
        assert_int_equal(json_array_size(json_object_get(c, "fallbacks")), 0);
    json_decref(o);
}

static void test_chat_returns_the_recorded_answer_with_usage(void **state)
{
    (void)state;
    json_t *o;
    assert_int_equal(call("llm", "chat", "{\"prompt\":\"What is the capital of England?\"}", &o),
                     200);
    assert_string_equal(json_string_value(th_get(o, "result.content")),
                        "The capital of England is London.");
    assert_string_equal(json_string_value(th_get(o, "result.finish_reason")), "stop");
    assert_string_equal(json_string_value(th_get(o, "result.model")), "gpt-4o-mini-2024-07-18");
    assert_int_equal(json_integer_value(th_get(o, "result.usage.total_tokens")), 137);
    assert_false(json_is_true(th_get(o, "result.canned")));
    json_decref(o);
    /* What the provider received: the key, the system prompt first, the settings. */
    json_t *last = fake_last(&A, "gpt-4o-mini");
    assert_string_equal(json_string_value(th_get(last, "headers.authorization")),
                        "Bearer " API_KEY);
    assert_string_equal(json_string_value(th_get(last, "body.messages.0.role")), "system");
    assert_string_equal(json_string_value(th_get(last, "body.messages.0.content")),
                        "You are terse.");
    assert_string_equal(json_string_value(th_get(last, "body.messages.1.content")),
                        "What is the capital of England?");
    assert_true(json_number_value(th_get(last, "body.temperature")) == 0.2);
    assert_null(th_get(last, "body.stream"));
    json_decref(last);
}

static void test_history_and_options_reach_the_provider(void **state)
{
    (void)state;
    json_t *o;
    assert_int_equal(
        call("llm", "chat",
             "{\"model\":\"history-check\",\"history\":[{\"role\":\"user\",\"content\":\"Hi\"},"
             "{\"role\":\"assistant\",\"content\":\"Hello!\"}],\"prompt\":\"And now?\","
             "\"max_tokens\":50,\"stop\":[\"\\n\\n\"],\"seed\":7}",
             &o),
        200);
    json_decref(o);
    json_t *last = fake_last(&A, "history-check");
    json_t *msgs = th_get(last, "body.messages");
    assert_int_equal(json_array_size(msgs), 4); /* system, user, assistant, user */
    assert_string_equal(json_string_value(th_get(last, "body.messages.2.content")), "Hello!");
    assert_string_equal(json_string_value(th_get(last, "body.messages.3.content")), "And now?");
    assert_int_equal(json_integer_value(th_get(last, "body.max_tokens")), 50);
    assert_string_equal(json_string_value(th_get(last, "body.stop.0")), "\n\n");
    assert_int_equal(json_integer_value(th_get(last, "body.seed")), 7);
    json_decref(last);
}

/* When the first partial and the result reach the HTTP client. */
typedef struct arrivals {
    long long first_partial_ms, result_ms;
    char tail[64]; /* the last bytes seen, for markers split across reads */
} arrivals;

static size_t on_sse_bytes(char *data, size_t size, size_t n, void *ud)
{
    arrivals *a = ud;
    char seen[16384 + 64];
    size_t len = size * n < 16384 ? size * n : 16384;
    size_t tl = strlen(a->tail);
    memcpy(seen, a->tail, tl);
    memcpy(seen + tl, data, len);
    seen[tl + len] = 0;
    if (!a->first_partial_ms && strstr(seen, "event: partial")) a->first_partial_ms = th_now_ms();
    if (!a->result_ms && strstr(seen, "event: result")) a->result_ms = th_now_ms();
    size_t keep = tl + len < 32 ? tl + len : 32;
    memcpy(a->tail, seen + tl + len - keep, keep);
    a->tail[keep] = 0;
    return size * n;
}

/* The provider sends its first tokens, then holds the rest for 1.5 s: the first
 * token must reach the caller during that pause, not with the result (a
 * host or plugin that buffered the stream would deliver both together). */
static void test_streamed_tokens_reach_the_caller_as_they_arrive(void **state)
{
    (void)state;
    char url[200], auth[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/instances/llm-b/actions/chat", H.port);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    const char *args = "{\"model\":\"pause-stream:1500\",\"prompt\":\"x\",\"stream\":true}";
    CURL *c = curl_easy_init();
    struct curl_slist *hd = curl_slist_append(NULL, auth);
    hd = curl_slist_append(hd, "Accept: text/event-stream");
    hd = curl_slist_append(hd, "Content-Type: application/json");
    arrivals a = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, args);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_sse_bytes);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_slist_free_all(hd);
    curl_easy_cleanup(c);
    assert_true(a.first_partial_ms > 0);
    assert_true(a.result_ms > 0);
    /* The pause itself, not a speed: the result cannot come sooner. */
    assert_true(a.result_ms - a.first_partial_ms >= 1000);
}

static void test_stream_forwards_tokens_as_partials_before_the_result(void **state)
{
    (void)state;
    char *body = call_sse("llm", "chat", "{\"prompt\":\"Capital of the UK?\",\"stream\":true}");
    json_t *ev = sse_parse(body);
    size_t n = json_array_size(ev);
    assert_true(n >= 3);
    char joined[256] = "";
    size_t i;
    json_t *e;
    json_array_foreach(ev, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "event"));
        if (i + 1 < n) {
            assert_string_equal(name, "partial"); /* every token before the result */
            const char *d = json_string_value(th_get(json_object_get(e, "data"), "delta"));
            if (d) strncat(joined, d, sizeof(joined) - strlen(joined) - 1);
        } else {
            assert_string_equal(name, "result");
        }
    }
    assert_string_equal(joined, "The capital of the UK is London.");
    json_t *res = th_get(json_array_get(ev, n - 1), "data.result");
    assert_string_equal(json_string_value(json_object_get(res, "content")), joined);
    assert_int_equal(json_integer_value(th_get(res, "usage.total_tokens")), 87);
    assert_true(json_integer_value(json_object_get(res, "ttft_ms")) >= 0);
    json_decref(ev);
    free(body);
    json_t *last = fake_last(&A, "gpt-4o-mini");
    assert_true(json_is_true(th_get(last, "body.stream")));
    assert_true(json_is_true(th_get(last, "body.stream_options.include_usage")));
    json_decref(last);
}

static void test_streamed_tool_call_fragments_are_joined_not_executed(void **state)
{
    (void)state;
    const char *args =
        "{\"prompt\":\"What is the capital of the UK? Use the tool.\",\"stream\":true,"
        "\"tools\":[{\"name\":\"get_capital\",\"description\":\"Capital of a country\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"country\":{\"type\":\"string\"}},"
        "\"required\":[\"country\"]}}]}";
    char *body = call_sse("llm", "chat", args);
    json_t *ev = sse_parse(body);
    size_t n = json_array_size(ev), fragments = 0;
    for (size_t i = 0; i + 1 < n; i++)
        fragments += th_get(json_array_get(ev, i), "data.tool_call") != NULL;
    assert_true(fragments >= 5); /* the recording sends the arguments in pieces */
    json_t *res = th_get(json_array_get(ev, n - 1), "data.result");
    assert_string_equal(json_string_value(th_get(res, "finish_reason")), "tool_calls");
    assert_string_equal(json_string_value(th_get(res, "tool_calls.0.name")), "get_capital");
    assert_string_equal(json_string_value(th_get(res, "tool_calls.0.id")),
                        "call_ZR5UUuTt3pf61kjwAJIYdVMj");
    assert_string_equal(json_string_value(th_get(res, "tool_calls.0.arguments")),
                        "{\"country\":\"UK\"}");
    assert_string_equal(json_string_value(th_get(res, "tool_calls.0.arguments_json.country")),
                        "UK");
    assert_true(json_is_null(th_get(res, "content")));
    json_decref(ev);
    free(body);
    /* The tool went out in OpenAI's shape. */
    json_t *last = fake_last(&A, "gpt-4o-mini");
    assert_string_equal(json_string_value(th_get(last, "body.tools.0.type")), "function");
    assert_string_equal(json_string_value(th_get(last, "body.tools.0.function.name")),
                        "get_capital");
    json_decref(last);
}

static void test_whole_tool_call_answer_is_returned(void **state)
{
    (void)state;
    json_t *o;
    assert_int_equal(call("llm", "chat",
                          "{\"prompt\":\"Capital of England?\",\"tools\":[{\"type\":\"function\","
                          "\"function\":{\"name\":\"get_capital\",\"parameters\":{\"type\":"
                          "\"object\"}}}],\"tool_choice\":\"get_capital\"}",
                          &o),
                     200);
    assert_string_equal(json_string_value(th_get(o, "result.tool_calls.0.arguments_json.country")),
                        "England");
    json_decref(o);
    json_t *last = fake_last(&A, "gpt-4o-mini");
    assert_string_equal(json_string_value(th_get(last, "body.tool_choice.function.name")),
                        "get_capital");
    json_decref(last);
}

static void test_openrouter_comments_are_skipped_and_attribution_sent(void **state)
{
    (void)state;
    char *body =
        call_sse("llm", "chat", "{\"model\":\"openrouter\",\"prompt\":\"Hi\",\"stream\":true}");
    json_t *ev = sse_parse(body);
    json_t *res = th_get(json_array_get(ev, json_array_size(ev) - 1), "data.result");
    assert_string_equal(json_string_value(json_object_get(res, "content")),
                        "The capital of the UK is London.");
    json_decref(ev);
    free(body);
    json_t *last = fake_last(&A, "openrouter");
    assert_string_equal(json_string_value(th_get(last, "headers.http-referer")),
                        "https://bot.example");
    assert_string_equal(json_string_value(th_get(last, "headers.x-title")), "Example Bot");
    json_decref(last);
    /* Not streamed: OpenRouter's leading whitespace is tolerated. */
    json_t *o;
    assert_int_equal(call("llm", "chat", "{\"model\":\"openrouter\",\"prompt\":\"Hi\"}", &o), 200);
    assert_string_equal(json_string_value(th_get(o, "result.content")),
                        "The capital of England is London.");
    json_decref(o);
}

static void test_json_mode_and_json_schema_return_parsed_json(void **state)
{
    (void)state;
    json_t *o;
    assert_int_equal(
        call("llm", "chat", "{\"model\":\"json-a\",\"prompt\":\"City?\",\"json\":true}", &o), 200);
    assert_string_equal(json_string_value(th_get(o, "result.json.city")), "London");
    json_decref(o);
    json_t *last = fake_last(&A, "json-a");
    assert_string_equal(json_string_value(th_get(last, "body.response_format.type")),
                        "json_object");
    json_decref(last);
    char *body = call_sse("llm", "chat",
                          "{\"model\":\"json-b\",\"prompt\":\"City?\",\"stream\":true,"
                          "\"json_schema\":{\"name\":\"place\",\"schema\":{\"type\":\"object\","
                          "\"properties\":{\"city\":{\"type\":\"string\"}}}}}");
    json_t *ev = sse_parse(body);
    json_t *res = th_get(json_array_get(ev, json_array_size(ev) - 1), "data.result");
    assert_string_equal(json_string_value(th_get(res, "json.country")), "UK");
    json_decref(ev);
    free(body);
    last = fake_last(&A, "json-b");
    assert_string_equal(json_string_value(th_get(last, "body.response_format.type")),
                        "json_schema");
    assert_string_equal(json_string_value(th_get(last, "body.response_format.json_schema.name")),
                        "place");
    assert_true(json_is_true(th_get(last, "body.response_format.json_schema.strict")));
    json_decref(last);
}

static void test_embeddings_are_batched_and_kept_in_order(void **state)
{
    (void)state;
    json_t *stats0 = fake_api(&A, "GET", "/_fake/stats");
    size_t before = json_array_size(json_object_get(stats0, "embedding_batches"));
    json_decref(stats0);
    json_t *o;
    assert_int_equal(call("llm", "embed",
                          "{\"input\":[\"alpha\",\"beta\",\"gamma\",\"delta\",\"epsilon\"],"
                          "\"batch_size\":2,\"model\":\"emb-1\"}",
                          &o),
                     200);
    assert_int_equal(json_array_size(th_get(o, "result.embeddings")), 5);
    assert_int_equal(json_integer_value(th_get(o, "result.dimensions")), 8);
    assert_int_equal(json_integer_value(th_get(o, "result.batches")), 3);
    json_t *stats = fake_api(&A, "GET", "/_fake/stats");
    json_t *batches = json_object_get(stats, "embedding_batches");
    assert_int_equal(json_array_size(batches) - before, 3);
    /* Batch i of the answer holds the vector of input i: ask for "delta" alone. */
    json_t *one;
    assert_int_equal(call("llm", "embed", "{\"input\":\"delta\",\"model\":\"emb-1\"}", &one), 200);
    assert_true(json_equal(th_get(one, "result.embeddings.0"), th_get(o, "result.embeddings.3")));
    assert_false(json_equal(th_get(one, "result.embeddings.0"), th_get(o, "result.embeddings.2")));
    json_decref(one);
    json_decref(stats);
    json_decref(o);
}

/* ---- errors ------------------------------------------------------------------- */

static void expect_error(const char *inst, const char *args, const char *code)
{
    json_t *o;
    int st = call(inst, "chat", args, &o);
    if (st != 502 || !err_code(o) || strcmp(err_code(o), code) != 0) {
        char *s = o ? json_dumps(o, 0) : NULL;
        fail_msg("%s: expected %s, got HTTP %d %s", args, code, st, s ? s : "");
    }
    json_decref(o);
}

static void test_provider_errors_map_to_stable_codes(void **state)
{
    (void)state;
    expect_error("llm", "{\"model\":\"fail-401\",\"prompt\":\"x\"}", "auth");
    expect_error("llm", "{\"model\":\"fail-402\",\"prompt\":\"x\"}", "provider_error");
    expect_error("llm", "{\"model\":\"fail-500\",\"prompt\":\"x\"}", "provider_error");
    expect_error("llm", "{\"model\":\"fail-502\",\"prompt\":\"x\"}", "provider_error");
    expect_error("llm", "{\"model\":\"fail-503:0\",\"prompt\":\"x\"}", "provider_error");
    expect_error("llm", "{\"model\":\"invalid-json\",\"prompt\":\"x\"}", "bad_response");
    expect_error("llm", "{\"model\":\"empty-choices\",\"prompt\":\"x\"}", "bad_response");
    expect_error("llm", "{\"model\":\"bad-sse\",\"prompt\":\"x\",\"stream\":true}", "bad_response");
    expect_error("llm", "{\"model\":\"huge:2000000\",\"prompt\":\"x\"}", "bad_response");
    /* The message says why, in the provider's words. */
    json_t *o;
    call("llm", "chat", "{\"model\":\"fail-401\",\"prompt\":\"x\"}", &o);
    assert_non_null(strstr(json_string_value(th_get(o, "error.message")), "Incorrect API key"));
    json_decref(o);
    call("llm", "chat", "{\"model\":\"huge:2000000\",\"prompt\":\"x\"}", &o);
    assert_non_null(strstr(json_string_value(th_get(o, "error.message")), "size cap"));
    json_decref(o);
}

static void test_server_errors_are_retried_and_client_errors_are_not(void **state)
{
    (void)state;
    /* max_retries 2: three attempts for a 500, one for a 401. */
    assert_int_equal(fake_count(&A, "fail-500"), 3); /* one call above */
    assert_int_equal(fake_count(&A, "fail-401"), 2);
    assert_int_equal(fake_count(&A, "fail-502"), 3);
    assert_int_equal(fake_count(&A, "fail-503:0"), 3); /* Retry-After: 0 */
    json_t *o;
    assert_int_equal(call("llm", "chat", "{\"model\":\"flaky-503:2\",\"prompt\":\"x\"}", &o), 200);
    assert_string_equal(json_string_value(th_get(o, "result.content")),
                        "The capital of England is London.");
    json_decref(o);
    assert_int_equal(fake_count(&A, "flaky-503:2"), 3);
    assert_true(th_wait_file(&H, "logs/integration.log", "\"retries\":2", 2000));
}

static void test_429_waits_for_retry_after_then_reports_rate_limited(void **state)
{
    (void)state;
    expect_error("llm", "{\"model\":\"rate-429:1\",\"prompt\":\"x\"}", "rate_limited");
    assert_int_equal(fake_count(&A, "rate-429:1"), 3);
    /* The waits were the server's Retry-After (1 s), not the backoff (20-100 ms). */
    assert_true(th_file_contains(&H, "logs/integration.log", "\"delay_ms\":1000"));
    /* A Retry-After beyond broker.max_retry_after_ms is not waited for. */
    expect_error("llm", "{\"model\":\"rate-429:60\",\"prompt\":\"x\"}", "rate_limited");
    assert_int_equal(fake_count(&A, "rate-429:60"), 1);
}

static void test_error_mid_stream_under_200_is_a_provider_error(void **state)
{
    (void)state;
    char *body =
        call_sse("llm", "chat", "{\"model\":\"midstream-error\",\"prompt\":\"x\",\"stream\":true}");
    json_t *ev = sse_parse(body);
    json_t *last = json_array_get(ev, json_array_size(ev) - 1);
    assert_string_equal(json_string_value(json_object_get(last, "event")), "error");
    assert_string_equal(json_string_value(th_get(last, "data.error.code")), "provider_error");
    assert_non_null(
        strstr(json_string_value(th_get(last, "data.error.message")), "Provider disconnected"));
    /* Tokens that came before the error did reach the caller. */
    assert_string_equal(json_string_value(th_get(json_array_get(ev, 0), "data.delta")), "The");
    json_decref(ev);
    free(body);
}

static void test_slow_answer_times_out(void **state)
{
    (void)state;
    expect_error("llm", "{\"model\":\"slow:4000\",\"prompt\":\"x\",\"timeout_ms\":500}", "timeout");
    /* A silent stream fails on the idle timeout (stream_idle_ms 400), not the total. */
    json_t *o;
    call("llm", "chat", "{\"model\":\"stall-stream:5000\",\"prompt\":\"x\",\"stream\":true}", &o);
    assert_string_equal(err_code(o), "timeout");
    assert_non_null(strstr(json_string_value(th_get(o, "error.message")), "idle"));
    json_decref(o);
}

static void test_connection_cut_mid_stream_is_not_retried(void **state)
{
    (void)state;
    json_t *o;
    call("llm", "chat", "{\"model\":\"cut-stream\",\"prompt\":\"x\",\"stream\":true}", &o);
    assert_string_equal(err_code(o), "provider_error");
    assert_non_null(strstr(json_string_value(th_get(o, "error.message")), "mid-response"));
    json_decref(o);
    /* Tokens had gone to the caller: a retry would repeat them. */
    assert_int_equal(fake_count(&A, "cut-stream"), 1);
}

/* ---- policy ------------------------------------------------------------------- */

static void test_redirect_to_the_hosts_neighbourhood_is_refused_and_logged(void **state)
{
    (void)state;
    expect_error("llm", "{\"model\":\"redirect\",\"prompt\":\"x\"}", "refused");
    assert_int_equal(fake_count(&A, "redirect"), 1);
    assert_true(th_wait_file(&H, "logs/security.log", "egress_refused", 2000));
    char *sec = th_read(&H, "logs/security.log");
    assert_non_null(strstr(sec, "\"port\":8080"));
    assert_non_null(strstr(sec, "redirect to a destination the manifest does not allow"));
    free(sec);
}

static void test_allowed_redirect_is_followed(void **state)
{
    (void)state;
    json_t *o;
    assert_int_equal(call("llm", "chat", "{\"model\":\"redirect-local\",\"prompt\":\"x\"}", &o),
                     200);
    assert_string_equal(json_string_value(th_get(o, "result.content")),
                        "The capital of England is London.");
    json_decref(o);
    json_t *last = fake_last(&A, "redirect-local");
    assert_string_equal(json_string_value(json_object_get(last, "path")),
                        "/ok/v1/chat/completions");
    /* Same origin: the key still went along. */
    assert_string_equal(json_string_value(th_get(last, "headers.authorization")),
                        "Bearer " API_KEY);
    json_decref(last);
}

static void test_name_resolving_to_loopback_is_refused_before_connecting(void **state)
{
    (void)state;
    long before = fake_count(&A, "gpt-4o-mini");
    expect_error("llm-local", "{\"prompt\":\"x\"}", "refused");
    assert_int_equal(fake_count(&A, "gpt-4o-mini"), before);
    assert_true(th_wait_file(&H, "logs/security.log", "loopback address", 2000));
    assert_true(th_file_contains(&H, "logs/security.log", "\"instance\":\"llm-local\""));
}

static void test_the_hosts_own_listen_address_is_refused_unless_named(void **state)
{
    (void)state;
    assert_int_equal(H.port, host_port);
    expect_error("llm-self", "{\"prompt\":\"x\"}", "refused");
    assert_true(th_wait_file(&H, "logs/security.log", "the host's own listen address", 2000));
}

static void test_tls_is_verified_and_a_granted_ca_is_trusted(void **state)
{
    (void)state;
    /* The peer's certificate is signed by no system CA: refused at the handshake. */
    json_t *o;
    call("llm-tls", "chat", "{\"prompt\":\"x\"}", &o);
    if (strcmp(err_code(o) ?: "", "provider_error")) {
        char *d = json_dumps(o, 0);
        fprintf(stderr, "llm-tls answered %s\n", d);
        free(d);
    }
    assert_string_equal(err_code(o), "provider_error");
    assert_non_null(strstr(json_string_value(th_get(o, "error.message")), "certificate"));
    json_decref(o);
    /* With the operator's ca_file the handshake passes and HTTP answers (the
     * peer is an agenthost: it has no /v1/chat/completions, hence 404). */
    call("llm-tls-ca", "chat", "{\"prompt\":\"x\"}", &o);
    assert_string_equal(err_code(o), "invalid_request");
    assert_non_null(strstr(json_string_value(th_get(o, "error.message")), "HTTP 404"));
    json_decref(o);
}

/* ---- resilience ---------------------------------------------------------------------- */

static json_t *breaker_of(const fake_proc *f)
{
    json_t *ready = NULL;
    th_http(&H, "GET", "/ready", NULL, NULL, &ready);
    char key[64];
    snprintf(key, sizeof(key), "127.0.0.1:%d", f->port);
    json_t *b = json_incref(json_object_get(th_get(ready, "checks.egress.breakers"), key));
    json_decref(ready);
    return b;
}

static void test_breaker_opens_fails_fast_then_a_probe_closes_it(void **state)
{
    (void)state;
    /* breaker_failures 10; each call makes 3 attempts (2 retries). */
    json_t *o;
    for (int i = 0; i < 3; i++) {
        call("llm-b", "chat", "{\"model\":\"fail-500\",\"prompt\":\"x\"}", &o);
        assert_string_equal(err_code(o), "provider_error");
        json_decref(o);
    }
    json_t *b = breaker_of(&B);
    assert_string_equal(json_string_value(json_object_get(b, "state")), "closed");
    assert_int_equal(json_integer_value(json_object_get(b, "failures")), 9);
    json_decref(b);
    /* The tenth consecutive failure opens it: that call's retries stop there. */
    call("llm-b", "chat", "{\"model\":\"fail-500\",\"prompt\":\"x\"}", &o);
    assert_string_equal(err_code(o), "circuit_open");
    json_decref(o);
    assert_int_equal(fake_count(&B, "fail-500"), 10);
    b = breaker_of(&B);
    assert_string_equal(json_string_value(json_object_get(b, "state")), "open");
    json_decref(b);
    /* While open: fail fast, nothing reaches the provider. */
    call("llm-b", "chat", "{\"model\":\"healthy\",\"prompt\":\"x\"}", &o);
    assert_string_equal(err_code(o), "circuit_open");
    json_decref(o);
    assert_int_equal(fake_count(&B, "healthy"), 0);
    char *metrics = NULL;
    char auth[256];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    const char *hdrs[] = {auth, NULL};
    th_http_raw(&H, "GET", "/metrics", NULL, NULL, 0, hdrs, NULL, &metrics);
    char series[128];
    snprintf(series, sizeof(series),
             "agenthost_egress_breaker_state{destination=\"127.0.0.1:%d\"} 2", B.port);
    assert_non_null(strstr(metrics, series));
    free(metrics);
    /* After the cooldown one probe goes through; its success closes it. */
    long long deadline = th_now_ms() + 5000;
    int st = 0;
    do {
        th_sleep_ms(100);
        st = call("llm-b", "chat", "{\"model\":\"healthy\",\"prompt\":\"x\"}", &o);
        json_decref(o);
    } while (st != 200 && th_now_ms() < deadline);
    assert_int_equal(st, 200);
    b = breaker_of(&B);
    assert_string_equal(json_string_value(json_object_get(b, "state")), "closed");
    json_decref(b);
    assert_true(th_file_contains(&H, "logs/integration.log", "half_open -> closed"));
}

static void test_fallback_chain_steps_through_models_then_canned_answer(void **state)
{
    (void)state;
    json_t *o;
    assert_int_equal(call("llm", "chat",
                          "{\"model\":\"fail-401\",\"fallback_models\":[\"fail-402\",\"good-b\"],"
                          "\"prompt\":\"x\"}",
                          &o),
                     200);
    assert_string_equal(json_string_value(th_get(o, "result.requested_model")), "good-b");
    assert_int_equal(json_array_size(th_get(o, "result.attempts")), 2);
    assert_string_equal(json_string_value(th_get(o, "result.attempts.0.error")), "auth");
    assert_string_equal(json_string_value(th_get(o, "result.attempts.1.error")), "provider_error");
    json_decref(o);
    /* Every model fails: the canned answer of llm-fb. */
    assert_int_equal(
        call("llm-fb", "chat",
             "{\"model\":\"fail-500\",\"fallback_models\":[\"fail-401\"],\"prompt\":\"x\"}", &o),
        200);
    assert_true(json_is_true(th_get(o, "result.canned")));
    assert_string_equal(json_string_value(th_get(o, "result.content")), "Sorry, try later.");
    json_decref(o);
    /* Without a canned answer the last error comes back. */
    expect_error("llm",
                 "{\"model\":\"fail-500\",\"fallback_models\":[\"fail-401\"],\"prompt\":\"x\"}",
                 "auth");
    assert_true(th_file_contains(&H, "logs/llm.log", "\"event\":\"fallback\""));
    assert_true(th_file_contains(&H, "logs/llm.log", "\"to\":\"canned\""));
}

typedef struct slow_call {
    int status;
} slow_call;

static void *slow_thread(void *ud)
{
    slow_call *s = ud;
    json_t *o = NULL;
    s->status = call("llm-one", "chat", "{\"model\":\"slow:1500\",\"prompt\":\"x\"}", &o);
    json_decref(o);
    return NULL;
}

static void test_in_flight_cap_per_instance_refuses_the_extra_request(void **state)
{
    (void)state;
    slow_call s = {0};
    pthread_t t;
    pthread_create(&t, NULL, slow_thread, &s);
    long long deadline = th_now_ms() + 5000;
    while (fake_count(&A, "slow:1500") < 1 && th_now_ms() < deadline)
        th_sleep_ms(10);
    json_t *o;
    call("llm-one", "chat", "{\"model\":\"second\",\"prompt\":\"x\"}", &o);
    assert_string_equal(err_code(o), "rate_limited");
    json_decref(o);
    pthread_join(t, NULL);
    assert_int_equal(s.status, 200);
    assert_int_equal(fake_count(&A, "second"), 0);
}

/* ---- logs and metrics --------------------------------------------------------------- */

static void test_integration_and_llm_logs_and_metrics_record_each_call(void **state)
{
    (void)state;
    assert_true(
        th_wait_file(&H, "logs/integration.log", "\"path\":\"/v1/chat/completions\"", 2000));
    assert_true(th_file_contains(&H, "logs/integration.log", "\"instance\":\"llm\""));
    assert_true(th_file_contains(&H, "logs/integration.log", "\"latency_ms\""));
    assert_true(th_file_contains(&H, "logs/llm.log", "\"prompt_tokens\":104"));
    assert_true(th_file_contains(&H, "logs/llm.log", "\"model\":\"gpt-4o-mini\""));
    char *metrics = NULL, auth[256];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    const char *hdrs[] = {auth, NULL};
    th_http_raw(&H, "GET", "/metrics", NULL, NULL, 0, hdrs, NULL, &metrics);
    assert_non_null(strstr(
        metrics,
        "agenthost_egress_requests_total{instance=\"llm\",host=\"127.0.0.1\",outcome=\"2xx\"}"));
    assert_non_null(strstr(metrics, "agenthost_plugin_llm_tokens_total{plugin=\"llm-openai\","
                                    "instance=\"llm\",model=\"gpt-4o-mini\",kind=\"prompt\"}"));
    assert_non_null(strstr(metrics, "agenthost_plugin_llm_request_seconds_count{plugin=\"llm-"
                                    "openai\",instance=\"llm\",model=\"gpt-4o-mini\"}"));
    free(metrics);
}

/* One X-Request-Id runs through every line the call causes: the API's,
 * the plugin's llm.log record (written in its HTTP completion callback)
 * and the broker's integration.log line for the provider request. */
static void test_request_id_is_carried_into_every_log_line_of_the_call(void **state)
{
    (void)state;
    assert_int_equal(
        th_call_traced(&H, "llm", "chat", "{\"prompt\":\"Capital of the UK?\"}", "trace-llm-7781"),
        200);
    const char *rid = "\"request_id\":\"trace-llm-7781\"";
    assert_true(th_wait_file(&H, "logs/api.log", rid, 3000));
    assert_true(th_wait_file(&H, "logs/llm.log", rid, 3000));
    assert_true(th_wait_file(&H, "logs/integration.log", rid, 3000));
}

static void test_no_secret_reaches_any_log_file(void **state)
{
    (void)state;
    /* Every test above sent the key; the 401 message even quotes a key prefix. */
    assert_false(th_logs_contain(&H, API_KEY));
    assert_false(th_logs_contain(&H, "Zq8vN3kLpW5xR2mT7yB4"));
    assert_false(th_logs_contain(&H, "Bearer sk-"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_llm_plugin_runs_confined),
        cmocka_unit_test(test_chat_returns_the_recorded_answer_with_usage),
        cmocka_unit_test(test_history_and_options_reach_the_provider),
        cmocka_unit_test(test_stream_forwards_tokens_as_partials_before_the_result),
        cmocka_unit_test(test_streamed_tokens_reach_the_caller_as_they_arrive),
        cmocka_unit_test(test_streamed_tool_call_fragments_are_joined_not_executed),
        cmocka_unit_test(test_whole_tool_call_answer_is_returned),
        cmocka_unit_test(test_openrouter_comments_are_skipped_and_attribution_sent),
        cmocka_unit_test(test_json_mode_and_json_schema_return_parsed_json),
        cmocka_unit_test(test_embeddings_are_batched_and_kept_in_order),
        cmocka_unit_test(test_provider_errors_map_to_stable_codes),
        cmocka_unit_test(test_server_errors_are_retried_and_client_errors_are_not),
        cmocka_unit_test(test_429_waits_for_retry_after_then_reports_rate_limited),
        cmocka_unit_test(test_error_mid_stream_under_200_is_a_provider_error),
        cmocka_unit_test(test_slow_answer_times_out),
        cmocka_unit_test(test_connection_cut_mid_stream_is_not_retried),
        cmocka_unit_test(test_redirect_to_the_hosts_neighbourhood_is_refused_and_logged),
        cmocka_unit_test(test_allowed_redirect_is_followed),
        cmocka_unit_test(test_name_resolving_to_loopback_is_refused_before_connecting),
        cmocka_unit_test(test_the_hosts_own_listen_address_is_refused_unless_named),
        cmocka_unit_test(test_tls_is_verified_and_a_granted_ca_is_trusted),
        cmocka_unit_test(test_breaker_opens_fails_fast_then_a_probe_closes_it),
        cmocka_unit_test(test_fallback_chain_steps_through_models_then_canned_answer),
        cmocka_unit_test(test_in_flight_cap_per_instance_refuses_the_extra_request),
        cmocka_unit_test(test_integration_and_llm_logs_and_metrics_record_each_call),
        cmocka_unit_test(test_request_id_is_carried_into_every_log_line_of_the_call),
        cmocka_unit_test(test_no_secret_reaches_any_log_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
