/*
 * policy.c - the seccomp allowlists of a plugin process (see policy.h).
 * Any change here changes the files in tests/sandbox/golden/<arch>/: regenerate
 * them with AH_UPDATE_GOLDEN=1 and have the diff reviewed.
 */
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

/* Open flags that write, create or truncate. O_TMPFILE's own bit (libc's
 * O_TMPFILE includes O_DIRECTORY, which opendir uses). */
#define O_TMPFILE_BIT 020000000
#define OPEN_WRITE_FLAGS (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_TMPFILE_BIT)

/* clone(2) flags allowed only as a thread (which RLIMIT_NPROC then refuses
 * gracefully): CLONE_THREAD set, no namespace flag. */
#define CLONE_CHECKED_FLAGS                                                                        \
    (CLONE_THREAD | CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |     \
     CLONE_NEWUTS | CLONE_NEWCGROUP)

/* Argument comparisons (libseccomp's, with every field given). EQ and LT
 * are 64-bit: a value with stray high bits never matches. */
#define ARG_EQ(n, v) SCMP_CMP(n, SCMP_CMP_EQ, (scmp_datum_t)(v), 0)
#define ARG_LT(n, v) SCMP_CMP(n, SCMP_CMP_LT, (scmp_datum_t)(v), 0)
#define ARG_MASKED_EQ(n, mask, v) SCMP_CMP(n, SCMP_CMP_MASKED_EQ, (scmp_datum_t)(mask), (v))

typedef struct builder {
    scmp_filter_ctx ctx;
    int err;
} builder;

static void rule(builder *b, uint32_t action, int nr, unsigned n, const struct scmp_arg_cmp *cmp)
{
    if (b->err) return;
    int rc = seccomp_rule_add_array(b->ctx, action, nr, n, cmp);
    if (rc < 0) b->err = rc;
}

#define NCMP(a) (unsigned)(sizeof(a) / sizeof((a)[0]))
#define ALLOW(b, name) rule(b, SCMP_ACT_ALLOW, SCMP_SYS(name), 0, NULL)
#define ALLOW_IF(b, name, ...)                                                                     \
    do {                                                                                           \
        const struct scmp_arg_cmp c_[] = {__VA_ARGS__};                                            \
        rule(b, SCMP_ACT_ALLOW, SCMP_SYS(name), NCMP(c_), c_);                                     \
    } while (0)
#define ENOSYS_FOR(b, name) rule(b, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(name), 0, NULL)

static int start(builder *b)
{
    b->err = 0;
    b->ctx = seccomp_init(SCMP_ACT_TRAP);
    if (!b->ctx) return -1;
    /* A call made with another architecture's convention traps as well;
     * no_new_privs is set by the runner itself (libseccomp would call
     * prctl, which the first filter refuses, when stacking the second);
     * every thread gets the filter. */
    if (seccomp_attr_set(b->ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP) < 0 ||
        seccomp_attr_set(b->ctx, SCMP_FLTATR_CTL_NNP, 0) < 0 ||
        seccomp_attr_set(b->ctx, SCMP_FLTATR_CTL_TSYNC, 1) < 0) {
        seccomp_release(b->ctx);
        b->ctx = NULL;
        errno = EINVAL;
        return -1;
    }
    return 0;
}

static scmp_filter_ctx finish(builder *b)
{
    if (b->err) {
        seccomp_release(b->ctx);
        errno = -b->err;
        return NULL;
    }
    return b->ctx;
}

/* ---- pieces shared by the policies -------------------------------------- */

/* The SIGSYS handler's report: write(violation_fd, rec, 8, cookie). */
static void handler_report(builder *b, const policy_params *p)
{
    ALLOW_IF(b, write, ARG_EQ(0, (scmp_datum_t)p->violation_fd), ARG_EQ(2, 8),
             ARG_EQ(3, p->cookie));
}

static void exits(builder *b)
{
    ALLOW(b, exit);
    ALLOW(b, exit_group);
    ALLOW(b, rt_sigreturn);
    ALLOW(b, restart_syscall);
}

/* Handlers for any signal but SIGSYS (whose handler reports violations);
 * signals only to the process itself (raise, abort). */
