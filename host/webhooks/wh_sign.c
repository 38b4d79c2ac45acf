/*
 * wh_sign.c - signatures (HMAC-SHA256 over "<t>.<body>"), the sealing of
 * subscriptions' secrets, and the retries' backoff.
 */
#include "core/redact.h"
#include "webhooks/wh_priv.h"

#include <agenthost/plugin.h>

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void webhooks_signature(const char *secret, size_t secret_len, int64_t t, const char *body,
                        size_t len, char *out, size_t outlen)
{
    crypto_auth_hmacsha256_state st;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    char ts[24], hex[2 * sizeof(mac) + 1];
    int n = snprintf(ts, sizeof(ts), "%" PRId64 ".", t);
    crypto_auth_hmacsha256_init(&st, (const uint8_t *)secret, secret_len);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)ts, (size_t)n);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    snprintf(out, outlen, "t=%" PRId64 ",v1=%s", t, hex);
}

#define NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG crypto_aead_xchacha20poly1305_ietf_ABYTES

char *webhooks_seal_secret(webhooks *w, const char *id, const char *secret)
{
    if (!w || !w->has_key || !secret) return NULL;
    size_t n = strlen(secret), blen = NONCE + n + TAG;
    uint8_t *b = malloc(blen);
    size_t b64len = sodium_base64_ENCODED_LEN(blen, sodium_base64_VARIANT_ORIGINAL);
    char *out = malloc(b64len);
    if (!b || !out) {
        free(b);
        free(out);
        return NULL;
    }
    randombytes_buf(b, NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(b + NONCE, NULL, (const uint8_t *)secret, n,
                                               (const uint8_t *)id, strlen(id), NULL, b, w->key);
    sodium_bin2base64(out, b64len, b, blen, sodium_base64_VARIANT_ORIGINAL);
    free(b);
    return out;
}

char *wh_open_secret(webhooks *w, const char *id, const char *sealed, size_t *len)
{
    if (!w->has_key || !sealed) return NULL;
    size_t slen = strlen(sealed), blen = 0;
    uint8_t *b = malloc(slen);
    if (!b) return NULL;
    if (sodium_base642bin(b, slen, sealed, slen, NULL, &blen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        blen < NONCE + TAG) {
        free(b);
        return NULL;
    }
    size_t n = blen - NONCE - TAG;
    char *out = malloc(n + 1);
    unsigned long long got = 0;
    if (!out || crypto_aead_xchacha20poly1305_ietf_decrypt((uint8_t *)out, &got, NULL, b + NONCE,
                                                           blen - NONCE, (const uint8_t *)id,
                                                           strlen(id), b, w->key) != 0) {
        free(out);
        free(b);
        return NULL;
    }
    free(b);
    out[got] = 0;
    *len = (size_t)got;
    redact_add(out, *len);
    return out;
}

void wh_free_secret(char *s, size_t len)
{
    if (!s) return;
    sodium_memzero(s, len);
    free(s);
}

uint32_t wh_backoff_ms(const webhooks_opts *o, uint32_t attempt)
{
    uint64_t d = o->backoff_ms ? o->backoff_ms : 1000;
    uint64_t cap = o->max_backoff_ms ? o->max_backoff_ms : 600000;
    for (uint32_t i = 1; i < attempt && d < cap; i++)
        d *= 2;
    if (d > cap) d = cap;
    /* Full jitter over the upper half: retries of many subscribers spread. */
    uint32_t half = (uint32_t)(d / 2);
    return half + randombytes_uniform(half + 1);
}
