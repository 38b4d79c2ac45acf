/*
 * proc.h - starting a plugin's sandbox runner.
 *
 * The runner is exec'd with posix_spawn (glibc's clone(CLONE_VM|CLONE_VFORK)
 * + exec: the host's memory, secrets and LMDB maps never live in the
 * child), in a new session, with default signal dispositions, an empty
 * signal mask and a minimal environment. It receives exactly:
 *   fd 0  /dev/null
 *   fd 1,2 the write end of a pipe the host reads into the plugin's log
 *   fd 3  its end of the SOCK_SEQPACKET socketpair
 *   fd 4  the write end of the violation pipe (seccomp reports)
 */
#ifndef AH_PROC_H
#define AH_PROC_H

#include <stdint.h>
#include <sys/types.h>

typedef struct proc_spec {
    const char *runner;      /* path of agenthost-runner */
    const char *const *argv; /* full argv, argv[0] included, NULL-terminated */
    const char *const *envp; /* NULL-terminated */
} proc_spec;

typedef struct proc_handle {
    pid_t pid;
    int pidfd;   /* readable when the process exits */
    int ipc_fd;  /* host end, non-blocking */
    int log_fd;  /* read end of stdout/stderr, non-blocking */
    int viol_fd; /* read end of the violation pipe, non-blocking */
} proc_handle;

/* 0, or -1 with errno and nothing left open. */
int proc_spawn(const proc_spec *spec, proc_handle *out);

/* Reap if exited: returns 1 with *status (waitpid form), 0 if still
 * running, -1 on error. */
int proc_reap(proc_handle *p, int *status);

/* Close the host's fds (not the pid). */
void proc_close_fds(proc_handle *p);

/* Resident memory, in bytes, of each root process and its descendants (a
 * confined instance is three processes), in one pass over /proc: out[i]
 * for roots[i], 0 when gone. */
void proc_rss_trees(const pid_t *roots, size_t n, unsigned long long *out);

/* The seccomp filters the kernel reports for a process (pid 0: this
 * one), or -1 when it cannot be read. */
int proc_seccomp_filters(pid_t pid);
/* The most any process of root's tree (root and its descendants) holds:
 * the plugin process of a confined instance, whichever its depth (-1
 * when none can be read). */
int proc_seccomp_filters_tree(pid_t root);
/* CPU time (user and system) that root's tree has spent, in ms (clock-tick
 * granularity), or -1 when none of it can be read. */
int64_t proc_cpu_ms_tree(pid_t root);

/* root and its descendants (at most max), root first: a confined
 * instance's relay, the init of its pid namespace and its plugin. */
size_t proc_tree(pid_t root, pid_t *out, size_t max);
/* Set the soft RLIMIT_FSIZE of every process of root's tree to soft bytes
 * (each one's hard limit is kept; soft above it is lowered to it). The
 * number of processes set, or -1 when none could be. */
int proc_fsize_tree(pid_t root, uint64_t soft);
/* The highest soft RLIMIT_FSIZE among root's tree into *soft. 0, or -1
 * when none can be read. */
int proc_fsize_tree_max(pid_t root, uint64_t *soft);

#endif
