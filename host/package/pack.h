/*
 * pack.h - building a signed plugin package from a plugin directory.
 *
 * The package holds manifest.json, the library it names, the documents
 * found beside them (README*, LICENSE*, CHANGELOG*, NOTICE*, the docs/
 * tree), files the manifest refers to (egress[].ca_file), and any extra
 * paths asked for; then signature.json (signature.h). The plugin is
 * checked first, as install will (manifest, library, descriptor), and so is
 * every path, with the rules install applies (pkg_read.h): pack never
 * writes a package that install would refuse for its content. The archive
 * is reproducible: entries sorted, owners, times and modes fixed, no gzip
 * timestamp.
 */
#ifndef AH_PKG_PACK_H
#define AH_PKG_PACK_H

#include <stddef.h>

typedef struct pkg_pack_opts {
    const char *dir;            /* the plugin directory (holding manifest.json) */
    const char *key;            /* the secret key file */
    const char *out;            /* the package to write; NULL: NAME-VERSION.ahpkg here */
    const char *const *include; /* extra paths relative to dir (files or directories) */
    size_t ninclude;
} pkg_pack_opts;

typedef struct pkg_packed {
    char path[4096];
    char name[72], version[72];
    char key_id[17];
    size_t files;
    unsigned long long bytes;
} pkg_packed;

/* 0, or -1 with a one-line err. */
int pkg_pack(const pkg_pack_opts *o, pkg_packed *res, char *err, size_t errlen);

#endif
