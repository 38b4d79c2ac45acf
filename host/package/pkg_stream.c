#include "pkg_stream.h"

#include "pkg_read.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define CHUNK 65536u
#define BLOCK 512u
#define TWICE "compressed twice (gzip inside gzip); a package is compressed once"

typedef enum tar_state {
    AT_HEADER,  /* the next block is a header or the first zero block */
    IN_DATA,    /* inside an entry's data or its padding */
    AFTER_ZERO, /* one zero block read: the next must be the second */
    AFTER_END,  /* the end-of-archive marker read: zero padding only */
} tar_state;

struct pkg_stream {
    /* the source: fd, or mem when not NULL */
    int fd;
    const uint8_t *mem;
    size_t memlen, mempos;
    uint64_t packed;
    /* the gzip member */
    z_stream z;
    bool z_ready, z_done;
    uint8_t in[CHUNK];
    uint8_t out[CHUNK];
    size_t opos, olen;
    /* the tar stream */
    uint64_t tar_pos; /* bytes of it handed on or checked */
    tar_state state;
    uint8_t block[BLOCK];
    size_t bfill;
    uint64_t content_left, pad_left;
    bool pax_pending; /* the last header was 'x': an entry header must follow */
    bool collecting;  /* the data being read is a pax header's */
    char pax[PKG_PAX_MAX];
    size_t paxlen;
    uint64_t record_end; /* after the end marker, the stream ends by here */
    bool failed;
    char err[400];
};

__attribute__((format(printf, 2, 3))) static int fail(pkg_stream *s, const char *fmt, ...)
{
    if (!s->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->err, sizeof(s->err), fmt, ap);
        va_end(ap);
        s->failed = true;
    }
    return -1;
}

static pkg_stream *new_stream(void)
{
    pkg_stream *s = calloc(1, sizeof(*s));
    if (s) s->fd = -1;
    return s;
}

pkg_stream *pkg_stream_new_fd(int fd)
{
    pkg_stream *s = new_stream();
    if (s) s->fd = fd;
    return s;
}

pkg_stream *pkg_stream_new_memory(const void *buf, size_t len)
{
    pkg_stream *s = new_stream();
    if (s) {
        s->mem = buf ? buf : (const uint8_t *)"";
        s->memlen = len;
    }
    return s;
}

void pkg_stream_free(pkg_stream *s)
{
    if (!s) return;
    if (s->z_ready) inflateEnd(&s->z);
    free(s);
}

const char *pkg_stream_error(const pkg_stream *s)
{
    return s->failed ? s->err : NULL;
}

uint64_t pkg_stream_packed(const pkg_stream *s)
{
    return s->packed;
}

/* ---- the compressed bytes ------------------------------------------------- */

/* Read from the source into in[at..]: bytes read, 0 at its end, or -1. */
static ssize_t fill_in(pkg_stream *s, size_t at)
{
    ssize_t r;
    if (s->mem) {
        size_t n = s->memlen - s->mempos < CHUNK - at ? s->memlen - s->mempos : CHUNK - at;
        memcpy(s->in + at, s->mem + s->mempos, n);
        s->mempos += n;
        r = (ssize_t)n;
    } else {
        do
            r = read(s->fd, s->in + at, CHUNK - at);
        while (r < 0 && errno == EINTR);
        if (r < 0) return fail(s, "cannot read the package: %s", strerror(errno));
    }
    s->packed += (uint64_t)r;
    if (s->packed > PKG_MAX_ARCHIVE_BYTES) return fail(s, "larger than 256 MiB: refused");
    return r;
}

/* The gzip header, checked before zlib reads it: RFC 1952's fixed ten
 * bytes with no optional field. */
static int start(pkg_stream *s)
{
    size_t have = 0;
    while (have < BLOCK) {
        ssize_t r = fill_in(s, have);
        if (r < 0) return -1;
        if (r == 0) break;
        have += (size_t)r;
    }
    const uint8_t *h = s->in;
    if (have < 2 || h[0] != 0x1f || h[1] != 0x8b) {
        if (have >= 262 && !memcmp(h + 257, "ustar", 5))
            return fail(s, "a plain tar archive; a package is gzip-compressed (tar.gz)");
        return fail(s, "not gzip-compressed (a package is a tar.gz)");
    }
    if (have < 10) return fail(s, "truncated: the gzip header is cut short");
    if (h[2] != Z_DEFLATED)
        return fail(s, "gzip compression method %u; a package uses deflate (8)", h[2]);
    if (h[3] != 0)
        return fail(s,
                    "optional gzip header fields (flags 0x%02x: a file name, comment, extra "
                    "field or header CRC); a package has none",
                    h[3]);
    if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK) return fail(s, "out of memory");
    s->z_ready = true;
    s->z.next_in = s->in;
    s->z.avail_in = (uInt)have;
    return 0;
}

