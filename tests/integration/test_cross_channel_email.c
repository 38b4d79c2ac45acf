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

#define FAKE_TG TH_BUILD_DIR "/tests/fakes/fake_telegram"
#define TOKEN "7000000001:AAH-fake-token_for-tests"
#define CUSTOMER "customer@example.test"
#define CUSTOMER_B "customer+b@example.test" /* lands in the customer's INBOX too */

static th_host H;
static mailserver M;
static fake_proc TG;
static char AGENT[64], WIDGET[64];

static const char *SCENARIO =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": [\"en\"],"
    " \"variables\": {\"name\": {\"type\": \"string\"}, \"topic\": {\"type\": \"string\"},"
    "  \"email\": {\"type\": \"string\"}},"
    " \"start\": \"name\","
    " \"steps\": {"
    "  \"name\": {\"kind\": \"ask\", \"text\": {\"en\": \"What is your name?\"}, \"var\": \"name\","
    "            \"next\": \"offer\"},"
    "  \"offer\": {\"kind\": \"continue_in\", \"channel\": \"telegram\", \"instance\": \"tg\","
    "             \"bot\": \"acme_support_bot\", \"text\": {\"en\": \"We can go on in Telegram.\"},"
    "             \"next\": \"topic\"},"
    "  \"topic\": {\"kind\": \"ask\", \"text\": {\"en\": \"What is your question, {{ vars.name "
    "}}?\"}, \"var\": \"topic\", \"next\": \"which\"},"
    "  \"which\": {\"kind\": \"switch\", \"cases\": [{\"if\": \".vars.topic == \\\"By e-mail, "
    "please\\\"\", \"next\": \"address\"}], \"default\": \"answer\"},"
    "  \"address\": {\"kind\": \"ask\", \"text\": {\"en\": \"Your e-mail address?\"}, \"var\": "
    "\"email\", \"next\": \"mail_offer\"},"
    "  \"mail_offer\": {\"kind\": \"continue_in\", \"channel\": \"email\", \"instance\": \"mail\","
    "             \"to\": \"{{ vars.email }}\", \"text\": {\"en\": \"We mailed you a code.\"},"
    "             \"next\": \"topic\"},"
    "  \"answer\": {\"kind\": \"say\", \"text\": {\"en\": \"Noted, {{ vars.name }}: {{ vars.topic "
    "}}\"}, \"next\": \"topic\"}}}";

/* ---- Telegram (the fake Bot API) ------------------------------------------------------ */

static json_t *fake(const char *method, const char *path, const char *body)
{
    th_host x = {.port = TG.port};
    json_t *o = NULL;
    int st = th_http(&x, method, path, body, "", &o);
    if (st != 200) fail_msg("%s %s: %d", method, path, st);
    return o;
}

static void tg_say(long long chat, const char *text)
{
    json_t *b = json_pack("{s:I,s:s}", "chat_id", (json_int_t)chat, "text", text);
    char *s = json_dumps(b, 0);
    json_decref(fake("POST", "/_fake/text", s));
    free(s);
    json_decref(b);
}

/* The texts the bot sent to chat, once there are at least n. */
static json_t *tg_sent(long long chat, size_t n)
{
    char path[100];
    snprintf(path, sizeof(path), "/_fake/sent?chat_id=%lld", chat);
    long long deadline = th_now_ms() + 30000;
    for (;;) {
        json_t *o = fake("GET", path, NULL), *texts = json_array();
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(o, "sent"), i, s)
        {
            if (!strcmp(json_string_value(json_object_get(s, "method")), "sendMessage"))
                json_array_append(texts, th_get(s, "params.text"));
        }
        json_decref(o);
        if (json_array_size(texts) >= n) return texts;
        if (th_now_ms() > deadline)
            fail_msg("chat %lld: fewer than %zu messages after 30 s", chat, n);
        json_decref(texts);
        th_sleep_ms(50);
    }
}

static void tg_expect(long long chat, size_t n, size_t at, const char *want)
{
    json_t *sent = tg_sent(chat, n);
    assert_string_equal(json_string_value(json_array_get(sent, at)), want);
    json_decref(sent);
}

/* ---- the web chat ------------------------------------------------------------------------ */

static int chat(const char *method, const char *path, const char *body, const char *token,
                json_t **out)
{
    char auth[400];
    const char *hs[2] = {0};
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        hs[0] = auth;
    }
    char *rb = NULL, *rh = NULL;
    int st = th_http_raw(&H, method, path, body ? "application/json" : NULL, body,
                         body ? strlen(body) : 0, hs, &rh, &rb);
    if (out) *out = rb ? json_loads(rb, 0, NULL) : NULL;
    free(rh);
    free(rb);
    return st;
}

static void web_say(const char *tok, const char *text)
{
    char path[200], body[300];
    snprintf(path, sizeof(path), "/chat/%s/messages", WIDGET);
    snprintf(body, sizeof(body), "{\"text\": \"%s\"}", text);
    assert_int_equal(chat("POST", path, body, tok, NULL), 202);
}

