/*
 * E-mail attachments on demand through the real binary, with real servers
 * on loopback (tests/servers/mailserver.h: Postfix delivering into Dovecot):
 * message.in lists a mail's attachments as metadata (ref
 * "email:<MESSAGE-ID>/PART", with the mail's language, safe HTML and
 * header fields); the email plugin's action attachment.fetch
 * fetches that one part over IMAP through the broker and decodes it. A PDF
 * (base64) and a CSV (quoted-printable) come back byte-exact with their
 * type and name; a part over max_bytes, a ref to no mail or no part, and a
 * malformed ref each get a clear error.
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

#define CUSTOMER MC_CUSTOMER
#define MID "att-0001@example.test"

static th_host H;
static mailserver M;
static unsigned char PDF[3000]; /* a PDF-shaped file with every byte value in it */
static const char CSV[] = "name;city\r\nJosé;Zürich\r\n"; /* UTF-8, sent quoted-printable */
static const char CSV_QP[] = "name;city\r\nJos=C3=A9;Z=C3=BCrich\r\n\r\n";

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* base64 of in[0..n), lines of 76 characters (CRLF), as a mail carries it. */
static char *b64_lines(const unsigned char *in, size_t n)
{
    char *out = malloc(n * 2 + 16), *o = out;
    size_t col = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        *o++ = B64[v >> 18 & 63];
        *o++ = B64[v >> 12 & 63];
        *o++ = i + 1 < n ? B64[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? B64[v & 63] : '=';
        if ((col += 4) == 76) {
            *o++ = '\r', *o++ = '\n', col = 0;
        }
    }
    *o = 0;
    return out;
}

static unsigned char *b64_decode(const char *s, size_t *n)
{
    unsigned char *out = malloc(strlen(s) + 1);
    unsigned v = 0;
    int bits = 0;
    *n = 0;
    for (; *s && *s != '='; s++) {
        const char *c = strchr(B64, *s);
        if (!c || !*s) continue;
        v = v << 6 | (unsigned)(c - B64);
        if ((bits += 6) >= 8) {
            bits -= 8;
            out[(*n)++] = (unsigned char)(v >> bits & 0xff);
        }
    }
    return out;
}

/* The customer's mail with the PDF (part 2) and the CSV (part 3). */
static void mail_with_attachments(void)
{
    char *pdf = b64_lines(PDF, sizeof(PDF));
    char *msg = NULL;
    assert_true(asprintf(&msg,
                         "From: Customer <" CUSTOMER ">\r\nTo: Support <%s>\r\n"
                         "Subject: My invoice\r\nMessage-ID: <" MID ">\r\n"
                         "Date: Mon, 07 Dec 2026 03:00:00 +0000\r\nMIME-Version: 1.0\r\n"
                         "Content-Language: en-gb\r\n"
                         "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
                         "--b1\r\nContent-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n"
                         "--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                         "The invoice is attached.\r\n"
                         "--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
                         "<p>The <b>invoice</b> is attached.<script>x()</script></p>\r\n"
                         "--b2--\r\n"
                         "--b1\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\n"
                         "Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n"
                         "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n"
                         "--b1\r\nContent-Type: text/csv; charset=utf-8\r\n"
                         "Content-Disposition: attachment; filename=\"list.csv\"\r\n"
                         "Content-Transfer-Encoding: quoted-printable\r\n\r\n%s"
                         "--b1--\r\n",
                         M.user, pdf, CSV_QP) > 0);
    free(pdf);
    mc_submit(&M, M.user, msg);
    free(msg);
}

/* attachment.fetch with args; the answer, its HTTP status into *st. */
static json_t *fetch(const char *args, int *st)
{
    json_t *o = NULL;
    *st = th_call(&H, "mail", "attachment.fetch", args, &o);
    return o;
}

static const char *error_of(json_t *o, const char *field)
{
    const char *s = json_string_value(th_get(o, field));
    return s ? s : "";
}

static int setup(void **s)
{
    (void)s;
    for (size_t i = 0; i < sizeof(PDF); i++)
        PDF[i] = (unsigned char)(i * 7 + i / 256);
    memcpy(PDF, "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", 15);
    memcpy(PDF + sizeof(PDF) - 6, "%%EOF\n", 6);
    if (mailserver_start(&M, TH_SOURCE_DIR) < 0) {
        fprintf(stderr, "mail servers: %s\n", M.why);
        return -1;
    }
    int port = th_free_port();
    if (port < 0) return -1;
    char *cfg = NULL;
    if (asprintf(&cfg,
                 "{\"listen\": \"127.0.0.1:%d\", \"instances\": ["
                 " {\"id\": \"mail\", \"plugin\": \"email\", \"config\": {"
                 "  \"imap_url\": \"imap://127.0.0.1:%d\", \"address\": \"%s\","
                 "  \"poll_interval_s\": 1},"
                 "  \"egress\": [{\"scheme\": \"imap\", \"host\": \"127.0.0.1\", \"port\": %d, "
                 "   \"private\": true}]}]}",
                 port, M.imap_port, M.user, M.imap_port) < 0)
        return -1;
    int rc = th_init(&H, "email-attachments") || th_install_plugin(&H, "email") ||
             th_config(&H, cfg) || mc_store_login(&H, "mail", &M) || th_start(&H, NULL, 15000) ||
             !th_wait_state(&H, "mail", "ready", 15000) ||
             !th_wait_file(&H, "logs/plugins/mail.log", "watching INBOX", 20000);
    free(cfg);
    if (rc) return -1;
    long before = mc_handled_uid(&H, "mail");
    mail_with_attachments();
    if (before < 0 || !mc_wait_handled(&H, "mail", before + 1, 60000)) {
        fprintf(stderr, "the mail was not handled in 60 s\n");
        return -1;
    }
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    mailserver_stop(&M);
    return rc ? -1 : 0;
}