/* At the gzip trailer: nothing may follow it. */
static int check_gzip_end(pkg_stream *s)
{
    if (s->z.avail_in == 0) {
        ssize_t r = fill_in(s, 0);
        if (r <= 0) return (int)r;
    }
    return fail(s, "bytes after the end of the gzip stream (a second gzip member or trailing "
                   "data); a package is one gzip member");
}

/* Decompress into out: bytes produced (> 0), 0 after the trailer, or -1. */
static ssize_t inflate_more(pkg_stream *s)
{
    s->opos = s->olen = 0;
    if (s->z_done) return 0;
    s->z.next_out = s->out;
    s->z.avail_out = CHUNK;
    while (s->z.avail_out == CHUNK) {
        if (s->z.avail_in == 0) {
            ssize_t r = fill_in(s, 0);
            if (r < 0) return -1;
            if (r == 0) return fail(s, "truncated: the gzip stream ends early");
            s->z.next_in = s->in;
            s->z.avail_in = (uInt)r;
        }
        int rc = inflate(&s->z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
            s->z_done = true;
            if (check_gzip_end(s) < 0) return -1;
            break;
        }
        if (rc != Z_OK && !(rc == Z_BUF_ERROR && s->z.avail_in == 0))
            return fail(s, "corrupt gzip data (%s)", s->z.msg ? s->z.msg : "inflate failed");
    }
    s->olen = CHUNK - s->z.avail_out;
    return (ssize_t)s->olen;
}

/* Up to want bytes of the tar stream at *p: > 0, 0 at its end, or -1. */
static ssize_t plain(pkg_stream *s, const uint8_t **p, uint64_t want)
{
    if (s->opos == s->olen) {
        ssize_t r = inflate_more(s);
        if (r <= 0) return r;
    }
    size_t n = s->olen - s->opos;
    if (want < n) n = (size_t)want;
    *p = s->out + s->opos;
    s->opos += n;
    s->tar_pos += n;
    return (ssize_t)n;
}

/* ---- the tar blocks --------------------------------------------------------- */

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

/* A numeric field: optional leading spaces, octal digits, then only NUL
 * or space. Base-256 and anything else: -1. */
static int octal(const uint8_t *f, size_t n, uint64_t *out)
{
    size_t i = 0;
    while (i < n && f[i] == ' ')
        i++;
    size_t first = i;
    uint64_t v = 0;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 60) return -1;
        v = v * 8 + (uint64_t)(f[i] - '0');
    }
    if (i == first) return -1;
    for (; i < n; i++)
        if (f[i] != 0 && f[i] != ' ') return -1;
    *out = v;
    return 0;
}

static uint64_t checksum(const uint8_t *h)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < BLOCK; i++)
        sum += (i >= 148 && i < 156) ? ' ' : h[i];
    return sum;
}

/* The header's name field, printable and short, for messages. */
static const char *shown_name(const uint8_t *h, char *buf, size_t len)
{
    size_t k = 0;
    for (size_t i = 0; i < 100 && h[i] && k + 4 < len; i++)
        buf[k++] = (h[i] >= 0x20 && h[i] < 0x7f && h[i] != '"') ? (char)h[i] : '?';
    buf[k] = 0;
    return buf;
}

