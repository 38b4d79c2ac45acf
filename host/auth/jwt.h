/*
 * jwt.h - OpenID Connect ID tokens: a provider's signing keys (a JWKS
 * document, RFC 7517) and the verification of a signed JWT (RFC 7519)
 * against them, with OpenSSL 3 doing every cryptographic step
 * (docs/adr/0045-oidc-id-tokens-with-openssl.md).
 *
 * Only RS256 (RSASSA-PKCS1-v1_5 with SHA-256, keys of 2048 to 8192 bits)
 * and ES256 (ECDSA P-256 with SHA-256) are accepted, and the algorithm a
 * token names must be the one its key is for: "none", HS256 (an HMAC
 * keyed with a public key) and every other algorithm are refused before
 * any key is used. The compact form is split and its parts decoded here
 * (base64url without padding, JSON without duplicate names); the
 * signature is checked before a claim is read.
 *
 * Claims checked: iss equal to the issuer; aud the client id or an array
 * holding it (an array of more than one needs azp); azp, when present,
 * the client id; exp, iat required, nbf when present, each with skew_s
 * of clock skew; nonce equal to the one sent (constant time); sub a
 * non-empty string.
 */
#ifndef AH_AUTH_JWT_H
#define AH_AUTH_JWT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define JWT_MAX_BYTES (16u << 10) /* a longer token is refused unread */
#define JWKS_MAX_BYTES (256u << 10)
#define JWKS_MAX_KEYS 64

typedef struct jwk_set jwk_set;

/* The signing keys of a JWKS document: RSA keys (n, e) and EC P-256 keys
 * (x, y) whose "use" is absent or "sig"; others are skipped. NULL with a
 * reason in err when the text is not a JWKS, a usable key is malformed,
 * or none is usable. */
jwk_set *jwks_parse(const char *text, size_t len, char *err, size_t errlen);
void jwks_free(jwk_set *s);
size_t jwks_count(const jwk_set *s);

typedef struct jwt_expect {
    const char *issuer;
    const char *audience; /* the client id */
    const char *nonce;
    int64_t now_s;   /* Unix seconds */
    unsigned skew_s; /* clock skew allowed on exp, iat and nbf */
} jwt_expect;

typedef enum jwt_status {
    JWT_OK = 0,
    JWT_MALFORMED,     /* not three base64url parts of JSON objects; too long */
    JWT_ALG_REFUSED,   /* none, HS256, anything but RS256/ES256; crit */
    JWT_UNKNOWN_KID,   /* no key of the set has the token's kid (fetch the set again) */
    JWT_BAD_SIGNATURE, /* the signature does not verify */
    JWT_ISSUER,
    JWT_AUDIENCE, /* aud, or azp */
    JWT_EXPIRED,
    JWT_NOT_YET, /* nbf or iat in the future */
    JWT_NONCE,
    JWT_CLAIMS, /* sub, exp or iat missing or of the wrong type */
    JWT_NOMEM,
} jwt_status;

/* "malformed", "alg_refused", ... : for logs and error codes. */
const char *jwt_status_name(jwt_status s);

/* Verify token against keys and ex: JWT_OK with *claims (a new reference),
 * or the first thing wrong with a one-line reason in err (never the
 * token). */
jwt_status jwt_verify(const char *token, const jwk_set *keys, const jwt_expect *ex, json_t **claims,
                      char *err, size_t errlen);

#endif
