/*
 * Telegram bots managed over the API (/api/v1/bots, ADR 0041), through the
 * real binary and two fake Bot API servers (tests/fakes/fake_telegram): a
 * bot added with its token in polling mode and another in webhook mode,
 * each bound to an agent, answer a person who writes to them; they are
 * listed with their state (username, mode, agent; pages and ETag); they
 * survive a restart of the host; a wrong token is refused naming `token`
 * and is never logged; removing a bot deletes its webhook and stops it;
 * a viewer can neither add nor remove one.
 */
#include "../fakes/fake_telegram_client.h"
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_BIN TH_BUILD_DIR "/tests/fakes/fake_telegram"
#define TOKEN "7000000001:AAH-fake-token_for-tests"
#define BAD_TOKEN "7000000001:AAH-wrong-token_Zq8vN3kLpW5x"

static th_host H;
static fake_proc TGP, TGW; /* the polling bot's Bot API server, the webhook bot's */
static int PORT;
static char viewer[128];
static char AGENT_P[64], AGENT_W[64];

static const char *SCENARIO =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": "
    "[\"en\"], \"variables\": {\"q\": {\"type\": \"string\"}}, \"start\": \"greet\", \"steps\": {"
    " \"greet\": {\"kind\": \"say\", \"text\": \"Hello from the bot!\", \"next\": \"listen\"},"
    " \"listen\": {\"kind\": \"wait\", \"for\": \"input\", \"var\": \"q\", \"next\": \"reply\"},"
    " \"reply\": {\"kind\": \"say\", \"text\": \"Noted.\", \"next\": \"listen\"}}}";

/* ---- helpers ------------------------------------------------------------------------------- */

static const char *fake_webhook(const fake_proc *f)
{
    static char url[300];
    json_t *o = ftg_call(f, "GET", "/_fake/stats", NULL);
    snprintf(url, sizeof(url), "%s", json_string_value(json_object_get(o, "webhook_url")) ?: "");
    json_decref(o);
    return url;
}

/* POST /api/v1/bots; the status, *out the answer. */
static int add_bot(const char *id, const fake_proc *f, const char *token, const char *more,
                   const char *as, json_t **out)
{
    char *body = NULL;
    assert_true(asprintf(&body,
                         "{\"id\": \"%s\", \"token\": \"%s\", \"api_base_url\": "
                         "\"http://127.0.0.1:%d\", \"egress\": [{\"scheme\": \"http\", \"host\": "
                         "\"127.0.0.1\", \"port\": %d, \"private\": true}]%s}",
                         id, token, f->port, f->port, more) > 0);
    int st = th_http(&H, "POST", "/api/v1/bots", body, as, out);
    free(body);
    return st;
}

static void conversation(const fake_proc *f, long long chat)
{
    json_t *before = ftg_wait_texts(f, chat, 0);
    size_t n = json_array_size(before);
    json_decref(before);
    ftg_say(f, chat, "/start");
    json_t *sent = ftg_wait_texts(f, chat, n + 1);
    assert_string_equal(json_string_value(json_array_get(sent, n)), "Hello from the bot!");
    json_decref(sent);
    ftg_say(f, chat, "I need help");
    sent = ftg_wait_texts(f, chat, n + 2);
    assert_string_equal(json_string_value(json_array_get(sent, n + 1)), "Noted.");
    json_decref(sent);
}

static void make_agent(const char *name, char *agent, size_t n)
{
    assert_int_equal(th_make_agent(&H, name, SCENARIO, NULL, agent, n), 0);
}

/* ---- setup ----------------------------------------------------------------------------------- */

static int setup(void **s)
{
    (void)s;
    if (fake_start(&TGP, FAKE_BIN, 5000) || fake_start(&TGW, FAKE_BIN, 5000)) return -1;
    PORT = th_free_port();
    char cfg[300];
    snprintf(cfg, sizeof(cfg),
             "{\"listen\": \"127.0.0.1:%d\", \"expressions\": {\"workers\": 1}, \"instances\": []}",
             PORT);
    if (PORT < 0 || th_init(&H, "bots") || th_install_plugin(&H, "jq") ||
        th_install_plugin(&H, "telegram") || th_config(&H, cfg) || th_make_token(&H))
        return -1;
    if (th_cli(&H, NULL, viewer, sizeof(viewer), "token", "create", "--name", "watcher", "--role",
               "viewer", NULL) != 0)
        return -1;
    viewer[strcspn(viewer, "\n")] = 0;
    return th_start(&H, NULL, 15000);
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    fake_stop(&TGP);
    fake_stop(&TGW);
    return rc ? -1 : 0;
}

/* ---- the tests ------------------------------------------------------------------------------- */

