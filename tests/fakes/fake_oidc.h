/*
 * fake_oidc.h - an OpenID provider on loopback (real HTTP through
 * fake_http, in a thread of the test process), faithful to OpenID Connect
 * Core and Discovery for the authorization-code flow with PKCE:
 *
 *   GET  /.well-known/openid-configuration   the discovery document
 *   GET  /jwks                               its signing keys (RSA and P-256)
 *   GET  /authorize?response_type=code&client_id&redirect_uri&scope&state
 *        &nonce&code_challenge&code_challenge_method=S256
 *                                            302 to redirect_uri?code&state
 *   POST /token (client_secret_basic; grant_type=authorization_code, code,
 *        redirect_uri, code_verifier: SHA-256 of it must be the challenge)
 *                                            {id_token, access_token, ...}
 *
 * Keys are generated at start with OpenSSL; fake_oidc_rotate replaces them
 * (new kids, old keys gone from the JWKS). The next ID token can be made
 * wrong on purpose (expired, another audience or issuer, a bad signature,
 * alg none, HS256 keyed with the public key, another nonce, an unknown kid).
 */
#ifndef FAKE_OIDC_H
#define FAKE_OIDC_H

#include <jansson.h>
#include <stdbool.h>

typedef enum fo_fault {
    FO_GOOD = 0,
    FO_EXPIRED,
    FO_WRONG_AUD,
    FO_WRONG_ISS,
    FO_BAD_SIG,
    FO_ALG_NONE,
    FO_HS256_PUBKEY,
    FO_WRONG_NONCE,
    FO_UNKNOWN_KID,
    FO_NOT_YET,
} fo_fault;

typedef struct fake_oidc fake_oidc;

/* A provider with one RSA and one P-256 key. http: serve (else only mint). */
fake_oidc *fake_oidc_new(const char *client_id, const char *client_secret, bool http);
void fake_oidc_free(fake_oidc *f);
const char *fake_oidc_issuer(const fake_oidc *f); /* "http://127.0.0.1:PORT" */

/* The next ID tokens: signed with alg ("RS256" or "ES256"), made wrong as
 * fault says, with extra claims (borrowed, copied; may be NULL). */
void fake_oidc_next(fake_oidc *f, const char *alg, fo_fault fault, const json_t *extra);
/* New keys with new kids; the old ones leave the JWKS. */
void fake_oidc_rotate(fake_oidc *f);
/* The JWKS document (malloc'd). */
char *fake_oidc_jwks(fake_oidc *f);
/* An ID token for nonce as fake_oidc_next set (malloc'd). */
char *fake_oidc_mint(fake_oidc *f, const char *nonce);

/* What the provider saw. */
typedef struct fo_counts {
    int discovery, jwks, authorize, token, token_refused;
    char last_token_error[64];
} fo_counts;
fo_counts fake_oidc_counts(fake_oidc *f);

#endif
