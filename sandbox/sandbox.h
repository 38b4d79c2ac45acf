/*
 * sandbox.h - confinement of a plugin process, applied by the runner
 * (docs/security-model.md).
 *
 * sandbox_prepare runs before the plugin library is loaded. Mandatory
 * steps fail closed: file descriptors, resource limits, supplementary
 * groups and the drop to an unprivileged uid/gid when started as root,
 * no capabilities, not dumpable, no_new_privs, the parent-death signal,
 * RLIMIT_NPROC 0, the SIGSYS reporter and the first seccomp filter.
 * Best-effort steps are reported: the user namespace and, inside it, the
 * network, IPC, mount (a minimal read-only root) and pid namespaces, and
 * Landlock. With a pid namespace it returns in a new process (see
 * sandbox/pidns.c); the process the host started stays behind as a relay.
 *
 * sandbox_lockdown runs after dlopen and before any plugin callback: the
 * second, stricter filter.
 */
#ifndef AH_SANDBOX_H
#define AH_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct sandbox_opts {
    const char *library; /* the plugin library, an absolute resolved path */
    uint32_t memory_mb;  /* RLIMIT_AS */
    uint32_t open_files; /* RLIMIT_NOFILE */
    uint32_t cpu_s;      /* RLIMIT_CPU, 0: none */
    int ipc_fd;          /* kept open */
    int violation_fd;    /* kept open (moved to RLIMIT_NOFILE - 1) */
    pid_t parent_pid;    /* the host; 0: not checked */
    /* Private storage (docs/adr/0051-plugin-private-storage.md): the
     * instance's directory, made by the host, bound read-write at
     * SANDBOX_STORAGE_PATH; NULL: none. Writes are refused (EFBIG) past
     * storage_max_mb in one file (RLIMIT_FSIZE). */
    const char *storage_dir;
    uint32_t storage_max_mb;
    bool disabled; /* no confinement at all: test builds (--no-sandbox), or the
                    * host's one debug instance (--debug-unconfined) */
} sandbox_opts;

/* A JSON object describing what was applied (the instance's confinement):
 * {"sandbox":true,"uid":65534,"gid":65534,"uid_drop":true,
 *  "no_new_privs":true,"rlimits":{...},"seccomp_filters":2,
 *  "namespaces":{"user":true,"pid":true,"net":true,"ipc":true,
 *  "mount":true},"landlock":7,"fallbacks":["why a best-effort step
 *  was not applied", ...]} */
typedef struct sandbox_report {
    char json[2048];
    /* Where the plugin finds its private storage: SANDBOX_STORAGE_PATH in
     * the minimal root, else the real directory; "" if it has none. */
    char storage[4096];
} sandbox_report;

/* The private storage's place inside the plugin's minimal root. */
#define SANDBOX_STORAGE_PATH "/data"

/* Mandatory steps fail closed: returns 0, or -1 with *why naming the step. */
int sandbox_prepare(const sandbox_opts *o, sandbox_report *rep, const char **why);
int sandbox_lockdown(const sandbox_opts *o, sandbox_report *rep, const char **why);

#endif
