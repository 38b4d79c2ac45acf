#include "fault.h"

#ifdef AH_FAULTS
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ah_fault_point(const char *name)
{
    static const char *want;
    static long skip;
    static int loaded;
    if (!loaded) {
        want = getenv("AGENTHOST_FAULT");
        const char *s = getenv("AGENTHOST_FAULT_SKIP");
        skip = s ? strtol(s, NULL, 10) : 0;
        loaded = 1;
    }
    if (!want || strcmp(want, name) != 0) return;
    if (__atomic_fetch_sub(&skip, 1, __ATOMIC_SEQ_CST) > 0)
        return; /* not this time: AGENTHOST_FAULT_SKIP hits pass first */
    const char *mark = getenv("AGENTHOST_FAULT_MARK");
    if (mark) {
        int fd = open(mark, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) {
            ssize_t w = write(fd, name, strlen(name));
            w = write(fd, "\n", 1);
            (void)w;
            fsync(fd);
            close(fd);
        }
    }
    kill(getpid(), SIGKILL);
}
#endif
