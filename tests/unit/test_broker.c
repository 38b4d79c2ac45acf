/* The broker's own face (host/broker/broker.h): a request made for a
 * client, with no plugin or supervisor anywhere, against a real HTTP
 * server on loopback; every request ends in exactly one of the sink's
 * answer or dropped. */
#include "cmocka_pre.h"

#include "../fakes/fake_http.h"
#include "broker/broker.h"
#include "core/log.h"
#include "core/loop.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a sink saw. */
typedef struct rec {
    int answers, partials, dropped;
    bool live;
    bool leave_on_chunk; /* the asker goes away once a chunk arrived */
    bool partial_after_end;
    json_t *answer;
    char data[256];
    size_t data_len;
} rec;

static void rec_answer(void *ud, json_t *answer)
{
    rec *r = ud;
    r->answers++;
    json_decref(r->answer);
    r->answer = answer;
}

static void rec_partial(void *ud, json_t *chunk)
{
    rec *r = ud;
    if (r->answers || r->dropped) r->partial_after_end = true;
    r->partials++;
    const char *d = json_string_value(json_object_get(chunk, "data"));
    size_t n = d ? strlen(d) : 0;
    if (r->data_len + n < sizeof(r->data)) {
        memcpy(r->data + r->data_len, d, n);
        r->data_len += n;
    }
    if (r->leave_on_chunk) r->live = false;
    json_decref(chunk);
}

static bool rec_live(void *ud)
{
    return ((rec *)ud)->live;
}

static void rec_dropped(void *ud)
{
    ((rec *)ud)->dropped++;
}

static const egress_sink sink = {
    .answer = rec_answer, .partial = rec_partial, .live = rec_live, .dropped = rec_dropped};

/* The world of one test: a loop, a server, a broker, a client allowed to
 * reach the server. */
static struct {
    ah_loop *loop;
    fh_server *srv;
    broker *b;
    egress_policy pol;
    egress_client client;
    int requests_seen;
    bool deadline;
} W;

/* The server: /hello answers at once, /stream plays three chunks, /never
 * never answers. */
static void serve(void *ud, fh_conn *c, const fh_req *req)
{
    (void)ud;
    W.requests_seen++;
    if (!strcmp(req->path, "/hello")) {
        fh_respond(c, 200, "text/plain", NULL, "hello", 5);
    } else if (!strcmp(req->path, "/stream")) {
        fh_script s = {0};
        fh_script_add(&s, 0, "one ", 4);
        fh_script_add(&s, 30, "two ", 4);
        fh_script_add(&s, 30, "three", 5);
        fh_play(c, 200, "text/plain", NULL, &s);
    }
}

static int setup(void **s)
{
    (void)s;
    log_opts lo = {.to_stderr = false, .min_level = LOG_ERROR};
    log_init(&lo);
    memset(&W, 0, sizeof(W));
    if (loop_new(&W.loop) < 0 || fh_listen(&W.srv, loop_uv(W.loop), "127.0.0.1", 0, serve, NULL))
        return -1;
    char text[200], err[300];
    snprintf(text, sizeof(text),
             "[{\"scheme\":\"http\",\"host\":\"127.0.0.1\",\"port\":%d,"
             "\"private\":true}]",
             fh_port(W.srv));
    json_t *allow = json_loads(text, 0, NULL);
    int rc = policy_compile(&W.pol, allow, "/nowhere", NULL, NULL, err, sizeof(err));
    json_decref(allow);
    broker_opts o = {0};
    if (rc < 0 || broker_new(&W.b, W.loop, &o, err, sizeof(err)) < 0) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    W.client = (egress_client){.id = "hook-1", .name = "webhooks", .pol = &W.pol};
    return 0;
}

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    W.deadline = true;
}

/* Run the loop until *flag is at least want (or fail after 10 s). */
static void run_until(const int *flag, int want)
{
    uv_timer_t t;
    uv_timer_init(loop_uv(W.loop), &t);
    W.deadline = false;
    uv_timer_start(&t, on_deadline, 10000, 0);
    while (*flag < want && !W.deadline)
        uv_run(loop_uv(W.loop), UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop_uv(W.loop), UV_RUN_NOWAIT);
    if (*flag < want) fail_msg("not reached within 10 s");
}

static void run_until_server_idle(void)
{
    for (int i = 0; i < 1000 && fh_open_connections(W.srv) > 0; i++)
        uv_run(loop_uv(W.loop), UV_RUN_ONCE);
}

static int teardown(void **s)
{
    (void)s;
    broker_free(W.b); /* closes the connections it kept for reuse */
    run_until_server_idle();
    fh_close(W.srv);
    policy_free(&W.pol);
    loop_free(W.loop);
    return 0;
}

static json_t *request(const char *path, uint32_t flags)
{
    char url[200];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", fh_port(W.srv), path);
    return json_pack("{s:s,s:s,s:i}", "method", "GET", "url", url, "flags", (int)flags);
}

