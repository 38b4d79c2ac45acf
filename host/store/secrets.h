/*
 * secrets.h - plugin secrets, encrypted at rest.
 *
 * Values are sealed with XChaCha20-Poly1305 (libsodium) under a 32-byte
 * master key kept in a file outside the store (master_key.h), with the
 * instance id and secret name as associated data, so a sealed value cannot
 * be moved to another name. Stored in the store's "secrets" database as
 * nonce || ciphertext. Every value read is registered with the logger's
 * redaction, so it cannot appear in a log line.
 *
 * The store records the id of the key its secrets are sealed with (meta
 * record SECRETS_META_KEY_ID, 16 hex digits), so a missing or wrong key is
 * told apart from "no secrets" without opening any. A new key is made only
 * for a store that holds no secret: never while secrets sealed with
 * another key exist, which it could not open.
 */
#ifndef AH_SECRETS_H
#define AH_SECRETS_H

#include "core/master_key.h"
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

/* The meta record naming the master key the store's secrets are sealed with. */
#define SECRETS_META_KEY_ID "secrets.key_id"

typedef enum secrets_key_mode {
    SECRETS_KEY_REQUIRED = 0, /* the key file must be there */
    SECRETS_KEY_CREATE,       /* make it when it is missing and the store holds no secret */
    SECRETS_KEY_NONE,         /* no key: list and delete only */
} secrets_key_mode;

/* Open the secrets of st, with the master key at key_path as mode says.
 * The key is held against the store before anything is read or written:
 *  - the store records this key's id: open;
 *  - the store holds no secret: open, and record this key's id (a key
 *    made here, or one replacing a recorded id: logged);
 *  - the store records no id (written before ids were): open when the key
 *    opens every secret, and record its id;
 *  - otherwise refused, naming the key file, its id and the store's, how
 *    many secrets cannot be opened and their instances, and what to do.
 * Returns 0, or with a one-line reason in err: AH_ENOTFOUND (no key file,
 * and none may be made: the store holds secrets, or mode is
 * SECRETS_KEY_REQUIRED), AH_EIO (a key that does not open the store's
 * secrets; a key file or the store that cannot be read or written),
 * AH_EDENIED (a key file others may read), AH_EINVAL (not a key file),
 * AH_ENOMEM. The key id is written to the store at once (it blocks on
 * fsync): for startup and CLI commands. */
int secrets_open(secrets **out, store *st, const char *key_path, secrets_key_mode mode, char *err,
                 size_t errlen);
void secrets_close(secrets *s);

/* A 32-byte key for another use, derived from the master key (BLAKE2b
 * KDF) so that its user never holds the master key itself: ctx names the
 * use (8 characters, "ahmodel1"). 0, or AH_EDENIED without a key. */
int secrets_derive_key(const secrets *s, const char ctx[8], uint8_t *out32);

/* The id of the key in use (16 hex digits), or "" without one. */
const char *secrets_key_id(const secrets *s);

/* What a store holds, read without any key: for backup and restore. */
typedef struct secrets_survey {
    size_t count;                       /* secrets stored */
    char key_id[MASTER_KEY_ID_HEX + 1]; /* the key id recorded, or "" */
    char instances[200];                /* "a, b and 3 more": whose secrets they are */
} secrets_survey;
/* 0, or AH_EIO when the store cannot be read. */
int secrets_survey_store(store *st, secrets_survey *out);

/* A new array of {"instance", "name"} of the stored secrets the key does
 * not open (damaged or altered in the store): empty when all open; NULL
 * without a key, when the store cannot be read, or out of memory. */
json_t *secrets_unreadable(secrets *s);

/* Seal and store. With a loop-driven store, done runs after the commit;
 * without one (CLI), before returning. 0; AH_EINVAL for a bad instance or
 * secret name, a value shorter than SECRET_MIN_BYTES or holding a NUL
 * byte (plugins read values as C strings); AH_ETOOBIG past
 * SECRET_MAX_BYTES; AH_EDENIED when opened without a key; AH_ENOMEM; or
 * the store's error. Delete needs no key. */
int secrets_set(secrets *s, const char *instance, const char *name, const void *value, size_t len,
                void (*done)(int status, void *ud), void *ud);
int secrets_delete(secrets *s, const char *instance, const char *name,
                   void (*done)(int status, void *ud), void *ud);

/* Read and open one secret: 0 with a malloc'd NUL-terminated *out (free
 * with secrets_free_value); AH_ENOTFOUND; AH_EIO when it does not open
 * (damaged or altered in the store) or the store cannot be read;
 * AH_EDENIED when opened without a key; AH_EINVAL for a bad name;
 * AH_ENOMEM. */
int secrets_get(secrets *s, const char *instance, const char *name, char **out, size_t *len);
void secrets_free_value(char *v, size_t len);

/* Whether given (glen bytes) is the secret, compared in constant time, for
 * a check made per request (a webhook's shared secret): 0 with *match; or
 * secrets_get's codes (AH_ENOTFOUND: not set). The opened value stays in
 * locked memory beside the sealed record it came from and is opened again
 * only when the stored record differs (set again or deleted, also by a CLI
 * command in another process); secrets_close wipes it. */
int secrets_equal(secrets *s, const char *instance, const char *name, const char *given,
                  size_t glen, bool *match);

/* A new array of {"instance": ..., "name": ...} (no values), for one
 * instance or all (instance NULL). */
json_t *secrets_list(secrets *s, const char *instance);

#endif