static void test_a_pdf_attachment_is_fetched_on_demand_byte_exact(void **s)
{
    (void)s;
    int st;
    json_t *o = fetch("{\"ref\": \"email:<" MID ">/2\"}", &st);
    if (st != 200) fail_msg("attachment.fetch: %d %s", st, json_dumps(o, 0));
    assert_string_equal(error_of(o, "result.mime_type"), "application/pdf");
    assert_string_equal(error_of(o, "result.name"), "invoice.pdf");
    assert_int_equal(json_integer_value(th_get(o, "result.size")), sizeof(PDF));
    size_t n;
    unsigned char *bytes = b64_decode(error_of(o, "result.content_base64"), &n);
    assert_int_equal(n, sizeof(PDF));
    assert_memory_equal(bytes, PDF, sizeof(PDF));
    free(bytes);
    json_decref(o);
}

static void test_a_quoted_printable_attachment_comes_back_decoded(void **s)
{
    (void)s;
    int st;
    json_t *o = fetch("{\"ref\": \"email:<" MID ">/3\"}", &st);
    if (st != 200) fail_msg("attachment.fetch: %d %s", st, json_dumps(o, 0));
    assert_string_equal(error_of(o, "result.mime_type"), "text/csv");
    assert_string_equal(error_of(o, "result.name"), "list.csv");
    size_t n;
    unsigned char *bytes = b64_decode(error_of(o, "result.content_base64"), &n);
    assert_int_equal(n, strlen(CSV));
    assert_memory_equal(bytes, CSV, n);
    free(bytes);
    json_decref(o);
}

static void test_a_part_over_max_bytes_is_refused_naming_max_bytes(void **s)
{
    (void)s;
    int st;
    json_t *o = fetch("{\"ref\": \"email:<" MID ">/2\", \"max_bytes\": 1000}", &st);
    assert_int_not_equal(st, 200);
    char *d = json_dumps(o, 0);
    assert_non_null(strstr(d, "too_large"));
    assert_non_null(strstr(d, "max_bytes"));
    free(d);
    json_decref(o);
    o = fetch("{\"ref\": \"email:<" MID ">/2\", \"max_bytes\": 3000}", &st);
    assert_int_equal(st, 200); /* exactly its size is enough */
    json_decref(o);
}

static void test_a_ref_to_no_mail_or_no_part_is_not_found(void **s)
{
    (void)s;
    const char *args[] = {"{\"ref\": \"email:<nothing-here@example.test>/2\"}",
                          "{\"ref\": \"email:<" MID ">/9\"}", "{\"ref\": \"email:<" MID ">/1.4\"}"};
    for (size_t i = 0; i < sizeof(args) / sizeof(*args); i++) {
        int st;
        json_t *o = fetch(args[i], &st);
        char *d = json_dumps(o, 0);
        if (st == 200 || !strstr(d, "not_found")) fail_msg("%s: %d %s", args[i], st, d);
        free(d);
        json_decref(o);
    }
}

/* The mail as published: its language (not personal, readable on the bus)
 * and its attachments, HTML and header fields (personal: sealed there). */
static void test_the_published_message_in_has_language_html_raw_and_attachments(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(
        th_http(&H, "GET", "/api/v1/topics/message.in/events?limit=100", NULL, NULL, &o), 200);
    const json_t *body = NULL;
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(o, "events"), i, ev)
    {
        const json_t *b = json_object_get(ev, "body");
        if (!strcmp(error_of((json_t *)b, "external_id"), "<" MID ">")) body = b;
    }
    if (!body) fail_msg("no message.in for <" MID ">: %s", json_dumps(o, 0));
    assert_string_equal(error_of((json_t *)body, "language"), "en-GB");
    static const char *const personal[] = {"html", "raw", "attachments", "text"};
    for (size_t k = 0; k < sizeof(personal) / sizeof(*personal); k++)
        if (!json_object_get(body, personal[k])) fail_msg("message.in has no %s", personal[k]);
    json_decref(o);
}

static void test_a_malformed_ref_or_max_bytes_is_invalid_naming_the_field(void **s)
{
    (void)s;
    const char *args[][2] = {{"{}", "ref"},
                             {"{\"ref\": \"telegram:ABC\"}", "ref"},
                             {"{\"ref\": \"email:<a\\\"b@x>/2\"}", "ref"},
                             {"{\"ref\": \"email:<" MID ">/2..1\"}", "ref"},
                             {"{\"ref\": \"email:<" MID ">/2\", \"max_bytes\": 0}", "max_bytes"}};
    for (size_t i = 0; i < sizeof(args) / sizeof(*args); i++) {
        int st;
        json_t *o = fetch(args[i][0], &st);
        char *d = json_dumps(o, 0);
        if (st == 200 || !strstr(d, "invalid") || !strstr(d, args[i][1]))
            fail_msg("%s: %d %s", args[i][0], st, d);
        free(d);
        json_decref(o);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_pdf_attachment_is_fetched_on_demand_byte_exact),
        cmocka_unit_test(test_a_quoted_printable_attachment_comes_back_decoded),
        cmocka_unit_test(test_a_part_over_max_bytes_is_refused_naming_max_bytes),
        cmocka_unit_test(test_a_ref_to_no_mail_or_no_part_is_not_found),
        cmocka_unit_test(test_a_malformed_ref_or_max_bytes_is_invalid_naming_the_field),
        cmocka_unit_test(test_the_published_message_in_has_language_html_raw_and_attachments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
