/*
 * `agenthost plugin run` as an author uses it: recorded HTTP answers
 * (unmatched, streamed), events left unsettled, a crash, a publish the
 * manifest does not allow, async items, secrets kept out of the output,
 * bad input files refused before anything runs, and output that is the
 * same from one run to the next.
 */
#include "../support/kit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define FIXTURES TH_SOURCE_DIR "/tests/fixtures/plugins"
#define ABI10 TH_BUILD_DIR "/tests/plugins/abi10/manifest.json"
#define ECHO TH_BUILD_DIR "/plugins/echo/manifest.json"
#define MAILPROBE TH_BUILD_DIR "/tests/plugins/mailprobe/manifest.json"
#define PKGTEST TH_BUILD_DIR "/tests/plugins/pkgtest-1.0.0/manifest.json"
#define RELAY TH_BUILD_DIR "/tests/plugins/relay/manifest.json"

static char tmp[512];

static const char *in_tmp(const char *name, const char *content)
{
    static char paths[8][700];
    static int k;
    k = (k + 1) % 8;
    snprintf(paths[k], sizeof(paths[k]), "%s/%s", tmp, name);
    if (content) kit_write(paths[k], content);
    return paths[k];
}

static int setup(void **state)
{
    (void)state;
    return kit_tmpdir("harness", tmp, sizeof(tmp));
}

static int teardown(void **state)
{
    (void)state;
    kit_rmtree(tmp);
    return 0;
}

/* Run the harness; returns the parsed lines (and the exit status in *rc). */
static json_t *run(int *rc, kit_out *r, const char *manifest, const char *events,
                   const char *extra1, const char *extra2, const char *extra3, const char *extra4)
{
    kit_runl(r, NULL, NULL, KIT_AGENTHOST, "plugin", "run", manifest, "--events", events, extra1,
             extra2, extra3, extra4, NULL);
    *rc = r->status;
    return kit_lines(r->out);
}

static json_t *result_of(json_t *l, const char *action)
{
    return json_object_get(kit_find(l, "reply", "action", action), "result");
}

/* The harness runs the plugin through the real sandbox runner: its record
 * of confinement is among the lines, with both filters' first in force. */
static void test_the_plugin_runs_confined_in_the_harness(void **state)
{
    (void)state;
    const char *ev = in_tmp("confined.jsonl", "{\"call\": {\"action\": \"tick\"}}\n");
    kit_out r;
    int rc;
    json_t *l = run(&rc, &r, ABI10, ev, NULL, NULL, NULL, NULL);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(r.out, "confinement before loading the plugin"));
    assert_non_null(strstr(r.out, "\\\"sandbox\\\":true"));
    assert_non_null(strstr(r.out, "\\\"seccomp_filters\\\":1"));
    assert_null(strstr(r.out, "\\\"sandbox\\\":false"));
    json_decref(l);
    kit_out_free(&r);
}

/* The plugin's own folder is private (mode 0700, as `mktemp -d` makes it):
 * a runner that drops to the unprivileged user still loads the library,
 * fully confined. */
static void test_a_plugin_in_a_private_folder_of_its_own_loads(void **state)
{
    (void)state;
    char dir[700];
    snprintf(dir, sizeof(dir), "%s/private", tmp);
    assert_int_equal(kit_copy_tree(TH_BUILD_DIR "/tests/plugins/abi10", dir), 0);
    assert_int_equal(chmod(dir, 0700), 0);
    const char *ev = in_tmp("private.jsonl", "{\"call\": {\"action\": \"tick\"}}\n");
    kit_out r;
    int rc;
    json_t *l = run(&rc, &r, in_tmp("private/manifest.json", NULL), ev, NULL, NULL, NULL, NULL);
    if (rc != 0) fprintf(stderr, "%s\n%s\n", r.out, r.err);
    assert_int_equal(rc, 0);
    assert_non_null(kit_find(l, "ready", NULL, NULL));
    assert_null(strstr(r.out, "Permission denied"));
    json_decref(l);
    kit_out_free(&r);
}

