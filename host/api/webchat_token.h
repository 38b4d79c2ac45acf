/*
 * webchat_token.h - the web chat's credentials, parsed from outside input:
 *
 * A session token "v1.<widget>.<session>.<expires ms>.<mac>": mac is
 * crypto_auth (HMAC-SHA512-256, libsodium) under a host key over
 * "v1.<widget>.<session>.<expires ms>", 64 hex digits. Whoever holds it
 * speaks as that session of that widget until it expires; nothing is
 * stored for it, so it survives restarts.
 *
 * An operator-signed identity: the site signs "user_id|email|name|ts" (ts:
 * Unix seconds) with the widget's identity secret, HMAC-SHA256, hex.
 *
 * Both parsers take any bytes (fuzzed: tests/fuzz/fuzz_webchat_token.c).
 */
#ifndef AH_API_WEBCHAT_TOKEN_H
#define AH_API_WEBCHAT_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define WCT_KEY_BYTES 32
#define WCT_ID_MAX 63       /* a widget or session id: [A-Za-z0-9_-], 1 to 63 */
#define WCT_TOKEN_MAX 256   /* a token's length, at most */
#define WCI_SKEW_S 600      /* an identity signed this far in the future is refused */
#define WCI_MAX_AGE_S 86400 /* an identity signed longer ago than this is refused */

typedef struct wct {
    char widget[WCT_ID_MAX + 1];
    char session[WCT_ID_MAX + 1];
    int64_t expires_ms;
} wct;

typedef enum wct_status {
    WCT_OK = 0,
    WCT_MALFORMED = -1, /* not a token's shape */
    WCT_FORGED = -2,    /* a shape, but not our signature */
    WCT_EXPIRED = -3,   /* ours, and past its expiry */
} wct_status;

/* Whether s is a valid widget or session id. */
int wct_id_valid(const char *s);
/* Write t's token into out (WCT_TOKEN_MAX + 1 bytes is enough): 0, or -1
 * for an invalid id or a short buffer. */
int wct_make(const uint8_t key[WCT_KEY_BYTES], const wct *t, char *out, size_t outlen);
/* Check a token (len bytes, need not be NUL-terminated) at now_ms. */
wct_status wct_parse(const uint8_t key[WCT_KEY_BYTES], const char *s, size_t len, int64_t now_ms,
                     wct *out);

/* An identity's signature: 0 when sig_hex is HMAC-SHA256(secret,
 * "user_id|email|name|ts") in hex (either case) and ts is within
 * [now - WCI_MAX_AGE_S, now + WCI_SKEW_S]; -1 when the signature does not
 * match or is not 64 hex digits, -2 when ts is out of range. email and
 * name may be NULL (empty). */
int wci_verify(const void *secret, size_t secret_len, const char *user_id, const char *email,
               const char *name, int64_t ts, const char *sig_hex, int64_t now_s);
/* The signature itself (65 bytes of hex and a NUL), for tests and docs. */
void wci_sign(const void *secret, size_t secret_len, const char *user_id, const char *email,
              const char *name, int64_t ts, char hex[65]);

#endif
