#include "pack.h"

#include "core/util.h"
#include "plugin/manifest.h"
#include "keys.h"
#include "pkg_read.h"
#include "plugincheck.h"
#include "signature.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct plan {
    const char *dir;
    pkg_file *files;
    size_t n, cap;
    uint64_t total;
    char *err;
    size_t errlen;
} plan;

static int refuse(plan *p, const char *rel, const char *why)
{
    snprintf(p->err, p->errlen, "%s/%s: %s", p->dir, rel, why);
    return -1;
}

static int add_file(plan *p, const char *rel, const struct stat *st)
{
    char why[200];
    if (!strcmp(rel, PKG_SIGNATURE_NAME))
        return refuse(p, rel, "this name is reserved for the package's signature");
    if (pkg_check_path(rel, why, sizeof(why)) < 0) return refuse(p, rel, why);
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->files[i].path, rel)) return 0;
    if (p->n + 1 >= PKG_MAX_ENTRIES)
        return refuse(p, rel, "more files than a package may hold (1000)");
    if ((uint64_t)st->st_size > PKG_MAX_FILE_BYTES)
        return refuse(p, rel, "larger than a package file may be (128 MiB)");
    p->total += (uint64_t)st->st_size;
    if (p->total > PKG_MAX_TOTAL_BYTES)
        return refuse(p, rel, "the package would be larger than 256 MiB unpacked");
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        pkg_file *nv = realloc(p->files, cap * sizeof(*nv));
        if (!nv) return refuse(p, rel, "out of memory");
        p->files = nv;
        p->cap = cap;
    }
    pkg_file *f = &p->files[p->n];
    memset(f, 0, sizeof(*f));
    if (!(f->path = strdup(rel))) return refuse(p, rel, "out of memory");
    p->n++;
    return 0;
}

/* A file, or a directory's regular files recursively; never a link. */
static int add_path(plan *p, const char *rel, int depth)
{
    char full[4096];
    struct stat st;
    snprintf(full, sizeof(full), "%s/%s", p->dir, rel);
    if (lstat(full, &st) < 0) return refuse(p, rel, strerror(errno));
    if (S_ISLNK(st.st_mode))
        return refuse(p, rel, "symbolic links cannot be packed; copy the file in");
    if (S_ISREG(st.st_mode)) return add_file(p, rel, &st);
    if (!S_ISDIR(st.st_mode))
        return refuse(p, rel, "only regular files and directories can be packed");
    if (depth >= (int)PKG_MAX_DEPTH) return refuse(p, rel, "nested too deep");
    DIR *d = opendir(full);
    if (!d) return refuse(p, rel, strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[4096];
        if (ah_fmt(sub, sizeof(sub), "%s/%s", rel, e->d_name) < 0)
            rc = refuse(p, rel, "path too long");
        else
            rc = add_path(p, sub, depth + 1);
    }
    closedir(d);
    return rc;
}

static bool is_document(const char *name)
{
    static const char *const prefixes[] = {"README",    "LICENSE", "LICENCE",
                                           "CHANGELOG", "NOTICE",  "COPYING"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (!strncasecmp(name, prefixes[i], strlen(prefixes[i]))) return true;
    return false;
}

static int collect(plan *p, const manifest *m, const pkg_pack_opts *o)
{
    if (add_path(p, "manifest.json", 0) < 0 ||
        add_path(p, json_string_value(json_object_get(m->json, "library")), 0) < 0)
        return -1;
    DIR *d = opendir(p->dir);
    if (!d) return refuse(p, ".", strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL)
        if (is_document(e->d_name)) rc = add_path(p, e->d_name, 0);
    closedir(d);
    char docs[4096];
    struct stat st;
    snprintf(docs, sizeof(docs), "%s/docs", p->dir);
    if (rc == 0 && lstat(docs, &st) == 0) rc = add_path(p, "docs", 0);
    size_t i;
    const json_t *eg;
    json_array_foreach(manifest_egress(m), i, eg)
    {
        const char *ca = json_string_value(json_object_get(eg, "ca_file"));
        if (rc == 0 && ca && ca[0] != '/') rc = add_path(p, ca, 0);
    }
    for (size_t k = 0; rc == 0 && k < o->ninclude; k++) {
        char rel[4096];
        snprintf(rel, sizeof(rel), "%s", o->include[k]);
        size_t n = strlen(rel);
        while (n > 1 && rel[n - 1] == '/')
            rel[--n] = 0;
        rc = add_path(p, rel, 0);
    }
    return rc;
}

static int hash_file(const char *path, uint8_t out[32], uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -1;
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    uint8_t buf[65536];
    ssize_t n;
    *size = 0;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        crypto_hash_sha256_update(&h, buf, (size_t)n);
        *size += (uint64_t)n;
    }
    int e = errno;
    close(fd);
    crypto_hash_sha256_final(&h, out);
    errno = e;
    return n < 0 ? -1 : 0;
}

