/*
 * namespaces.c - the user and pid namespaces, made together by one clone
 * (the user namespace maps the unprivileged identity one to one, so the
 * process keeps an unprivileged uid outside), and the namespaces the user
 * namespace then allows without privilege: network (only a loopback that
 * is down), IPC and mount.
 */
#include "sandbox_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int write_proc(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int e = errno;
    close(fd);
    if (w != (ssize_t)n) {
        errno = w < 0 ? e : EIO;
        return -1;
    }
    return 0;
}

static int write_maps(pid_t pid, uid_t inside_uid, uid_t outside_uid, gid_t inside_gid,
                      gid_t outside_gid, char *err, size_t errlen)
{
    char path[64], map[64];
    snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
    if (write_proc(path, "deny") < 0) {
        snprintf(err, errlen, "user namespace: setgroups: %s", strerror(errno));
        return -1;
    }
    snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
    snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)inside_uid, (unsigned)outside_uid);
    if (write_proc(path, map) < 0) {
        snprintf(err, errlen, "user namespace: uid map: %s", strerror(errno));
        return -1;
    }
    snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
    snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)inside_gid, (unsigned)outside_gid);
    if (write_proc(path, map) < 0) {
        snprintf(err, errlen, "user namespace: gid map: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int ns_clone(uid_t inside_uid, gid_t inside_gid, bool privileged, int *sock, char *err,
             size_t errlen)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        snprintf(err, errlen, "user and pid namespaces: socketpair: %s", strerror(errno));
        return -1;
    }
    /* A raw clone, as bubblewrap does: the child goes on from here like a
     * fork's, as pid 1 of a new pid namespace owned by a new user
     * namespace (the runner is single-threaded: no fork handlers to run). */
    long child = syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWPID | SIGCHLD, NULL, NULL, NULL, 0);
    if (child < 0) {
        snprintf(err, errlen, "user and pid namespaces: clone: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (child == 0) {
        /* Wait for the parent to map our identity. */
        close(sv[0]);
        char go = 0;
        if (read(sv[1], &go, 1) != 1 || go != 'y') _exit(SANDBOX_EXIT_SETUP);
        *sock = sv[1];
        return 0;
    }
    /* Root maps the unprivileged identity (only a process outside the new
     * namespace holds the capability to); anyone else maps itself. */
    close(sv[1]);
    uid_t outside_uid = privileged ? inside_uid : geteuid();
    gid_t outside_gid = privileged ? inside_gid : getegid();
    bool ok = write_maps((pid_t)child, inside_uid, outside_uid, inside_gid, outside_gid, err,
                         errlen) == 0;
    if (write(sv[0], ok ? "y" : "n", 1) != 1) ok = false;
    if (!ok) {
        kill((pid_t)child, SIGKILL);
        while (waitpid((pid_t)child, NULL, 0) < 0 && errno == EINTR)
            ;
        close(sv[0]);
        return -1;
    }
    *sock = sv[0];
    return (int)child;
}

int ns_unshare(int flag, char *err, size_t errlen)
{
    if (unshare(flag) == 0) return 0;
    const char *name = flag == CLONE_NEWPID   ? "pid"
                       : flag == CLONE_NEWNET ? "network"
                       : flag == CLONE_NEWIPC ? "ipc"
                       : flag == CLONE_NEWNS  ? "mount"
                                              : "?";
    snprintf(err, errlen, "%s namespace: %s", name, strerror(errno));
    return -1;
}
