/*
 * What a Telegram bot sends on its own, through the real binary and the
 * fake Bot API (tests/fakes/fake_telegram), one polling bot ("tg"): the
 * send action posts to a channel once per key and splits long texts; files
 * given as bytes are uploaded as multipart and their file_id sends them
 * again (the fake refuses malformed multipart as Telegram does); a burst to
 * one chat stays under Telegram's flood control; an attachment is fetched
 * on demand within its size limit; a message to a group that became a
 * supergroup follows it; a broadcast reaches each chat once and skips the
 * blocked, and one to a segment (agent and activity, tag, profile
 * attribute, consent) reaches only the segment. People talking to the bots:
 * test_telegram_conversations.
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
#include <time.h>

#define FAKE_BIN TH_BUILD_DIR "/tests/fakes/fake_telegram"
#define TOKEN "7000000001:AAH-fake-token_for-tests"

static th_host H;
static fake_proc TGP; /* the bot's Bot API server */
static char AGENT_P[64];

/* ---- setup ----------------------------------------------------------------------------- */

static int setup(void **s)
{
    (void)s;
    if (fake_start(&TGP, FAKE_BIN, 5000)) return -1;
    int port = th_free_port();
    char *cfg = NULL;
    if (port < 0 ||
        asprintf(&cfg,
                 "{\"listen\": \"127.0.0.1:%d\", \"expressions\": {\"workers\": 1},"
                 " \"instances\": ["
                 "  {\"id\": \"tg\", \"plugin\": \"telegram\", \"config\": {\"api_base_url\": "
                 "   \"http://127.0.0.1:%d\", \"mode\": \"polling\", \"poll_timeout_s\": 2},"
                 "   \"egress\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": %d,"
                 "                \"private\": true}]}]}",
                 port, TGP.port, TGP.port) < 0)
        return -1;
    /* The onboarding example on the bot: the people a segment selects. */
    char *onboarding = th_read_source("docs/examples/scenarios/onboarding-survey.json");
    int rc = !onboarding || th_init(&H, "telegram-sending") || th_install_plugin(&H, "jq") ||
             th_install_plugin(&H, "telegram") || th_config(&H, cfg) ||
             th_cli(&H, TOKEN "\n", NULL, 0, "secret", "set", "tg", "token", NULL) ||
             th_start(&H, NULL, 15000) || !th_wait_state(&H, "jq-1", "ready", 15000) ||
             !th_wait_state(&H, "tg", "ready", 15000) ||
             th_make_agent(&H, "Onboarding (polling)", onboarding,
                           "\"channels\": [{\"instance\": \"tg\"}]", AGENT_P, sizeof(AGENT_P));
    free(onboarding);
    free(cfg);
    return rc ? -1 : 0;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    fake_stop(&TGP);
    return rc ? -1 : 0;
}