static int cmp_files(const void *a, const void *b)
{
    return strcmp(((const pkg_file *)a)->path, ((const pkg_file *)b)->path);
}

static void entry_defaults(struct archive_entry *e, const char *path, int64_t size, time_t when)
{
    archive_entry_clear(e);
    archive_entry_set_pathname(e, path);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, size);
    archive_entry_set_mtime(e, when, 0);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
}

/* The entries' time: SOURCE_DATE_EPOCH, or 0. It must fit a ustar header
 * (11 octal digits), for a package's pax headers carry only paths. */
static int entry_time(time_t *when, char *err, size_t errlen)
{
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    *when = 0;
    if (!sde) return 0;
    char *end;
    errno = 0;
    long long v = strtoll(sde, &end, 10);
    if (errno || end == sde || *end || v < 0 || v > 077777777777LL) {
        snprintf(err, errlen,
                 "SOURCE_DATE_EPOCH=%.40s: not a whole number of seconds from 0 to %lld (what a "
                 "tar header holds)",
                 sde, 077777777777LL);
        return -1;
    }
    *when = (time_t)v;
    return 0;
}

/* Write the archive: signature.json, then the files in path order, each
 * re-hashed while written so a file changed meanwhile is caught. */
static int write_archive(const char *tmp, const plan *p, const char *sigtext, char *err,
                         size_t errlen)
{
    time_t when;
    if (entry_time(&when, err, errlen) < 0) return -1;
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    int rc = -1;
    if (!a || !e || archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
        archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_set_options(a, "gzip:!timestamp,gzip:compression-level=9") != ARCHIVE_OK ||
        archive_write_open_filename(a, tmp) != ARCHIVE_OK) {
        snprintf(err, errlen, "%s: %s", tmp, a ? archive_error_string(a) : "out of memory");
        goto out;
    }
    entry_defaults(e, PKG_SIGNATURE_NAME, (int64_t)strlen(sigtext), when);
    if (archive_write_header(a, e) != ARCHIVE_OK ||
        archive_write_data(a, sigtext, strlen(sigtext)) != (la_ssize_t)strlen(sigtext))
        goto archive_failed;
    for (size_t i = 0; i < p->n; i++) {
        const pkg_file *f = &p->files[i];
        char full[4096];
        snprintf(full, sizeof(full), "%s/%s", p->dir, f->path);
        int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
            snprintf(err, errlen, "%s: %s", full, strerror(errno));
            goto out;
        }
        entry_defaults(e, f->path, (int64_t)f->size, when);
        if (archive_write_header(a, e) != ARCHIVE_OK) {
            close(fd);
            goto archive_failed;
        }
        crypto_hash_sha256_state h;
        crypto_hash_sha256_init(&h);
        uint8_t buf[65536], dig[32];
        uint64_t left = f->size;
        ssize_t n;
        while (left && (n = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf))) > 0) {
            crypto_hash_sha256_update(&h, buf, (size_t)n);
            left -= (uint64_t)n;
            if (archive_write_data(a, buf, (size_t)n) != n) {
                close(fd);
                goto archive_failed;
            }
        }
        close(fd);
        crypto_hash_sha256_final(&h, dig);
        if (left || memcmp(dig, f->sha256, sizeof(dig)) != 0) {
            snprintf(err, errlen, "%s changed while it was being packed; try again", full);
            goto out;
        }
    }
    if (archive_write_close(a) != ARCHIVE_OK) goto archive_failed;
    rc = 0;
    goto out;