static void own_signals(builder *b, const policy_params *p)
{
    ALLOW_IF(b, rt_sigaction, ARG_LT(0, SIGSYS));
    ALLOW_IF(b, rt_sigaction, ARG_MASKED_EQ(0, ~(scmp_datum_t)31, 32)); /* 32..63 */
    ALLOW_IF(b, rt_sigaction, ARG_EQ(0, 64));
    ALLOW(b, rt_sigprocmask);
    ALLOW(b, getpid);
    ALLOW(b, getppid);
    ALLOW(b, gettid);
    ALLOW_IF(b, kill, ARG_EQ(0, (scmp_datum_t)p->own_pid));
    ALLOW_IF(b, tkill, ARG_EQ(0, (scmp_datum_t)p->own_pid));
    ALLOW_IF(b, tgkill, ARG_EQ(0, (scmp_datum_t)p->own_pid));
}

static void clocks(builder *b)
{
    ALLOW(b, clock_gettime);
    ALLOW(b, clock_getres);
    ALLOW(b, clock_nanosleep);
    ALLOW(b, nanosleep);
    ALLOW(b, gettimeofday);
    ALLOW(b, time);
}

static void memory(builder *b, int exec_allowed)
{
    ALLOW(b, brk);
    ALLOW(b, munmap);
    ALLOW(b, mremap);
    ALLOW(b, madvise);
    if (exec_allowed) {
        ALLOW(b, mmap);
        ALLOW(b, mprotect);
    } else {
        ALLOW_IF(b, mmap, ARG_MASKED_EQ(2, PROT_EXEC, 0));
        ALLOW_IF(b, mprotect, ARG_MASKED_EQ(2, PROT_EXEC, 0));
    }
}

/* Harmless calls that libc and common libraries make at any time. */
static void quiet(builder *b)
{
    ALLOW(b, futex);
    ALLOW(b, getrandom);
    ALLOW(b, sched_yield);
    ALLOW(b, sysinfo);
    ALLOW(b, getrusage);
    ALLOW(b, poll);
    ALLOW(b, ppoll);
    /* clone3's flags are behind a pointer: make libc fall back to clone. */
    ENOSYS_FOR(b, clone3);
}

/* Private storage: files opened, written, synced, locked, renamed and
 * removed. Paths are confined by the mount namespace (only the storage is
 * writable) and Landlock (writes beneath it only), not here. */
static void storage(builder *b, const policy_params *p)
{
    const scmp_datum_t viol = (scmp_datum_t)p->violation_fd;
    ALLOW(b, openat);
    ENOSYS_FOR(b, openat2);
    static const int fd_calls[] = {SCMP_SYS(read),      SCMP_SYS(pread64),    SCMP_SYS(readv),
                                   SCMP_SYS(preadv),    SCMP_SYS(write),      SCMP_SYS(pwrite64),
                                   SCMP_SYS(writev),    SCMP_SYS(pwritev),    SCMP_SYS(lseek),
                                   SCMP_SYS(fstat),     SCMP_SYS(close),      SCMP_SYS(fsync),
                                   SCMP_SYS(fdatasync), SCMP_SYS(ftruncate),  SCMP_SYS(fallocate),
                                   SCMP_SYS(flock),     SCMP_SYS(getdents64), SCMP_SYS(fstatfs)};
    for (size_t i = 0; i < sizeof(fd_calls) / sizeof(fd_calls[0]); i++) {
        const struct scmp_arg_cmp c[] = {ARG_LT(0, viol)};
        rule(b, SCMP_ACT_ALLOW, fd_calls[i], 1, c);
    }
    static const int fcntl_cmds[] = {F_GETFD, F_SETFD,  F_GETFL,     F_SETFL,     F_GETLK,
                                     F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW};
    for (size_t k = 0; k < sizeof(fcntl_cmds) / sizeof(fcntl_cmds[0]); k++)
        ALLOW_IF(b, fcntl, ARG_LT(0, viol), ARG_EQ(1, (scmp_datum_t)fcntl_cmds[k]));
    ALLOW(b, newfstatat);
    ALLOW(b, statx);
    ALLOW(b, msync);
    /* LMDB asks for the kernel's release (a workaround for WSL). */
    ALLOW(b, uname);
    ALLOW(b, renameat);
    ALLOW(b, rename);
    ALLOW(b, unlinkat);
    ALLOW(b, unlink);
    ALLOW(b, mkdirat);
    ALLOW(b, mkdir);
    ALLOW(b, rmdir);
}

