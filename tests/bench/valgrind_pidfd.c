/*
 * valgrind_pidfd.so: a profiling aid, preloaded into the host when it runs
 * under valgrind. valgrind 3.19 does not know pidfd_open (it answers
 * ENOSYS), so the host could not start a plugin there. This library
 * answers syscall(SYS_pidfd_open, pid, 0) with a pidfd opened by a helper
 * that runs outside valgrind (python3, exec'd: valgrind's
 * --trace-children=no leaves it native) and passes it back over a socket.
 * Every other syscall goes to libc's. Never in a product build:
 *
 *   TH_HOST_WRAP="env LD_PRELOAD=build-bench/tests/bench/libvalgrind_pidfd.so
 *                 valgrind --tool=callgrind --trace-children=no ..."
 */
#include <dlfcn.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int pidfd_via_helper(int pid)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return -1;
    char arg[32];
    snprintf(arg, sizeof(arg), "%d", pid);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
    char *argv[] = {"python3", "-c",
                    "import os, socket, sys; s = socket.socket(fileno=3); "
                    "socket.send_fds(s, [b'x'], [os.pidfd_open(int(sys.argv[1]))])",
                    arg, NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    pid_t helper;
    int rc = posix_spawnp(&helper, "python3", &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    close(sv[1]);
    if (rc) {
        close(sv[0]);
        return -1;
    }
    char b, cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec io = {&b, 1};
    struct msghdr m = {
        .msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    int fd = -1;
    if (recvmsg(sv[0], &m, MSG_CMSG_CLOEXEC) == 1) {
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        if (c && c->cmsg_type == SCM_RIGHTS) memcpy(&fd, CMSG_DATA(c), sizeof(int));
    }
    close(sv[0]);
    waitpid(helper, NULL, 0);
    return fd;
}

long syscall(long n, ...)
{
    va_list ap;
    va_start(ap, n);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if (n == SYS_pidfd_open) return pidfd_via_helper((int)a[0]);
    static long (*real)(long, ...);
    if (!real) real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    return real(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}