static void test_unmatched_http_request_is_an_error_the_plugin_sees_and_is_printed(void **state)
{
    (void)state;
    const char *ev =
        in_tmp("unmatched.jsonl", "{\"call\": {\"action\": \"fetch\", \"args\": {\"url\": "
                                  "\"https://example.com/missing\"}}}\n");
    kit_out r;
    int rc;
    json_t *l = run(&rc, &r, ABI10, ev, "--http", FIXTURES "/abi10/http.jsonl", NULL, NULL);
    assert_int_equal(rc, 1);
    json_t *h = kit_find(l, "http", "url", "https://example.com/missing");
    assert_non_null(h);
    assert_true(json_is_true(json_object_get(h, "unmatched")));
    assert_string_equal(json_string_value(json_object_get(h, "error")),
                        "no recorded response for GET https://example.com/missing");
    json_t *res = result_of(l, "fetch");
    assert_string_equal(json_string_value(json_object_get(res, "error")), "unmatched");
    assert_int_equal(json_integer_value(json_object_get(res, "status")), 0);
    json_t *s = kit_find(l, "summary", NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(s, "unmatched")), 1);
    assert_false(json_is_true(json_object_get(s, "ok")));
    /* The recorded response nobody asked for is pointed out. */
    assert_int_equal(json_integer_value(json_array_get(json_object_get(s, "unused_responses"), 0)),
                     1);
    json_decref(l);
    kit_out_free(&r);
}

static void test_streamed_response_reaches_the_plugin_in_chunks(void **state)
{
    (void)state;
    const char *http = in_tmp("stream.http.jsonl",
                              "{\"request\": {\"url\": \"https://example.com/sse\"}, "
                              "\"response\": {\"status\": 200, \"chunks\": [\"data: 1\\n\\n\", "
                              "\"data: 2\\n\\n\", \"data: [DONE]\\n\\n\"]}, \"delay_ms\": 50}\n");
    const char *ev = in_tmp("stream.jsonl", "{\"call\": {\"action\": \"fetch_stream\", \"args\": "
                                            "{\"url\": \"https://example.com/sse\"}}}\n");
    kit_out r;
    int rc;
    json_t *l = run(&rc, &r, ABI10, ev, "--http", http, NULL, NULL);
    if (rc != 0) fail_msg("%s%s", r.out, r.err);
    assert_true(json_is_true(json_object_get(kit_find(l, "http", NULL, NULL), "stream")));
    json_t *res = result_of(l, "fetch_stream");
    assert_int_equal(json_integer_value(json_object_get(res, "chunks")), 3);
    assert_string_equal(json_string_value(json_object_get(res, "body")),
                        "data: 1\n\ndata: 2\n\ndata: [DONE]\n\n");
    json_decref(l);
    kit_out_free(&r);
}

static void test_event_never_settled_times_out_and_fails_the_run(void **state)
{
    (void)state;
    const char *ev = in_tmp("hold.jsonl", "{\"event\": {\"topic\": \"abi10.in\", \"body\": "
                                          "{\"hold\": true}}}\n"
                                          "{\"event\": {\"topic\": \"abi10.in\", \"body\": {}}}\n");
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    kit_out r;
    int rc;
    json_t *l = run(&rc, &r, ABI10, ev, "--timeout", "300", NULL, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_int_equal(rc, 1);
    json_t *t = kit_find(l, "timeout", NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(t, "line")), 1);
    assert_non_null(kit_find(l, "ack", "id", "line-2")); /* the run went on */
    json_t *s = kit_find(l, "summary", NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(s, "unsettled")), 1);
    assert_int_equal(json_integer_value(json_object_get(s, "acked")), 1);
    assert_true(b.tv_sec - a.tv_sec < 10);
    json_decref(l);
    kit_out_free(&r);
}

static void test_crash_is_reported_and_ends_the_run(void **state)
{
    (void)state;
    const char *cfg = in_tmp("diag.json", "{\"diagnostics\": true}");
    const char *ev = in_tmp("crash.jsonl", "{\"call\": {\"action\": \"crash\"}}\n"
                                           "{\"call\": {\"action\": \"echo\"}}\n");
    kit_out r;
    int rc;
    json_t *l = run(&rc, &r, ECHO, ev, "--config", cfg, NULL, NULL);
    assert_int_equal(rc, 1);
    json_t *reply = kit_find(l, "reply", "action", "crash");
    assert_string_equal(json_string_value(json_object_get(json_object_get(reply, "error"), "code")),
                        "instance_crashed");
    json_t *c = kit_find(l, "crash", NULL, NULL);
    assert_non_null(c);
    assert_non_null(strstr(json_string_value(json_object_get(c, "reason")), "signal 11"));
    assert_null(kit_find(l, "reply", "action", "echo")); /* line 2 never ran */
    json_t *s = kit_find(l, "summary", NULL, NULL);
    assert_true(json_is_true(json_object_get(s, "crashed")));
    assert_int_equal(json_integer_value(json_object_get(s, "unanswered")), 1);
    json_decref(l);
    kit_out_free(&r);
}