/* ---- the first filter ---------------------------------------------------- */

scmp_filter_ctx policy_preload(const policy_params *p)
{
    builder b;
    if (start(&b) < 0) return NULL;
    const scmp_datum_t viol = (scmp_datum_t)p->violation_fd;
    const scmp_datum_t ipc = (scmp_datum_t)p->ipc_fd;

    /* Files, read-only. openat2's flags are behind a pointer. */
    ALLOW_IF(&b, openat, ARG_MASKED_EQ(2, OPEN_WRITE_FLAGS, 0));
    ALLOW_IF(&b, open, ARG_MASKED_EQ(1, OPEN_WRITE_FLAGS, 0));
    ENOSYS_FOR(&b, openat2);
    ALLOW(&b, stat);
    ALLOW(&b, lstat);
    ALLOW(&b, newfstatat);
    ALLOW(&b, statx);
    /* A file system's type, read-only: libselinux's constructor asks
     * whether selinuxfs is mounted (GMime's GIO pulls it in, issue 16). */
    ALLOW(&b, statfs);
    ALLOW(&b, fstatfs);
    ALLOW(&b, access);
    ALLOW(&b, faccessat);
    ALLOW(&b, faccessat2);
    ALLOW(&b, readlink);
    ALLOW(&b, readlinkat);
    ALLOW(&b, getcwd);

    /* Descriptors: any but the violation pipe (the highest one). */
    ALLOW_IF(&b, read, ARG_LT(0, viol));
    ALLOW_IF(&b, pread64, ARG_LT(0, viol));
    ALLOW_IF(&b, readv, ARG_LT(0, viol));
    ALLOW_IF(&b, write, ARG_LT(0, viol));
    ALLOW_IF(&b, writev, ARG_LT(0, viol));
    ALLOW_IF(&b, lseek, ARG_LT(0, viol));
    ALLOW_IF(&b, fstat, ARG_LT(0, viol));
    ALLOW_IF(&b, getdents64, ARG_LT(0, viol));
    ALLOW_IF(&b, close, ARG_LT(0, viol));
    ALLOW_IF(&b, fcntl, ARG_LT(0, viol));
    ALLOW_IF(&b, dup, ARG_LT(0, viol));
    ALLOW_IF(&b, dup2, ARG_LT(0, viol), ARG_LT(1, viol));
    ALLOW_IF(&b, dup3, ARG_LT(0, viol), ARG_LT(1, viol));
    ALLOW_IF(&b, ioctl, ARG_LT(0, viol), ARG_EQ(1, TCGETS));
    ALLOW_IF(&b, ioctl, ARG_LT(0, viol), ARG_EQ(1, FIONREAD));
    handler_report(&b, p);

    /* The host socket is the only socket. */
    ALLOW_IF(&b, recvmsg, ARG_EQ(0, ipc));
    ALLOW_IF(&b, recvfrom, ARG_EQ(0, ipc));
    ALLOW_IF(&b, sendmsg, ARG_EQ(0, ipc));
    ALLOW_IF(&b, sendto, ARG_EQ(0, ipc));

    /* The loader maps the plugin executable: exec mappings until lockdown. */
    memory(&b, 1);

    /* Threads only (RLIMIT_NPROC refuses them: EAGAIN, not a kill). */
    ALLOW_IF(&b, clone, ARG_MASKED_EQ(0, CLONE_CHECKED_FLAGS, CLONE_THREAD));
    ALLOW(&b, set_robust_list);
    ALLOW(&b, rseq);

    ALLOW(&b, getuid);
    ALLOW(&b, geteuid);
    ALLOW(&b, getgid);
    ALLOW(&b, getegid);
    ALLOW(&b, getresuid);
    ALLOW(&b, getresgid);
    ALLOW(&b, getgroups);
    ALLOW(&b, uname);
    ALLOW(&b, sched_getaffinity);
    /* Limits of the process itself; hard limits stop any raise. */
    ALLOW_IF(&b, prlimit64, ARG_EQ(0, 0));
    ALLOW(&b, getrlimit);
    /* Stacking the second filter, sealed in read-only memory before any
     * plugin code ran: that program, on every thread, and nothing else. */
    ALLOW_IF(&b, seccomp, ARG_EQ(0, SECCOMP_SET_MODE_FILTER), ARG_EQ(1, SECCOMP_FILTER_FLAG_TSYNC),
             ARG_EQ(2, p->second_filter));

    /* Filters stack: the first must allow what the second does. */
    if (p->private_storage) storage(&b, p);
    own_signals(&b, p);
    clocks(&b);
    quiet(&b);
    exits(&b);
    return finish(&b);
}

