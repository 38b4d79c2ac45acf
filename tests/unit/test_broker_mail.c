/* The broker speaks mail (host/broker/mail.h, docs/adr/0034): smtp and
 * imap requests against real servers on loopback (Debian's Postfix
 * delivering into Dovecot over LMTP, tests/servers/mailserver.h): a
 * message sent by SMTP is read back over IMAP by UID, UIDVALIDITY is read,
 * flags are set and messages moved; the allowlist, timeouts and the
 * circuit breaker apply as for HTTP, and credentials reach no log. */
#include "cmocka_pre.h"

#include "../servers/mailserver.h"
#include "broker/broker.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "sdk/ipc/b64.h"

#include <agenthost/plugin.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct {
    mailserver ms;
    ah_loop *loop;
    broker *b;
    egress_policy pol;
    egress_client client;
    bool deadline;
    char auth[200]; /* "Authorization: Basic ..." */
    char logs[1 << 16];
    size_t logs_len;
} W;

typedef struct rec {
    int answers, dropped;
    json_t *answer;
} rec;

static void rec_answer(void *ud, json_t *a)
{
    rec *r = ud;
    r->answers++;
    r->answer = a;
}
static void rec_partial(void *ud, json_t *c)
{
    (void)ud;
    json_decref(c);
}
static bool rec_live(void *ud)
{
    (void)ud;
    return true;
}
static void rec_dropped(void *ud)
{
    ((rec *)ud)->dropped++;
}
static const egress_sink sink = {
    .answer = rec_answer, .partial = rec_partial, .live = rec_live, .dropped = rec_dropped};

/* Every log line, after redaction, as the logger would write it. */
static void tap(void *ud, const char *kind, log_level level, const char *line)
{
    (void)ud;
    (void)level;
    int n = snprintf(W.logs + W.logs_len, sizeof(W.logs) - W.logs_len, "%s %s\n", kind, line);
    if (n > 0 && W.logs_len + (size_t)n < sizeof(W.logs)) W.logs_len += (size_t)n;
}

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    W.deadline = true;
}

/* Make a request for client c and run the loop to its answer (owned by the caller). */
static json_t *ask_as(egress_client *c, json_t *req)
{
    rec r = {0};
    broker_request(W.b, c, req, "req-mail", &sink, &r);
    json_decref(req);
    uv_timer_t t;
    uv_timer_init(loop_uv(W.loop), &t);
    W.deadline = false;
    uv_timer_start(&t, on_deadline, 30000, 0);
    while (!r.answers && !r.dropped && !W.deadline)
        uv_run(loop_uv(W.loop), UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop_uv(W.loop), UV_RUN_NOWAIT);
    if (!r.answers) fail_msg("no answer within 30 s");
    return r.answer;
}

static json_t *ask(json_t *req)
{
    return ask_as(&W.client, req);
}

static const char *err_code(const json_t *a)
{
    return json_string_value(json_object_get(json_object_get(a, "error"), "code"));
}

static const char *body_of(const json_t *a)
{
    const char *s = json_string_value(json_object_get(a, "body"));
    return s ? s : "";
}

static json_t *imap(const char *mailbox, const char *method)
{
    char url[200];
    snprintf(url, sizeof(url), "imap://127.0.0.1:%d/%s", W.ms.imap_port, mailbox);
    return json_pack("{s:s,s:s,s:s,s:[s],s:i}", "kind", "imap", "method", method, "url", url,
                     "headers", W.auth, "flags", AH_HTTP_IDEMPOTENT);
}

static json_t *smtp_send(const char *subject, const char *text)
{
    char url[100], msg[1024];
    snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", W.ms.smtp_port);
    snprintf(msg, sizeof(msg),
             "From: Customer <customer@example.org>\r\nTo: %s\r\nSubject: %s\r\n"
             "Message-ID: <%s@example.org>\r\nMIME-Version: 1.0\r\n"
             "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n.leading dot\r\n",
             W.ms.user, subject, subject, text);
    char rcpt[100];
    snprintf(rcpt, sizeof(rcpt), "Rcpt-To: <%s>", W.ms.user);
    return json_pack("{s:s,s:s,s:s,s:[s,s],s:s}", "kind", "smtp", "method", "SEND", "url", url,
                     "headers", "Mail-From: <customer@example.org>", rcpt, "body", msg);
}

