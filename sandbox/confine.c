/*
 * confine.c - the mandatory confinement steps of the runner: file
 * descriptors, resource limits, privilege drop and no_new_privs.
 */
#include "sandbox.h"

#include <errno.h>
#include <grp.h>
#include <linux/close_range.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define UNPRIVILEGED_ID 65534 /* nobody / nogroup */

static int close_other_fds(const sandbox_opts *o)
{
    /* Keep 0-2 (stdin is /dev/null, stdout/stderr go to the plugin log),
     * the IPC socket and the violation pipe; close everything else. */
    int keep_hi = o->ipc_fd > o->violation_fd ? o->ipc_fd : o->violation_fd;
    for (int fd = 3; fd < keep_hi; fd++)
        if (fd != o->ipc_fd && fd != o->violation_fd)
            close(fd);
    return (int)syscall(SYS_close_range, (unsigned)keep_hi + 1, ~0u, 0);
}

static int set_limit(int res, rlim_t v)
{
    struct rlimit rl = {.rlim_cur = v, .rlim_max = v};
    return setrlimit(res, &rl);
}

static int set_limits(const sandbox_opts *o)
{
    if (set_limit(RLIMIT_AS, (rlim_t)o->memory_mb << 20) < 0)
        return -1;
    if (set_limit(RLIMIT_NOFILE, o->open_files) < 0)
        return -1;
    if (set_limit(RLIMIT_CORE, 0) < 0)
        return -1;
    if (o->cpu_s && set_limit(RLIMIT_CPU, o->cpu_s) < 0)
        return -1;
    return 0;
}

static int drop_privileges(void)
{
    if (geteuid() != 0 && getuid() != 0)
        return 0;
    if (setgroups(0, NULL) < 0 || setresgid(UNPRIVILEGED_ID, UNPRIVILEGED_ID, UNPRIVILEGED_ID) < 0 ||
        setresuid(UNPRIVILEGED_ID, UNPRIVILEGED_ID, UNPRIVILEGED_ID) < 0)
        return -1;
    /* Make sure it cannot be undone. */
    if (setuid(0) == 0)
        return -1;
    return 0;
}

int sandbox_prepare(const sandbox_opts *o, sandbox_report *rep, const char **why)
{
    snprintf(rep->json, sizeof(rep->json), "{\"sandbox\":false}");
    if (close_other_fds(o) < 0) {
        *why = "closing inherited file descriptors failed";
        return -1;
    }
    if (o->disabled)
        return 0;
    if (set_limits(o) < 0) {
        *why = "setting resource limits failed";
        return -1;
    }
    bool was_root = geteuid() == 0;
    if (drop_privileges() < 0) {
        *why = "dropping privileges failed";
        return -1;
    }
    if (set_limit(RLIMIT_NPROC, 0) < 0) {
        *why = "setting RLIMIT_NPROC failed";
        return -1;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        *why = "PR_SET_NO_NEW_PRIVS failed";
        return -1;
    }
    snprintf(rep->json, sizeof(rep->json),
             "{\"sandbox\":true,\"rlimits\":true,\"uid_drop\":%s,\"no_new_privs\":true,"
             "\"seccomp\":false}",
             was_root ? "true" : "false");
    return 0;
}

int sandbox_lockdown(const sandbox_opts *o, sandbox_report *rep, const char **why)
{
    (void)o;
    (void)rep;
    (void)why;
    return 0;
}