/* ---- the second filter ----------------------------------------------------- */

scmp_filter_ctx policy_postload(const policy_params *p)
{
    builder b;
    if (start(&b) < 0) return NULL;
    static const int fcntl_cmds[] = {F_GETFD, F_SETFD, F_GETFL, F_SETFL};
    for (size_t i = 0; i < p->n_held && i < POLICY_MAX_FDS; i++) {
        const scmp_datum_t fd = (scmp_datum_t)p->held_fds[i];
        if (p->held_fds[i] == p->violation_fd) continue;
        ALLOW_IF(&b, read, ARG_EQ(0, fd));
        ALLOW_IF(&b, pread64, ARG_EQ(0, fd));
        ALLOW_IF(&b, readv, ARG_EQ(0, fd));
        ALLOW_IF(&b, write, ARG_EQ(0, fd));
        ALLOW_IF(&b, writev, ARG_EQ(0, fd));
        ALLOW_IF(&b, recvmsg, ARG_EQ(0, fd));
        ALLOW_IF(&b, recvfrom, ARG_EQ(0, fd));
        ALLOW_IF(&b, sendmsg, ARG_EQ(0, fd));
        ALLOW_IF(&b, sendto, ARG_EQ(0, fd));
        ALLOW_IF(&b, lseek, ARG_EQ(0, fd));
        ALLOW_IF(&b, close, ARG_EQ(0, fd));
        ALLOW_IF(&b, fstat, ARG_EQ(0, fd));
        /* fstat(3) in libc: fstatat(fd, "", st, AT_EMPTY_PATH). */
        ALLOW_IF(&b, newfstatat, ARG_EQ(0, fd), ARG_EQ(3, AT_EMPTY_PATH));
        ALLOW_IF(&b, ioctl, ARG_EQ(0, fd), ARG_EQ(1, TCGETS));
        for (size_t k = 0; k < sizeof(fcntl_cmds) / sizeof(fcntl_cmds[0]); k++)
            ALLOW_IF(&b, fcntl, ARG_EQ(0, fd), ARG_EQ(1, (scmp_datum_t)fcntl_cmds[k]));
    }
    handler_report(&b, p);
    if (p->private_storage) storage(&b, p);
    if (p->sanitizer_runtime) {
        rule(&b, SCMP_ACT_ERRNO(ENOENT), SCMP_SYS(open), 0, NULL);
        rule(&b, SCMP_ACT_ERRNO(ENOENT), SCMP_SYS(readlink), 0, NULL);
    }
    memory(&b, 0);
    /* Limits of the process itself; hard limits stop any raise. */
    ALLOW_IF(&b, prlimit64, ARG_EQ(0, 0));
    /* Filters stack: the first must allow what the second does. */
    if (p->private_storage) storage(&b, p);
    own_signals(&b, p);
    clocks(&b);
    quiet(&b);
    exits(&b);
    return finish(&b);
}

/* ---- the relay and init of the pid namespace ------------------------------- */

scmp_filter_ctx policy_relay(const policy_params *p)
{
    builder b;
    if (start(&b) < 0) return NULL;
    const scmp_datum_t st = (scmp_datum_t)p->status_fd;
    ALLOW_IF(&b, read, ARG_EQ(0, st));
    ALLOW_IF(&b, write, ARG_EQ(0, st));
    ALLOW_IF(&b, write, ARG_EQ(0, 2));
    ALLOW_IF(&b, close, ARG_EQ(0, st));
    ALLOW(&b, wait4);
    ALLOW(&b, waitid);
    ALLOW(&b, brk);
    ALLOW(&b, munmap);
    ALLOW_IF(&b, mmap, ARG_MASKED_EQ(2, PROT_EXEC, 0));
    ALLOW(&b, futex);
    own_signals(&b, p);
    exits(&b);
    return finish(&b);
}
