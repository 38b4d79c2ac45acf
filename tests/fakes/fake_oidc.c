/* fake_oidc.c - see fake_oidc.h. */
#include "fake_oidc.h"

#include "fake_http.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CODES 64

typedef struct fo_code {
    char code[48], nonce[128], challenge[64], redirect[256];
    bool used;
} fo_code;

struct fake_oidc {
    pthread_mutex_t mu;
    fh_thread *th;
    char issuer[64], client_id[64], client_secret[128];
    EVP_PKEY *rsa, *ec;
    char rsa_kid[32], ec_kid[32];
    int generation;
    char alg[8];
    fo_fault fault;
    json_t *extra;
    fo_code codes[CODES];
    int ncodes;
    fo_counts counts;
};

static void b64url(const unsigned char *b, size_t n, char *out, size_t cap)
{
    sodium_bin2base64(out, cap, b, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static json_t *bn_member(EVP_PKEY *k, const char *param, size_t pad)
{
    BIGNUM *bn = NULL;
    EVP_PKEY_get_bn_param(k, param, &bn);
    unsigned char buf[1024];
    int n = pad ? BN_bn2binpad(bn, buf, (int)pad) : BN_bn2bin(bn, buf);
    BN_free(bn);
    char s[1500];
    b64url(buf, (size_t)n, s, sizeof(s));
    return json_string(s);
}

static void new_keys(fake_oidc *f)
{
    EVP_PKEY_free(f->rsa);
    EVP_PKEY_free(f->ec);
    f->rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    f->ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    f->generation++;
    snprintf(f->rsa_kid, sizeof(f->rsa_kid), "rsa-%d", f->generation);
    snprintf(f->ec_kid, sizeof(f->ec_kid), "ec-%d", f->generation);
}

char *fake_oidc_jwks(fake_oidc *f)
{
    pthread_mutex_lock(&f->mu);
    json_t *r = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o}", "kty", "RSA", "use", "sig", "alg", "RS256",
                          "kid", f->rsa_kid, "n", bn_member(f->rsa, OSSL_PKEY_PARAM_RSA_N, 0), "e",
                          bn_member(f->rsa, OSSL_PKEY_PARAM_RSA_E, 0));
    json_t *e =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o}", "kty", "EC", "use", "sig", "alg", "ES256", "crv",
                  "P-256", "kid", f->ec_kid, "x", bn_member(f->ec, OSSL_PKEY_PARAM_EC_PUB_X, 32),
                  "y", bn_member(f->ec, OSSL_PKEY_PARAM_EC_PUB_Y, 32));
    pthread_mutex_unlock(&f->mu);
    json_t *doc = json_pack("{s:[o,o]}", "keys", r, e);
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return s;
}

/* Sign data with k (SHA-256): the JWS signature bytes (ES256: r || s). */
static size_t sign(EVP_PKEY *k, bool ec, const char *data, unsigned char *out)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    unsigned char der[1024];
    size_t dl = sizeof(der);
    EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, k);
    EVP_DigestSign(m, der, &dl, (const unsigned char *)data, strlen(data));
    EVP_MD_CTX_free(m);
    if (!ec) {
        memcpy(out, der, dl);
        return dl;
    }
    const unsigned char *p = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)dl);
    BN_bn2binpad(ECDSA_SIG_get0_r(s), out, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(s), out + 32, 32);
    ECDSA_SIG_free(s);
    return 64;
}

static char *part(const json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    size_t cap = strlen(s) * 4 / 3 + 8;
    char *b = malloc(cap);
    b64url((const unsigned char *)s, strlen(s), b, cap);
    free(s);
    return b;
}

