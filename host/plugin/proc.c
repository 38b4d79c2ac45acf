#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void close_fd(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int proc_spawn(const proc_spec *spec, proc_handle *out)
{
    int sv[2] = {-1, -1}, logp[2] = {-1, -1}, violp[2] = {-1, -1};
    int err = 0;
    out->pid = -1;
    out->pidfd = out->ipc_fd = out->log_fd = out->viol_fd = -1;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
        pipe2(logp, O_CLOEXEC) < 0 || pipe2(violp, O_CLOEXEC) < 0) {
        err = errno;
        goto fail;
    }
    if (set_nonblock(sv[0]) < 0 || set_nonblock(logp[0]) < 0 || set_nonblock(violp[0]) < 0) {
        err = errno;
        goto fail;
    }

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, logp[1], 1);
    posix_spawn_file_actions_adddup2(&fa, logp[1], 2);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
    posix_spawn_file_actions_adddup2(&fa, violp[1], 4);
    posix_spawn_file_actions_addclosefrom_np(&fa, 5);

    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at,
                             POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);

    pid_t pid;
    int rc = posix_spawn(&pid, spec->runner, &fa, &at, (char *const *)spec->argv,
                         (char *const *)spec->envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
        err = rc;
        goto fail;
    }
    close_fd(&sv[1]);
    close_fd(&logp[1]);
    close_fd(&violp[1]);

    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        err = errno;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        goto fail;
    }
    fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    out->pid = pid;
    out->pidfd = pidfd;
    out->ipc_fd = sv[0];
    out->log_fd = logp[0];
    out->viol_fd = violp[0];
    return 0;

fail:
    close_fd(&sv[0]);
    close_fd(&sv[1]);
    close_fd(&logp[0]);
    close_fd(&logp[1]);
    close_fd(&violp[0]);
    close_fd(&violp[1]);
    errno = err;
    return -1;
}

int proc_reap(proc_handle *p, int *status)
{
    if (p->pid <= 0) return -1;
    pid_t r;
    do {
        r = waitpid(p->pid, status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return 0;
    if (r < 0) return -1;
    p->pid = -1;
    return 1;
}

void proc_close_fds(proc_handle *p)
{
    close_fd(&p->pidfd);
    close_fd(&p->ipc_fd);
    close_fd(&p->log_fd);
    close_fd(&p->viol_fd);
}

/* /proc/<pid>/<what> ("self" for this process) into buf, NUL-terminated. */
static int read_proc(const char *pid, const char *what, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%s/%s", pid, what);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    return 0;
}

/* ppid and resident pages of a process, from /proc/<pid>/stat. */
static int read_stat(const char *pid, long *ppid, unsigned long long *rss_pages)
{
    char buf[1024];
    if (read_proc(pid, "stat", buf, sizeof(buf)) < 0) return -1;
    /* The command name may hold spaces and parentheses: skip past the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    long pp = 0;
    unsigned long long rss = 0;
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
     * cutime cstime priority nice threads itrealvalue starttime vsize rss */
    if (sscanf(p + 2,
               "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d "
               "%*u %*u %llu",
               &pp, &rss) != 2)
        return -1;
    *ppid = pp;
    *rss_pages = rss;
    return 0;
}

/* Every process's pid, ppid and resident pages, from one pass over /proc. */
enum { SCAN_MAX = 4096, TREE_MAX = 16 };
static long scan_pids[SCAN_MAX], scan_ppids[SCAN_MAX];
static unsigned long long scan_rss[SCAN_MAX];

static size_t scan_proc(void)
{
    size_t n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && n < SCAN_MAX && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        if (read_stat(e->d_name, &scan_ppids[n], &scan_rss[n]) == 0)
            scan_pids[n++] = atol(e->d_name);
    }
    if (d) closedir(d);
    return n;
}

/* root and its descendants among the n scanned, root first. */
static size_t tree_of(long root, size_t n, long *tree)
{
    size_t nt = 0;
    tree[nt++] = root;
    for (size_t t = 0; t < nt; t++)
        for (size_t i = 0; i < n; i++)
            if (scan_ppids[i] == tree[t] && nt < TREE_MAX) tree[nt++] = scan_pids[i];
    return nt;
}

void proc_rss_trees(const pid_t *roots, size_t nroots, unsigned long long *out)
{
    /* A confined instance is three processes (the runner, the init of its
     * pid namespace and the plugin process, docs/adr/0009): count each
     * runner and its descendants. */
    size_t n = scan_proc();
    long page = sysconf(_SC_PAGESIZE);
    for (size_t r = 0; r < nroots; r++) {
        long tree[TREE_MAX];
        size_t nt = tree_of(roots[r], n, tree);
        unsigned long long pages = 0;
        for (size_t t = 0; t < nt; t++)
            for (size_t i = 0; i < n; i++)
                if (scan_pids[i] == tree[t]) pages += scan_rss[i];
        out[r] = pages * (unsigned long long)page;
    }
}

int proc_seccomp_filters(pid_t pid)
{
    char id[24], buf[4096];
    if (pid > 0)
        snprintf(id, sizeof(id), "%d", (int)pid);
    else
        snprintf(id, sizeof(id), "self");
    if (read_proc(id, "status", buf, sizeof(buf)) < 0) return -1;
    const char *f = strstr(buf, "\nSeccomp_filters:");
    return f ? atoi(f + 17) : -1;
}

/* root and its descendants, root first, from the kernel's children lists
 * (/proc/PID/task/PID/children: the processes here are single-threaded
 * where they fork); a full scan of /proc where that file is missing. A
 * handshake walks three processes, not every process on the machine. */
static size_t tree_by_children(long root, long *tree)
{
    char path[96];
    snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", root, root);
    if (access(path, F_OK) < 0)
        return tree_of(root, scan_proc(), tree); /* CONFIG_PROC_CHILDREN off */
    size_t nt = 0;
    tree[nt++] = root;
    for (size_t t = 0; t < nt; t++) {
        char id[24], what[48], buf[512];
        snprintf(id, sizeof(id), "%ld", tree[t]);
        snprintf(what, sizeof(what), "task/%ld/children", tree[t]);
        if (read_proc(id, what, buf, sizeof(buf)) < 0) continue; /* gone, or no children */
        for (char *p = buf, *end; nt < TREE_MAX; p = end) {
            long child = strtol(p, &end, 10);
            if (end == p) break;
            tree[nt++] = child;
        }
    }
    return nt;
}

/* CPU time (user and system) of one process, in clock ticks. */
static int read_cpu(const char *pid, unsigned long long *ticks)
{
    char buf[1024];
    if (read_proc(pid, "stat", buf, sizeof(buf)) < 0) return -1;
    char *p = strrchr(buf, ')');
    unsigned long long user = 0, sys = 0;
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &user, &sys) != 2)
        return -1;
    *ticks = user + sys;
    return 0;
}

