/*
 * People talking to Telegram bots through the real binary: two bots on two
 * fake Bot API servers (tests/fakes/fake_telegram), one polling ("tg") and
 * one on the webhook ("tgw"), each bound to an agent running the onboarding
 * example. A person sends /start, answers, gives an invalid answer that is
 * asked again, taps an inline button (answered with answerCallbackQuery)
 * and reaches the end, in both modes; in a group only commands for this bot
 * start a conversation; an LLM step answers, with "typing" shown and renewed
 * while it runs. Also: the webhook refuses a request without Telegram's
 * secret header (logged to logs/security.log); a chat rate-limited with 429
 * is held for retry_after and gets each reply exactly once, while another
 * chat gets its replies; a chat that blocked the bot is marked and not sent
 * to again, and unblocking (published) clears the mark; joins and leaves in
 * a group are published once each; a wrong token is a clear error and is
 * never logged. What the bot sends on its own (the send action, files,
 * broadcasts): test_telegram_sending.
 */
#include "../fakes/fake_telegram_client.h"
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_BIN TH_BUILD_DIR "/tests/fakes/fake_telegram"
#define FAKE_LLM TH_BUILD_DIR "/tests/fakes/fake_openai"
#define API_KEY "sk-test-Zq8vN3kLpW5xR2mT7yB4"
#define TOKEN "7000000001:AAH-fake-token_for-tests"
#define BAD_TOKEN "7000000001:AAH-wrong-token_Zq8vN3kLpW5x"
#define HOOK_SECRET "hook-secret_9f2c41d7Xk"

static th_host H;
static fake_proc TGP, TGW, TGL; /* the polling bot's server, the webhook bot's, the FAQ bot's */
static fake_proc TGS;           /* the slow FAQ bot's (typing while the model thinks) */
static fake_proc LLM;
static char AGENT_P[64], AGENT_W[64];

/* ---- helpers (the fake's side: tests/fakes/fake_telegram_client.h) ------------------------ */

/* Scenario content (freed here) as an agent bound to a channel instance. */
static void make_agent_of(const char *name, char *content, const char *instance, char *agent,
                          size_t n)
{
    char channels[100];
    assert_non_null(content);
    snprintf(channels, sizeof(channels), "\"channels\": [{\"instance\": \"%s\"}]", instance);
    assert_int_equal(th_make_agent(&H, name, content, channels, agent, n), 0);
    free(content);
}

/* An example scenario (docs/examples/scenarios) as an agent bound to a channel instance. */
static void make_agent(const char *name, const char *example, const char *instance, char *agent,
                       size_t n)
{
    char rel[200];
    snprintf(rel, sizeof(rel), "docs/examples/scenarios/%s", example);
    make_agent_of(name, th_read_source(rel), instance, agent, n);
}

/* ---- setup ----------------------------------------------------------------------------- */

