/*
 * The e-mail channel end to end through the real binary, with real servers
 * on loopback (tests/servers/mailserver.h: Postfix delivering into Dovecot)
 * and the fake OpenAI server: the email plugin polls the mailbox over IMAP
 * and answers over SMTP (submission, with AUTH), both through the broker.
 * A customer mails a question and the agent's answer (the model's) comes
 * back in the same thread (In-Reply-To, References, "Re:"), read over IMAP;
 * a reply to that answer continues the same conversation; an auto-reply
 * and mail from the agent's own address get no answer; a mail that arrives while the host is down
 * is answered once after the restart and nothing handled before is answered again.
 *
 * The time from a mail accepted by Postfix to the answer found over IMAP is
 * printed ("e2e ms"); EMAIL_E2E_POLL_S sets the poll interval (default 1;
 * docs/benchmarks.md has the figures at 1 s and at the default 10 s).
 */
#include "../fakes/fake_proc.h"
#include "../servers/mailclient.h"
#include "../support/th.h"

#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_LLM TH_BUILD_DIR "/tests/fakes/fake_openai"
#define API_KEY "sk-test-Zq8vN3kLpW5xR2mT7yB4"
#define CUSTOMER MC_CUSTOMER
#define ANSWER "The capital of England is London."

static th_host H;
static mailserver M;
static fake_proc LLM;
static char AGENT[64];
static char ANSWER_ID[300]; /* the first answer's Message-ID, for the customer's reply */

/* Submit a mail from the customer to the agent's mailbox by SMTP. */
static const char *TO; /* the address mail_from sends to (NULL: the agent's) */

static void mail_from(const char *from, const char *mid, const char *subject,
                      const char *extra_headers, const char *text)
{
    mc_mail(&M, from, TO ? TO : M.user, mid, subject, extra_headers, text);
}

static void mail_in(const char *mid, const char *subject, const char *extra_headers,
                    const char *text)
{
    mail_from("Customer <" CUSTOMER ">", mid, subject, extra_headers, text);
}

/* The UIDs of the mails answering mid (In-Reply-To) in the customer's
 * mailbox, where the agent's answers land, into v; how many. */
static size_t answers_to(const char *mid, long *v, size_t max)
{
    char crit[400];
    snprintf(crit, sizeof(crit), "HEADER In-Reply-To \"<%s>\"", mid);
    long n = mc_search(&M, CUSTOMER, "INBOX", crit, v, max);
    assert_true(n >= 0);
    return (size_t)n;
}

/* The first answer to mid, whole (malloc'd), once there is one; *ms: the
 * time it took from `since`. */
static char *wait_answer(const char *mid, long long since, long long *ms)
{
    long uids[8];
    char crit[400];
    snprintf(crit, sizeof(crit), "HEADER In-Reply-To \"<%s>\"", mid);
    mc_wait_search(&M, CUSTOMER, crit, 1, uids, 8, 60000);
    if (ms) *ms = th_now_ms() - since;
    return mc_fetch(&M, CUSTOMER, uids[0]);
}

static void wait_handled(long uid)
{
    if (!mc_wait_handled(&H, "mail", uid, 60000)) fail_msg("UID %ld not handled after 60 s", uid);
}

static long conversations_of_agent(void)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/conversations?agent_id=%s", AGENT);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    long n = (long)json_array_size(json_object_get(o, "items"));
    json_decref(o);
    return n;
}

/* ---- setup ----------------------------------------------------------------------------- */

static int start_host(void)
{
    return th_start(&H, NULL, 15000) || !th_wait_state(&H, "mail", "ready", 15000) ||
                   !th_wait_state(&H, "llm", "ready", 15000)
               ? -1
               : 0;
}

static int PORT;

/* The host's configuration; handled: more of the mail instance's config
 * ("\"handled\": {...},") or "". 0 or -1. */
