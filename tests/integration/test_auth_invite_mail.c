/*
 * Invitation and password reset mails through the real binary, with real
 * mail servers on loopback (tests/servers/mailserver.h: Postfix delivering
 * into Dovecot): with auth.mail_instance set, an invitation mails its link
 * in the user's language through the e-mail instance and the answer holds
 * no token; the mail, read back over IMAP, carries the token that sets the
 * password once; a reset likewise, one's own from a session too; a refused address answers sent:
 * false with the server's reason and the invitation still stands; a start with mail_instance but no
 * public_url is refused naming the field; no token reaches a log. (Unset, the token is answered:
 * test_auth_invites.)
 */
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

#define PW "a-Long-enough-pass-2026"
#define PW2 "b-Other-good-pass-2027"
#define CUSTOMER MC_CUSTOMER
#define PUBLIC "https://admin.example.test/"
#define TOKEN_LEN 95

static th_host H;
static mailserver M;
static char tokens[4][TOKEN_LEN + 1]; /* every token seen, for the log check */
static int ntokens;

/* ---- reading the mailboxes (tests/servers/mailclient.h) ------------------------------ */

/* The first mail after UID `after` in who's INBOX, parsed by the e-mail
 * plugin's own parse action (the text decoded). */
static json_t *wait_mail(const char *who, long after)
{
    long uid = 0;
    long long deadline = th_now_ms() + 30000;
    while ((uid = mc_newest_uid(&M, who)) <= after) {
        if (th_now_ms() > deadline) fail_msg("no mail for %s after 30 s", who);
        th_sleep_ms(50);
    }
    char *raw = mc_fetch(&M, who, after + 1);
    json_t *a = json_pack("{s:s}", "raw", raw), *parsed = NULL;
    char *args = json_dumps(a, 0);
    assert_int_equal(th_call(&H, "mail", "parse", args, &parsed), 200);
    free(args);
    json_decref(a);
    free(raw);
    json_t *r = json_incref(th_get(parsed, "result"));
    json_decref(parsed);
    return r;
}

