#include "jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KID_MAX 128

typedef struct jwk {
    char kid[KID_MAX + 1]; /* "" when the key has none */
    bool ec;               /* P-256, else RSA */
    EVP_PKEY *pkey;
} jwk;

struct jwk_set {
    jwk v[JWKS_MAX_KEYS];
    size_t n;
};

/* base64url without padding into a new buffer: 0 with *out, *len; -1. */
static int b64url(const char *s, size_t slen, unsigned char **out, size_t *len)
{
    size_t cap = slen * 3 / 4 + 3;
    unsigned char *b = malloc(cap);
    const char *end = NULL;
    if (!b) return -1;
    if (sodium_base642bin(b, cap, s, slen, NULL, len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != s + slen) {
        free(b);
        return -1;
    }
    *out = b;
    return 0;
}

/* A member holding base64url bytes: 0 with *out (free it), *len. */
static int member_bytes(const json_t *o, const char *name, unsigned char **out, size_t *len)
{
    const char *s = json_string_value(json_object_get(o, name));
    if (!s || !*s) return -1;
    return b64url(s, strlen(s), out, len);
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    if (!pkey) return NULL;
    /* The point is on the curve, the modulus and exponent are sane. */
    EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    int ok = chk && EVP_PKEY_public_check(chk) == 1;
    EVP_PKEY_CTX_free(chk);
    if (!ok) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    return pkey;
}

static EVP_PKEY *rsa_key(const json_t *k, const char **why)
{
    unsigned char *n = NULL, *e = NULL;
    size_t nl = 0, el = 0;
    EVP_PKEY *pkey = NULL;
    *why = "an RSA key needs n and e in base64url";
    if (member_bytes(k, "n", &n, &nl) || member_bytes(k, "e", &e, &el)) goto out;
    *why = "an RSA key of 2048 to 8192 bits (and an exponent of at most 8 bytes) is required";
    while (nl && !n[0]) { /* leading zero bytes do not count */
        memmove(n, n + 1, --nl);
    }
    if (nl < 256 || nl > 1024 || el < 1 || el > 8) goto out;
    BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
        pkey = from_params("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    *why = "the RSA key does not load";
out:
    free(n);
    free(e);
    return pkey;
}

static EVP_PKEY *ec_key(const json_t *k, const char **why)
{
    unsigned char *x = NULL, *y = NULL, pt[65];
    size_t xl = 0, yl = 0;
    EVP_PKEY *pkey = NULL;
    *why = "an EC key must be on P-256 (crv) with x and y of 32 bytes each";
    const char *crv = json_string_value(json_object_get(k, "crv"));
    if (!crv || strcmp(crv, "P-256") || member_bytes(k, "x", &x, &xl) ||
        member_bytes(k, "y", &y, &yl) || xl != 32 || yl != 32)
        goto out;
    pt[0] = 0x04; /* uncompressed point */
    memcpy(pt + 1, x, 32);
    memcpy(pt + 33, y, 32);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt)))
        pkey = from_params("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    *why = "the EC key is not a point on P-256";
out:
    free(x);
    free(y);
    return pkey;
}

void jwks_free(jwk_set *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++)
        EVP_PKEY_free(s->v[i].pkey);
    free(s);
}

size_t jwks_count(const jwk_set *s)
{
    return s ? s->n : 0;
}

jwk_set *jwks_parse(const char *text, size_t len, char *err, size_t errlen)
{
    if (len > JWKS_MAX_BYTES) {
        snprintf(err, errlen, "the JWKS is longer than %u bytes", JWKS_MAX_BYTES);
        return NULL;
    }
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *keys = json_object_get(doc, "keys");
    jwk_set *s = NULL;
    if (!json_is_array(keys)) {
        snprintf(err, errlen, "not a JWKS: no keys array");
        goto out;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        const char *kty = json_string_value(json_object_get(k, "kty"));
        const char *use = json_string_value(json_object_get(k, "use"));
        const json_t *kidv = json_object_get(k, "kid");
        const char *kid = json_string_value(kidv);
        if (!kty || (use && strcmp(use, "sig"))) continue;
        bool ec = !strcmp(kty, "EC");
        if (!ec && strcmp(kty, "RSA")) continue;
        if (s->n == JWKS_MAX_KEYS) {
            snprintf(err, errlen, "the JWKS holds more than %d signing keys", JWKS_MAX_KEYS);
            goto bad;
        }
        if ((kidv && !kid) || (kid && strlen(kid) > KID_MAX)) {
            snprintf(err, errlen, "keys[%zu].kid: a string of at most %d bytes", i, KID_MAX);
            goto bad;
        }
        const char *why = NULL;
        EVP_PKEY *pkey = ec ? ec_key(k, &why) : rsa_key(k, &why);
        if (!pkey) {
            snprintf(err, errlen, "keys[%zu]: %s", i, why);
            goto bad;
        }
        jwk *j = &s->v[s->n++];
        snprintf(j->kid, sizeof(j->kid), "%s", kid ? kid : "");
        j->ec = ec;
        j->pkey = pkey;
    }
    if (s->n) goto out;
    snprintf(err, errlen, "the JWKS holds no RSA or P-256 signing key");
bad:
    jwks_free(s);
    s = NULL;
out:
    json_decref(doc);
    return s;
}