/* UIDs a "UID SEARCH" answer lists, into v; how many. */
static size_t search_uids(const json_t *a, long *v, size_t max)
{
    const char *s = strstr(body_of(a), "* SEARCH");
    size_t n = 0;
    if (!s) return 0;
    s += 8;
    char *end;
    for (long u; n < max && (u = strtol(s, &end, 10)) > 0 && end != s; s = end)
        v[n++] = u;
    return n;
}

/* The UID of the message whose Subject is `subject`, waiting for Postfix
 * to hand it to Dovecot (delivery is asynchronous): 0 if it never comes. */
static long uid_of_subject(const char *subject)
{
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "UID SEARCH HEADER Subject \"%s\"", subject);
    for (int i = 0; i < 300; i++) {
        json_t *a = ask(imap("INBOX", cmd));
        assert_null(err_code(a));
        long uids[4];
        size_t n = search_uids(a, uids, 4);
        json_decref(a);
        if (n) return uids[0];
        usleep(50 * 1000);
    }
    return 0;
}

static int group_setup(void **s)
{
    (void)s;
    log_opts lo = {.to_stderr = false, .min_level = LOG_DEBUG};
    log_init(&lo);
    log_set_tap(tap, NULL);
    if (mailserver_start(&W.ms, TH_SOURCE_DIR) < 0) {
        fprintf(stderr, "mail servers: %s\n", W.ms.why);
        return -1;
    }
    char up[200];
    snprintf(up, sizeof(up), "%s:%s", W.ms.user, W.ms.password);
    char *b64 = ah_b64_encode(up, strlen(up));
    snprintf(W.auth, sizeof(W.auth), "Authorization: Basic %s", b64);
    free(b64);
    char text[600], err[300];
    snprintf(text, sizeof(text),
             "[{\"scheme\":\"imap\",\"host\":\"127.0.0.1\",\"port\":%d,\"private\":true},"
             "{\"scheme\":\"smtp\",\"host\":\"127.0.0.1\",\"port\":%d,\"private\":true},"
             "{\"scheme\":\"smtp\",\"host\":\"127.0.0.1\",\"port\":%d,\"private\":true}]",
             W.ms.imap_port, W.ms.smtp_port, W.ms.submission_port);
    json_t *allow = json_loads(text, 0, NULL);
    int rc = policy_compile(&W.pol, allow, "/nowhere", NULL, NULL, err, sizeof(err));
    json_decref(allow);
    broker_opts o = {.breaker_failures = 2, .max_retries = 1, .retry_base_ms = 10};
    if (rc < 0 || loop_new(&W.loop) < 0 || broker_new(&W.b, W.loop, &o, err, sizeof(err)) < 0) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    W.client = (egress_client){.id = "mail-1", .name = "email", .pol = &W.pol};
    return 0;
}

static int group_teardown(void **s)
{
    (void)s;
    broker_free(W.b);
    if (W.loop) loop_free(W.loop);
    policy_free(&W.pol);
    mailserver_stop(&W.ms);
    log_set_tap(NULL, NULL);
    return 0;
}

static void test_message_sent_by_smtp_is_read_back_over_imap_by_uid(void **s)
{
    (void)s;
    json_t *a = ask(smtp_send("first-question", "Where is my order? Привет"));
    assert_null(err_code(a));
    assert_int_equal(json_integer_value(json_object_get(a, "status")), 250);
    json_decref(a);
    long uid = uid_of_subject("first-question");
    assert_true(uid > 0);
    char mb[64];
    snprintf(mb, sizeof(mb), "INBOX;UID=%ld", uid);
    a = ask(imap(mb, "GET"));
    assert_null(err_code(a));
    const char *m = body_of(a);
    assert_non_null(strstr(m, "Subject: first-question\r\n"));
    assert_non_null(strstr(m, "Message-ID: <first-question@example.org>"));
    assert_non_null(strstr(m, "Where is my order? Привет\r\n"));
    assert_non_null(strstr(m, "\r\n.leading dot\r\n"));             /* dot-stuffed and unstuffed */
    assert_non_null(strstr(m, "Delivered-To: agent@example.test")); /* through LMTP */
    json_decref(a);
}

