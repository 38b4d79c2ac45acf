/*
 * secrets.h - plugin secrets, encrypted at rest.
 *
 * Values are sealed with XChaCha20-Poly1305 (libsodium) under a 32-byte
 * master key kept in a file (created 0600 on first use, 64 hex digits),
 * with the instance id and secret name as associated data, so a sealed
 * value cannot be moved to another name. Stored in the store's "secrets"
 * database as nonce || ciphertext. Every value read is registered with the
 * logger's redaction, so it cannot appear in a log line.
 */
#ifndef AH_SECRETS_H
#define AH_SECRETS_H

#include "store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct secrets secrets;

#define SECRET_MAX_BYTES (64u << 10)
/* Shorter values are refused by secrets_set: a value that short is guessed
 * easily and cannot be masked in logs without masking ordinary text (see
 * redact.h; shorter values stored before this rule are still masked). */
#define SECRET_MIN_BYTES 8u

/* Load (or with create, make) the master key at key_path. 0, or a negative
 * AH_E* code with a one-line reason in err. */
int secrets_open(secrets **out, store *st, const char *key_path, bool create, char *err,
                 size_t errlen);
void secrets_close(secrets *s);

/* Seal and store. With a loop-driven store, done runs after the commit;
 * without one (CLI), before returning. 0; AH_EINVAL for a bad instance or
 * secret name, a value shorter than SECRET_MIN_BYTES or holding a NUL
 * byte (plugins read values as C strings); AH_ETOOBIG past
 * SECRET_MAX_BYTES; AH_ENOMEM; or the store's error. */
int secrets_set(secrets *s, const char *instance, const char *name, const void *value, size_t len,
                void (*done)(int status, void *ud), void *ud);
int secrets_delete(secrets *s, const char *instance, const char *name,
                   void (*done)(int status, void *ud), void *ud);

/* Read and open one secret: 0 with a malloc'd NUL-terminated *out (free
 * with secrets_free_value), AH_ENOTFOUND, or AH_EIO if it fails to open
 * (wrong master key or tampering). */
int secrets_get(secrets *s, const char *instance, const char *name, char **out, size_t *len);
void secrets_free_value(char *v, size_t len);

/* A new array of {"instance": ..., "name": ...} (no values), for one
 * instance or all (instance NULL). */
json_t *secrets_list(secrets *s, const char *instance);

#endif
