/*
 * Turns that fail, are cut off or are tried again, through the real binary
 * (the sanitizer build: LeakSanitizer makes the host's exit status non-zero
 * when anything a turn recorded for its replay is left behind, and every
 * stop here must be clean):
 *  - a call refused (its instance disabled): the step's on_error runs, and
 *    the refused call's record goes with the turn;
 *  - the host stopped while a step's request is out: the request's record
 *    goes with the stop, and the message is answered after the restart;
 *  - a call meeting its instance restarting (not_ready, backoff): the turn
 *    is not failed but tried again, and answered once the instance is ready;
 *  - several messages of one new contact at once: their commits conflict,
 *    the turns are tried again, and there is one contact whose every
 *    message is answered once.
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

/* ---- a service whose first request is left unanswered ------------------------------------ */

static fh_thread *SVC;
static pthread_mutex_t SVC_MU = PTHREAD_MUTEX_INITIALIZER;
static int SVC_CALLS;

static void svc_answer(fh_conn *c, void *ud)
{
    (void)ud;
    static const char ok[] = "{\"score\": 7}";
    fh_respond(c, 200, "application/json", NULL, ok, sizeof(ok) - 1);
}

static void svc_serve(void *ud, fh_conn *c, const fh_req *req)
{
    (void)ud, (void)req;
    pthread_mutex_lock(&SVC_MU);
    int n = ++SVC_CALLS;
    pthread_mutex_unlock(&SVC_MU);
    if (n == 1)
        fh_later(c, 600000, svc_answer, NULL, NULL); /* out while the host stops */
    else
        svc_answer(c, NULL);
}

static int svc_calls(void)
{
    pthread_mutex_lock(&SVC_MU);
    int n = SVC_CALLS;
    pthread_mutex_unlock(&SVC_MU);
    return n;
}

/* ---- setup ------------------------------------------------------------------------------- */

static int start_host(void)
{
    return th_start(&H, NULL, 15000) || !th_wait_state(&H, "jq-1", "ready", 15000) ||
                   !th_wait_state(&H, "guard", "ready", 15000)
               ? -1
               : 0;
}

static int setup(void **s)
{
    (void)s;
    if (fh_thread_start(&SVC, svc_serve, NULL)) return -1;
    int port = fh_thread_port(SVC);
    char *cfg = NULL;
    /* guard restarts 3 s after a crash: long enough for a turn to meet it
     * in backoff. llm is disabled: its calls are refused. */
    if (asprintf(&cfg,
                 "{\"expressions\": {\"workers\": 1}, \"engine\": {\"http_allow\": [{\"scheme\": "
                 "\"http\", \"host\": \"127.0.0.1\", \"port\": %d, \"private\": true}]},"
                 " \"instances\": [{\"id\": \"guard\", \"plugin\": \"echo\", \"config\": "
                 "{\"diagnostics\": true}, \"restart\": {\"backoff_ms\": 3000, \"max_crashes\": "
                 "50}},"
                 " {\"id\": \"llm\", \"plugin\": \"llm-openai\", \"enabled\": false, \"config\": "
                 "{\"base_url\": \"http://127.0.0.1:%d/v1\", \"model\": \"gpt-4o\"}}]}",
                 port, th_free_port()) < 0)
        return -1;
    int rc = th_init(&H, "retries") || th_install_plugin(&H, "jq") ||
             th_install_plugin(&H, "echo") || th_install_plugin(&H, "llm-openai") ||
             th_config(&H, cfg) || start_host();
    free(cfg);
    return rc ? -1 : 0;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 15000);
    th_cleanup(&H);
    fh_thread_stop(SVC);
    return rc ? -1 : 0;
}

static void make_agent(const char *name, const char *content, const char *extra, char *agent,
                       size_t n)
{
    if (th_make_agent(&H, name, content, extra, agent, n) != 0) fail_msg("making agent %s", name);
}

