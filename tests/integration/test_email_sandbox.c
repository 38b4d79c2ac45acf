/*
 * email.parse in the real runner: `agenthost plugin run` starts the email
 * plugin confined (both seccomp filters, the minimal root), and KOI8-R,
 * Windows-1251 and ISO-8859-5 mail converts to UTF-8 there, with no gconv
 * module loaded after lockdown; a charset whose module the runner did not
 * load is reported, not a crash (an iconv_open that loads one is an openat
 * the second filter kills for). Also: a part fetched and a reply composed
 * through the same instance.
 */
#include "../support/kit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX TH_SOURCE_DIR "/tests/fixtures/email"
#define MANIFEST TH_BUILD_DIR "/plugins/email/manifest.json"

static char tmp[512];

/* A fixture mail as base64. */
static char *b64_of_file(const char *name)
{
    char *b = kit_b64_file(FIX, name);
    assert_non_null(b);
    return b;
}

static int setup(void **state)
{
    (void)state;
    return kit_tmpdir("email", tmp, sizeof(tmp));
}

static int teardown(void **state)
{
    (void)state;
    kit_rmtree(tmp);
    return 0;
}

static void add_parse(json_t *lines, json_t *args)
{
    json_array_append_new(lines,
                          json_pack("{s:{s:s,s:o}}", "call", "action", "parse", "args", args));
}

/* The calls, one a line, to the email plugin run confined. */
static json_t *run(const json_t *calls, kit_out *r)
{
    return kit_plugin_run(r, tmp, MANIFEST, calls, "{\"address\": \"support@example.com\"}");
}

/* The reply to the call on line n (1-based), its result. */
static json_t *result(json_t *lines, int n)
{
    json_t *l = kit_reply(lines, n), *err = json_object_get(l, "error");
    if (!l) fail_msg("no reply to line %d", n);
    if (err) fail_msg("line %d: %s", n, json_dumps(err, 0));
    return json_object_get(l, "result");
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static bool problem(json_t *r, const char *code, const char *item)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(r, "problems"), i,
                       p) if (!strcmp(str(p, "code"), code) &&
                              !strcmp(str(p, "item") ?: "", item)) return true;
    return false;
}

