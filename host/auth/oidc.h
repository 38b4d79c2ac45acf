/*
 * oidc.h - the host's side of an OpenID Connect login that is not HTTP:
 * the logins under way (state, nonce and PKCE verifier, kept in memory,
 * single use, expiring), the PKCE challenge (RFC 7636, S256), and what a
 * verified ID token's claims make of a user (allowed e-mail domains, the
 * role mapped from a claim). The routes are host/api/api_oidc.c; the
 * token's signature and claims are checked by jwt.h.
 */
#ifndef AH_AUTH_OIDC_H
#define AH_AUTH_OIDC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define OIDC_RANDOM_LEN 43 /* 32 random bytes in base64url: state, nonce, verifier */
#define OIDC_PENDING_MAX 1024
#define OIDC_PENDING_TTL_MS (10 * 60 * 1000)

typedef struct oidc_pending oidc_pending;

typedef struct oidc_login {
    char state[OIDC_RANDOM_LEN + 1];
    char nonce[OIDC_RANDOM_LEN + 1];
    char verifier[OIDC_RANDOM_LEN + 1];
    char challenge[OIDC_RANDOM_LEN + 1]; /* BASE64URL(SHA-256(verifier)) */
    int64_t created_ms;
} oidc_login;

oidc_pending *oidc_pending_new(void);
void oidc_pending_free(oidc_pending *p);
/* A new login with fresh random state, nonce and verifier, kept (the
 * oldest goes when OIDC_PENDING_MAX are kept), copied into out. */
void oidc_pending_start(oidc_pending *p, int64_t now_ms, oidc_login *out);
/* Take the login of a state: true with it in out, and it is gone (a state
 * works once); false when unknown or older than OIDC_PENDING_TTL_MS. */
bool oidc_pending_take(oidc_pending *p, const char *state, int64_t now_ms, oidc_login *out);
/* The logins kept. */
size_t oidc_pending_count(const oidc_pending *p);

/* The PKCE S256 challenge of a verifier into out (OIDC_RANDOM_LEN + 1). */
void oidc_pkce_challenge(const char *verifier, char *out);

/* What a user is: from verified claims and the configuration. */
typedef struct oidc_mapping {
    const char *role_claim;    /* "roles", "realm_access.roles", "groups"; NULL: none */
    const json_t *role_map;    /* {"claim value": "role"}; the first value mapped wins */
    const char *default_role;  /* when no value maps; NULL: such a user is refused */
    const char *email_domains; /* "example.com, example.org"; NULL or "": any */
    bool require_email_verified;
} oidc_mapping;

/* The e-mail and role of the claims: 0, or -1 with the reason in err
 * (no e-mail, not verified, a domain not allowed, no role). The role's
 * order of preference is the built-in roles' order (admin first) among the
 * values that map. */
int oidc_map_user(const json_t *claims, const oidc_mapping *m, char *email, size_t email_len,
                  char *role, size_t role_len, char *err, size_t errlen);

#endif