static int write_config(const char *handled)
{
    const char *poll = getenv("EMAIL_E2E_POLL_S");
    char *cfg = NULL;
    if (asprintf(&cfg,
                 "{\"listen\": \"127.0.0.1:%d\", \"bus\": {\"backoff_ms\": 50}, \"instances\": ["
                 " {\"id\": \"mail\", \"plugin\": \"email\", \"config\": {%s"
                 "  \"imap_url\": \"imap://127.0.0.1:%d\", \"smtp_url\": \"smtp://127.0.0.1:%d\","
                 "  \"address\": \"%s\", \"from_name\": \"Acme Support\", \"signature\": "
                 "  \"Acme Support\", \"poll_interval_s\": %d},"
                 "  \"egress\": [{\"scheme\": \"imap\", \"host\": \"127.0.0.1\", \"port\": %d, "
                 "   \"private\": true}, {\"scheme\": \"smtp\", \"host\": \"127.0.0.1\", "
                 "   \"port\": %d, \"private\": true}]},"
                 " {\"id\": \"llm\", \"plugin\": \"llm-openai\","
                 "  \"config\": {\"base_url\": \"http://127.0.0.1:%d/v1\", \"model\": \"gpt-4o\"},"
                 "  \"egress\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": %d,"
                 "   \"private\": true}]}]}",
                 PORT, handled, M.imap_port, M.submission_port, M.user, poll ? atoi(poll) : 1,
                 M.imap_port, M.submission_port, LLM.port, LLM.port) < 0)
        return -1;
    int rc = th_config(&H, cfg);
    free(cfg);
    return rc;
}

static int setup(void **s)
{
    (void)s;
    if (mailserver_start(&M, TH_SOURCE_DIR) < 0) {
        fprintf(stderr, "mail servers: %s\n", M.why);
        return -1;
    }
    if (fake_start(&LLM, FAKE_LLM, 5000)) return -1;
    PORT = th_free_port();
    if (PORT < 0) return -1;
    /* An answer to a question: the model's text, then wait for the next mail. */
    char *scenario = th_read_source("tests/fixtures/scenarios/mail-llm-answer.json");
    int rc = !scenario || th_init(&H, "email-channel") || th_install_plugin(&H, "jq") ||
             th_install_plugin(&H, "email") || th_install_plugin(&H, "llm-openai") ||
             write_config("") ||
             th_cli(&H, API_KEY "\n", NULL, 0, "secret", "set", "llm", "api_key", NULL) ||
             mc_store_login(&H, "mail", &M) || start_host() ||
             !th_wait_file(&H, "logs/plugins/mail.log", "watching INBOX", 20000) ||
             th_make_agent(&H, "Mail FAQ", scenario, "\"channels\": [{\"instance\": \"mail\"}]",
                           AGENT, sizeof(AGENT));
    free(scenario);
    return rc ? -1 : 0;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    fake_stop(&LLM);
    mailserver_stop(&M);
    return rc ? -1 : 0;
}

/* ---- the tests ---------------------------------------------------------------------------- */

static void test_a_mailed_question_is_answered_in_the_same_thread(void **s)
{
    (void)s;
    long long t0 = th_now_ms(), ms = 0;
    mail_in("q1@example.test", "Where is my parcel?", "", "Hello, where is my parcel 5512?");
    char *m = wait_answer("q1@example.test", t0, &ms);
    fprintf(stderr, "e2e ms (mail accepted -> answer in the mailbox): %lld\n", ms);
    assert_string_equal(mc_header(m, "Subject"), "Re: Where is my parcel?");
    assert_string_equal(mc_header(m, "References"), "<q1@example.test>");
    assert_string_equal(mc_header(m, "To"), "Customer <" CUSTOMER ">");
    assert_non_null(strstr(mc_header(m, "From"), M.user));
    assert_string_equal(mc_header(m, "Auto-Submitted"), "auto-replied");
    assert_non_null(strstr(m, "multipart/alternative"));
    assert_non_null(strstr(m, ANSWER));
    assert_non_null(strstr(m, "-- \r\nAcme Support"));
    const char *mid = mc_header(m, "Message-ID");
    assert_true(mid[0] == '<');
    snprintf(ANSWER_ID, sizeof(ANSWER_ID), "%.*s", (int)strlen(mid) - 2, mid + 1);
    free(m);
    assert_int_equal(conversations_of_agent(), 1);
}

