#include "forked.h"

#include <agenthost/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

void forked_printf(int fd, const char *fmt, ...)
{
    char line[FORKED_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n > sizeof(line) - 2) n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    for (int off = 0; off < n;) {
        ssize_t w = write(fd, line + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        off += (int)w;
    }
}

static void child(forked_fn fn, void *arg, int fd)
{
    static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL};
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
        sigaction(faults[i], &dfl, NULL);
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    _exit(fn(arg, fd));
}

/* Split what arrived into lines; a line longer than the buffer is cut. */
static void read_lines(int fd, forked_line_fn on_line, void *ud)
{
    char buf[FORKED_LINE_MAX];
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        have += (size_t)n;
        char *start = buf, *nl;
        while ((nl = memchr(start, '\n', have - (size_t)(start - buf)))) {
            *nl = 0;
            on_line(ud, start);
            start = nl + 1;
        }
        have -= (size_t)(start - buf);
        memmove(buf, start, have);
        if (have == sizeof(buf) - 1) {
            buf[have] = 0;
            on_line(ud, buf);
            have = 0;
        }
    }
    if (have) {
        buf[have] = 0;
        on_line(ud, buf);
    }
}

int forked_run(forked_fn fn, void *arg, forked_line_fn on_line, void *ud, forked_end *end)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return AH_EIO;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return AH_EIO;
    }
    if (pid == 0) {
        close(p[0]);
        child(fn, arg, p[1]);
    }
    close(p[1]);
    read_lines(p[0], on_line, ud);
    close(p[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return AH_EIO;
    end->exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    end->signo = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    return 0;
}
