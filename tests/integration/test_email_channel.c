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
#include "../servers/mailserver.h"
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
#define CUSTOMER "customer@example.test"
#define ANSWER "The capital of England is London."

static th_host H;
static mailserver M;
static fake_proc LLM;
static char AGENT[64];
static char ANSWER_ID[300]; /* the first answer's Message-ID, for the customer's reply */

/* An answer to a question: the model's text, then wait for the next mail. */
static const char SCENARIO[] =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": "
    "[\"en\", \"ru\"], \"variables\": {\"answer\": {\"type\": \"string\"}}, \"start\": \"answer\","
    " \"fallback\": \"Sorry, I cannot answer right now.\", \"steps\": {"
    " \"answer\": {\"kind\": \"llm.chat\", \"args\": {\"messages\": [{\"role\": \"system\", "
    "\"content\": \"You answer questions about Acme.\"}, {\"role\": \"user\", \"content\": "
    "\"{{ input.text }}\"}]}, \"say\": true, \"result\": {\"answer\": \".result.content\"}, "
    "\"next\": \"listen\"},"
    " \"listen\": {\"kind\": \"wait\", \"for\": \"input\", \"timeout_ms\": 3600000, "
    "\"on_timeout\": \"bye\", \"next\": \"answer\"},"
    " \"bye\": {\"kind\": \"end\", \"outcome\": \"idle\"}}}";

/* ---- a mail client (libcurl, straight to the servers) ------------------------------- */

typedef struct buf {
    char *p;
    size_t n, off;
} buf;

static size_t sink(char *d, size_t sz, size_t nm, void *ud)
{
    buf *b = ud;
    char *np = realloc(b->p, b->n + sz * nm + 1);
    if (!np) return 0;
    b->p = np;
    memcpy(b->p + b->n, d, sz * nm);
    b->n += sz * nm;
    b->p[b->n] = 0;
    return sz * nm;
}

static size_t source(char *d, size_t sz, size_t nm, void *ud)
{
    buf *b = ud;
    size_t n = b->n - b->off < sz * nm ? b->n - b->off : sz * nm;
    memcpy(d, b->p + b->off, n);
    b->off += n;
    return n;
}

/* Submit a mail from the customer to the agent's mailbox by SMTP. */
static const char *TO; /* the address mail_from sends to (NULL: the agent's) */

static void mail_from(const char *from, const char *mid, const char *subject,
                      const char *extra_headers, const char *text)
{
    const char *to = TO ? TO : M.user;
    char *msg = NULL;
    assert_true(asprintf(&msg,
                         "From: %s\r\nTo: Support <%s>\r\nSubject: %s\r\n"
                         "Message-ID: <%s>\r\nDate: Mon, 07 Dec 2026 03:00:00 +0000\r\n%s"
                         "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                         "%s\r\n",
                         from, to, subject, mid, extra_headers, text) > 0);
    buf b = {.p = msg, .n = strlen(msg)};
    CURL *c = curl_easy_init();
    char url[100], rcpt[120];
    snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", M.smtp_port);
    snprintf(rcpt, sizeof(rcpt), "<%s>", to);
    struct curl_slist *r = curl_slist_append(NULL, rcpt);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, "<" CUSTOMER ">");
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, r);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, source);
    curl_easy_setopt(c, CURLOPT_READDATA, &b);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(r);
    curl_easy_cleanup(c);
    free(msg);
    assert_int_equal(rc, CURLE_OK);
}

static void mail_in(const char *mid, const char *subject, const char *extra_headers,
                    const char *text)
{
    mail_from("Customer <" CUSTOMER ">", mid, subject, extra_headers, text);
}

/* An IMAP request to a mailbox (who: its address): the body (malloc'd),
 * or NULL. */
static char *imap_as(const char *who, const char *path, const char *command)
{
    CURL *c = curl_easy_init();
    char url[400];
    snprintf(url, sizeof(url), "imap://127.0.0.1:%d/%s", M.imap_port, path);
    buf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_USERNAME, who);
    curl_easy_setopt(c, CURLOPT_PASSWORD, M.password);
    if (command) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, command);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        free(b.p);
        return NULL;
    }
    return b.p ? b.p : strdup("");
}

/* The customer's mailbox, where the agent's answers land. */
static char *imap(const char *path, const char *command)
{
    return imap_as(CUSTOMER, path, command);
}