static void test_publish_the_manifest_does_not_declare_is_denied(void **state)
{
    (void)state;
    const char *ev = in_tmp("deny.jsonl", "{\"call\": {\"action\": \"publish\", \"args\": "
                                          "{\"topic\": \"billing.charged\", \"body\": 1}}}\n");
    kit_out r;
    int rc;
    json_t *l = run(&rc, &r, ECHO, ev, NULL, NULL, NULL, NULL);
    assert_int_equal(rc, 1);
    json_t *p = kit_find(l, "publish", "topic", "billing.charged");
    assert_true(json_is_true(json_object_get(p, "denied")));
    json_t *reply = kit_find(l, "reply", "action", "publish");
    assert_string_equal(json_string_value(json_object_get(json_object_get(reply, "error"), "code")),
                        "publish_failed");
    assert_int_equal(
        json_integer_value(json_object_get(kit_find(l, "summary", NULL, NULL), "denied")), 1);
    json_decref(l);
    kit_out_free(&r);
}

/* Echo's host->commit (ABI 1.6) in the harness, as the host answers it: a
 * taken commit prints its publish, then its event's ack; a refused one (a
 * topic the manifest does not declare, with an echo.out event beside it)
 * prints its publishes refused (the undeclared one denied) and a nack,
 * and publishes nothing of it. */
static void test_a_commit_prints_its_publishes_then_the_ack_or_a_nack_when_refused(void **state)
{
    (void)state;
    const char *ev =
        in_tmp("commit.jsonl", "{\"event\": {\"topic\": \"echo.in\", \"body\": {\"n\": 1}}}\n"
                               "{\"event\": {\"topic\": \"echo.in\", \"body\": "
                               "{\"commit_topic\": \"crm.lead\", \"commit_count\": 2}}}\n");
    const char *cfg = in_tmp("diag.json", "{\"diagnostics\": true}");
    kit_out r;
    int rc;
    json_t *l = run(&rc, &r, ECHO, ev, "--config", cfg, NULL, NULL);
    assert_int_equal(rc, 1); /* the denied publish */
    size_t i, publish_at = 0, ack_at = 0, out = 0;
    json_t *o;
    json_array_foreach(l, i, o)
    {
        const char *type = json_string_value(json_object_get(o, "type"));
        const char *topic = json_string_value(json_object_get(o, "topic"));
        if (!strcmp(type ?: "", "publish") && !strcmp(topic ?: "", "echo.out") &&
            !json_object_get(o, "error")) {
            out++;
            publish_at = i;
        }
        if (!strcmp(type ?: "", "ack")) ack_at = i;
    }
    /* The refused commit's echo.out event is printed refused with it. */
    assert_int_equal(out, 1);
    assert_true(publish_at > 0 && ack_at > publish_at);
    assert_non_null(kit_find(l, "ack", "id", "line-1"));
    assert_non_null(kit_find(l, "nack", "id", "line-2"));
    assert_null(kit_find(l, "ack", "id", "line-2"));
    assert_true(
        json_is_true(json_object_get(kit_find(l, "publish", "topic", "crm.lead"), "denied")));
    json_decref(l);
    kit_out_free(&r);
}

static void test_async_items_do_not_wait_and_all_settle(void **state)
{
    (void)state;
    const char *ev = in_tmp("async.jsonl",
                            "{\"call\": {\"action\": \"sleep\", \"args\": {\"ms\": 300}}, "
                            "\"async\": true}\n"
                            "{\"event\": {\"topic\": \"echo.in\", \"body\": 1}, \"async\": true}\n"
                            "{\"event\": {\"topic\": \"echo.in\", \"body\": 2}, \"async\": true}\n"
                            "{\"call\": {\"action\": \"echo\", \"args\": {\"n\": 3}}}\n");
    kit_out r;
    int rc;
    json_t *l = run(&rc, &r, ECHO, ev, NULL, NULL, NULL, NULL);
    if (rc != 0) fail_msg("%s%s", r.out, r.err);
    /* The sleeping call answers last although it came first. */
    size_t i, sleep_at = 0, echo_at = 0;
    json_t *o;
    json_array_foreach(l, i, o)
    {
        const char *a = json_string_value(json_object_get(o, "action"));
        if (a && !strcmp(a, "sleep")) sleep_at = i;
        if (a && !strcmp(a, "echo")) echo_at = i;
    }
    assert_true(echo_at > 0 && sleep_at > echo_at);
    json_t *s = kit_find(l, "summary", NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(s, "acked")), 2);
    assert_int_equal(json_integer_value(json_object_get(s, "replied")), 2);
    json_decref(l);
    kit_out_free(&r);
}