static void test_a_wrong_token_is_refused_naming_token_and_never_logged(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(
        add_bot("badbot", &TGP, BAD_TOKEN, ", \"config\": {\"poll_timeout_s\": 1}", NULL, &o), 422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "token");
    assert_non_null(strstr(json_string_value(th_get(o, "error.message")), "refused"));
    json_decref(o);
    /* Nothing is left of it: no bot, no instance. */
    assert_int_equal(th_http(&H, "GET", "/api/v1/bots/badbot", NULL, NULL, NULL), 404);
    assert_int_equal(th_http(&H, "GET", "/api/v1/instances/badbot", NULL, NULL, NULL), 404);
    /* Not a token at all: refused before anything starts. */
    assert_int_equal(add_bot("badbot", &TGP, "not-a-token", "", NULL, &o), 422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "token");
    json_decref(o);
    assert_false(th_logs_contain(&H, BAD_TOKEN));
    assert_false(th_logs_contain(&H, "AAH-wrong-token"));
}

static void test_a_viewer_can_neither_add_nor_remove_a_bot(void **s)
{
    (void)s;
    assert_int_equal(add_bot("vbot", &TGP, TOKEN, "", viewer, NULL), 403);
    assert_int_equal(th_http(&H, "GET", "/api/v1/bots/vbot", NULL, NULL, NULL), 404);
    assert_int_equal(th_http(&H, "GET", "/api/v1/bots", NULL, viewer, NULL), 200);
    assert_int_equal(th_http(&H, "DELETE", "/api/v1/bots/vbot", NULL, viewer, NULL), 403);
}

static void test_a_polling_bot_added_over_the_api_answers_through_its_agent(void **s)
{
    (void)s;
    make_agent("Polling bot agent", AGENT_P, sizeof(AGENT_P));
    char more[200];
    snprintf(more, sizeof(more),
             ", \"mode\": \"polling\", \"agent_id\": \"%s\", \"config\": {\"poll_timeout_s\": 2}",
             AGENT_P);
    json_t *o = NULL;
    int st = add_bot("pbot", &TGP, TOKEN, more, NULL, &o);
    char *d = json_dumps(o, JSON_COMPACT);
    if (st != 201) fail_msg("add: %d %s", st, d);
    assert_null(strstr(d, TOKEN)); /* never answered back */
    free(d);
    assert_string_equal(json_string_value(json_object_get(o, "username")), "agenthost_test_bot");
    assert_string_equal(json_string_value(json_object_get(o, "mode")), "polling");
    assert_string_equal(json_string_value(json_object_get(o, "agent_id")), AGENT_P);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "ready");
    assert_true(json_is_true(json_object_get(o, "ready")));
    json_decref(o);
    conversation(&TGP, 300001);
    assert_false(th_logs_contain(&H, TOKEN));
}

static void test_a_webhook_bot_sets_its_webhook_and_answers(void **s)
{
    (void)s;
    make_agent("Webhook bot agent", AGENT_W, sizeof(AGENT_W));
    char more[300];
    snprintf(more, sizeof(more),
             ", \"mode\": \"webhook\", \"public_url\": \"http://127.0.0.1:%d/\", \"agent_id\": "
             "\"%s\"",
             PORT, AGENT_W);
    json_t *o = NULL;
    int st = add_bot("wbot", &TGW, TOKEN, more, NULL, &o);
    if (st != 201) fail_msg("add: %d %s", st, json_dumps(o, 0));
    char want[200];
    snprintf(want, sizeof(want), "http://127.0.0.1:%d/hooks/wbot/telegram", PORT);
    assert_string_equal(json_string_value(json_object_get(o, "webhook_url")), want);
    assert_string_equal(json_string_value(json_object_get(o, "mode")), "webhook");
    json_decref(o);
    assert_string_equal(fake_webhook(&TGW), want);
    conversation(&TGW, 400001);
}

