/*
 * The e-mail plugin's core (plugins/email/mail.h) on real-world-shaped
 * messages (tests/fixtures/email): charsets, alternatives and nested
 * multiparts, attachments as metadata and fetched on demand, quoted replies
 * and signatures trimmed, threading keys, auto-replies, bounces and the
 * agent's own mail, broken MIME, and composition round-tripped through the
 * parser.
 */
#include "../../plugins/email/mail.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX TH_SOURCE_DIR "/tests/fixtures/email/"

static const char *const own[] = {"support@example.com", NULL};
static const em_parse_opts opts = {.own = own, .own_n = 1};

static char *load(const char *name, size_t *n)
{
    gchar *data = NULL;
    gsize len = 0;
    char path[512];
    snprintf(path, sizeof(path), FIX "%s", name);
    assert_true(g_file_get_contents(path, &data, &len, NULL));
    *n = len;
    return data;
}

static json_t *parse_fixture(const char *name)
{
    size_t n;
    char *raw = load(name, &n);
    char err[256] = "";
    json_t *j = em_parse(raw, n, &opts, err, sizeof(err));
    if (!j) fail_msg("%s: %s", name, err);
    g_free(raw);
    return j;
}

static const char *s(const json_t *j, const char *path)
{
    /* "a.b.c" through objects, "a.0.b" through arrays */
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    const json_t *v = j;
    for (char *k = strtok(buf, "."); k && v; k = strtok(NULL, "."))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(k)) : json_object_get(v, k);
    return json_string_value(v);
}

static bool has_problem(const json_t *j, const char *code)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(j, "problems"), i,
                       p) if (!strcmp(s(p, "code"), code)) return true;
    return false;
}

/* ---- charsets ---- */

static void test_koi8r_body_and_encoded_words_become_utf8_and_the_reply_is_trimmed(void **state)
{
    (void)state;
    json_t *j = parse_fixture("koi8r_reply.eml");
    assert_string_equal(s(j, "subject"), "Re: Где мой заказ?");
    assert_string_equal(s(j, "from.0.name"), "Иван Петров");
    assert_string_equal(s(j, "charset"), "koi8-r");
    assert_string_equal(s(j, "new_text"),
                        "Добрый день!\n\nЗаказ N 4512 так и не пришёл. Подскажите, где он сейчас?");
    assert_non_null(strstr(s(j, "text"), "пишет:"));
    assert_string_equal(s(j, "trimmed"), "quote+signature");
    assert_int_equal(json_array_size(json_object_get(j, "problems")), 0);
    json_decref(j);
}

static void
test_windows1251_outlook_mail_keeps_its_attachment_name_and_loses_the_quoted_block(void **state)
{
    (void)state;
    json_t *j = parse_fixture("cp1251_outlook.eml");
    assert_string_equal(s(j, "subject"), "RE: Ваш запрос");
    assert_string_equal(s(j, "from.0.name"), "Ольга Смирнова");
    assert_true(json_is_true(json_object_get(j, "has_html")));
    assert_string_equal(s(j, "text_from"), "plain");
    assert_string_equal(s(j, "new_text"),
                        "Здравствуйте,\n\nпришлите, пожалуйста, счёт на оплату во "
                        "вложении — реквизиты внутри.\n\nС уважением,\nОльга");
    json_t *a = json_array_get(json_object_get(j, "attachments"), 0);
    assert_string_equal(s(a, "filename"), "Реквизиты.docx");
    assert_string_equal(s(a, "part"), "2");
    assert_int_equal(json_integer_value(json_object_get(a, "size")), 4 + 256 * 8);
    assert_null(json_object_get(a, "content_base64")); /* metadata only */
    json_decref(j);
}

static void test_iso8859_5_base64_body_and_q_encoded_name_decode(void **state)
{
    (void)state;
    json_t *j = parse_fixture("iso8859_5.eml");
    assert_string_equal(s(j, "subject"), "Посылка получена");
    assert_string_equal(s(j, "from.0.name"), "Пётр");
    assert_string_equal(s(j, "new_text"), "Здравствуйте!\nПодтверждаю получение посылки, спасибо.");
    assert_string_equal(s(j, "trimmed"), "signature"); /* "Sent from my iPhone" */
    json_decref(j);
}

