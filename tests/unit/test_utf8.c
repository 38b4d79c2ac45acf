#include "cmocka_pre.h"

#include "core/utf8.h"

#include <stdlib.h>
#include <string.h>

#define R UTF8_REPLACEMENT

static void lossy_is(const char *in, const char *want)
{
    char *out = utf8_lossy(in, strlen(in));
    assert_non_null(out);
    assert_string_equal(out, want);
    free(out);
}

static void test_valid_text_is_left_as_it_is(void **s)
{
    (void)s;
    lossy_is("", "");
    lossy_is("plain ascii", "plain ascii");
    lossy_is("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
             "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    lossy_is("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"); /* U+10FFFF, the last code point */
}

static void test_each_invalid_byte_becomes_one_replacement_character(void **s)
{
    (void)s;
    lossy_is("\xff", R);
    lossy_is("a\xfe\xff"
             "b",
             "a" R R "b");
    lossy_is("\x80", R);        /* a stray continuation byte */
    lossy_is("ab\xc3", "ab" R); /* cut short at the end */
    lossy_is("\xc3"
             "a",
             R "a");                             /* cut short before ASCII */
    lossy_is("\xc0\xaf", R R);                   /* overlong "/" */
    lossy_is("\xe0\x80\xaf", R R R);             /* overlong, three bytes */
    lossy_is("\xed\xa0\x80", R R R);             /* a surrogate, U+D800 */
    lossy_is("\xf4\x90\x80\x80", R R R R);       /* past U+10FFFF */
    lossy_is("\xf8\x88\x80\x80\x80", R R R R R); /* five-byte forms do not exist */
}

static void test_sequence_lengths(void **s)
{
    (void)s;
    assert_int_equal(utf8_seq_len((const unsigned char *)"a", 1), 1);
    assert_int_equal(utf8_seq_len((const unsigned char *)"\xc3\xa9", 2), 2);
    assert_int_equal(utf8_seq_len((const unsigned char *)"\xc3\xa9", 1), 0);
    assert_int_equal(utf8_seq_len((const unsigned char *)"\xe2\x82\xac", 3), 3);
    assert_int_equal(utf8_seq_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
    assert_int_equal(utf8_seq_len((const unsigned char *)"", 0), 0);
}

static void test_json_strings_are_made_from_any_bytes(void **s)
{
    (void)s;
    assert_null(json_string("no \xff"));
    json_t *j = utf8_json_string("no \xff");
    assert_non_null(j);
    assert_string_equal(json_string_value(j), "no " R);
    json_decref(j);
    j = utf8_json_string("fine");
    assert_string_equal(json_string_value(j), "fine");
    json_decref(j);
    assert_null(utf8_json_string(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_text_is_left_as_it_is),
        cmocka_unit_test(test_each_invalid_byte_becomes_one_replacement_character),
        cmocka_unit_test(test_sequence_lengths),
        cmocka_unit_test(test_json_strings_are_made_from_any_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
