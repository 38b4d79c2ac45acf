/*
 * signature.h - what a package's signature covers and how it is checked.
 *
 * The signed text is the package's digest list: one line per file,
 * "<sha256 hex>  <path>\n" (the format of sha256sum), sorted by path
 * bytes, covering every file of the package except signature.json. The
 * Ed25519 signature is over "agenthost-package/1\n" followed by that text.
 * signature.json holds both:
 *   {"format": "agenthost-package/1", "algorithm": "ed25519", "digest": "sha256",
 *    "key_id": "...", "files": "<the digest list>", "signature": BASE64(64 bytes)}
 * See docs/adr/0010-signed-plugin-packages.md.
 */
#ifndef AH_PKG_SIGNATURE_H
#define AH_PKG_SIGNATURE_H

#include "keys.h"
#include "pkg_read.h"

#include <stddef.h>
#include <stdint.h>

#define PKG_FORMAT "agenthost-package/1"

/* The digest list of files (malloc'd). */
char *pkg_digest_list(const pkg_file *files, size_t n);

/* signature.json's text for a digest list signed with k (malloc'd). */
char *pkg_signature_make(const char *list, const pkg_seckey *k);

typedef struct pkg_signature {
    char key_id[KEY_ID_HEX + 1];
    char *files; /* the signed digest list */
    uint8_t sig[crypto_sign_BYTES];
} pkg_signature;

/* 0, or -1 with "signature.json: FIELD: MESSAGE". */
int pkg_signature_parse(const char *text, size_t len, pkg_signature *out, char *err, size_t errlen);
void pkg_signature_free(pkg_signature *s);

/* Check that s is by one of the trusted keys (*signer set to it), that it
 * verifies over its digest list, and that the list is `computed` (the
 * package's files as they are). 0, or -1 with the one-line reason: an
 * untrusted key, a signature that does not verify, or the first file that
 * differs, was added or is missing. */
int pkg_signature_verify(const pkg_signature *s, const pkg_pubkey *trusted, size_t ntrusted,
                         const char *computed, const pkg_pubkey **signer, char *err, size_t errlen);

#endif