static void
test_a_charset_iconv_cannot_convert_is_reported_and_decoded_with_the_fallbacks(void **state)
{
    (void)state;
    const char *raw =
        "From: =?x-klingon?B?SGVsbG8=?= <k@example.org>\nTo: support@example.com\n"
        "Subject: =?x-klingon?Q?caf=E9?=\nContent-Type: text/plain; charset=x-klingon\n\n"
        "caf\xe9 ok\n";
    char err[256];
    json_t *j = em_parse(raw, strlen(raw), &opts, err, sizeof(err));
    assert_non_null(j);
    assert_true(has_problem(j, "charset_unsupported"));
    assert_string_equal(s(j, "from.0.name"), "Hello");
    assert_string_equal(s(j, "new_text"), "caf\xd0\xb9 ok"); /* 0xE9 read as Windows-1251 */
    json_decref(j);
    json_t *bad = json_array();
    char *copy = em_guard_charsets(raw, strlen(raw), bad);
    assert_non_null(copy);
    assert_null(g_strstr_len(copy, (gssize)strlen(raw), "x-klingon?"));
    assert_string_equal(json_string_value(json_array_get(bad, 0)), "x-klingon");
    g_free(copy);
    json_decref(bad);
    /* Usable charsets are left alone: no copy. */
    bad = json_array();
    const char *fine = "Subject: =?koi8-r?B?8NLJ18XU?= =?utf-8?Q?x?=\n\nx";
    assert_null(em_guard_charsets(fine, strlen(fine), bad));
    assert_int_equal(json_array_size(bad), 0);
    json_decref(bad);
}

/* ---- structure, attachments ---- */

static void
test_nested_multiparts_list_attachments_by_imap_part_and_fetch_one_on_demand(void **state)
{
    (void)state;
    json_t *j = parse_fixture("thunderbird_nested.eml");
    json_t *as = json_object_get(j, "attachments");
    assert_int_equal(json_array_size(as), 2);
    assert_string_equal(s(as, "0.part"), "1.2.2");
    assert_string_equal(s(as, "0.disposition"), "inline");
    assert_string_equal(s(as, "0.content_id"), "part1.shot@example.net");
    assert_string_equal(s(as, "1.part"), "2");
    assert_string_equal(s(as, "1.filename"), "invoice 2024-05.pdf"); /* RFC 2231 */
    assert_string_equal(s(j, "new_text"),
                        "Hello,\n\nthe invoice is attached, the error is in the screenshot.");
    json_int_t size = json_integer_value(json_object_get(json_array_get(as, 1), "size"));
    json_decref(j);

    size_t n;
    char *raw = load("thunderbird_nested.eml", &n);
    char err[256];
    json_t *p = em_part(raw, n, "2", 1 << 20, err, sizeof(err));
    assert_non_null(p);
    gsize len;
    guchar *pdf = g_base64_decode(s(p, "content_base64"), &len);
    assert_int_equal(len, size);
    assert_memory_equal(pdf, "%PDF-1.4", 8);
    g_free(pdf);
    json_decref(p);
    assert_null(em_part(raw, n, "2", 100, err, sizeof(err)));     /* over max */
    assert_null(em_part(raw, n, "1", 1 << 20, err, sizeof(err))); /* a multipart */
    assert_null(em_part(raw, n, "9", 1 << 20, err, sizeof(err)));
    assert_null(em_part(raw, n, "1.x", 1 << 20, err, sizeof(err)));
    g_free(raw);
}

static void test_html_only_mail_is_reduced_to_text_without_script_or_style(void **state)
{
    (void)state;
    json_t *j = parse_fixture("html_only.eml");
    assert_string_equal(s(j, "text_from"), "html");
    const char *t = s(j, "text");
    assert_non_null(strstr(t, "Where is my order?"));
    assert_non_null(strstr(t, "Спасибо!"));
    assert_null(strstr(t, "alert"));
    assert_null(strstr(t, "color:red"));
    assert_null(strstr(t, "<"));
    json_decref(j);
}