/* POST a message as user (its turns may be tried again: waited for up to
 * 50 s): the status, the answer into *out. */
static int post(const char *agent, const char *user, const char *text, json_t **out)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/messages", agent);
    json_t *b = json_pack("{s:s,s:s,s:i}", "user", user, "text", text, "wait_ms", 50000);
    char *body = json_dumps(b, 0);
    json_decref(b);
    int st = th_http(&H, "POST", path, body, NULL, out);
    free(body);
    return st;
}

static json_t *say(const char *agent, const char *user, const char *text)
{
    json_t *o = NULL;
    int st = post(agent, user, text, &o);
    if (st != 200) {
        char *d = json_dumps(o, 0);
        fail_msg("POST %s: %d %s", text, st, d ? d : "");
    }
    return o;
}

static const char *reply(json_t *o, size_t i)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(o, "messages"), i), "text"));
}

/* Stop (clean: nothing left behind) and start again. */
static void restart(void)
{
    int stopped = th_stop_clean(&H, 15000);
    assert_int_equal(start_host(), 0); /* started again either way: the next test runs */
    assert_int_equal(stopped, 0);
}

/* ---- the tests ------------------------------------------------------------------------------ */

static void test_a_refused_call_takes_on_error_and_leaves_no_record_behind(void **s)
{
    (void)s;
    char agent[64];
    static const char *scn =
        "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": "
        "[\"en\"], \"start\": \"ask\", \"steps\": {"
        " \"ask\": {\"kind\": \"llm.chat\", \"instance\": \"llm\", \"args\": {\"prompt\": "
        "\"{{ input.text }}\"}, \"on_error\": \"sorry\", \"next\": \"sorry\"},"
        " \"sorry\": {\"kind\": \"say\", \"text\": {\"en\": \"Not now.\"}, \"next\": \"bye\"},"
        " \"bye\": {\"kind\": \"end\", \"outcome\": \"done\"}}}";
    make_agent("Refused", scn, NULL, agent, sizeof(agent));
    json_t *o = say(agent, "rita", "hello");
    assert_string_equal(reply(o, 0), "Not now.");
    json_decref(o);
    /* The refused call was recorded (its error), then let go with the turn:
     * nothing is left for LeakSanitizer at the stop. */
    restart();
}

/* The REST message that waits for its answer (cut off by the stop). */
static void *post_waiting(void *path)
{
    json_t *o = NULL;
    th_http(&H, "POST", path, "{\"user\": \"stan\", \"text\": \"rate me\"}", NULL, &o);
    json_decref(o);
    return NULL;
}

/* A step's request out, the host stopped: the record of that request goes
 * with the stop; after the restart the message comes back and is answered. */