archive_failed:
    snprintf(err, errlen, "%s: %s", tmp, archive_error_string(a));
out:
    if (a) archive_write_free(a);
    if (e) archive_entry_free(e);
    return rc;
}

/* Read the written package back as install will. */
static int verify_written(const char *path, const char *list, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    pkg_contents c;
    char why[600];
    int rc = pkg_read_fd(fd, NULL, NULL, &c, why, sizeof(why));
    close(fd);
    char *again = rc == 0 ? pkg_digest_list(c.files, c.nfiles) : NULL;
    if (rc < 0 || !again || strcmp(again, list) != 0) {
        snprintf(err, errlen, "%s: the written package does not read back (%s)", path,
                 rc < 0 ? why : "contents differ");
        rc = -1;
    }
    free(again);
    pkg_contents_free(&c);
    return rc;
}

int pkg_pack(const pkg_pack_opts *o, pkg_packed *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof(*res));
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return -1;
    }
    char mpath[4096];
    snprintf(mpath, sizeof(mpath), "%s/manifest.json", o->dir);
    manifest *m = NULL;
    pkg_seckey *key = NULL;
    plan p = {.dir = o->dir, .err = err, .errlen = errlen};
    char *list = NULL, *sig = NULL, tmp[4200] = "";
    int rc = -1;
    if (manifest_load(mpath, true, &m, err, errlen) < 0) goto out;
    if (plugin_check(m, err, errlen) < 0) {
        char why[1024];
        snprintf(why, sizeof(why), "%s", err);
        snprintf(err, errlen, "%s: %s", o->dir, why);
        goto out;
    }
    if (!(key = key_load_secret(o->key, err, errlen)) || collect(&p, m, o) < 0) goto out;
    qsort(p.files, p.n, sizeof(*p.files), cmp_files);
    for (size_t i = 0; i < p.n; i++) {
        char full[4096];
        snprintf(full, sizeof(full), "%s/%s", o->dir, p.files[i].path);
        if (hash_file(full, p.files[i].sha256, &p.files[i].size) < 0) {
            snprintf(err, errlen, "%s: %s", full, strerror(errno));
            goto out;
        }
    }
    list = pkg_digest_list(p.files, p.n);
    sig = list ? pkg_signature_make(list, key) : NULL;
    if (!sig) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (o->out)
        snprintf(res->path, sizeof(res->path), "%s", o->out);
    else
        snprintf(res->path, sizeof(res->path), "%s-%s.ahpkg", m->name, m->version);
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", res->path, (int)getpid());
    if (write_archive(tmp, &p, sig, err, errlen) < 0 || verify_written(tmp, list, err, errlen) < 0)
        goto out;
    struct stat st;
    if (stat(tmp, &st) < 0 || rename(tmp, res->path) < 0) {
        snprintf(err, errlen, "%s: %s", res->path, strerror(errno));
        goto out;
    }
    tmp[0] = 0;
    snprintf(res->name, sizeof(res->name), "%s", m->name);
    snprintf(res->version, sizeof(res->version), "%s", m->version);
    snprintf(res->key_id, sizeof(res->key_id), "%s", key->pub.id);
    res->files = p.n;
    res->bytes = (unsigned long long)st.st_size;
    rc = 0;
out:
    if (tmp[0]) unlink(tmp);
    for (size_t i = 0; i < p.n; i++)
        free(p.files[i].path);
    free(p.files);
    free(list);
    free(sig);
    key_secret_free(key);
    manifest_free(m);
    return rc;
}