static void test_html_only_replies_of_gmail_and_outlook_are_trimmed_too(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"<div dir=\"ltr\">Thanks, fixed!<div><br></div>-- <br><div "
         "class=\"gmail_signature\">Anna</div>"
         "</div><br><div class=\"gmail_quote\"><div class=\"gmail_attr\">On Tue, May 14, 2024 at "
         "6:03 PM "
         "Support &lt;<a href=\"mailto:support@example.com\">support@example.com</a>&gt; "
         "wrote:<br></div>"
         "<blockquote class=\"gmail_quote\">Hello Anna,<br>please restart the "
         "router.</blockquote></div>",
         "Thanks, fixed!"},
        {"<html><body><p>Спасибо, получила.</p><p>Ольга</p><div style=\"border-top:solid #E1E1E1 "
         "1.0pt\">"
         "<p><b>From:</b> Support &lt;support@example.com&gt;<br><b>Sent:</b> Tuesday, May 14, "
         "2024<br>"
         "<b>To:</b> Olga<br><b>Subject:</b> x</p></div><p>Old text</p></body></html>",
         "Спасибо, получила.\n\nОльга"}};
    for (size_t i = 0; i < 2; i++) {
        char *raw = g_strdup_printf("From: c@example.org\nTo: support@example.com\nSubject: Re: x\n"
                                    "Content-Type: text/html; charset=utf-8\n\n%s\n",
                                    cases[i][0]);
        char err[256];
        json_t *j = em_parse(raw, strlen(raw), &opts, err, sizeof(err));
        assert_string_equal(s(j, "text_from"), "html");
        assert_string_equal(s(j, "new_text"), cases[i][1]);
        json_decref(j);
        g_free(raw);
    }
}

/* ---- threading ---- */

static void test_gmail_reply_threads_by_references_and_trims_a_wrapped_attribution(void **state)
{
    (void)state;
    json_t *j = parse_fixture("gmail_reply.eml");
    assert_string_equal(s(j, "thread.key"), "first-aa@mail.gmail.com");
    assert_string_equal(s(j, "thread.parent"), "reply-bb@example.com");
    assert_string_equal(s(j, "thread.by"), "references");
    assert_string_equal(s(j, "thread.token"), "T7x9Q");
    assert_string_equal(s(j, "thread.subject_base"), "Router keeps dropping");
    assert_string_equal(
        s(j, "new_text"),
        "Thanks, that fixed it! One more question: can I change the delivery address?");
    json_decref(j);
}

static void test_a_reply_without_references_threads_by_the_plus_address_token(void **state)
{
    (void)state;
    json_t *j = parse_fixture("plus_token.eml");
    assert_string_equal(s(j, "thread.by"), "token");
    assert_string_equal(s(j, "thread.key"), "token:T7x9Q");
    json_decref(j);
}

static void test_reply_subjects_get_one_re_and_bases_lose_every_prefix(void **state)
{
    (void)state;
    static const char *const cases[][2] = {{"Re: Re: RE: Router", "Re: Router"},
                                           {"Router", "Re: Router"},
                                           {"RE[2]: AW: Счёт", "Re: Счёт"},
                                           {"Ответ: НА: Заказ", "Re: Заказ"},
                                           {"", "Re:"},
                                           {"Fwd: report", "Re: Fwd: report"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *r = em_reply_subject(cases[i][0]);
        assert_string_equal(r, cases[i][1]);
        char *again = em_reply_subject(r);
        assert_string_equal(again, r); /* never stacked */
        free(again);
        free(r);
    }
    char *b = em_subject_base("[support] Fwd: Re: Пересл: invoice ");
    assert_string_equal(b, "invoice");
    free(b);
}

/* ---- loops and noise ---- */

static void classified(const char *fixture, const char *kind, const char *reason)
{
    json_t *j = parse_fixture(fixture);
    assert_string_equal(s(j, "classification.kind"), kind);
    assert_string_equal(s(j, "classification.reason"), reason);
    assert_int_equal(json_is_true(json_object_get(json_object_get(j, "classification"), "answer")),
                     !strcmp(kind, "normal"));
    json_decref(j);
}

static void test_auto_replies_bounces_and_own_mail_are_never_to_be_answered(void **state)
{
    (void)state;
    classified("outlook_autoreply.eml", "auto_reply", "Auto-Submitted: auto-generated");
    classified("gmail_autoreply.eml", "auto_reply", "Auto-Submitted: auto-replied");
    classified("dsn_bounce.eml", "bounce",
               "Content-Type: multipart/report; report-type=delivery-status");
    classified("self.eml", "self", "From: Support@Example.com is the agent's own address");
    classified("koi8r_reply.eml", "normal", "");
}

static void test_each_auto_reply_header_is_recognised_with_its_reason(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"Precedence: bulk", "Precedence: bulk"},
        {"Precedence: junk", "Precedence: junk"},
        {"Precedence: auto_reply", "Precedence: auto_reply"},
        {"X-Autoreply: yes", "X-Autoreply: yes"},
        {"X-Autorespond: Vacation", "X-Autorespond: Vacation"},
        {"Auto-Submitted: auto-replied (vacation)", "Auto-Submitted: auto-replied"},
        {"Precedence: list", "Precedence: list"},
        {"Auto-Submitted: no", ""}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char raw[512];
        snprintf(raw, sizeof(raw),
                 "From: a@example.org\nTo: support@example.com\n%s\nSubject: hi\n\nbody\n",
                 cases[i][0]);
        char err[256];
        json_t *j = em_parse(raw, strlen(raw), &opts, err, sizeof(err));
        assert_string_equal(s(j, "classification.reason"), cases[i][1]);
        json_decref(j);
    }
}

