#include "install.h"

#include "core/fsutil.h"
#include "core/util.h"
#include "plugin/manifest.h"
#include "pkg_read.h"
#include "pkgdir.h"
#include "plugincheck.h"
#include "signature.h"
#include "trust.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the sink: files into the staging directory --------------------------- */

typedef struct stage {
    int root; /* the staging directory */
    int fd;   /* the file being written, or -1 */
    char path[PKG_MAX_PATH + 1];
} stage;

/* The directory holding `path` inside root (created as needed, never
 * following a link), and its last component. */
static int parent_of(int root, const char *path, const char **leaf)
{
    int dir = dup(root);
    const char *c = path;
    for (const char *s; dir >= 0 && (s = strchr(c, '/')) != NULL; c = s + 1) {
        char name[PKG_MAX_PATH + 1];
        snprintf(name, sizeof(name), "%.*s", (int)(s - c), c);
        if (mkdirat(dir, name, 0755) < 0 && errno != EEXIST) {
            close(dir);
            return -1;
        }
        int next = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(dir);
        dir = next;
    }
    *leaf = c;
    return dir;
}

static int sink_dir(void *ud, const char *path, char *err, size_t errlen)
{
    stage *s = ud;
    const char *leaf;
    int dir = parent_of(s->root, path, &leaf);
    if (dir < 0 || (mkdirat(dir, leaf, 0755) < 0 && errno != EEXIST)) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        if (dir >= 0) close(dir);
        return -1;
    }
    close(dir);
    return 0;
}