/* The UIDs of the mails answering mid (In-Reply-To), into v; how many. */
static size_t answers_to(const char *mid, long *v, size_t max)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "UID SEARCH HEADER In-Reply-To \"<%s>\"", mid);
    char *body = imap("INBOX", cmd);
    assert_non_null(body);
    size_t n = 0;
    const char *s = strstr(body, "* SEARCH");
    for (char *c = s ? (char *)s + 8 : body + strlen(body), *end; *c && n < max; c = end) {
        long x = strtol(c, &end, 10);
        if (end == c) break;
        v[n++] = x;
    }
    free(body);
    return n;
}

/* The first answer to mid, whole (malloc'd), once there is one; *ms: the
 * time it took from `since`. */
static char *wait_answer(const char *mid, long long since, long long *ms)
{
    long uids[8];
    long long deadline = th_now_ms() + 60000;
    while (!answers_to(mid, uids, 8)) {
        if (th_now_ms() > deadline) fail_msg("no answer to <%s> after 60 s", mid);
        th_sleep_ms(50);
    }
    if (ms) *ms = th_now_ms() - since;
    char path[100];
    snprintf(path, sizeof(path), "INBOX;UID=%ld", uids[0]);
    char *m = imap(path, NULL);
    assert_non_null(m);
    return m;
}

/* A header's value in a raw message (static), or "": the name in any case. */
static const char *header(const char *raw, const char *name)
{
    static char v[1000];
    char key[100];
    snprintf(key, sizeof(key), "\r\n%s: ", name);
    const char *s = strcasestr(raw, key); /* GMime writes Message-Id */
    v[0] = 0;
    if (s) {
        s += strlen(key);
        size_t n = 0;
        while (s[0] && n < sizeof(v) - 1 &&
               !(s[0] == '\r' && s[1] == '\n' && s[2] != ' ' && s[2] != '\t')) {
            if (s[0] == '\r' && s[1] == '\n') { /* unfolded: one space */
                s += 2;
                while (*s == ' ' || *s == '\t')
                    s++;
                v[n++] = ' ';
                continue;
            }
            v[n++] = *s++;
        }
        v[n] = 0;
    }
    return v;
}

/* The poller's last handled UID (the status action). */
static long last_uid(void)
{
    json_t *o = NULL;
    assert_int_equal(th_call(&H, "mail", "status", "{}", &o), 200);
    long v = (long)json_integer_value(th_get(o, "result.last_uid"));
    json_decref(o);
    return v;
}

/* The highest UID in the mailbox now. */
static long newest_uid(void)
{
    char *b = imap_as(M.user, "INBOX", "UID SEARCH ALL");
    assert_non_null(b);
    long v = 0;
    const char *s = strstr(b, "* SEARCH");
    for (char *c = s ? (char *)s + 8 : b + strlen(b), *end;; c = end) {
        long x = strtol(c, &end, 10);
        if (end == c) break;
        v = x;
    }
    free(b);
    return v;
}

static void wait_handled(long uid)
{
    long long deadline = th_now_ms() + 60000;
    while (last_uid() < uid) {
        if (th_now_ms() > deadline) fail_msg("UID %ld not handled after 60 s", uid);
        th_sleep_ms(50);
    }
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
    char user[80], pw[64];
    snprintf(user, sizeof(user), "%s\n", M.user);
    snprintf(pw, sizeof(pw), "%s\n", M.password);
    int rc = th_init(&H, "email-channel") || th_install_plugin(&H, "jq") ||
             th_install_plugin(&H, "email") || th_install_plugin(&H, "llm-openai") ||
             write_config("") ||
             th_cli(&H, API_KEY "\n", NULL, 0, "secret", "set", "llm", "api_key", NULL) ||
             th_cli(&H, user, NULL, 0, "secret", "set", "mail", "user", NULL) ||
             th_cli(&H, pw, NULL, 0, "secret", "set", "mail", "password", NULL) || start_host() ||
             !th_wait_file(&H, "logs/plugins/mail.log", "watching INBOX", 20000) ||
             th_make_agent(&H, "Mail FAQ", SCENARIO, "\"channels\": [{\"instance\": \"mail\"}]",
                           AGENT, sizeof(AGENT));
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
    assert_string_equal(header(m, "Subject"), "Re: Where is my parcel?");
    assert_string_equal(header(m, "References"), "<q1@example.test>");
    assert_string_equal(header(m, "To"), "Customer <" CUSTOMER ">");
    assert_non_null(strstr(header(m, "From"), M.user));
    assert_string_equal(header(m, "Auto-Submitted"), "auto-replied");
    assert_non_null(strstr(m, "multipart/alternative"));
    assert_non_null(strstr(m, ANSWER));
    assert_non_null(strstr(m, "-- \r\nAcme Support"));
    const char *mid = header(m, "Message-ID");
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
    assert_string_equal(header(m, "Subject"), "Re: Where is my parcel?");
    char refs[1000];
    snprintf(refs, sizeof(refs), "<q1@example.test> <%s> <q2@example.test>", ANSWER_ID);
    assert_string_equal(header(m, "References"), refs);
    assert_non_null(strstr(m, ANSWER));
    free(m);
    assert_int_equal(conversations_of_agent(), 1); /* the same conversation went on */
}

