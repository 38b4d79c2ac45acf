/*
 * One conversation across channels, through the real binary
 * (docs/channels.md, Cross-channel): an agent answers on a web chat widget
 * and on a Telegram bot (the fake Bot API). A conversation started in the
 * web chat offers "continue in Telegram" (a continue_in step: a t.me deep
 * link); Telegram's "/start CODE" links the Telegram identity to the same
 * contact and the conversation goes on there, with its state (the name
 * given in the web chat) and one history. A code used once, forged or
 * expired links nothing (logged to security.log). When the bot is blocked
 * (403), the answer goes out on the contact's web chat (the agent's
 * fallback_channels), logged to logs/messages.log with failover_of; for
 * a contact with no web chat but a REST identity (merged by an operator),
 * to the REST channel. A Telegram user the bot knew already moves to the
 * linking contact.
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
#define TOKEN "7000000001:AAH-fake-token_for-tests"

static th_host H;
static fake_proc TG;
static char AGENT[64], WIDGET[64];

/* ---- helpers ------------------------------------------------------------------------- */

static void web_session(char *tok, size_t n)
{
    assert_int_equal(th_chat_session(&H, WIDGET, tok, n), 201);
}

static void web_say(const char *tok, const char *text)
{
    assert_int_equal(th_chat_say(&H, WIDGET, tok, text), 202);
}

/* The web chat's history once a message in it says `want`. */
static json_t *web_history(const char *tok, const char *want)
{
    json_t *msgs = th_chat_history(&H, WIDGET, tok, want);
    if (!msgs) fail_msg("the web chat never showed \"%s\"", want);
    return msgs;
}

/* The start parameter of the history's t.me button (the code). */
static void code_of(const json_t *msgs, const char *text, char *code, size_t n)
{
    size_t i;
    const json_t *m;
    code[0] = 0;
    json_array_foreach(msgs, i, m)
    {
        const char *t = json_string_value(json_object_get(m, "text"));
        const char *url = json_string_value(th_get((json_t *)m, "buttons.0.url"));
        if (t && !strcmp(t, text) && url) {
            const char *p = strstr(url, "?start=");
            assert_non_null(p);
            assert_true(!strncmp(url, "https://t.me/acme_support_bot?start=", 36));
            snprintf(code, n, "%s", p + 7);
        }
    }
    assert_int_equal(strlen(code), 49);
}

/* A new web chat conversation up to its offer: the code offered. */
static void web_until_offer(char *tok, size_t tn, const char *name, const char *offer, char *code,
                            size_t cn)
{
    web_session(tok, tn);
    web_say(tok, "hello");
    json_decref(web_history(tok, "What is your name?"));
    web_say(tok, name);
    char ask[100];
    snprintf(ask, sizeof(ask), "What is your question, %s?", name);
    json_t *h = web_history(tok, ask);
    code_of(h, offer, code, cn);
    json_decref(h);
}

static json_t *conversation_of(const char *tok)
{
    json_t *o = th_chat_conversation(&H, WIDGET, tok);
    assert_non_null(o);
    return o;
}

/* Whether logs/messages.log has a failover line naming want (a field). */
static bool failover_logged(const char *want)
{
    return th_file_line_contains(&H, "logs/messages.log", "\"failover_of\"", want);
}

/* ---- setup ------------------------------------------------------------------------------ */

