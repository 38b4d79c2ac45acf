/* The llm-openai plugin's SSE parser and answer assembly
 * (plugins/llm-openai/sse.c, chat.c, request.c) on the recorded streams. */
#include "cmocka_pre.h"

#include "../../plugins/llm-openai/chat.h"
#include "../../plugins/llm-openai/request.h"
#include "../../plugins/llm-openai/sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/fixtures/openai/%s", TH_SOURCE_DIR, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = 0;
    fclose(f);
    return b;
}

typedef struct events {
    json_t *list; /* [{"event", "data"}] */
} events;

static int on_event(void *ud, const char *event, const char *data, size_t len)
{
    events *e = ud;
    json_array_append_new(e->list, json_pack("{s:s,s:s%}", "event", event, "data", data, len));
    return 0;
}

static json_t *parse_in_pieces(const char *text, size_t piece)
{
    sse_parser p;
    sse_init(&p, 1 << 16);
    events e = {json_array()};
    size_t n = strlen(text);
    for (size_t off = 0; off < n; off += piece)
        assert_int_equal(sse_feed(&p, text + off, off + piece > n ? n - off : piece, on_event, &e),
                         0);
    sse_free(&p);
    return e.list;
}

static void test_recorded_stream_parses_the_same_whatever_the_split(void **s)
{
    (void)s;
    char *text = slurp("stream_text_turn2.sse");
    json_t *whole = parse_in_pieces(text, strlen(text));
    assert_int_equal(json_array_size(whole), 12); /* 11 chunks and [DONE] */
    assert_string_equal(json_string_value(json_object_get(json_array_get(whole, 11), "data")),
                        "[DONE]");
    for (size_t piece = 1; piece < 64; piece++) {
        json_t *split = parse_in_pieces(text, piece);
        assert_true(json_equal(whole, split));
        json_decref(split);
    }
    json_decref(whole);
    free(text);
}

static void test_line_ends_comments_bom_and_multiline_data(void **s)
{
    (void)s;
    const char *text = "\xEF\xBB\xBF: OPENROUTER PROCESSING\r\n\r\n"
                       "event: delta\r\ndata: one\r\ndata:two\r\r"
                       "id: 7\nretry: 10\ndata: three\n\n"
                       "data: unfinished";
    sse_parser p;
    sse_init(&p, 1024);
    events e = {json_array()};
    /* CRLF split across pieces: "\r" | "\n". */
    size_t n = strlen(text);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(sse_feed(&p, text + i, 1, on_event, &e), 0);
    assert_int_equal(json_array_size(e.list), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(e.list, 0), "event")),
                        "delta");
    assert_string_equal(json_string_value(json_object_get(json_array_get(e.list, 0), "data")),
                        "one\ntwo");
    assert_string_equal(json_string_value(json_object_get(json_array_get(e.list, 1), "event")),
                        "message");
    assert_int_equal(p.comments, 1);
    assert_true(sse_pending(&p)); /* "data: unfinished" never ended */
    sse_free(&p);
    json_decref(e.list);
}

static void test_over_long_lines_fail_and_stay_failed(void **s)
{
    (void)s;
    sse_parser p;
    sse_init(&p, 64);
    events e = {json_array()};
    char big[200];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    assert_int_equal(sse_feed(&p, "data: ", 6, on_event, &e), 0);
    assert_int_equal(sse_feed(&p, big, strlen(big), on_event, &e), -1);
    assert_int_equal(sse_feed(&p, "\n\n", 2, on_event, &e), -1);
    assert_int_equal(json_array_size(e.list), 0);
    sse_free(&p);
    json_decref(e.list);
}

typedef struct acc_run {
    chat_acc acc;
    json_t *partials;
    int rc;
} acc_run;

static void on_delta(void *ud, const json_t *partial)
{
    acc_run *r = ud;
    json_array_append(r->partials, (json_t *)partial);
}

static int feed_acc(void *ud, const char *event, const char *data, size_t len)
{
    (void)event;
    acc_run *r = ud;
    r->rc = chat_acc_event(&r->acc, data, len, on_delta, r);
    return r->rc;
}

static json_t *assemble(const char *text, acc_run *r)
{
    chat_acc_init(&r->acc);
    r->partials = json_array();
    sse_parser p;
    sse_init(&p, 1 << 16);
    for (size_t off = 0, n = strlen(text); off < n; off += 7)
        if (sse_feed(&p, text + off, off + 7 > n ? n - off : 7, feed_acc, r)) break;
    sse_free(&p);
    return chat_acc_result(&r->acc);
}

static void test_text_deltas_and_final_usage_chunk_assemble(void **s)
{
    (void)s;
    char *text = slurp("stream_text_turn2.sse");
    acc_run r;
    json_t *res = assemble(text, &r);
    assert_non_null(res);
    assert_string_equal(json_string_value(json_object_get(res, "content")),
                        "The capital of the UK is London.");
    assert_string_equal(json_string_value(json_object_get(res, "finish_reason")), "stop");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(res, "usage"), "total_tokens")), 87);
    assert_int_equal(json_array_size(r.partials), 8); /* one per non-empty text delta */
    json_decref(res);
    json_decref(r.partials);
    chat_acc_free(&r.acc);
    free(text);
}

