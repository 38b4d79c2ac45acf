/*
 * store_file.h - what an LMDB data file says about itself, read with
 * pread before LMDB maps it.
 *
 * LMDB initialises an empty file as a new environment, and maps a file
 * shorter than its pages in use, so the first read of a missing page kills
 * the process with SIGBUS. These checks refuse both, and a file whose
 * meta pages are damaged, with a reason that names the file.
 *
 * On disk (lmdb.h's data format 1, native byte order and word size): pages
 * 0 and 1 each hold a page header and a meta record: magic 0xBEEFC0DE,
 * version, the page size, the last page in use and the transaction that
 * wrote it. LMDB uses the valid meta with the higher transaction id.
 */
#ifndef AH_STORE_FILE_H
#define AH_STORE_FILE_H

#include <stddef.h>
#include <stdint.h>

typedef struct store_meta {
    uint32_t page_size;
    uint32_t version;   /* LMDB's data format, 1 */
    uint64_t last_page; /* the highest page number in use */
    uint64_t txnid;     /* the transaction that wrote this meta */
    uint64_t map_size;
} store_meta;

/* Parse one meta page (the first n bytes of page 0 or 1). Returns 0 when it
 * is a valid meta page; -1 when it is not (no meta flag, wrong magic, an
 * impossible page size, too short); -2 for a valid meta of another LMDB
 * data version (m->version says which). */
int store_meta_parse(const void *page, size_t n, store_meta *m);

typedef struct store_file_info {
    uint64_t file_bytes;
    uint32_t page_size;
    uint64_t last_page;    /* of the meta in use */
    uint64_t txnid;        /* of the meta in use */
    int meta;              /* the meta in use: 0 or 1 */
    uint64_t needed_bytes; /* what the file must hold: its pages in use */
} store_file_info;

/* Check the data file at path before LMDB opens it: a regular file, not
 * empty, both meta pages valid, long enough for its pages in use. A file
 * shorter than (last page + 1) * page size is legitimate when the pages
 * past its end are all free (LMDB does not write pages freed by the
 * transaction that allocated them): that is proven by reading LMDB's list
 * of free pages in a child process (forked.h), so a file too short even for
 * that list is refused instead of faulting. env_dir: the directory of the
 * environment the file belongs to (opened with LMDB's lock file, as other
 * processes may use it), or NULL for a standalone copy (a backup).
 * Returns 0 with *info filled; AH_ENOTFOUND when there is no file;
 * AH_EINVAL when the file is refused (err says why, naming path); AH_EIO
 * when it cannot be read. */
int store_file_check(const char *path, const char *env_dir, store_file_info *info, char *err,
                     size_t errlen);

#endif