static char *mint_locked(fake_oidc *f, const char *nonce)
{
    bool ec = !strcmp(f->alg, "ES256");
    long long now = (long long)time(NULL);
    const char *alg = f->fault == FO_ALG_NONE       ? "none"
                      : f->fault == FO_HS256_PUBKEY ? "HS256"
                                                    : f->alg;
    const char *kid = f->fault == FO_UNKNOWN_KID ? "no-such-key" : ec ? f->ec_kid : f->rsa_kid;
    json_t *h = json_pack("{s:s,s:s,s:s}", "alg", alg, "typ", "JWT", "kid", kid);
    json_t *c =
        json_pack("{s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:b}", "iss",
                  f->fault == FO_WRONG_ISS ? "https://evil.example" : f->issuer, "sub", "user-42",
                  "aud", f->fault == FO_WRONG_AUD ? "another-client" : f->client_id, "exp",
                  f->fault == FO_EXPIRED ? now - 3600 : now + 300, "iat",
                  f->fault == FO_NOT_YET ? now + 3600 : now, "nonce",
                  f->fault == FO_WRONG_NONCE ? "not-the-nonce" : nonce, "email",
                  "sso.user@example.com", "email_verified", 1);
    if (f->extra) json_object_update(c, f->extra);
    char *hp = part(h), *cp = part(c);
    json_decref(h);
    json_decref(c);
    size_t n = strlen(hp) + strlen(cp) + 2;
    char *input = malloc(n);
    snprintf(input, n, "%s.%s", hp, cp);
    free(hp);
    free(cp);
    unsigned char sig[1024];
    size_t sl = 0;
    if (f->fault == FO_HS256_PUBKEY) { /* the key confusion attack: HMAC keyed with the PEM */
        BIO *bio = BIO_new(BIO_s_mem());
        PEM_write_bio_PUBKEY(bio, f->rsa);
        char *pem = NULL;
        long pl = BIO_get_mem_data(bio, &pem);
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, (const unsigned char *)pem, (size_t)pl);
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)input, strlen(input));
        crypto_auth_hmacsha256_final(&st, sig);
        sl = crypto_auth_hmacsha256_BYTES;
        BIO_free(bio);
    } else if (f->fault != FO_ALG_NONE) {
        sl = sign(ec ? f->ec : f->rsa, ec, input, sig);
        if (f->fault == FO_BAD_SIG) sig[sl / 2] ^= 0x01;
    }
    char s64[1500] = "";
    if (sl) b64url(sig, sl, s64, sizeof(s64));
    n = strlen(input) + strlen(s64) + 2;
    char *tok = malloc(n);
    snprintf(tok, n, "%s.%s", input, s64);
    free(input);
    return tok;
}

char *fake_oidc_mint(fake_oidc *f, const char *nonce)
{
    pthread_mutex_lock(&f->mu);
    char *t = mint_locked(f, nonce);
    pthread_mutex_unlock(&f->mu);
    return t;
}

void fake_oidc_next(fake_oidc *f, const char *alg, fo_fault fault, const json_t *extra)
{
    pthread_mutex_lock(&f->mu);
    snprintf(f->alg, sizeof(f->alg), "%s", alg);
    f->fault = fault;
    json_decref(f->extra);
    f->extra = extra ? json_deep_copy(extra) : NULL;
    pthread_mutex_unlock(&f->mu);
}

void fake_oidc_rotate(fake_oidc *f)
{
    pthread_mutex_lock(&f->mu);
    new_keys(f);
    pthread_mutex_unlock(&f->mu);
}

fo_counts fake_oidc_counts(fake_oidc *f)
{
    pthread_mutex_lock(&f->mu);
    fo_counts c = f->counts;
    pthread_mutex_unlock(&f->mu);
    return c;
}

/* ---- HTTP ---------------------------------------------------------------------------- */

/* The percent-decoded value of name in a form or query string, into buf. */
static const char *param(const char *q, size_t qlen, const char *name, char *buf, size_t len)
{
    size_t n = strlen(name);
    for (const char *p = q, *end = q + qlen; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - p) > n && !strncmp(p, name, n) && p[n] == '=') {
            size_t o = 0;
            for (const char *v = p + n + 1; v < stop && o + 1 < len; v++) {
                unsigned hex;
                if (*v == '%' && stop - v >= 3 && sscanf(v + 1, "%2x", &hex) == 1) {
                    buf[o++] = (char)hex;
                    v += 2;
                } else
                    buf[o++] = *v == '+' ? ' ' : *v;
            }
            buf[o] = 0;
            return buf;
        }
        p = stop + 1;
    }
    return NULL;
}

