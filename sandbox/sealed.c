/*
 * sealed.c - the second seccomp filter, compiled before any plugin code
 * runs and kept where that code cannot change it.
 *
 * Plugin constructors run between the two filters, under the first one,
 * in the runner's own address space: they could patch the runner so that
 * it never stacks the second filter, or stack a program of their own that
 * makes seccomp(2) answer 0 and so fake the second load. So the program
 * is exported (libseccomp's BPF) into an anonymous mapping, made read-only
 * and sealed (mseal: no mprotect, munmap, mremap or MAP_FIXED over it,
 * no discarding madvise), and the first filter lets seccomp(2) install
 * the program at that address only. A skipped lockdown is caught by the
 * host, which counts the filters the kernel reports for the process
 * (/proc/<pid>/status) before it sends any config or secret.
 */
#include "sandbox_priv.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_mseal
#define SYS_mseal 462 /* the same number on every architecture */
#endif

int sealed_filter_make(scmp_filter_ctx f, const void **prog, bool *sealed, char *err, size_t errlen)
{
    *prog = NULL;
    *sealed = false;
    if (!f) {
        snprintf(err, errlen, "building the second filter: %s", strerror(errno));
        return -1;
    }
    int fd = memfd_create("agenthost-filter", MFD_CLOEXEC);
    int rc = fd < 0 ? -errno : seccomp_export_bpf(f, fd);
    seccomp_release(f);
    off_t size = rc == 0 ? lseek(fd, 0, SEEK_END) : -1;
    if (rc < 0 || size <= 0 || size % (off_t)sizeof(struct sock_filter) ||
        size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
        snprintf(err, errlen, "exporting the second filter failed");
        if (fd >= 0) close(fd);
        return -1;
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t len = (sizeof(struct sock_fprog) + (size_t)size + page - 1) / page * page;
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        snprintf(err, errlen, "mapping the second filter: %s", strerror(errno));
        close(fd);
        return -1;
    }
    struct sock_fprog *fp = m;
    struct sock_filter *insns = (struct sock_filter *)(fp + 1);
    ssize_t got = pread(fd, insns, (size_t)size, 0);
    close(fd);
    fp->len = (unsigned short)((size_t)size / sizeof(struct sock_filter));
    fp->filter = insns;
    if (got != size || mprotect(m, len, PROT_READ) < 0) {
        snprintf(err, errlen, "sealing the second filter failed");
        munmap(m, len);
        return -1;
    }
    *prog = m;
    /* Read-only is mandatory; the seal is best effort (Linux >= 6.10). */
    if (syscall(SYS_mseal, m, len, 0UL) == 0)
        *sealed = true;
    else
        snprintf(err, errlen, "seccomp: the second filter cannot be sealed in memory (mseal: %s)",
                 strerror(errno));
    return 0;
}

int sealed_filter_load(const void *prog)
{
    long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, prog);
    if (rc > 0) errno = ESRCH; /* a thread that could not be synchronised */
    return rc == 0 ? 0 : -1;
}
