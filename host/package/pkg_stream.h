/*
 * pkg_stream.h - the bytes of a plugin package, held to exactly the shape
 * docs/adr/0010-signed-plugin-packages.md specifies before libarchive
 * parses any of them. pkg_read.c hands libarchive (tar format only, no
 * filter) what pkg_stream_next returns, so every byte libarchive sees has
 * passed these checks first:
 *
 *  - the container is one gzip member (RFC 1952): 1f 8b, method deflate,
 *    no optional header fields (file name, comment, extra field, header
 *    CRC), nothing after its trailer (no second member, no trailing
 *    bytes), at most PKG_MAX_ARCHIVE_BYTES;
 *  - inside it, a tar stream of 512-byte blocks whose headers are POSIX
 *    ustar ("ustar\0" "00", unsigned checksum, size in octal) of type
 *    '0' (file), '5' (directory, no data) or 'x' (a pax extended header
 *    of at most PKG_PAX_MAX bytes holding one "path" record and nothing
 *    else, followed by the header it extends). Types '1', '2', '3', '4'
 *    and '6' (links, devices, FIFOs) pass with no data, so that the entry
 *    checks refuse them by name; every other type (GNU long names and
 *    sparse files, pax global headers, vendor extensions, '7', NUL) is
 *    refused here. Files and directories name no link target; the
 *    padding after an entry's data is zero;
 *  - the archive ends with two zero blocks, followed by nothing but
 *    zero blocks up to the end of a 10240-byte tar record.
 *
 * Errors are one line (without the "not a valid package archive" prefix)
 * and sticky: once one is found every call fails.
 */
#ifndef AH_PKG_STREAM_H
#define AH_PKG_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PKG_PAX_MAX 512u
#define PKG_TAR_RECORD 10240u

typedef struct pkg_stream pkg_stream;

/* A stream over fd (read from its current position; not closed) or over
 * len bytes at buf (borrowed until pkg_stream_free). NULL when out of
 * memory. */
pkg_stream *pkg_stream_new_fd(int fd);
pkg_stream *pkg_stream_new_memory(const void *buf, size_t len);
void pkg_stream_free(pkg_stream *s);

/* The next checked bytes of the tar stream: > 0 with *buf valid until the
 * next call, 0 after the last block, -1 on a read error or a departure
 * from the format (pkg_stream_error says which). */
ssize_t pkg_stream_next(pkg_stream *s, const void **buf);

/* Once the tar reader has met the end-of-archive marker: read and check
 * the rest (the second zero block, the padding, the gzip trailer, the end
 * of the input). 0, or -1 (pkg_stream_error says why); -1 too when any
 * earlier call failed. */
int pkg_stream_finish(pkg_stream *s);

/* The first error found, or NULL while there is none. */
const char *pkg_stream_error(const pkg_stream *s);

/* Compressed bytes read so far (for the unpacked:packed ratio). */
uint64_t pkg_stream_packed(const pkg_stream *s);

#endif