static int setup(void **s)
{
    (void)s;
    if (fake_start(&TGP, FAKE_BIN, 5000) || fake_start(&TGW, FAKE_BIN, 5000) ||
        fake_start(&TGL, FAKE_BIN, 5000) || fake_start(&TGS, FAKE_BIN, 5000) ||
        fake_start(&LLM, FAKE_LLM, 5000))
        return -1;
    int port = th_free_port();
    char *cfg = NULL;
    if (port < 0 ||
        asprintf(&cfg,
                 "{\"listen\": \"127.0.0.1:%d\", \"expressions\": {\"workers\": 1},"
                 " \"instances\": ["
                 "  {\"id\": \"tg\", \"plugin\": \"telegram\", \"config\": {\"api_base_url\": "
                 "   \"http://127.0.0.1:%d\", \"mode\": \"polling\", \"poll_timeout_s\": 2},"
                 "   \"egress\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": %d,"
                 "                \"private\": true}]},"
                 "  {\"id\": \"tgw\", \"plugin\": \"telegram\", \"config\": {\"api_base_url\": "
                 "   \"http://127.0.0.1:%d\", \"mode\": \"webhook\", \"webhook_url\": "
                 "   \"http://127.0.0.1:%d/hooks/tgw/telegram\"},"
                 "   \"egress\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": %d,"
                 "                \"private\": true}]},"
                 "  {\"id\": \"tgbad\", \"plugin\": \"telegram\", \"required\": false, \"config\": "
                 "   {\"api_base_url\": \"http://127.0.0.1:%d\", \"poll_timeout_s\": 1},"
                 "   \"egress\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": %d,"
                 "                \"private\": true}]},"
                 "  {\"id\": \"tgl\", \"plugin\": \"telegram\", \"config\": {\"api_base_url\": "
                 "   \"http://127.0.0.1:%d\", \"poll_timeout_s\": 2, \"typing\": true},"
                 "   \"egress\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": %d,"
                 "                \"private\": true}]},"
                 "  {\"id\": \"tgs\", \"plugin\": \"telegram\", \"config\": {\"api_base_url\": "
                 "   \"http://127.0.0.1:%d\", \"poll_timeout_s\": 2, \"typing_interval_ms\": 1000},"
                 "   \"egress\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": %d,"
                 "                \"private\": true}]},"
                 "  {\"id\": \"llm\", \"plugin\": \"llm-openai\","
                 "   \"config\": {\"base_url\": \"http://127.0.0.1:%d/v1\", \"model\": \"gpt-4o\"},"
                 "   \"egress\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": %d,"
                 "                \"private\": true}]}]}",
                 port, TGP.port, TGP.port, TGW.port, port, TGW.port, TGP.port, TGP.port, TGL.port,
                 TGL.port, TGS.port, TGS.port, LLM.port, LLM.port) < 0)
        return -1;
    int rc =
        th_init(&H, "telegram") || th_install_plugin(&H, "jq") ||
        th_install_plugin(&H, "telegram") || th_install_plugin(&H, "llm-openai") ||
        th_config(&H, cfg) ||
        th_cli(&H, API_KEY "\n", NULL, 0, "secret", "set", "llm", "api_key", NULL) ||
        th_cli(&H, TOKEN "\n", NULL, 0, "secret", "set", "tgl", "token", NULL) ||
        th_cli(&H, TOKEN "\n", NULL, 0, "secret", "set", "tgs", "token", NULL) ||
        th_cli(&H, TOKEN "\n", NULL, 0, "secret", "set", "tg", "token", NULL) ||
        th_cli(&H, TOKEN "\n", NULL, 0, "secret", "set", "tgw", "token", NULL) ||
        th_cli(&H, HOOK_SECRET "\n", NULL, 0, "secret", "set", "tgw", "webhook_secret", NULL) ||
        th_cli(&H, BAD_TOKEN "\n", NULL, 0, "secret", "set", "tgbad", "token", NULL) ||
        th_start(&H, NULL, 15000) || !th_wait_state(&H, "jq-1", "ready", 15000) ||
        !th_wait_state(&H, "tg", "ready", 15000) || !th_wait_state(&H, "tgw", "ready", 15000) ||
        !th_wait_state(&H, "tgl", "ready", 15000) || !th_wait_state(&H, "tgs", "ready", 15000) ||
        !th_wait_state(&H, "llm", "ready", 15000);
    free(cfg);
    if (rc) return -1;
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    fake_stop(&TGP);
    fake_stop(&TGW);
    fake_stop(&TGL);
    fake_stop(&TGS);
    fake_stop(&LLM);
    return rc ? -1 : 0;
}

