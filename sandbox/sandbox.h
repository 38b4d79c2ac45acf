/*
 * sandbox.h - confinement of a plugin process, applied by the runner.
 *
 * sandbox_prepare runs before the plugin library is loaded: the mandatory
 * steps (fds, rlimits, privilege drop, no_new_privs, the first seccomp
 * filter) fail closed; the best-effort steps (namespaces, Landlock) are
 * reported. sandbox_lockdown runs after dlopen and before any plugin
 * callback: the second, stricter filter.
 */
#ifndef AH_SANDBOX_H
#define AH_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sandbox_opts {
    const char *library;   /* the plugin library (for the minimal root) */
    uint32_t memory_mb;    /* RLIMIT_AS */
    uint32_t open_files;   /* RLIMIT_NOFILE */
    uint32_t cpu_s;        /* RLIMIT_CPU, 0: none */
    int ipc_fd;            /* kept open */
    int violation_fd;      /* kept open; seccomp reports go here */
    bool disabled;         /* test builds only: no confinement at all */
} sandbox_opts;

/* A JSON object describing what was applied (for the instance's state). */
typedef struct sandbox_report {
    char json[1024];
} sandbox_report;

/* Mandatory steps fail closed: returns 0, or -1 with *why naming the step. */
int sandbox_prepare(const sandbox_opts *o, sandbox_report *rep, const char **why);
int sandbox_lockdown(const sandbox_opts *o, sandbox_report *rep, const char **why);

#endif
