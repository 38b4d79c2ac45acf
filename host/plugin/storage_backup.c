/*
 * storage_backup.c - private storage in backups (storage_backup.h): the
 * pid files the host keeps, pausing a running instance's processes, and
 * the copy of the directories both ways.
 */
#include "storage_backup.h"

#include "core/fault.h"
#include "core/fsutil.h"
#include "proc.h"
#include "storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TREE_MAX 16
#define DEPTH_MAX 64
#define STOP_POLLS 2000 /* 5 ms apart: 10 s for every thread to stop */

/* ---- pid files ----------------------------------------------------------- */

static int pid_path(const char *data_dir, const char *id, char *out, size_t n)
{
    int k = snprintf(out, n, "%s/plugin-pids/%s", data_dir, id);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

/* Field 22 of /proc/PID/stat (clock ticks after boot), or -1. */
static long long start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    unsigned long long t;
    if (!p || sscanf(p + 2,
                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
                     "%*d %llu",
                     &t) != 1)
        return -1;
    return (long long)t;
}

int plugin_storage_note_pid(const char *data_dir, const char *id, pid_t pid)
{
    char path[4200], tmp[4300], line[64];
    long long t = start_time(pid);
    if (!data_dir || pid_path(data_dir, id, path, sizeof(path)) < 0 || t < 0) {
        errno = EINVAL;
        return -1;
    }
    snprintf(tmp, sizeof(tmp), "%s/plugin-pids", data_dir);
    if (mkdir(tmp, 0700) < 0 && errno != EEXIST) return -1;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return -1;
    int n = snprintf(line, sizeof(line), "%d %lld\n", (int)pid, t);
    if (write(fd, line, (size_t)n) != n) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    return rename(tmp, path);
}

void plugin_storage_forget_pid(const char *data_dir, const char *id)
{
    char path[4200];
    if (data_dir && pid_path(data_dir, id, path, sizeof(path)) == 0) unlink(path);
}

/* ---- pausing an instance ------------------------------------------------- */

/* Whether every thread of pid is stopped (or the process is gone). */
static bool all_stopped(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d) return true; /* gone */
    bool stopped = true;
    struct dirent *e;
    while (stopped && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        char sp[128], buf[512];
        snprintf(sp, sizeof(sp), "/proc/%d/task/%s/stat", (int)pid, e->d_name);
        int fd = open(sp, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0) continue;
        buf[n] = 0;
        const char *p = strrchr(buf, ')');
        if (p && p[1] == ' ' && p[2] != 'T' && p[2] != 't' && p[2] != 'Z' && p[2] != 'X')
            stopped = false;
    }
    closedir(d);
    return stopped;
}

static void resume(const pid_t *tree, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kill(tree[i], SIGCONT);
}

/* The pid file's line into buf ("" if there is none). */
static void read_pid_file(const char *data_dir, const char *id, char *buf, size_t n)
{
    char path[4200];
    buf[0] = 0;
    if (pid_path(data_dir, id, path, sizeof(path)) < 0) return;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return; /* not running */
    ssize_t k = read(fd, buf, n - 1);
    close(fd);
    buf[k > 0 ? k : 0] = 0;
}

/* Stop the processes of instance id if its pid file names a live one:
 * *n of them into tree (0: not running). 0, or -1 with err (resumed). */
static int pause_instance(const char *data_dir, const char *id, pid_t *tree, size_t *n, char *err,
                          size_t errlen)
{
    char buf[64];
    *n = 0;
    read_pid_file(data_dir, id, buf, sizeof(buf));
    int pid = 0;
    long long t = -1;
    if (sscanf(buf, "%d %lld", &pid, &t) != 2 || pid <= 1 || start_time(pid) != t)
        return 0; /* stale: that process is gone */
    *n = proc_tree(pid, tree, TREE_MAX);
    for (size_t i = 0; i < *n; i++)
        if (kill(tree[i], SIGSTOP) < 0 && errno != ESRCH) {
            snprintf(err, errlen, "instance %s: cannot pause its process %d: %s", id, (int)tree[i],
                     strerror(errno));
            resume(tree, i);
            return -1;
        }
    for (int poll = 0; poll < STOP_POLLS; poll++) {
        bool all = true;
        for (size_t i = 0; i < *n && all; i++)
            all = all_stopped(tree[i]);
        if (all) return 0;
        nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
    }
    resume(tree, *n);
    snprintf(err, errlen, "instance %s: its processes did not stop within %d ms", id,
             STOP_POLLS * 5);
    return -1;
}

