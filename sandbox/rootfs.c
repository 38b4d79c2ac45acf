/*
 * rootfs.c - the plugin's filesystem: a small read-only tmpfs holding,
 * at their usual absolute paths, only the plugin's directory and the files
 * the loader needs (sandbox/libdeps.c), each bound read-only, nosuid and
 * nodev; then pivot_root into it and detach the old root. There is no
 * /proc, /dev, /etc, /tmp or home: only what dlopen opens, and the
 * instance's private storage, if it has one, read-write at /data
 * (docs/adr/0051-plugin-private-storage.md).
 *
 * Done in two phases, because the tmpfs is mounted on /tmp and may hide
 * the paths it must expose: first every path is walked in the real tree
 * (symlinks become symlinks in the new root) and each file or directory
 * to expose is cloned as a detached read-only mount (open_tree); then the
 * tmpfs is mounted, the skeleton made and the clones attached.
 *
 * A runner started as root plans before it enters the user namespace,
 * while it can still reach every path: once inside, its identity outside
 * is the unprivileged one, which cannot search a 0700 directory above the
 * plugin (root's home, a private checkout). The detached clones it holds
 * are attached inside the new mount namespace all the same.
 */
#include "sandbox_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BASE "/tmp"
#define MAX_OPS 256
#define MAX_LINKS 40

typedef enum op_kind { OP_DIR, OP_LINK, OP_BIND_FILE, OP_BIND_DIR, OP_BIND_RW } op_kind;

typedef struct op {
    op_kind kind;
    char *path;   /* absolute, inside the new root */
    char *target; /* OP_LINK */
    int tree;     /* OP_BIND_*: a detached clone, read-only but OP_BIND_RW's */
} op;

typedef struct plan {
    op ops[MAX_OPS];
    size_t n;
    int links;
    char *err;
    size_t errlen;
} plan;

static void plan_free(plan *pl)
{
    for (size_t i = 0; i < pl->n; i++) {
        free(pl->ops[i].path);
        free(pl->ops[i].target);
        if (pl->ops[i].tree >= 0) close(pl->ops[i].tree);
    }
    pl->n = 0;
}

static int fail(plan *pl, const char *what, const char *path)
{
    snprintf(pl->err, pl->errlen, "mount namespace: %s %s: %s", what, path, strerror(errno));
    return -1;
}

static bool planned(const plan *pl, const char *path)
{
    for (size_t i = 0; i < pl->n; i++)
        if (!strcmp(pl->ops[i].path, path)) return true;
    return false;
}

/* Is path at or beneath a directory that is bound whole? */
static bool covered(const plan *pl, const char *path)
{
    for (size_t i = 0; i < pl->n; i++) {
        if (pl->ops[i].kind != OP_BIND_DIR) continue;
        size_t n = strlen(pl->ops[i].path);
        if (!strncmp(path, pl->ops[i].path, n) && (path[n] == '/' || path[n] == 0)) return true;
    }
    return false;
}