/* The token of the link in a parsed mail's text, into tok. */
static void link_token(const json_t *mail, char *tok)
{
    const char *text = json_string_value(json_object_get(mail, "text"));
    assert_non_null(text);
    const char *l = strstr(text, PUBLIC "admin/set-password#token=");
    assert_non_null(l);
    l = strchr(l, '#') + 7;
    size_t n = strspn(l, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_.");
    assert_int_equal(n, TOKEN_LEN);
    snprintf(tok, TOKEN_LEN + 1, "%.*s", (int)n, l);
    if (ntokens < 4) snprintf(tokens[ntokens++], TOKEN_LEN + 1, "%s", tok);
}

/* ---- the API ------------------------------------------------------------------------------ */

static int set_password(const char *token, const char *pw)
{
    json_t *req = json_pack("{s:s,s:s}", "token", token, "password", pw);
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    int st = th_http_raw(&H, "POST", "/api/v1/auth/set-password", "application/json", text,
                         strlen(text), (const char *[]){NULL}, NULL, NULL);
    free(text);
    return st;
}

/* ---- setup ----------------------------------------------------------------------------- */

static char agent_id[64];

static int write_config(th_host *h, const char *auth)
{
    char *cfg = NULL;
    if (asprintf(&cfg,
                 "{%s \"instances\": ["
                 " {\"id\": \"mail\", \"plugin\": \"email\", \"config\": {"
                 "  \"smtp_url\": \"smtp://127.0.0.1:%d\", \"smtp_auth\": false,"
                 "  \"address\": \"%s\", \"from_name\": \"Acme admin\"},"
                 "  \"egress\": [{\"scheme\": \"smtp\", \"host\": \"127.0.0.1\", \"port\": %d,"
                 "   \"private\": true}]}]}",
                 auth, M.smtp_port, M.user, M.smtp_port) < 0)
        return -1;
    int rc = th_config(h, cfg);
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
    int rc = th_init(&H, "auth-invite-mail") || th_install_plugin(&H, "email") ||
             write_config(&H, "\"auth\": {\"mail_instance\": \"mail\"}, \"http\": "
                              "{\"public_url\": \"" PUBLIC "\"},") ||
             th_make_token(&H) ||
             th_make_user(&H, M.user, "editor", PW, agent_id, sizeof(agent_id));
    if (!rc) rc = th_start(&H, NULL, 15000) || !th_wait_state(&H, "mail", "ready", 15000);
    return rc ? -1 : 0;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    mailserver_stop(&M);
    return rc ? -1 : 0;
}

/* ---- the tests ---------------------------------------------------------------------------- */

static void test_an_invitation_mails_its_link_in_russian_and_the_token_works_once(void **s)
{
    (void)s;
    long before = mc_newest_uid(&M, CUSTOMER);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "POST", "/api/v1/invitations",
                             "{\"email\": \"" CUSTOMER "\", \"role\": \"analyst\", \"name\": "
                             "\"Иван\", \"language\": \"ru\"}",
                             NULL, &o),
                     201);
    if (!json_is_true(json_object_get(o, "sent")))
        fail_msg("not sent: %s", json_string_value(json_object_get(o, "reason")));
    assert_null(json_object_get(o, "token"));
    char id[64];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(o, "user_id")));
    json_decref(o);
    json_t *mail = wait_mail(CUSTOMER, before);
    assert_string_equal(json_string_value(json_object_get(mail, "subject")),
                        "Приглашение в agenthost");
    const char *text = json_string_value(json_object_get(mail, "text"));
    assert_non_null(strstr(text, "Здравствуйте, Иван!"));
    assert_non_null(strstr(text, "роль: analyst"));
    char tok[TOKEN_LEN + 1];
    link_token(mail, tok);
    assert_int_equal(strncmp(tok, id, strlen(id)), 0);
    json_decref(mail);
    assert_int_equal(th_login(&H, CUSTOMER, PW, NULL, NULL), 401);
    assert_int_equal(set_password(tok, PW), 204);
    assert_int_equal(th_login(&H, CUSTOMER, PW, NULL, NULL), 200);
    assert_int_equal(set_password(tok, PW2), 400); /* once */
    assert_int_equal(th_login(&H, CUSTOMER, PW2, NULL, NULL), 401);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/users/%s", id);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "active");
    assert_string_equal(json_string_value(json_object_get(o, "language")), "ru");
    json_decref(o);
}

static void test_a_reset_mails_its_link_in_english_and_the_token_works_once(void **s)
{
    (void)s;
    long before = mc_newest_uid(&M, M.user);
    json_t *o = NULL;
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/users/%s/password-reset", agent_id);
    assert_int_equal(th_http(&H, "POST", path, NULL, NULL, &o), 201);
    if (!json_is_true(json_object_get(o, "sent")))
        fail_msg("not sent: %s", json_string_value(json_object_get(o, "reason")));
    assert_null(json_object_get(o, "token"));
    json_decref(o);
    json_t *mail = wait_mail(M.user, before);
    assert_string_equal(json_string_value(json_object_get(mail, "subject")),
                        "Reset your agenthost password");
    assert_non_null(strstr(json_string_value(json_object_get(mail, "text")), "Hello,"));
    char tok[TOKEN_LEN + 1];
    link_token(mail, tok);
    json_decref(mail);
    assert_int_equal(th_login(&H, M.user, PW, NULL, NULL),
                     200); /* asked for, not used: the password stands */
    assert_int_equal(set_password(tok, PW2), 204);
    assert_int_equal(th_login(&H, M.user, PW, NULL, NULL), 401);
    assert_int_equal(th_login(&H, M.user, PW2, NULL, NULL), 200);
    assert_int_equal(set_password(tok, PW), 400);
    assert_int_equal(th_login(&H, M.user, PW, NULL, NULL), 401);
}

