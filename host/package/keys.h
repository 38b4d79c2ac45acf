/*
 * keys.h - Ed25519 signing keys for plugin packages (libsodium), and their
 * files. See docs/adr/0010-signed-plugin-packages.md.
 *
 * A key file is one JSON object:
 *   public  {"kind": "agenthost-public-key", "algorithm": "ed25519",
 *            "key_id": "9f3c0a...", "comment": "...", "public_key": BASE64(32 bytes)}
 *   secret  {"kind": "agenthost-secret-key", "algorithm": "ed25519",
 *            "key_id": "...", "comment": "...", "secret_key": BASE64(64 bytes)}
 * The key id is the first 8 bytes of SHA-256(public key), in hex; a file
 * whose id does not match its key is refused. Secret key files are
 * created 0600 and refused when group or others may read them.
 */
#ifndef AH_PKG_KEYS_H
#define AH_PKG_KEYS_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEY_ID_HEX 16
#define KEY_COMMENT_MAX 128
#define KEY_FILE_MAX 4096

typedef struct pkg_pubkey {
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    char id[KEY_ID_HEX + 1];
    char comment[KEY_COMMENT_MAX];
} pkg_pubkey;

/* Lives in sodium_malloc'd memory (guarded, locked); free with key_secret_free. */
typedef struct pkg_seckey {
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    pkg_pubkey pub;
} pkg_seckey;

/* A new key pair. NULL when out of memory. */
pkg_seckey *key_generate(const char *comment);
void key_secret_free(pkg_seckey *k);

/* The id of a public key. */
void key_id_of(const uint8_t pk[crypto_sign_PUBLICKEYBYTES], char out[KEY_ID_HEX + 1]);
bool key_id_valid(const char *id);

/* Write the files; refuses to replace an existing file. 0, or -1 with err. */
int key_write_secret(const char *path, const pkg_seckey *k, char *err, size_t errlen);
int key_write_public(const char *path, const pkg_pubkey *k, char *err, size_t errlen);

/* Read and check a key file. 0, or -1 with one line naming the file;
 * key_load_secret returns NULL for the same. */
int key_parse_public(const char *path, const char *text, size_t len, pkg_pubkey *out, char *err,
                     size_t errlen);
int key_load_public(const char *path, pkg_pubkey *out, char *err, size_t errlen);
pkg_seckey *key_load_secret(const char *path, char *err, size_t errlen);

/* The public key file's text (malloc'd). */
char *key_public_text(const pkg_pubkey *k);

#endif
