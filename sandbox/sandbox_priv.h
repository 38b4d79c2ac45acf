/*
 * sandbox_priv.h - the steps of the runner's confinement, one file each,
 * called in order by sandbox.c. Not a public header.
 */
#ifndef AH_SANDBOX_PRIV_H
#define AH_SANDBOX_PRIV_H

#include "sandbox.h"

#include <seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Exit status of a process that made a forbidden call (128 + SIGSYS). */
#define SANDBOX_EXIT_VIOLATION 159
/* Exit status of a process whose confinement could not be completed. */
#define SANDBOX_EXIT_SETUP 71
/* The unprivileged identity plugins run as when the host is root. */
#define SANDBOX_UNPRIVILEGED_ID 65534

#define SB_MAX_PATHS 64

/* A set of absolute paths (the files a plugin may read). */
typedef struct sb_paths {
    char *v[SB_MAX_PATHS];
    bool is_dir[SB_MAX_PATHS];
    size_t n;
} sb_paths;

int sb_paths_add(sb_paths *p, const char *path, bool is_dir); /* dedupes; -1 if full */
void sb_paths_free(sb_paths *p);

/* confine.c: the mandatory steps. Each returns 0 or -1 with errno. */
int confine_close_fds(int ipc_fd, int violation_fd);
int confine_limits(const sandbox_opts *o);
int confine_move_fd_to_top(int fd, uint32_t open_files, int *out); /* to RLIMIT_NOFILE - 1 */
int confine_clear_groups(void);
int confine_set_ids(uid_t uid, gid_t gid);
int confine_drop_capabilities(void);
int confine_nproc_zero(void);
int confine_parent_death(pid_t expected_parent); /* PR_SET_PDEATHSIG again after setuid */

/* libdeps.c: the files the loader opens to dlopen `library` (resolved
 * path): its directory, the dependencies not already loaded, and the
 * loader cache if any dependency must be searched for. */
int libdeps_collect(const char *library, sb_paths *out, char *err, size_t errlen);

/* namespaces.c: clone a child into new user and pid namespaces, its uid
 * and gid mapped to inside_uid/inside_gid (privileged: the unprivileged
 * identity, which the child then switches to; else the caller's own).
 * Returns the child's pid in the parent, 0 in the child (pid 1 of the new
 * namespace), -1 with *err if there is no child. *sock is the parent's or
 * the child's end of a socketpair between them (pidns.c uses it). */
int ns_clone(uid_t inside_uid, gid_t inside_gid, bool privileged, int *sock, char *err,
             size_t errlen);
int ns_unshare(int flag, char *err, size_t errlen);

/* sealed.c: compile f (released) into read-only, sealed memory; *prog is
 * the address the first filter allows seccomp(2) to install. Returns -1
 * when it cannot be made read-only; 0 with *sealed false and err set when
 * only the seal is missing (a best-effort fallback). */
int sealed_filter_make(scmp_filter_ctx f, const void **prog, bool *sealed, char *err,
                       size_t errlen);
/* Stack it on every thread. 0 or -1 (errno). */
int sealed_filter_load(const void *prog);

/* rootfs.c: a read-only tmpfs root holding only `paths`, then pivot_root.
 * rootfs_plan walks the real tree and clones what to expose (as root:
 * before the user namespace); rootfs_enter, in the new mount namespace,
 * builds the root from the plan and enters it; rootfs_discard drops an
 * unused plan (the relay's copy). storage_dir, if not NULL, is bound
 * read-write (nosuid, nodev, noexec) at SANDBOX_STORAGE_PATH. */
int rootfs_plan(const sb_paths *paths, const char *storage_dir, char *err, size_t errlen);
int rootfs_enter(char *err, size_t errlen);
void rootfs_discard(void);

/* landlock.c: read and execute beneath `paths` only; read, write, create,
 * remove and truncate regular files and directories beneath `storage`
 * (NULL: none); no TCP; no signals or abstract sockets outside the
 * domain. *abi is the kernel's ABI. */
int landlock_apply(const sb_paths *paths, const char *storage, int *abi, char *err, size_t errlen);

/* pidns.c (docs/adr/0009-pid-namespace-relay.md). In the parent of
 * ns_clone: stay behind as the relay of the plugin's exit status; never
 * returns. In the child (pid 1): fork the plugin process and stay behind
 * as the namespace's init; returns 0 in the plugin process (pid 2). */
_Noreturn void pidns_relay(pid_t init, int sock);
int pidns_fork_plugin(int sock, char *err, size_t errlen);
/* Is the process at the other end of sock still there? */
bool pidns_peer_alive(int sock);

/* violation.c */
int violation_handler_install(int fd, uint64_t cookie);

#endif
