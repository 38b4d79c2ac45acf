/*
 * install.h - installing, upgrading, removing and listing plugin packages
 * in the plugins directory (one folder per plugin, named after it).
 *
 * Install reads the package into a scratch directory beside the plugins
 * directory (pkg_read.h checks every entry), verifies its signature
 * against the trusted keys (signature.h, trust.h), checks its manifest and
 * library (manifest.h, plugincheck.h: the library is read, never loaded),
 * and only then renames the folder into place: rename(2) with
 * RENAME_NOREPLACE for a new plugin; for an upgrade, the old version stays
 * in place and in use until the new one is complete, then the two are
 * swapped atomically with RENAME_EXCHANGE and the old one is deleted. On
 * any refusal the plugins directory is left exactly as it was. The running
 * host picks up a change when it (re)starts.
 */
#ifndef AH_PKG_INSTALL_H
#define AH_PKG_INSTALL_H

#include "keys.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct pkg_install_opts {
    const char *plugins_dir;
    const char *trust_dir;
    bool upgrade; /* replace an installed plugin of the same name */
} pkg_install_opts;

typedef struct pkg_installed {
    char name[72];
    char version[72];
    char previous[72];     /* the version replaced, or "" */
    bool replaced_by_hand; /* what was replaced was a copy made by hand */
    char key_id[KEY_ID_HEX + 1];
    char signer[KEY_COMMENT_MAX];
    size_t files;
} pkg_installed;

/* 0, or -1 with one line saying why the package was refused. */
int pkg_install(const char *package, const pkg_install_opts *o, pkg_installed *res, char *err,
                size_t errlen);

/* Remove the plugin `name` (its folder disappears at once, by rename). *version
 * gets the removed version. 0, or -1 with err. */
int pkg_remove(const char *plugins_dir, const char *name, char *version, size_t vlen, char *err,
               size_t errlen);

/* The installed plugins, sorted by folder: a new array of {"name",
 * "version", "abi", "folder", "signed_by", "key_id"} or, for a folder that
 * does not load, {"folder", "error"}. NULL with err when the directory
 * cannot be read. */
json_t *pkg_list(const char *plugins_dir, char *err, size_t errlen);

#endif