static void test_a_dsn_names_the_failed_recipient_and_the_original_message(void **state)
{
    (void)state;
    json_t *j = parse_fixture("dsn_bounce.eml");
    assert_string_equal(s(j, "bounce.action"), "failed");
    assert_string_equal(s(j, "bounce.status"), "5.1.1");
    assert_string_equal(s(j, "bounce.recipient"), "nobody@example.org");
    assert_string_equal(s(j, "bounce.original_message_id"), "answer-0042@example.com");
    json_decref(j);
}

/* ---- broken input ---- */

static void test_broken_mime_gives_a_result_that_says_what_was_wrong(void **state)
{
    (void)state;
    json_t *j = parse_fixture("broken_mime.eml");
    assert_true(has_problem(j, "multipart_without_boundary"));
    assert_string_equal(s(j, "text_from"), "raw"); /* the words are not lost */
    assert_non_null(strstr(s(j, "text"), "Hello there"));
    json_decref(j);
    j = parse_fixture("broken_truncated.eml");
    assert_true(has_problem(j, "truncated_message"));
    assert_string_equal(s(j, "text"), "The start of a message that is cut");
    json_decref(j);
}

static void test_what_is_not_a_message_is_refused_with_the_reason(void **state)
{
    (void)state;
    char err[256];
    assert_null(em_parse("", 0, &opts, err, sizeof(err)));
    assert_non_null(strstr(err, "empty"));
    assert_null(em_parse("\x89PNG\r\n\x1a\n", 8, &opts, err, sizeof(err)));
    assert_non_null(strstr(err, "not a message"));
    /* Binary garbage after a header line still parses to something. */
    char junk[4096] = "Subject: x\n";
    for (size_t i = 11; i < sizeof(junk); i++)
        junk[i] = (char)(i * 7919u >> 3);
    json_t *j = em_parse(junk, sizeof(junk), &opts, err, sizeof(err));
    assert_non_null(j);
    json_decref(j);
}

/* ---- trimming ---- */

static void trims(const char *text, const char *expect)
{
    const char *cut;
    char *t = em_trim_reply(text, &cut);
    assert_string_equal(t, expect);
    free(t);
}

static void test_quotes_of_each_client_are_cut_and_bottom_posted_answers_kept(void **state)
{
    (void)state;
    trims("Да, подходит.\n\nпн, 13 мая 2024 г. в 10:00, Support <support@example.com>:\n> Вам "
          "удобно?\n",
          "Да, подходит.");
    trims("Ok\n\n-----Original Message-----\nFrom: Support\nSent: Monday\nTo: me\nSubject: "
          "x\n\nold\n",
          "Ok");
    trims("Ок\n\n-----Исходное сообщение-----\nОт: Поддержка\n", "Ок");
    trims("Fine\n\n________________________________\nFrom: Support\nSent: Monday\nTo: me\nSubject: "
          "y\n",
          "Fine");
    trims("Иван Петров написал(а):\n> вопрос\n\nмой ответ\n", "мой ответ");
    trims("On Mon, Anna wrote:\n> q1\nanswer one\n> q2\nanswer two\n", "answer one\nanswer two");
    trims("Thanks\n--\nJohn\n", "Thanks");
    trims("> only a quote\n", "> only a quote"); /* nothing else: kept as it is */
}

