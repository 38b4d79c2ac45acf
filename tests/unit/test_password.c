/*
 * Passwords: argon2id with the documented parameters, verified in constant
 * work for unknown accounts, and the policy (length, oversize, common
 * passwords, the account's own name).
 */
#include "auth/password.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

static void test_hashes_are_argon2id_with_the_documented_parameters(void **s)
{
    (void)s;
    char h[AUTH_PW_HASH_MAX];
    assert_int_equal(auth_password_hash("a-Long-enough-pass-2026", h), 0);
    assert_non_null(strstr(h, "$argon2id$v=19$m=65536,t=2,p=1$"));
    assert_true(auth_password_verify(h, "a-Long-enough-pass-2026"));
    assert_false(auth_password_verify(h, "a-Long-enough-pass-2027"));
    assert_false(auth_password_verify(h, ""));
    assert_false(auth_password_needs_rehash(h));
    /* An unknown account (no hash) is refused, whatever the password. */
    assert_false(auth_password_verify(NULL, "a-Long-enough-pass-2026"));
    char two[AUTH_PW_HASH_MAX];
    assert_int_equal(auth_password_hash("a-Long-enough-pass-2026", two), 0);
    assert_string_not_equal(h, two); /* salted */
}

static void test_oversized_passwords_are_never_hashed(void **s)
{
    (void)s;
    char big[AUTH_PW_MAX + 2], h[AUTH_PW_HASH_MAX];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    assert_int_equal(auth_password_hash(big, h), -1);
    assert_false(auth_password_verify(NULL, big));
}

static void test_the_policy_names_what_is_wrong(void **s)
{
    (void)s;
    char why[160];
    assert_int_equal(auth_password_policy("short-one", NULL, NULL, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "at least 12"));
    assert_int_equal(auth_password_policy("Password1234", NULL, NULL, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "common"));
    assert_int_equal(auth_password_policy("my-ann.smith-secret", "Ann.Smith@example.com", NULL, why,
                                          sizeof(why)),
                     -1);
    assert_non_null(strstr(why, "e-mail"));
    assert_int_equal(auth_password_policy("\xff\xfe-not-utf8-at-all", NULL, NULL, why, sizeof(why)),
                     -1);
    char big[AUTH_PW_MAX + 2];
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    assert_int_equal(auth_password_policy(big, NULL, NULL, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "128"));
    assert_int_equal(
        auth_password_policy("correct horse battery", "ann@example.com", "Ann", why, sizeof(why)),
        0);
    /* Twelve characters, not bytes: Cyrillic counts by letter. */
    assert_int_equal(auth_password_policy("пароль", NULL, NULL, why, sizeof(why)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hashes_are_argon2id_with_the_documented_parameters),
        cmocka_unit_test(test_oversized_passwords_are_never_hashed),
        cmocka_unit_test(test_the_policy_names_what_is_wrong),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
