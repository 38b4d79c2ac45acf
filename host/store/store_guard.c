#include "store_guard.h"

#include <agenthost/plugin.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static _Thread_local const char *volatile current;
static char file_part[2300]; /* " of DIR/data.mdb: ..." */
static struct sigaction previous_segv, previous_bus;
static bool installed;

void store_guard_mark(const char *name)
{
    current = name;
}

static void say(const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static void on_fault(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    const char *db = current;
    if (db) {
        say(sig == SIGBUS ? "\nagenthost: SIGBUS" : "\nagenthost: SIGSEGV");
        say(" while the store was reading database ");
        say(db);
        say(file_part);
    }
    sigaction(sig, sig == SIGBUS ? &previous_bus : &previous_segv, NULL);
    /* A fault comes again when the instruction is retried, now reaching the
     * previous handler; a signal sent with kill(2) would not: send it. */
    if (si->si_code <= 0) raise(sig);
}

int store_guard_install(const char *dir)
{
    int n = snprintf(file_part, sizeof(file_part),
                     " of %s/data.mdb: the store is damaged or was cut short. Stop the host, run "
                     "`agenthost check --data %s`, and restore a backup if it reports damage "
                     "(docs/operations.md, \"Damaged store\").\n",
                     dir, dir);
    if (n < 0 || (size_t)n >= sizeof(file_part)) {
        snprintf(file_part, sizeof(file_part),
                 ": the store is damaged or was cut short; run `agenthost check`.\n");
        return AH_EINVAL;
    }
    if (installed) return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &previous_segv);
    sigaction(SIGBUS, &sa, &previous_bus);
    installed = true;
    return 0;
}