/* The records of a pax extended header: exactly one, "path", non-empty. */
static int check_pax(pkg_stream *s)
{
    bool have_path = false;
    for (size_t i = 0; i < s->paxlen;) {
        size_t len = 0, j = i;
        for (; j < s->paxlen && s->pax[j] >= '0' && s->pax[j] <= '9' && len <= PKG_PAX_MAX; j++)
            len = len * 10 + (size_t)(s->pax[j] - '0');
        if (j == i || j >= s->paxlen || s->pax[j] != ' ' || len < j - i + 3 ||
            len > s->paxlen - i || s->pax[i + len - 1] != '\n')
            return fail(s, "a malformed pax record");
        const char *key = s->pax + j + 1, *end = s->pax + i + len - 1;
        const char *eq = memchr(key, '=', (size_t)(end - key));
        if (!eq || eq == key) return fail(s, "a malformed pax record");
        if ((size_t)(eq - key) != 4 || memcmp(key, "path", 4) != 0) {
            char shown[48];
            size_t k = 0;
            for (const char *c = key; c < eq && k + 4 < sizeof(shown); c++)
                shown[k++] = (*c >= 0x20 && *c < 0x7f && *c != '"') ? *c : '?';
            shown[k] = 0;
            return fail(s,
                        "pax keyword \"%s\" is not allowed (a package's pax headers carry "
                        "only \"path\")",
                        shown);
        }
        if (have_path) return fail(s, "pax keyword \"path\" twice in one header");
        if (eq + 1 == end || memchr(eq + 1, 0, (size_t)(end - eq - 1)))
            return fail(s, "a pax path that is empty or holds a NUL byte");
        have_path = true;
        i += len;
    }
    if (!have_path) return fail(s, "a pax extended header without a path record");
    return 0;
}

/* The entry's data (size bytes) and its zero padding come next. */
static int begin_data(pkg_stream *s, uint64_t size)
{
    s->content_left = size;
    s->pad_left = (BLOCK - size % BLOCK) % BLOCK;
    s->state = IN_DATA;
    if (size || s->pad_left) return 0;
    s->state = AT_HEADER;
    if (s->collecting) {
        s->collecting = false;
        return check_pax(s);
    }
    return 0;
}

static int refuse_type(pkg_stream *s, uint64_t at, const char *name, uint8_t type)
{
    const char *what = type == 'g'   ? "a pax global header; a package has none"
                       : type == 'L' ? "a GNU long-name header; a package is POSIX ustar/pax"
                       : type == 'K' ? "a GNU long-link header; a package is POSIX ustar/pax"
                       : type == 'S' ? "a GNU sparse file; a package is POSIX ustar/pax"
                                     : NULL;
    if (what)
        return fail(s, "tar header at byte %llu (\"%s\"): %s", (unsigned long long)at, name, what);
    char t[8];
    if (type == 0)
        snprintf(t, sizeof(t), "NUL");
    else if (type >= 0x20 && type < 0x7f)
        snprintf(t, sizeof(t), "'%c'", type);
    else
        snprintf(t, sizeof(t), "0x%02x", type);
    return fail(s,
                "tar header at byte %llu (\"%s\"): entry type %s is not allowed (a package "
                "holds files and directories)",
                (unsigned long long)at, name, t);
}

static int check_header(pkg_stream *s, uint64_t at)
{
    const uint8_t *h = s->block;
    char name[64];
    shown_name(h, name, sizeof(name));
    unsigned long long pos = (unsigned long long)at;
    if (at == 0 && h[0] == 0x1f && h[1] == 0x8b) return fail(s, TWICE);
    if (!memcmp(h + 257, "ustar  \0", 8))
        return fail(s,
                    "GNU tar format (tar header at byte %llu, \"%s\"); a package is POSIX "
                    "ustar/pax: make it with `agenthost plugin pack`",
                    pos, name);
    if (memcmp(h + 257,
               "ustar\0"
               "00",
               8))
        return fail(s, "not a POSIX ustar tar header (at byte %llu of the tar stream)", pos);
    uint64_t sum, size;
    if (octal(h + 148, 8, &sum) < 0 || sum != checksum(h))
        return fail(s, "tar header at byte %llu (\"%s\"): wrong checksum", pos, name);
    if (octal(h + 124, 12, &size) < 0)
        return fail(s, "tar header at byte %llu (\"%s\"): the size field is not octal", pos, name);
    uint8_t type = h[156];
    if (type == 'x') {
        if (s->pax_pending)
            return fail(s, "tar header at byte %llu: a pax extended header follows another", pos);
        if (size > PKG_PAX_MAX)
            return fail(s,
                        "tar header at byte %llu: a pax extended header of %llu bytes (at most %u)",
                        pos, (unsigned long long)size, PKG_PAX_MAX);
        s->pax_pending = s->collecting = true;
        s->paxlen = 0;
        return begin_data(s, size);
    }
    if (!strchr("0123456", type) || type == 0) return refuse_type(s, at, name, type);
    if ((type == '0' || type == '5') && h[157])
        return fail(s, "tar header at byte %llu (\"%s\"): a file or directory with a link name",
                    pos, name);
    if (type != '0' && size)
        return fail(s, "tar header at byte %llu (\"%s\"): a %s with %llu bytes of data", pos, name,
                    type == '5' ? "directory" : "link or special file", (unsigned long long)size);
    s->pax_pending = false;
    return begin_data(s, size);
}

