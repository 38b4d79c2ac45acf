/*
 * Fuzz target: what single sign-on parses itself (host/auth/jwt.h): a JWKS
 * document and an ID token in compact form. The input is split at its
 * first NUL byte: the JWKS before it, the token after (no NUL: the whole
 * input is both). The token is checked against the input's keys and
 * against a fixed RSA and P-256 set. Beyond the sanitizers, it traps when
 * a promise breaks: a token accepted by the fixed set (the fuzzer cannot
 * sign with its keys), claims given back with a failure, or a failure
 * without its reason.
 */
#include "auth/jwt.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* RFC 7517's example keys (appendix A.1): public halves only. */
static const char FIXED[] =
    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"1\","
    "\"x\":\"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4\","
    "\"y\":\"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM\"},"
    "{\"kty\":\"RSA\",\"kid\":\"2011-04-29\",\"e\":\"AQAB\","
    "\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
    "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
    "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4v"
    "MQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\"}]}";

static void check(const char *token, const jwk_set *keys, bool forgeable)
{
    jwt_expect ex = {"https://issuer.example", "client", "nonce", 1700000000, 60};
    json_t *claims = NULL;
    char err[256] = "";
    jwt_status st = jwt_verify(token, keys, &ex, &claims, err, sizeof(err));
    if (st != JWT_OK && (claims || !err[0])) __builtin_trap();
    if (st == JWT_OK && (!claims || !forgeable)) __builtin_trap();
    json_decref(claims);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static jwk_set *fixed;
    char err[256];
    if (!fixed) fixed = jwks_parse(FIXED, strlen(FIXED), err, sizeof(err));
    if (!fixed) __builtin_trap();
    const uint8_t *nul = memchr(data, 0, size);
    size_t jl = nul ? (size_t)(nul - data) : size;
    char *token = malloc(size + 1);
    if (!token) return 0;
    size_t tl = nul ? size - jl - 1 : size;
    memcpy(token, nul ? nul + 1 : data, tl);
    token[tl] = 0;
    jwk_set *keys = jwks_parse((const char *)data, jl, err, sizeof(err));
    if (!keys && !err[0]) __builtin_trap();
    if (keys && (jwks_count(keys) == 0 || jwks_count(keys) > JWKS_MAX_KEYS)) __builtin_trap();
    check(token, keys, true);
    check(token, fixed, false);
    jwks_free(keys);
    free(token);
    return 0;
}