/* The onboarding conversation with chat `chat` on the bot behind f. */
static void onboarding(const fake_proc *f, long long chat)
{
    ftg_say(f, chat, "/start");
    json_t *sent = ftg_wait_sent(f, chat, 2);
    assert_string_equal(ftg_text_of(sent, 0),
                        "Welcome aboard! Four quick questions and you are set.");
    assert_string_equal(ftg_text_of(sent, 1), "What should we call you?");
    json_decref(sent);

    ftg_say(f, chat, "A"); /* too short: said why, asked again */
    sent = ftg_wait_sent(f, chat, 4);
    assert_string_equal(ftg_text_of(sent, 2), "A name of 2 to 60 characters, please.");
    assert_string_equal(ftg_text_of(sent, 3), "What should we call you?");
    json_decref(sent);

    ftg_say(f, chat, "Anna");
    sent = ftg_wait_sent(f, chat, 5);
    assert_string_equal(ftg_text_of(sent, 4), "Anna, what is your work email?");
    json_decref(sent);

    ftg_say(f, chat, "anna@example.com");
    sent = ftg_wait_sent(f, chat, 6);
    assert_string_equal(ftg_text_of(sent, 5), "What do you do?");
    json_t *kb = th_get(json_array_get(sent, 5), "params.reply_markup.inline_keyboard");
    assert_int_equal(json_array_size(kb), 3);
    const char *data = json_string_value(th_get(kb, "0.0.callback_data"));
    assert_non_null(data);
    long long mid = json_integer_value(json_object_get(json_array_get(sent, 5), "message_id"));
    long long answered = ftg_stat(f, "answerCallbackQuery");

    json_t *press = json_pack("{s:I,s:s,s:I}", "chat_id", (json_int_t)chat, "data", data,
                              "message_id", (json_int_t)mid);
    char *ps = json_dumps(press, 0);
    json_decref(ftg_call(f, "POST", "/_fake/press", ps));
    free(ps);
    json_decref(press);
    json_decref(sent);
    sent = ftg_wait_sent(f, chat, 7);
    assert_string_equal(ftg_text_of(sent, 6), "How many people are on your team?");
    json_decref(sent);
    /* The button press was answered (the spinner stops). */
    long long deadline = th_now_ms() + 10000;
    while (ftg_stat(f, "answerCallbackQuery") <= answered && th_now_ms() < deadline)
        th_sleep_ms(50);
    assert_true(ftg_stat(f, "answerCallbackQuery") > answered);

    ftg_say(f, chat, "5");
    sent = ftg_wait_sent(f, chat, 8);
    assert_string_equal(ftg_text_of(sent, 7), "Here is where developers start:");
    json_decref(sent);
}

static void test_onboarding_over_a_polling_bot(void **s)
{
    (void)s;
    make_agent("Onboarding (polling)", "onboarding-survey.json", "tg", AGENT_P, sizeof(AGENT_P));
    onboarding(&TGP, 100001);
    assert_true(ftg_stat(&TGP, "getUpdates") > 0);
    assert_int_equal(ftg_stat(&TGP, "webhook_delivered"), 0);
    /* Every update was confirmed: none is left with the server. */
    long long deadline = th_now_ms() + 10000;
    while (ftg_stat(&TGP, "pending") && th_now_ms() < deadline)
        th_sleep_ms(50);
    assert_int_equal(ftg_stat(&TGP, "pending"), 0);
}

static void test_onboarding_over_a_webhook_bot(void **s)
{
    (void)s;
    make_agent("Onboarding (webhook)", "onboarding-survey.json", "tgw", AGENT_W, sizeof(AGENT_W));
    onboarding(&TGW, 200001);
    assert_true(ftg_stat(&TGW, "webhook_delivered") >= 6);
    assert_int_equal(ftg_stat(&TGW, "webhook_refused"), 0);
    assert_int_equal(ftg_stat(&TGW, "getUpdates"), 0);
}

static void test_in_a_group_only_commands_for_this_bot_start_a_conversation(void **s)
{
    (void)s;
    /* Two members of a supergroup: one addresses another bot, the other this
     * one. The poller publishes in update order, so when the second has its
     * answer the first would have been published before it. */
    long long in_before = th_topic_depth(&H, "message.in");
    json_decref(ftg_call(&TGP, "POST", "/_fake/text",
                         "{\"chat_id\": -1001234567890, \"chat_type\": \"supergroup\", \"title\": "
                         "\"Support group\", \"from_id\": 556, \"text\": \"/start@other_bot\"}"));
    json_decref(ftg_call(&TGP, "POST", "/_fake/text",
                         "{\"chat_id\": -1001234567890, \"chat_type\": \"supergroup\", \"title\": "
                         "\"Support group\", \"from_id\": 557, \"text\": "
                         "\"/start@agenthost_test_bot\"}"));
    json_t *sent = ftg_wait_sent(&TGP, -1001234567890LL, 2);
    assert_int_equal(json_array_size(sent), 2);
    assert_string_equal(ftg_text_of(sent, 0),
                        "Welcome aboard! Four quick questions and you are set.");
    assert_string_equal(ftg_text_of(sent, 1), "What should we call you?");
    json_decref(sent);
    assert_int_equal(th_topic_depth(&H, "message.in"), in_before + 1);
}