static void json_answer(fh_conn *c, int status, json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);
    fh_respond(c, status, "application/json", "Cache-Control: no-store\r\n", s, strlen(s));
    free(s);
    json_decref(v);
}

static void token_error(fake_oidc *f, fh_conn *c, int status, const char *err)
{
    f->counts.token_refused++;
    snprintf(f->counts.last_token_error, sizeof(f->counts.last_token_error), "%s", err);
    json_answer(c, status, json_pack("{s:s}", "error", err));
}

/* client_secret_basic: "Basic base64(id:secret)". */
static bool client_ok(fake_oidc *f, const fh_req *r)
{
    const char *a = json_string_value(json_object_get(r->headers, "authorization"));
    if (!a || strncmp(a, "Basic ", 6)) return false;
    char want[256], b64[400];
    snprintf(want, sizeof(want), "%s:%s", f->client_id, f->client_secret);
    sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)want, strlen(want),
                      sodium_base64_VARIANT_ORIGINAL);
    return !strcmp(a + 6, b64);
}

static void on_token(fake_oidc *f, fh_conn *c, const fh_req *r)
{
    char gt[64], code[64], redirect[256], verifier[256], chal[64];
    f->counts.token++;
    if (!client_ok(f, r)) return token_error(f, c, 401, "invalid_client");
    if (!param(r->body, r->body_len, "grant_type", gt, sizeof(gt)) ||
        strcmp(gt, "authorization_code"))
        return token_error(f, c, 400, "unsupported_grant_type");
    if (!param(r->body, r->body_len, "code", code, sizeof(code)) ||
        !param(r->body, r->body_len, "redirect_uri", redirect, sizeof(redirect)))
        return token_error(f, c, 400, "invalid_request");
    fo_code *k = NULL;
    for (int i = 0; i < f->ncodes; i++)
        if (!strcmp(f->codes[i].code, code)) k = &f->codes[i];
    if (!k || k->used || strcmp(k->redirect, redirect))
        return token_error(f, c, 400, "invalid_grant");
    k->used = true; /* a code works once */
    if (!param(r->body, r->body_len, "code_verifier", verifier, sizeof(verifier)))
        return token_error(f, c, 400, "invalid_grant");
    unsigned char h[32];
    crypto_hash_sha256(h, (const unsigned char *)verifier, strlen(verifier));
    b64url(h, sizeof(h), chal, sizeof(chal));
    if (strcmp(chal, k->challenge)) return token_error(f, c, 400, "invalid_grant");
    char *idt = mint_locked(f, k->nonce);
    json_answer(c, 200,
                json_pack("{s:s,s:s,s:i,s:s}", "access_token", "fake-access-token", "token_type",
                          "Bearer", "expires_in", 300, "id_token", idt));
    free(idt);
}

static void on_authorize(fake_oidc *f, fh_conn *c, const fh_req *r)
{
    char rt[32], cid[64], redirect[256], scope[256], state[128], nonce[128], chal[64], m[16];
    const char *q = r->query;
    size_t ql = strlen(q);
    f->counts.authorize++;
    if (!param(q, ql, "response_type", rt, sizeof(rt)) || strcmp(rt, "code") ||
        !param(q, ql, "client_id", cid, sizeof(cid)) || strcmp(cid, f->client_id) ||
        !param(q, ql, "redirect_uri", redirect, sizeof(redirect)) ||
        !param(q, ql, "scope", scope, sizeof(scope)) || !strstr(scope, "openid") ||
        !param(q, ql, "state", state, sizeof(state)) ||
        !param(q, ql, "nonce", nonce, sizeof(nonce)) ||
        !param(q, ql, "code_challenge", chal, sizeof(chal)) ||
        !param(q, ql, "code_challenge_method", m, sizeof(m)) || strcmp(m, "S256")) {
        json_answer(c, 400, json_pack("{s:s}", "error", "invalid_request"));
        return;
    }
    fo_code *k = &f->codes[f->ncodes++ % CODES];
    if (f->ncodes >= CODES) f->ncodes = CODES;
    unsigned char rnd[16];
    randombytes_buf(rnd, sizeof(rnd));
    b64url(rnd, sizeof(rnd), k->code, sizeof(k->code));
    snprintf(k->nonce, sizeof(k->nonce), "%s", nonce);
    snprintf(k->challenge, sizeof(k->challenge), "%s", chal);
    snprintf(k->redirect, sizeof(k->redirect), "%s", redirect);
    k->used = false;
    char loc[1024];
    snprintf(loc, sizeof(loc), "Location: %s?code=%s&state=%s\r\n", redirect, k->code, state);
    fh_respond(c, 302, "text/plain", loc, "", 0);
}

