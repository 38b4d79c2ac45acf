/*
 * One conversation across the web chat, Telegram and e-mail, through the
 * real binary (docs/channels.md, Cross-channel; issue 16): a web chat
 * widget, a Telegram bot (the fake Bot API) and a mailbox (the email
 * plugin with real Dovecot and Postfix on loopback, tests/servers/
 * mailserver.h), one agent on all three.
 *
 * A conversation started in the web chat continues in Telegram after the
 * deep link, then by e-mail: a continue_in step mails a code to the address
 * given, the customer replies to that mail, and the agent's answers arrive
 * by mail in that thread; its one history holds what was said on all
 * three. When the bot is blocked (403) the answer goes to the contact's
 * mailbox, logged to logs/messages.log. A failover to an address the
 * conversation never mailed starts a new thread there, and the customer's
 * reply to it continues that conversation (not a new one).
 */
#include "../fakes/fake_telegram_client.h"
#include "../servers/mailclient.h"
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_TG TH_BUILD_DIR "/tests/fakes/fake_telegram"
#define TOKEN "7000000001:AAH-fake-token_for-tests"
#define CUSTOMER MC_CUSTOMER
#define CUSTOMER_B "customer+b@example.test" /* lands in the customer's INBOX too */

static th_host H;
static mailserver M;
static fake_proc TG;
static char AGENT[64], WIDGET[64];

/* ---- Telegram (the fake Bot API) ------------------------------------------------------ */

static void tg_expect(long long chat, size_t n, size_t at, const char *want)
{
    json_t *sent = ftg_wait_texts(&TG, chat, n);
    assert_string_equal(json_string_value(json_array_get(sent, at)), want);
    json_decref(sent);
}

/* ---- the web chat ------------------------------------------------------------------------ */

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

static json_t *web_conversation(const char *tok)
{
    json_t *o = th_chat_conversation(&H, WIDGET, tok);
    assert_non_null(o);
    return o;
}

/* ---- mail (tests/servers/mailclient.h) -------------------------------------------------- */

/* The customer (from: a bare address) mails the agent's mailbox by SMTP. */
static void mail_from(const char *from, const char *mid, const char *subject,
                      const char *extra_headers, const char *text)
{
    char who[200];
    snprintf(who, sizeof(who), "Customer <%s>", from);
    mc_mail(&M, who, M.user, mid, subject, extra_headers, text);
}

/* The newest mail a search of the customer's INBOX finds, whole (malloc'd),
 * once it finds at least n. */
static char *wait_mail(const char *criteria, size_t n)
{
    long uids[32];
    size_t found = mc_wait_search(&M, CUSTOMER, criteria, n, uids, 32, 60000);
    return mc_fetch(&M, CUSTOMER, uids[(found < 32 ? found : 32) - 1]);
}

/* The customer replies to the mail `parent` (its id, its subject). */
static void reply_to(const char *from, const char *mid, const char *parent, const char *subject,
                     const char *text)
{
    char hs[800], subj[400];
    snprintf(hs, sizeof(hs), "In-Reply-To: <%s>\r\nReferences: <%s>\r\n", parent, parent);
    snprintf(subj, sizeof(subj), "Re: %s", subject);
    mail_from(from, mid, subj, hs, text);
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
    if (mailserver_start(&M, TH_SOURCE_DIR) < 0) {
        fprintf(stderr, "mail servers: %s\n", M.why);
        return -1;
    }
    if (fake_start(&TG, FAKE_TG, 5000)) return -1;
    int port = th_free_port();
    char *cfg = NULL;
    if (port < 0 ||
        asprintf(&cfg,
                 "{\"listen\": \"127.0.0.1:%d\", \"bus\": {\"backoff_ms\": 50},"
                 " \"expressions\": {\"workers\": 1}, \"instances\": ["
                 "  {\"id\": \"tg\", \"plugin\": \"telegram\", \"config\": {\"api_base_url\": "
                 "   \"http://127.0.0.1:%d\", \"mode\": \"polling\", \"poll_timeout_s\": 1},"
                 "   \"egress\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": %d,"
                 "                \"private\": true}]},"
                 "  {\"id\": \"mail\", \"plugin\": \"email\", \"config\": {"
                 "   \"imap_url\": \"imap://127.0.0.1:%d\", \"smtp_url\": \"smtp://127.0.0.1:%d\","
                 "   \"address\": \"%s\", \"from_name\": \"Acme Support\", \"poll_interval_s\": 1},"
                 "   \"egress\": [{\"scheme\": \"imap\", \"host\": \"127.0.0.1\", \"port\": %d, "
                 "    \"private\": true}, {\"scheme\": \"smtp\", \"host\": \"127.0.0.1\", "
                 "    \"port\": %d, \"private\": true}]}]}",
                 port, TG.port, TG.port, M.imap_port, M.submission_port, M.user, M.imap_port,
                 M.submission_port) < 0)
        return -1;
    char *scenario = th_read_source("tests/fixtures/scenarios/cross-channel-email.json");
    int rc =
        !scenario || th_init(&H, "xchan-email") || th_install_plugin(&H, "jq") ||
        th_install_plugin(&H, "telegram") || th_install_plugin(&H, "email") || th_config(&H, cfg) ||
        th_cli(&H, TOKEN "\n", NULL, 0, "secret", "set", "tg", "token", NULL) ||
        mc_store_login(&H, "mail", &M) || th_start(&H, NULL, 15000) ||
        !th_wait_state(&H, "tg", "ready", 15000) || !th_wait_state(&H, "mail", "ready", 15000) ||
        !th_wait_file(&H, "logs/plugins/mail.log", "watching INBOX", 20000) ||
        th_make_agent(&H, "Support", scenario,
                      "\"channels\": [{\"instance\": \"tg\"}, {\"instance\": \"mail\"}],"
                      " \"fallback_channels\": [\"email\"]",
                      AGENT, sizeof(AGENT));
    free(cfg);
    free(scenario);
    if (rc) return -1;
    return th_make_widget(&H, "Shop", AGENT, WIDGET, sizeof(WIDGET)) == 201 ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    fake_stop(&TG);
    mailserver_stop(&M);
    return rc ? -1 : 0;
}