static void test_a_reply_to_the_answer_continues_the_same_conversation(void **s)
{
    (void)s;
    char hs[800];
    snprintf(hs, sizeof(hs), "In-Reply-To: <%s>\r\nReferences: <q1@example.test> <%s>\r\n",
             ANSWER_ID, ANSWER_ID);
    mail_in("q2@example.test", "Re: Where is my parcel?", hs,
            "Thanks! And when will it arrive?\r\n\r\n> " ANSWER);
    char *m = wait_answer("q2@example.test", th_now_ms(), NULL);
    assert_string_equal(mc_header(m, "Subject"), "Re: Where is my parcel?");
    char refs[1000];
    snprintf(refs, sizeof(refs), "<q1@example.test> <%s> <q2@example.test>", ANSWER_ID);
    assert_string_equal(mc_header(m, "References"), refs);
    assert_non_null(strstr(m, ANSWER));
    free(m);
    assert_int_equal(conversations_of_agent(), 1); /* the same conversation went on */
}

/* The UID of the mail mid in the agent's mailbox, once Postfix delivered it. */
static long delivered(const char *mid)
{
    char crit[300];
    snprintf(crit, sizeof(crit), "HEADER Message-ID \"<%s>\"", mid);
    long uid = 0;
    mc_wait_search(&M, M.user, crit, 1, &uid, 1, 30000);
    return uid;
}

static void test_an_auto_reply_and_the_agents_own_mail_get_no_answer(void **s)
{
    (void)s;
    char hs[800];
    snprintf(hs, sizeof(hs), "Auto-Submitted: auto-replied\r\nIn-Reply-To: <%s>\r\n", ANSWER_ID);
    mail_in("ooo-1@example.test", "Automatic reply: Where is my parcel?", hs,
            "I am out of the office until Monday.");
    char from[120];
    snprintf(from, sizeof(from), "Acme Support <%s>", M.user);
    mail_from(from, "own-1@example.test", "A note to self", "", "Sent from the support address.");
    wait_handled(delivered("ooo-1@example.test"));
    wait_handled(delivered("own-1@example.test"));
    assert_true(th_wait_file(&H, "logs/plugins/mail.log", "auto_reply (Auto-Submitted", 5000));
    assert_true(th_wait_file(&H, "logs/plugins/mail.log", ": self (", 5000));
    long v[2];
    assert_int_equal(answers_to("ooo-1@example.test", v, 2), 0);
    assert_int_equal(answers_to("own-1@example.test", v, 2), 0);
    assert_int_equal(conversations_of_agent(), 1);
}

static void test_a_restart_loses_and_repeats_no_mail(void **s)
{
    (void)s;
    assert_int_equal(th_stop(&H, 15000), 0);
    mail_in("q3@example.test", "Another question", "", "Do you deliver on Sundays?");
    assert_int_equal(start_host(), 0);
    char *m = wait_answer("q3@example.test", th_now_ms(), NULL);
    free(m);
    wait_handled(mc_newest_uid(&M, M.user)); /* everything in the mailbox handled */
    long v[4];
    assert_int_equal(answers_to("q3@example.test", v, 4), 1);
    assert_int_equal(answers_to("q1@example.test", v, 4), 1);
    assert_int_equal(answers_to("q2@example.test", v, 4), 1);
    assert_int_equal(conversations_of_agent(), 2);
}

static long sends_logged(void)
{
    char *log = th_read(&H, "logs/integration.log");
    long n = 0;
    for (const char *c = log ? log : ""; (c = strstr(c, "\"method\":\"SEND\"")); c++)
        n++;
    free(log);
    return n;
}