const char *jwt_status_name(jwt_status s)
{
    static const char *const names[] = {
        "ok",           "malformed",      "alg_refused", "unknown_kid",   "bad_signature",
        "wrong_issuer", "wrong_audience", "expired",     "not_yet_valid", "wrong_nonce",
        "bad_claims",   "no_memory"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

/* A JWS signature over data with key k: true when it verifies. ES256's
 * signature is r || s (32 bytes each), which OpenSSL takes as DER. */
static bool verify_sig(const jwk *k, const unsigned char *data, size_t dlen,
                       const unsigned char *sig, size_t slen)
{
    unsigned char *der = NULL;
    int derlen = 0;
    if (k->ec) {
        if (slen != 64) return false;
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
        if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
            BN_free(r);
            BN_free(s);
            ECDSA_SIG_free(es);
            return false;
        }
        derlen = i2d_ECDSA_SIG(es, &der);
        ECDSA_SIG_free(es);
        if (derlen <= 0) return false;
        sig = der;
        slen = (size_t)derlen;
    }
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    bool ok = m && EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
              EVP_DigestVerify(m, sig, slen, data, dlen) == 1;
    EVP_MD_CTX_free(m);
    OPENSSL_free(der);
    return ok;
}

/* A part of the compact form as a JSON object (a new reference) or NULL. */
static json_t *part_json(const char *s, size_t len)
{
    unsigned char *b = NULL;
    size_t bl = 0;
    if (b64url(s, len, &b, &bl)) return NULL;
    json_t *o = json_loadb((const char *)b, bl, JSON_REJECT_DUPLICATES, NULL);
    free(b);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static bool aud_has(const json_t *aud, const char *want, size_t *n)
{
    if (json_is_string(aud)) {
        *n = 1;
        return !strcmp(json_string_value(aud), want);
    }
    *n = json_array_size(aud);
    size_t i;
    const json_t *v;
    json_array_foreach(aud, i, v)
    {
        if (json_is_string(v) && !strcmp(json_string_value(v), want)) return true;
    }
    return false;
}

static jwt_status check_claims(const json_t *c, const jwt_expect *ex, char *err, size_t errlen)
{
    const char *iss = json_string_value(json_object_get(c, "iss"));
    if (!iss || strcmp(iss, ex->issuer)) {
        snprintf(err, errlen, "iss: not the configured issuer");
        return JWT_ISSUER;
    }
    size_t naud = 0;
    if (!aud_has(json_object_get(c, "aud"), ex->audience, &naud)) {
        snprintf(err, errlen, "aud: does not name this client");
        return JWT_AUDIENCE;
    }
    const json_t *azpv = json_object_get(c, "azp");
    const char *azp = json_string_value(azpv);
    if ((azpv && (!azp || strcmp(azp, ex->audience))) || (naud > 1 && !azp)) {
        snprintf(err, errlen, "azp: %s",
                 azpv ? "not this client" : "required with several audiences");
        return JWT_AUDIENCE;
    }
    const char *sub = json_string_value(json_object_get(c, "sub"));
    const json_t *exp = json_object_get(c, "exp"), *iat = json_object_get(c, "iat"),
                 *nbf = json_object_get(c, "nbf");
    if (!sub || !*sub || !json_is_number(exp) || !json_is_number(iat) ||
        (nbf && !json_is_number(nbf))) {
        snprintf(err, errlen, "sub, exp and iat are required (nbf, when present, a number)");
        return JWT_CLAIMS;
    }
    double now = (double)ex->now_s, skew = ex->skew_s;
    if (now > json_number_value(exp) + skew) {
        snprintf(err, errlen, "exp: the token has expired");
        return JWT_EXPIRED;
    }
    if (json_number_value(iat) > now + skew || (nbf && json_number_value(nbf) > now + skew)) {
        snprintf(err, errlen, "%s: the token is not valid yet", nbf ? "nbf/iat" : "iat");
        return JWT_NOT_YET;
    }
    const char *nonce = json_string_value(json_object_get(c, "nonce"));
    size_t nl = nonce ? strlen(nonce) : 0;
    if (!nonce || !ex->nonce || nl != strlen(ex->nonce) || sodium_memcmp(nonce, ex->nonce, nl)) {
        snprintf(err, errlen, "nonce: not the one this login sent");
        return JWT_NONCE;
    }
    return JWT_OK;
}

jwt_status jwt_verify(const char *token, const jwk_set *keys, const jwt_expect *ex, json_t **claims,
                      char *err, size_t errlen)
{
    *claims = NULL;
    size_t tl = token ? strnlen(token, JWT_MAX_BYTES + 1) : 0;
    const char *d1 = tl && tl <= JWT_MAX_BYTES ? memchr(token, '.', tl) : NULL;
    const char *d2 = d1 ? memchr(d1 + 1, '.', tl - (size_t)(d1 + 1 - token)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', tl - (size_t)(d2 + 1 - token))) {
        snprintf(err, errlen, "not a JWS in compact form (three parts, at most %u bytes)",
                 JWT_MAX_BYTES);
        return JWT_MALFORMED;
    }
    json_t *hdr = part_json(token, (size_t)(d1 - token));
    if (!hdr) {
        snprintf(err, errlen, "the header is not base64url JSON");
        return JWT_MALFORMED;
    }
    char alg[8] = "";
    const char *algv = json_string_value(json_object_get(hdr, "alg"));
    snprintf(alg, sizeof(alg), "%s", algv && strlen(algv) < sizeof(alg) ? algv : "?");
    const json_t *kidv = json_object_get(hdr, "kid");
    char kidbuf[KID_MAX + 1] = "";
    const char *kid = NULL;
    if (json_is_string(kidv) && strlen(json_string_value(kidv)) <= KID_MAX)
        kid = strcpy(kidbuf, json_string_value(kidv));
    bool ec = !strcmp(alg, "ES256");
    jwt_status st = JWT_OK;
    if ((!ec && strcmp(alg, "RS256")) || json_object_get(hdr, "crit")) {
        snprintf(err, errlen, "alg: %s is refused (RS256 or ES256 only, no crit)",
                 algv ? alg : "(missing)");
        st = JWT_ALG_REFUSED;
    } else if (kidv && !kid) {
        snprintf(err, errlen, "kid: not a string of at most %d bytes", KID_MAX);
        st = JWT_MALFORMED;
    }
    json_decref(hdr);
    if (st) return st;
    unsigned char *sig = NULL;
    size_t slen = 0;
    if (d2 + 1 == token + tl || b64url(d2 + 1, tl - (size_t)(d2 + 1 - token), &sig, &slen)) {
        snprintf(err, errlen, "the signature is missing or not base64url");
        return JWT_MALFORMED;
    }
    /* The key: the one with the token's kid, of the algorithm's type;
     * without a kid, any key of that type that verifies. */
    bool found = false, ok = false;
    for (size_t i = 0; keys && i < keys->n && !ok; i++) {
        const jwk *k = &keys->v[i];
        if (k->ec != ec || (kid && strcmp(k->kid, kid))) continue;
        found = true;
        ok = verify_sig(k, (const unsigned char *)token, (size_t)(d2 - token), sig, slen);
    }
    free(sig);
    if (!found) {
        snprintf(err, errlen, "kid: no %s key %s%.64s%s among the provider's keys", alg,
                 kid ? "\"" : "", kid ? kid : "(none named)", kid ? "\"" : "");
        return JWT_UNKNOWN_KID;
    }
    if (!ok) {
        snprintf(err, errlen, "the signature does not verify");
        return JWT_BAD_SIGNATURE;
    }
    json_t *c = part_json(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!c) {
        snprintf(err, errlen, "the payload is not base64url JSON");
        return JWT_MALFORMED;
    }
    st = check_claims(c, ex, err, errlen);
    if (st)
        json_decref(c);
    else
        *claims = c;
    return st;
}