static void test_a_question_is_answered_by_the_llm(void **s)
{
    (void)s;
    char agent[64];
    make_agent("FAQ", "faq-agent.json", "tgl", agent, sizeof(agent));
    ftg_say(&TGL, 400001, "/start");
    json_t *sent = ftg_wait_sent(&TGL, 400001, 1);
    assert_non_null(strstr(ftg_text_of(sent, 0), "I answer questions about Acme"));
    size_t greeting = json_array_size(sent);
    json_decref(sent);
    ftg_say(&TGL, 400001, "Where is my parcel?");
    sent = ftg_wait_sent(&TGL, 400001, greeting + 2);
    /* The fake model's recorded answer, then the scenario's follow-up. */
    assert_string_equal(ftg_text_of(sent, greeting), "The capital of England is London.");
    assert_string_equal(ftg_text_of(sent, greeting + 1), "Did that help?");
    /* The chat saw "typing" while the model ran. */
    assert_true(ftg_stat(&TGL, "sendChatAction") >= 1);
    assert_int_equal(json_array_size(th_get(json_array_get(sent, greeting + 1),
                                            "params.reply_markup.inline_keyboard")),
                     2);
    json_decref(sent);
}

static void
test_typing_is_shown_and_renewed_while_the_llm_step_runs_and_stops_with_the_answer(void **s)
{
    (void)s;
    /* The FAQ agent whose model takes 3.5 s (the fake's slow:MS); the bot
     * renews "typing" every second (typing_interval_ms). */
    char agent[64], *content = th_read_source("docs/examples/scenarios/faq-agent.json"),
                    *slow = NULL;
    assert_non_null(content);
    char *at = strstr(content, "\"temperature\": 0.2,");
    assert_non_null(at);
    assert_true(
        asprintf(&slow, "%.*s\"model\": \"slow:3500\", %s", (int)(at - content), content, at) > 0);
    free(content);
    make_agent_of("FAQ (slow model)", slow, "tgs", agent, sizeof(agent));
    ftg_say(&TGS, 500001, "/start");
    json_t *sent = ftg_wait_sent(&TGS, 500001, 1);
    size_t greeting = json_array_size(sent);
    json_decref(sent);
    /* No LLM step ran yet: no "typing" for the greeting. */
    json_t *calls = ftg_calls_to(&TGS, 500001);
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c)
        assert_string_not_equal(json_string_value(json_object_get(c, "method")), "sendChatAction");
    json_decref(calls);
    ftg_say(&TGS, 500001, "Where is my parcel?");
    sent = ftg_wait_sent(&TGS, 500001, greeting + 2);
    assert_string_equal(ftg_text_of(sent, greeting), "The capital of England is London.");
    json_decref(sent);
    /* "typing" from the step's start, renewed while the model thought
     * (3.5 s at one a second: several), all before the answer. */
    calls = ftg_calls_to(&TGS, 500001);
    size_t typing = 0, answer = 0;
    json_array_foreach(calls, i, c)
    {
        const char *m = json_string_value(json_object_get(c, "method"));
        if (!strcmp(m, "sendChatAction")) {
            assert_string_equal(json_string_value(th_get(c, "params.action")), "typing");
            assert_int_equal(answer, 0); /* none after the answer went out */
            typing++;
        } else if (!strcmp(m, "sendMessage") && !strcmp(json_string_value(th_get(c, "params.text")),
                                                        "The capital of England is London.")) {
            answer = i;
        }
    }
    json_decref(calls);
    assert_true(answer > 0);
    assert_true(typing >= 2);
    /* And nothing is left renewing it once the answer is out. */
    long long deadline = th_now_ms() + 10000;
    for (;;) {
        json_t *o = NULL;
        assert_int_equal(th_call(&H, "tgs", "status", "{}", &o), 200);
        long long left = json_integer_value(th_get(o, "result.typing_chats"));
        json_decref(o);
        if (!left) break;
        if (th_now_ms() > deadline) fail_msg("still typing in %lld chats", left);
        th_sleep_ms(50);
    }
}