static void test_a_reply_refused_with_5xx_is_dead_lettered_with_the_servers_reason(void **s)
{
    (void)s;
    long before = sends_logged();
    /* Postfix refuses refused@ at RCPT TO (554): the agent's answer cannot go. */
    mail_from("Nobody <refused@example.test>", "r1@example.test", "Question", "",
              "Is anyone there?");
    json_t *o = NULL;
    long long deadline = th_now_ms() + 60000;
    for (;;) {
        assert_int_equal(th_http(&H, "GET", "/api/v1/topics/message.out/dlq", NULL, NULL, &o), 200);
        if (json_array_size(json_object_get(o, "events"))) break;
        json_decref(o);
        if (th_now_ms() > deadline) fail_msg("no dead letter on message.out after 60 s");
        th_sleep_ms(100);
    }
    char *d = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    assert_non_null(strstr(d, "SMTP 554"));
    free(d);
    /* Sent once: the redeliveries read the "failed" record and did not send again. */
    assert_int_equal(sends_logged() - before, 1);
}

static void test_email_send_mails_in_the_language_given_once_per_key(void **s)
{
    (void)s;
    static const char args[] =
        "{\"to\": \"Customer <" CUSTOMER ">\", \"language\": \"ru-RU\", "
        "\"default_language\": \"en\", \"idempotency_key\": \"order-77-shipped\", "
        "\"subject\": {\"en\": \"Order 77 shipped\", \"ru\": \"Заказ 77 отправлен\"}, "
        "\"text\": {\"en\": \"It ships today.\", \"ru\": \"Отправлен сегодня.\"}}";
    json_t *a = NULL, *b = NULL;
    assert_int_equal(th_call(&H, "mail", "send", args, &a), 200);
    assert_int_equal(th_call(&H, "mail", "send", args, &b), 200); /* the same key: not again */
    assert_string_equal(json_string_value(th_get(a, "result.outcome")), "sent");
    const char *mid = json_string_value(th_get(a, "result.message_id"));
    assert_non_null(mid);
    assert_string_equal(json_string_value(th_get(b, "result.message_id")), mid);
    char crit[400];
    snprintf(crit, sizeof(crit), "HEADER Message-ID \"<%s>\"", mid);
    long uids[4];
    assert_int_equal(mc_wait_search(&M, CUSTOMER, crit, 1, uids, 4, 30000), 1);
    char *raw = mc_fetch(&M, CUSTOMER, uids[0]);
    json_t *pa = json_pack("{s:s}", "raw", raw), *parsed = NULL;
    char *pargs = json_dumps(pa, 0);
    assert_int_equal(th_call(&H, "mail", "parse", pargs, &parsed), 200);
    assert_string_equal(json_string_value(th_get(parsed, "result.subject")), "Заказ 77 отправлен");
    assert_string_equal(json_string_value(th_get(parsed, "result.new_text")), "Отправлен сегодня.");
    json_decref(parsed);
    free(pargs);
    json_decref(pa);
    free(raw);
    json_decref(a);
    json_decref(b);
}

static void test_a_scenario_may_use_the_email_send_step(void **s)
{
    (void)s;
    char *scn = th_read_source("tests/fixtures/scenarios/mail-notify-step.json");
    assert_non_null(scn);
    char agent[64];
    assert_int_equal(th_make_agent(&H, "Notifier", scn, NULL, agent, sizeof(agent)), 0);
    free(scn);
}

static void test_a_sender_over_the_rate_limit_is_recorded_not_answered(void **s)
{
    (void)s;
    /* rate_limit.per_sender is 5 an hour by default: a sixth mail within the
     * hour (an auto-responder that ignores the headers, say) is not answered. */
    char mid[64], text[64], expect[160];
    long uid = 0, sends = sends_logged();
    for (int i = 1; i <= 6; i++) {
        snprintf(mid, sizeof(mid), "loop-%d@example.org", i);
        snprintf(text, sizeof(text), "Message number %d", i);
        mail_from("Looper <looper@example.org>", mid, "Your ticket", "", text);
        uid = delivered(mid);
    }
    wait_handled(uid);
    snprintf(expect, sizeof(expect), "UID %ld from looper@example.org: over rate_limit", uid);
    assert_true(th_wait_file(&H, "logs/plugins/mail.log", expect, 5000));
    snprintf(expect, sizeof(expect), "UID %ld from looper@example.org: over rate_limit", uid - 1);
    assert_false(th_file_contains(&H, "logs/plugins/mail.log", expect));
    /* The five answered ones are answered (their turns done before the next test stops the
     * host). */
    long long deadline = th_now_ms() + 60000;
    while (sends_logged() < sends + 5) {
        if (th_now_ms() > deadline) fail_msg("the looper's five mails were not answered");
        th_sleep_ms(50);
    }
}