static int setup(void **s)
{
    (void)s;
    if (fake_start(&TG, FAKE_BIN, 5000)) return -1;
    int port = th_free_port();
    char *cfg = NULL;
    if (port < 0 ||
        asprintf(&cfg,
                 "{\"listen\": \"127.0.0.1:%d\", \"expressions\": {\"workers\": 1},"
                 " \"instances\": ["
                 "  {\"id\": \"tg\", \"plugin\": \"telegram\", \"config\": {\"api_base_url\": "
                 "   \"http://127.0.0.1:%d\", \"mode\": \"polling\", \"poll_timeout_s\": 1},"
                 "   \"egress\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": %d,"
                 "                \"private\": true}]}]}",
                 port, TG.port, TG.port) < 0)
        return -1;
    int rc = th_init(&H, "xchan") || th_install_plugin(&H, "jq") ||
             th_install_plugin(&H, "telegram") || th_config(&H, cfg) ||
             th_cli(&H, TOKEN "\n", NULL, 0, "secret", "set", "tg", "token", NULL) ||
             th_start(&H, NULL, 15000) || !th_wait_state(&H, "jq-1", "ready", 15000) ||
             !th_wait_state(&H, "tg", "ready", 15000);
    free(cfg);
    if (rc) return -1;
    char *scenario = th_read_source("tests/fixtures/scenarios/cross-channel.json");
    rc = !scenario ||
         th_make_agent(&H, "support", scenario,
                       "\"channels\": [{\"instance\": \"tg\"}], \"fallback_channels\": "
                       "[\"webchat\", \"rest\"]",
                       AGENT, sizeof(AGENT)) ||
         th_make_widget(&H, "Shop", AGENT, WIDGET, sizeof(WIDGET)) != 201;
    free(scenario);
    return rc ? -1 : 0;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    fake_stop(&TG);
    return rc ? -1 : 0;
}

/* ---- the tests ---------------------------------------------------------------------------- */

static char TOK[400], CODE[64];

static void test_a_web_chat_conversation_continues_in_telegram_with_one_history(void **s)
{
    (void)s;
    web_until_offer(TOK, sizeof(TOK), "Anna", "We can go on in Telegram.", CODE, sizeof(CODE));

    char start[100];
    snprintf(start, sizeof(start), "/start %s", CODE);
    ftg_say(&TG, 500001, start);
    /* Linked: the conversation goes on in Telegram where it stood. */
    json_t *sent = ftg_wait_texts(&TG, 500001, 1);
    assert_string_equal(json_string_value(json_array_get(sent, 0)), "What is your question, Anna?");
    json_decref(sent);
    ftg_say(&TG, 500001, "Where is my refund?");
    sent = ftg_wait_texts(&TG, 500001, 3);
    assert_string_equal(json_string_value(json_array_get(sent, 1)),
                        "Noted, Anna: Where is my refund?");
    assert_string_equal(json_string_value(json_array_get(sent, 2)), "What is your question, Anna?");
    json_decref(sent);

    /* One history: the web chat shows what was said in Telegram. */
    json_t *h = web_history(TOK, "Noted, Anna: Where is my refund?");
    bool asked = false;
    size_t i;
    json_t *m;
    json_array_foreach(h, i, m) asked |=
        !strcmp(json_string_value(json_object_get(m, "text")), "Where is my refund?");
    assert_true(asked);
    json_decref(h);
    json_t *conv = conversation_of(TOK);
    assert_string_equal(json_string_value(th_get(conv, "channel.instance")), "tg");
    assert_int_equal(json_array_size(json_object_get(conv, "channels")), 2);
    json_decref(conv);
    assert_true(th_wait_file(&H, "logs/host.log", "identity linked across channels", 10000));

    /* Back in the web chat: answered there; then Telegram again: there. */
    web_say(TOK, "Back here");
    json_decref(web_history(TOK, "Noted, Anna: Back here"));
    conv = conversation_of(TOK);
    assert_string_equal(json_string_value(th_get(conv, "channel.kind")), "webchat");
    json_decref(conv);
    sent = ftg_wait_texts(&TG, 500001, 3);
    assert_int_equal(json_array_size(sent), 3); /* nothing of it went to Telegram */
    json_decref(sent);
    ftg_say(&TG, 500001, "Once more");
    sent = ftg_wait_texts(&TG, 500001, 5);
    assert_string_equal(json_string_value(json_array_get(sent, 3)), "Noted, Anna: Once more");
    json_decref(sent);
}

