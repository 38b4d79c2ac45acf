#include "pkg_read.h"

#include "pkg_stream.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct seen {
    char *path;
    size_t len;
    bool dir;
} seen;

typedef struct reader {
    struct archive *a;
    pkg_stream *s;
    const pkg_sink *sink;
    void *ud;
    pkg_contents *out;
    seen *seen;
    size_t nseen, capseen;
    size_t capfiles;
    char *err;
    size_t errlen;
} reader;

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '+' || c == '@';
}

int pkg_check_path(const char *path, char *err, size_t errlen)
{
    size_t len = strlen(path);
    if (len == 0) {
        snprintf(err, errlen, "empty path");
        return -1;
    }
    if (len > PKG_MAX_PATH) {
        snprintf(err, errlen, "path longer than %u bytes", PKG_MAX_PATH);
        return -1;
    }
    if (path[0] == '/') {
        snprintf(err, errlen, "absolute path");
        return -1;
    }
    unsigned depth = 0;
    for (const char *c = path; *c;) {
        const char *end = strchr(c, '/');
        size_t n = end ? (size_t)(end - c) : strlen(c);
        if (n == 0) {
            snprintf(err, errlen, "empty path component");
            return -1;
        }
        if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) {
            snprintf(err, errlen, "path leaves the package (\"%.*s\" component)", (int)n, c);
            return -1;
        }
        if (c[0] == '.') {
            snprintf(err, errlen, "hidden file (a component starts with '.')");
            return -1;
        }
        for (size_t i = 0; i < n; i++)
            if (!name_char(c[i])) {
                snprintf(err, errlen,
                         "character 0x%02x not allowed (paths use A-Z a-z 0-9 . _ - + @ and /)",
                         (unsigned char)c[i]);
                return -1;
            }
        if (++depth > PKG_MAX_DEPTH) {
            snprintf(err, errlen, "deeper than %u directories", PKG_MAX_DEPTH);
            return -1;
        }
        c = end ? end + 1 : c + n;
        if (end && !*c) {
            snprintf(err, errlen, "trailing '/'");
            return -1;
        }
    }
    return 0;
}

static int fail_entry(reader *r, const char *path, const char *fmt, const char *detail)
{
    char msg[400];
    snprintf(msg, sizeof(msg), fmt, detail ? detail : "");
    char shown[80];
    /* Show a hostile path safely: printable ASCII only, bounded. */
    size_t k = 0;
    for (const char *p = path ? path : ""; *p && k < sizeof(shown) - 4; p++)
        shown[k++] = (*p >= 0x20 && *p < 0x7f && *p != '"') ? *p : '?';
    if (path && strlen(path) > sizeof(shown) - 4) {
        memcpy(shown + k, "...", 3);
        k += 3;
    }
    shown[k] = 0;
    snprintf(r->err, r->errlen, "entry \"%s\": %s", shown, msg);
    return -1;
}

static seen *find_seen(reader *r, const char *path, size_t len)
{
    for (size_t i = 0; i < r->nseen; i++)
        if (r->seen[i].len == len && !memcmp(r->seen[i].path, path, len)) return &r->seen[i];
    return NULL;
}

static int add_seen(reader *r, const char *path, size_t len, bool dir)
{
    if (r->nseen == r->capseen) {
        size_t cap = r->capseen ? r->capseen * 2 : 32;
        seen *nv = realloc(r->seen, cap * sizeof(*nv));
        if (!nv) return -1;
        r->seen = nv;
        r->capseen = cap;
    }
    char *p = strndup(path, len);
    if (!p) return -1;
    r->seen[r->nseen++] = (seen){p, len, dir};
    return 0;
}

/* Record path (and its parents as directories); refuse a path twice and a
 * file where a directory is (or the other way round). */
static int claim(reader *r, const char *path, bool dir)
{
    for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
        seen *p = find_seen(r, path, (size_t)(s - path));
        if (p && !p->dir) return fail_entry(r, path, "a parent of this path is a file%s", NULL);
        if (!p && add_seen(r, path, (size_t)(s - path), true) < 0)
            return fail_entry(r, path, "out of memory%s", NULL);
    }
    seen *me = find_seen(r, path, strlen(path));
    if (me && !(dir && me->dir)) return fail_entry(r, path, "appears twice in the package%s", NULL);
    if (!me && add_seen(r, path, strlen(path), dir) < 0)
        return fail_entry(r, path, "out of memory%s", NULL);
    return 0;
}

