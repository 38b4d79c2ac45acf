/*
 * The harness's input files: the events script (checked against the
 * manifest, errors naming file, line and field) and the recorded HTTP
 * responses (matching rules, answers as the runtime expects them).
 */
#include "cmocka_pre.h"

#include "harness/replay.h"
#include "harness/script.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char manifest_text[] =
    "{\"name\": \"demo\", \"version\": \"1.0.0\", \"abi\": \"1.0\", \"library\": \"libdemo.so\","
    " \"description\": \"d\", \"subscribes\": [\"orders.*\"], \"webhook\": {},"
    " \"actions\": [{\"name\": \"greet\"}]}";

static manifest *M;

static int setup(void **state)
{
    (void)state;
    char err[600];
    return manifest_parse("demo.json", manifest_text, strlen(manifest_text), false, &M, err,
                          sizeof(err));
}

static int teardown(void **state)
{
    (void)state;
    manifest_free(M);
    return 0;
}

static int parse(const char *text, script *s, char *err, size_t errlen)
{
    return script_parse("ev.jsonl", text, strlen(text), M, "demo-1", s, err, errlen);
}

static void test_script_items_become_deliveries_calls_and_sleeps(void **state)
{
    (void)state;
    script s;
    char err[600];
    const char *text = "{\"event\": {\"topic\": \"orders.new\", \"key\": \"k\", \"body\": [1]}}\n"
                       "\n"
                       "{\"call\": {\"action\": \"greet\", \"args\": {\"who\": \"x\"}}, \"async\": "
                       "true}\n"
                       "{\"sleep_ms\": 20}\n"
                       "{\"event\": {\"topic\": \"hooks.demo-1\", \"id\": \"h1\", \"attempt\": 3}}";
    assert_int_equal(parse(text, &s, err, sizeof(err)), 0);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.items[0].kind, SCRIPT_EVENT);
    assert_int_equal(s.items[0].line, 1);
    json_t *ev = s.items[0].event;
    assert_string_equal(json_string_value(json_object_get(ev, "id")), "line-1");
    assert_string_equal(json_string_value(json_object_get(ev, "key")), "k");
    assert_int_equal(json_integer_value(json_object_get(ev, "offset")), 1);
    assert_int_equal(json_integer_value(json_object_get(ev, "attempt")), 1);
    assert_true(json_is_object(json_object_get(ev, "headers")));
    assert_int_equal(s.items[1].kind, SCRIPT_CALL);
    assert_int_equal(s.items[1].line, 3);
    assert_true(s.items[1].async);
    assert_string_equal(s.items[1].action, "greet");
    assert_int_equal(s.items[2].kind, SCRIPT_SLEEP);
    assert_int_equal(s.items[2].sleep_ms, 20);
    ev = s.items[3].event;
    assert_string_equal(json_string_value(json_object_get(ev, "id")), "h1");
    assert_int_equal(json_integer_value(json_object_get(ev, "offset")), 2);
    assert_int_equal(json_integer_value(json_object_get(ev, "attempt")), 3);
    assert_true(json_is_null(json_object_get(ev, "body")));
    script_free(&s);
}

