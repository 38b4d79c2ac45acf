/*
 * syncshim.c - an LD_PRELOAD library that proves durability from outside.
 *
 * It watches a process's system calls:
 *  - writes to any file named ".../data.mdb": which nonces ("nonce-" + 12
 *    digits) each write carried, and writes to the two meta pages (LMDB's
 *    commit point). A transaction is durable once its data pages were
 *    synced *and then* a meta page pointing at them became durable: on
 *    return from a write through an O_DSYNC descriptor (LMDB's meta fd), or
 *    when a later fsync/fdatasync covering it returns;
 *  - fsync/fdatasync of that file: when one returns, every write made
 *    before it started is durable;
 *  - reads from sockets: the nonces each connection sent (a request);
 *  - writes to sockets that start an HTTP 2xx answer: at that moment every
 *    nonce the connection sent must have been written to data.mdb before a
 *    meta page that a completed sync covers.
 * Each answer is logged to $AH_SYNCSHIM_LOG as "ACK <nonce>" when durable or
 * "VIOLATION <nonce> <why>" when not. At exit it logs
 * "COUNTS syncs=<fsync/fdatasync of data.mdb> dsync=<writes through an
 * O_DSYNC descriptor> metas=<meta-page writes>".
 *
 * With $AH_SYNCSHIM_UNDO naming a file, it also keeps there, for every
 * write to data.mdb not yet covered by a completed flush, the bytes it
 * overwrote (records of offset, length, file size before, old bytes);
 * a completed flush empties it. Applied backwards to a data.mdb after
 * SIGKILL (tests/integration/test_bus_crash.c), it leaves the file as a
 * power cut at that moment could: every unflushed write lost.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FDS 65536
#define MAX_NONCES 200000
#define NONCE_LEN 18 /* "nonce-" + 12 digits */
#define META_END (2 * 4096)

enum { FD_UNKNOWN = 0, FD_DATA, FD_SOCKET, FD_OTHER };

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned char fdkind[MAX_FDS];
static unsigned long long step;
static unsigned long long synced_upto;            /* writes covered by a completed sync */
static unsigned long long meta_step;              /* the latest meta write ... */
static unsigned long long meta_data_synced;       /* ... and synced_upto when it was written */
static unsigned long long durable_upto;           /* nonces written at or before are durable */
static unsigned char fdsync[MAX_FDS];             /* 1: O_DSYNC/O_SYNC descriptor */
static unsigned long long nonce_step[MAX_NONCES]; /* 0: never written */
static int pending[MAX_FDS][8];                   /* nonces a connection sent */
static int npending[MAX_FDS];
static FILE *shimlog;
static int undo_fd = -1;
static unsigned long long n_syncs, n_dsync, n_metas;

static ssize_t (*r_write)(int, const void *, size_t);
static ssize_t (*r_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*r_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*r_writev)(int, const struct iovec *, int);
static ssize_t (*r_pwritev)(int, const struct iovec *, int, off_t);
static int (*r_fsync)(int);
static int (*r_fdatasync)(int);
static int (*r_msync)(void *, size_t, int);
static ssize_t (*r_recv)(int, void *, size_t, int);
static ssize_t (*r_read)(int, void *, size_t);
static ssize_t (*r_send)(int, const void *, size_t, int);
static ssize_t (*r_sendmsg)(int, const struct msghdr *, int);