/* The number after "UIDVALIDITY " in the answer to an IMAP command: EXAMINE
 * ("* OK [UIDVALIDITY n]"), or STATUS, which reads it without touching the
 * selected mailbox ("* STATUS INBOX (UIDVALIDITY n UIDNEXT m)"). */
/* What a plugin reads a message with: FETCH items without literals
 * (FLAGS, BODYSTRUCTURE) as a command; contents (the whole message, a
 * section, a part) by URL, since curl passes a command's untagged lines
 * but not the literals inside them. A fetch by URL is curl's BODY[], not
 * BODY.PEEK[]: it marks the message \Seen. */
static void test_sections_fetch_by_url_and_mark_the_message_seen(void **s)
{
    (void)s;
    json_t *a = ask(smtp_send("sectioned", "the text part"));
    assert_null(err_code(a));
    json_decref(a);
    long uid = uid_of_subject("sectioned");
    assert_true(uid > 0);
    char cmd[100], mb[100];
    snprintf(cmd, sizeof(cmd), "UID FETCH %ld (FLAGS BODYSTRUCTURE)", uid);
    a = ask(imap("INBOX", cmd));
    assert_non_null(
        strstr(body_of(a), "BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"utf-8\")"));
    assert_null(strstr(body_of(a), "\\Seen"));
    json_decref(a);
    snprintf(mb, sizeof(mb), "INBOX;UID=%ld;SECTION=TEXT", uid);
    a = ask(imap(mb, "GET"));
    assert_null(err_code(a));
    assert_string_equal(body_of(a), "the text part\r\n.leading dot\r\n");
    json_decref(a);
    snprintf(cmd, sizeof(cmd), "UID FETCH %ld (FLAGS)", uid);
    a = ask(imap("INBOX", cmd));
    assert_non_null(strstr(body_of(a), "\\Seen"));
    json_decref(a);
}

/* A submission server takes mail only from a logged-in sender: the
 * broker logs in with the request's Authorization (SMTP AUTH). */
static void test_submission_needs_the_login_and_takes_mail_with_it(void **s)
{
    (void)s;
    char url[100];
    snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", W.ms.submission_port);
    json_t *req = smtp_send("submitted", "sent after AUTH");
    json_object_set_new(req, "url", json_string(url));
    json_t *a = ask(json_deep_copy(req));
    assert_string_equal(err_code(a), "rejected"); /* RCPT refused: no relaying for strangers */
    json_decref(a);
    json_array_append_new(json_object_get(req, "headers"), json_string(W.auth));
    a = ask(req);
    assert_null(err_code(a));
    assert_int_equal(json_integer_value(json_object_get(a, "status")), 250);
    json_decref(a);
    assert_true(uid_of_subject("submitted") > 0);
}

static long uidvalidity_by(const char *command)
{
    json_t *a = ask(imap("", command));
    assert_null(err_code(a));
    const char *v = strstr(body_of(a), "UIDVALIDITY ");
    long n = v ? strtol(v + 12, NULL, 10) : 0;
    json_decref(a);
    return n;
}

/* Runs before the flags test: an EXAMINE (read-only) must not leave a
 * connection that later requests take for INBOX selected read-write. */
static void test_uidvalidity_is_read_with_examine_or_status_and_stays_the_same(void **s)
{
    (void)s;
    /* The requests so far are counted by kind of outcome: SMTP by its
     * reply class, IMAP (no status) as ok. */
    size_t len;
    char *m = metrics_render(&len);
    assert_non_null(strstr(m, "agenthost_egress_requests_total{instance=\"mail-1\","
                              "host=\"127.0.0.1\",outcome=\"2xx\"}"));
    assert_non_null(strstr(m, "agenthost_egress_requests_total{instance=\"mail-1\","
                              "host=\"127.0.0.1\",outcome=\"ok\"}"));
    free(m);
    long v = uidvalidity_by("EXAMINE INBOX");
    assert_true(v > 0);
    assert_int_equal(uidvalidity_by("STATUS INBOX (UIDVALIDITY UIDNEXT)"), v);
    assert_int_equal(uidvalidity_by("EXAMINE INBOX"), v);
}

