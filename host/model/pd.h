/*
 * pd.h - personal data, sealed with a key of each contact's own.
 *
 * A contact's key (32 random bytes) is kept in the key store
 * (store_keys.h: an environment of its own, never in a backup of the
 * store), sealed with a key-encryption key derived from the master key,
 * bound to the contact's id. A sealed value is the JSON object
 * {"$sealed": "<base64 of nonce, ciphertext and tag>"}: XChaCha20-Poly1305
 * of the value's compact JSON, with the contact's id as associated data.
 * Erasing a contact deletes its key: every sealed copy of its data, in
 * documents, bus events and backups alike, can then never be opened.
 */
#ifndef AH_MODEL_PD_H
#define AH_MODEL_PD_H

#include "store/store_keys.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define PD_KEY_BYTES 32

/* The contact's key into key. With create, one is made (and synced) when
 * there is none: for writes, on the store's writer thread. 0, AH_ENOTFOUND
 * (none: erased, or never made), AH_EIO (it does not open under kek, or
 * the key store fails), AH_ENOSPC. */
int pd_key(keystore *ks, const uint8_t *kek, const char *contact_id, bool create, uint8_t *key);

/* Destroy the contact's key (synced before returning). 0, AH_ENOTFOUND,
 * AH_EIO. */
int pd_erase(keystore *ks, const char *contact_id);

/* Seal v (borrowed) for the contact: a new {"$sealed": ...}, or NULL. */
json_t *pd_seal(const uint8_t *key, const char *contact_id, const json_t *v);
/* Open a sealed value: a new reference, or NULL (tampered, other key). */
json_t *pd_open(const uint8_t *key, const char *contact_id, const json_t *sealed);
bool pd_is_sealed(const json_t *v);

#endif
