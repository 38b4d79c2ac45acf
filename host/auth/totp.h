/*
 * totp.h - the second factor: time-based one-time passwords (RFC 6238,
 * computed by Debian's liboath; docs/adr/0040-totp-with-liboath.md) and
 * one-time recovery codes.
 *
 * A secret is 20 random bytes (RFC 4226's recommended 160 bits), kept and
 * shown in base32. Codes are 6 digits, HMAC-SHA1, 30-second steps: what
 * every authenticator app reads from an otpauth:// URI. A code is accepted
 * one step either side of now (clock drift), and only for a step later
 * than the last one accepted: a used code cannot be replayed within its
 * window. Codes are compared in constant time.
 *
 * Recovery codes are 10 groups of "xxxxx-xxxxx" (50 random bits each,
 * base32); only their BLAKE2b hashes are kept, and each works once.
 */
#ifndef AH_AUTH_TOTP_H
#define AH_AUTH_TOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOTP_SECRET_BYTES 20
#define TOTP_SECRET_B32 33 /* 32 base32 characters + NUL */
#define TOTP_DIGITS 6
#define TOTP_STEP_S 30
#define TOTP_WINDOW 1 /* steps either side of now */
#define TOTP_RECOVERY_CODES 10
#define TOTP_RECOVERY_LEN 12 /* "xxxxx-xxxxx" + NUL */
#define TOTP_HASH_HEX 65

typedef enum totp_alg { TOTP_SHA1, TOTP_SHA256, TOTP_SHA512 } totp_alg;

/* A new random secret, in base32, into out (TOTP_SECRET_B32 bytes). 0 or -1. */
int totp_secret_new(char *out);

/* otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30
 * (issuer and account percent-encoded) into out. 0, or -1 when it does not fit. */
int totp_uri(const char *secret_b32, const char *issuer, const char *account, char *out, size_t n);

/* The code of a raw key at unix time t (digits 6..8), into out (digits + 1
 * bytes). 0 or -1. For tests against RFC 6238's vectors and for clients. */
int totp_code_raw(const unsigned char *key, size_t keylen, int64_t t, unsigned digits, totp_alg alg,
                  char *out);
/* The same from a base32 secret, SHA-1, 6 digits. */
int totp_code(const char *secret_b32, int64_t t, char *out);

/* Whether code is the secret's within TOTP_WINDOW steps of now_s and for
 * a step after last_step (the last one accepted; -1 for none): then 1,
 * with *step the step it matched (keep it as the next last_step). 0 for a
 * wrong code, -2 for a right code already used (a replay), -1 for a bad
 * secret. */
int totp_check(const char *secret_b32, const char *code, int64_t now_s, int64_t last_step,
               int64_t *step);

/* n fresh recovery codes into codes (n * TOTP_RECOVERY_LEN), and their
 * hashes (hex) into hashes (n * TOTP_HASH_HEX). 0 or -1. */
int totp_recovery_new(char *codes, char *hashes, size_t n);
/* The hash (hex) of a presented recovery code, case and dashes ignored,
 * into out (TOTP_HASH_HEX bytes). 0, or -1 when it is no recovery code. */
int totp_recovery_hash(const char *code, char *out);

#endif