static int check_bomb(reader *r, const char *path, uint64_t file_bytes)
{
    uint64_t total = r->out->unpacked;
    if (file_bytes > PKG_MAX_FILE_BYTES)
        return fail_entry(r, path, "larger than %s: refused", "128 MiB");
    if (total > PKG_MAX_TOTAL_BYTES)
        return fail_entry(r, path, "the package unpacks to more than %s: refused", "256 MiB");
    uint64_t packed = pkg_stream_packed(r->s);
    if (total > PKG_RATIO_FLOOR && packed > 0 && total / packed > PKG_MAX_RATIO) {
        char d[120];
        snprintf(d, sizeof(d), "%llu MiB unpacked from %llu KiB read, more than %u:1",
                 (unsigned long long)(total >> 20), (unsigned long long)(packed >> 10),
                 PKG_MAX_RATIO);
        return fail_entry(r, path, "decompression bomb (%s): refused", d);
    }
    return 0;
}

/* Why libarchive failed: the format check's finding first, for it saw
 * the bytes before libarchive did. */
static const char *why_unreadable(const reader *r)
{
    const char *e = pkg_stream_error(r->s);
    if (!e) e = archive_error_string(r->a);
    return e ? e : "unreadable";
}

static int read_signature(reader *r, const char *path)
{
    if (r->out->signature) return fail_entry(r, path, "appears twice in the package%s", NULL);
    char *buf = malloc(PKG_SIGNATURE_MAX + 1);
    if (!buf) return fail_entry(r, path, "out of memory%s", NULL);
    size_t n = 0;
    for (;;) {
        la_ssize_t got = archive_read_data(r->a, buf + n, PKG_SIGNATURE_MAX + 1 - n);
        if (got < 0) {
            free(buf);
            return fail_entry(r, path, "cannot be read: %s", why_unreadable(r));
        }
        if (got == 0) break;
        n += (size_t)got;
        r->out->unpacked += (uint64_t)got;
        if (n > PKG_SIGNATURE_MAX) {
            free(buf);
            return fail_entry(r, path, "larger than %s: not a signature", "256 KiB");
        }
        if (check_bomb(r, path, n) < 0) {
            free(buf);
            return -1;
        }
    }
    buf[n] = 0;
    r->out->signature = buf;
    r->out->signature_len = n;
    return 0;
}

static int read_file(reader *r, const char *path)
{
    if (r->out->nfiles == r->capfiles) {
        size_t cap = r->capfiles ? r->capfiles * 2 : 16;
        pkg_file *nv = realloc(r->out->files, cap * sizeof(*nv));
        if (!nv) return fail_entry(r, path, "out of memory%s", NULL);
        r->out->files = nv;
        r->capfiles = cap;
    }
    pkg_file *f = &r->out->files[r->out->nfiles];
    memset(f, 0, sizeof(*f));
    if (!(f->path = strdup(path))) return fail_entry(r, path, "out of memory%s", NULL);
    r->out->nfiles++;
    const pkg_sink *s = r->sink;
    if (s && s->file_begin && s->file_begin(r->ud, path, r->err, r->errlen)) return -1;
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    for (;;) {
        const void *buf;
        size_t n;
        la_int64_t off;
        int rc = archive_read_data_block(r->a, &buf, &n, &off);
        if (rc == ARCHIVE_EOF) break;
        if (rc != ARCHIVE_OK) return fail_entry(r, path, "cannot be read: %s", why_unreadable(r));
        if (off < 0 || (uint64_t)off != f->size)
            return fail_entry(r, path, "sparse or out-of-order data: refused%s", NULL);
        f->size += n;
        r->out->unpacked += n;
        if (check_bomb(r, path, f->size) < 0) return -1;
        crypto_hash_sha256_update(&h, buf, n);
        if (n && s && s->file_data && s->file_data(r->ud, buf, n, r->err, r->errlen)) return -1;
    }
    crypto_hash_sha256_final(&h, f->sha256);
    if (s && s->file_end && s->file_end(r->ud, r->err, r->errlen)) return -1;
    return 0;
}

/* The end of the entries: the rest of the stream must be as specified,
 * and the package signed. */
static int read_end(reader *r)
{
    if (pkg_stream_finish(r->s) < 0) {
        snprintf(r->err, r->errlen, "not a valid package archive: %s", pkg_stream_error(r->s));
        return -1;
    }
    if (!r->out->signature) {
        snprintf(r->err, r->errlen,
                 "unsigned package (no " PKG_SIGNATURE_NAME "): refused; sign it with "
                 "`agenthost plugin pack DIR --key KEY`");
        return -1;
    }
    return 0;
}