static void test_request_for_a_client_is_answered_through_its_sink(void **s)
{
    (void)s;
    rec r = {.live = true};
    json_t *req = request("/hello", 0);
    broker_request(W.b, &W.client, req, "req-1", &sink, &r);
    json_decref(req);
    assert_int_equal(W.client.in_flight, 1);
    run_until(&r.answers, 1);
    assert_int_equal(r.answers, 1);
    assert_int_equal(r.dropped, 0);
    assert_int_equal(json_integer_value(json_object_get(r.answer, "status")), 200);
    assert_string_equal(json_string_value(json_object_get(r.answer, "body")), "hello");
    assert_null(json_object_get(r.answer, "error"));
    assert_int_equal(W.client.in_flight, 0);
    json_decref(r.answer);
}

static void test_streamed_body_reaches_the_sink_in_chunks_before_the_answer(void **s)
{
    (void)s;
    rec r = {.live = true};
    json_t *req = request("/stream", AH_HTTP_STREAM);
    broker_request(W.b, &W.client, req, NULL, &sink, &r);
    json_decref(req);
    run_until(&r.answers, 1);
    assert_true(r.partials >= 1);
    assert_false(r.partial_after_end);
    assert_int_equal(r.data_len, strlen("one two three"));
    assert_memory_equal(r.data, "one two three", r.data_len);
    assert_int_equal(json_integer_value(json_object_get(r.answer, "status")), 200);
    assert_null(json_object_get(r.answer, "body"));
    assert_int_equal(r.dropped, 0);
    json_decref(r.answer);
}

static void test_request_refused_before_its_transfer_is_answered_with_the_error_alone(void **s)
{
    (void)s;
    rec r = {.live = true};
    json_t *req = request("/hello", 0);
    json_object_set_new(req, "headers", json_pack("[s]", "X-Injected: a\r\nHost: elsewhere"));
    broker_request(W.b, &W.client, req, NULL, &sink, &r);
    json_decref(req);
    /* At once, with no transfer and nothing sent. */
    assert_int_equal(r.answers, 1);
    assert_int_equal(r.dropped, 0);
    assert_int_equal(json_object_size(r.answer), 1);
    json_t *e = json_object_get(r.answer, "error");
    assert_int_equal(json_integer_value(json_object_get(e, "errno")), AH_EINVAL);
    assert_string_equal(json_string_value(json_object_get(e, "code")), "invalid");
    assert_non_null(strstr(json_string_value(json_object_get(e, "message")), "control character"));
    assert_int_equal(W.client.in_flight, 0);
    assert_int_equal(W.requests_seen, 0);
    json_decref(r.answer);
}

static void test_client_without_an_allowlist_is_refused_with_its_reason(void **s)
{
    (void)s;
    rec r = {.live = true};
    egress_client c = {.id = "hook-2", .name = "webhooks", .refusal = "allowlist unusable: test"};
    json_t *req = request("/hello", 0);
    broker_request(W.b, &c, req, NULL, &sink, &r);
    json_decref(req);
    assert_int_equal(r.answers, 1);
    json_t *e = json_object_get(r.answer, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "refused");
    assert_non_null(
        strstr(json_string_value(json_object_get(e, "message")), "allowlist unusable: test"));
    assert_int_equal(c.in_flight, 0);
    assert_int_equal(W.requests_seen, 0);
    json_decref(r.answer);
}

static void test_request_whose_asker_is_gone_is_dropped_unanswered(void **s)
{
    (void)s;
    rec r = {.live = false};
    json_t *req = request("/hello", 0);
    broker_request(W.b, &W.client, req, NULL, &sink, &r);
    json_decref(req);
    assert_int_equal(r.dropped, 1);
    assert_int_equal(r.answers, 0);
    assert_int_equal(W.client.in_flight, 0);
    assert_int_equal(W.requests_seen, 0);
}

static void test_asker_leaving_mid_stream_stops_the_transfer_unanswered(void **s)
{
    (void)s;
    rec r = {.live = true, .leave_on_chunk = true};
    json_t *req = request("/stream", AH_HTTP_STREAM);
    broker_request(W.b, &W.client, req, NULL, &sink, &r);
    json_decref(req);
    run_until(&r.dropped, 1);
    assert_int_equal(r.partials, 1);
    assert_int_equal(r.answers, 0);
    assert_int_equal(r.dropped, 1);
    assert_int_equal(W.client.in_flight, 0);
}

static void test_freeing_the_broker_drops_running_requests_through_their_sinks(void **s)
{
    (void)s;
    rec r = {.live = true};
    json_t *req = request("/never", 0);
    broker_request(W.b, &W.client, req, NULL, &sink, &r);
    json_decref(req);
    run_until(&W.requests_seen, 1);
    assert_int_equal(r.dropped, 0);
    broker_free(W.b);
    W.b = NULL;
    assert_int_equal(r.dropped, 1);
    assert_int_equal(r.answers, 0);
    assert_int_equal(W.client.in_flight, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_for_a_client_is_answered_through_its_sink,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_streamed_body_reaches_the_sink_in_chunks_before_the_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_request_refused_before_its_transfer_is_answered_with_the_error_alone, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_client_without_an_allowlist_is_refused_with_its_reason,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_whose_asker_is_gone_is_dropped_unanswered,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_asker_leaving_mid_stream_stops_the_transfer_unanswered,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_freeing_the_broker_drops_running_requests_through_their_sinks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