static void test_a_stop_during_a_request_leaves_no_record_and_loses_no_answer(void **s)
{
    (void)s;
    char agent[64];
    char *scn = NULL;
    assert_true(
        asprintf(&scn,
                 "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", "
                 "\"languages\": [\"en\"], \"variables\": {\"score\": {\"type\": \"integer\"}}, "
                 "\"start\": \"score\", \"steps\": {"
                 " \"score\": {\"kind\": \"http.request\", \"method\": \"POST\", \"url\": "
                 "\"http://127.0.0.1:%d/score\", \"body\": {\"q\": \"{{ input.text }}\"},"
                 "   \"result\": {\"score\": \".result.body.score\"}, \"next\": \"tell\"},"
                 " \"tell\": {\"kind\": \"say\", \"text\": {\"en\": \"Score {{ vars.score }}\"}, "
                 "\"next\": \"bye\"},"
                 " \"bye\": {\"kind\": \"end\", \"outcome\": \"done\"}}}",
                 fh_thread_port(SVC)) > 0);
    make_agent("Scored", scn, NULL, agent, sizeof(agent));
    free(scn);
    /* The message goes in over the REST channel and waits for its answer;
     * the host stops while the service holds the step's request. */
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/messages", agent);
    int before = svc_calls();
    pthread_t th;
    static char post_path[200];
    snprintf(post_path, sizeof(post_path), "%s", path);
    assert_int_equal(pthread_create(&th, NULL, post_waiting, post_path), 0);
    long long deadline = th_now_ms() + 30000;
    while (svc_calls() == before) {
        if (th_now_ms() > deadline) fail_msg("the step's request never came");
        th_sleep_ms(20);
    }
    int stopped = th_stop_clean(&H, 15000);
    pthread_join(th, NULL);
    assert_int_equal(start_host(), 0);
    assert_int_equal(stopped, 0);
    /* Delivered again, answered this time. */
    char conv_path[300];
    json_t *o = NULL;
    snprintf(conv_path, sizeof(conv_path), "/api/v1/conversations?agent_id=%s", agent);
    deadline = th_now_ms() + 30000;
    for (;;) {
        assert_int_equal(th_http(&H, "GET", conv_path, NULL, NULL, &o), 200);
        json_t *c = json_array_get(json_object_get(o, "items"), 0);
        if (c && json_string_value(json_object_get(c, "state")) &&
            !strcmp(json_string_value(json_object_get(c, "state")), "ended"))
            break;
        json_decref(o);
        o = NULL;
        if (th_now_ms() > deadline) fail_msg("the message was not answered after the restart");
        th_sleep_ms(50);
    }
    json_decref(o);
}

/* guard's on_message hook redacts card numbers. guard crashed and waits to
 * restart (backoff): the turn meets not_ready, is tried again, not failed,
 * and once guard is ready it is answered, redacted, once. */
static void test_a_turn_meeting_its_instance_restarting_is_tried_again_and_answered(void **s)
{
    (void)s;
    char agent[64];
    static const char *scn =
        "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": "
        "[\"en\"], \"variables\": {\"card\": {\"type\": \"string\"}}, \"start\": \"ask\","
        " \"steps\": {\"ask\": {\"kind\": \"ask\", \"text\": {\"en\": \"Your card?\"}, \"var\": "
        "\"card\", \"next\": \"bye\"}, \"bye\": {\"kind\": \"say\", \"text\": {\"en\": \"Noted: "
        "{{ vars.card }}\"}, \"next\": \"end\"}, \"end\": {\"kind\": \"end\", \"outcome\": "
        "\"ok\"}}}";
    make_agent("Guarded", scn,
               "\"hooks\": [{\"instance\": \"guard\", \"action\": \"redact\", \"points\": "
               "[\"on_message\"], \"modify\": true}]",
               agent, sizeof(agent));
    json_t *o = say(agent, "carla", "hi");
    assert_string_equal(reply(o, 0), "Your card?");
    const char *conv = json_string_value(json_object_get(o, "conversation_id"));
    char conv_id[64];
    snprintf(conv_id, sizeof(conv_id), "%s", conv ? conv : "");
    json_decref(o);

    th_call(&H, "guard", "crash", "{}", NULL);
    assert_true(th_wait_state(&H, "guard", "backoff", 10000));
    o = say(agent, "carla", "4111111111111111");
    assert_string_equal(reply(o, 0), "Noted: ***");
    assert_int_equal(json_array_size(json_object_get(o, "messages")), 1);
    json_decref(o);
    assert_true(th_wait_file(&H, "logs/engine.log", "not_ready: instance guard is backoff", 5000));

    /* Answered once: the conversation holds the reply once. */
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/conversations/%s", conv_id);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    char *d = json_dumps(json_object_get(o, "messages"), 0);
    const char *p = strstr(d, "Noted: ***");
    assert_non_null(p);
    assert_null(strstr(p + 1, "Noted: ***"));
    assert_null(strstr(d, "4111111111111111"));
    free(d);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "ended");
    json_decref(o);
}

/* ---- one new contact, several messages at once ------------------------------------------ */

typedef struct sent {
    char agent[64], text[16];
    int status;
    char reply[64];
} sent;