static void test_secrets_reach_the_plugin_but_never_the_output(void **state)
{
    (void)state;
    const char *sec = in_tmp("secrets.json", "{\"token\": \"hunter2-secret-token\"}");
    const char *ev = in_tmp("sec.jsonl", "{\"call\": {\"action\": \"secret.check\", \"args\": "
                                         "{\"name\": \"token\", \"equals\": "
                                         "\"hunter2-secret-token\"}}}\n"
                                         "{\"call\": {\"action\": \"log\", \"args\": {\"message\": "
                                         "\"the token is hunter2-secret-token\"}}}\n");
    kit_out r;
    int rc;
    json_t *l = run(&rc, &r, ECHO, ev, "--secrets", sec, NULL, NULL);
    assert_int_equal(rc, 0);
    assert_true(json_is_true(json_object_get(result_of(l, "secret.check"), "equals")));
    assert_non_null(kit_find(l, "log", "msg", "the token is [REDACTED]"));
    assert_null(strstr(r.out, "hunter2"));
    json_decref(l);
    kit_out_free(&r);
}

/* A mail request (ADR 0034) is judged and replayed like an HTTP one, and
 * its login, which no secret spells out (base64 of user:password), is
 * masked in the record of the request. */
static void test_mail_requests_replay_with_the_login_masked(void **state)
{
    (void)state;
    const char *cfg = in_tmp("mail.config.json", "{\"smtp_url\": \"smtps://smtp.example.com\","
                                                 " \"imap_url\": \"imaps://imap.example.com\"}");
    const char *sec = in_tmp("mail.secrets.json", "{\"imap_user\": \"agent@example.com\","
                                                  " \"imap_password\": \"Mail-Pa55word\"}");
    const char *http = in_tmp("mail.http.jsonl",
                              "{\"request\": {\"method\": \"UID SEARCH UNSEEN\", \"url\": "
                              "\"imaps://imap.example.com/INBOX\"}, \"response\": {\"status\": 0, "
                              "\"body\": \"* SEARCH 41 42\\r\\n\"}}\n");
    const char *ev =
        in_tmp("mail.jsonl",
               "{\"call\": {\"action\": \"mail\", \"args\": {\"method\": \"UID SEARCH UNSEEN\", "
               "\"url\": \"imaps://imap.example.com/INBOX\", \"login\": true}}}\n"
               "{\"call\": {\"action\": \"mail\", \"args\": {\"method\": \"SEND\", "
               "\"url\": \"smtps://smtp.elsewhere.example\", \"headers\": [\"Mail-From: <a@b.c>\", "
               "\"Rcpt-To: <d@e.f>\"], \"body\": \"Subject: x\\r\\n\\r\\nx\\r\\n\"}}}\n");
    kit_out r;
    kit_runl(&r, NULL, NULL, KIT_AGENTHOST, "plugin", "run", MAILPROBE, "--events", ev, "--config",
             cfg, "--secrets", sec, "--http", http, NULL);
    json_t *l = kit_lines(r.out);
    assert_int_equal(r.status, 1); /* the refused request fails the run */
    assert_non_null(strstr(r.out, "* SEARCH 41 42"));
    assert_non_null(strstr(r.out, "Authorization: [REDACTED]"));
    assert_non_null(strstr(r.out, "smtp.elsewhere.example"));
    assert_non_null(strstr(r.out, "refused"));
    /* base64("agent@example.com:Mail-Pa55word") */
    assert_null(strstr(r.out, "YWdlbnRAZXhhbXBsZS5jb206TWFpbC1QYTU1d29yZA"));
    assert_null(strstr(r.out, "Mail-Pa55word"));
    json_decref(l);
    kit_out_free(&r);
}