/* ---- the tests ---------------------------------------------------------------------------- */

static char TOK[400];

static void test_web_chat_then_telegram_then_email_is_one_conversation_with_one_history(void **s)
{
    (void)s;
    /* The web chat, up to the Telegram offer. */
    assert_int_equal(th_chat_session(&H, WIDGET, TOK, sizeof(TOK)), 201);
    web_say(TOK, "hello");
    json_decref(web_history(TOK, "What is your name?"));
    web_say(TOK, "Anna");
    json_t *h = web_history(TOK, "What is your question, Anna?");
    const char *url = NULL;
    size_t i;
    json_t *m;
    json_array_foreach(h, i, m) if (th_get(m, "buttons.0.url")) url =
        json_string_value(th_get(m, "buttons.0.url"));
    assert_non_null(url);
    const char *code = strstr(url, "?start=");
    assert_non_null(code);
    char start[100];
    snprintf(start, sizeof(start), "/start %s", code + 7);
    json_decref(h);

    /* Telegram after the deep link: where it stood. */
    ftg_say(&TG, 600001, start);
    tg_expect(600001, 1, 0, "What is your question, Anna?");
    ftg_say(&TG, 600001, "Where is my refund?");
    tg_expect(600001, 3, 1, "Noted, Anna: Where is my refund?");

    /* By e-mail: the code goes to the address given, in its subject. */
    ftg_say(&TG, 600001, "By e-mail, please");
    tg_expect(600001, 4, 3, "Your e-mail address?");
    ftg_say(&TG, 600001, CUSTOMER);
    tg_expect(600001, 6, 4, "We mailed you a code.");
    char *mail = wait_mail("SUBJECT \"Your code\"", 1);
    char subject[300], verify[300];
    snprintf(subject, sizeof(subject), "%s", mc_header(mail, "Subject"));
    mc_message_id(mail, verify, sizeof(verify));
    assert_non_null(strstr(mc_header(mail, "To"), CUSTOMER));
    assert_non_null(strstr(mc_header(mail, "From"), M.user));
    assert_non_null(strstr(verify, "@example.test"));
    free(mail);

    /* The customer replies to it: linked, the conversation goes on by mail
     * where it stood, in that thread. */
    reply_to(CUSTOMER, "x1@example.test", verify, subject, "Here I am.");
    mail = wait_mail("BODY \"What is your question, Anna?\"", 1);
    assert_non_null(strstr(mc_header(mail, "Subject"), "Re: "));
    assert_non_null(strstr(mc_header(mail, "References"), verify));
    char asked[300];
    mc_message_id(mail, asked, sizeof(asked));
    free(mail);
    reply_to(CUSTOMER, "x2@example.test", asked, subject, "Is my parcel lost?");
    mail = wait_mail("BODY \"Noted, Anna: Is my parcel lost?\"", 1);
    assert_non_null(strstr(mc_header(mail, "References"), asked)); /* in that thread */
    free(mail);

    /* One conversation, one history: the web chat shows all three. */
    h = web_history(TOK, "Noted, Anna: Is my parcel lost?");
    assert_true(th_chat_has_text(h, "Anna"));                /* the web chat */
    assert_true(th_chat_has_text(h, "Where is my refund?")); /* Telegram */
    assert_true(th_chat_has_text(h, "Is my parcel lost?"));  /* e-mail */
    json_decref(h);
    json_t *conv = web_conversation(TOK);
    assert_string_equal(json_string_value(th_get(conv, "channel.kind")), "email");
    assert_string_equal(json_string_value(th_get(conv, "channel.instance")), "mail");
    json_t *chans = json_object_get(conv, "channels");
    assert_int_equal(json_array_size(chans), 3);
    assert_string_equal(json_string_value(th_get(chans, "0.kind")), "webchat");
    assert_string_equal(json_string_value(th_get(chans, "1.kind")), "telegram");
    assert_string_equal(json_string_value(th_get(chans, "2.kind")), "email");
    assert_string_equal(json_string_value(th_get(chans, "2.chat_id")), CUSTOMER);

    /* The reply carrying the code proved the address: the contact's. */
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/contacts/%s",
             json_string_value(json_object_get(conv, "contact_id")));
    json_decref(conv);
    json_t *c = NULL;
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &c), 200);
    bool proved = false;
    json_t *idn;
    json_array_foreach(json_object_get(c, "identities"), i, idn) proved |=
        !strcmp(json_string_value(json_object_get(idn, "channel")), "email") &&
        !strcmp(json_string_value(json_object_get(idn, "id")), CUSTOMER) &&
        json_is_true(json_object_get(idn, "verified"));
    if (!proved) fail_msg("no verified e-mail identity: %s", json_dumps(c, JSON_COMPACT));
    json_decref(c);
}