static void test_script_errors_name_the_line_and_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *text, *err;
    } cases[] = {
        {"{\"call\": {\"action\": \"greet\"}}\n{\"event\": {\"topic\": \"billing.x\"}}",
         "ev.jsonl:2: event.topic: plugin demo does not subscribe to \"billing.x\""},
        {"{\"call\": {\"action\": \"nope\"}}",
         "ev.jsonl:1: call.action: \"nope\" is not an action of plugin demo"},
        {"{\"call\": {\"action\": \"greet\", \"args\": [1]}}",
         "ev.jsonl:1: call.args: expected an object"},
        {"{\"call\": {\"action\": \"greet\"}, \"sleep_ms\": 1}",
         "ev.jsonl:1: exactly one of \"event\", \"call\", \"sleep_ms\" per line"},
        {"{\"evnt\": {}}", "ev.jsonl:1: evnt: unknown field"},
        {"{\"event\": {\"topic\": \"orders.a\", \"headers\": {\"h\": 1}}}",
         "ev.jsonl:1: event.headers.h: expected a string"},
        {"\n\n{\"call\": ", "ev.jsonl:3: invalid JSON"},
        {"{\"sleep_ms\": -1}", "ev.jsonl:1: sleep_ms: expected 0..600000"},
        {"{\"event\": {\"topic\": \"hooks.other\"}}",
         "ev.jsonl:1: event.topic: plugin demo does not subscribe to \"hooks.other\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        script s;
        char err[600];
        assert_int_equal(parse(cases[i].text, &s, err, sizeof(err)), -1);
        if (strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
            fail_msg("\"%s\" does not start with \"%s\"", err, cases[i].err);
        assert_int_equal(s.n, 0);
    }
}

static replay *load(const char *text)
{
    replay *r;
    char err[600];
    if (replay_parse("http.jsonl", text, strlen(text), &r, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    return r;
}

static json_t *request(const char *method, const char *url, const char *header, const char *body)
{
    json_t *q = json_pack("{s:s,s:s,s:[]}", "method", method, "url", url, "headers");
    if (header) json_array_append_new(json_object_get(q, "headers"), json_string(header));
    if (body) json_object_set_new(q, "body", json_string(body));
    return q;
}

static int match(replay *r, const char *method, const char *url, const char *header,
                 const char *body)
{
    json_t *q = request(method, url, header, body);
    int i = replay_match(r, q);
    json_decref(q);
    return i;
}

static void test_replay_matches_method_url_headers_and_body_once_in_order(void **state)
{
    (void)state;
    replay *r =
        load("{\"request\": {\"url\": \"https://a/x\"}, \"response\": {\"status\": 200, \"body\": "
             "\"first\"}}\n"
             "{\"request\": {\"url\": \"https://a/x\"}, \"response\": {\"status\": 201}}\n"
             "{\"request\": {\"method\": \"POST\", \"url\": \"https://a/p\", \"headers\": "
             "{\"Authorization\": \"Bearer k\"}, \"json\": {\"a\": 1}}, \"response\": {\"status\": "
             "202}, \"repeat\": true}\n");
    assert_int_equal(match(r, "GET", "https://a/x", NULL, NULL), 0);
    assert_int_equal(match(r, "get", "https://a/x", NULL, NULL), 1);
    assert_int_equal(match(r, "GET", "https://a/x", NULL, NULL), -1); /* both used */
    assert_int_equal(match(r, "GET", "https://a/x?y", NULL, NULL), -1);
    assert_int_equal(match(r, "POST", "https://a/p", "authorization:  Bearer k", "{\"a\":1}"), 2);
    assert_int_equal(match(r, "POST", "https://a/p", "Authorization: Bearer k", "{ \"a\" : 1 }"),
                     2);
    assert_int_equal(match(r, "POST", "https://a/p", "Authorization: Bearer z", "{\"a\":1}"), -1);
    assert_int_equal(match(r, "POST", "https://a/p", "Authorization: Bearer k", "{\"a\":2}"), -1);
    assert_int_equal(match(r, "POST", "https://a/p", NULL, "{\"a\":1}"), -1);
    json_t *unused = replay_unused(r);
    assert_int_equal(json_array_size(unused), 0);
    json_decref(unused);
    replay_free(r);
}

static void test_replay_answers_as_the_runtime_expects(void **state)
{
    (void)state;
    replay *r =
        load("{\"request\": {\"url\": \"u1\"}, \"response\": {\"status\": 200, \"headers\": "
             "{\"Content-Type\": \"application/json\"}, \"json\": {\"t\": 18.5}}}\n"
             "{\"request\": {\"url\": \"u2\"}, \"response\": {\"status\": 200, \"chunks\": "
             "[\"data: a\\n\\n\", \"data: b\\n\\n\"]}}\n"
             "{\"request\": {\"url\": \"u3\"}, \"error\": {\"code\": \"timeout\", \"message\": "
             "\"slow\"}}\n"
             "{\"request\": {\"url\": \"u4\"}, \"response\": {\"status\": 200, \"body_b64\": "
             "\"AP8=\"}}\n"
             "{\"request\": {\"url\": \"u5\"}, \"response\": {\"status\": 404, \"chunks\": "
             "[\"no \", \"such\"]}}\n");
    json_t *chunks;
    json_t *a = replay_answer(r, 0, false, &chunks);
    assert_null(chunks);
    assert_int_equal(json_integer_value(json_object_get(a, "status")), 200);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(a, "headers"), "content-type")),
        "application/json");
    assert_string_equal(json_string_value(json_object_get(a, "body")), "{\"t\":18.5}");
    json_decref(a);
    /* Streamed: chunks as frames, no body; not streamed: joined. */
    a = replay_answer(r, 1, true, &chunks);
    assert_int_equal(json_array_size(chunks), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(chunks, 1), "data")),
                        "data: b\n\n");
    assert_null(json_object_get(a, "body"));
    json_decref(a);
    json_decref(chunks);
    a = replay_answer(r, 1, false, &chunks);
    assert_string_equal(json_string_value(json_object_get(a, "body")), "data: a\n\ndata: b\n\n");
    json_decref(a);
    a = replay_answer(r, 2, false, &chunks);
    json_t *e = json_object_get(a, "error");
    assert_int_equal(json_integer_value(json_object_get(e, "errno")), AH_ETIMEDOUT);
    assert_string_equal(json_string_value(json_object_get(e, "code")), "timeout");
    json_decref(a);
    a = replay_answer(r, 3, false, &chunks);
    assert_string_equal(json_string_value(json_object_get(a, "body_b64")), "AP8=");
    json_decref(a);
    /* A non-2xx body is never streamed, as the broker does. */
    a = replay_answer(r, 4, true, &chunks);
    assert_null(chunks);
    assert_string_equal(json_string_value(json_object_get(a, "body")), "no such");
    json_decref(a);
    json_t *q = request("GET", "nowhere", NULL, NULL);
    a = replay_unmatched(q);
    assert_string_equal(json_string_value(json_object_get(json_object_get(a, "error"), "code")),
                        "unmatched");
    assert_string_equal(json_string_value(json_object_get(json_object_get(a, "error"), "message")),
                        "no recorded response for GET nowhere");
    json_decref(a);
    json_decref(q);
    json_t *unused = replay_unused(r);
    assert_int_equal(json_array_size(unused), 5);
    json_decref(unused);
    replay_free(r);
}

