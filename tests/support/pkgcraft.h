/*
 * pkgcraft.h - writes plugin packages the way an attacker (or a buggy
 * tool) might: any entry types and paths, optional and possibly wrong
 * signatures. It implements the package format (docs/adr/0010) on its
 * own, with libarchive and libsodium, so the tests do not trust the code
 * they test to build their inputs.
 */
#ifndef PKGCRAFT_H
#define PKGCRAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum craft_type {
    CRAFT_FILE = 0, /* data/len, or `zeros` bytes of zeros, or the file at `from` */
    CRAFT_DIR,
    CRAFT_SYMLINK,  /* target */
    CRAFT_HARDLINK, /* target */
    CRAFT_CHARDEV,
} craft_type;

typedef struct craft_entry {
    const char *path;
    craft_type type;
    const char *data; /* NUL-terminated text, or NULL */
    const char *from; /* copy this file's bytes, or NULL */
    uint64_t zeros;   /* that many zero bytes */
    const char *target;
} craft_entry;

/* The archive around the entries: ADR 0010's tar.gz, or a shape the
 * reader must refuse although what it holds may be genuinely signed. */
typedef enum craft_container {
    CRAFT_TAR_GZ = 0, /* pax (ustar headers when they suffice) in one gzip member */
    CRAFT_PLAIN_TAR,  /* the same tar, not compressed */
    CRAFT_GZIP_TWICE, /* the tar compressed with gzip, and that compressed again */
    CRAFT_GNU_TAR_GZ, /* GNU tar format (what `tar czf` writes by default) in gzip */
} craft_container;

typedef struct craft_opts {
    const char *key; /* secret key file (agenthost keygen); NULL: unsigned */
    /* What the signature covers; NULL: the entries written. Differences
     * between the two make a package tampered after signing. */
    const craft_entry *signed_entries;
    size_t nsigned;
    bool corrupt_signature; /* flip a bit of the signature itself */
    craft_container container;
    size_t signature_after; /* entries written before signature.json (0: first, as specified) */
} craft_opts;

/* Write the package to out. 0, or -1 with a message on stderr. */
int craft_package(const char *out, const craft_entry *e, size_t n, const craft_opts *o);

#endif