static void test_bots_are_listed_with_their_state_in_pages_with_an_etag(void **s)
{
    (void)s;
    char *hdrs = NULL, *body = NULL, auth[200];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    const char *ah[] = {auth, NULL};
    assert_int_equal(th_http_raw(&H, "GET", "/api/v1/bots", NULL, NULL, 0, ah, &hdrs, &body), 200);
    json_t *o = json_loads(body, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 2);
    json_t *items = json_object_get(o, "items");
    assert_int_equal(json_array_size(items), 2);
    json_t *p = json_array_get(items, 0), *w = json_array_get(items, 1);
    assert_string_equal(json_string_value(json_object_get(p, "id")), "pbot");
    assert_string_equal(json_string_value(json_object_get(p, "username")), "agenthost_test_bot");
    assert_string_equal(json_string_value(json_object_get(p, "state")), "ready");
    assert_string_equal(json_string_value(json_object_get(p, "agent_id")), AGENT_P);
    assert_string_equal(json_string_value(json_object_get(w, "id")), "wbot");
    assert_string_equal(json_string_value(json_object_get(w, "mode")), "webhook");
    assert_string_equal(json_string_value(json_object_get(w, "agent_id")), AGENT_W);
    json_decref(o);
    free(body);
    /* The same list again with its ETag: 304. */
    char *et = strcasestr(hdrs, "ETag: ");
    assert_non_null(et);
    char inm[100];
    snprintf(inm, sizeof(inm), "If-None-Match: %.*s", (int)strcspn(et + 6, "\r\n"), et + 6);
    const char *h[] = {auth, inm, NULL};
    free(hdrs);
    hdrs = body = NULL;
    assert_int_equal(th_http_raw(&H, "GET", "/api/v1/bots", NULL, NULL, 0, h, &hdrs, &body), 304);
    free(hdrs);
    free(body);
    /* Pages of one. */
    assert_int_equal(th_http(&H, "GET", "/api/v1/bots?limit=1", NULL, NULL, &o), 200);
    assert_int_equal(json_array_size(json_object_get(o, "items")), 1);
    assert_string_equal(json_string_value(json_object_get(o, "next")), "pbot");
    json_decref(o);
    assert_int_equal(th_http(&H, "GET", "/api/v1/bots?limit=1&cursor=pbot", NULL, NULL, &o), 200);
    assert_string_equal(json_string_value(th_get(o, "items.0.id")), "wbot");
    assert_true(json_is_null(json_object_get(o, "next")));
    json_decref(o);
    assert_int_equal(th_http(&H, "GET", "/api/v1/bots?limit=0", NULL, NULL, NULL), 422);
}

static void test_bots_survive_a_restart_of_the_host(void **s)
{
    (void)s;
    assert_int_equal(th_stop(&H, 10000), 0);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    assert_true(th_wait_state(&H, "pbot", "ready", 15000));
    assert_true(th_wait_state(&H, "wbot", "ready", 15000));
    conversation(&TGP, 300002);
    conversation(&TGW, 400002);
}

static void test_removing_a_bot_deletes_its_webhook_and_stops_it(void **s)
{
    (void)s;
    assert_int_equal(th_http(&H, "DELETE", "/api/v1/bots/wbot", NULL, NULL, NULL), 204);
    assert_string_equal(fake_webhook(&TGW), ""); /* deleteWebhook */
    assert_int_equal(th_http(&H, "GET", "/api/v1/bots/wbot", NULL, NULL, NULL), 404);
    assert_int_equal(th_http(&H, "GET", "/api/v1/instances/wbot", NULL, NULL, NULL), 404);
    /* Its agent is no longer bound to it. */
    char path[120];
    snprintf(path, sizeof(path), "/api/v1/agents/%s", AGENT_W);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    assert_int_equal(json_array_size(json_object_get(o, "channels")), 0);
    json_decref(o);

    assert_int_equal(th_http(&H, "GET", "/api/v1/instances/pbot", NULL, NULL, &o), 200);
    pid_t pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
    json_decref(o);
    assert_true(pid > 0);
    assert_int_equal(th_http(&H, "DELETE", "/api/v1/bots/pbot", NULL, NULL, NULL), 204);
    assert_int_equal(th_http(&H, "DELETE", "/api/v1/bots/pbot", NULL, NULL, NULL), 404);
    /* Stopped: its process is gone, and what a person writes now stays
     * with Telegram, taken by nobody. */
    long long deadline = th_now_ms() + 10000;
    while (kill(pid, 0) == 0 && th_now_ms() < deadline)
        th_sleep_ms(50);
    assert_int_not_equal(kill(pid, 0), 0);
    ftg_say(&TGP, 300003, "anyone there?");
    json_t *st = ftg_call(&TGP, "GET", "/_fake/stats", NULL);
    assert_int_equal(json_integer_value(json_object_get(st, "pending")), 1);
    json_decref(st);
    /* And they do not come back with a restart. */
    assert_int_equal(th_stop(&H, 10000), 0);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    assert_int_equal(th_http(&H, "GET", "/api/v1/bots", NULL, NULL, &o), 200);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 0);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_wrong_token_is_refused_naming_token_and_never_logged),
        cmocka_unit_test(test_a_viewer_can_neither_add_nor_remove_a_bot),
        cmocka_unit_test(test_a_polling_bot_added_over_the_api_answers_through_its_agent),
        cmocka_unit_test(test_a_webhook_bot_sets_its_webhook_and_answers),
        cmocka_unit_test(test_bots_are_listed_with_their_state_in_pages_with_an_etag),
        cmocka_unit_test(test_bots_survive_a_restart_of_the_host),
        cmocka_unit_test(test_removing_a_bot_deletes_its_webhook_and_stops_it),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