static void test_a_telegram_403_fails_over_to_the_contacts_web_chat(void **s)
{
    (void)s;
    json_decref(ftg_call(&TG, "POST", "/_fake/block", "{\"chat_id\": 500001}"));
    ftg_say(&TG, 500001, "And my invoice?");
    /* Not sent to Telegram (blocked): the answer goes to the web chat. */
    json_decref(web_history(TOK, "Noted, Anna: And my invoice?"));
    assert_true(th_wait_file(&H, "logs/messages.log", "\"failover_of\"", 30000));
    assert_true(failover_logged("\"channel\":\"webchat\""));
    assert_true(failover_logged("\"failed_instance\":\"tg\""));
    assert_true(failover_logged("\"reason\":\"blocked\""));
    long long deadline = th_now_ms() + 30000;
    for (;;) { /* the conversation now answers on the web chat */
        json_t *conv = conversation_of(TOK);
        const char *kind = json_string_value(th_get(conv, "channel.kind"));
        bool moved = kind && !strcmp(kind, "webchat");
        json_decref(conv);
        if (moved) break;
        if (th_now_ms() > deadline) fail_msg("the conversation never moved to the web chat");
        th_sleep_ms(50);
    }
    /* The web chat goes on where it stood. */
    web_say(TOK, "Thanks");
    json_decref(web_history(TOK, "Noted, Anna: Thanks"));
}

static void test_a_used_forged_or_expired_code_links_nothing(void **s)
{
    (void)s;
    char start[100];
    /* Used already (by chat 500001): a new contact's conversation starts. */
    snprintf(start, sizeof(start), "/start %s", CODE);
    ftg_say(&TG, 500002, start);
    json_t *sent = ftg_wait_texts(&TG, 500002, 1);
    assert_string_equal(json_string_value(json_array_get(sent, 0)), "What is your name?");
    json_decref(sent);
    assert_true(th_wait_file(&H, "logs/security.log", "unknown or already used", 10000));

    /* Forged: the shape of a code, not one offered. */
    char forged[64];
    snprintf(forged, sizeof(forged), "/start %.27sAAAAAAAAAAAAAAAAAAAAAA", CODE);
    ftg_say(&TG, 500003, forged);
    sent = ftg_wait_texts(&TG, 500003, 1);
    assert_string_equal(json_string_value(json_array_get(sent, 0)), "What is your name?");
    json_decref(sent);

    /* Expired: offered for one second. */
    char tok[400], code[64];
    web_until_offer(tok, sizeof(tok), "Late", "Quick, go on in Telegram.", code, sizeof(code));
    th_sleep_ms(1500);
    snprintf(start, sizeof(start), "/start %s", code);
    ftg_say(&TG, 500004, start);
    sent = ftg_wait_texts(&TG, 500004, 1);
    assert_string_equal(json_string_value(json_array_get(sent, 0)), "What is your name?");
    json_decref(sent);
    assert_true(th_wait_file(&H, "logs/security.log", "link code refused: expired", 10000));
    json_t *conv = conversation_of(tok); /* still the web chat's */
    assert_string_equal(json_string_value(th_get(conv, "channel.kind")), "webchat");
    assert_null(json_object_get(conv, "channels"));
    json_decref(conv);
}

/* A Telegram user the bot already knew (a contact of its own) follows a
 * link: the identity moves to the web chat's contact, the conversation
 * follows; the old contact keeps its own conversation. */
static void test_a_known_telegram_user_is_moved_to_the_linking_contact(void **s)
{
    (void)s;
    ftg_say(&TG, 500005, "/start");
    json_t *sent = ftg_wait_texts(&TG, 500005, 1);
    assert_string_equal(json_string_value(json_array_get(sent, 0)), "What is your name?");
    json_decref(sent);
    char tok[400], code[64], start[100];
    web_until_offer(tok, sizeof(tok), "Boris", "We can go on in Telegram.", code, sizeof(code));
    snprintf(start, sizeof(start), "/start %s", code);
    ftg_say(&TG, 500005, start);
    sent = ftg_wait_texts(&TG, 500005, 2);
    assert_string_equal(json_string_value(json_array_get(sent, 1)),
                        "What is your question, Boris?");
    json_decref(sent);
    ftg_say(&TG, 500005, "Delivery?");
    sent = ftg_wait_texts(&TG, 500005, 4);
    assert_string_equal(json_string_value(json_array_get(sent, 2)), "Noted, Boris: Delivery?");
    json_decref(sent);
    json_t *conv = conversation_of(tok);
    assert_string_equal(json_string_value(th_get(conv, "channel.instance")), "tg");
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/contacts/%s",
             json_string_value(json_object_get(conv, "contact_id")));
    json_decref(conv);
    json_t *c = NULL;
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &c), 200);
    json_t *ids = json_object_get(c, "identities");
    bool tg = false;
    size_t i;
    json_t *idn;
    json_array_foreach(ids, i, idn) tg |=
        !strcmp(json_string_value(json_object_get(idn, "channel")), "telegram") &&
        !strcmp(json_string_value(json_object_get(idn, "id")), "500005") &&
        json_is_true(json_object_get(idn, "verified"));
    assert_true(tg);
    assert_int_equal(json_array_size(ids), 2);
    json_decref(c);
}

