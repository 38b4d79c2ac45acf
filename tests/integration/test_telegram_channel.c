/*
 * The Telegram channel through the real binary: two bots on two fake Bot
 * API servers (tests/fakes/fake_telegram), one polling ("tg") and one on
 * the webhook ("tgw"), each bound to an agent running the onboarding
 * example. A person sends /start, answers, gives an invalid answer that is
 * asked again, taps an inline button (answered with answerCallbackQuery)
 * and reaches the end, in both modes. Also: the webhook refuses a request
 * without Telegram's secret header (logged to logs/security.log); a chat
 * rate-limited with 429 is held for retry_after and gets each reply
 * exactly once, while another chat gets its replies; a chat that blocked the bot is marked and not
 * sent to again; a wrong token is a clear error and is never logged.
 */
#include "../fakes/fake_proc.h"
#include "../support/th.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

/* ---- helpers ------------------------------------------------------------------------- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
        getsockname(fd, (struct sockaddr *)&a, &len))
        return -1;
    close(fd);
    return ntohs(a.sin_port);
}

/* A request to a fake server's control endpoints. */
static json_t *fake(const fake_proc *f, const char *method, const char *path, const char *body)
{
    th_host x = {.port = f->port};
    json_t *o = NULL;
    int st = th_http(&x, method, path, body, "", &o);
    if (st != 200) fail_msg("%s %s: %d", method, path, st);
    return o;
}

static void say(const fake_proc *f, long long chat, const char *text)
{
    json_t *b = json_pack("{s:I,s:s}", "chat_id", (json_int_t)chat, "text", text);
    char *s = json_dumps(b, 0);
    json_decref(fake(f, "POST", "/_fake/text", s));
    free(s);
    json_decref(b);
}

/* What the bot sent to chat with sendMessage (texts in order), once there
 * are at least n; fails after the deadline. */
static json_t *wait_sent(const fake_proc *f, long long chat, size_t n)
{
    char path[100];
    snprintf(path, sizeof(path), "/_fake/sent?chat_id=%lld", chat);
    long long deadline = th_now_ms() + 30000;
    for (;;) {
        json_t *o = fake(f, "GET", path, NULL);
        json_t *msgs = json_array();
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(o, "sent"), i,
                           s) if (!strcmp(json_string_value(json_object_get(s, "method")),
                                          "sendMessage")) json_array_append(msgs, s);
        json_decref(o);
        if (json_array_size(msgs) >= n) return msgs;
        if (th_now_ms() > deadline) {
            char *d = json_dumps(msgs, JSON_COMPACT);
            fail_msg("chat %lld: %zu of %zu messages after 30 s: %s", chat, json_array_size(msgs),
                     n, d);
        }
        json_decref(msgs);
        th_sleep_ms(50);
    }
}

static const char *text_of(const json_t *sent, size_t i)
{
    return json_string_value(th_get((json_t *)json_array_get(sent, i), "params.text"));
}

static long long stat_of(const fake_proc *f, const char *name)
{
    json_t *o = fake(f, "GET", "/_fake/stats", NULL);
    long long v = json_integer_value(json_object_get(o, name));
    json_decref(o);
    return v;
}

