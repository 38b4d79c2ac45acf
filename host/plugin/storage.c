/*
 * storage.c - the host's side of an instance's private storage (storage.h).
 */
#include "storage.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The identity the runner drops to when started as root
 * (sandbox/sandbox_priv.h: SANDBOX_UNPRIVILEGED_ID). */
#define UNPRIVILEGED_ID 65534

int plugin_storage_path(const char *data_dir, const char *id, char *out, size_t outlen)
{
    /* Instance ids are names ([a-z0-9_.-], no '/'), checked where they are made. */
    if (!data_dir || !id[0] || strchr(id, '/') || !strcmp(id, ".") || !strcmp(id, "..")) return -1;
    int n = snprintf(out, outlen, "%s/plugin-data/%s", data_dir, id);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

static int make_dir(const char *path, uid_t owner, char *err, size_t errlen)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create the private storage: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: the private storage is not a directory", path);
        return -1;
    }
    if ((st.st_uid != owner && lchown(path, owner, owner) < 0) ||
        ((st.st_mode & 07777) != 0700 && chmod(path, 0700) < 0)) {
        snprintf(err, errlen, "%s: cannot make the private storage 0700: %s", path,
                 strerror(errno));
        return -1;
    }
    return 0;
}

int plugin_storage_prepare(const char *data_dir, const char *id, char *out, size_t outlen,
                           char *err, size_t errlen)
{
    if (!data_dir) {
        snprintf(err, errlen, "storage: the host has no data directory for private storage");
        return -1;
    }
    char parent[4096];
    if (plugin_storage_path(data_dir, id, out, outlen) < 0 ||
        snprintf(parent, sizeof(parent), "%s/plugin-data", data_dir) >= (int)sizeof(parent)) {
        snprintf(err, errlen, "storage: the path of %s's private storage is too long", id);
        return -1;
    }
    uid_t me = geteuid();
    return make_dir(parent, me, err, errlen) < 0 ||
                   make_dir(out, me == 0 ? UNPRIVILEGED_ID : me, err, errlen) < 0
               ? -1
               : 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
    return rc < 0 && errno != ENOENT ? -1 : 0;
}

int plugin_storage_remove(const char *data_dir, const char *id)
{
    char path[4096];
    struct stat st;
    if (plugin_storage_path(data_dir, id, path, sizeof(path)) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (lstat(path, &st) < 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode)) return unlink(path);
    return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

static uint64_t usage_sum; /* nftw has no context argument; one walk at a time */

static int add_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag != FTW_NS) usage_sum += (uint64_t)st->st_blocks * 512u;
    return 0;
}

int plugin_storage_usage(const char *dir, uint64_t *bytes)
{
    usage_sum = 0;
    if (nftw(dir, add_one, 16, FTW_PHYS | FTW_MOUNT) != 0) return -1;
    *bytes = usage_sum;
    return 0;
}
