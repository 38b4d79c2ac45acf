#include "cmocka_pre.h"

#include "../../sdk/ipc/jsonw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ah_json_dumps must give exactly json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY). */
static void same_as_jansson(const json_t *v)
{
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t len = 0;
    char *got = ah_json_dumps(v, &len);
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_int_equal(len, strlen(want));
    assert_string_equal(got, want);
    free(want);
    free(got);
}

static void check_text(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!v) fail_msg("bad test JSON %s: %s", text, e.text);
    same_as_jansson(v);
    json_decref(v);
}

static void test_scalars_and_containers_match_jansson(void **s)
{
    (void)s;
    static const char *const cases[] = {
        "null",
        "true",
        "false",
        "0",
        "-1",
        "9223372036854775807",
        "-9223372036854775808",
        "1.5",
        "-0.0",
        "1e300",
        "3.141592653589793",
        "1e-7",
        "123456789012345678.0",
        "\"\"",
        "\"plain\"",
        "[]",
        "{}",
        "[[],{},[{}]]",
        "{\"a\":1,\"b\":[1,2,{\"c\":null}],\"d\":{\"e\":\"f\"}}",
        "{\"z\":1,\"a\":2,\"m\":3}", /* insertion order, not sorted */
        "\"quote \\\" backslash \\\\ slash / done\"",
        "\"\\b\\f\\n\\r\\t \\u0001 \\u001f \\u007f\"",
        "\"привет, 世界, 😀, \\ud83d\\ude00\"",
        "{\"ключ \\n\":\"значение\\u0000с нулём\"}",
        "\"\\u0000\"",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_text(cases[i]);
}

static void test_every_byte_value_in_a_string_matches(void **s)
{
    (void)s;
    char buf[128];
    for (int c = 0; c < 128; c++) {
        buf[0] = 'x';
        buf[1] = (char)c;
        buf[2] = 'y';
        json_t *v = json_stringn(buf, 3);
        assert_non_null(v);
        same_as_jansson(v);
        json_t *o = json_object();
        json_object_setn_new(o, buf, 3, json_true());
        same_as_jansson(o);
        json_decref(o);
        json_decref(v);
    }
}

/* Strings are scanned 16 bytes at a time (SSE2), then 8, then 1: a byte
 * to escape (every value below 0x80, and a multi-byte character) is found
 * at every offset of two blocks of 16, of the word after them and of the
 * tail. */
static void test_a_byte_to_escape_is_found_at_every_offset_of_a_word(void **s)
{
    (void)s;
    char buf[43];
    for (int c = 0; c < 128; c++)
        for (size_t at = 0; at < sizeof(buf); at++) {
            memset(buf, 'x', sizeof(buf));
            buf[at] = (char)c;
            json_t *v = json_stringn(buf, sizeof(buf));
            assert_non_null(v);
            same_as_jansson(v);
            json_decref(v);
        }
    for (size_t at = 0; at + 2 <= sizeof(buf); at++) {
        memset(buf, 'x', sizeof(buf));
        memcpy(buf + at, "\xc3\xa9", 2); /* é */
        json_t *v = json_stringn(buf, sizeof(buf));
        assert_non_null(v);
        same_as_jansson(v);
        json_decref(v);
        buf[at] = (char)0xc3; /* a lone lead byte: invalid, refused by both */
        buf[at + 1] = 'x';
        v = json_stringn_nocheck(buf, sizeof(buf));
        same_as_jansson(v);
        json_decref(v);
    }
}

/* ah_json_dumps_after leaves the prefix to the caller and writes the same
 * text after it (the bus dumps a body into its record this way). */
static void test_dump_after_a_prefix_is_the_same_text(void **s)
{
    (void)s;
    json_t *v = json_pack("{s:s,s:[i,b,n]}", "d", "\"quoted\" \u00e9t\u00e9 \n", "a", 7, 1);
    assert_non_null(v);
    size_t n = 0, m = 0;
    char *plain = ah_json_dumps(v, &n);
    for (size_t prefix = 0; prefix < 1100; prefix += 37) {
        char *t = ah_json_dumps_after(v, prefix, &m);
        assert_non_null(t);
        memset(t, 'P', prefix); /* the caller's bytes: writable, not part of the text */
        assert_int_equal(m, n);
        assert_memory_equal(t + prefix, plain, n + 1);
        free(t);
    }
    free(plain);
    json_decref(v);
}

static void test_invalid_utf8_fails_like_jansson(void **s)
{
    (void)s;
    static const char *const bad[] = {"\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                      "\xff", "a\x80",    "\xe2\x82"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *v = json_stringn_nocheck(bad[i], strlen(bad[i]));
        assert_null(json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY));
        assert_null(ah_json_dumps(v, NULL));
        json_decref(v);
    }
}

static void test_too_deep_is_refused(void **s)
{
    (void)s;
    json_t *root = json_array(), *cur = root;
    for (int i = 0; i < AH_JSONW_MAX_DEPTH + 5; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    assert_null(ah_json_dumps(root, NULL));
    json_decref(root);
}

/* Random values (seeded, so a failure repeats) of mixed types and depth. */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static json_t *random_string(void)
{
    static const char *const pieces[] = {"a",    "Z",    " ", "\"", "\\", "/", "\n", "\t", "\x01",
                                         "\x1f", "\x7f", "é", "€",  "😀",  "{", "]",  ":"};
    char buf[256];
    size_t n = 0, k = next_rand() % 24;
    for (size_t i = 0; i < k; i++) {
        const char *p = pieces[next_rand() % (sizeof(pieces) / sizeof(pieces[0]))];
        size_t l = strlen(p);
        if (n + l >= sizeof(buf)) break;
        memcpy(buf + n, p, l);
        n += l;
    }
    return json_stringn(buf, n);
}

static json_t *random_value(int depth)
{
    switch (next_rand() % (depth > 4 ? 5 : 7)) {
    case 0:
        return json_null();
    case 1:
        return json_boolean(next_rand() & 1);
    case 2:
        return json_integer((json_int_t)((int64_t)next_rand() << 20) - (json_int_t)next_rand());
    case 3:
        return json_real((double)(int32_t)next_rand() / (double)(next_rand() | 1));
    case 4:
        return random_string();
    case 5: {
        json_t *a = json_array();
        for (uint32_t i = next_rand() % 5; i > 0; i--)
            json_array_append_new(a, random_value(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (uint32_t i = next_rand() % 5; i > 0; i--) {
            json_t *k = random_string();
            json_object_setn_new(o, json_string_value(k), json_string_length(k),
                                 random_value(depth + 1));
            json_decref(k);
        }
        return o;
    }
    }
}

static void test_random_values_match_jansson(void **s)
{
    (void)s;
    for (int i = 0; i < 3000; i++) {
        json_t *v = random_value(0);
        same_as_jansson(v);
        json_decref(v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars_and_containers_match_jansson),
        cmocka_unit_test(test_every_byte_value_in_a_string_matches),
        cmocka_unit_test(test_a_byte_to_escape_is_found_at_every_offset_of_a_word),
        cmocka_unit_test(test_dump_after_a_prefix_is_the_same_text),
        cmocka_unit_test(test_invalid_utf8_fails_like_jansson),
        cmocka_unit_test(test_too_deep_is_refused),
        cmocka_unit_test(test_random_values_match_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
