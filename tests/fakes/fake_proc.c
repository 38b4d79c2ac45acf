/*
 * fake_proc.c - fake servers as child processes. See fake_proc.h.
 */
#include "fake_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int fake_start(fake_proc *f, const char *binary, int timeout_ms)
{
    memset(f, 0, sizeof(*f));
    f->pid = -1;
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(f->dir, sizeof(f->dir), "%s/ah-fake-XXXXXX", base);
    if (!mkdtemp(f->dir)) return -1;
    char port_file[400];
    snprintf(port_file, sizeof(port_file), "%s/port", f->dir);
    const char *argv[] = {binary, "--port-file", port_file, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&f->pid, binary, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        f->pid = -1;
        return -1;
    }
    long long deadline = mono_ms() + timeout_ms;
    while (mono_ms() < deadline) {
        FILE *p = fopen(port_file, "r");
        if (p) {
            int ok = fscanf(p, "%d", &f->port) == 1;
            fclose(p);
            if (ok && f->port > 0) return 0;
        }
        if (waitpid(f->pid, NULL, WNOHANG) == f->pid) {
            f->pid = -1;
            return -1;
        }
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    fake_stop(f);
    return -1;
}

void fake_stop(fake_proc *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        long long deadline = mono_ms() + 3000;
        while (waitpid(f->pid, NULL, WNOHANG) != f->pid) {
            if (mono_ms() > deadline) {
                kill(f->pid, SIGKILL);
                waitpid(f->pid, NULL, 0);
                break;
            }
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
        f->pid = -1;
    }
    if (f->dir[0]) {
        char path[400];
        snprintf(path, sizeof(path), "%s/port", f->dir);
        unlink(path);
        rmdir(f->dir);
        f->dir[0] = 0;
    }
}