static void test_the_webhook_refuses_a_request_without_telegrams_secret(void **s)
{
    (void)s;
    static const char update[] = "{\"update_id\": 1, \"message\": {\"message_id\": 1, \"date\": 1, "
                                 "\"chat\": {\"id\": 5, \"type\": \"private\"}, \"from\": {\"id\": "
                                 "5, \"is_bot\": false, \"first_name\": \"X\"}, \"text\": \"hi\"}}";
    const char *wrong[] = {"X-Telegram-Bot-Api-Secret-Token: not-the-secret", NULL};
    assert_int_equal(th_http_raw(&H, "POST", "/hooks/tgw/telegram", "application/json", update,
                                 strlen(update), NULL, NULL, NULL),
                     403);
    assert_int_equal(th_http_raw(&H, "POST", "/hooks/tgw/telegram", "application/json", update,
                                 strlen(update), wrong, NULL, NULL),
                     403);
    assert_true(th_wait_file(&H, "logs/security.log", "webhook_secret_mismatch", 5000));
}

static void test_a_rate_limited_chat_gets_each_reply_once_and_others_go_on(void **s)
{
    (void)s;
    long long before = ftg_stat(&TGP, "rate_limited");
    json_decref(ftg_call(&TGP, "POST", "/_fake/rate_limit",
                         "{\"chat_id\": 100003, \"count\": 4, \"retry_after\": 1}"));
    ftg_say(&TGP, 100003, "/start");
    ftg_say(&TGP, 100004, "/start");
    json_t *other = ftg_wait_sent(&TGP, 100004, 2);
    json_decref(other);
    json_t *held = ftg_wait_sent(&TGP, 100003, 2);
    assert_string_equal(ftg_text_of(held, 0),
                        "Welcome aboard! Four quick questions and you are set.");
    assert_string_equal(ftg_text_of(held, 1), "What should we call you?");
    json_decref(held);
    /* The broker's own retries (broker.max_retries, 2) take the first three
     * 429s; the third reaches the plugin, which holds the chat for
     * retry_after and has the bus deliver the reply again after it. */
    assert_int_equal(ftg_stat(&TGP, "rate_limited"), before + 4);
    assert_true(
        th_file_contains(&H, "logs/plugins/tg.log", "to chat 100003: 429, held for 1000 ms"));
    /* Nothing more arrives for that chat: no reply was sent twice. */
    ftg_say(&TGP, 100003, "Bo");
    held = ftg_wait_sent(&TGP, 100003, 3);
    assert_int_equal(json_array_size(held), 3);
    assert_string_equal(ftg_text_of(held, 2), "Bo, what is your work email?");
    json_decref(held);
}

static void test_a_chat_that_blocked_the_bot_is_marked_and_not_sent_to_again(void **s)
{
    (void)s;
    json_decref(ftg_call(&TGP, "POST", "/_fake/block", "{\"chat_id\": 100005}"));
    long long before = ftg_stat(&TGP, "forbidden");
    ftg_say(&TGP, 100005, "/start");
    assert_true(
        th_wait_file(&H, "logs/plugins/tg.log", "chat 100005 is unreachable on this bot", 30000));
    assert_int_equal(ftg_stat(&TGP, "forbidden"), before + 1);
    ftg_say(&TGP, 100005, "Anna");
    assert_true(
        th_wait_file(&H, "logs/plugins/tg.log", "chat 100005 blocked the bot; not sent", 30000));
    assert_int_equal(ftg_stat(&TGP, "forbidden"), before + 1);
}

/* The events on platform.chat whose body has type `type` (a new array), once
 * there are at least n of them; fails after the deadline. */