/* ---- copying a tree ------------------------------------------------------ */

typedef struct copy_ctx {
    plugin_storage_copied *out;
    bool keep_owner;
    char *err;
    size_t errlen;
} copy_ctx;

static int fail(copy_ctx *c, const char *what, const char *path)
{
    snprintf(c->err, c->errlen, "%s %s: %s", what, path, strerror(errno));
    return -1;
}

static int finish(copy_ctx *c, int fd, const struct stat *st, const char *path)
{
    if ((c->keep_owner && fchown(fd, st->st_uid, st->st_gid) < 0) ||
        fchmod(fd, st->st_mode & 07777) < 0 || fsync(fd) < 0)
        return fail(c, "cannot finish", path);
    return 0;
}

static int copy_file(copy_ctx *c, int sdir, int ddir, const char *name, const struct stat *st,
                     const char *path)
{
    int in = openat(sdir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0) return fail(c, "cannot read", path);
    int out = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0) {
        close(in);
        return fail(c, "cannot create the copy of", path);
    }
    static char buf[1 << 16];
    int rc = 0;
    for (;;) {
        ssize_t r = read(in, buf, sizeof(buf));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = fail(c, "cannot read", path);
            break;
        }
        if (r == 0) break;
        for (ssize_t off = 0; off < r;) {
            ssize_t w = write(out, buf + off, (size_t)(r - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) {
                rc = fail(c, "cannot write the copy of", path);
                break;
            }
            off += w;
        }
        if (rc) break;
        c->out->bytes += (uint64_t)r;
    }
    if (!rc) rc = finish(c, out, st, path);
    close(in);
    close(out);
    return rc;
}