/* Clone the tree at `from` (the real tree), with `attr` set on it. */
static int clone_tree(const char *from, uint64_t attr)
{
    int tree = open_tree(AT_FDCWD, from, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    struct mount_attr ma = {.attr_set = attr};
    if (tree >= 0 && mount_setattr(tree, "", AT_EMPTY_PATH, &ma, sizeof(ma)) < 0) {
        int e = errno;
        close(tree);
        errno = e;
        return -1;
    }
    return tree;
}

/* The private storage: the real directory `from`, read-write but nothing
 * executed, set-id or device, at `path` in the new root. */
static int add_storage(plan *pl, const char *from, const char *path)
{
    if (pl->n == MAX_OPS) {
        errno = E2BIG;
        return fail(pl, "too many paths at", path);
    }
    op *o = &pl->ops[pl->n];
    *o = (op){.kind = OP_BIND_RW, .path = strdup(path), .tree = -1};
    if (!o->path) {
        errno = ENOMEM;
        return fail(pl, "planning", path);
    }
    o->tree = clone_tree(from, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    if (o->tree < 0) {
        int e = errno;
        free(o->path);
        errno = e;
        return fail(pl, "cannot bind the private storage", from);
    }
    pl->n++;
    return 0;
}

static int add(plan *pl, op_kind kind, const char *path, const char *target)
{
    if (planned(pl, path)) return 0;
    if (pl->n == MAX_OPS) {
        errno = E2BIG;
        return fail(pl, "too many paths at", path);
    }
    op *o = &pl->ops[pl->n];
    *o = (op){
        .kind = kind, .path = strdup(path), .target = target ? strdup(target) : NULL, .tree = -1};
    if (!o->path || (target && !o->target)) {
        free(o->path);
        free(o->target);
        errno = ENOMEM;
        return fail(pl, "planning", path);
    }
    if (kind == OP_BIND_FILE || kind == OP_BIND_DIR) {
        o->tree = clone_tree(path, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
        if (o->tree < 0) {
            int e = errno;
            free(o->path);
            free(o->target);
            errno = e;
            return fail(pl, "cannot bind", path);
        }
    }
    pl->n++;
    return 0;
}

static int walk(plan *pl, const char *path, bool whole_dir);

/* A directory to expose whole that others may not search (the plugin's own
 * folder made by `mktemp -d`, mode 0700): bound as it is, it would stay
 * closed to the unprivileged user the runner becomes, and dlopen would fail
 * with EACCES. Its entries are bound one by one instead, below a directory
 * of the new root that is searchable: regular files and directories (by the
 * same rule); symbolic links and special files are left out, as a bound
 * directory would not let them lead anywhere else either. */
static int expose_entries(plan *pl, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return fail(pl, "cannot list", dir);
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char child[PATH_MAX];
        struct stat st;
        if ((size_t)snprintf(child, sizeof(child), "%s/%s", dir, e->d_name) >= sizeof(child)) {
            errno = ENAMETOOLONG;
            rc = fail(pl, "walking", child);
        } else if (lstat(child, &st) < 0)
            rc = fail(pl, "cannot find", child);
        else if (S_ISDIR(st.st_mode))
            rc = walk(pl, child, true);
        else if (S_ISREG(st.st_mode))
            rc = add(pl, OP_BIND_FILE, child, NULL);
    }
    closedir(d);
    return rc;
}

/* Walk `path` component by component in the real tree, planning the
 * directories, symlinks and the final file or directory. */
static int walk(plan *pl, const char *path, bool whole_dir)
{
    char cur[PATH_MAX] = "", rest[PATH_MAX];
    if (strlen(path) >= sizeof(rest)) {
        errno = ENAMETOOLONG;
        return fail(pl, "walking", path);
    }
    snprintf(rest, sizeof(rest), "%s", path);
    char *save = NULL;
    for (char *c = strtok_r(rest, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (!strcmp(c, ".")) continue;
        if (!strcmp(c, "..")) {
            char *slash = strrchr(cur, '/');
            if (slash) *slash = 0;
            continue;
        }
        char next[PATH_MAX];
        if ((size_t)snprintf(next, sizeof(next), "%s/%s", cur, c) >= sizeof(next)) {
            errno = ENAMETOOLONG;
            return fail(pl, "walking", path);
        }
        if (covered(pl, next)) return 0;
        const char *remaining = save && *save ? save : "";
        struct stat st;
        if (lstat(next, &st) < 0) return fail(pl, "cannot find", next);
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX], resolved[PATH_MAX];
            ssize_t n = readlink(next, target, sizeof(target) - 1);
            if (n < 0) return fail(pl, "cannot read link", next);
            target[n] = 0;
            if (++pl->links > MAX_LINKS) {
                errno = ELOOP;
                return fail(pl, "walking", path);
            }
            if (add(pl, OP_LINK, next, target) < 0) return -1;
            int k = target[0] == '/'
                        ? snprintf(resolved, sizeof(resolved), "%s/%s", target, remaining)
                        : snprintf(resolved, sizeof(resolved), "%s/%s/%s", cur, target, remaining);
            if ((size_t)k >= sizeof(resolved)) {
                errno = ENAMETOOLONG;
                return fail(pl, "walking", path);
            }
            return walk(pl, resolved, whole_dir);
        }
        bool last = !*remaining;
        if (S_ISDIR(st.st_mode) && last && whole_dir && !(st.st_mode & S_IXOTH)) {
            if (add(pl, OP_DIR, next, NULL) < 0 || expose_entries(pl, next) < 0) return -1;
        } else if (S_ISDIR(st.st_mode)) {
            if (add(pl, last && whole_dir ? OP_BIND_DIR : OP_DIR, next, NULL) < 0) return -1;
        } else if (S_ISREG(st.st_mode) && last) {
            if (add(pl, OP_BIND_FILE, next, NULL) < 0) return -1;
        } else {
            errno = S_ISREG(st.st_mode) ? ENOTDIR : EINVAL;
            return fail(pl, "cannot expose", next);
        }
        snprintf(cur, sizeof(cur), "%s", next);
    }
    return 0;
}

static int build(plan *pl)
{
    for (size_t i = 0; i < pl->n; i++) {
        op *o = &pl->ops[i];
        char at[PATH_MAX + 8];
        snprintf(at, sizeof(at), BASE "%s", o->path);
        switch (o->kind) {
        case OP_DIR:
            if (mkdir(at, 0755) < 0 && errno != EEXIST) return fail(pl, "mkdir", o->path);
            break;
        case OP_LINK:
            if (symlink(o->target, at) < 0 && errno != EEXIST) return fail(pl, "symlink", o->path);
            break;
        case OP_BIND_DIR:
        case OP_BIND_RW:
            if (mkdir(at, 0755) < 0 && errno != EEXIST) return fail(pl, "mkdir", o->path);
            if (move_mount(o->tree, "", AT_FDCWD, at, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return fail(pl, "cannot attach", o->path);
            break;
        case OP_BIND_FILE: {
            int fd = open(at, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (fd < 0) return fail(pl, "cannot create", o->path);
            close(fd);
            if (move_mount(o->tree, "", AT_FDCWD, at, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return fail(pl, "cannot attach", o->path);
            break;
        }
        }
    }
    return 0;
}

static plan pl; /* large; the runner builds one root */
static bool have_plan;

int rootfs_plan(const sb_paths *paths, const char *storage_dir, char *err, size_t errlen)
{
    memset(&pl, 0, sizeof(pl));
    pl.err = err;
    pl.errlen = errlen;
    /* Directories first, so files inside them are not planned twice. */
    for (int dirs = 1; dirs >= 0; dirs--)
        for (size_t i = 0; i < paths->n; i++) {
            if (paths->is_dir[i] != (dirs == 1)) continue;
            /* MAX_LINKS bounds the links followed resolving one path (a
             * loop), not all of them: a plugin linking 60 libraries, each
             * reached through /lib and its soname link, follows more. */
            pl.links = 0;
            if (walk(&pl, paths->v[i], paths->is_dir[i]) < 0) {
                plan_free(&pl);
                return -1;
            }
        }
    /* Last, so that nothing read-only is planned beneath it; the root is
     * made read-only by itself (not recursively), this mount stays
     * writable. */
    if (storage_dir && add_storage(&pl, storage_dir, SANDBOX_STORAGE_PATH) < 0) {
        plan_free(&pl);
        return -1;
    }
    have_plan = true;
    return 0;
}

void rootfs_discard(void)
{
    plan_free(&pl);
    have_plan = false;
}

int rootfs_enter(char *err, size_t errlen)
{
    if (!have_plan) {
        snprintf(err, errlen, "mount namespace: no plan of the root");
        return -1;
    }
    have_plan = false;
    pl.err = err;
    pl.errlen = errlen;
    /* Nothing done here may propagate back to the host's mounts. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        fail(&pl, "make private", "/");
        plan_free(&pl);
        return -1;
    }
    if (mount("tmpfs", BASE, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOATIME,
              "mode=0755,size=256k,nr_inodes=1024") < 0) {
        fail(&pl, "tmpfs on", BASE);
        plan_free(&pl);
        return -1;
    }
    int rc = build(&pl);
    plan_free(&pl);
    if (rc < 0) {
        umount2(BASE, MNT_DETACH);
        return -1;
    }
    /* pivot_root(".", "."): the old root ends up on top and is detached. */
    if (chdir(BASE) < 0 || syscall(SYS_pivot_root, ".", ".") < 0) {
        fail(&pl, "pivot_root into", BASE);
        if (chdir("/") == 0) umount2(BASE, MNT_DETACH);
        return -1;
    }
    if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
        return fail(&pl, "detach the old root at", "/");
    struct mount_attr ma = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};
    if (mount_setattr(AT_FDCWD, "/", 0, &ma, sizeof(ma)) < 0)
        return fail(&pl, "make read-only", "/");
    return 0;
}
