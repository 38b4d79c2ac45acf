/*
 * The real agenthost with the llm-openai plugin against the fake OpenAI
 * server (tests/fakes/fake_openai, real HTTP on loopback): what a caller of
 * the chat and embed actions sees in every case the fake plays (answers,
 * history and options, streams, tool calls, JSON modes, embeddings), what
 * the logs and metrics record of those calls, and that the API key reaches
 * no file under logs/. The broker's errors, policy and resilience are in
 * test_llm_broker.c; the world both start is tests/support/llm_world.c.
 */
#include "../fakes/fake_proc.h"
#include "../support/llm_world.h"
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
    llm_world_expect_no_secret_in_logs();
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
        cmocka_unit_test(test_integration_and_llm_logs_and_metrics_record_each_call),
        cmocka_unit_test(test_request_id_is_carried_into_every_log_line_of_the_call),
        cmocka_unit_test(test_no_secret_reaches_any_log_file),
    };
    return cmocka_run_group_tests(tests, llm_world_setup, llm_world_teardown);
}
