/*
 * secrets_priv.h - what secrets.c (sealing, reading, writing) and
 * secrets_check.c (holding a master key against the store) share. Not
 * for other modules: secrets.h is the module's face.
 */
#ifndef AH_SECRETS_PRIV_H
#define AH_SECRETS_PRIV_H

#include "core/master_key.h"
#include "secrets.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct secrets {
    store *st;
    unsigned char *key; /* sodium_malloc'd, locked */
    bool has_key;       /* false when opened with SECRETS_KEY_NONE */
    char key_id[MASTER_KEY_ID_HEX + 1];
    struct secrets_cache *cache; /* secrets_equal's opened values, or NULL */
};

/* Free what secrets_equal kept (secrets_cache.c), wiping the values. */
void secrets_cache_free(struct secrets_cache *c);

/* Open the sealed value (nonce || ciphertext) of instance/name, given as
 * the store's key "<instance>\0<name>" (klen bytes): 0 with a malloc'd,
 * NUL-terminated *plain of *n bytes (wipe it: secrets_free_value);
 * AH_EIO when it does not open (another key, or altered); AH_ENOMEM. */
int secrets_unseal(const secrets *s, const char *skey, size_t klen, const uint8_t *sealed,
                   size_t slen, char **plain, size_t *n);

/* Give s its master key from key_path as mode says, and hold it against
 * the store (secrets_check.c). The errors are secrets_open's. */
int secrets_take_key(secrets *s, const char *key_path, secrets_key_mode mode, char *err,
                     size_t errlen);

#endif
