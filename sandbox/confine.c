/*
 * confine.c - the mandatory, fail-closed steps of the runner's confinement
 * that are not seccomp: file descriptors, resource limits, identity,
 * capabilities and the parent-death signal.
 */
#include "sandbox_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int confine_close_fds(int ipc_fd, int violation_fd)
{
    /* Keep 0-2 (stdin is /dev/null, stdout/stderr go to the plugin log),
     * the IPC socket and the violation pipe; close everything else. */
    int hi = ipc_fd > violation_fd ? ipc_fd : violation_fd;
    for (int fd = 3; fd < hi; fd++)
        if (fd != ipc_fd && fd != violation_fd) close(fd);
    return (int)syscall(SYS_close_range, (unsigned)hi + 1, ~0u, 0);
}

static int set_limit(int res, rlim_t v)
{
    struct rlimit rl = {.rlim_cur = v, .rlim_max = v};
    return setrlimit(res, &rl);
}

int confine_limits(const sandbox_opts *o)
{
    if (set_limit(RLIMIT_AS, (rlim_t)o->memory_mb << 20) < 0 ||
        set_limit(RLIMIT_NOFILE, o->open_files) < 0 || set_limit(RLIMIT_CORE, 0) < 0)
        return -1;
    /* SIGXCPU at the limit (the host reports "signal 24"), SIGKILL a
     * second later if the plugin ignores it. */
    struct rlimit cpu = {.rlim_cur = o->cpu_s, .rlim_max = (rlim_t)o->cpu_s + 1};
    if (o->cpu_s && setrlimit(RLIMIT_CPU, &cpu) < 0) return -1;
    return 0;
}

int confine_move_fd_to_top(int fd, uint32_t open_files, int *out)
{
    int top = (int)open_files - 1;
    if (top <= 4 || top == fd) {
        *out = fd;
        return top <= 4 ? (errno = EINVAL, -1) : 0;
    }
    if (dup3(fd, top, O_CLOEXEC) < 0) return -1;
    close(fd);
    *out = top;
    return 0;
}

int confine_clear_groups(void)
{
    return setgroups(0, NULL);
}

int confine_set_ids(uid_t uid, gid_t gid)
{
    if (setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) return -1;
    uid_t r, e, s;
    gid_t rg, eg, sg;
    if (getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sg) < 0) return -1;
    if (r != uid || e != uid || s != uid || rg != gid || eg != gid || sg != gid) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

/* No capability left in any set, in this user namespace or any other. */
int confine_drop_capabilities(void)
{
    for (int cap = 0; cap < 64; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno == EINVAL)
            break; /* past the last capability the kernel knows */
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
    memset(d, 0, sizeof(d));
    if (syscall(SYS_capset, &h, d) < 0) return -1;
    if (syscall(SYS_capget, &h, d) < 0) return -1;
    for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
        if (d[i].effective || d[i].permitted || d[i].inheritable) {
            errno = EPERM;
            return -1;
        }
    return 0;
}

int confine_nproc_zero(void)
{
    return set_limit(RLIMIT_NPROC, 0);
}

/* A change of credentials clears the parent-death signal: set it again
 * and check that the parent did not die in between. */
int confine_parent_death(pid_t expected_parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) return -1;
    if (expected_parent > 0 && getppid() != expected_parent) {
        errno = ESRCH;
        return -1;
    }
    return 0;
}