static void test_replay_errors_name_the_line_and_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *text, *err;
    } cases[] = {
        {"{\"request\": {\"url\": \"u\"}}", "http.jsonl:1: exactly one of \"response\" and"},
        {"\n{\"request\": {}, \"response\": {\"status\": 200}}", "http.jsonl:2: request.url"},
        {"{\"request\": {\"url\": \"u\"}, \"response\": {\"status\": 99}}",
         "http.jsonl:1: response.status"},
        {"{\"request\": {\"url\": \"u\"}, \"response\": {\"status\": 200, \"body\": \"a\", "
         "\"json\": 1}}",
         "http.jsonl:1: response: at most one of"},
        {"{\"request\": {\"url\": \"u\"}, \"response\": {\"status\": 200, \"body_b64\": \"!\"}}",
         "http.jsonl:1: response.body_b64"},
        {"{\"request\": {\"url\": \"u\", \"verb\": \"GET\"}, \"response\": {\"status\": 200}}",
         "http.jsonl:1: request.verb: unknown field"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        replay *r;
        char err[600];
        assert_int_equal(
            replay_parse("http.jsonl", cases[i].text, strlen(cases[i].text), &r, err, sizeof(err)),
            -1);
        if (strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
            fail_msg("\"%s\" does not start with \"%s\"", err, cases[i].err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_script_items_become_deliveries_calls_and_sleeps),
        cmocka_unit_test(test_script_errors_name_the_line_and_the_field),
        cmocka_unit_test(test_replay_matches_method_url_headers_and_body_once_in_order),
        cmocka_unit_test(test_replay_answers_as_the_runtime_expects),
        cmocka_unit_test(test_replay_errors_name_the_line_and_the_field),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