static json_t *wait_chat_events(const char *type, size_t n)
{
    long long deadline = th_now_ms() + 30000;
    for (;;) {
        json_t *o = NULL, *out = json_array();
        int st =
            th_http(&H, "GET", "/api/v1/topics/platform.chat/events?limit=1000", NULL, NULL, &o);
        size_t i;
        json_t *ev;
        json_array_foreach(st == 200 ? json_object_get(o, "events") : NULL, i, ev)
        {
            json_t *b = json_object_get(ev, "body");
            if (!strcmp(json_string_value(json_object_get(b, "type")) ?: "", type))
                json_array_append(out, b);
        }
        json_decref(o);
        if (json_array_size(out) >= n) return out;
        json_decref(out);
        if (th_now_ms() > deadline) fail_msg("fewer than %zu %s events after 30 s", n, type);
        th_sleep_ms(50);
    }
}

static void member(const fake_proc *f, const char *args)
{
    json_decref(ftg_call(f, "POST", "/_fake/member", args));
}

/* How many times needle is in the file (0 when it is not there). */
static int times_in(const char *rel, const char *needle)
{
    char *t = th_read(&H, rel);
    int n = 0;
    for (const char *p = t ? strstr(t, needle) : NULL; p; p = strstr(p + 1, needle))
        n++;
    free(t);
    return n;
}

static void wait_times_in(const char *rel, const char *needle, int n)
{
    long long deadline = th_now_ms() + 30000;
    while (times_in(rel, needle) < n) {
        if (th_now_ms() > deadline) fail_msg("%s: \"%s\" fewer than %d times", rel, needle, n);
        th_sleep_ms(50);
    }
}

static void test_blocking_and_unblocking_are_published_and_unblocking_clears_the_mark(void **s)
{
    (void)s;
    static const char log[] = "logs/plugins/tg.log";
    static const char not_sent[] = "chat 100040 blocked the bot; not sent";
    /* A person who blocked the bot: the welcome gets 403, the chat is
     * marked, the question after it is not even tried. */
    json_decref(ftg_call(&TGP, "POST", "/_fake/block", "{\"chat_id\": 100040}"));
    ftg_say(&TGP, 100040, "/start");
    assert_true(th_wait_file(&H, log, "chat 100040 is unreachable on this bot", 30000));
    wait_times_in(log, not_sent, 1);
    /* They unblock it (my_chat_member kicked -> member): published, and the
     * mark the 403 set is cleared, so the next reply goes out. */
    member(&TGP, "{\"kind\": \"my_chat_member\", \"chat_id\": 100040, \"old\": \"kicked\", "
                 "\"new\": \"member\"}");
    json_t *evs = wait_chat_events("chat.bot_status_changed", 1);
    json_t *e = json_array_get(evs, json_array_size(evs) - 1);
    assert_string_equal(json_string_value(json_object_get(e, "change")), "unblocked");
    assert_string_equal(json_string_value(th_get(e, "chat.id")), "100040");
    assert_string_equal(json_string_value(th_get(e, "chat.type")), "private");
    assert_string_equal(json_string_value(th_get(e, "channel.instance")), "tg");
    assert_string_equal(json_string_value(th_get(e, "status.old")), "kicked");
    assert_string_equal(json_string_value(th_get(e, "status.new")), "member");
    assert_string_equal(json_string_value(th_get(e, "by_id")), "100040");
    json_decref(evs);
    assert_true(th_wait_file(&H, log, "chat 100040 can be reached on this bot again", 30000));
    ftg_say(&TGP, 100040, "Anna");
    json_t *sent = ftg_wait_sent(&TGP, 100040, 1);
    assert_int_equal(json_array_size(sent), 1);
    assert_string_equal(ftg_text_of(sent, 0), "Anna, what is your work email?");
    json_decref(sent);
    /* They block it again: published as blocked, and the next reply is not
     * sent (the plugin knows without asking Telegram: no new 403). */
    member(&TGP, "{\"kind\": \"my_chat_member\", \"chat_id\": 100040, \"old\": \"member\", "
                 "\"new\": \"kicked\"}");
    evs = wait_chat_events("chat.bot_status_changed", 2);
    e = json_array_get(evs, json_array_size(evs) - 1);
    assert_string_equal(json_string_value(json_object_get(e, "change")), "blocked");
    json_decref(evs);
    long long forbidden = ftg_stat(&TGP, "forbidden");
    ftg_say(&TGP, 100040, "anna@example.com");
    wait_times_in(log, not_sent, 2);
    assert_int_equal(ftg_stat(&TGP, "forbidden"), forbidden);
}