int64_t proc_cpu_ms_tree(pid_t root)
{
    static long hz;
    if (!hz) hz = sysconf(_SC_CLK_TCK);
    if (root <= 0 || hz <= 0) return -1;
    long tree[TREE_MAX];
    size_t nt = tree_by_children(root, tree);
    unsigned long long sum = 0;
    int read = 0;
    for (size_t t = 0; t < nt; t++) {
        char id[24];
        unsigned long long ticks;
        snprintf(id, sizeof(id), "%ld", tree[t]);
        if (read_cpu(id, &ticks) == 0) {
            sum += ticks;
            read++;
        }
    }
    return read ? (int64_t)(sum * 1000 / (unsigned long long)hz) : -1;
}

int proc_seccomp_filters_tree(pid_t root)
{
    long tree[TREE_MAX];
    size_t nt = tree_by_children(root, tree);
    int most = -1;
    for (size_t t = 0; t < nt; t++) {
        int k = proc_seccomp_filters((pid_t)tree[t]);
        if (k > most) most = k;
    }
    return most;
}

size_t proc_tree(pid_t root, pid_t *out, size_t max)
{
    long tree[TREE_MAX];
    size_t nt = root > 0 ? tree_by_children(root, tree) : 0;
    size_t k = 0;
    for (size_t t = 0; t < nt && k < max; t++)
        out[k++] = (pid_t)tree[t];
    return k;
}

int proc_fsize_tree(pid_t root, uint64_t soft)
{
    pid_t tree[TREE_MAX];
    size_t nt = proc_tree(root, tree, TREE_MAX);
    int set = 0;
    for (size_t t = 0; t < nt; t++) {
        struct rlimit old, rl;
        if (prlimit(tree[t], RLIMIT_FSIZE, NULL, &old) < 0) continue;
        rl.rlim_max = old.rlim_max;
        rl.rlim_cur = soft > (uint64_t)old.rlim_max ? old.rlim_max : (rlim_t)soft;
        if (prlimit(tree[t], RLIMIT_FSIZE, &rl, NULL) == 0) set++;
    }
    return set ? set : -1;
}

int proc_fsize_tree_max(pid_t root, uint64_t *soft)
{
    pid_t tree[TREE_MAX];
    size_t nt = proc_tree(root, tree, TREE_MAX);
    int read = 0;
    uint64_t most = 0;
    for (size_t t = 0; t < nt; t++) {
        struct rlimit rl;
        if (prlimit(tree[t], RLIMIT_FSIZE, NULL, &rl) < 0) continue;
        if ((uint64_t)rl.rlim_cur > most) most = (uint64_t)rl.rlim_cur;
        read++;
    }
    *soft = most;
    return read ? 0 : -1;
}