/* ---- composition ---- */

static void test_a_composed_reply_reparses_threaded_with_one_re_and_its_signature(void **state)
{
    (void)state;
    json_t *in = parse_fixture("koi8r_reply.eml");
    json_t *msg = json_pack("{s:s,s:O,s:s,s:s,s:O,s:I,s:s}", "from",
                            "Support <support@example.com>", "to", json_object_get(in, "from"),
                            "text", "Здравствуйте, Иван!\nЗаказ в пути, будет завтра.", "signature",
                            "Служба поддержки", "in_reply_to", in, "date", (json_int_t)1715850000,
                            "reply_token", "T7x9Q");
    char err[256];
    json_t *out = em_compose(msg, err, sizeof(err));
    if (!out) fail_msg("%s", err);
    const char *raw = s(out, "raw");
    for (const char *p = raw; *p; p++)
        assert_true((unsigned char)*p < 128); /* 7-bit: encoded words, base64 or QP */
    assert_non_null(strstr(raw, "\r\n"));
    assert_non_null(strstr(raw, "Content-Type: multipart/alternative"));
    assert_true(strstr(raw, "Content-Transfer-Encoding: base64") ||
                strstr(raw, "Content-Transfer-Encoding: quoted-printable"));
    assert_non_null(strstr(raw, "Date: Thu, 16 May 2024 09:00:00 +0000"));

    const char *none[] = {NULL};
    em_parse_opts o = {.own = none};
    json_t *back = em_parse(raw, strlen(raw), &o, err, sizeof(err));
    assert_non_null(back);
    assert_string_equal(s(back, "subject"), "Re: Где мой заказ?");
    assert_string_equal(s(back, "in_reply_to"), "koi8-0001@mail.example.ru");
    assert_string_equal(s(back, "references.0"), "first-0001@mail.example.ru");
    assert_string_equal(s(back, "references.2"), "koi8-0001@mail.example.ru");
    assert_string_equal(s(back, "thread.key"), "first-0001@mail.example.ru");
    assert_string_equal(s(back, "message_id"), s(out, "message_id"));
    assert_string_equal(s(back, "to.0.name"), "Иван Петров");
    assert_string_equal(s(back, "reply_to.0.address"), "support+T7x9Q@example.com");
    assert_string_equal(s(back, "new_text"), "Здравствуйте, Иван!\nЗаказ в пути, будет завтра.");
    assert_string_equal(s(back, "trimmed"), "signature");
    assert_true(json_is_true(json_object_get(back, "has_html")));
    /* What the agent sends says it is automatic: no auto-responder answers it. */
    assert_string_equal(s(back, "classification.kind"), "auto_reply");
    json_decref(back);
    /* And a reply to the reply does not stack "Re:". */
    json_object_set_new(msg, "in_reply_to",
                        json_pack("{s:s,s:s}", "message_id", "x@y", "subject", s(out, "subject")));
    json_t *again = em_compose(msg, err, sizeof(err));
    assert_string_equal(s(again, "subject"), "Re: Где мой заказ?");
    json_decref(again);
    json_decref(out);
    json_decref(msg);
    json_decref(in);
}

static void test_compose_refuses_what_would_not_make_a_message(void **state)
{
    (void)state;
    char err[256];
    json_t *m = json_pack("{s:s,s:s}", "from", "support@example.com", "text", "hi");
    assert_null(em_compose(m, err, sizeof(err)));
    assert_non_null(strstr(err, "to: required"));
    json_object_set_new(m, "to", json_string("not an address"));
    assert_null(em_compose(m, err, sizeof(err)));
    json_object_set_new(m, "to", json_string("a@example.org"));
    json_object_set_new(m, "reply_token", json_string("bad token!"));
    assert_null(em_compose(m, err, sizeof(err)));
    assert_non_null(strstr(err, "reply_token"));
    json_object_del(m, "reply_token");
    json_t *ok = em_compose(m, err, sizeof(err));
    assert_non_null(ok);
    assert_null(strstr(s(ok, "raw"), "Content-Transfer-Encoding")); /* ASCII stays 7bit */
    json_decref(ok);
    json_decref(m);
}