static void test_bad_input_files_are_refused_before_anything_runs(void **state)
{
    (void)state;
    const char *ev = in_tmp("bad.jsonl", "{\"call\": {\"action\": \"echo\"}}\n"
                                         "{\"call\": {\"action\": \"no.such\"}}\n");
    kit_out r;
    int rc;
    json_t *l = run(&rc, &r, ECHO, ev, NULL, NULL, NULL, NULL);
    assert_int_equal(rc, 2);
    assert_int_equal(json_array_size(l), 0);
    assert_non_null(strstr(r.err, "bad.jsonl:2: call.action: \"no.such\" is not an action"));
    json_decref(l);
    kit_out_free(&r);
    const char *good = in_tmp("good.jsonl", "{\"call\": {\"action\": \"echo\"}}\n");
    const char *http = in_tmp("bad.http.jsonl", "{\"request\": {\"url\": \"u\"}}\n");
    l = run(&rc, &r, ECHO, good, "--http", http, NULL, NULL);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(r.err, "bad.http.jsonl:1: exactly one of"));
    json_decref(l);
    kit_out_free(&r);
    const char *cfg = in_tmp("bad-config.json", "{\"greeting\": 42}");
    l = run(&rc, &r, ECHO, good, "--config", cfg, NULL, NULL);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(r.err, "bad-config.json: instance echo: config: greeting"));
    json_decref(l);
    kit_out_free(&r);
}

static void test_request_outside_the_egress_allowlist_is_refused_as_the_broker_would(void **state)
{
    (void)state;
    const char *http = in_tmp(
        "evil.http.jsonl", "{\"request\": {\"url\": \"https://evil.example.net/x\"}, "
                           "\"response\": {\"status\": 200, \"body\": \"should not get this\"}}\n");
    const char *ev = in_tmp("evil.jsonl", "{\"call\": {\"action\": \"fetch\", \"args\": {\"url\": "
                                          "\"https://evil.example.net/x\"}}}\n");
    kit_out r;
    int rc;
    json_t *l = run(&rc, &r, ABI10, ev, "--http", http, NULL, NULL);
    assert_int_equal(rc, 1);
    json_t *h = kit_find(l, "http", "url", "https://evil.example.net/x");
    assert_true(json_is_true(json_object_get(h, "refused")));
    assert_string_equal(json_string_value(json_object_get(h, "error")),
                        "egress to https://evil.example.net:443 refused: destination not in the "
                        "manifest's egress allowlist");
    json_t *res = result_of(l, "fetch");
    assert_string_equal(json_string_value(json_object_get(res, "error")), "refused");
    assert_int_equal(
        json_integer_value(json_object_get(kit_find(l, "summary", NULL, NULL), "refused")), 1);
    json_decref(l);
    kit_out_free(&r);
}

static void test_partial_results_and_shared_log_records_are_printed(void **state)
{
    (void)state;
    const char *ev =
        in_tmp("count.jsonl", "{\"call\": {\"action\": \"count\", \"args\": {\"n\": 3}}}\n"
                              "{\"call\": {\"action\": \"record\"}}\n");
    kit_out r;
    int rc;
    json_t *l = run(&rc, &r, PKGTEST, ev, NULL, NULL, NULL, NULL);
    if (rc != 0) fail_msg("%s%s", r.out, r.err);
    /* Three partials, in order, then the reply. */
    size_t i, k = 0, reply_at = 0;
    json_t *o;
    json_array_foreach(l, i, o)
    {
        const char *t = json_string_value(json_object_get(o, "type"));
        if (!strcmp(t, "partial")) {
            assert_int_equal(
                json_integer_value(json_object_get(json_object_get(o, "partial"), "i")),
                (json_int_t)++k);
            assert_int_equal(reply_at, 0);
        }
        if (!strcmp(t, "reply") && !reply_at) reply_at = i;
    }
    assert_int_equal(k, 3);
    json_t *rec = kit_find(l, "log", "channel", "llm");
    assert_non_null(rec);
    assert_string_equal(json_string_value(json_object_get(rec, "msg")), "a completion");
    json_decref(l);
    kit_out_free(&r);
}

static void test_two_runs_print_the_same_lines(void **state)
{
    (void)state;
    kit_out a, b;
    int rc;
    const char *sec = in_tmp("abi10-secrets.json", "{\"token\": \"t0k3n-abc\"}");
    json_decref(run(&rc, &a, ABI10, FIXTURES "/abi10/events.jsonl", "--http",
                    FIXTURES "/abi10/http.jsonl", "--secrets", sec));
    assert_int_equal(rc, 0);
    json_decref(run(&rc, &b, ABI10, FIXTURES "/abi10/events.jsonl", "--http",
                    FIXTURES "/abi10/http.jsonl", "--secrets", sec));
    assert_int_equal(rc, 0);
    assert_string_equal(a.out, b.out);
    kit_out_free(&a);
    kit_out_free(&b);
}

/* Calls to other instances (host->call) answered from --calls: a declared
 * one gets its recorded result or error; one the manifest does not
 * declare, or with no answer, fails the run and is printed as such. */