static void handle(void *ud, fh_conn *c, const fh_req *r)
{
    fake_oidc *f = ud;
    pthread_mutex_lock(&f->mu);
    if (!strcmp(r->path, "/.well-known/openid-configuration")) {
        f->counts.discovery++;
        char a[128], t[128], j[128];
        snprintf(a, sizeof(a), "%s/authorize", f->issuer);
        snprintf(t, sizeof(t), "%s/token", f->issuer);
        snprintf(j, sizeof(j), "%s/jwks", f->issuer);
        json_answer(c, 200,
                    json_pack("{s:s,s:s,s:s,s:s,s:[s],s:[s],s:[s,s],s:[s],s:[s],s:[s,s,s]}",
                              "issuer", f->issuer, "authorization_endpoint", a, "token_endpoint", t,
                              "jwks_uri", j, "response_types_supported", "code",
                              "subject_types_supported", "public",
                              "id_token_signing_alg_values_supported", "RS256", "ES256",
                              "code_challenge_methods_supported", "S256",
                              "token_endpoint_auth_methods_supported", "client_secret_basic",
                              "scopes_supported", "openid", "email", "profile"));
    } else if (!strcmp(r->path, "/jwks")) {
        f->counts.jwks++;
        pthread_mutex_unlock(&f->mu);
        char *s = fake_oidc_jwks(f);
        fh_respond(c, 200, "application/json", NULL, s, strlen(s));
        free(s);
        return;
    } else if (!strcmp(r->path, "/authorize") && !strcmp(r->method, "GET")) {
        on_authorize(f, c, r);
    } else if (!strcmp(r->path, "/token") && !strcmp(r->method, "POST")) {
        on_token(f, c, r);
    } else {
        json_answer(c, 404, json_pack("{s:s}", "error", "not_found"));
    }
    pthread_mutex_unlock(&f->mu);
}

fake_oidc *fake_oidc_new(const char *client_id, const char *client_secret, bool http)
{
    fake_oidc *f = calloc(1, sizeof(*f));
    if (!f || sodium_init() < 0) return NULL;
    pthread_mutex_init(&f->mu, NULL);
    snprintf(f->client_id, sizeof(f->client_id), "%s", client_id);
    snprintf(f->client_secret, sizeof(f->client_secret), "%s", client_secret);
    snprintf(f->alg, sizeof(f->alg), "RS256");
    snprintf(f->issuer, sizeof(f->issuer), "http://127.0.0.1:0");
    new_keys(f);
    if (!f->rsa || !f->ec) {
        fake_oidc_free(f);
        return NULL;
    }
    if (http) {
        if (fh_thread_start(&f->th, handle, f)) {
            fake_oidc_free(f);
            return NULL;
        }
        snprintf(f->issuer, sizeof(f->issuer), "http://127.0.0.1:%d", fh_thread_port(f->th));
    }
    return f;
}

const char *fake_oidc_issuer(const fake_oidc *f)
{
    return f->issuer;
}

void fake_oidc_free(fake_oidc *f)
{
    if (!f) return;
    if (f->th) fh_thread_stop(f->th);
    EVP_PKEY_free(f->rsa);
    EVP_PKEY_free(f->ec);
    json_decref(f->extra);
    pthread_mutex_destroy(&f->mu);
    free(f);
}
