/*
 * violation.c - the SIGSYS handler that reports a trapped system call.
 *
 * The filters answer a forbidden call with SECCOMP_RET_TRAP; the kernel
 * delivers SIGSYS with the call's number and architecture. The handler
 * writes them as one 8-byte record to the violation pipe (the only write
 * to that descriptor the filters allow, recognised by a random cookie in
 * an argument write(2) ignores) and ends the process. It runs on its own
 * stack with every signal blocked, so a plugin that broke its stack still
 * gets reported. Re-arming SIGSYS is refused by the filters; blocking it
 * makes the kernel kill the process with SIGSYS instead, which the host
 * reports as a violation without a syscall name.
 */
#include "sandbox_priv.h"

#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1
#endif

static int g_fd = -1;
static uint64_t g_cookie;
static _Alignas(16) unsigned char g_stack[64 * 1024];

static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
    (void)sig;
    (void)uctx;
    struct {
        int32_t nr;
        uint32_t arch;
    } rec = {-1, 0};
    if (si->si_code == SYS_SECCOMP) {
        rec.nr = si->si_syscall;
        rec.arch = si->si_arch;
    }
    syscall(SYS_write, g_fd, &rec, sizeof(rec), g_cookie);
    syscall(SYS_exit_group, SANDBOX_EXIT_VIOLATION);
    for (;;)
        ;
}

int violation_handler_install(int fd, uint64_t cookie)
{
    g_fd = fd;
    g_cookie = cookie;
    stack_t ss = {.ss_sp = g_stack, .ss_size = sizeof(g_stack), .ss_flags = 0};
    if (sigaltstack(&ss, NULL) < 0) return -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigfillset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) < 0) return -1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSYS);
    return sigprocmask(SIG_UNBLOCK, &set, NULL);
}