static void test_marked_seen_leaves_the_unseen_search_and_moves_to_a_folder(void **s)
{
    (void)s;
    json_t *a = ask(smtp_send("to-be-seen", "mark me"));
    assert_null(err_code(a));
    json_decref(a);
    long uid = uid_of_subject("to-be-seen"), uids[64];
    assert_true(uid > 0);
    a = ask(imap("INBOX", "UID SEARCH UNSEEN"));
    size_t n = search_uids(a, uids, 64);
    json_decref(a);
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= uids[i] == uid;
    assert_true(found);

    char cmd[100];
    snprintf(cmd, sizeof(cmd), "UID STORE %ld +FLAGS (\\Seen)", uid);
    a = ask(imap("INBOX", cmd));
    assert_null(err_code(a));
    json_decref(a);
    a = ask(imap("INBOX", "UID SEARCH UNSEEN"));
    n = search_uids(a, uids, 64);
    json_decref(a);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(uids[i], uid);

    snprintf(cmd, sizeof(cmd), "UID MOVE %ld Archive", uid);
    a = ask(imap("INBOX", cmd));
    assert_null(err_code(a));
    json_decref(a);
    a = ask(imap("Archive", "UID SEARCH HEADER Subject \"to-be-seen\" SEEN"));
    assert_int_equal(search_uids(a, uids, 64), 1);
    json_decref(a);
}

static void test_mail_host_outside_the_allowlist_is_refused(void **s)
{
    (void)s;
    /* The IMAP server's own address, but on the SMTP port under imap://,
     * and an SMTP host the manifest does not name. */
    char url[100];
    snprintf(url, sizeof(url), "imap://127.0.0.1:%d/INBOX", W.ms.smtp_port);
    json_t *a = ask(
        json_pack("{s:s,s:s,s:[s]}", "method", "UID SEARCH ALL", "url", url, "headers", W.auth));
    assert_string_equal(err_code(a), "refused");
    assert_non_null(strstr(
        json_string_value(json_object_get(json_object_get(a, "error"), "message")), "allowlist"));
    json_decref(a);
    json_t *req = smtp_send("never-sent", "x");
    json_object_set_new(req, "url", json_string("smtp://mail.example.net:25"));
    a = ask(req);
    assert_string_equal(err_code(a), "refused");
    json_decref(a);
    assert_non_null(strstr(W.logs, "mail.example.net"));
}

static void test_invalid_mail_requests_are_refused_before_any_transfer(void **s)
{
    (void)s;
    static const char *const commands[] = {"UID SEARCH ALL\r\nA999 LOGOUT", "LOGIN a b",
                                           "SELECT INBOX", "IDLE", "UID"};
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        json_t *a = ask(imap("INBOX", commands[i]));
        assert_string_equal(err_code(a), "invalid");
        json_decref(a);
    }
    char url[200];
    snprintf(url, sizeof(url), "imap://%s:%s@127.0.0.1:%d/INBOX", "agent%40example.test",
             W.ms.password, W.ms.imap_port);
    json_t *a = ask(json_pack("{s:s,s:s}", "method", "UID SEARCH ALL", "url", url));
    assert_string_equal(err_code(a), "invalid");
    json_decref(a);
    json_t *req = smtp_send("no-rcpt", "x");
    json_object_set_new(req, "headers", json_pack("[s]", "Mail-From: <a@example.org>"));
    a = ask(req);
    assert_string_equal(err_code(a), "invalid");
    json_decref(a);
    req = smtp_send("wrong-kind", "x");
    json_object_set_new(req, "kind", json_string("imap"));
    a = ask(req);
    assert_string_equal(err_code(a), "invalid");
    json_decref(a);
}

static void test_wrong_password_is_rejected_by_the_server(void **s)
{
    (void)s;
    json_t *req = imap("INBOX", "UID SEARCH ALL");
    char *b64 = ah_b64_encode("agent@example.test:not-the-password", 35);
    char h[200];
    snprintf(h, sizeof(h), "Authorization: Basic %s", b64);
    free(b64);
    json_object_set_new(req, "headers", json_pack("[s]", h));
    json_t *a = ask(req);
    assert_string_equal(err_code(a), "rejected");
    json_decref(a);
}

/* A server's refusals say nothing about its health: however many, the
 * breaker (open after 2 failures here) stays closed. */
