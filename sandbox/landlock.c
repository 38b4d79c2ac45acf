/*
 * landlock.c - a Landlock domain for the plugin process: reading and
 * executing beneath the exposed paths only (sandbox/libdeps.c), nothing
 * written, created or removed anywhere but beneath the instance's private
 * storage (docs/adr/0051-plugin-private-storage.md), where regular files
 * and directories may be read, written, created, renamed, removed and
 * truncated (no links, devices, sockets or pipes, nothing executed); with
 * ABI 4+ no TCP bind or
 * connect; with ABI 6+ no signal and no abstract UNIX socket outside the
 * domain. It holds even where the mount namespace could not be made.
 * Constants newer than the system's headers are defined here.
 */
#include "sandbox_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif

/* The full attribute, as of ABI 6; its size tells the kernel which fields
 * we know. */
struct ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct path_beneath {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

#define FS_FILE_RIGHTS (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE)
#define FS_DIR_RIGHTS (FS_FILE_RIGHTS | LANDLOCK_ACCESS_FS_READ_DIR)

/* Beneath the private storage (masked by what the ABI handles). */
#define FS_STORAGE_RIGHTS                                                                          \
    (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_WRITE_FILE |  \
     LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |                              \
     LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_REFER |        \
     LANDLOCK_ACCESS_FS_TRUNCATE)

static uint64_t fs_rights_of(int abi)
{
    uint64_t r = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1: bits 0..12 */
    if (abi >= 2) r |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3) r |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5) r |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    return r;
}

static int add_rule(int rs, const char *path, uint64_t rights, char *err, size_t errlen)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "landlock: %s: %s", path, strerror(errno));
        return -1;
    }
    struct path_beneath pb = {.allowed_access = rights, .parent_fd = fd};
    long rc = syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
    int e = errno;
    close(fd);
    if (rc < 0) {
        snprintf(err, errlen, "landlock: rule for %s: %s", path, strerror(e));
        return -1;
    }
    return 0;
}

int landlock_apply(const sb_paths *paths, const char *storage, int *abi_out, char *err,
                   size_t errlen)
{
    *abi_out = 0;
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1) {
        snprintf(err, errlen, "landlock: %s", abi < 0 ? strerror(errno) : "no ABI");
        return -1;
    }
    struct ruleset_attr attr = {.handled_access_fs = fs_rights_of((int)abi)};
    size_t size = sizeof(attr.handled_access_fs);
    if (abi >= 4) {
        attr.handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
        size = offsetof(struct ruleset_attr, scoped);
    }
    if (abi >= 6) {
        attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
        size = sizeof(attr);
    }
    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (rs < 0) {
        snprintf(err, errlen, "landlock: create ruleset: %s", strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < paths->n; i++)
        if (add_rule(rs, paths->v[i], paths->is_dir[i] ? FS_DIR_RIGHTS : FS_FILE_RIGHTS, err,
                     errlen) < 0) {
            close(rs);
            return -1;
        }
    if (storage &&
        add_rule(rs, storage, FS_STORAGE_RIGHTS & attr.handled_access_fs, err, errlen) < 0) {
        close(rs);
        return -1;
    }
    long rc = syscall(SYS_landlock_restrict_self, rs, 0);
    int e = errno;
    close(rs);
    if (rc < 0) {
        snprintf(err, errlen, "landlock: restrict self: %s", strerror(e));
        return -1;
    }
    *abi_out = (int)abi;
    return 0;
}