static int copy_dir(copy_ctx *c, int sdir, int ddir, const char *path, int depth)
{
    if (depth > DEPTH_MAX) {
        errno = ELOOP;
        return fail(c, "too deep:", path);
    }
    int dup_fd = dup(sdir);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        if (dup_fd >= 0) close(dup_fd);
        return fail(c, "cannot list", path);
    }
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[PATH_MAX];
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        struct stat st;
        if (fstatat(sdir, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT) continue; /* deleted while listed */
            rc = fail(c, "cannot stat", sub);
        } else if (S_ISREG(st.st_mode)) {
            rc = copy_file(c, sdir, ddir, e->d_name, &st, sub);
        } else if (S_ISDIR(st.st_mode)) {
            int s2 = openat(sdir, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            int d2 = -1;
            if (s2 < 0) {
                rc = fail(c, "cannot open", sub);
            } else if (mkdirat(ddir, e->d_name, 0700) < 0 ||
                       (d2 = openat(ddir, e->d_name,
                                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
                rc = fail(c, "cannot create the copy of", sub);
            } else {
                rc = copy_dir(c, s2, d2, sub, depth + 1);
                if (!rc) rc = finish(c, d2, &st, sub);
            }
            if (s2 >= 0) close(s2);
            if (d2 >= 0) close(d2);
        } else {
            c->out->skipped++; /* the sandbox makes none: links, devices, sockets, fifos */
        }
    }
    closedir(d);
    return rc;
}

/* Copy the directory `from` to the new directory `to` (its owner and mode
 * kept as far as c allows). */
static int copy_tree(copy_ctx *c, const char *from, const char *to)
{
    struct stat st;
    int s = open(from, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (s < 0 || fstat(s, &st) < 0) {
        if (s >= 0) close(s);
        return fail(c, "cannot open", from);
    }
    int d = -1, rc;
    if (mkdir(to, 0700) < 0 || (d = open(to, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        rc = fail(c, "cannot create", to);
    else
        rc = copy_dir(c, s, d, from, 0);
    if (!rc) rc = finish(c, d, &st, to);
    close(s);
    if (d >= 0) close(d);
    return rc;
}

/* ---- backup and restore -------------------------------------------------- */

static bool is_instance_dir(const char *parent, const struct dirent *e)
{
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) return false;
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", parent, e->d_name);
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool plugin_storage_present(const char *data_dir)
{
    char pd[PATH_MAX];
    snprintf(pd, sizeof(pd), "%s/plugin-data", data_dir);
    DIR *d = opendir(pd);
    if (!d) return false;
    bool any = false;
    struct dirent *e;
    while (!any && (e = readdir(d)) != NULL)
        any = is_instance_dir(pd, e);
    closedir(d);
    return any;
}

int plugin_storage_backup(const char *data_dir, const char *to, plugin_storage_copied *out,
                          char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    char pd[PATH_MAX], tmp[PATH_MAX];
    snprintf(pd, sizeof(pd), "%s/plugin-data", data_dir);
    if (snprintf(tmp, sizeof(tmp), "%s.partial", to) >= (int)sizeof(tmp)) {
        snprintf(err, errlen, "%s: path too long", to);
        return -1;
    }
    DIR *d = opendir(pd);
    if (!d) {
        if (errno != ENOENT) {
            snprintf(err, errlen, "cannot list %s: %s", pd, strerror(errno));
            return -1;
        }
        fs_remove_tree(to); /* an older backup's copy must not pass for this one's */
        return 0;
    }
    copy_ctx c = {.out = out, .keep_owner = geteuid() == 0, .err = err, .errlen = errlen};
    fs_remove_tree(tmp);
    int rc = mkdir(tmp, 0700) < 0 ? fail(&c, "cannot create", tmp) : 0;
    struct dirent *e;
    while (!rc && (e = readdir(d)) != NULL) {
        if (!is_instance_dir(pd, e)) continue;
        char from[PATH_MAX], dst[PATH_MAX];
        snprintf(from, sizeof(from), "%s/%s", pd, e->d_name);
        snprintf(dst, sizeof(dst), "%s/%s", tmp, e->d_name);
        pid_t tree[TREE_MAX];
        size_t n = 0;
        char before[64], after[64];
        read_pid_file(data_dir, e->d_name, before, sizeof(before));
        rc = pause_instance(data_dir, e->d_name, tree, &n, err, errlen);
        if (rc) break;
        if (n) AH_FAULT("backup.instance_paused");
        rc = copy_tree(&c, from, dst);
        read_pid_file(data_dir, e->d_name, after, sizeof(after));
        resume(tree, n);
        /* Killed as stalled while paused and started again: the new
         * process may have written beneath the copy. */
        if (!rc && n && strcmp(before, after) != 0) {
            snprintf(err, errlen,
                     "instance %s: its process was replaced while its directory was copied (paused "
                     "past its stall_ms?); run the backup again",
                     e->d_name);
            rc = -1;
        }
        out->instances += !rc;
        out->paused += !rc && n;
    }
    closedir(d);
    if (!rc && (fs_fsync_dir(tmp) < 0 || fs_remove_tree(to) < 0 || rename(tmp, to) < 0))
        rc = fail(&c, "cannot put in place", to);
    if (rc) fs_remove_tree(tmp);
    return rc;
}

int plugin_storage_restore(const char *from, const char *data_dir, char *aside, size_t asidelen,
                           plugin_storage_copied *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    aside[0] = 0;
    char pd[PATH_MAX], tmp[PATH_MAX];
    snprintf(pd, sizeof(pd), "%s/plugin-data", data_dir);
    snprintf(tmp, sizeof(tmp), "%s/plugin-data.restoring", data_dir);
    copy_ctx c = {.out = out, .keep_owner = geteuid() == 0, .err = err, .errlen = errlen};
    fs_remove_tree(tmp);
    if (copy_tree(&c, from, tmp) < 0) {
        fs_remove_tree(tmp);
        return -1;
    }
    if (chmod(tmp, 0700) < 0) return fail(&c, "cannot make 0700", tmp);
    struct stat st;
    if (lstat(pd, &st) == 0) {
        snprintf(aside, asidelen, "%s.before-restore-%lld", pd, (long long)time(NULL));
        if (rename(pd, aside) < 0) {
            fs_remove_tree(tmp);
            return fail(&c, "cannot set aside", pd);
        }
    }
    if (rename(tmp, pd) < 0) return fail(&c, "cannot install", pd);
    fs_fsync_dir(data_dir);
    DIR *d = opendir(pd);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        out->instances += is_instance_dir(pd, e);
    if (d) closedir(d);
    return 0;
}
