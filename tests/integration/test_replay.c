/*
 * Replay through the real binary: a conversation over the REST channel
 * whose step calls a scoring service (an HTTP server in the test) is
 * rebuilt from the bus turn by turn: inputs, steps, the request made and
 * its answer, the variables after each step, the messages sent; paged.
 * What-if: its messages run again in a simulation, the recorded answers
 * canned (the service is not called again): against the same version the
 * paths do not part; against a draft that skips the scoring they part at
 * the step that differs, both paths shown.
 */
#include "../fakes/fake_http.h"
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static th_host H;
static char AGENT[64], CONV[64];

/* ---- the scoring service ---------------------------------------------------------------- */

static fh_thread *SVC;
static pthread_mutex_t SVC_MU = PTHREAD_MUTEX_INITIALIZER;
static int SVC_CALLS;

static void svc_serve(void *ud, fh_conn *c, const fh_req *req)
{
    (void)ud;
    if (strcmp(req->method, "POST") != 0 || strcmp(req->path, "/score") != 0) {
        fh_respond(c, 404, "application/json", NULL, "{}", 2);
        return;
    }
    pthread_mutex_lock(&SVC_MU);
    SVC_CALLS++;
    pthread_mutex_unlock(&SVC_MU);
    static const char ok[] = "{\"score\": 42}";
    fh_respond(c, 200, "application/json", NULL, ok, sizeof(ok) - 1);
}

static int svc_calls(void)
{
    pthread_mutex_lock(&SVC_MU);
    int n = SVC_CALLS;
    pthread_mutex_unlock(&SVC_MU);
    return n;
}

/* ---- setup ------------------------------------------------------------------------------- */

/* The scenario: the name, its score from the service, then a last question;
 * unscored (a draft), the name and the last question only. */
static char *scenario(int port, bool scored)
{
    char *s = NULL, *steps = NULL;
    if (scored &&
        asprintf(&steps,
                 " \"score\": {\"kind\": \"http.request\", \"method\": \"POST\", \"url\": "
                 "\"http://127.0.0.1:%d/score\", \"body\": {\"name\": \"{{ vars.name }}\"},"
                 "   \"result\": {\"score\": \".result.body.score\"}, \"next\": \"tell\"},"
                 " \"tell\": {\"kind\": \"say\", \"text\": {\"en\": \"Score {{ vars.score }}\"}, "
                 "\"next\": \"q2\"},",
                 port) < 0)
        return NULL;
    int rc = asprintf(
        &s,
        "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": "
        "[\"en\"], \"variables\": {\"name\": {\"type\": \"string\"}, \"score\": {\"type\": "
        "\"integer\"}, \"again\": {\"type\": \"string\"}}, \"start\": \"q1\", \"steps\": {"
        " \"q1\": {\"kind\": \"ask\", \"text\": {\"en\": \"Name?\"}, \"var\": \"name\", \"next\": "
        "\"%s\"},%s"
        " \"q2\": {\"kind\": \"ask\", \"text\": {\"en\": \"Again?\"}, \"var\": \"again\", "
        "\"next\": "
        "\"bye\"},"
        " \"bye\": {\"kind\": \"end\", \"outcome\": \"completed\"}}}",
        scored ? "score" : "q2", scored ? steps : "");
    free(steps);
    return rc < 0 ? NULL : s;
}

static int setup(void **s)
{
    (void)s;
    if (fh_thread_start(&SVC, svc_serve, NULL)) return -1;
    int port = fh_thread_port(SVC);
    char *cfg = NULL, *content = scenario(port, true);
    if (asprintf(&cfg,
                 "{\"expressions\": {\"workers\": 1}, \"engine\": {\"http_allow\": [{\"scheme\": "
                 "\"http\", \"host\": \"127.0.0.1\", \"port\": %d, \"private\": true}]}}",
                 port) < 0 ||
        !content)
        return -1;
    int rc = th_init(&H, "replay") || th_install_plugin(&H, "jq") || th_config(&H, cfg) ||
             th_start(&H, NULL, 15000) || !th_wait_state(&H, "jq-1", "ready", 15000) ||
             th_make_agent(&H, "Scorer", content, NULL, AGENT, sizeof(AGENT));
    free(cfg);
    free(content);
    return rc ? -1 : 0;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    fh_thread_stop(SVC);
    return rc ? -1 : 0;
}

static json_t *say(const char *text)
{
    char path[200], body[200];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/messages", AGENT);
    snprintf(body, sizeof(body), "{\"user\": \"zoe\", \"text\": \"%s\"}", text);
    json_t *o = NULL;
    int st = th_http(&H, "POST", path, body, NULL, &o);
    if (st != 200) fail_msg("POST %s: %d", text, st);
    return o;
}

static json_t *entry(json_t *turn, const char *step)
{
    size_t i;
    json_t *e;
    json_array_foreach(
        json_object_get(turn, "path"), i,
        e) if (!strcmp(json_string_value(json_object_get(e, "step")), step)) return e;
    fail_msg("no step %s in the turn", step);
    return NULL;
}

/* ---- the tests ------------------------------------------------------------------------------ */