static void test_a_telegram_403_fails_over_to_the_customers_mailbox(void **s)
{
    (void)s;
    json_decref(ftg_call(&TG, "POST", "/_fake/block", "{\"chat_id\": 600001}"));
    ftg_say(&TG, 600001, "And my invoice?"); /* the contact writes in Telegram again */
    char *mail = wait_mail("BODY \"Noted, Anna: And my invoice?\"", 1);
    assert_non_null(strstr(mc_header(mail, "To"), CUSTOMER));
    free(mail);
    assert_true(th_wait_file(&H, "logs/messages.log", "\"failover_of\"", 30000));
    assert_true(failover_logged("\"channel\":\"email\""));
    assert_true(failover_logged("\"failed_instance\":\"tg\""));
    assert_true(failover_logged("\"reason\":\"blocked\""));
    json_t *h = web_history(TOK, "Noted, Anna: And my invoice?"); /* still one history */
    json_decref(h);
}

/* A contact met on Telegram whose address the conversation never mailed
 * (an operator merged the contact that mailed in): the failover starts a
 * new thread to the address, and the reply to it continues the Telegram
 * conversation (without the thread the plugin starts, the reply made a new
 * conversation that asked the name again). */
static void test_a_reply_to_a_failover_mail_continues_the_conversation(void **s)
{
    (void)s;
    mail_from(CUSTOMER_B, "b1@example.test", "Hello", "", "Hello there.");
    char *mail = wait_mail("HEADER In-Reply-To \"<b1@example.test>\"", 1);
    assert_non_null(strstr(mail, "What is your name?"));
    free(mail);
    ftg_say(&TG, 600002, "/start");
    tg_expect(600002, 1, 0, "What is your name?");
    ftg_say(&TG, 600002, "Boris");
    tg_expect(600002, 3, 2, "What is your question, Boris?");

    json_t *tgc = NULL, *mc = NULL, *o = NULL;
    assert_int_equal(
        th_http(&H, "GET", "/api/v1/contacts/lookup?channel=telegram&id=600002", NULL, NULL, &tgc),
        200);
    assert_int_equal(th_http(&H, "GET",
                             "/api/v1/contacts/lookup?channel=email&id=customer%2Bb@example.test",
                             NULL, NULL, &mc),
                     200);
    char path[200], body[300];
    snprintf(path, sizeof(path), "/api/v1/contacts/%s/link",
             json_string_value(json_object_get(tgc, "id")));
    snprintf(body, sizeof(body), "{\"contact_id\": \"%s\"}",
             json_string_value(json_object_get(mc, "id")));
    int st = th_http(&H, "POST", path, body, NULL, &o);
    if (st != 200) fail_msg("merging: %d %s", st, json_dumps(o, 0));
    json_decref(o);
    json_decref(tgc);
    json_decref(mc);

    json_decref(ftg_call(&TG, "POST", "/_fake/block", "{\"chat_id\": 600002}"));
    ftg_say(&TG, 600002, "Where is my parcel?");
    mail = wait_mail("BODY \"Noted, Boris: Where is my parcel?\"", 1);
    assert_non_null(strstr(mc_header(mail, "To"), CUSTOMER_B));
    assert_string_equal(mc_header(mail, "Subject"), "Your conversation with Acme Support");
    assert_string_equal(mc_header(mail, "In-Reply-To"), ""); /* a new thread */
    char failed_over[300];
    mc_message_id(mail, failed_over, sizeof(failed_over));
    free(mail);
    assert_true(failover_logged("\"failed_instance\":\"tg\""));

    reply_to(CUSTOMER_B, "b2@example.test", failed_over, "Your conversation with Acme Support",
             "It was due on Monday.");
    /* The Telegram conversation answers (a new one would ask the name). */
    mail = wait_mail("BODY \"Noted, Boris: It was due on Monday.\"", 1);
    assert_non_null(strstr(mc_header(mail, "To"), CUSTOMER_B));
    assert_non_null(strstr(mc_header(mail, "References"), failed_over));
    free(mail);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_web_chat_then_telegram_then_email_is_one_conversation_with_one_history),
        cmocka_unit_test(test_a_telegram_403_fails_over_to_the_customers_mailbox),
        cmocka_unit_test(test_a_reply_to_a_failover_mail_continues_the_conversation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
