/*
 * trust.h - the operator's trusted package-signing keys: a directory
 * (config "trusted_keys_dir", default DATA_DIR/trusted-keys) holding one
 * public key file per key, named <key_id>.pub. A package installs only if
 * it is signed by one of them. See docs/adr/0011-trust-store.md.
 */
#ifndef AH_PKG_TRUST_H
#define AH_PKG_TRUST_H

#include "keys.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define TRUST_MAX_KEYS 1024

/* Add the public key in pubfile. *already is set when it was trusted
 * before (nothing changes). 0, or -1 with a one-line err. */
int trust_add(const char *dir, const char *pubfile, pkg_pubkey *added, bool *already, char *err,
              size_t errlen);

/* Remove the key with this id. 0, or -1 with err (unknown id). */
int trust_remove(const char *dir, const char *key_id, pkg_pubkey *removed, char *err,
                 size_t errlen);

/* Every trusted key (*keys malloc'd, *n of them; a missing directory is
 * an empty set). Files that are not valid keys named after their id are
 * skipped and, when problems is an array, described in it. 0, or -1 with
 * err when the directory cannot be read. */
int trust_load(const char *dir, pkg_pubkey **keys, size_t *n, json_t *problems, char *err,
               size_t errlen);

#endif
