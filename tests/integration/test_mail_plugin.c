/*
 * Mail through the broker from a plugin in the real sandbox (ADR 0034):
 * the real agenthost runs the mailprobe fixture, whose SDK http calls
 * send a message by SMTP to Postfix and read it back by UID over IMAP
 * from Dovecot (tests/servers/mailserver.h, real servers on loopback);
 * the mailbox password, a secret of the instance, reaches no log file.
 */
#include "../servers/mailserver.h"
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static th_host H;
static mailserver M;

static int setup(void **state)
{
    (void)state;
    if (mailserver_start(&M, TH_SOURCE_DIR) < 0) {
        fprintf(stderr, "mail servers: %s\n", M.why);
        return -1;
    }
    if (th_init(&H, "mail-plugin") ||
        th_install_dir(&H, TH_BUILD_DIR "/tests/plugins/mailprobe", "mailprobe"))
        return -1;
    char cfg[1200];
    snprintf(
        cfg, sizeof(cfg),
        "{\"instances\":[{\"id\":\"mail\",\"plugin\":\"mailprobe\",\"config\":{"
        "\"smtp_url\":\"smtp://127.0.0.1:%d\",\"imap_url\":\"imap://127.0.0.1:%d\"},"
        "\"egress\":[{\"scheme\":\"smtp\",\"host\":\"127.0.0.1\",\"port\":%d,\"private\":true},"
        "{\"scheme\":\"imap\",\"host\":\"127.0.0.1\",\"port\":%d,\"private\":true}]}]}",
        M.smtp_port, M.imap_port, M.smtp_port, M.imap_port);
    char pw[64];
    snprintf(pw, sizeof(pw), "%s\n", M.password);
    char user[80];
    snprintf(user, sizeof(user), "%s\n", M.user);
    if (th_config(&H, cfg) ||
        th_cli(&H, user, NULL, 0, "secret", "set", "mail", "imap_user", NULL) != 0 ||
        th_cli(&H, pw, NULL, 0, "secret", "set", "mail", "imap_password", NULL) != 0 ||
        th_start(&H, NULL, 10000) != 0 || !th_wait_state(&H, "mail", "ready", 10000))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    mailserver_stop(&M);
    return rc == 0 ? 0 : -1;
}

/* The action's answer for a request given as JSON text. */
static json_t *mail(const char *args)
{
    json_t *o = NULL;
    assert_int_equal(th_call(&H, "mail", "mail", args, &o), 200);
    return o;
}

static void test_plugin_sends_by_smtp_and_reads_back_by_uid_over_imap(void **state)
{
    (void)state;
    char args[1400];
    snprintf(args, sizeof(args),
             "{\"method\":\"SEND\",\"url\":\"smtp://127.0.0.1:%d\",\"headers\":["
             "\"Mail-From: <customer@example.org>\",\"Rcpt-To: <%s>\"],\"body\":"
             "\"From: customer@example.org\\r\\nTo: %s\\r\\nSubject: from-the-sandbox\\r\\n"
             "Message-ID: <sandbox-1@example.org>\\r\\n\\r\\nSent by a plugin.\\r\\n\"}",
             M.smtp_port, M.user, M.user);
    json_t *o = mail(args);
    assert_null(th_get(o, "result.error_code"));
    assert_int_equal(json_integer_value(th_get(o, "result.status")), 250);
    json_decref(o);

    long uid = 0;
    snprintf(args, sizeof(args),
             "{\"method\":\"UID SEARCH HEADER Message-ID <sandbox-1@example.org>\","
             "\"url\":\"imap://127.0.0.1:%d/INBOX\",\"login\":true}",
             M.imap_port);
    for (int i = 0; i < 300 && !uid; i++) { /* Postfix delivers asynchronously */
        o = mail(args);
        assert_null(th_get(o, "result.error_code"));
        const char *b = strstr(json_string_value(th_get(o, "result.body")), "* SEARCH");
        if (b) uid = strtol(b + 8, NULL, 10);
        json_decref(o);
        if (!uid) usleep(50 * 1000);
    }
    assert_true(uid > 0);
    snprintf(args, sizeof(args),
             "{\"method\":\"GET\",\"url\":\"imap://127.0.0.1:%d/INBOX;UID=%ld\",\"login\":true}",
             M.imap_port, uid);
    o = mail(args);
    assert_null(th_get(o, "result.error_code"));
    const char *m = json_string_value(th_get(o, "result.body"));
    assert_non_null(strstr(m, "Subject: from-the-sandbox\r\n"));
    assert_non_null(strstr(m, "\r\n\r\nSent by a plugin.\r\n"));
    json_decref(o);
}

static void test_plugin_request_to_an_unlisted_mail_host_is_refused(void **state)
{
    (void)state;
    json_t *o = mail("{\"method\":\"UID SEARCH ALL\",\"url\":\"imap://imap.example.net/INBOX\","
                     "\"login\":true}");
    assert_string_equal(json_string_value(th_get(o, "result.error_code")), "refused");
    json_decref(o);
    assert_true(th_wait_file(&H, "logs/security.log", "imap.example.net", 3000));
}

static void test_mailbox_password_reaches_no_log_file(void **state)
{
    (void)state;
    assert_true(th_wait_file(&H, "logs/integration.log", "UID SEARCH", 3000));
    assert_false(th_logs_contain(&H, M.password));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_sends_by_smtp_and_reads_back_by_uid_over_imap),
        cmocka_unit_test(test_plugin_request_to_an_unlisted_mail_host_is_refused),
        cmocka_unit_test(test_mailbox_password_reaches_no_log_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