static void *send_one(void *ud)
{
    sent *m = ud;
    json_t *o = NULL;
    m->status = post(m->agent, "nina", m->text, &o);
    const char *r = reply(o, 0);
    snprintf(m->reply, sizeof(m->reply), "%s", r ? r : "");
    json_decref(o);
    return NULL;
}

/* Five messages of a person new to the host, sent at once: the first turns
 * of each create the same contact and their commits conflict; the turns
 * are tried again, and in the end there is one contact, one conversation,
 * and every message is answered once, each answer after its message. */
static void test_messages_of_a_new_contact_at_once_make_one_contact_all_answered_once(void **s)
{
    (void)s;
    char agent[64];
    static const char *scn =
        "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": "
        "[\"en\"], \"variables\": {\"x\": {\"type\": \"string\"}}, \"start\": \"got\","
        " \"steps\": {\"got\": {\"kind\": \"say\", \"text\": {\"en\": \"Got {{ input.text }}\"}, "
        "\"next\": \"listen\"}, \"listen\": {\"kind\": \"wait\", \"for\": \"input\", \"var\": "
        "\"x\", \"next\": \"got\"}}}";
    make_agent("Many", scn, NULL, agent, sizeof(agent));
    enum { N = 5 };
    sent m[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        m[i] = (sent){0};
        snprintf(m[i].agent, sizeof(m[i].agent), "%s", agent);
        snprintf(m[i].text, sizeof(m[i].text), "m%d", i + 1);
        assert_int_equal(pthread_create(&th[i], NULL, send_one, &m[i]), 0);
    }
    char want[64];
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(m[i].status, 200);
        snprintf(want, sizeof(want), "Got %s", m[i].text);
        assert_string_equal(m[i].reply, want);
    }
    json_t *o = NULL;
    char path[300];
    snprintf(path, sizeof(path), "/api/v1/conversations?agent_id=%s", agent);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    json_t *convs = json_object_get(o, "items");
    assert_int_equal(json_array_size(convs), 1);
    snprintf(path, sizeof(path), "/api/v1/conversations/%s",
             json_string_value(json_object_get(json_array_get(convs, 0), "id")));
    json_decref(o);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    /* Each message once, its answer right after it. */
    json_t *msgs = json_object_get(o, "messages");
    assert_int_equal(json_array_size(msgs), 2 * N);
    for (size_t i = 0; i < 2 * N; i += 2) {
        const char *in = json_string_value(json_object_get(json_array_get(msgs, i), "text"));
        const char *out = json_string_value(json_object_get(json_array_get(msgs, i + 1), "text"));
        assert_non_null(in);
        assert_non_null(out);
        snprintf(want, sizeof(want), "Got %s", in);
        assert_string_equal(out, want);
        for (size_t k = i + 2; k < 2 * N; k += 2)
            assert_string_not_equal(
                in, json_string_value(json_object_get(json_array_get(msgs, k), "text")));
    }
    json_decref(o);
    /* One contact has the identity. */
    assert_int_equal(
        th_http(&H, "GET", "/api/v1/contacts/lookup?channel=rest&id=nina", NULL, NULL, &o), 200);
    json_decref(o);
}

/* The same person new to the host on five chats of a channel at once (as
 * five e-mail threads of one sender): the five first turns create the same
 * contact, and all but one of their commits conflict ("another of the
 * contacts has this identities"). Tried again, they make one contact, and
 * every message is answered once, each answer after its message. */