/* A contact known on Telegram and, merged by an operator, on the REST
 * channel: a 403 sends the answers to the REST channel (the agent's order
 * webchat, rest: it has no web chat), where its caller reads them. */
static void test_a_telegram_403_fails_over_to_the_rest_channel(void **s)
{
    (void)s;
    char path[200], body[300];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/messages", AGENT);
    json_t *o = NULL;
    int st = th_http(&H, "POST", path, "{\"user\": \"crm-7\", \"text\": \"hi\"}", NULL, &o);
    assert_true(st == 200 || st == 202);
    json_decref(o);
    ftg_say(&TG, 500009, "/start");
    json_decref(ftg_wait_texts(&TG, 500009, 1));
    /* One person: the operator merges the REST contact into the Telegram one. */
    json_t *tgc = NULL, *rc = NULL;
    assert_int_equal(
        th_http(&H, "GET", "/api/v1/contacts/lookup?channel=telegram&id=500009", NULL, NULL, &tgc),
        200);
    assert_int_equal(
        th_http(&H, "GET", "/api/v1/contacts/lookup?channel=rest&id=crm-7", NULL, NULL, &rc), 200);
    snprintf(path, sizeof(path), "/api/v1/contacts/%s/link",
             json_string_value(json_object_get(tgc, "id")));
    snprintf(body, sizeof(body), "{\"contact_id\": \"%s\"}",
             json_string_value(json_object_get(rc, "id")));
    st = th_http(&H, "POST", path, body, NULL, &o);
    if (st != 200) fail_msg("merging: %d %s", st, json_dumps(o, 0));
    json_decref(o);
    json_decref(tgc);
    json_decref(rc);

    json_decref(ftg_call(&TG, "POST", "/_fake/block", "{\"chat_id\": 500009}"));
    ftg_say(&TG, 500009, "Rita");
    /* The REST caller reads the conversation: it now answers there. */
    snprintf(path, sizeof(path), "/api/v1/agents/%s/messages?user=crm-7", AGENT);
    long long deadline = th_now_ms() + 30000;
    for (;;) {
        assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
        char conv[200];
        snprintf(conv, sizeof(conv), "/api/v1/conversations/%s",
                 json_string_value(json_object_get(o, "conversation_id")));
        json_decref(o);
        assert_int_equal(th_http(&H, "GET", conv, NULL, NULL, &o), 200);
        const char *kind = json_string_value(th_get(o, "channel.kind"));
        bool moved = kind && !strcmp(kind, "rest");
        json_decref(o);
        if (moved) break;
        if (th_now_ms() > deadline) fail_msg("the conversation never moved to the REST channel");
        th_sleep_ms(50);
    }
    assert_true(failover_logged("\"channel\":\"rest\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_web_chat_conversation_continues_in_telegram_with_one_history),
        cmocka_unit_test(test_a_telegram_403_fails_over_to_the_contacts_web_chat),
        cmocka_unit_test(test_a_used_forged_or_expired_code_links_nothing),
        cmocka_unit_test(test_a_known_telegram_user_is_moved_to_the_linking_contact),
        cmocka_unit_test(test_a_telegram_403_fails_over_to_the_rest_channel),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
