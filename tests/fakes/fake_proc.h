/*
 * fake_proc.h - run a fake server as a child process (so its sockets do
 * not count against the process under test) and learn its port.
 */
#ifndef FAKE_PROC_H
#define FAKE_PROC_H

#include <sys/types.h>

typedef struct fake_proc {
    pid_t pid;
    int port;
    char dir[256];
} fake_proc;

/* Start `binary` with --port-file in a temporary directory; wait up to
 * timeout_ms for its port. 0 or -1. */
int fake_start(fake_proc *f, const char *binary, int timeout_ms);
/* SIGTERM, wait, clean up. */
void fake_stop(fake_proc *f);

#endif