/* The envelope is every address the headers name, each once parsed: a
 * string holding several, objects, a group; bcc goes to the envelope only;
 * more than 100 in all is refused, not cut. */
static void test_the_envelope_holds_every_recipient_and_bcc_stays_out_of_the_headers(void **state)
{
    (void)state;
    char err[256];
    json_t *m =
        json_pack("{s:s,s:s,s:s,s:[{s:s,s:s}],s:s}", "from", "support@example.com", "text", "hi",
                  "to", "a@example.org, Bob <b@example.org>", "cc", "address", "c@example.org",
                  "name", "Carol", "bcc", "Team: d@example.org, e@example.org;");
    json_t *out = em_compose(m, err, sizeof(err));
    if (!out) fail_msg("compose: %s", err);
    char *rcpt = json_dumps(json_object_get(out, "rcpt"), JSON_COMPACT);
    assert_string_equal(rcpt, "[\"a@example.org\",\"b@example.org\",\"c@example.org\","
                              "\"d@example.org\",\"e@example.org\"]");
    free(rcpt);
    const char *raw = s(out, "raw");
    assert_non_null(strstr(raw, "b@example.org"));
    assert_null(strstr(raw, "d@example.org"));
    assert_null(strstr(raw, "Bcc:"));
    json_decref(out);
    json_t *many = json_array();
    for (int i = 0; i < 60; i++) {
        char a[40];
        snprintf(a, sizeof a, "p%d@example.org", i);
        json_array_append_new(many, json_string(a));
    }
    json_object_set(m, "to", many);
    json_object_set(m, "cc", many); /* 120 in all */
    assert_null(em_compose(m, err, sizeof(err)));
    assert_non_null(strstr(err, "more than 100 recipients"));
    json_decref(many);
    json_decref(m);
}

int main(void)
{
    em_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_koi8r_body_and_encoded_words_become_utf8_and_the_reply_is_trimmed),
        cmocka_unit_test(
            test_windows1251_outlook_mail_keeps_its_attachment_name_and_loses_the_quoted_block),
        cmocka_unit_test(test_iso8859_5_base64_body_and_q_encoded_name_decode),
        cmocka_unit_test(
            test_a_charset_iconv_cannot_convert_is_reported_and_decoded_with_the_fallbacks),
        cmocka_unit_test(
            test_nested_multiparts_list_attachments_by_imap_part_and_fetch_one_on_demand),
        cmocka_unit_test(test_html_only_mail_is_reduced_to_text_without_script_or_style),
        cmocka_unit_test(test_html_only_replies_of_gmail_and_outlook_are_trimmed_too),
        cmocka_unit_test(test_gmail_reply_threads_by_references_and_trims_a_wrapped_attribution),
        cmocka_unit_test(test_a_reply_without_references_threads_by_the_plus_address_token),
        cmocka_unit_test(test_reply_subjects_get_one_re_and_bases_lose_every_prefix),
        cmocka_unit_test(test_auto_replies_bounces_and_own_mail_are_never_to_be_answered),
        cmocka_unit_test(test_each_auto_reply_header_is_recognised_with_its_reason),
        cmocka_unit_test(test_a_dsn_names_the_failed_recipient_and_the_original_message),
        cmocka_unit_test(test_broken_mime_gives_a_result_that_says_what_was_wrong),
        cmocka_unit_test(test_what_is_not_a_message_is_refused_with_the_reason),
        cmocka_unit_test(test_quotes_of_each_client_are_cut_and_bottom_posted_answers_kept),
        cmocka_unit_test(test_a_composed_reply_reparses_threaded_with_one_re_and_its_signature),
        cmocka_unit_test(test_compose_refuses_what_would_not_make_a_message),
        cmocka_unit_test(test_the_envelope_holds_every_recipient_and_bcc_stays_out_of_the_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
