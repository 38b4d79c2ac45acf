/*
 * password.h - passwords: the policy a new one must meet, and argon2id
 * hashes (libsodium's crypto_pwhash_str).
 *
 * Parameters (measured in docs/benchmarks.md, bench_auth): opslimit 2,
 * memlimit 64 MiB, one lane (libsodium's INTERACTIVE level, above OWASP's
 * argon2id minimum of 19 MiB and 2 passes). The parameters are kept in
 * each hash string, so raising them later leaves old hashes verifiable and
 * auth_password_needs_rehash says which to redo at the next login.
 * Hashing takes tens of milliseconds and 64 MiB: never on the loop thread.
 */
#ifndef AH_AUTH_PASSWORD_H
#define AH_AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_PW_MIN 12      /* characters (UTF-8 code points) */
#define AUTH_PW_MAX 128     /* bytes: longer is refused, never hashed */
#define AUTH_PW_OPSLIMIT 2u /* crypto_pwhash_OPSLIMIT_INTERACTIVE */
#define AUTH_PW_MEMLIMIT (64u << 20)
#define AUTH_PW_HASH_MAX 128 /* crypto_pwhash_STRBYTES */

/* Whether pw may be set: AUTH_PW_MIN..AUTH_PW_MAX, valid UTF-8, not in the
 * bundled list of common passwords (any case), not containing the
 * account's e-mail local part or name (either may be NULL). 0, or -1 with
 * why ("at least 12 characters", ...). */
int auth_password_policy(const char *pw, const char *email, const char *name, char *why,
                         size_t whylen);
/* argon2id hash into out (AUTH_PW_HASH_MAX bytes). 0, or -1 (out of
 * memory, or pw over AUTH_PW_MAX). */
int auth_password_hash(const char *pw, char *out);
/* Whether pw matches hash. A NULL hash (an unknown account) verifies
 * against a fixed dummy hash, taking the same time, and is false. */
bool auth_password_verify(const char *hash, const char *pw);
bool auth_password_needs_rehash(const char *hash);

#endif