/* ---- the tests ---------------------------------------------------------------------------- */

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
    long long refused = ftg_stat(&TGP, "multipart_refused");
    json_t *o = NULL;
    int st = th_call(&H, "tg", "send", args, &o);
    if (st != 200) fail_msg("send: %d %s", st, json_dumps(o, 0));
    json_t *fids = th_get(o, "result.file_ids");
    assert_int_equal(json_array_size(fids), 2);
    char reuse[200];
    snprintf(reuse, sizeof(reuse), "%s", json_string_value(json_array_get(fids, 1)));
    assert_true(!strncmp(reuse, "telegram:AgACAgIAAxkBfakeupload", 31));
    json_decref(o);
    json_t *calls = ftg_calls_to(&TGP, 100050);
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
    assert_int_equal(ftg_stat(&TGP, "multipart_refused"), refused);
    /* The file_id it answered sends the same photo again, without bytes. */
    char *again = NULL;
    assert_true(asprintf(&again,
                         "{\"chat_id\": 100051, \"attachments\": [{\"kind\": \"image\", "
                         "\"ref\": \"%s\"}]}",
                         reuse) > 0);
    assert_int_equal(th_call(&H, "tg", "send", again, &o), 200);
    json_decref(o);
    free(again);
    calls = ftg_calls_to(&TGP, 100051);
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
    calls = ftg_calls_to(&TGP, 100053);
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
    json_t *sent = ftg_call(&TGP, "GET", "/_fake/sent?chat_id=@acme_news", NULL);
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
    sent = ftg_call(&TGP, "GET", "/_fake/sent?chat_id=@acme_news", NULL);
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
    json_t *parts = ftg_wait_sent(&TGP, 100009, 2);
    assert_string_equal(ftg_text_of(parts, 0), para);
    assert_string_equal(ftg_text_of(parts, 1), para);
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
    json_decref(ftg_call(&TGP, "POST", "/_fake/enforce", "{\"per_chat_per_second\": 4}"));
    long long before = ftg_stat(&TGP, "rate_limited");
    for (int i = 0; i < 6; i++) {
        char args[100];
        snprintf(args, sizeof(args), "{\"chat_id\": 100011, \"text\": \"news %d\"}", i);
        json_t *o = NULL;
        assert_int_equal(th_call(&H, "tg", "send", args, &o), 200);
        json_decref(o);
    }
    json_t *sent = ftg_wait_sent(&TGP, 100011, 6);
    for (size_t i = 0; i < 6; i++) {
        char want[20];
        snprintf(want, sizeof(want), "news %zu", i);
        assert_string_equal(ftg_text_of(sent, i), want);
    }
    json_decref(sent);
    assert_int_equal(ftg_stat(&TGP, "rate_limited"), before);
    json_decref(ftg_call(&TGP, "POST", "/_fake/enforce", "{\"per_chat_per_second\": 0}"));
}

static void test_an_attachment_is_fetched_on_demand_within_its_size_limit(void **s)
{
    (void)s;
    json_decref(ftg_call(&TGP, "POST", "/_fake/file",
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
        ftg_call(&TGP, "POST", "/_fake/migrate", "{\"chat_id\": -4242, \"to\": -1004242424242}"));
    json_t *o = NULL;
    assert_int_equal(
        th_call(&H, "tg", "send", "{\"chat_id\": -4242, \"text\": \"hello group\"}", &o), 200);
    assert_string_equal(json_string_value(th_get(o, "result.chat_id")), "-1004242424242");
    json_decref(o);
    json_t *sent = ftg_wait_sent(&TGP, -1004242424242LL, 1);
    assert_string_equal(ftg_text_of(sent, 0), "hello group");
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
    json_decref(ftg_call(&TGP, "POST", "/_fake/block", "{\"chat_id\": 100030}"));
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
        json_t *sent = ftg_wait_sent(&TGP, c, 1);
        assert_int_equal(json_array_size(sent), 1);
        assert_string_equal(ftg_text_of(sent, 0), "Spring sale: 20% off");
        json_decref(sent);
    }
    /* Started again with the same id: where it stands, nothing sent. */
    long long before = ftg_stat(&TGP, "sendMessage");
    st = broadcast("broadcast.start", start);
    assert_string_equal(json_string_value(json_object_get(st, "state")), "done");
    json_decref(st);
    assert_int_equal(ftg_stat(&TGP, "sendMessage"), before);
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
    json_t *calls = ftg_calls_to(&TGP, chat);
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
    /* Chat 100001 goes through the onboarding before t1 (every onboarding
     * chat of this bot is older than t1); one more person starts after it. */
    ftg_say(&TGP, 100001, "/start");
    json_decref(ftg_wait_sent(&TGP, 100001, 2));
    th_sleep_ms(1100); /* t1 is whole seconds: its activity is in an earlier one */
    char t1[40];
    time_t secs = time(NULL); /* wall-clock: th_now_ms is monotonic */
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(t1, sizeof(t1), "%Y-%m-%dT%H:%M:%SZ", &tm);
    th_sleep_ms(1100); /* t1 is whole seconds: the next activity is after it */
    ftg_say(&TGP, 100060, "/start");
    json_decref(ftg_wait_sent(&TGP, 100060, 2));
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

int main(void)
{
    const struct CMUnitTest tests[] = {
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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