/* The web chat's history once a message in it says `want`. */
static json_t *web_history(const char *tok, const char *want)
{
    char path[200];
    snprintf(path, sizeof(path), "/chat/%s/history", WIDGET);
    long long deadline = th_now_ms() + 30000;
    for (;;) {
        json_t *o = NULL;
        assert_int_equal(chat("GET", path, NULL, tok, &o), 200);
        json_t *msgs = json_incref(json_object_get(o, "messages"));
        json_decref(o);
        size_t i;
        json_t *m;
        json_array_foreach(msgs, i, m)
        {
            const char *text = json_string_value(json_object_get(m, "text"));
            if (text && !strcmp(text, want)) return msgs;
        }
        json_decref(msgs);
        if (th_now_ms() > deadline) fail_msg("the web chat never showed \"%s\"", want);
        th_sleep_ms(50);
    }
}

static json_t *web_conversation(const char *tok)
{
    char path[200];
    snprintf(path, sizeof(path), "/chat/%s/sessions", WIDGET);
    json_t *o = NULL;
    assert_int_equal(chat("POST", path, "{}", tok, &o), 200);
    snprintf(path, sizeof(path), "/api/v1/conversations/%s",
             json_string_value(json_object_get(o, "conversation_id")));
    json_decref(o);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    return o;
}

/* ---- mail (libcurl, straight to the servers) ------------------------------------------ */

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

/* The customer (from: a bare address) mails the agent's mailbox by SMTP. */
static void mail_from(const char *from, const char *mid, const char *subject,
                      const char *extra_headers, const char *text)
{
    char *msg = NULL;
    assert_true(asprintf(&msg,
                         "From: Customer <%s>\r\nTo: Support <%s>\r\nSubject: %s\r\n"
                         "Message-ID: <%s>\r\nDate: Mon, 07 Dec 2026 04:00:00 +0000\r\n%s"
                         "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                         "%s\r\n",
                         from, M.user, subject, mid, extra_headers, text) > 0);
    buf b = {.p = msg, .n = strlen(msg)};
    CURL *c = curl_easy_init();
    char url[100], rcpt[120];
    snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", M.smtp_port);
    snprintf(rcpt, sizeof(rcpt), "<%s>", M.user);
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

/* An IMAP request to the customer's mailbox: the body (malloc'd), or NULL. */
static char *imap(const char *path, const char *command)
{
    CURL *c = curl_easy_init();
    char url[400];
    snprintf(url, sizeof(url), "imap://127.0.0.1:%d/%s", M.imap_port, path);
    buf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_USERNAME, CUSTOMER);
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

/* The UIDs a search of the customer's INBOX finds, into v; how many. */
static size_t search(const char *criteria, long *v, size_t max)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "UID SEARCH %s", criteria);
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

/* The newest mail a search finds, whole (malloc'd), once it finds at least
 * n. */