static void test_calls_to_other_instances_are_answered_from_the_calls_file(void **state)
{
    (void)state;
    const char *calls = in_tmp(
        "calls.jsonl", "{\"instance\": \"e1\", \"plugin\": \"echo\", \"action\": \"echo\", "
                       "\"result\": {\"x\": 1}}\n"
                       "{\"instance\": \"e1\", \"plugin\": \"echo\", \"action\": \"sleep\", "
                       "\"error\": {\"code\": \"busy_here\", \"message\": \"try later\"}}\n");
    const char *ev =
        in_tmp("relay.jsonl",
               "{\"call\": {\"action\": \"relay\", \"args\": {\"instance\": \"e1\", \"action\": "
               "\"echo\"}}}\n"
               "{\"call\": {\"action\": \"relay\", \"args\": {\"instance\": \"e1\", \"action\": "
               "\"sleep\"}}}\n");
    kit_out r;
    int rc;
    json_t *l = run(&rc, &r, RELAY, ev, "--calls", calls, NULL, NULL);
    if (rc != 0) fprintf(stderr, "%s\n%s\n", r.out, r.err);
    assert_int_equal(rc, 0);
    json_t *replies = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(l, i, x)
    {
        if (!strcmp(json_string_value(json_object_get(x, "type")) ?: "", "reply"))
            json_array_append(replies, x);
    }
    assert_int_equal(json_array_size(replies), 2);
    json_t *first = json_object_get(json_array_get(replies, 0), "result");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(first, "result"), "x")), 1);
    json_t *second =
        json_object_get(json_object_get(json_array_get(replies, 1), "result"), "failed");
    assert_string_equal(json_string_value(json_object_get(second, "code")), "busy_here");
    assert_non_null(kit_find(l, "call_out", "action", "echo"));
    json_decref(replies);
    json_decref(l);
    kit_out_free(&r);

    /* echo's kv.get is not in relay's calls: denied; a third echo call has no answer left. */
    calls = in_tmp("calls2.jsonl", "{\"instance\": \"e1\", \"plugin\": \"echo\", \"action\": "
                                   "\"kv.get\", \"result\": {}}\n");
    ev = in_tmp("relay2.jsonl",
                "{\"call\": {\"action\": \"relay\", \"args\": {\"instance\": \"e1\", "
                "\"action\": \"kv.get\"}}}\n"
                "{\"call\": {\"action\": \"relay\", \"args\": {\"instance\": \"e1\", "
                "\"action\": \"echo\"}}}\n");
    l = run(&rc, &r, RELAY, ev, "--calls", calls, NULL, NULL);
    assert_int_equal(rc, 1);
    json_t *denied = kit_find(l, "call_out", "action", "kv.get");
    assert_true(json_is_true(json_object_get(denied, "denied")));
    json_t *unmatched = kit_find(l, "call_out", "action", "echo");
    assert_true(json_is_true(json_object_get(unmatched, "unmatched")));
    json_t *sum = kit_find(l, "summary", NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(sum, "calls_out_failed")), 2);
    json_decref(l);
    kit_out_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_plugin_runs_confined_in_the_harness),
        cmocka_unit_test(test_a_plugin_in_a_private_folder_of_its_own_loads),
        cmocka_unit_test(test_unmatched_http_request_is_an_error_the_plugin_sees_and_is_printed),
        cmocka_unit_test(test_streamed_response_reaches_the_plugin_in_chunks),
        cmocka_unit_test(test_event_never_settled_times_out_and_fails_the_run),
        cmocka_unit_test(test_crash_is_reported_and_ends_the_run),
        cmocka_unit_test(test_publish_the_manifest_does_not_declare_is_denied),
        cmocka_unit_test(test_a_commit_prints_its_publishes_then_the_ack_or_a_nack_when_refused),
        cmocka_unit_test(test_async_items_do_not_wait_and_all_settle),
        cmocka_unit_test(test_secrets_reach_the_plugin_but_never_the_output),
        cmocka_unit_test(test_mail_requests_replay_with_the_login_masked),
        cmocka_unit_test(test_bad_input_files_are_refused_before_anything_runs),
        cmocka_unit_test(test_request_outside_the_egress_allowlist_is_refused_as_the_broker_would),
        cmocka_unit_test(test_partial_results_and_shared_log_records_are_printed),
        cmocka_unit_test(test_two_runs_print_the_same_lines),
        cmocka_unit_test(test_calls_to_other_instances_are_answered_from_the_calls_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