/* The UID of the mail mid in the agent's mailbox, once Postfix delivered it. */
static long delivered(const char *mid)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "UID SEARCH HEADER Message-ID \"<%s>\"", mid);
    long uid = 0;
    long long deadline = th_now_ms() + 30000;
    while (!uid) {
        char *b = imap_as(M.user, "INBOX", cmd);
        const char *p = b ? strstr(b, "* SEARCH") : NULL;
        if (p) uid = strtol(p + 8, NULL, 10);
        free(b);
        if (!uid && th_now_ms() > deadline) fail_msg("<%s> was not delivered", mid);
        if (!uid) th_sleep_ms(50);
    }
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
    wait_handled(newest_uid()); /* everything in the mailbox handled */
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
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "UID SEARCH HEADER Message-ID \"<%s>\"", mid);
    long uids[4];
    size_t n = 0;
    long long deadline = th_now_ms() + 30000;
    while (!n) {
        char *body = imap("INBOX", cmd);
        const char *p = body ? strstr(body, "* SEARCH") : NULL;
        for (char *c = p ? (char *)p + 8 : NULL, *end; c && n < 4; c = end) {
            long x = strtol(c, &end, 10);
            if (end == c) break;
            uids[n++] = x;
        }
        free(body);
        if (!n && th_now_ms() > deadline) fail_msg("the notification was not delivered");
        if (!n) th_sleep_ms(50);
    }
    assert_int_equal(n, 1);
    char path[100];
    snprintf(path, sizeof(path), "INBOX;UID=%ld", uids[0]);
    char *raw = imap(path, NULL);
    assert_non_null(raw);
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
    static const char scn[] =
        "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", "
        "\"languages\": [\"en\", \"ru\"], \"start\": \"notify\", \"steps\": {"
        "\"notify\": {\"kind\": \"email.send\", \"instance\": \"mail\", \"args\": {"
        "\"to\": \"manager@example.test\", \"language\": \"{{ conversation.language }}\", "
        "\"subject\": {\"en\": \"New lead\", \"ru\": \"Новый лид\"}, \"text\": "
        "\"{{ input.text }}\"}, \"next\": \"done\"}, \"done\": {\"kind\": \"end\"}}}";
    char agent[64];
    assert_int_equal(th_make_agent(&H, "Notifier", scn, NULL, agent, sizeof(agent)), 0);
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
    const char *cmd = "UID SEARCH HEADER Message-ID \"<q5@example.test>\"";
    long long deadline = th_now_ms() + 30000;
    char *in = NULL, *moved = NULL;
    for (;;) {
        free(in);
        free(moved);
        in = imap_as(M.user, "INBOX", cmd);
        moved = imap_as(M.user, "Answered", cmd);
        assert_non_null(in);
        bool there = moved && strstr(moved, "* SEARCH ") &&
                     strtol(strstr(moved, "* SEARCH ") + 9, NULL, 10) > 0;
        bool gone = !strstr(in, "* SEARCH ") || strtol(strstr(in, "* SEARCH ") + 9, NULL, 10) == 0;
        if (there && gone) break;
        if (th_now_ms() > deadline)
            fail_msg("q5 not moved: INBOX %s, Answered %s", in, moved ? moved : "(none)");
        th_sleep_ms(50);
    }
    free(in);
    free(moved);
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
    const char *rt = strchr(header(m, "Reply-To"), '<');
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
