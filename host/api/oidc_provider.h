/*
 * oidc_provider.h - the host's client of its OpenID provider, through the
 * egress broker like every request that leaves the host: the discovery
 * document ({issuer}/.well-known/openid-configuration, kept cache_ttl_s),
 * the signing keys (jwks_uri, kept cache_ttl_s, fetched again for a kid
 * they lack at most once per jwks_min_refetch_s: key rotation without
 * letting forged kids make the host hammer the provider: a fetch for an
 * unknown kid comes at most once per jwks_min_refetch_s), and the token
 * request (client_secret_basic, never retried: a code works once).
 *
 * The broker's allowlist for these requests is the issuer's origin, and
 * once discovery has named them, the token endpoint's and the JWKS's
 * origins; private and loopback addresses only with oidc.allow_private.
 * Every callback runs exactly once, on the loop, unless the host stops
 * first (then the request is dropped and done runs with err "stopping").
 */
#ifndef AH_API_OIDC_PROVIDER_H
#define AH_API_OIDC_PROVIDER_H

#include "auth/jwt.h"
#include "api.h"

#include <jansson.h>
#include <stdbool.h>

typedef struct oidc_provider oidc_provider;

/* The options hold together: 0, or -1 with the option at fault in err
 * (client_id or redirect_uri missing with an issuer, a URL not https
 * without insecure_http, a role_map value that is no role, scopes
 * without openid). No issuer: 0. */
int oidc_opts_check(const api_oidc_opts *o, char *err, size_t errlen);

/* 0, or AH_EINVAL with the option at fault in err (no issuer, not https
 * without oidc.insecure_http, ...). */
int oidc_provider_new(oidc_provider **out, broker *b, const api_oidc_opts *o, char *err,
                      size_t errlen);
/* The owner lets go: freed once the last request has ended. */
void oidc_provider_release(oidc_provider *p);

/* The discovery document (borrowed for the call) or NULL with err. */
typedef void (*oidc_doc_fn)(void *ud, const json_t *doc, const char *err);
void oidc_provider_discover(oidc_provider *p, const char *request_id, oidc_doc_fn done, void *ud);

/* The signing keys (borrowed for the call) or NULL with err. refetch: the
 * cached keys lack a token's kid (honoured at most once per
 * jwks_min_refetch_s, logged when not; then the cached keys come back). */
typedef void (*oidc_keys_fn)(void *ud, const jwk_set *keys, const char *err);
void oidc_provider_keys(oidc_provider *p, bool refetch, const char *request_id, oidc_keys_fn done,
                        void *ud);

/* POST the code to the token endpoint: its JSON answer (borrowed), or NULL
 * with err (transport, a non-2xx answer with the provider's "error"). */
void oidc_provider_token(oidc_provider *p, const char *code, const char *verifier,
                         const char *client_secret, const char *request_id, oidc_doc_fn done,
                         void *ud);

#endif
