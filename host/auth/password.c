#include "password.h"

#include "sdk/ipc/b64.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

extern const char ah_common_passwords[];

_Static_assert(AUTH_PW_HASH_MAX >= crypto_pwhash_STRBYTES, "room for the hash string");

static size_t code_points(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static bool ieq(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn) return false;
    for (size_t i = 0; i < an; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i])) return false;
    return true;
}

/* Whether pw is a line of the bundled list (comments aside), any case. */
static bool is_common(const char *pw)
{
    size_t pn = strlen(pw);
    for (const char *l = ah_common_passwords; *l;) {
        const char *end = strchr(l, '\n');
        size_t n = end ? (size_t)(end - l) : strlen(l);
        if (l[0] != '#' && ieq(l, n, pw, pn)) return true;
        if (!end) break;
        l = end + 1;
    }
    return false;
}

/* Whether pw contains needle (at least 4 bytes of it), any case. */
static bool contains_fold(const char *pw, const char *needle, size_t nn)
{
    if (nn < 4) return false;
    for (const char *p = pw; strlen(p) >= nn; p++)
        if (ieq(p, nn, needle, nn)) return true;
    return false;
}

int auth_password_policy(const char *pw, const char *email, const char *name, char *why,
                         size_t whylen)
{
    size_t n = pw ? strlen(pw) : 0;
    const char *msg = NULL;
    if (!pw || n > AUTH_PW_MAX)
        msg = "at most 128 bytes";
    else if (!ah_utf8_valid(pw, n))
        msg = "not valid UTF-8";
    else if (code_points(pw) < AUTH_PW_MIN)
        msg = "at least 12 characters";
    else if (is_common(pw))
        msg = "one of the most common passwords; choose another";
    else if (email && contains_fold(pw, email, strcspn(email, "@")))
        msg = "contains the account's e-mail address";
    else if (name && contains_fold(pw, name, strlen(name)))
        msg = "contains the account's name";
    if (!msg) return 0;
    snprintf(why, whylen, "the password must be %s", msg);
    if (!strncmp(msg, "one of", 6) || !strncmp(msg, "contains", 8) || !strncmp(msg, "not", 3))
        snprintf(why, whylen, "the password is %s", msg);
    return -1;
}

int auth_password_hash(const char *pw, char *out)
{
    if (!pw || strlen(pw) > AUTH_PW_MAX || sodium_init() < 0) return -1;
    return crypto_pwhash_str_alg(out, pw, strlen(pw), AUTH_PW_OPSLIMIT, AUTH_PW_MEMLIMIT,
                                 crypto_pwhash_ALG_ARGON2ID13) == 0
               ? 0
               : -1;
}

/* A hash of a random password, made once: unknown accounts verify against
 * it so that their answer takes as long as a known one's. */
static const char *dummy_hash(void)
{
    static char h[AUTH_PW_HASH_MAX];
    if (!h[0]) {
        unsigned char r[16];
        char pw[33];
        randombytes_buf(r, sizeof(r));
        sodium_bin2hex(pw, sizeof(pw), r, sizeof(r));
        if (auth_password_hash(pw, h) != 0) h[0] = 0;
    }
    return h;
}

bool auth_password_verify(const char *hash, const char *pw)
{
    if (!pw || strlen(pw) > AUTH_PW_MAX || sodium_init() < 0) return false;
    bool known = hash != NULL;
    const char *h = known ? hash : dummy_hash();
    bool ok = h[0] && crypto_pwhash_str_verify(h, pw, strlen(pw)) == 0;
    return known && ok;
}

bool auth_password_needs_rehash(const char *hash)
{
    return crypto_pwhash_str_needs_rehash(hash, AUTH_PW_OPSLIMIT, AUTH_PW_MEMLIMIT) != 0;
}