static char *wait_mail(const char *criteria, size_t n)
{
    long uids[32];
    size_t found = 0;
    long long deadline = th_now_ms() + 60000;
    while ((found = search(criteria, uids, 32)) < n) {
        if (th_now_ms() > deadline)
            fail_msg("fewer than %zu mails match %s after 60 s", n, criteria);
        th_sleep_ms(50);
    }
    char path[100];
    snprintf(path, sizeof(path), "INBOX;UID=%ld", uids[found - 1]);
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

/* The Message-ID of a raw message, without its angle brackets. */
static void message_id(const char *raw, char *out, size_t n)
{
    const char *mid = header(raw, "Message-ID");
    assert_true(mid[0] == '<');
    snprintf(out, n, "%.*s", (int)strlen(mid) - 2, mid + 1);
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
    char *log = th_read(&H, "logs/messages.log");
    bool found = false;
    for (char *line = log; line && *line && !found;) {
        char *end = strchr(line, '\n');
        if (end) *end = 0;
        found = strstr(line, "\"failover_of\"") && strstr(line, want);
        line = end ? end + 1 : NULL;
    }
    free(log);
    return found;
}

static bool has_text(const json_t *msgs, const char *want)
{
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m)
    {
        const char *t = json_string_value(json_object_get(m, "text"));
        if (t && !strcmp(t, want)) return true;
    }
    return false;
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
    char user[80], pw[64];
    snprintf(user, sizeof(user), "%s\n", M.user);
    snprintf(pw, sizeof(pw), "%s\n", M.password);
    int rc = th_init(&H, "xchan-email") || th_install_plugin(&H, "jq") ||
             th_install_plugin(&H, "telegram") || th_install_plugin(&H, "email") ||
             th_config(&H, cfg) ||
             th_cli(&H, TOKEN "\n", NULL, 0, "secret", "set", "tg", "token", NULL) ||
             th_cli(&H, user, NULL, 0, "secret", "set", "mail", "user", NULL) ||
             th_cli(&H, pw, NULL, 0, "secret", "set", "mail", "password", NULL) ||
             th_start(&H, NULL, 15000) || !th_wait_state(&H, "tg", "ready", 15000) ||
             !th_wait_state(&H, "mail", "ready", 15000) ||
             !th_wait_file(&H, "logs/plugins/mail.log", "watching INBOX", 20000) ||
             th_make_agent(&H, "Support", SCENARIO,
                           "\"channels\": [{\"instance\": \"tg\"}, {\"instance\": \"mail\"}],"
                           " \"fallback_channels\": [\"email\"]",
                           AGENT, sizeof(AGENT));
    free(cfg);
    if (rc) return -1;
    char body[300];
    json_t *o = NULL;
    snprintf(body, sizeof(body), "{\"name\": \"Shop\", \"agent_id\": \"%s\"}", AGENT);
    if (th_http(&H, "POST", "/api/v1/widgets", body, NULL, &o) != 201) return -1;
    snprintf(WIDGET, sizeof(WIDGET), "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    return 0;
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
    char path[200];
    snprintf(path, sizeof(path), "/chat/%s/sessions", WIDGET);
    json_t *o = NULL;
    assert_int_equal(chat("POST", path, "{}", NULL, &o), 201);
    snprintf(TOK, sizeof(TOK), "%s", json_string_value(json_object_get(o, "token")));
    json_decref(o);
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
    tg_say(600001, start);
    tg_expect(600001, 1, 0, "What is your question, Anna?");
    tg_say(600001, "Where is my refund?");
    tg_expect(600001, 3, 1, "Noted, Anna: Where is my refund?");

    /* By e-mail: the code goes to the address given, in its subject. */
    tg_say(600001, "By e-mail, please");
    tg_expect(600001, 4, 3, "Your e-mail address?");
    tg_say(600001, CUSTOMER);
    tg_expect(600001, 6, 4, "We mailed you a code.");
    char *mail = wait_mail("SUBJECT \"Your code\"", 1);
    char subject[300], verify[300];
    snprintf(subject, sizeof(subject), "%s", header(mail, "Subject"));
    message_id(mail, verify, sizeof(verify));
    assert_non_null(strstr(header(mail, "To"), CUSTOMER));
    assert_non_null(strstr(header(mail, "From"), M.user));
    assert_non_null(strstr(verify, "@example.test"));
    free(mail);

    /* The customer replies to it: linked, the conversation goes on by mail
     * where it stood, in that thread. */
    reply_to(CUSTOMER, "x1@example.test", verify, subject, "Here I am.");
    mail = wait_mail("BODY \"What is your question, Anna?\"", 1);
    assert_non_null(strstr(header(mail, "Subject"), "Re: "));
    assert_non_null(strstr(header(mail, "References"), verify));
    char asked[300];
    message_id(mail, asked, sizeof(asked));
    free(mail);
    reply_to(CUSTOMER, "x2@example.test", asked, subject, "Is my parcel lost?");
    mail = wait_mail("BODY \"Noted, Anna: Is my parcel lost?\"", 1);
    assert_non_null(strstr(header(mail, "References"), asked)); /* in that thread */
    free(mail);

    /* One conversation, one history: the web chat shows all three. */
    h = web_history(TOK, "Noted, Anna: Is my parcel lost?");
    assert_true(has_text(h, "Anna"));                /* the web chat */
    assert_true(has_text(h, "Where is my refund?")); /* Telegram */
    assert_true(has_text(h, "Is my parcel lost?"));  /* e-mail */
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
    json_decref(fake("POST", "/_fake/block", "{\"chat_id\": 600001}"));
    tg_say(600001, "And my invoice?"); /* the contact writes in Telegram again */
    char *mail = wait_mail("BODY \"Noted, Anna: And my invoice?\"", 1);
    assert_non_null(strstr(header(mail, "To"), CUSTOMER));
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
    tg_say(600002, "/start");
    tg_expect(600002, 1, 0, "What is your name?");
    tg_say(600002, "Boris");
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

    json_decref(fake("POST", "/_fake/block", "{\"chat_id\": 600002}"));
    tg_say(600002, "Where is my parcel?");
    mail = wait_mail("BODY \"Noted, Boris: Where is my parcel?\"", 1);
    assert_non_null(strstr(header(mail, "To"), CUSTOMER_B));
    assert_string_equal(header(mail, "Subject"), "Your conversation with Acme Support");
    assert_string_equal(header(mail, "In-Reply-To"), ""); /* a new thread */
    char failed_over[300];
    message_id(mail, failed_over, sizeof(failed_over));
    free(mail);
    assert_true(failover_logged("\"failed_instance\":\"tg\""));

    reply_to(CUSTOMER_B, "b2@example.test", failed_over, "Your conversation with Acme Support",
             "It was due on Monday.");
    /* The Telegram conversation answers (a new one would ask the name). */
    mail = wait_mail("BODY \"Noted, Boris: It was due on Monday.\"", 1);
    assert_non_null(strstr(header(mail, "To"), CUSTOMER_B));
    assert_non_null(strstr(header(mail, "References"), failed_over));
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
