/*
 * pkgdir.h - the plugins directory as the package commands change it:
 * locked against concurrent changes (flock on the directory itself), with
 * scratch directories made beside it on the same filesystem so that
 * entries appear and disappear by rename(2) alone. Internal to the package
 * commands.
 */
#ifndef AH_PKG_PKGDIR_H
#define AH_PKG_PKGDIR_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

/* What install records beside a plugin it installed (ignored by the host). */
#define PKG_PROVENANCE ".agenthost-package.json"

typedef struct pkgdir {
    char path[PATH_MAX];    /* the plugins directory, resolved */
    char scratch[PATH_MAX]; /* where scratch directories go */
    int fd;                 /* the plugins directory, locked */
} pkgdir;

/* Resolve (creating it 0755 if asked) and lock the plugins directory. 0,
 * or -1 with err. */
int pkgdir_open(pkgdir *d, const char *plugins_dir, bool create, char *err, size_t errlen);
void pkgdir_close(pkgdir *d);

/* A new empty scratch directory (mode 0755) named after `what`. 0, or -1
 * with err. */
int pkgdir_scratch(pkgdir *d, const char *what, char *out, size_t len, char *err, size_t errlen);

/* The plugin name declared by the manifest of folder `entry` of the plugins
 * directory into name; 1 when found, 0 when the folder holds no readable
 * manifest (why says what is wrong). */
int pkgdir_plugin_name(pkgdir *d, const char *entry, char *name, size_t len, char *why,
                       size_t whylen);

#endif
