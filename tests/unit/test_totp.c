/*
 * TOTP (RFC 6238 through liboath): the RFC's published test vectors for
 * SHA-1, SHA-256 and SHA-512; a code accepted one step either side of now
 * and no further; a code refused for a step already used (replay); the
 * otpauth:// URI; recovery codes hashed, normalised, and not guessable
 * from one another.
 */
#include "auth/totp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

/* RFC 6238, Appendix B. */
static const int64_t times[] = {59, 1111111109, 1111111111, 1234567890, 2000000000, 20000000000};
static const char *const sha1[] = {"94287082", "07081804", "14050471",
                                   "89005924", "69279037", "65353130"};
static const char *const sha256[] = {"46119246", "68084774", "67062674",
                                     "91819424", "90698825", "77737706"};
static const char *const sha512[] = {"90693936", "25091201", "99943326",
                                     "93441116", "38618901", "47863826"};

static void vectors(const char *seed, totp_alg alg, const char *const *want)
{
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        char out[9];
        assert_int_equal(
            totp_code_raw((const unsigned char *)seed, strlen(seed), times[i], 8, alg, out), 0);
        assert_string_equal(out, want[i]);
    }
}

static void test_rfc6238_vectors_sha1_sha256_sha512(void **s)
{
    (void)s;
    vectors("12345678901234567890", TOTP_SHA1, sha1);
    vectors("12345678901234567890123456789012", TOTP_SHA256, sha256);
    vectors("1234567890123456789012345678901234567890123456789012345678901234", TOTP_SHA512,
            sha512);
}

/* "12345678901234567890" in base32: the same key through the secret path. */
#define RFC_B32 "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

static void test_a_code_is_checked_within_one_step_and_never_twice(void **s)
{
    (void)s;
    char code[7];
    int64_t step = 0, now = 1111111111; /* step 37037037 */
    assert_int_equal(totp_code(RFC_B32, now, code), 0);
    assert_string_equal(code, "050471"); /* the 8-digit vector's last six */
    assert_int_equal(totp_check(RFC_B32, code, now, -1, &step), 1);
    assert_int_equal(step, now / 30);
    /* The same code again, its step already used: a replay. */
    assert_int_equal(totp_check(RFC_B32, code, now, step, &step), -2);
    assert_int_equal(totp_check(RFC_B32, code, now + 29, now / 30, &step), -2);
    /* One step late is taken; two steps late is not. */
    assert_int_equal(totp_check(RFC_B32, code, now + 30, -1, &step), 1);
    assert_int_equal(totp_check(RFC_B32, code, now + 61, -1, &step), 0);
    assert_int_equal(totp_check(RFC_B32, code, now - 61, -1, &step), 0);
    /* The next step's code after this one's: fine. */
    char next[7];
    assert_int_equal(totp_code(RFC_B32, now + 30, next), 0);
    assert_int_equal(totp_check(RFC_B32, next, now + 30, now / 30, &step), 1);
    assert_int_equal(step, now / 30 + 1);
    /* Wrong, short, non-digit codes. */
    code[0] = code[0] == '9' ? '0' : (char)(code[0] + 1);
    assert_int_equal(totp_check(RFC_B32, code, now, -1, &step), 0);
    assert_int_equal(totp_check(RFC_B32, "12345", now, -1, &step), 0);
    assert_int_equal(totp_check(RFC_B32, "12a456", now, -1, &step), 0);
    assert_int_equal(totp_check("not base32!", "123456", now, -1, &step), -1);
}

static void test_secret_and_uri(void **s)
{
    (void)s;
    char a[TOTP_SECRET_B32], b[TOTP_SECRET_B32], uri[512];
    assert_int_equal(totp_secret_new(a), 0);
    assert_int_equal(totp_secret_new(b), 0);
    assert_int_equal(strlen(a), 32);
    assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), 32);
    assert_string_not_equal(a, b);
    assert_int_equal(totp_uri(RFC_B32, "agent host", "ed+1@example.com", uri, sizeof(uri)), 0);
    assert_string_equal(uri, "otpauth://totp/agent%20host%3Aed%2B1@example.com?secret=" RFC_B32
                             "&issuer=agent%20host&algorithm=SHA1&digits=6&period=30");
    assert_int_equal(totp_uri(RFC_B32, "agenthost", "ed@example.com", uri, 40), -1);
}

static void test_recovery_codes_are_hashed_and_normalised(void **s)
{
    (void)s;
    char codes[3 * TOTP_RECOVERY_LEN], hashes[3 * TOTP_HASH_HEX], h[TOTP_HASH_HEX];
    assert_int_equal(totp_recovery_new(codes, hashes, 3), 0);
    for (int i = 0; i < 3; i++) {
        const char *c = codes + i * TOTP_RECOVERY_LEN;
        assert_int_equal(strlen(c), 11);
        assert_int_equal(c[5], '-');
        assert_null(strstr(hashes + i * TOTP_HASH_HEX, c));
        assert_int_equal(totp_recovery_hash(c, h), 0);
        assert_string_equal(h, hashes + i * TOTP_HASH_HEX);
    }
    assert_string_not_equal(hashes, hashes + TOTP_HASH_HEX);
    /* Any case, without its dash: the same code. */
    char up[16];
    snprintf(up, sizeof(up), "%.5s%.5s", codes, codes + 6);
    for (char *p = up; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 32);
    assert_int_equal(totp_recovery_hash(up, h), 0);
    assert_string_equal(h, hashes);
    assert_int_equal(totp_recovery_hash("short", h), -1);
    assert_int_equal(totp_recovery_hash("abcde-fghi1", h), -1); /* 1 is no base32 */
    assert_int_equal(totp_recovery_hash("abcde-fghijk", h), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6238_vectors_sha1_sha256_sha512),
        cmocka_unit_test(test_a_code_is_checked_within_one_step_and_never_twice),
        cmocka_unit_test(test_secret_and_uri),
        cmocka_unit_test(test_recovery_codes_are_hashed_and_normalised),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
