/*
 * master_key.h - the master key file that seals the instances' secrets
 * (secrets.h): 32 random bytes written as 64 hex digits and a newline,
 * mode 0600, in DATA_DIR/master.key unless configured elsewhere. It is
 * never in the store, so never in a backup.
 *
 * A key is named by its id: the first 8 bytes, in hex, of a BLAKE2b hash
 * keyed with the key over a fixed text. The id tells keys apart (the store
 * records the id of the key its secrets are sealed with) without saying
 * anything about the key.
 */
#ifndef AH_MASTER_KEY_H
#define AH_MASTER_KEY_H

#include <stddef.h>

#define MASTER_KEY_BYTES 32u
#define MASTER_KEY_ID_HEX 16u

/* Read the key file at path into key. 0; AH_ENOTFOUND when there is no
 * such file; AH_EDENIED when group or others may read it; AH_EINVAL when
 * it holds neither 32 bytes nor 64 hex digits; AH_EIO when it cannot be
 * read. err says which, naming the path. */
int master_key_read(const char *path, unsigned char key[MASTER_KEY_BYTES], char *err,
                    size_t errlen);

/* Make a new random key at path (created 0600, never over an existing
 * file, fsynced) and return it in key. 0, or AH_EIO when it cannot be
 * written (err says why). When a file appears there meanwhile (another
 * process made it), that key is read instead, with master_key_read's
 * results. */
int master_key_create(const char *path, unsigned char key[MASTER_KEY_BYTES], char *err,
                      size_t errlen);

/* The key's id, NUL-terminated in out. */
void master_key_id(const unsigned char key[MASTER_KEY_BYTES], char out[MASTER_KEY_ID_HEX + 1]);

#endif