static int read_entries(reader *r)
{
    struct archive_entry *e;
    unsigned count = 0;
    for (;;) {
        int rc = archive_read_next_header(r->a, &e);
        if (rc == ARCHIVE_EOF) return read_end(r);
        if (rc != ARCHIVE_OK || pkg_stream_error(r->s)) {
            snprintf(r->err, r->errlen, "not a valid package archive: %s", why_unreadable(r));
            return -1;
        }
        const char *raw = archive_entry_pathname(e);
        if (++count > PKG_MAX_ENTRIES)
            return fail_entry(r, raw, "more than %s entries in the package: refused", "1000");
        if (!raw) return fail_entry(r, "", "entry without a path%s", NULL);
        char path[PKG_MAX_PATH + 2];
        size_t len = strlen(raw);
        if (len > PKG_MAX_PATH + 1) return fail_entry(r, raw, "path longer than %s bytes", "255");
        memcpy(path, raw, len + 1);
        mode_t type = archive_entry_filetype(e);
        if (archive_entry_hardlink(e))
            return fail_entry(r, raw, "hard links are not allowed in packages (to \"%.80s\")",
                              archive_entry_hardlink(e));
        if (type == AE_IFLNK)
            return fail_entry(r, raw, "symbolic links are not allowed in packages (to \"%.80s\")",
                              archive_entry_symlink(e) ? archive_entry_symlink(e) : "?");
        if (type != AE_IFREG && type != AE_IFDIR)
            return fail_entry(r, raw, "special files are not allowed in packages%s", NULL);
        if (count == 1 && (type != AE_IFREG || strcmp(raw, PKG_SIGNATURE_NAME) != 0))
            return fail_entry(r, raw,
                              "the first entry must be " PKG_SIGNATURE_NAME
                              ": an unsigned package, or one not made by `agenthost plugin "
                              "pack`; refused%s",
                              NULL);
        if (type == AE_IFDIR && len > 1 && path[len - 1] == '/') path[--len] = 0;
        char why[200];
        if (pkg_check_path(path, why, sizeof(why)) < 0) return fail_entry(r, raw, "%s", why);
        if (archive_entry_sparse_count(e) > 0)
            return fail_entry(r, raw, "sparse files are not allowed in packages%s", NULL);
        if (archive_entry_size_is_set(e) && archive_entry_size(e) > (la_int64_t)PKG_MAX_FILE_BYTES)
            return fail_entry(r, raw, "larger than %s: refused", "128 MiB");
        if (claim(r, path, type == AE_IFDIR) < 0) return -1;
        if (type == AE_IFDIR) {
            if (r->sink && r->sink->dir && r->sink->dir(r->ud, path, r->err, r->errlen)) return -1;
            continue;
        }
        if (!strcmp(path, PKG_SIGNATURE_NAME)) {
            if (read_signature(r, path) < 0) return -1;
        } else if (read_file(r, path) < 0) {
            return -1;
        }
    }
}

static la_ssize_t read_stream(struct archive *a, void *ud, const void **buf)
{
    ssize_t n = pkg_stream_next(ud, buf);
    if (n < 0) archive_set_error(a, EINVAL, "%s", pkg_stream_error(ud));
    return n;
}

/* Read the package s holds; s is freed. */
static int read_package(pkg_stream *s, const pkg_sink *sink, void *ud, pkg_contents *out, char *err,
                        size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        pkg_stream_free(s);
        return -1;
    }
    /* The tar format only, and no filter: s hands over the tar stream
     * already decompressed, checked block by block. */
    struct archive *a = archive_read_new();
    if (!a || archive_read_support_format_tar(a) != ARCHIVE_OK) {
        snprintf(err, errlen, "out of memory");
        if (a) archive_read_free(a);
        pkg_stream_free(s);
        return -1;
    }
    reader r = {.a = a, .s = s, .sink = sink, .ud = ud, .out = out, .err = err, .errlen = errlen};
    int rc;
    if (archive_read_open(a, s, NULL, read_stream, NULL) != ARCHIVE_OK) {
        snprintf(err, errlen, "not a valid package archive: %s", why_unreadable(&r));
        rc = -1;
    } else {
        rc = read_entries(&r);
    }
    for (size_t i = 0; i < r.nseen; i++)
        free(r.seen[i].path);
    free(r.seen);
    archive_read_free(a);
    pkg_stream_free(s);
    return rc;
}

int pkg_read_fd(int fd, const pkg_sink *sink, void *ud, pkg_contents *out, char *err, size_t errlen)
{
    return read_package(pkg_stream_new_fd(fd), sink, ud, out, err, errlen);
}

int pkg_read_memory(const void *buf, size_t len, const pkg_sink *sink, void *ud, pkg_contents *out,
                    char *err, size_t errlen)
{
    return read_package(pkg_stream_new_memory(buf, len), sink, ud, out, err, errlen);
}

void pkg_contents_free(pkg_contents *c)
{
    for (size_t i = 0; i < c->nfiles; i++)
        free(c->files[i].path);
    free(c->files);
    free(c->signature);
    memset(c, 0, sizeof(*c));
}
