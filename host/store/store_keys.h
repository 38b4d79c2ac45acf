/*
 * store_keys.h - the keys of personal data, in an LMDB environment of their
 * own (DATA_DIR/keys/, never in a backup of the store).
 *
 * Erasing a contact destroys its key here. Because the keys live apart
 * from the store, a backup of the store holds no key: restored later with
 * the keys as they are then, an erased contact's data stays unreadable,
 * in that backup as everywhere. The keys are backed up on their own
 * (agenthost backup --keys), kept short-lived: an erasure is complete once
 * no keys backup taken before it remains (docs/operations.md).
 *
 * Values are small and opaque (the model seals them). Every write commits
 * and syncs at once: it is for the store's writer thread or a command,
 * never the loop thread. Reads may come from any thread.
 */
#ifndef AH_STORE_KEYS_H
#define AH_STORE_KEYS_H

#include <stddef.h>

typedef struct keystore keystore;

#define KEYSTORE_VALUE_MAX 256

/* Open (creating it 0700) the key store in dir. 0, or AH_EIO / AH_ENOMEM /
 * AH_EINVAL with err naming the directory. */
int keystore_open(keystore **out, const char *dir, char *err, size_t errlen);
void keystore_close(keystore *k);

/* The value of id into val (cap bytes): 0 with *len, AH_ENOTFOUND, AH_ETOOBIG
 * (cap too small), or AH_EIO. */
int keystore_get(keystore *k, const char *id, void *val, size_t cap, size_t *len);
/* Store val under id unless id has one (then that one stays): 0 when
 * stored, AH_EEXIST when one was there, AH_ENOSPC, AH_EIO. */
int keystore_put_new(keystore *k, const char *id, const void *val, size_t len);
/* Destroy id's value (synced before returning). 0, AH_ENOTFOUND, AH_EIO. */
int keystore_del(keystore *k, const char *id);
/* Copy the key store to the file `to` (compacted, synced). 0 or AH_EIO with
 * err. */
int keystore_backup(keystore *k, const char *to, char *err, size_t errlen);

#endif