__attribute__((constructor)) static void init(void)
{
    r_write = dlsym(RTLD_NEXT, "write");
    r_pwrite = dlsym(RTLD_NEXT, "pwrite");
    r_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
    r_writev = dlsym(RTLD_NEXT, "writev");
    r_pwritev = dlsym(RTLD_NEXT, "pwritev");
    r_fsync = dlsym(RTLD_NEXT, "fsync");
    r_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    r_msync = dlsym(RTLD_NEXT, "msync");
    r_recv = dlsym(RTLD_NEXT, "recv");
    r_read = dlsym(RTLD_NEXT, "read");
    r_send = dlsym(RTLD_NEXT, "send");
    r_sendmsg = dlsym(RTLD_NEXT, "sendmsg");
    const char *path = getenv("AH_SYNCSHIM_LOG");
    if (path) shimlog = fopen(path, "ae");
    if (shimlog) setvbuf(shimlog, NULL, _IOLBF, 0);
    const char *undo = getenv("AH_SYNCSHIM_UNDO");
    if (undo) undo_fd = open(undo, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
}

__attribute__((destructor)) static void fini(void)
{
    if (shimlog && (n_syncs || n_metas))
        fprintf(shimlog, "COUNTS syncs=%llu dsync=%llu metas=%llu\n", n_syncs, n_dsync, n_metas);
}

/* Before a write of n bytes at off to data file fd: keep what it replaces. */
static void undo_note(int fd, size_t n, off_t off)
{
    if (undo_fd < 0 || off < 0 || fdsync[fd]) return; /* O_DSYNC: durable at once */
    struct stat st;
    if (fstat(fd, &st) < 0) return;
    unsigned long long hdr[3] = {(unsigned long long)off, n, (unsigned long long)st.st_size};
    char *old = calloc(1, n ? n : 1);
    if (!old) return;
    if (off < st.st_size) {
        ssize_t r = pread(fd, old, n, off);
        (void)r;
    }
    pthread_mutex_lock(&mu);
    off_t end = lseek(undo_fd, 0, SEEK_END);
    if (pwrite(undo_fd, hdr, sizeof(hdr), end) == (ssize_t)sizeof(hdr)) {
        ssize_t w = pwrite(undo_fd, old, n, end + (off_t)sizeof(hdr));
        (void)w;
    }
    pthread_mutex_unlock(&mu);
    free(old);
}

/* A flush that began when the undo file was `len` long returned: the
 * writes before it are durable. */
static void undo_flushed(off_t len)
{
    if (undo_fd < 0 || len <= 0) return;
    pthread_mutex_lock(&mu);
    off_t end = lseek(undo_fd, 0, SEEK_END);
    if (end == len) {
        if (ftruncate(undo_fd, 0) < 0) abort();
    } else if (end > len) {
        size_t tail = (size_t)(end - len);
        char *buf = malloc(tail);
        if (buf && pread(undo_fd, buf, tail, len) == (ssize_t)tail &&
            pwrite(undo_fd, buf, tail, 0) == (ssize_t)tail) {
            if (ftruncate(undo_fd, (off_t)tail) < 0) abort();
        }
        free(buf);
    }
    pthread_mutex_unlock(&mu);
}

static int kind(int fd)
{
    if (fd < 0 || fd >= MAX_FDS) return FD_OTHER;
    if (fdkind[fd] != FD_UNKNOWN) return fdkind[fd];
    struct stat st;
    int k = FD_OTHER;
    if (fstat(fd, &st) == 0) {
        if (S_ISSOCK(st.st_mode)) {
            k = FD_SOCKET;
        } else if (S_ISREG(st.st_mode)) {
            char link[64], path[4096];
            snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
            ssize_t n = readlink(link, path, sizeof(path) - 1);
            if (n > 9) {
                path[n] = 0;
                if (!strcmp(path + n - 9, "/data.mdb")) k = FD_DATA;
            }
        }
    }
    /* Sockets and files are re-typed when an fd number is reused: only
     * remember data files, which stay open for the process's life. */
    if (k == FD_DATA) {
        fdkind[fd] = (unsigned char)k;
        int fl = fcntl(fd, F_GETFL);
        fdsync[fd] = fl >= 0 && (fl & (O_DSYNC | O_SYNC)) ? 1 : 0;
    }
    return k;
}

/* Call fn for every nonce in buf. */
static void scan(const char *buf, size_t n, void (*fn)(int nonce, void *), void *arg)
{
    for (const char *p = buf; n >= NONCE_LEN && (size_t)(p - buf) <= n - NONCE_LEN;) {
        const char *hit = memmem(p, n - (size_t)(p - buf), "nonce-", 6);
        if (!hit || (size_t)(hit - buf) + NONCE_LEN > n) return;
        int v = 0, ok = 1;
        for (int i = 6; i < NONCE_LEN; i++) {
            if (hit[i] < '0' || hit[i] > '9') {
                ok = 0;
                break;
            }
            v = v * 10 + (hit[i] - '0');
        }
        if (ok && v > 0 && v < MAX_NONCES) fn(v, arg);
        p = hit + 6;
    }
}

static void mark_written(int nonce, void *arg)
{
    unsigned long long s = *(unsigned long long *)arg;
    if (!nonce_step[nonce]) nonce_step[nonce] = s;
}

static void meta_durable(unsigned long long data_synced)
{
    if (data_synced > durable_upto) durable_upto = data_synced;
}

/* Called after the write returned (rc = bytes written or -1). */
static void data_write(int fd, const void *buf, size_t n, off_t off, ssize_t rc)
{
    if (rc <= 0) return;
    pthread_mutex_lock(&mu);
    unsigned long long s = ++step;
    scan(buf, n, mark_written, &s);
    if (fdsync[fd]) n_dsync++;
    if (off >= 0 && off < META_END) {
        n_metas++;
        meta_step = s;
        meta_data_synced = synced_upto;
        if (fdsync[fd]) meta_durable(meta_data_synced); /* synchronous by itself */
    } else if (fdsync[fd]) {
        synced_upto = s;
    }
    pthread_mutex_unlock(&mu);
}

static unsigned long long sync_start(void)
{
    pthread_mutex_lock(&mu);
    unsigned long long s = step;
    pthread_mutex_unlock(&mu);
    return s;
}

static int synced(int fd, int rc, unsigned long long started_at)
{
    if (rc == 0 && kind(fd) == FD_DATA) {
        pthread_mutex_lock(&mu);
        n_syncs++;
        if (started_at > synced_upto) synced_upto = started_at;
        if (meta_step && meta_step <= started_at) meta_durable(meta_data_synced);
        pthread_mutex_unlock(&mu);
    }
    return rc;
}

static void note_request(int nonce, void *arg)
{
    int fd = *(int *)arg;
    for (int i = 0; i < npending[fd]; i++)
        if (pending[fd][i] == nonce) return;
    if (npending[fd] < 8) pending[fd][npending[fd]++] = nonce;
}

static void socket_read(int fd, const void *buf, ssize_t n)
{
    if (n <= 0 || fd >= MAX_FDS) return;
    pthread_mutex_lock(&mu);
    scan(buf, (size_t)n, note_request, &fd);
    pthread_mutex_unlock(&mu);
}

static void socket_write(int fd, const void *buf, size_t n)
{
    if (fd >= MAX_FDS || n < 12 || memcmp(buf, "HTTP/1.1 2", 10) != 0) return;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < npending[fd]; i++) {
        int nonce = pending[fd][i];
        unsigned long long w = nonce_step[nonce];
        if (!shimlog) continue;
        if (!w)
            fprintf(shimlog, "VIOLATION %d answered but never written\n", nonce);
        else if (w > durable_upto)
            fprintf(shimlog, "VIOLATION %d answered before a synced commit covered it\n", nonce);
        else
            fprintf(shimlog, "ACK %d\n", nonce);
    }
    npending[fd] = 0;
    pthread_mutex_unlock(&mu);
}

