/*
 * The real agenthost with the llm-openai plugin against the fake OpenAI
 * server, the broker's side: provider errors mapped to stable codes,
 * retries, rate limits and timeouts; a redirect to the host's
 * neighbourhood and a name resolving to loopback refused and logged, TLS
 * verified; the breaker, fallback chains and the in-flight cap; and that
 * the API key reaches no file under logs/ (the 401 message quotes a key
 * prefix). What callers see of answers is in test_llm.c; the world both
 * start is tests/support/llm_world.c.
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

static void test_no_secret_reaches_any_log_file(void **state)
{
    (void)state;
    llm_world_expect_no_secret_in_logs();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
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
        cmocka_unit_test(test_no_secret_reaches_any_log_file),
    };
    return cmocka_run_group_tests(tests, llm_world_setup, llm_world_teardown);
}