static void test_tool_call_argument_fragments_join(void **s)
{
    (void)s;
    char *text = slurp("stream_tool_call_turn1.sse");
    acc_run r;
    json_t *res = assemble(text, &r);
    json_t *tc = json_array_get(json_object_get(res, "tool_calls"), 0);
    assert_string_equal(json_string_value(json_object_get(tc, "name")), "get_capital");
    assert_string_equal(json_string_value(json_object_get(tc, "arguments")),
                        "{\"country\":\"UK\"}");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(tc, "arguments_json"), "country")), "UK");
    assert_true(json_is_null(json_object_get(res, "content")));
    json_decref(res);
    json_decref(r.partials);
    chat_acc_free(&r.acc);
    free(text);
}

static void test_error_event_under_200_and_cut_streams_are_not_answers(void **s)
{
    (void)s;
    acc_run r;
    json_t *res = assemble(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"
        "data: {\"error\":{\"code\":502,\"message\":\"Provider disconnected\"},"
        "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"error\"}]}\n\n",
        &r);
    assert_null(res);
    assert_int_equal(r.rc, 1);
    assert_string_equal(llm_code_for_error(r.acc.error), "provider_error");
    json_decref(r.partials);
    chat_acc_free(&r.acc);
    /* Cut before finish_reason and [DONE]. */
    res = assemble("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n", &r);
    assert_null(res);
    assert_non_null(strstr(r.acc.why, "mid-answer"));
    json_decref(r.partials);
    chat_acc_free(&r.acc);
    res = assemble("data: not json\n\n", &r);
    assert_null(res);
    assert_int_equal(r.rc, -1);
    json_decref(r.partials);
    chat_acc_free(&r.acc);
}

static void test_whole_answers_parse_and_errors_are_classified(void **s)
{
    (void)s;
    char *ex = slurp("exchanges.json");
    json_t *all = json_loads(ex, 0, NULL);
    json_t *body = json_object_get(json_object_get(json_array_get(all, 2), "response"), "body");
    char *text = json_dumps(body, 0);
    json_t *err = NULL;
    char why[200];
    json_t *res = chat_parse(text, strlen(text), &err, why, sizeof(why));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(res, "tool_calls"), 0), "name")),
                        "get_capital");
    json_decref(res);
    free(text);
    const char * or = "{\"error\":{\"code\":429,\"message\":\"slow down\"}}";
    assert_null(chat_parse(or, strlen(or), &err, why, sizeof(why)));
    assert_string_equal(llm_code_for_error(err), "rate_limited");
    json_decref(err);
    assert_null(chat_parse("{\"choices\":[", 12, &err, why, sizeof(why)));
    assert_null(err);
    assert_string_equal(llm_code_for_status(401), "auth");
    assert_string_equal(llm_code_for_status(402), "provider_error");
    assert_string_equal(llm_code_for_status(429), "rate_limited");
    assert_string_equal(llm_code_for_status(504), "timeout");
    assert_string_equal(llm_code_for_status(400), "invalid_request");
    assert_string_equal(llm_code_for_broker("circuit_open"), "circuit_open");
    assert_string_equal(llm_code_for_broker("refused"), "refused");
    assert_string_equal(llm_code_for_broker("too_large"), "bad_response");
    json_decref(all);
    free(ex);
}

static void test_request_body_carries_system_prompt_tools_and_json_schema(void **s)
{
    (void)s;
    json_t *config = json_loads("{\"system_prompt\":\"Be brief.\",\"max_tokens\":99,"
                                "\"max_tokens_param\":\"max_completion_tokens\","
                                "\"extra_body\":{\"provider\":{\"order\":[\"x\"]}}}",
                                0, NULL);
    json_t *args = json_loads(
        "{\"prompt\":\"Hi\",\"tools\":[{\"name\":\"f\",\"parameters\":{\"type\":\"object\"}}],"
        "\"json_schema\":{\"schema\":{\"type\":\"object\"}}}",
        0, NULL);
    char err[200];
    json_t *b = llm_chat_body(args, config, "m", true, err, sizeof(err));
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(b, "messages"), 0), "content")),
                        "Be brief.");
    assert_int_equal(json_integer_value(json_object_get(b, "max_completion_tokens")), 99);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(b, "tools"), 0), "function"), "name")),
        "f");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(b, "response_format"), "type")),
        "json_schema");
    assert_non_null(json_object_get(b, "provider"));
    assert_true(
        json_is_true(json_object_get(json_object_get(b, "stream_options"), "include_usage")));
    json_decref(b);
    json_decref(args);
    args = json_loads("{\"messages\":[{\"content\":\"no role\"}]}", 0, NULL);
    assert_null(llm_chat_body(args, config, "m", false, err, sizeof(err)));
    assert_non_null(strstr(err, "role"));
    json_decref(args);
    json_decref(config);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recorded_stream_parses_the_same_whatever_the_split),
        cmocka_unit_test(test_line_ends_comments_bom_and_multiline_data),
        cmocka_unit_test(test_over_long_lines_fail_and_stay_failed),
        cmocka_unit_test(test_text_deltas_and_final_usage_chunk_assemble),
        cmocka_unit_test(test_tool_call_argument_fragments_join),
        cmocka_unit_test(test_error_event_under_200_and_cut_streams_are_not_answers),
        cmocka_unit_test(test_whole_answers_parse_and_errors_are_classified),
        cmocka_unit_test(test_request_body_carries_system_prompt_tools_and_json_schema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