static void test_koi8r_cp1251_and_iso8859_5_mail_parse_inside_the_sandbox(void **state)
{
    (void)state;
    json_t *calls = json_array();
    static const char *const files[] = {"koi8r_reply.eml", "cp1251_outlook.eml", "iso8859_5.eml"};
    for (size_t i = 0; i < 3; i++) {
        char *b = b64_of_file(files[i]);
        add_parse(calls, json_pack("{s:s}", "raw_base64", b));
        free(b);
    }
    /* Greek: the runner loads no ISO-8859-7 module, so here it is unusable. */
    add_parse(calls, json_pack("{s:s}", "raw",
                               "From: =?iso-8859-7?B?wefs3vTx6fI=?= <d@example.gr>\n"
                               "To: support@example.com\nSubject: =?iso-8859-7?Q?=C3=E5=E9=DC?=\n"
                               "Content-Type: text/plain; charset=iso-8859-7\n\nhello\n"));
    /* The attachment of the Outlook mail, fetched on demand. */
    char *b = b64_of_file("cp1251_outlook.eml");
    json_array_append_new(calls, json_pack("{s:{s:s,s:{s:s,s:s}}}", "call", "action", "part",
                                           "args", "raw_base64", b, "part", "2"));
    free(b);
    json_array_append_new(calls,
                          json_pack("{s:{s:s,s:{s:s,s:s,s:s,s:s}}}", "call", "action", "compose",
                                    "args", "from", "support@example.com", "to", "ivan@example.ru",
                                    "subject", "Где мой заказ?", "text", "Заказ в пути."));
    kit_out r;
    json_t *lines = run(calls, &r);
    if (r.status != 0) fprintf(stderr, "%s\n%s\n", r.out, r.err);
    assert_int_equal(r.status, 0);
    /* Confined: the runner's record, and no violation. */
    assert_non_null(strstr(r.out, "\\\"sandbox\\\":true"));
    assert_null(strstr(r.out, "seccomp_violation"));
    assert_null(kit_find(lines, "crash", NULL, NULL));

    json_t *koi8 = result(lines, 1);
    assert_string_equal(str(koi8, "subject"), "Re: Где мой заказ?");
    assert_string_equal(str(koi8, "new_text"),
                        "Добрый день!\n\nЗаказ N 4512 так и не пришёл. Подскажите, где он сейчас?");
    assert_int_equal(json_array_size(json_object_get(koi8, "problems")), 0);
    json_t *cp = result(lines, 2);
    assert_string_equal(str(cp, "subject"), "RE: Ваш запрос");
    assert_string_equal(str(json_array_get(json_object_get(cp, "attachments"), 0), "filename"),
                        "Реквизиты.docx");
    assert_int_equal(json_array_size(json_object_get(cp, "problems")), 0);
    json_t *iso = result(lines, 3);
    assert_string_equal(str(iso, "subject"), "Посылка получена");
    assert_string_equal(str(iso, "new_text"),
                        "Здравствуйте!\nПодтверждаю получение посылки, спасибо.");
    json_t *greek = result(lines, 4);
    assert_string_equal(str(greek, "new_text"), "hello");
    /* With the minimal root (the mount namespace) no ISO-8859-7 module can
     * be loaded, not even by the constructor: reported. Where the kernel
     * refused the namespace (a reported fallback) the constructor could
     * load it, and it converts. A violation in either case fails above. */
    if (strstr(r.out, "\\\"mount\\\":true"))
        assert_true(problem(greek, "charset_unsupported", "iso-8859-7"));
    else
        assert_string_equal(str(greek, "subject"), "\u0393\u03b5\u03b9\u03ac");
    json_t *part = result(lines, 5);
    assert_int_equal(json_integer_value(json_object_get(part, "size")), 4 + 256 * 8);
    assert_string_equal(str(part, "filename"), "Реквизиты.docx");
    json_t *composed = result(lines, 6);
    assert_non_null(strstr(str(composed, "raw"), "Subject: =?"));
    json_decref(lines);
    json_decref(calls);
    kit_out_free(&r);
}

/* Every fixture (HTML reduced by libxml2, DSNs, nested parts, broken MIME)
 * parses confined: nothing on these paths opens a file after lockdown. */
static void test_every_fixture_parses_confined_without_a_violation(void **state)
{
    (void)state;
    static const char *const files[] = {
        "broken_mime.eml", "broken_truncated.eml",  "dsn_bounce.eml",        "gmail_autoreply.eml",
        "gmail_reply.eml", "html_only.eml",         "outlook_autoreply.eml", "plus_token.eml",
        "self.eml",        "thunderbird_nested.eml"};
    size_t n = sizeof(files) / sizeof(files[0]);
    json_t *calls = json_array();
    for (size_t i = 0; i < n; i++) {
        char *b = b64_of_file(files[i]);
        add_parse(calls, json_pack("{s:s}", "raw_base64", b));
        free(b);
    }
    kit_out r;
    json_t *lines = run(calls, &r);
    if (r.status != 0) fprintf(stderr, "%s\n%s\n", r.out, r.err);
    assert_int_equal(r.status, 0);
    assert_null(strstr(r.out, "seccomp_violation"));
    for (size_t i = 0; i < n; i++)
        assert_non_null(json_object_get(result(lines, (int)i + 1), "classification"));
    assert_string_equal(str(json_object_get(result(lines, 3), "classification"), "kind"), "bounce");
    assert_string_equal(str(result(lines, 6), "text_from"), "html");
    json_decref(lines);
    json_decref(calls);
    kit_out_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_fixture_parses_confined_without_a_violation,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_koi8r_cp1251_and_iso8859_5_mail_parse_inside_the_sandbox, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
