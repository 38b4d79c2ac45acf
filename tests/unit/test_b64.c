#include "cmocka_pre.h"

#include "../../sdk/ipc/b64.h"

#include <stdlib.h>
#include <string.h>

static void test_base64_round_trips_every_length(void **s)
{
    (void)s;
    unsigned char data[300];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 31 + 7);
    for (size_t n = 0; n < sizeof(data); n++) {
        char *e = ah_b64_encode(data, n);
        size_t m;
        unsigned char *d = ah_b64_decode(e, &m);
        assert_non_null(d);
        assert_int_equal(m, n);
        assert_memory_equal(d, data, n);
        free(e);
        free(d);
    }
    char *e = ah_b64_encode("foobar", 6);
    assert_string_equal(e, "Zm9vYmFy");
    free(e);
}

static void test_base64_refuses_garbage(void **s)
{
    (void)s;
    size_t m;
    assert_null(ah_b64_decode("abc", &m));
    assert_null(ah_b64_decode("ab!d", &m));
    assert_null(ah_b64_decode("a=bc", &m));
    assert_null(ah_b64_decode("ab==abcd", &m));
}

static void test_utf8_validation(void **s)
{
    (void)s;
    assert_true(ah_utf8_valid("привет", strlen("привет")));
    assert_false(ah_utf8_valid("\xff", 1));
    assert_false(ah_utf8_valid("\xc0\xaf", 2)); /* overlong */
    assert_false(ah_utf8_valid("a\0b", 3));
    assert_false(ah_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_round_trips_every_length),
        cmocka_unit_test(test_base64_refuses_garbage),
        cmocka_unit_test(test_utf8_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
