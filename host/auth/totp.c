#include "totp.h"

#include <ctype.h>
#include <liboath/oath.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool ready(void)
{
    static int done; /* 1 ok, -1 failed */
    if (!done) done = oath_init() == OATH_OK && sodium_init() >= 0 ? 1 : -1;
    return done == 1;
}

int totp_secret_new(char *out)
{
    if (!ready()) return -1;
    unsigned char key[TOTP_SECRET_BYTES];
    randombytes_buf(key, sizeof(key));
    char *b32 = NULL;
    size_t n = 0;
    int rc = oath_base32_encode((const char *)key, sizeof(key), &b32, &n);
    sodium_memzero(key, sizeof(key));
    if (rc != OATH_OK || n + 1 > TOTP_SECRET_B32) {
        free(b32);
        return -1;
    }
    memcpy(out, b32, n + 1);
    sodium_memzero(b32, n);
    free(b32);
    return 0;
}

/* Percent-encode s (RFC 3986 unreserved kept) at out[*at]; false when full. */
static bool pct(const char *s, char *out, size_t n, size_t *at)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int w = isalnum(c) || strchr("-._~@", c) ? snprintf(out + *at, n - *at, "%c", c)
                                                 : snprintf(out + *at, n - *at, "%%%02X", c);
        if (w < 0 || (size_t)w >= n - *at) return false;
        *at += (size_t)w;
    }
    return true;
}

int totp_uri(const char *secret_b32, const char *issuer, const char *account, char *out, size_t n)
{
    size_t at = 0;
    int w = snprintf(out, n, "otpauth://totp/");
    if (w < 0 || (size_t)w >= n) return -1;
    at = (size_t)w;
    if (!pct(issuer, out, n, &at) || !pct(":", out, n, &at) || !pct(account, out, n, &at))
        return -1;
    w = snprintf(out + at, n - at, "?secret=%s&issuer=", secret_b32);
    if (w < 0 || (size_t)w >= n - at) return -1;
    at += (size_t)w;
    if (!pct(issuer, out, n, &at)) return -1;
    w = snprintf(out + at, n - at, "&algorithm=SHA1&digits=%d&period=%d", TOTP_DIGITS, TOTP_STEP_S);
    return w < 0 || (size_t)w >= n - at ? -1 : 0;
}

static int alg_flags(totp_alg alg)
{
    return alg == TOTP_SHA256   ? OATH_TOTP_HMAC_SHA256
           : alg == TOTP_SHA512 ? OATH_TOTP_HMAC_SHA512
                                : 0;
}

int totp_code_raw(const unsigned char *key, size_t keylen, int64_t t, unsigned digits, totp_alg alg,
                  char *out)
{
    if (!ready() || digits < 6 || digits > 8) return -1;
    return oath_totp_generate2((const char *)key, keylen, (time_t)t, TOTP_STEP_S, 0, digits,
                               alg_flags(alg), out) == OATH_OK
               ? 0
               : -1;
}

/* The raw key of a base32 secret (freed by the caller with key_free). */
static char *key_of(const char *secret_b32, size_t *len)
{
    char *key = NULL;
    if (!ready() || !secret_b32 ||
        oath_base32_decode(secret_b32, strlen(secret_b32), &key, len) != OATH_OK)
        return NULL;
    return key;
}

static void key_free(char *key, size_t len)
{
    if (key) sodium_memzero(key, len);
    free(key);
}

int totp_code(const char *secret_b32, int64_t t, char *out)
{
    size_t len = 0;
    char *key = key_of(secret_b32, &len);
    if (!key) return -1;
    int rc = totp_code_raw((const unsigned char *)key, len, t, TOTP_DIGITS, TOTP_SHA1, out);
    key_free(key, len);
    return rc;
}

/* liboath's comparison callback: 0 on a match, in constant time. */
static int same_code(void *presented, const char *test)
{
    const char *p = presented;
    return strlen(test) == TOTP_DIGITS && sodium_memcmp(p, test, TOTP_DIGITS) == 0 ? 0 : 1;
}

int totp_check(const char *secret_b32, const char *code, int64_t now_s, int64_t last_step,
               int64_t *step)
{
    if (!code || strlen(code) != TOTP_DIGITS || strspn(code, "0123456789") != TOTP_DIGITS) return 0;
    size_t len = 0;
    char *key = key_of(secret_b32, &len);
    if (!key) return -1;
    int pos = 0;
    uint64_t counter = 0;
    char presented[TOTP_DIGITS + 1];
    memcpy(presented, code, sizeof(presented));
    int rc = oath_totp_validate4_callback(key, len, (time_t)now_s, TOTP_STEP_S, 0, TOTP_DIGITS,
                                          TOTP_WINDOW, &pos, &counter, 0, same_code, presented);
    key_free(key, len);
    if (rc < 0) return rc == OATH_INVALID_OTP ? 0 : -1;
    if ((int64_t)counter <= last_step) return -2;
    *step = (int64_t)counter;
    return 1;
}

static void hash_hex(const char *norm, char *out)
{
    unsigned char h[32];
    crypto_generichash(h, sizeof(h), (const unsigned char *)norm, strlen(norm),
                       (const unsigned char *)"agenthost-recovery/1", 20);
    sodium_bin2hex(out, TOTP_HASH_HEX, h, sizeof(h));
}

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

int totp_recovery_new(char *codes, char *hashes, size_t n)
{
    if (!ready()) return -1;
    for (size_t i = 0; i < n; i++) {
        char norm[11], *c = codes + i * TOTP_RECOVERY_LEN;
        for (int k = 0; k < 10; k++)
            norm[k] = b32[randombytes_uniform(32)];
        norm[10] = 0;
        snprintf(c, TOTP_RECOVERY_LEN, "%.5s-%.5s", norm, norm + 5);
        hash_hex(norm, hashes + i * TOTP_HASH_HEX);
        sodium_memzero(norm, sizeof(norm));
    }
    return 0;
}

int totp_recovery_hash(const char *code, char *out)
{
    if (!ready() || !code) return -1;
    char norm[11];
    size_t k = 0;
    for (const char *p = code; *p; p++) {
        if (*p == '-' || *p == ' ') continue;
        char c = (char)tolower((unsigned char)*p);
        if (k == 10 || !strchr(b32, c) || !c) return -1;
        norm[k++] = c;
    }
    if (k != 10) return -1;
    norm[10] = 0;
    hash_hex(norm, out);
    sodium_memzero(norm, sizeof(norm));
    return 0;
}
