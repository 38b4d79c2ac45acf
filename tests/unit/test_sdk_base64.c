/*
 * test_sdk_base64.c - the SDK's base64 for plugins (agenthost/base64.h):
 * round trips, what senders write (URL-safe, line breaks, no padding), and
 * hostile text refused as not base64 or as too large, with nothing handed
 * back.
 */
#include "cmocka_pre.h"

#include <agenthost/base64.h>
#include <agenthost/plugin.h>
#include <stdlib.h>
#include <string.h>

/* Decode s (NUL-terminated) within max: the code; the bytes, if any, in
 * *out (NULL-checked against the code). */
static int dec(const char *s, size_t max, unsigned char **out, size_t *len)
{
    int rc = ah_base64_decode(s, strlen(s), max, out, len);
    if (rc != AH_OK) {
        assert_null(*out);
        assert_int_equal(*len, 0);
    }
    return rc;
}

static void expect_bytes(const char *s, const char *want)
{
    unsigned char *o = NULL;
    size_t len = 99, size = 99;
    assert_int_equal(dec(s, 1 << 20, &o, &len), AH_OK);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(o, want, len);
    assert_int_equal(o[len], 0);
    assert_int_equal(ah_base64_size(s, strlen(s), &size), AH_OK);
    assert_int_equal(size, len);
    free(o);
}

static void expect_not_base64(const char *s, size_t n)
{
    unsigned char *o = (unsigned char *)"x";
    size_t len = 99, size = 99;
    assert_int_equal(ah_base64_decode(s, n, 1 << 20, &o, &len), AH_EINVAL);
    assert_null(o);
    assert_int_equal(len, 0);
    assert_int_equal(ah_base64_size(s, n, &size), AH_EINVAL);
}

static void every_length_round_trips_and_the_rfc_vectors_hold(void **s)
{
    (void)s;
    unsigned char data[300];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 31 + 7);
    for (size_t n = 0; n < sizeof(data); n++) {
        char *e = ah_base64_encode(data, n);
        assert_non_null(e);
        assert_int_equal(strlen(e), (n + 2) / 3 * 4);
        unsigned char *d = NULL;
        size_t m = 0;
        assert_int_equal(dec(e, n, &d, &m), AH_OK);
        assert_int_equal(m, n);
        assert_memory_equal(d, data, n);
        free(e);
        free(d);
    }
    /* RFC 4648, section 10. */
    const char *v[][2] = {{"", ""},
                          {"f", "Zg=="},
                          {"fo", "Zm8="},
                          {"foo", "Zm9v"},
                          {"foob", "Zm9vYg=="},
                          {"fooba", "Zm9vYmE="},
                          {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char *e = ah_base64_encode(v[i][0], strlen(v[i][0]));
        assert_string_equal(e, v[i][1]);
        free(e);
        expect_bytes(v[i][1], v[i][0]);
    }
}

static void url_safe_letters_line_breaks_and_missing_padding_are_taken(void **s)
{
    (void)s;
    expect_bytes("Zm9vYg", "foob");           /* no padding */
    expect_bytes("Zm9vYmE", "fooba");         /* no padding */
    expect_bytes("Zm9v\r\nYmFy\n", "foobar"); /* MIME line breaks */
    expect_bytes(" Zm9v\tYmE= \n", "fooba");  /* white space around */
    expect_bytes("Zm9vYg=\n=", "foob");       /* a break inside the padding */
    expect_bytes("-_-_", "\xfb\xff\xbf");     /* URL-safe */
    expect_bytes("+/+/", "\xfb\xff\xbf");     /* standard */
}

static void characters_outside_the_alphabets_are_not_base64(void **s)
{
    (void)s;
    expect_not_base64("Zm9v!mFy", 8);
    expect_not_base64("Zm9v.mFy", 8);
    expect_not_base64("Zm9v\0mFy", 8);      /* a NUL inside the text */
    expect_not_base64("Zm9v\xc3\xa9mF", 8); /* not ASCII */
    expect_not_base64("Zm9v\vYmFy", 9);     /* white space it does not skip */
}

static void padding_that_does_not_end_the_last_group_is_not_base64(void **s)
{
    (void)s;
    expect_not_base64("Zm9vYg=", 7);   /* one '=' where two are due */
    expect_not_base64("Zm9vYmE==", 9); /* two where one is */
    expect_not_base64("Zm9v=", 5);     /* padding after a whole group */
    expect_not_base64("Zm9vYg===", 9); /* three */
    expect_not_base64("Zg==Zg==", 8);  /* data after padding */
    expect_not_base64("Zm9vY", 5);     /* a lone last character: no byte */
    expect_not_base64("Zm9vY===", 8);  /* ... padded */
    expect_not_base64("=", 1);
    expect_not_base64("==", 2);
    expect_not_base64("Zm9v====", 8); /* a whole group of padding */
    expect_not_base64("====", 4);
}

static void text_decoding_past_max_is_too_large_and_max_itself_is_taken(void **s)
{
    (void)s;
    unsigned char *o = NULL;
    size_t len = 0;
    assert_int_equal(dec("Zm9vYmFy", 5, &o, &len), AH_ETOOBIG);
    assert_int_equal(dec("Zm9vYmFy", 6, &o, &len), AH_OK);
    assert_int_equal(len, 6);
    free(o);
    o = NULL;
    /* 12 MiB of text for 9 MiB of bytes, against a limit of 1 KiB. */
    size_t n = 12u << 20;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'A', n);
    big[n] = 0;
    size_t size = 0;
    assert_int_equal(ah_base64_size(big, n, &size), AH_OK);
    assert_int_equal(size, (size_t)9 << 20);
    assert_int_equal(dec(big, 1024, &o, &len), AH_ETOOBIG);
    /* The same with one bad character at its end is not base64 at all. */
    big[n - 1] = '*';
    assert_int_equal(dec(big, 1024, &o, &len), AH_EINVAL);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_length_round_trips_and_the_rfc_vectors_hold),
        cmocka_unit_test(url_safe_letters_line_breaks_and_missing_padding_are_taken),
        cmocka_unit_test(characters_outside_the_alphabets_are_not_base64),
        cmocka_unit_test(padding_that_does_not_end_the_last_group_is_not_base64),
        cmocka_unit_test(text_decoding_past_max_is_too_large_and_max_itself_is_taken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