static void test_with_move_to_handled_mail_leaves_the_inbox_for_that_folder(void **s)
{
    (void)s;
    assert_int_equal(th_stop(&H, 15000), 0);
    assert_int_equal(
        write_config("\"handled\": {\"move_to\": \"Answered\"}, \"reply_token\": true,"), 0);
    assert_int_equal(start_host(), 0);
    mail_in("q5@example.test", "Opening hours", "", "When are you open?");
    free(wait_answer("q5@example.test", th_now_ms(), NULL));
    /* Moved once handled: in Answered (created by the plugin), gone from INBOX. */
    const char *crit = "HEADER Message-ID \"<q5@example.test>\"";
    long long deadline = th_now_ms() + 30000;
    for (;;) {
        long in = mc_search(&M, M.user, "INBOX", crit, NULL, 0);
        long moved = mc_search(&M, M.user, "Answered", crit, NULL, 0); /* -1: no folder yet */
        assert_true(in >= 0);
        if (moved > 0 && in == 0) break;
        if (th_now_ms() > deadline) fail_msg("q5 not moved: INBOX %ld, Answered %ld", in, moved);
        th_sleep_ms(50);
    }
    long v[2];
    assert_int_equal(answers_to("q5@example.test", v, 2), 1);
}

static void test_a_reply_without_threading_headers_finds_its_conversation_by_token(void **s)
{
    (void)s;
    /* reply_token is on since the last test: the answer's Reply-To names its
     * conversation, agent+t_...@example.test. */
    mail_in("q6@example.test", "Gift cards", "", "Do you sell gift cards?");
    char *m = wait_answer("q6@example.test", th_now_ms(), NULL);
    char reply_to[200];
    const char *rt = strchr(mc_header(m, "Reply-To"), '<');
    assert_non_null(rt);
    snprintf(reply_to, sizeof(reply_to), "%.*s", (int)strcspn(rt + 1, ">"), rt + 1);
    free(m);
    assert_non_null(strstr(reply_to, "+t_"));
    long before = conversations_of_agent();
    /* A client that keeps neither In-Reply-To nor References, and a new subject. */
    TO = reply_to;
    mail_in("q7@example.test", "gift card question", "", "And do they expire?");
    TO = NULL;
    free(wait_answer("q7@example.test", th_now_ms(), NULL));
    assert_int_equal(conversations_of_agent(), before); /* the same conversation went on */
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_mailed_question_is_answered_in_the_same_thread),
        cmocka_unit_test(test_a_reply_to_the_answer_continues_the_same_conversation),
        cmocka_unit_test(test_an_auto_reply_and_the_agents_own_mail_get_no_answer),
        cmocka_unit_test(test_a_restart_loses_and_repeats_no_mail),
        cmocka_unit_test(test_a_reply_refused_with_5xx_is_dead_lettered_with_the_servers_reason),
        cmocka_unit_test(test_email_send_mails_in_the_language_given_once_per_key),
        cmocka_unit_test(test_a_scenario_may_use_the_email_send_step),
        cmocka_unit_test(test_a_sender_over_the_rate_limit_is_recorded_not_answered),
        cmocka_unit_test(test_with_move_to_handled_mail_leaves_the_inbox_for_that_folder),
        cmocka_unit_test(test_a_reply_without_threading_headers_finds_its_conversation_by_token),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
