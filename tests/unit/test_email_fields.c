/*
 * The e-mail parse's fields for message.in beyond the text (plugins/email,
 * docs/channels/email.md "Parsing"): the HTML part made safe to show
 * (scripts, styles, handlers, javascript: links and the head gone, the
 * formatting kept), the language from Content-Language normalised to the
 * message schema's form, and the header fields kept in order, bounded.
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

static json_t *parse(const char *raw)
{
    char err[256] = "";
    em_parse_opts o = {0};
    json_t *j = em_parse(raw, strlen(raw), &o, err, sizeof(err));
    if (!j) fail_msg("parse: %s", err);
    return j;
}

static const char HTML_MAIL[] =
    "From: Anna <anna@example.org>\r\nTo: support@shop.example\r\nSubject: Hi\r\n"
    "Message-ID: <h1@example.org>\r\nContent-Language: pt-br\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/alternative; boundary=\"x\"\r\n\r\n"
    "--x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello, order 5512?\r\n"
    "--x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    "<html><head><title>T</title><style>p{color:red}</style>"
    "<script>alert(1)</script></head><body onload=\"steal()\">"
    "<p class=\"x\" style=\"y\">Hello, <b>order</b> 5512 &amp; <i>more</i>?</p>"
    "<a href=\"javascript:alert(2)\">bad</a> <a href=\"https://shop.example/o?a=1&amp;b=2\" "
    "onclick=\"x()\">good</a><img src=\"https://track.example/p.gif\">"
    "<iframe src=\"https://evil.example\">in frame</iframe><font color=red>kept text</font>"
    "<blockquote>quoted</blockquote><!-- a comment --><form><input value=\"v\"></form>"
    "</body></html>\r\n--x--\r\n";

static void test_the_html_part_is_kept_safe_to_show(void **st)
{
    (void)st;
    json_t *j = parse(HTML_MAIL);
    const char *h = json_string_value(json_object_get(j, "html"));
    assert_non_null(h);
    static const char *const gone[] = {
        "script",     "alert", "style",         "color:red", "onload", "steal",    "onclick",
        "javascript", "<img",  "track.example", "iframe",    "evil",   "in frame", "<title",
        "comment",    "<form", "<input",        "class=",    "<font",  "<html",    "<body"};
    for (size_t i = 0; i < sizeof(gone) / sizeof(*gone); i++)
        if (strstr(h, gone[i])) fail_msg("\"%s\" is still in %s", gone[i], h);
    static const char *const kept[] = {
        "<p>Hello, <b>order</b> 5512 &amp; <i>more</i>?</p>", "<a>bad</a>",
        "<a href=\"https://shop.example/o?a=1&amp;b=2\" rel=\"noopener noreferrer nofollow\">good"
        "</a>",
        "kept text", "<blockquote>quoted</blockquote>"};
    for (size_t i = 0; i < sizeof(kept) / sizeof(*kept); i++)
        if (!strstr(h, kept[i])) fail_msg("\"%s\" is not in %s", kept[i], h);
    /* the text still comes from the plain part */
    assert_string_equal(json_string_value(json_object_get(j, "text_from")), "plain");
    json_decref(j);
}

static void test_a_mail_without_html_has_no_html_field(void **st)
{
    (void)st;
    json_t *j = parse("From: a@example.org\r\nSubject: x\r\n\r\nplain only\r\n");
    assert_null(json_object_get(j, "html"));
    assert_null(json_object_get(j, "language"));
    json_decref(j);
}

static const char *lang_of(const char *value)
{
    static char out[32];
    char *raw = g_strdup_printf("From: a@example.org\r\nContent-Language: %s\r\n\r\nx\r\n", value);
    json_t *j = parse(raw);
    g_free(raw);
    const char *l = json_string_value(json_object_get(j, "language"));
    snprintf(out, sizeof(out), "%s", l ? l : "(none)");
    json_decref(j);
    return out;
}

static void test_content_language_becomes_the_schemas_language_tag(void **st)
{
    (void)st;
    assert_string_equal(lang_of("ru"), "ru");
    assert_string_equal(lang_of("pt-br"), "pt-BR");
    assert_string_equal(lang_of("EN-us, ru"), "en-US");
    assert_string_equal(lang_of("de_DE"), "de-DE");
    assert_string_equal(lang_of("zh-Hant-TW"), "zh-TW");
    assert_string_equal(lang_of("sr-Latn"), "sr");
    assert_string_equal(lang_of("x-klingon"), "(none)");
    assert_string_equal(lang_of("english"), "(none)");
    assert_string_equal(lang_of("1234"), "(none)");
}

static void test_the_headers_are_kept_in_order_and_bounded(void **st)
{
    (void)st;
    json_t *j = parse("Received: from a\r\nReceived: from b\r\nFrom: a@example.org\r\n"
                      "Subject: =?utf-8?B?0J/RgNC40LLQtdGC?=\r\n"
                      "Content-Type: text/plain; charset=utf-8\r\n\r\nx\r\n");
    json_t *h = json_object_get(j, "headers");
    assert_int_equal(json_array_size(h), 5);
    assert_string_equal(json_string_value(json_array_get(json_array_get(h, 4), 0)), "Content-Type");
    assert_string_equal(json_string_value(json_array_get(json_array_get(h, 1), 1)), "from b");
    assert_string_equal(json_string_value(json_array_get(json_array_get(h, 3), 0)), "Subject");
    assert_string_equal(json_string_value(json_array_get(json_array_get(h, 3), 1)), "Привет");
    assert_null(json_object_get(j, "headers_truncated"));
    json_decref(j);

    GString *raw = g_string_new("From: a@example.org\r\nX-Long: ");
    for (int i = 0; i < 3000; i++)
        g_string_append_c(raw, 'v');
    g_string_append(raw, "\r\n");
    for (int i = 0; i < 150; i++)
        g_string_append_printf(raw, "X-Spam-%d: %d\r\n", i, i);
    g_string_append(raw, "\r\nx\r\n");
    j = parse(raw->str);
    g_string_free(raw, TRUE);
    h = json_object_get(j, "headers");
    assert_int_equal(json_array_size(h), 100);
    assert_int_equal(strlen(json_string_value(json_array_get(json_array_get(h, 1), 1))), 2000);
    assert_true(json_is_true(json_object_get(j, "headers_truncated")));
    json_decref(j);
}

int main(void)
{
    em_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_html_part_is_kept_safe_to_show),
        cmocka_unit_test(test_a_mail_without_html_has_no_html_field),
        cmocka_unit_test(test_content_language_becomes_the_schemas_language_tag),
        cmocka_unit_test(test_the_headers_are_kept_in_order_and_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