/* ---- the interposed calls ------------------------------------------------ */

ssize_t write(int fd, const void *buf, size_t n)
{
    int k = kind(fd);
    if (k == FD_SOCKET) socket_write(fd, buf, n);
    ssize_t rc = r_write(fd, buf, n);
    if (k == FD_DATA) data_write(fd, buf, n, -1, rc);
    return rc;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (kind(fd) == FD_DATA) undo_note(fd, n, off);
    ssize_t rc = r_pwrite(fd, buf, n, off);
    if (kind(fd) == FD_DATA) data_write(fd, buf, n, off, rc);
    return rc;
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    if (kind(fd) == FD_DATA) undo_note(fd, n, off);
    ssize_t rc = r_pwrite64(fd, buf, n, off);
    if (kind(fd) == FD_DATA) data_write(fd, buf, n, off, rc);
    return rc;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    int k = kind(fd);
    if (k == FD_SOCKET && cnt > 0) socket_write(fd, iov[0].iov_base, iov[0].iov_len);
    if (k == FD_DATA) {
        off_t o = lseek(fd, 0, SEEK_CUR);
        for (int i = 0; o >= 0 && i < cnt; i++) {
            undo_note(fd, iov[i].iov_len, o);
            o += (off_t)iov[i].iov_len;
        }
    }
    ssize_t rc = r_writev(fd, iov, cnt);
    for (int i = 0; k == FD_DATA && i < cnt; i++)
        data_write(fd, iov[i].iov_base, iov[i].iov_len, -1, rc);
    return rc;
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    if (kind(fd) == FD_DATA) {
        off_t o = off;
        for (int i = 0; i < cnt; i++) {
            undo_note(fd, iov[i].iov_len, o);
            o += (off_t)iov[i].iov_len;
        }
    }
    ssize_t rc = r_pwritev(fd, iov, cnt, off);
    if (kind(fd) == FD_DATA) {
        off_t o = off;
        for (int i = 0; i < cnt; i++) {
            data_write(fd, iov[i].iov_base, iov[i].iov_len, o, rc);
            o += (off_t)iov[i].iov_len;
        }
    }
    return rc;
}

static off_t undo_len(int fd)
{
    return undo_fd >= 0 && kind(fd) == FD_DATA ? lseek(undo_fd, 0, SEEK_END) : 0;
}

int fsync(int fd)
{
    off_t u = undo_len(fd);
    unsigned long long s = sync_start();
    int rc = synced(fd, r_fsync(fd), s);
    if (rc == 0) undo_flushed(u);
    return rc;
}

int fdatasync(int fd)
{
    off_t u = undo_len(fd);
    unsigned long long s = sync_start();
    int rc = synced(fd, r_fdatasync(fd), s);
    if (rc == 0) undo_flushed(u);
    return rc;
}

int msync(void *addr, size_t len, int flags)
{
    /* LMDB without MDB_WRITEMAP never msyncs; a call is logged as suspect. */
    if (shimlog) fprintf(shimlog, "MSYNC\n");
    return r_msync(addr, len, flags);
}

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    ssize_t r = r_recv(fd, buf, n, flags);
    socket_read(fd, buf, r);
    return r;
}

ssize_t read(int fd, void *buf, size_t n)
{
    ssize_t r = r_read(fd, buf, n);
    if (r > 0 && fd < MAX_FDS && kind(fd) == FD_SOCKET) socket_read(fd, buf, r);
    return r;
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    socket_write(fd, buf, n);
    return r_send(fd, buf, n, flags);
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
    if (m->msg_iovlen > 0) socket_write(fd, m->msg_iov[0].iov_base, m->msg_iov[0].iov_len);
    return r_sendmsg(fd, m, flags);
}