static void test_one_new_sender_on_several_chats_at_once_makes_one_contact_all_answered(void **s)
{
    (void)s;
    char agent[64];
    static const char *scn =
        "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": "
        "[\"en\"], \"variables\": {\"x\": {\"type\": \"string\"}}, \"start\": \"got\","
        " \"steps\": {\"got\": {\"kind\": \"say\", \"text\": {\"en\": \"Got {{ input.text }}\"}, "
        "\"next\": \"listen\"}, \"listen\": {\"kind\": \"wait\", \"for\": \"input\", \"var\": "
        "\"x\", \"next\": \"got\"}}}";
    make_agent("Chats", scn, NULL, agent, sizeof(agent));
    enum { N = 5 };
    json_t *events = json_array();
    for (int i = 1; i <= N; i++) {
        char chat[16], text[16], key[120];
        snprintf(chat, sizeof(chat), "chat%d", i);
        snprintf(text, sizeof(text), "c%d", i);
        snprintf(key, sizeof(key), "rest:%s:%s", agent, chat);
        json_array_append_new(
            events,
            json_pack("{s:s,s:{s:s},s:{s:i,s:s,s:s,s:{s:s,s:s},s:s,s:s,s:{s:s},s:{s:s,s:s},s:s}}",
                      "key", key, "headers", "agent", agent, "body", "event_version", 1,
                      "direction", "in", "kind", "message", "channel", "kind", "rest", "instance",
                      "rest", "external_id", text, "at", "2026-12-07T00:00:00.000Z", "chat", "id",
                      chat, "from", "id", "olga", "type", "user", "text", text));
    }
    char *body = json_dumps(events, 0);
    json_decref(events);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "POST", "/api/v1/topics/message.in/events", body, NULL, &o), 201);
    free(body);
    json_decref(o);

    /* Until every message is answered (bounded). */
    char path[300], want[32];
    snprintf(path, sizeof(path), "/api/v1/conversations?agent_id=%s", agent);
    long long deadline = th_now_ms() + 60000;
    char *all = NULL;
    for (;;) {
        free(all);
        all = NULL;
        json_t *list = NULL;
        assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &list), 200);
        json_t *msgs = json_array();
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(list, "items"), i, c)
        {
            char one[200];
            snprintf(one, sizeof(one), "/api/v1/conversations/%s",
                     json_string_value(json_object_get(c, "id")));
            json_t *conv = NULL;
            assert_int_equal(th_http(&H, "GET", one, NULL, NULL, &conv), 200);
            json_array_extend(msgs, json_object_get(conv, "messages"));
            json_decref(conv);
        }
        json_decref(list);
        all = json_dumps(msgs, 0);
        size_t n = json_array_size(msgs);
        json_decref(msgs);
        if (n >= 2 * N) break;
        if (th_now_ms() > deadline) fail_msg("not every message answered: %s", all);
        th_sleep_ms(100);
    }
    /* Each message in once, each answered once, right after it. */
    for (int i = 1; i <= N; i++) {
        snprintf(want, sizeof(want), "\"Got c%d\"", i);
        const char *p = strstr(all, want);
        if (!p) fail_msg("c%d not answered: %s", i, all);
        assert_null(strstr(p + 1, want));
        const char *answer = p;
        snprintf(want, sizeof(want), "\"c%d\"", i);
        p = strstr(all, want);
        assert_non_null(p);
        assert_null(strstr(p + 1, want));
        assert_true(p < answer); /* answered after it came */
    }
    free(all);
    /* One contact has the sender. */
    assert_int_equal(th_http(&H, "GET", "/api/v1/contacts?limit=100", NULL, NULL, &o), 200);
    char *d = json_dumps(o, 0);
    const char *p = strstr(d, "\"olga\"");
    assert_non_null(p);
    assert_null(strstr(p + 1, "\"olga\""));
    free(d);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_refused_call_takes_on_error_and_leaves_no_record_behind),
        cmocka_unit_test(test_a_stop_during_a_request_leaves_no_record_and_loses_no_answer),
        cmocka_unit_test(test_a_turn_meeting_its_instance_restarting_is_tried_again_and_answered),
        cmocka_unit_test(test_messages_of_a_new_contact_at_once_make_one_contact_all_answered_once),
        cmocka_unit_test(
            test_one_new_sender_on_several_chats_at_once_makes_one_contact_all_answered),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