static void test_refusals_are_rejected_and_leave_the_breaker_closed(void **s)
{
    (void)s;
    for (int i = 0; i < 3; i++) {
        json_t *req = smtp_send("refused-rcpt", "x");
        json_object_set_new(req, "headers",
                            json_pack("[s,s]", "Mail-From: <customer@example.org>",
                                      "Rcpt-To: <refused@example.test>"));
        json_t *a = ask(req);
        assert_string_equal(err_code(a), "rejected");
        assert_int_equal(json_integer_value(json_object_get(a, "status")), 554);
        assert_int_equal(json_integer_value(json_object_get(a, "retries")), 0);
        json_decref(a);
    }
    json_t *a = ask(smtp_send("after-refusals", "still open for business"));
    assert_null(err_code(a));
    json_decref(a);
    for (int i = 0; i < 3; i++) {
        a = ask(imap("NoSuchFolder", "UID SEARCH ALL"));
        assert_string_equal(err_code(a), "rejected");
        json_decref(a);
    }
    a = ask(imap("INBOX", "UID SEARCH ALL"));
    assert_null(err_code(a));
    json_decref(a);
}

/* A server that accepts connections (the kernel's backlog) and never
 * greets: the broker's deadline ends each attempt, and after
 * breaker_failures of them the destination's breaker answers at once. */
static void test_silent_mail_server_times_out_and_opens_the_breaker(void **s)
{
    (void)s;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 16), 0);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    int port = ntohs(sa.sin_port);
    char text[200], err[300], url[100];
    snprintf(text, sizeof(text),
             "[{\"scheme\":\"imap\",\"host\":\"127.0.0.1\",\"port\":%d,\"private\":true}]", port);
    egress_policy pol;
    json_t *allow = json_loads(text, 0, NULL);
    assert_int_equal(policy_compile(&pol, allow, "/nowhere", NULL, NULL, err, sizeof(err)), 0);
    json_decref(allow);
    egress_client c = {.id = "mail-dead", .name = "email", .pol = &pol};
    snprintf(url, sizeof(url), "imap://127.0.0.1:%d/INBOX", port);
    for (int i = 0; i < 2; i++) {
        json_t *a = ask_as(&c, json_pack("{s:s,s:s,s:[s],s:i}", "method", "UID SEARCH ALL", "url",
                                         url, "headers", W.auth, "timeout_ms", 300));
        assert_string_equal(err_code(a), "timeout");
        json_decref(a);
    }
    json_t *a = ask_as(&c, json_pack("{s:s,s:s,s:[s],s:i}", "method", "UID SEARCH ALL", "url", url,
                                     "headers", W.auth, "timeout_ms", 300));
    assert_string_equal(err_code(a), "circuit_open");
    json_decref(a);
    close(fd);
    policy_free(&pol);
}

/* Last: everything above logged its requests, a refused login included. */
static void test_credentials_reach_no_log(void **s)
{
    (void)s;
    assert_true(W.logs_len > 0);
    assert_non_null(strstr(W.logs, "egress")); /* the requests were logged */
    assert_null(strstr(W.logs, W.ms.password));
    assert_null(strstr(W.logs, W.auth + strlen("Authorization: Basic ")));
    assert_null(strstr(W.logs, "not-the-password"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_sent_by_smtp_is_read_back_over_imap_by_uid),
        cmocka_unit_test(test_submission_needs_the_login_and_takes_mail_with_it),
        cmocka_unit_test(test_sections_fetch_by_url_and_mark_the_message_seen),
        cmocka_unit_test(test_uidvalidity_is_read_with_examine_or_status_and_stays_the_same),
        cmocka_unit_test(test_marked_seen_leaves_the_unseen_search_and_moves_to_a_folder),
        cmocka_unit_test(test_mail_host_outside_the_allowlist_is_refused),
        cmocka_unit_test(test_invalid_mail_requests_are_refused_before_any_transfer),
        cmocka_unit_test(test_wrong_password_is_rejected_by_the_server),
        cmocka_unit_test(test_refusals_are_rejected_and_leave_the_breaker_closed),
        cmocka_unit_test(test_silent_mail_server_times_out_and_opens_the_breaker),
        cmocka_unit_test(test_credentials_reach_no_log),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
