/*
 * policy.h - the seccomp policies of a plugin process, as libseccomp
 * filters. Every policy is an allowlist whose default action is
 * SECCOMP_RET_TRAP (the runner's SIGSYS handler reports the call); a call
 * from another architecture traps too. Kept apart from the code that
 * installs them so that tests can export each one as text (PFC) and
 * compare it with a reviewed, checked-in file.
 *
 *   preload   installed before the plugin is loaded: files read-only, no
 *             processes, sockets, exec, ptrace, mount, modules, io_uring,
 *             bpf, perf, process_vm_*, keyctl, userfaultfd; openat2 and
 *             clone3 answer ENOSYS; signals only to the process itself.
 *             seccomp(2) only to stack the sealed postload program.
 *   postload  stacked on it before the first callback: no open at all, no
 *             executable mappings, I/O only on the descriptors held at
 *             that moment, futex, clocks, memory, signals to itself, exit.
 *             With private storage: also the file calls (openat,
 *             pwrite64, fsync, ftruncate, renameat, unlinkat, flock...) on
 *             any descriptor but the violation pipe; the preload filter
 *             then allows them too (stacked filters: the stricter wins).
 *   relay     the two small processes that hold the pid namespace
 *             (sandbox/pidns.c): wait, pass a status on, exit.
 *
 * Arguments are compared exactly (64-bit equality) or against ranges that
 * no value with high bits set can satisfy, since the kernel truncates
 * int arguments that seccomp sees whole. The violation pipe is the
 * highest descriptor the process may hold (RLIMIT_NOFILE - 1), so "any
 * descriptor but the violation pipe" is "below violation_fd".
 */
#ifndef AH_SANDBOX_POLICY_H
#define AH_SANDBOX_POLICY_H

#include <seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLICY_MAX_FDS 64

typedef struct policy_params {
    int own_pid;                  /* the only pid kill/tgkill/tkill may target */
    int ipc_fd;                   /* the host socket: the only socket I/O allowed */
    int violation_fd;             /* written only by the SIGSYS handler ... */
    uint64_t cookie;              /* ... passing this as its 4th argument */
    int held_fds[POLICY_MAX_FDS]; /* postload: open at lockdown, ascending */
    size_t n_held;
    int status_fd; /* relay: the pipe carrying the exit status */
    /* preload: the address of the postload filter's sealed program (struct
     * sock_fprog): seccomp(2) may install that program only, on every
     * thread, so that plugin code run before lockdown (constructors) can
     * neither stack a filter of its own nor fake the second one. */
    uint64_t second_filter;
    /* Sanitizer builds only: after lockdown, answer the legacy open(2) and
     * readlink(2), which libc never uses here but the sanitizer runtime
     * does on its first report (it reads /proc lazily), with ENOENT rather
     * than a trap, so that a UBSan report is not taken for a violation. */
    bool sanitizer_runtime;
    /* postload: the instance has private storage (a directory bound
     * read-write, docs/adr/0051-plugin-private-storage.md): files may be
     * opened, written, synced, renamed and removed after lockdown. Which
     * paths is for the mount namespace and Landlock to say; the filter
     * only opens the calls. */
    bool private_storage;
} policy_params;

/* Each returns a new filter (seccomp_release it), or NULL with errno. */
scmp_filter_ctx policy_preload(const policy_params *p);
scmp_filter_ctx policy_postload(const policy_params *p);
scmp_filter_ctx policy_relay(const policy_params *p);

#endif
