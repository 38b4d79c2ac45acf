/*
 * webchat_token.c - session tokens and signed identities (webchat_token.h).
 */
#include "webchat_token.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int id_ok(const char *s, size_t n)
{
    if (n == 0 || n > WCT_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int wct_id_valid(const char *s)
{
    return s && id_ok(s, strlen(s));
}

static void mac_of(const uint8_t key[WCT_KEY_BYTES], const char *msg, size_t n,
                   uint8_t mac[crypto_auth_BYTES])
{
    crypto_auth(mac, (const unsigned char *)msg, n, key);
}

int wct_make(const uint8_t key[WCT_KEY_BYTES], const wct *t, char *out, size_t outlen)
{
    if (!wct_id_valid(t->widget) || !wct_id_valid(t->session) || t->expires_ms < 0) return -1;
    int n = snprintf(out, outlen, "v1.%s.%s.%" PRId64, t->widget, t->session, t->expires_ms);
    if (n < 0 || (size_t)n + 1 + 2 * crypto_auth_BYTES + 1 > outlen) return -1;
    uint8_t mac[crypto_auth_BYTES];
    mac_of(key, out, (size_t)n, mac);
    out[n] = '.';
    sodium_bin2hex(out + n + 1, outlen - (size_t)n - 1, mac, sizeof(mac));
    return 0;
}

/* The next '.'-separated part of [*p, end): its start and length. */
static int part(const char **p, const char *end, const char **s, size_t *n)
{
    const char *dot = memchr(*p, '.', (size_t)(end - *p));
    *s = *p;
    *n = (size_t)((dot ? dot : end) - *p);
    *p = dot ? dot + 1 : end;
    return dot != NULL;
}

wct_status wct_parse(const uint8_t key[WCT_KEY_BYTES], const char *s, size_t len, int64_t now_ms,
                     wct *out)
{
    memset(out, 0, sizeof(*out));
    if (!s || len < 4 || len > WCT_TOKEN_MAX || memcmp(s, "v1.", 3) != 0) return WCT_MALFORMED;
    const char *p = s + 3, *end = s + len, *w, *ses, *exp, *mac;
    size_t nw, ns, ne, nm;
    if (!part(&p, end, &w, &nw) || !part(&p, end, &ses, &ns) || !part(&p, end, &exp, &ne) ||
        part(&p, end, &mac, &nm))
        return WCT_MALFORMED;
    if (!id_ok(w, nw) || !id_ok(ses, ns) || ne == 0 || ne > 15 || nm != 2 * crypto_auth_BYTES)
        return WCT_MALFORMED;
    int64_t e = 0;
    for (size_t i = 0; i < ne; i++) {
        if (exp[i] < '0' || exp[i] > '9') return WCT_MALFORMED;
        e = e * 10 + (exp[i] - '0');
    }
    uint8_t got[crypto_auth_BYTES], want[crypto_auth_BYTES];
    size_t bin = 0;
    if (sodium_hex2bin(got, sizeof(got), mac, nm, NULL, &bin, NULL) != 0 || bin != sizeof(got))
        return WCT_MALFORMED;
    mac_of(key, s, (size_t)(mac - 1 - s), want);
    if (sodium_memcmp(got, want, sizeof(got)) != 0) return WCT_FORGED;
    memcpy(out->widget, w, nw);
    memcpy(out->session, ses, ns);
    out->expires_ms = e;
    return e <= now_ms ? WCT_EXPIRED : WCT_OK;
}

void wci_sign(const void *secret, size_t secret_len, const char *user_id, const char *email,
              const char *name, int64_t ts, char hex[65])
{
    crypto_auth_hmacsha256_state st;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    char tsbuf[24];
    snprintf(tsbuf, sizeof(tsbuf), "%" PRId64, ts);
    crypto_auth_hmacsha256_init(&st, secret, secret_len);
    const char *parts[] = {user_id ? user_id : "", email ? email : "", name ? name : "", tsbuf};
    for (size_t i = 0; i < 4; i++) {
        if (i) crypto_auth_hmacsha256_update(&st, (const unsigned char *)"|", 1);
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)parts[i], strlen(parts[i]));
    }
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(hex, 65, mac, sizeof(mac));
}

int wci_verify(const void *secret, size_t secret_len, const char *user_id, const char *email,
               const char *name, int64_t ts, const char *sig_hex, int64_t now_s)
{
    uint8_t got[crypto_auth_hmacsha256_BYTES], want[crypto_auth_hmacsha256_BYTES];
    size_t bin = 0;
    if (!sig_hex || strlen(sig_hex) != 64 ||
        sodium_hex2bin(got, sizeof(got), sig_hex, 64, NULL, &bin, NULL) != 0 || bin != sizeof(got))
        return -1;
    char hex[65];
    wci_sign(secret, secret_len, user_id, email, name, ts, hex);
    sodium_hex2bin(want, sizeof(want), hex, 64, NULL, &bin, NULL);
    if (sodium_memcmp(got, want, sizeof(got)) != 0) return -1;
    if (ts > now_s + WCI_SKEW_S || ts < now_s - WCI_MAX_AGE_S) return -2;
    return 0;
}