static void test_my_own_reset_is_mailed_not_answered(void **s)
{
    (void)s;
    char req[256], *rh = NULL, *rb = NULL;
    snprintf(req, sizeof(req), "{\"email\": \"%s\", \"password\": \"" PW2 "\"}", M.user);
    assert_int_equal(th_http_raw(&H, "POST", "/api/v1/auth/login", "application/json", req,
                                 strlen(req), (const char *[]){NULL}, &rh, &rb),
                     200);
    char cookie[200], csrf[120];
    const char *v = strstr(rh, "ah_session=");
    assert_non_null(v);
    snprintf(cookie, sizeof(cookie), "Cookie: %.*s", (int)strcspn(v, ";\r\n"), v);
    json_t *o = json_loads(rb, 0, NULL);
    snprintf(csrf, sizeof(csrf), "X-CSRF-Token: %s",
             json_string_value(json_object_get(o, "csrf_token")));
    json_decref(o);
    free(rh);
    free(rb);
    rb = NULL;
    long before = mc_newest_uid(&M, M.user);
    assert_int_equal(th_http_raw(&H, "POST", "/api/v1/auth/password-reset", NULL, NULL, 0,
                                 (const char *[]){cookie, csrf, NULL}, NULL, &rb),
                     201);
    o = json_loads(rb, 0, NULL);
    free(rb);
    assert_true(json_is_true(json_object_get(o, "sent")));
    assert_null(json_object_get(o, "token"));
    json_decref(o);
    json_t *mail = wait_mail(M.user, before);
    char tok[TOKEN_LEN + 1];
    link_token(mail, tok);
    json_decref(mail);
    assert_int_equal(set_password(tok, PW), 204);
    assert_int_equal(th_login(&H, M.user, PW, NULL, NULL), 200);
}

static void test_a_refused_address_answers_sent_false_with_the_reason(void **s)
{
    (void)s;
    json_t *o = NULL;
    /* Postfix refuses this recipient at RCPT TO (554 5.7.1). */
    assert_int_equal(th_http(&H, "POST", "/api/v1/invitations",
                             "{\"email\": \"refused@example.test\", \"role\": \"viewer\"}", NULL,
                             &o),
                     201);
    assert_true(json_is_false(json_object_get(o, "sent")));
    assert_null(json_object_get(o, "token"));
    const char *why = json_string_value(json_object_get(o, "reason"));
    assert_non_null(why);
    assert_non_null(strstr(why, "rejected"));
    assert_non_null(strstr(why, "554"));
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/users/%s",
             json_string_value(json_object_get(o, "user_id")));
    json_decref(o);
    /* The invitation stands; it is logged without its token. */
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "invited");
    json_decref(o);
    assert_true(th_wait_file(&H, "logs/host.log", "invitation mail to user", 5000));
    /* A reset of that user is the invitation again (also refused here). */
    snprintf(path + strlen(path), sizeof(path) - strlen(path), "/password-reset");
    assert_int_equal(th_http(&H, "POST", path, NULL, NULL, &o), 201);
    assert_true(json_is_false(json_object_get(o, "sent")));
    json_decref(o);
}

static void test_no_token_reaches_a_log(void **s)
{
    (void)s;
    assert_true(ntokens >= 2);
    for (int i = 0; i < ntokens; i++) {
        assert_false(th_logs_contain(&H, tokens[i] + 31)); /* the secret half */
        assert_false(th_logs_contain(&H, tokens[i]));
    }
}

static void test_mail_instance_without_public_url_is_refused_naming_the_field(void **s)
{
    (void)s;
    th_host E;
    assert_int_equal(th_init(&E, "auth-invite-mail-conf"), 0);
    assert_int_equal(write_config(&E, "\"auth\": {\"mail_instance\": \"mail\"},"), 0);
    assert_int_equal(th_install_plugin(&E, "email"), 0);
    assert_true(th_spawn_serve(&E, NULL) > 0);
    assert_int_equal(th_wait_exit(&E, 15000), 1);
    assert_true(
        th_file_contains(&E, "stderr.txt", "http.public_url: required with auth.mail_instance"));
    th_cleanup(&E);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_invitation_mails_its_link_in_russian_and_the_token_works_once),
        cmocka_unit_test(test_a_reset_mails_its_link_in_english_and_the_token_works_once),
        cmocka_unit_test(test_my_own_reset_is_mailed_not_answered),
        cmocka_unit_test(test_a_refused_address_answers_sent_false_with_the_reason),
        cmocka_unit_test(test_no_token_reaches_a_log),
        cmocka_unit_test(test_mail_instance_without_public_url_is_refused_naming_the_field),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
