/*
 * namespaces.c - the user namespace (identity mapped one to one, so the
 * process keeps an unprivileged uid outside) and the other namespaces it
 * makes possible without privilege: network (only a loopback that is
 * down), IPC, mount and pid.
 */
#include "sandbox_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
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

/* Root maps the unprivileged identity: only a process still in the parent
 * namespace holds the capability to, so a short-lived child writes the
 * maps once the runner has entered its new namespace. */
static int enter_privileged(uid_t uid, gid_t gid, char *err, size_t errlen)
{
    int go[2];
    if (pipe2(go, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "user namespace: pipe: %s", strerror(errno));
        return -1;
    }
    pid_t self = getpid();
    pid_t helper = fork();
    if (helper < 0) {
        snprintf(err, errlen, "user namespace: fork: %s", strerror(errno));
        close(go[0]);
        close(go[1]);
        return -1;
    }
    if (helper == 0) {
        char c, e[200];
        close(go[1]);
        if (read(go[0], &c, 1) != 1) _exit(2);
        if (write_maps(self, uid, uid, gid, gid, e, sizeof(e)) < 0) {
            ssize_t w = write(2, e, strlen(e));
            (void)w;
            _exit(1);
        }
        _exit(0);
    }
    close(go[0]);
    int rc = unshare(CLONE_NEWUSER), e = errno;
    if (rc == 0 && write(go[1], "x", 1) != 1) rc = -1, e = errno;
    close(go[1]);
    int status = 0;
    while (waitpid(helper, &status, 0) < 0 && errno == EINTR)
        ;
    if (rc < 0) {
        snprintf(err, errlen, "user namespace: %s", strerror(e));
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(err, errlen, "user namespace: the uid and gid maps could not be written");
        return -1;
    }
    return 0;
}

int ns_enter_user(uid_t inside_uid, gid_t inside_gid, bool privileged, char *err, size_t errlen)
{
    if (privileged) return enter_privileged(inside_uid, inside_gid, err, errlen);
    /* Unprivileged: the process maps its own uid and gid one to one. */
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER) < 0) {
        snprintf(err, errlen, "user namespace: %s", strerror(errno));
        return -1;
    }
    return write_maps(getpid(), inside_uid, uid, inside_gid, gid, err, errlen);
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
