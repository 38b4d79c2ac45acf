/*
 * totp_seal.h - second-factor secrets sealed at rest.
 *
 * A TOTP secret (base32) is kept in its credential (docs/schemas/
 * credential.json: totp_secret_sealed, totp_pending_sealed) sealed with
 * XChaCha20-Poly1305 under a key derived from the master key
 * (secrets_derive_key, context "ahtotp01"), with the credential's id as
 * associated data: whoever reads the store file reads no secret, and a
 * sealed secret moved to another credential does not open. Secrets stored
 * in the clear before (totp_secret, totp_pending) are sealed at start.
 */
#ifndef AH_AUTH_TOTP_SEAL_H
#define AH_AUTH_TOTP_SEAL_H

#include "model/docs.h"

#include <stddef.h>
#include <stdint.h>

#define TOTP_SEAL_KDF_CTX "ahtotp01"
#define TOTP_SEALED_MAX 128 /* "s1." + base64url(24 + 20 + 16 bytes) + NUL, with room */

/* Seal b32 for credential cid into out (TOTP_SEALED_MAX). 0, or -1. */
int totp_seal(const uint8_t key[32], const char *cid, const char *b32, char *out);
/* Open a sealed secret of credential cid into b32 (TOTP_SECRET_B32
 * bytes). 0, or -1 when it is malformed, of another credential or another
 * key. */
int totp_unseal(const uint8_t key[32], const char *cid, const char *sealed, char *b32);

/* Seal every secret still in the clear (every user's credential): *n
 * sealed. 0, or a doc code. */
int totp_seal_all(doc_txn *t, const uint8_t key[32], size_t *n);

#endif
