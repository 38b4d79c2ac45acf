/*
 * pkg_read.h - reading a plugin package archive (a gzip-compressed POSIX
 * tar; see docs/adr/0010-signed-plugin-packages.md) with every entry
 * checked before a byte of it reaches the caller:
 *
 *  - the archive has exactly the specified shape, checked byte by byte
 *    before libarchive parses it (pkg_stream.h: one gzip member, ustar
 *    headers, pax only for paths, nothing after the end marker);
 *  - the first entry is a regular file named signature.json;
 *  - only regular files and directories: symbolic links, hard links,
 *    devices, FIFOs and sparse files are refused;
 *  - paths are relative, at most PKG_MAX_PATH bytes and PKG_MAX_DEPTH
 *    components of [A-Za-z0-9._+@-], none empty, none starting with '.'
 *    (so no "..", no absolute path, no hidden file), no path twice, no
 *    file where a directory is and the other way round;
 *  - caps: PKG_MAX_ENTRIES entries, PKG_MAX_FILE_BYTES per file,
 *    PKG_MAX_TOTAL_BYTES unpacked, and an unpacked:packed ratio of at most
 *    PKG_MAX_RATIO once past PKG_RATIO_FLOOR (a decompression bomb stops
 *    after a few megabytes, not at the disk's end), counted on the bytes
 *    actually produced, not on what the headers claim.
 *
 * The top-level "signature.json" is kept in memory, not given to the sink.
 * Every other file is streamed to the sink and its SHA-256 computed.
 * Errors are one line; entry errors name the entry, format errors start
 * "not a valid package archive: ".
 */
#ifndef AH_PKG_READ_H
#define AH_PKG_READ_H

#include <stddef.h>
#include <stdint.h>

#define PKG_MAX_ARCHIVE_BYTES (256u << 20)
#define PKG_MAX_ENTRIES 1000u
#define PKG_MAX_FILE_BYTES (128u << 20)
#define PKG_MAX_TOTAL_BYTES (256ull << 20)
#define PKG_MAX_RATIO 100u
#define PKG_RATIO_FLOOR (4u << 20)
#define PKG_MAX_PATH 255u
#define PKG_MAX_DEPTH 8u
#define PKG_SIGNATURE_NAME "signature.json"
#define PKG_SIGNATURE_MAX (256u << 10)

/* Where accepted entries go. Paths are checked and relative. Any callback
 * may be NULL; a non-zero return stops the read with err. */
typedef struct pkg_sink {
    int (*dir)(void *ud, const char *path, char *err, size_t errlen);
    int (*file_begin)(void *ud, const char *path, char *err, size_t errlen);
    int (*file_data)(void *ud, const void *p, size_t n, char *err, size_t errlen);
    int (*file_end)(void *ud, char *err, size_t errlen);
} pkg_sink;

typedef struct pkg_file {
    char *path;
    uint8_t sha256[32];
    uint64_t size;
} pkg_file;

typedef struct pkg_contents {
    pkg_file *files; /* regular files, in archive order, signature.json excluded */
    size_t nfiles;
    char *signature; /* signature.json's text (never NULL after a successful read) */
    size_t signature_len;
    uint64_t unpacked;
} pkg_contents;

/* Read an archive from fd (its current position) or from memory. 0, or -1
 * with err; *out is filled either way and freed with pkg_contents_free. */
int pkg_read_fd(int fd, const pkg_sink *sink, void *ud, pkg_contents *out, char *err,
                size_t errlen);
int pkg_read_memory(const void *buf, size_t len, const pkg_sink *sink, void *ud, pkg_contents *out,
                    char *err, size_t errlen);
void pkg_contents_free(pkg_contents *c);

/* The path rule above, for one relative path (no trailing '/'). 0 or -1
 * with the reason (without the path). */
int pkg_check_path(const char *path, char *err, size_t errlen);

#endif
