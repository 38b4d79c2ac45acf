/*
 * store_check.h - verify a whole store: `agenthost check`, and restore
 * before it puts a copy back (ADR 0014).
 *
 * The file first (store_file.h: size, meta pages), then, in a read-only
 * transaction in a child process (forked.h), every tree: LMDB's list of
 * databases, its free pages, and each database of the store. A walk reads
 * every record (so every branch, leaf and overflow page): keys must come
 * in order, the count must match the tree's, each record must pass its
 * database's check (its checksum, or its format). Then the pages add up:
 * 2 meta pages + the pages of every tree + the free pages = the last page
 * + 1 (LMDB's own audit). A damaged page that faults takes down the child,
 * not the caller: that database is reported damaged and the walk goes on
 * with the next in a new child.
 */
#ifndef AH_STORE_CHECK_H
#define AH_STORE_CHECK_H

#include "store.h"
#include "store_file.h"

#include <stdbool.h>
#include <stdio.h>

/* A record check: 1 when its checksum verified the record; 0 when it is
 * well formed but carries no checksum (a database that keeps none, or a
 * record written before checksums); -1 when it is damaged (why says how,
 * in a few words). Runs in the child. */
typedef int (*store_rec_check_fn)(store_val key, store_val value, char *why, size_t whylen);

typedef struct store_check_opts {
    const char *path;    /* the data file */
    const char *env_dir; /* its environment's directory (opened with LMDB's lock:
                            a host may be serving it), or NULL for a standalone copy */
    store_rec_check_fn checks[STORE_DB_COUNT]; /* NULL: the tree's structure only */
    bool checksummed[STORE_DB_COUNT];          /* its records carry checksums (or predate them) */
} store_check_opts;

/* The checks of the databases the core owns: meta (the format marker),
 * docs (store_rec.h frames, checksummed), kv, instances and tokens (JSON). */
void store_check_core(store_check_opts *o);

#define STORE_CHECK_TREES (STORE_DB_COUNT + 2)
#define STORE_CHECK_MAIN STORE_DB_COUNT       /* LMDB's list of databases */
#define STORE_CHECK_FREE (STORE_DB_COUNT + 1) /* LMDB's free pages */

typedef struct store_check_tree {
    const char *name;
    bool absent; /* not in this store (an older one) */
    bool walked; /* the walk reached its end */
    int signo;   /* the signal that killed the walk in it, or 0 */
    uint64_t records, verified, unverified, damaged, pages;
    char first[3][200]; /* the first damage found */
    size_t nfirst;
} store_check_tree;

typedef struct store_check_report {
    store_file_info file;
    store_check_tree tree[STORE_CHECK_TREES];
    uint64_t free_pages;    /* pages listed as free */
    uint64_t unknown_pages; /* pages of databases this host does not know */
    uint64_t last_page;     /* of the snapshot walked */
    bool pages_counted;     /* every tree walked in one snapshot */
    char unknown[256];      /* databases this host does not know, by name */
    size_t damaged;         /* trees with damage, plus 1 if the pages do not add up */
} store_check_report;

/* Check the store. Returns 0 with *r filled (r->damaged says whether it is
 * intact), or the error of store_file_check (AH_ENOTFOUND, AH_EINVAL: the
 * file itself is damaged, err says how; AH_EIO), or AH_EIO when the walk
 * could not start (err says why). */
int store_check(const store_check_opts *o, store_check_report *r, char *err, size_t errlen);

/* The report, one line per tree, then the page count and a verdict. */
void store_check_print(const store_check_report *r, const store_check_opts *o, FILE *out);

#endif
