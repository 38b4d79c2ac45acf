/*
 * pidns.c - three processes for one plugin instance in its own pid
 * namespace (docs/adr/0001-pid-namespace-relay.md):
 *
 *   relay  the runner the host spawned, in the host's pid namespace. The
 *          host's pid, pidfd and waitpid refer to it. It waits for the
 *          plugin's exit status and ends the same way (same exit code, or
 *          killed by the same signal).
 *   init   pid 1 of the new namespace: reaps, passes the plugin's wait
 *          status to the relay over a pipe, exits. When it dies, the
 *          kernel kills everything left in the namespace.
 *   plugin pid 2: goes on to load and run the plugin. Not being pid 1, it
 *          keeps ordinary signal semantics (raise(SIGABRT) kills it).
 *
 * Each of relay and init has a parent-death signal (SIGKILL) and its own
 * seccomp filter (policy_relay), holds neither the IPC socket nor the
 * violation pipe, and runs no plugin code. So: the host dies -> the relay
 * is killed -> init is killed -> the namespace is torn down; the host
 * kills the relay -> the same; the plugin ends -> init reports over the
 * socketpair ns_clone made -> the relay mirrors it.
 */
#include "policy.h"
#include "sandbox_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_LOST 70 /* the relay lost track of the plugin process */

/* Close everything but stderr and fd (fd > 2): stdin, stdout, the IPC
 * socket and the violation pipe stay with the plugin process alone, so
 * the host sees their ends close when it ends. */
static void keep_only(int fd)
{
    close(0);
    close(1);
    if (fd > 3) syscall(SYS_close_range, 3u, (unsigned)fd - 1, 0u);
    syscall(SYS_close_range, (unsigned)fd + 1, ~0u, 0u);
}

/* The relay and init: an unprivileged identity was set by the caller;
 * RLIMIT_NPROC 0 and the relay filter. */
static void confine_helper(int status_fd, pid_t own_pid)
{
    policy_params p = {.own_pid = own_pid, .status_fd = status_fd, .violation_fd = -1};
    scmp_filter_ctx f = policy_relay(&p);
    if (confine_nproc_zero() < 0 || !f || seccomp_load(f) < 0) {
        fprintf(stderr, "agenthost-runner: sandbox: confining the pid namespace's relay or "
                        "init failed\n");
        _exit(EXIT_LOST);
    }
    seccomp_release(f);
}

/* End the way the plugin process ended. */
static _Noreturn void mirror(int status)
{
    if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        struct sigaction sa = {.sa_handler = SIG_DFL};
        sigaction(sig, &sa, NULL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, sig);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        kill(getpid(), sig);
        _exit(128 + sig);
    }
    _exit(EXIT_LOST);
}

_Noreturn void pidns_relay(pid_t init, int sock)
{
    keep_only(sock);
    confine_helper(sock, getpid());
    int status = 0;
    ssize_t n;
    do {
        n = read(sock, &status, sizeof(status));
    } while (n < 0 && errno == EINTR);
    int init_status = 0;
    while (waitpid(init, &init_status, 0) < 0 && errno == EINTR)
        ;
    if (n != (ssize_t)sizeof(status)) mirror(init_status); /* init died without a report */
    mirror(status);
}

static _Noreturn void init_process(pid_t plugin, int sock)
{
    keep_only(sock);
    confine_helper(sock, 1);
    for (;;) {
        int status;
        pid_t p = waitpid(-1, &status, 0);
        if (p < 0 && errno == EINTR) continue;
        if (p < 0) _exit(EXIT_LOST);
        if (p != plugin) continue;
        ssize_t w = write(sock, &status, sizeof(status));
        _exit(w == (ssize_t)sizeof(status) ? 0 : EXIT_LOST);
    }
}

bool pidns_peer_alive(int sock)
{
    struct pollfd pf = {.fd = sock, .events = POLLIN | POLLRDHUP};
    if (poll(&pf, 1, 0) < 0) return false;
    return !(pf.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR));
}

int pidns_fork_plugin(int sock, char *err, size_t errlen)
{
    pid_t plugin = fork();
    if (plugin < 0) {
        snprintf(err, errlen, "pid namespace: fork: %s", strerror(errno));
        return -1;
    }
    if (plugin > 0) init_process(plugin, sock);
    /* The plugin process: pid 2; init is its parent, the relay is not
     * reachable from here. */
    close(sock);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != 1) _exit(SANDBOX_EXIT_SETUP);
    return 0;
}
