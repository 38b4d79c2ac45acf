#include "fsutil.h"

#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 64

static int remove_at(int parent, const char *name, int depth)
{
    struct stat st;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode)) return unlinkat(parent, name, 0) == 0 || errno == ENOENT ? 0 : -1;
    if (depth >= MAX_DEPTH) {
        errno = ELOOP;
        return -1;
    }
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    int rc = 0, first = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (remove_at(dirfd(d), e->d_name, depth + 1) < 0 && rc == 0) {
            rc = -1;
            first = errno;
        }
    }
    closedir(d);
    if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT && rc == 0) {
        rc = -1;
        first = errno;
    }
    if (rc) errno = first;
    return rc;
}

int fs_remove_tree_at(int dirfd, const char *name)
{
    return remove_at(dirfd, name, 0);
}

int fs_remove_tree(const char *path)
{
    return remove_at(AT_FDCWD, path, 0);
}

int fs_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

int fs_make_temp_dir(const char *base, const char *prefix, unsigned mode, char *out, size_t len)
{
    if (!base) base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    if (ah_fmt(out, len, "%s/%sXXXXXX", base, prefix) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (!mkdtemp(out)) return -1;
    if (chmod(out, mode) < 0) {
        int e = errno;
        rmdir(out);
        errno = e;
        return -1;
    }
    return 0;
}

int fs_copy_file(const char *from, const char *to, unsigned mode)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) return -1;
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (out < 0) {
        int e = errno;
        close(in);
        errno = e;
        return -1;
    }
    char buf[1 << 16];
    ssize_t n;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n) {
            n = -1;
            break;
        }
    int e = errno;
    if (n == 0 && fsync(out) < 0) n = -1, e = errno;
    close(in);
    close(out);
    if (n < 0) {
        unlink(to);
        errno = e;
        return -1;
    }
    return 0;
}