static char *read_example(const char *name)
{
    char path[600];
    snprintf(path, sizeof(path), TH_SOURCE_DIR "/docs/examples/scenarios/%s", name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = calloc(1, (size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) b[0] = 0;
    fclose(f);
    return b;
}

static void make_agent_of(const char *name, char *content, const char *instance, char *agent,
                          size_t n);

/* An example scenario as an agent bound to a channel instance. */
static void make_agent(const char *name, const char *example, const char *instance, char *agent,
                       size_t n)
{
    make_agent_of(name, read_example(example), instance, agent, n);
}

/* Scenario content (freed here) as an agent bound to a channel instance. */
static void make_agent_of(const char *name, char *content, const char *instance, char *agent,
                          size_t n)
{
    json_t *o = NULL;
    char body[300], path[200];
    snprintf(body, sizeof(body), "{\"name\": \"%s\"}", name);
    assert_int_equal(th_http(&H, "POST", "/api/v1/scenarios", body, NULL, &o), 201);
    char scn[64];
    snprintf(scn, sizeof(scn), "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    char *ver = NULL;
    assert_non_null(content);
    assert_true(asprintf(&ver, "{\"message\": \"first\", \"content\": %s}", content) > 0);
    snprintf(path, sizeof(path), "/api/v1/scenarios/%s/versions", scn);
    int vst = th_http(&H, "POST", path, ver, NULL, &o);
    if (vst != 201) fail_msg("saving %s: %d %s", name, vst, json_dumps(o, 0));
    json_decref(o);
    free(ver);
    free(content);
    char *ab = NULL;
    assert_true(asprintf(&ab,
                         "{\"name\": \"%s\", \"status\": \"active\", \"default_language\": \"en\", "
                         "\"scenario\": {\"scenario_id\": \"%s\"}, \"channels\": [{\"instance\": "
                         "\"%s\"}]}",
                         name, scn, instance) > 0);
    int st = th_http(&H, "POST", "/api/v1/agents", ab, NULL, &o);
    if (st != 201) fail_msg("agent: %d %s", st, json_dumps(o, 0));
    snprintf(agent, n, "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    free(ab);
}

/* ---- setup ----------------------------------------------------------------------------- */

static int setup(void **s)
{
    (void)s;
    if (fake_start(&TGP, FAKE_BIN, 5000) || fake_start(&TGW, FAKE_BIN, 5000) ||
        fake_start(&TGL, FAKE_BIN, 5000) || fake_start(&TGS, FAKE_BIN, 5000) ||
        fake_start(&LLM, FAKE_LLM, 5000))
        return -1;
    int port = free_port();
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

/* ---- the tests ---------------------------------------------------------------------------- */

/* The onboarding conversation with chat `chat` on the bot behind f. */
static void onboarding(const fake_proc *f, long long chat)
{
    say(f, chat, "/start");
    json_t *sent = wait_sent(f, chat, 2);
    assert_string_equal(text_of(sent, 0), "Welcome aboard! Four quick questions and you are set.");
    assert_string_equal(text_of(sent, 1), "What should we call you?");
    json_decref(sent);

    say(f, chat, "A"); /* too short: said why, asked again */
    sent = wait_sent(f, chat, 4);
    assert_string_equal(text_of(sent, 2), "A name of 2 to 60 characters, please.");
    assert_string_equal(text_of(sent, 3), "What should we call you?");
    json_decref(sent);

    say(f, chat, "Anna");
    sent = wait_sent(f, chat, 5);
    assert_string_equal(text_of(sent, 4), "Anna, what is your work email?");
    json_decref(sent);

    say(f, chat, "anna@example.com");
    sent = wait_sent(f, chat, 6);
    assert_string_equal(text_of(sent, 5), "What do you do?");
    json_t *kb = th_get(json_array_get(sent, 5), "params.reply_markup.inline_keyboard");
    assert_int_equal(json_array_size(kb), 3);
    const char *data = json_string_value(th_get(kb, "0.0.callback_data"));
    assert_non_null(data);
    long long mid = json_integer_value(json_object_get(json_array_get(sent, 5), "message_id"));
    long long answered = stat_of(f, "answerCallbackQuery");

    json_t *press = json_pack("{s:I,s:s,s:I}", "chat_id", (json_int_t)chat, "data", data,
                              "message_id", (json_int_t)mid);
    char *ps = json_dumps(press, 0);
    json_decref(fake(f, "POST", "/_fake/press", ps));
    free(ps);
    json_decref(press);
    json_decref(sent);
    sent = wait_sent(f, chat, 7);
    assert_string_equal(text_of(sent, 6), "How many people are on your team?");
    json_decref(sent);
    /* The button press was answered (the spinner stops). */
    long long deadline = th_now_ms() + 10000;
    while (stat_of(f, "answerCallbackQuery") <= answered && th_now_ms() < deadline)
        th_sleep_ms(50);
    assert_true(stat_of(f, "answerCallbackQuery") > answered);

    say(f, chat, "5");
    sent = wait_sent(f, chat, 8);
    assert_string_equal(text_of(sent, 7), "Here is where developers start:");
    json_decref(sent);
}

static void test_onboarding_over_a_polling_bot(void **s)
{
    (void)s;
    make_agent("Onboarding (polling)", "onboarding-survey.json", "tg", AGENT_P, sizeof(AGENT_P));
    onboarding(&TGP, 100001);
    assert_true(stat_of(&TGP, "getUpdates") > 0);
    assert_int_equal(stat_of(&TGP, "webhook_delivered"), 0);
    /* Every update was confirmed: none is left with the server. */
    long long deadline = th_now_ms() + 10000;
    while (stat_of(&TGP, "pending") && th_now_ms() < deadline)
        th_sleep_ms(50);
    assert_int_equal(stat_of(&TGP, "pending"), 0);
}

static void test_onboarding_over_a_webhook_bot(void **s)
{
    (void)s;
    make_agent("Onboarding (webhook)", "onboarding-survey.json", "tgw", AGENT_W, sizeof(AGENT_W));
    onboarding(&TGW, 200001);
    assert_true(stat_of(&TGW, "webhook_delivered") >= 6);
    assert_int_equal(stat_of(&TGW, "webhook_refused"), 0);
    assert_int_equal(stat_of(&TGW, "getUpdates"), 0);
}

static void test_in_a_group_only_commands_for_this_bot_start_a_conversation(void **s)
{
    (void)s;
    /* Two members of a supergroup: one addresses another bot, the other this
     * one. The poller publishes in update order, so when the second has its
     * answer the first would have been published before it. */
    long long in_before = th_topic_depth(&H, "message.in");
    json_decref(fake(&TGP, "POST", "/_fake/text",
                     "{\"chat_id\": -1001234567890, \"chat_type\": \"supergroup\", \"title\": "
                     "\"Support group\", \"from_id\": 556, \"text\": \"/start@other_bot\"}"));
    json_decref(fake(&TGP, "POST", "/_fake/text",
                     "{\"chat_id\": -1001234567890, \"chat_type\": \"supergroup\", \"title\": "
                     "\"Support group\", \"from_id\": 557, \"text\": "
                     "\"/start@agenthost_test_bot\"}"));
    json_t *sent = wait_sent(&TGP, -1001234567890LL, 2);
    assert_int_equal(json_array_size(sent), 2);
    assert_string_equal(text_of(sent, 0), "Welcome aboard! Four quick questions and you are set.");
    assert_string_equal(text_of(sent, 1), "What should we call you?");
    json_decref(sent);
    assert_int_equal(th_topic_depth(&H, "message.in"), in_before + 1);
}

static void test_a_question_is_answered_by_the_llm(void **s)
{
    (void)s;
    char agent[64];
    make_agent("FAQ", "faq-agent.json", "tgl", agent, sizeof(agent));
    say(&TGL, 400001, "/start");
    json_t *sent = wait_sent(&TGL, 400001, 1);
    assert_non_null(strstr(text_of(sent, 0), "I answer questions about Acme"));
    size_t greeting = json_array_size(sent);
    json_decref(sent);
    say(&TGL, 400001, "Where is my parcel?");
    sent = wait_sent(&TGL, 400001, greeting + 2);
    /* The fake model's recorded answer, then the scenario's follow-up. */
    assert_string_equal(text_of(sent, greeting), "The capital of England is London.");
    assert_string_equal(text_of(sent, greeting + 1), "Did that help?");
    /* The chat saw "typing" while the model ran. */
    assert_true(stat_of(&TGL, "sendChatAction") >= 1);
    assert_int_equal(json_array_size(th_get(json_array_get(sent, greeting + 1),
                                            "params.reply_markup.inline_keyboard")),
                     2);
    json_decref(sent);
}

/* The bot's calls to chat, every method in order (a new array). */
static json_t *calls_to(const fake_proc *f, long long chat)
{
    char path[100];
    snprintf(path, sizeof(path), "/_fake/sent?chat_id=%lld", chat);
    json_t *o = fake(f, "GET", path, NULL);
    json_t *out = json_incref(json_object_get(o, "sent"));
    json_decref(o);
    return out;
}

static void
test_typing_is_shown_and_renewed_while_the_llm_step_runs_and_stops_with_the_answer(void **s)
{
    (void)s;
    /* The FAQ agent whose model takes 3.5 s (the fake's slow:MS); the bot
     * renews "typing" every second (typing_interval_ms). */
    char agent[64], *content = read_example("faq-agent.json"), *slow = NULL;
    assert_non_null(content);
    char *at = strstr(content, "\"temperature\": 0.2,");
    assert_non_null(at);
    assert_true(
        asprintf(&slow, "%.*s\"model\": \"slow:3500\", %s", (int)(at - content), content, at) > 0);
    free(content);
    make_agent_of("FAQ (slow model)", slow, "tgs", agent, sizeof(agent));
    say(&TGS, 500001, "/start");
    json_t *sent = wait_sent(&TGS, 500001, 1);
    size_t greeting = json_array_size(sent);
    json_decref(sent);
    /* No LLM step ran yet: no "typing" for the greeting. */
    json_t *calls = calls_to(&TGS, 500001);
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c)
        assert_string_not_equal(json_string_value(json_object_get(c, "method")), "sendChatAction");
    json_decref(calls);
    say(&TGS, 500001, "Where is my parcel?");
    sent = wait_sent(&TGS, 500001, greeting + 2);
    assert_string_equal(text_of(sent, greeting), "The capital of England is London.");
    json_decref(sent);
    /* "typing" from the step's start, renewed while the model thought
     * (3.5 s at one a second: several), all before the answer. */
    calls = calls_to(&TGS, 500001);
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

static void test_files_given_as_bytes_are_uploaded_as_multipart_and_reusable(void **s)
{
    (void)s;
    /* A document and a photo, as bytes: one sendDocument (the caption with
     * it) and one sendPhoto, multipart, as the fake parses them. */
    static const char args[] =
        "{\"chat_id\": 100050, \"text\": \"Your invoice\", \"attachments\": ["
        "{\"kind\": \"document\", \"name\": \"invoice-5512.pdf\", \"mime_type\": "
        "\"application/pdf\", \"content_b64\": \"JVBERi0xLjQgaW52b2ljZSA1NTEyOiA0MiBFVVI=\"},"
        "{\"kind\": \"image\", \"name\": \"parcel.png\", \"mime_type\": \"image/png\", "
        "\"content_b64\": \"iVBORw0KGgpmYWtlLXBob3Rv\"}]}";
    long long refused = stat_of(&TGP, "multipart_refused");
    json_t *o = NULL;
    int st = th_call(&H, "tg", "send", args, &o);
    if (st != 200) fail_msg("send: %d %s", st, json_dumps(o, 0));
    json_t *fids = th_get(o, "result.file_ids");
    assert_int_equal(json_array_size(fids), 2);
    char reuse[200];
    snprintf(reuse, sizeof(reuse), "%s", json_string_value(json_array_get(fids, 1)));
    assert_true(!strncmp(reuse, "telegram:AgACAgIAAxkBfakeupload", 31));
    json_decref(o);
    json_t *calls = calls_to(&TGP, 100050);
    assert_int_equal(json_array_size(calls), 2);
    json_t *doc = json_array_get(calls, 0), *photo = json_array_get(calls, 1);
    assert_string_equal(json_string_value(json_object_get(doc, "method")), "sendDocument");
    assert_string_equal(json_string_value(th_get(doc, "params.caption")), "Your invoice");
    assert_int_equal(json_integer_value(th_get(doc, "params.chat_id")), 100050);
    assert_true(json_is_true(th_get(doc, "params.document.upload")));
    assert_string_equal(json_string_value(th_get(doc, "params.document.filename")),
                        "invoice-5512.pdf");
    assert_string_equal(json_string_value(th_get(doc, "params.document.content_type")),
                        "application/pdf");
    assert_string_equal(json_string_value(th_get(doc, "params.document.content_b64")),
                        "JVBERi0xLjQgaW52b2ljZSA1NTEyOiA0MiBFVVI=");
    assert_string_equal(json_string_value(json_object_get(photo, "method")), "sendPhoto");
    assert_string_equal(json_string_value(th_get(photo, "params.photo.content_b64")),
                        "iVBORw0KGgpmYWtlLXBob3Rv");
    json_decref(calls);
    assert_int_equal(stat_of(&TGP, "multipart_refused"), refused);
    /* The file_id it answered sends the same photo again, without bytes. */
    char *again = NULL;
    assert_true(asprintf(&again,
                         "{\"chat_id\": 100051, \"attachments\": [{\"kind\": \"image\", "
                         "\"ref\": \"%s\"}]}",
                         reuse) > 0);
    assert_int_equal(th_call(&H, "tg", "send", again, &o), 200);
    json_decref(o);
    free(again);
    calls = calls_to(&TGP, 100051);
    assert_string_equal(json_string_value(th_get(calls, "0.params.photo")), reuse + 9);
    json_decref(calls);
    /* A broadcast takes no bytes: it says how to give it the file. */
    assert_int_not_equal(
        th_call(&H, "tg", "broadcast.start",
                "{\"id\": \"with-bytes\", \"chat_ids\": [100052], \"attachments\": [{\"kind\": "
                "\"image\", \"content_b64\": \"iVBORw0KGgpmYWtlLXBob3Rv\"}]}",
                &o),
        200);
    char *d = json_dumps(o, 0);
    assert_non_null(strstr(d, "attachments[0].content_b64: upload the file once"));
    free(d);
    json_decref(o);
    /* Bytes that are not base64: refused naming the field, nothing sent. */
    assert_int_not_equal(th_call(&H, "tg", "send",
                                 "{\"chat_id\": 100053, \"attachments\": [{\"kind\": "
                                 "\"document\", \"content_b64\": \"not*base64\"}]}",
                                 &o),
                         200);
    d = json_dumps(o, 0);
    assert_non_null(strstr(d, "attachments[0].content_b64: not base64"));
    free(d);
    json_decref(o);
    calls = calls_to(&TGP, 100053);
    assert_int_equal(json_array_size(calls), 0);
    json_decref(calls);
}

static void test_the_fake_refuses_malformed_multipart_as_telegram_does(void **s)
{
    (void)s;
    th_host x = {.port = TGP.port};
    static const char *const bodies[] = {
        /* no closing delimiter */
        "--b1\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n5\r\n",
        /* a part without its name */
        "--b1\r\nContent-Disposition: form-data\r\n\r\n5\r\n--b1--\r\n",
        /* no part at all */
        "chat_id=5"};
    for (size_t i = 0; i < 3; i++) {
        char *resp = NULL;
        int st = th_http_raw(&x, "POST", "/bot" TOKEN "/sendDocument",
                             "multipart/form-data; boundary=b1", bodies[i], strlen(bodies[i]), NULL,
                             NULL, &resp);
        assert_int_equal(st, 400);
        assert_non_null(strstr(resp, "\"ok\":false"));
        free(resp);
    }
    char *resp = NULL;
    static const char good[] =
        "--b1\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n5\r\n--b1--\r\n";
    assert_int_equal(th_http_raw(&x, "POST", "/bot" TOKEN "/sendDocument",
                                 "multipart/form-data; boundary=b1", good, strlen(good), NULL, NULL,
                                 &resp),
                     400);
    assert_non_null(strstr(resp, "there is no document in the request"));
    free(resp);
}

static void test_the_send_action_posts_to_a_channel_once_per_key_and_splits_long_texts(void **s)
{
    (void)s;
    static const char args[] = "{\"chat_id\": \"@acme_news\", \"text\": \"**Sale** today < 50% "
                               "off & more\", \"format\": \"markdown\", \"idempotency_key\": "
                               "\"post-1\"}";
    json_t *o = NULL;
    assert_int_equal(th_call(&H, "tg", "send", args, &o), 200);
    json_int_t id = json_integer_value(th_get(o, "result.message_ids.0"));
    assert_true(id > 0);
    assert_string_equal(json_string_value(th_get(o, "result.outcome")), "sent");
    json_decref(o);
    json_t *sent = fake(&TGP, "GET", "/_fake/sent?chat_id=@acme_news", NULL);
    assert_int_equal(json_array_size(json_object_get(sent, "sent")), 1);
    json_t *p = th_get(sent, "sent.0.params");
    assert_string_equal(json_string_value(json_object_get(p, "parse_mode")), "HTML");
    assert_string_equal(json_string_value(json_object_get(p, "text")),
                        "<b>Sale</b> today &lt; 50% off &amp; more");
    json_decref(sent);
    /* The same key again: the first message's id, nothing sent. */
    assert_int_equal(th_call(&H, "tg", "send", args, &o), 200);
    assert_int_equal(json_integer_value(th_get(o, "result.message_ids.0")), id);
    json_decref(o);
    sent = fake(&TGP, "GET", "/_fake/sent?chat_id=@acme_news", NULL);
    assert_int_equal(json_array_size(json_object_get(sent, "sent")), 1);
    json_decref(sent);
    /* 6,000 characters in two paragraphs: two messages, each within the limit. */
    char *para = malloc(3001);
    memset(para, 'x', 3000);
    para[3000] = 0;
    json_t *a = json_pack("{s:s,s:s++}", "chat_id", "100009", "text", para, "\n\n", para);
    char *as = json_dumps(a, 0);
    assert_int_equal(th_call(&H, "tg", "send", as, &o), 200);
    assert_int_equal(json_array_size(th_get(o, "result.message_ids")), 2);
    json_decref(o);
    json_t *parts = wait_sent(&TGP, 100009, 2);
    assert_string_equal(text_of(parts, 0), para);
    assert_string_equal(text_of(parts, 1), para);
    json_decref(parts);
    free(as);
    json_decref(a);
    free(para);
}

static void test_the_scheduler_keeps_a_burst_to_one_chat_under_telegrams_flood_control(void **s)
{
    (void)s;
    /* The fake answers 429 past 4 messages within any second to one chat;
     * the plugin's scheduler (one a second after a burst of 3: at most 4 in
     * any second) must never get there. Unpaced, 6 at once would. */
    json_decref(fake(&TGP, "POST", "/_fake/enforce", "{\"per_chat_per_second\": 4}"));
    long long before = stat_of(&TGP, "rate_limited");
    for (int i = 0; i < 6; i++) {
        char args[100];
        snprintf(args, sizeof(args), "{\"chat_id\": 100011, \"text\": \"news %d\"}", i);
        json_t *o = NULL;
        assert_int_equal(th_call(&H, "tg", "send", args, &o), 200);
        json_decref(o);
    }
    json_t *sent = wait_sent(&TGP, 100011, 6);
    for (size_t i = 0; i < 6; i++) {
        char want[20];
        snprintf(want, sizeof(want), "news %zu", i);
        assert_string_equal(text_of(sent, i), want);
    }
    json_decref(sent);
    assert_int_equal(stat_of(&TGP, "rate_limited"), before);
    json_decref(fake(&TGP, "POST", "/_fake/enforce", "{\"per_chat_per_second\": 0}"));
}

static void test_an_attachment_is_fetched_on_demand_within_its_size_limit(void **s)
{
    (void)s;
    json_decref(fake(&TGP, "POST", "/_fake/file",
                     "{\"file_id\": \"BQACAgIAAxkBAAIBfake\", \"file_path\": "
                     "\"documents/file_7.txt\", \"content\": \"invoice 5512: 42 EUR\"}"));
    json_t *o = NULL;
    assert_int_equal(
        th_call(&H, "tg", "attachment.fetch", "{\"ref\": \"telegram:BQACAgIAAxkBAAIBfake\"}", &o),
        200);
    assert_string_equal(json_string_value(th_get(o, "result.name")), "file_7.txt");
    assert_int_equal(json_integer_value(th_get(o, "result.size")), 20);
    assert_string_equal(json_string_value(th_get(o, "result.content_b64")),
                        "aW52b2ljZSA1NTEyOiA0MiBFVVI=");
    json_decref(o);
    assert_int_not_equal(th_call(&H, "tg", "attachment.fetch",
                                 "{\"ref\": \"telegram:BQACAgIAAxkBAAIBfake\", \"max_bytes\": 10}",
                                 &o),
                         200);
    char *d = json_dumps(o, 0);
    assert_non_null(strstr(d, "too_large"));
    free(d);
    json_decref(o);
    assert_int_not_equal(th_call(&H, "tg", "attachment.fetch", "{\"ref\": \"telegram:nope\"}", &o),
                         200);
    json_decref(o);
}

static void test_a_message_to_a_group_that_became_a_supergroup_follows_it(void **s)
{
    (void)s;
    json_decref(
        fake(&TGP, "POST", "/_fake/migrate", "{\"chat_id\": -4242, \"to\": -1004242424242}"));
    json_t *o = NULL;
    assert_int_equal(
        th_call(&H, "tg", "send", "{\"chat_id\": -4242, \"text\": \"hello group\"}", &o), 200);
    assert_string_equal(json_string_value(th_get(o, "result.chat_id")), "-1004242424242");
    json_decref(o);
    json_t *sent = wait_sent(&TGP, -1004242424242LL, 1);
    assert_string_equal(text_of(sent, 0), "hello group");
    json_decref(sent);
}

static json_t *broadcast(const char *action, const char *args)
{
    json_t *o = NULL;
    int st = th_call(&H, "tg", action, args, &o);
    if (st != 200) fail_msg("%s: %d %s", action, st, json_dumps(o, 0));
    json_t *r = json_incref(json_object_get(o, "result"));
    json_decref(o);
    return r;
}

static void test_a_broadcast_reaches_each_chat_once_and_skips_the_blocked(void **s)
{
    (void)s;
    json_decref(fake(&TGP, "POST", "/_fake/block", "{\"chat_id\": 100030}"));
    static const char start[] =
        "{\"id\": \"spring\", \"text\": \"Spring sale: 20% off\", \"chat_ids\": [100020, "
        "100021, 100022, 100023, 100024, 100025, 100026, 100027, 100028, 100029, 100030]}";
    json_t *st = broadcast("broadcast.start", start);
    assert_int_equal(json_integer_value(json_object_get(st, "total")), 11);
    json_decref(st);
    long long deadline = th_now_ms() + 30000;
    for (;;) {
        st = broadcast("broadcast.status", "{\"id\": \"spring\"}");
        if (!strcmp(json_string_value(json_object_get(st, "state")), "done")) break;
        json_decref(st);
        if (th_now_ms() > deadline) fail_msg("the broadcast did not finish in 30 s");
        th_sleep_ms(50);
    }
    /* The blocked chat: 403 once, marked, counted. */
    assert_int_equal(json_integer_value(json_object_get(st, "sent")), 10);
    assert_int_equal(json_integer_value(json_object_get(st, "blocked")), 1);
    assert_int_equal(json_integer_value(json_object_get(st, "remaining")), 0);
    json_decref(st);
    for (long long c = 100020; c < 100030; c++) {
        json_t *sent = wait_sent(&TGP, c, 1);
        assert_int_equal(json_array_size(sent), 1);
        assert_string_equal(text_of(sent, 0), "Spring sale: 20% off");
        json_decref(sent);
    }
    /* Started again with the same id: where it stands, nothing sent. */
    long long before = stat_of(&TGP, "sendMessage");
    st = broadcast("broadcast.start", start);
    assert_string_equal(json_string_value(json_object_get(st, "state")), "done");
    json_decref(st);
    assert_int_equal(stat_of(&TGP, "sendMessage"), before);
}

/* POST /api/v1/instances/tg/broadcasts with body: the status, or fails. */
static json_t *segment_broadcast(const char *body, int want)
{
    json_t *o = NULL;
    int st = th_http(&H, "POST", "/api/v1/instances/tg/broadcasts", body, NULL, &o);
    if (st != want) fail_msg("broadcasts: %d, not %d: %s", st, want, json_dumps(o, 0));
    return o;
}

static size_t texts_to(long long chat, const char *text)
{
    json_t *calls = calls_to(&TGP, chat);
    size_t n = 0, i;
    json_t *c;
    json_array_foreach(calls, i, c) n += json_string_value(th_get(c, "params.text")) &&
                                         !strcmp(json_string_value(th_get(c, "params.text")), text);
    json_decref(calls);
    return n;
}

static void wait_broadcast_done(const char *id)
{
    char args[100];
    snprintf(args, sizeof(args), "{\"id\": \"%s\"}", id);
    long long deadline = th_now_ms() + 30000;
    for (;;) {
        json_t *st = broadcast("broadcast.status", args);
        bool done = !strcmp(json_string_value(json_object_get(st, "state")), "done");
        json_decref(st);
        if (done) return;
        if (th_now_ms() > deadline) fail_msg("broadcast %s did not finish in 30 s", id);
        th_sleep_ms(50);
    }
}

static void test_a_broadcast_to_a_segment_reaches_only_the_segment(void **s)
{
    (void)s;
    /* Every onboarding chat of this bot so far is older than t1; one more
     * person starts after it. */
    char t1[40];
    time_t secs = time(NULL); /* wall-clock: th_now_ms is monotonic */
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(t1, sizeof(t1), "%Y-%m-%dT%H:%M:%SZ", &tm);
    th_sleep_ms(1100); /* t1 is whole seconds: the next activity is after it */
    say(&TGP, 100060, "/start");
    json_decref(wait_sent(&TGP, 100060, 2));
    /* By agent and last activity: only the newcomer. */
    char *body = NULL;
    assert_true(asprintf(&body,
                         "{\"id\": \"seg-new\", \"segment\": {\"agent_id\": \"%s\", "
                         "\"active_since\": \"%s\"}, \"text\": \"Welcome offer\"}",
                         AGENT_P, t1) > 0);
    json_t *o = segment_broadcast(body, 200);
    free(body);
    assert_int_equal(json_integer_value(th_get(o, "result.matched")), 1);
    assert_int_equal(json_integer_value(th_get(o, "result.total")), 1);
    json_decref(o);
    wait_broadcast_done("seg-new");
    assert_int_equal(texts_to(100060, "Welcome offer"), 1);
    assert_int_equal(texts_to(100001, "Welcome offer"), 0);
    /* By tag: the contact of chat 100001 tagged vip, then only it, and
     * with active_before t1 still only it (the newcomer is after t1). */
    assert_int_equal(
        th_http(&H, "GET", "/api/v1/contacts/lookup?channel=telegram&id=100001", NULL, NULL, &o),
        200);
    char path[120];
    snprintf(path, sizeof(path), "/api/v1/contacts/%s",
             json_string_value(json_object_get(o, "id")));
    json_decref(o);
    assert_int_equal(th_http(&H, "PATCH", path, "{\"tags\": [\"vip\"]}", NULL, &o), 200);
    json_decref(o);
    o = segment_broadcast("{\"id\": \"seg-vip\", \"segment\": {\"tag\": \"vip\"}, \"text\": "
                          "\"VIP preview\"}",
                          200);
    assert_int_equal(json_integer_value(th_get(o, "result.matched")), 1);
    json_decref(o);
    wait_broadcast_done("seg-vip");
    assert_int_equal(texts_to(100001, "VIP preview"), 1);
    assert_int_equal(texts_to(100060, "VIP preview"), 0);
    assert_true(asprintf(&body,
                         "{\"id\": \"seg-vip-old\", \"segment\": {\"tag\": \"vip\", "
                         "\"active_before\": \"%s\"}, \"text\": \"Old VIP\"}",
                         t1) > 0);
    o = segment_broadcast(body, 200);
    free(body);
    assert_int_equal(json_integer_value(th_get(o, "result.matched")), 1);
    json_decref(o);
    wait_broadcast_done("seg-vip-old");
    assert_int_equal(texts_to(100001, "Old VIP"), 1);
    /* By a profile attribute (sealed: opened by the host). */
    assert_int_equal(th_http(&H, "PATCH", path,
                             "{\"profile\": {\"attributes\": {\"city\": \"Porto\"}}}", NULL, &o),
                     200);
    json_decref(o);
    o = segment_broadcast("{\"id\": \"seg-porto\", \"segment\": {\"attribute\": {\"name\": "
                          "\"city\", \"value\": \"Porto\"}}, \"text\": \"Porto news\"}",
                          200);
    assert_int_equal(json_integer_value(th_get(o, "result.matched")), 1);
    json_decref(o);
    wait_broadcast_done("seg-porto");
    assert_int_equal(texts_to(100001, "Porto news"), 1);
    assert_int_equal(texts_to(100060, "Porto news"), 0);
    /* The newcomer refuses marketing: the first segment now matches nobody. */
    assert_int_equal(
        th_http(&H, "GET", "/api/v1/contacts/lookup?channel=telegram&id=100060", NULL, NULL, &o),
        200);
    char path2[120];
    snprintf(path2, sizeof(path2), "/api/v1/contacts/%s",
             json_string_value(json_object_get(o, "id")));
    json_decref(o);
    assert_int_equal(th_http(&H, "PATCH", path2, "{\"consent\": {\"marketing\": false}}", NULL, &o),
                     200);
    json_decref(o);
    assert_true(asprintf(&body,
                         "{\"id\": \"seg-new-2\", \"segment\": {\"agent_id\": \"%s\", "
                         "\"active_since\": \"%s\"}, \"text\": \"Second offer\"}",
                         AGENT_P, t1) > 0);
    json_decref(segment_broadcast(body, 422));
    free(body);
    assert_int_equal(texts_to(100060, "Second offer"), 0);
    /* A segment that is not one, and one that matches nobody: 422, the
     * field named, nothing started. */
    o = segment_broadcast("{\"id\": \"seg-bad\", \"segment\": {\"colour\": \"red\"}, \"text\": "
                          "\"x\"}",
                          422);
    char *d = json_dumps(o, 0);
    assert_non_null(strstr(d, "segment: only agent_id, tag, attribute"));
    free(d);
    json_decref(o);
    o = segment_broadcast("{\"id\": \"seg-none\", \"segment\": {\"tag\": \"nobody-has-it\"}, "
                          "\"text\": \"x\"}",
                          422);
    d = json_dumps(o, 0);
    assert_non_null(strstr(d, "matches no chat"));
    free(d);
    json_decref(o);
    assert_int_not_equal(th_call(&H, "tg", "broadcast.status", "{\"id\": \"seg-none\"}", &o), 200);
    json_decref(o);
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
    long long before = stat_of(&TGP, "rate_limited");
    json_decref(fake(&TGP, "POST", "/_fake/rate_limit",
                     "{\"chat_id\": 100003, \"count\": 4, \"retry_after\": 1}"));
    say(&TGP, 100003, "/start");
    say(&TGP, 100004, "/start");
    json_t *other = wait_sent(&TGP, 100004, 2);
    json_decref(other);
    json_t *held = wait_sent(&TGP, 100003, 2);
    assert_string_equal(text_of(held, 0), "Welcome aboard! Four quick questions and you are set.");
    assert_string_equal(text_of(held, 1), "What should we call you?");
    json_decref(held);
    /* The broker's own retries (broker.max_retries, 2) take the first three
     * 429s; the third reaches the plugin, which holds the chat for
     * retry_after and has the bus deliver the reply again after it. */
    assert_int_equal(stat_of(&TGP, "rate_limited"), before + 4);
    assert_true(
        th_file_contains(&H, "logs/plugins/tg.log", "to chat 100003: 429, held for 1000 ms"));
    /* Nothing more arrives for that chat: no reply was sent twice. */
    say(&TGP, 100003, "Bo");
    held = wait_sent(&TGP, 100003, 3);
    assert_int_equal(json_array_size(held), 3);
    assert_string_equal(text_of(held, 2), "Bo, what is your work email?");
    json_decref(held);
}

static void test_a_chat_that_blocked_the_bot_is_marked_and_not_sent_to_again(void **s)
{
    (void)s;
    json_decref(fake(&TGP, "POST", "/_fake/block", "{\"chat_id\": 100005}"));
    long long before = stat_of(&TGP, "forbidden");
    say(&TGP, 100005, "/start");
    assert_true(
        th_wait_file(&H, "logs/plugins/tg.log", "chat 100005 is unreachable on this bot", 30000));
    assert_int_equal(stat_of(&TGP, "forbidden"), before + 1);
    say(&TGP, 100005, "Anna");
    assert_true(
        th_wait_file(&H, "logs/plugins/tg.log", "chat 100005 blocked the bot; not sent", 30000));
    assert_int_equal(stat_of(&TGP, "forbidden"), before + 1);
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
    json_decref(fake(f, "POST", "/_fake/member", args));
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
    json_decref(fake(&TGP, "POST", "/_fake/block", "{\"chat_id\": 100040}"));
    say(&TGP, 100040, "/start");
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
    say(&TGP, 100040, "Anna");
    json_t *sent = wait_sent(&TGP, 100040, 1);
    assert_int_equal(json_array_size(sent), 1);
    assert_string_equal(text_of(sent, 0), "Anna, what is your work email?");
    json_decref(sent);
    /* They block it again: published as blocked, and the next reply is not
     * sent (the plugin knows without asking Telegram: no new 403). */
    member(&TGP, "{\"kind\": \"my_chat_member\", \"chat_id\": 100040, \"old\": \"member\", "
                 "\"new\": \"kicked\"}");
    evs = wait_chat_events("chat.bot_status_changed", 2);
    e = json_array_get(evs, json_array_size(evs) - 1);
    assert_string_equal(json_string_value(json_object_get(e, "change")), "blocked");
    json_decref(evs);
    long long forbidden = stat_of(&TGP, "forbidden");
    say(&TGP, 100040, "anna@example.com");
    wait_times_in(log, not_sent, 2);
    assert_int_equal(stat_of(&TGP, "forbidden"), forbidden);
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
    json_t *sent = fake(&TGP, "GET", "/_fake/sent?chat_id=-1009000000001", NULL);
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
        cmocka_unit_test(
            test_the_send_action_posts_to_a_channel_once_per_key_and_splits_long_texts),
        cmocka_unit_test(test_files_given_as_bytes_are_uploaded_as_multipart_and_reusable),
        cmocka_unit_test(test_the_fake_refuses_malformed_multipart_as_telegram_does),
        cmocka_unit_test(
            test_the_scheduler_keeps_a_burst_to_one_chat_under_telegrams_flood_control),
        cmocka_unit_test(test_an_attachment_is_fetched_on_demand_within_its_size_limit),
        cmocka_unit_test(test_a_message_to_a_group_that_became_a_supergroup_follows_it),
        cmocka_unit_test(test_a_broadcast_reaches_each_chat_once_and_skips_the_blocked),
        cmocka_unit_test(test_a_broadcast_to_a_segment_reaches_only_the_segment),
        cmocka_unit_test(test_the_webhook_refuses_a_request_without_telegrams_secret),
        cmocka_unit_test(test_a_rate_limited_chat_gets_each_reply_once_and_others_go_on),
        cmocka_unit_test(test_a_chat_that_blocked_the_bot_is_marked_and_not_sent_to_again),
        cmocka_unit_test(test_blocking_and_unblocking_are_published_and_unblocking_clears_the_mark),
        cmocka_unit_test(test_joins_and_leaves_in_a_group_are_published_once_each),
        cmocka_unit_test(test_a_wrong_token_is_a_clear_error_and_never_logged),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