static int sink_begin(void *ud, const char *path, char *err, size_t errlen)
{
    stage *s = ud;
    const char *leaf;
    int dir = parent_of(s->root, path, &leaf);
    s->fd = dir < 0 ? -1
                    : openat(dir, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (dir >= 0) close(dir);
    if (s->fd < 0 || fchmod(s->fd, 0644) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    snprintf(s->path, sizeof(s->path), "%s", path);
    return 0;
}

static int sink_data(void *ud, const void *p, size_t n, char *err, size_t errlen)
{
    stage *s = ud;
    const char *b = p;
    while (n) {
        ssize_t w = write(s->fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            snprintf(err, errlen, "cannot write %s: %s", s->path, strerror(errno));
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static int sink_end(void *ud, char *err, size_t errlen)
{
    stage *s = ud;
    int rc = fsync(s->fd);
    int e = errno;
    if (close(s->fd) < 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    s->fd = -1;
    if (rc < 0) {
        snprintf(err, errlen, "cannot write %s: %s", s->path, strerror(e));
        return -1;
    }
    return 0;
}

static const pkg_sink stage_sink = {sink_dir, sink_begin, sink_data, sink_end};

/* ---- install ----------------------------------------------------------- */

typedef struct job {
    const char *package;
    const pkg_install_opts *o;
    pkgdir d;
    char staging[PATH_MAX];
    pkg_contents c;
    pkg_signature sig;
    manifest *m;
    char *list;
    pkg_pubkey *trusted;
    size_t ntrusted;
    char existing[72]; /* the installed version being replaced, or "" */
    bool replace;
    bool by_hand; /* the folder replaced was not installed from a package */
} job;

/* Messages about files in the staging directory name them as in the package. */
static void strip_staging(const job *j, char *err)
{
    size_t n = strlen(j->staging);
    if (!strncmp(err, j->staging, n) && err[n] == '/')
        memmove(err, err + n + 1, strlen(err + n + 1) + 1);
}

static int read_package(job *j, char *err, size_t errlen)
{
    int fd = open(j->package, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > PKG_MAX_ARCHIVE_BYTES) {
        snprintf(err, errlen, "%s",
                 S_ISREG(st.st_mode) ? "larger than 256 MiB: refused" : "not a regular file");
        close(fd);
        return -1;
    }
    stage s = {.root = open(j->staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC), .fd = -1};
    int rc = -1;
    if (s.root < 0)
        snprintf(err, errlen, "%s: %s", j->staging, strerror(errno));
    else
        rc = pkg_read_fd(fd, &stage_sink, &s, &j->c, err, errlen);
    if (s.fd >= 0) close(s.fd);
    if (s.root >= 0) {
        if (rc == 0 && fsync(s.root) < 0) rc = -1;
        close(s.root);
    }
    close(fd);
    return rc;
}

static int check_signature(job *j, char *err, size_t errlen)
{
    if (!j->c.signature) {
        snprintf(err, errlen,
                 "unsigned package (no " PKG_SIGNATURE_NAME "): refused; sign it "
                 "with `agenthost plugin pack DIR --key KEY`");
        return -1;
    }
    if (pkg_signature_parse(j->c.signature, j->c.signature_len, &j->sig, err, errlen) < 0)
        return -1;
    json_t *problems = json_array();
    int rc = trust_load(j->o->trust_dir, &j->trusted, &j->ntrusted, problems, err, errlen);
    json_decref(problems);
    if (rc < 0) return -1;
    j->list = pkg_digest_list(j->c.files, j->c.nfiles);
    if (!j->list) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const pkg_pubkey *signer;
    return pkg_signature_verify(&j->sig, j->trusted, j->ntrusted, j->list, &signer, err, errlen);
}

static int check_plugin(job *j, char *err, size_t errlen)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/manifest.json", j->staging);
    bool have = false;
    for (size_t i = 0; i < j->c.nfiles && !have; i++)
        have = !strcmp(j->c.files[i].path, "manifest.json");
    if (!have) {
        snprintf(err, errlen, "no manifest.json at the top of the package");
        return -1;
    }
    if (manifest_load(path, true, &j->m, err, errlen) < 0) {
        strip_staging(j, err);
        return -1;
    }
    if (plugin_check(j->m, err, errlen) < 0) return -1;
    return 0;
}

/* Is the name free, or (with upgrade) held by an earlier version of it? */
static int check_name(job *j, char *err, size_t errlen)
{
    int fd = dup(j->d.fd);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        if (fd >= 0) close(fd);
        snprintf(err, errlen, "%s: %s", j->d.path, strerror(errno));
        return -1;
    }
    rewinddir(dir);
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char name[72], why[600];
        int has = pkgdir_plugin_name(&j->d, e->d_name, name, sizeof(name), why, sizeof(why));
        if (!strcmp(e->d_name, j->m->name)) {
            if (!has) {
                snprintf(err, errlen, "%s/%s exists but holds no valid plugin; move it away first",
                         j->d.path, e->d_name);
                rc = -1;
            } else if (strcmp(name, j->m->name) != 0) {
                snprintf(err, errlen, "%s/%s holds plugin \"%s\"; move it away first", j->d.path,
                         e->d_name, name);
                rc = -1;
            } else {
                manifest *old;
                char path[PATH_MAX + 300];
                snprintf(path, sizeof(path), "%s/%s/manifest.json", j->d.path, e->d_name);
                if (manifest_load(path, false, &old, why, sizeof(why)) == 0) {
                    snprintf(j->existing, sizeof(j->existing), "%s", old->version);
                    manifest_free(old);
                }
                snprintf(path, sizeof(path), "%s/%s/" PKG_PROVENANCE, j->d.path, e->d_name);
                j->by_hand = access(path, F_OK) != 0;
                j->replace = true;
            }
        } else if (has && !strcmp(name, j->m->name)) {
            snprintf(err, errlen,
                     "duplicate name: plugin %s is already installed in %s/%s; remove it first",
                     j->m->name, j->d.path, e->d_name);
            rc = -1;
        }
    }
    closedir(dir);
    /* The same version copied there by hand (an author who ran the plugin
     * from a copy first) is replaced by its signed package without
     * --upgrade; any other installed version needs it. */
    bool same_by_hand = j->by_hand && !strcmp(j->existing, j->m->version);
    if (rc == 0 && j->replace && !j->o->upgrade && !same_by_hand) {
        snprintf(err, errlen,
                 "duplicate name: plugin %s %s is already installed; use --upgrade to replace it "
                 "with %s",
                 j->m->name, j->existing, j->m->version);
        rc = -1;
    }
    return rc;
}

static int write_provenance(job *j, const pkg_pubkey *signer, char *err, size_t errlen)
{
    uint8_t h[crypto_hash_sha256_BYTES];
    char hex[crypto_hash_sha256_BYTES * 2 + 1], when[40], base[PATH_MAX];
    crypto_hash_sha256(h, (const uint8_t *)j->list, strlen(j->list));
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
    ah_rfc3339_ms(ah_now_ms(), when, sizeof(when));
    const char *slash = strrchr(j->package, '/');
    snprintf(base, sizeof(base), "%s", slash ? slash + 1 : j->package);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I}", "name", j->m->name, "version",
                          j->m->version, "key_id", signer->id, "signed_by", signer->comment,
                          "package", base, "digest_list_sha256", hex, "installed_at", when, "files",
                          (json_int_t)j->c.nfiles);
    char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/" PKG_PROVENANCE, j->staging);
    int rc = text ? ah_write_file_atomic(path, text, strlen(text), 0644) : -1;
    free(text);
    if (rc < 0) snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    return rc;
}

/* Put the staging directory in place (the point of no return). */
static int swap_in(job *j, char *err, size_t errlen)
{
    const char *name = j->m->name;
    if (!j->replace) {
        if (renameat2(AT_FDCWD, j->staging, j->d.fd, name, RENAME_NOREPLACE) < 0) {
            snprintf(err, errlen, "cannot move %s into %s: %s", name, j->d.path, strerror(errno));
            return -1;
        }
    } else if (renameat2(AT_FDCWD, j->staging, j->d.fd, name, RENAME_EXCHANGE) < 0) {
        if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) {
            snprintf(err, errlen, "cannot swap %s in %s: %s", name, j->d.path, strerror(errno));
            return -1;
        }
        /* A filesystem without RENAME_EXCHANGE: two renames, a moment
         * without the plugin in between. */
        char old[PATH_MAX];
        if (pkgdir_scratch(&j->d, "old", old, sizeof(old), err, errlen) < 0) return -1;
        char dst[PATH_MAX + 80];
        snprintf(dst, sizeof(dst), "%s/%s", old, name);
        if (renameat(j->d.fd, name, AT_FDCWD, dst) < 0 ||
            renameat(AT_FDCWD, j->staging, j->d.fd, name) < 0) {
            snprintf(err, errlen, "cannot replace %s in %s: %s", name, j->d.path, strerror(errno));
            renameat(AT_FDCWD, dst, j->d.fd, name);
            fs_remove_tree(old);
            return -1;
        }
        fs_remove_tree(old);
        fsync(j->d.fd);
        j->staging[0] = 0;
        return 0;
    }
    fsync(j->d.fd);
    if (j->replace) fs_remove_tree(j->staging); /* now the old version */
    j->staging[0] = 0;
    return 0;
}

