/*
 * forked.h - run a function in a forked child and read the lines it writes.
 *
 * For work that may crash on bad input the host cannot vouch for (walking
 * a damaged LMDB file faults inside LMDB): the child takes the fault, the
 * caller learns how it ended and what it said before.
 *
 * The child runs with SIGSEGV, SIGBUS, SIGFPE and SIGILL at their default
 * action (a sanitizer's or the host's own reporter would only add noise)
 * and no core file, and ends with _exit (no atexit handlers, no stdio
 * flush). fork in a process with threads: glibc's fork leaves malloc usable
 * in the child; the function must not wait for locks other threads hold.
 */
#ifndef AH_FORKED_H
#define AH_FORKED_H

#include <stddef.h>

/* Runs in the child: write lines to fd (each at most FORKED_LINE_MAX - 1
 * bytes, '\n'-terminated); the return value is the exit status. */
typedef int (*forked_fn)(void *arg, int fd);
/* Runs in the parent for each line, without its '\n'. */
typedef void (*forked_line_fn)(void *ud, const char *line);

#define FORKED_LINE_MAX 1024

/* Write one formatted line to fd (child side). */
void forked_printf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* How a child ended: its exit status, or the signal that killed it. */
typedef struct forked_end {
    int exit_code; /* when signo == 0 */
    int signo;     /* 0, or the signal that killed it */
} forked_end;

/* Run fn(arg, fd) in a child, passing its lines to on_line as they come,
 * and wait for it. Returns 0 with *end filled, or AH_EIO when the child
 * could not be started or waited for (errno says why). */
int forked_run(forked_fn fn, void *arg, forked_line_fn on_line, void *ud, forked_end *end);

#endif