static void test_joins_and_leaves_in_a_group_are_published_once_each(void **s)
{
    (void)s;
    /* The bot added to a group, then a member joins and leaves (chat_member,
     * which Telegram sends to a bot administering the group). */
    member(&TGP, "{\"kind\": \"my_chat_member\", \"chat_id\": -1009000000001, \"chat_type\": "
                 "\"supergroup\", \"from_id\": 556, \"old\": \"left\", \"new\": "
                 "\"administrator\"}");
    member(&TGP, "{\"kind\": \"chat_member\", \"chat_id\": -1009000000001, \"chat_type\": "
                 "\"supergroup\", \"from_id\": 558, \"old\": \"left\", \"new\": \"member\"}");
    member(&TGP, "{\"kind\": \"chat_member\", \"chat_id\": -1009000000001, \"chat_type\": "
                 "\"supergroup\", \"from_id\": 558, \"old\": \"member\", \"new\": \"left\"}");
    json_t *evs = wait_chat_events("chat.member_changed", 2);
    assert_int_equal(json_array_size(evs), 2);
    assert_string_equal(json_string_value(th_get(evs, "0.change")), "joined");
    assert_string_equal(json_string_value(th_get(evs, "1.change")), "left");
    assert_string_equal(json_string_value(th_get(evs, "0.user_id")), "558");
    assert_string_equal(json_string_value(th_get(evs, "0.chat.type")), "group");
    json_decref(evs);
    evs = wait_chat_events("chat.bot_status_changed", 1);
    bool added = false;
    size_t i;
    json_t *e;
    json_array_foreach(evs, i, e) added |=
        !strcmp(json_string_value(th_get(e, "chat.id")), "-1009000000001") &&
        !strcmp(json_string_value(json_object_get(e, "change")), "added");
    assert_true(added);
    json_decref(evs);
    /* Not messages: nothing of it reached a conversation. */
    json_t *sent = ftg_call(&TGP, "GET", "/_fake/sent?chat_id=-1009000000001", NULL);
    assert_int_equal(json_array_size(json_object_get(sent, "sent")), 0);
    json_decref(sent);
}

static void test_a_wrong_token_is_a_clear_error_and_never_logged(void **s)
{
    (void)s;
    assert_true(
        th_wait_file(&H, "logs/plugins/tgbad.log", "Telegram refused the bot token", 15000));
    assert_false(th_logs_contain(&H, BAD_TOKEN));
    assert_false(th_logs_contain(&H, TOKEN));
    assert_false(th_logs_contain(&H, HOOK_SECRET));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_onboarding_over_a_polling_bot),
        cmocka_unit_test(test_onboarding_over_a_webhook_bot),
        cmocka_unit_test(test_in_a_group_only_commands_for_this_bot_start_a_conversation),
        cmocka_unit_test(test_a_question_is_answered_by_the_llm),
        cmocka_unit_test(
            test_typing_is_shown_and_renewed_while_the_llm_step_runs_and_stops_with_the_answer),
        cmocka_unit_test(test_the_webhook_refuses_a_request_without_telegrams_secret),
        cmocka_unit_test(test_a_rate_limited_chat_gets_each_reply_once_and_others_go_on),
        cmocka_unit_test(test_a_chat_that_blocked_the_bot_is_marked_and_not_sent_to_again),
        cmocka_unit_test(test_blocking_and_unblocking_are_published_and_unblocking_clears_the_mark),
        cmocka_unit_test(test_joins_and_leaves_in_a_group_are_published_once_each),
        cmocka_unit_test(test_a_wrong_token_is_a_clear_error_and_never_logged),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