/* One whole block, at byte `at` of the tar stream. */
static int check_block(pkg_stream *s, uint64_t at)
{
    bool zero = all_zero(s->block, BLOCK);
    switch (s->state) {
    case AFTER_END:
        if (!zero)
            return fail(s, "data after the end-of-archive marker (at byte %llu of the tar stream)",
                        (unsigned long long)at);
        if (s->tar_pos > s->record_end)
            return fail(s,
                        "more zero padding than a tar record (%u bytes) after the "
                        "end-of-archive marker",
                        PKG_TAR_RECORD);
        return 0;
    case AFTER_ZERO:
        if (!zero)
            return fail(s,
                        "an entry after a zero block (at byte %llu of the tar stream): nothing "
                        "follows the end-of-archive marker",
                        (unsigned long long)at);
        s->state = AFTER_END;
        s->record_end = (s->tar_pos + PKG_TAR_RECORD - 1) / PKG_TAR_RECORD * PKG_TAR_RECORD;
        return 0;
    case AT_HEADER:
        if (!zero) return check_header(s, at);
        if (s->pax_pending)
            return fail(s, "a pax extended header extends no entry (the archive ends after it)");
        s->state = AFTER_ZERO;
        return 0;
    case IN_DATA:
        break;
    }
    return fail(s, "internal error: a block read inside an entry's data");
}

static ssize_t next_block(pkg_stream *s, const void **buf)
{
    while (s->bfill < BLOCK) {
        const uint8_t *p;
        ssize_t n = plain(s, &p, BLOCK - s->bfill);
        if (n < 0) return -1;
        if (n == 0) {
            if (s->bfill && s->tar_pos == s->bfill && s->bfill >= 2 && s->block[0] == 0x1f &&
                s->block[1] == 0x8b)
                return fail(s, TWICE);
            if (s->bfill) return fail(s, "the tar stream is not a whole number of 512-byte blocks");
            if (s->state != AFTER_END)
                return fail(s, "truncated: the archive ends without its end-of-archive marker "
                               "(two zero blocks)");
            return 0;
        }
        memcpy(s->block + s->bfill, p, (size_t)n);
        s->bfill += (size_t)n;
    }
    s->bfill = 0;
    if (check_block(s, s->tar_pos - BLOCK) < 0) return -1;
    *buf = s->block;
    return BLOCK;
}

static ssize_t next_data(pkg_stream *s, const void **buf)
{
    bool padding = s->content_left == 0;
    const uint8_t *p;
    ssize_t n = plain(s, &p, padding ? s->pad_left : s->content_left);
    if (n < 0) return -1;
    if (n == 0) return fail(s, "truncated: the archive ends inside an entry's data");
    if (padding) {
        if (!all_zero(p, (size_t)n))
            return fail(s, "an entry's padding is not zero (before byte %llu of the tar stream)",
                        (unsigned long long)s->tar_pos);
        s->pad_left -= (uint64_t)n;
    } else {
        if (s->collecting) {
            memcpy(s->pax + s->paxlen, p, (size_t)n);
            s->paxlen += (size_t)n;
        }
        s->content_left -= (uint64_t)n;
    }
    if (!s->content_left && !s->pad_left) {
        s->state = AT_HEADER;
        if (s->collecting) {
            s->collecting = false;
            if (check_pax(s) < 0) return -1;
        }
    }
    *buf = p;
    return n;
}

ssize_t pkg_stream_next(pkg_stream *s, const void **buf)
{
    *buf = NULL;
    if (s->failed) return -1;
    if (!s->z_ready && start(s) < 0) return -1;
    return s->state == IN_DATA ? next_data(s, buf) : next_block(s, buf);
}

int pkg_stream_finish(pkg_stream *s)
{
    if (s->failed) return -1;
    if (s->state != AFTER_ZERO && s->state != AFTER_END)
        return fail(s, "the archive was left before its end-of-archive marker");
    const void *p;
    ssize_t n;
    while ((n = pkg_stream_next(s, &p)) > 0)
        ;
    return n < 0 ? -1 : 0;
}