int pkg_install(const char *package, const pkg_install_opts *o, pkg_installed *res, char *err,
                size_t errlen)
{
    memset(res, 0, sizeof(*res));
    job j = {.package = package, .o = o};
    int rc = -1;
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return -1;
    }
    if (pkgdir_open(&j.d, o->plugins_dir, true, err, errlen) < 0) return -1;
    if (pkgdir_scratch(&j.d, "install", j.staging, sizeof(j.staging), err, errlen) < 0) goto out;
    /* The order matters: entries are checked as they are read; nothing
     * from the package is parsed before its signature holds. */
    if (read_package(&j, err, errlen) < 0 || check_signature(&j, err, errlen) < 0 ||
        check_plugin(&j, err, errlen) < 0 || check_name(&j, err, errlen) < 0)
        goto out;
    const pkg_pubkey *signer = NULL;
    for (size_t i = 0; i < j.ntrusted; i++)
        if (!strcmp(j.trusted[i].id, j.sig.key_id)) signer = &j.trusted[i];
    if (write_provenance(&j, signer, err, errlen) < 0 || fs_fsync_dir(j.staging) < 0 ||
        swap_in(&j, err, errlen) < 0)
        goto out;
    snprintf(res->name, sizeof(res->name), "%s", j.m->name);
    snprintf(res->version, sizeof(res->version), "%s", j.m->version);
    snprintf(res->previous, sizeof(res->previous), "%s", j.existing);
    res->replaced_by_hand = j.by_hand;
    snprintf(res->key_id, sizeof(res->key_id), "%s", signer->id);
    snprintf(res->signer, sizeof(res->signer), "%s", signer->comment);
    res->files = j.c.nfiles;
    rc = 0;
out:
    if (j.staging[0]) fs_remove_tree(j.staging);
    pkgdir_close(&j.d);
    manifest_free(j.m);
    pkg_signature_free(&j.sig);
    pkg_contents_free(&j.c);
    free(j.list);
    free(j.trusted);
    return rc;
}