static void test_the_replay_rebuilds_inputs_steps_calls_variables_and_messages(void **s)
{
    (void)s;
    json_t *o = say("hi");
    snprintf(CONV, sizeof(CONV), "%s", json_string_value(json_object_get(o, "conversation_id")));
    json_decref(o);
    o = say("Zoe");
    json_decref(o);
    json_decref(say("no"));
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/conversations/%s/replay", CONV);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    assert_int_equal(svc_calls(), 1);
    assert_true(json_is_true(json_object_get(o, "from_start")));
    assert_true(json_is_null(json_object_get(o, "next")));
    assert_string_equal(json_string_value(json_object_get(o, "state")), "ended");
    json_t *turns = json_object_get(o, "turns");
    assert_int_equal(json_array_size(turns), 3);
    json_t *t0 = json_array_get(turns, 0), *t1 = json_array_get(turns, 1),
           *t2 = json_array_get(turns, 2);
    assert_string_equal(json_string_value(json_object_get(t0, "wake")), "start");
    assert_string_equal(json_string_value(th_get(t0, "messages.0.text")), "Name?");
    assert_string_equal(json_string_value(json_object_get(t1, "wake")), "message");
    assert_string_equal(json_string_value(th_get(t1, "input.text")), "Zoe");
    /* The steps of the second turn, in order, with the variables after each. */
    static const char *const steps[] = {"q1", "score", "tell", "q2"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(
            json_string_value(th_get(json_array_get(json_object_get(t1, "path"), i), "step")),
            steps[i]);
    assert_string_equal(json_string_value(th_get(entry(t1, "q1"), "variables.name")), "Zoe");
    json_t *score = entry(t1, "score");
    assert_true(json_number_value(th_get(score, "variables.score")) == 42);
    /* The request it made and the answer it got. */
    json_t *call = th_get(score, "calls.0");
    assert_non_null(call);
    assert_non_null(
        strstr(json_string_value(json_object_get(call, "key")), "POST http://127.0.0.1:"));
    assert_string_equal(json_string_value(th_get(call, "args.name")), "Zoe");
    assert_int_equal(json_integer_value(th_get(call, "result.status")), 200);
    assert_int_equal(json_integer_value(th_get(call, "result.body.score")), 42);
    assert_string_equal(json_string_value(th_get(t1, "messages.0.text")), "Score 42");
    assert_string_equal(json_string_value(json_object_get(t2, "state")), "ended");
    assert_string_equal(json_string_value(json_object_get(t2, "outcome")), "completed");
    json_decref(o);
    /* Paged: one turn at a time, following next. */
    snprintf(path, sizeof(path), "/api/v1/conversations/%s/replay?limit=1", CONV);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    assert_int_equal(json_array_size(json_object_get(o, "turns")), 1);
    json_int_t next = json_integer_value(json_object_get(o, "next"));
    assert_true(next > 0);
    json_decref(o);
    snprintf(path, sizeof(path), "/api/v1/conversations/%s/replay?limit=1&from=%lld", CONV,
             (long long)next);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    assert_string_equal(json_string_value(th_get(o, "turns.0.input.text")), "Zoe");
    json_decref(o);
    snprintf(path, sizeof(path), "/api/v1/conversations/%s/replay?limit=0", CONV);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 422);
    json_decref(o);
    assert_int_equal(th_http(&H, "GET",
                             "/api/v1/conversations/cnv_01KEKNJD80M630623EBFFSVY4C/replay", NULL,
                             NULL, &o),
                     404);
    json_decref(o);
}

static void test_what_if_against_the_same_version_does_not_part(void **s)
{
    (void)s;
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/conversations/%s/what-if", CONV);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "POST", path, "{\"version\": 1}", NULL, &o), 200);
    assert_true(json_is_null(json_object_get(o, "diverged")));
    /* The recorded answer, canned: the service was not called again. */
    assert_true(json_number_value(th_get(o, "what_if.variables.score")) == 42);
    assert_string_equal(json_string_value(th_get(o, "what_if.outcome")), "completed");
    assert_int_equal(svc_calls(), 1);
    json_decref(o);
    assert_int_equal(th_http(&H, "POST", path, "{\"colour\": 1}", NULL, &o), 422);
    json_decref(o);
}

static void test_what_if_against_a_draft_shows_where_the_paths_part(void **s)
{
    (void)s;
    char *draft = scenario(1, false), *body = NULL, path[200];
    assert_true(asprintf(&body, "{\"scenario\": %s}", draft) > 0);
    snprintf(path, sizeof(path), "/api/v1/conversations/%s/what-if", CONV);
    json_t *o = NULL;
    int st = th_http(&H, "POST", path, body, NULL, &o);
    if (st != 200) fail_msg("what-if: %d %s", st, json_dumps(o, 0));
    json_t *d = json_object_get(o, "diverged");
    assert_int_equal(json_integer_value(json_object_get(d, "turn")), 1);
    assert_int_equal(json_integer_value(json_object_get(d, "index")), 1);
    assert_string_equal(json_string_value(json_object_get(d, "original")), "score");
    assert_string_equal(json_string_value(json_object_get(d, "what_if")), "q2");
    assert_int_equal(json_array_size(json_object_get(d, "original_steps")), 4);
    assert_int_equal(json_array_size(json_object_get(d, "what_if_steps")), 2);
    assert_string_equal(json_string_value(th_get(o, "against.version")), "draft");
    assert_int_equal(json_array_size(json_object_get(o, "original")), 3);
    json_decref(o);
    free(body);
    free(draft);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_replay_rebuilds_inputs_steps_calls_variables_and_messages),
        cmocka_unit_test(test_what_if_against_the_same_version_does_not_part),
        cmocka_unit_test(test_what_if_against_a_draft_shows_where_the_paths_part),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
