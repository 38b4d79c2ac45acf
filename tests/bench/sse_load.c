/*
 * sse_load.c - SSE streams and short requests on one epoll loop, and the
 * bare SSE server of the floor (sse_load.h).
 */
#include "sse_load.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KIND_STREAM 1ull
#define KIND_REQ 2ull
#define TAG(kind, i) (((kind) << 32) | (uint64_t)(uint32_t)(i))

typedef struct req_slot {
    int fd;
    int i; /* the stream it is for; -1: free */
    int status;
    char *out; /* the request, then nothing */
    size_t out_len, out_off;
    char in[512];
    size_t in_len;
} req_slot;

struct sse_load {
    int ep;
    int n;
    sse_stream *s;
    char **req; /* a stream's request text until written */
    req_slot *slots;
    int nslots;
};

double sse_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

long sse_raise_nofile(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) return -1;
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
    getrlimit(RLIMIT_NOFILE, &r);
    return (long)r.rlim_cur;
}

/* A non-blocking connection from 127.0.0.(2 + ip) to 127.0.0.1:port,
 * connecting; -1 on failure. */
static int connect_from(int ip, int port, bool nonblock)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in src = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + (uint32_t)ip)};
    struct sockaddr_in dst = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
        (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0 && errno != EINPROGRESS)) {
        close(fd);
        return -1;
    }
    return fd;
}

sse_load *sse_load_new(int n, int in_flight)
{
    sse_load *l = calloc(1, sizeof(*l));
    if (!l) return NULL;
    l->n = n;
    l->nslots = in_flight;
    l->s = calloc((size_t)n, sizeof(*l->s));
    l->req = calloc((size_t)n, sizeof(*l->req));
    l->slots = calloc((size_t)in_flight, sizeof(*l->slots));
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    if (!l->s || !l->req || !l->slots || l->ep < 0) {
        sse_load_free(l);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        l->s[i].fd = -1;
    for (int j = 0; j < in_flight; j++)
        l->slots[j].fd = -1, l->slots[j].i = -1;
    return l;
}

void sse_load_free(sse_load *l)
{
    if (!l) return;
    for (int i = 0; l->s && i < l->n; i++) {
        if (l->s[i].fd >= 0) close(l->s[i].fd);
        free(l->req[i]);
    }
    for (int j = 0; l->slots && j < l->nslots; j++) {
        if (l->slots[j].fd >= 0) close(l->slots[j].fd);
        free(l->slots[j].out);
    }
    if (l->ep >= 0) close(l->ep);
    free(l->s);
    free(l->req);
    free(l->slots);
    free(l);
}

sse_stream *sse_load_stream(sse_load *l, int i)
{
    return &l->s[i];
}

/* ---- reading a stream ---------------------------------------------------------------- */

/* One frame (text up to its blank line): a message from the agent, or a
 * token with text. */
static void on_frame(sse_stream *s, const char *f, size_t len, double now)
{
    char frame[1024];
    snprintf(frame, sizeof(frame), "%.*s", (int)len, f);
    if (strstr(frame, "event: message")) {
        s->frames++;
        const char *ts = strstr(frame, "\"ts\":");
        if (s->got_ms == 0 && strstr(frame, "\"role\":\"agent\"")) {
            s->got_ms = now;
            s->ts_ms = ts ? strtod(ts + 5, NULL) : 0;
        }
    } else if (s->token_ms == 0 && strstr(frame, "event: token")) {
        const char *d = strstr(frame, "\"delta\":\"");
        if (d && d[9] != '"') s->token_ms = now;
    }
}

static void stream_read(sse_stream *s)
{
    for (;;) {
        if (s->len + 1 >= sizeof(s->buf)) s->len = 0; /* a frame too large to matter */
        ssize_t r = read(s->fd, s->buf + s->len, sizeof(s->buf) - 1 - s->len);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            s->eof = true;
            close(s->fd);
            s->fd = -1;
            return;
        }
        if (r < 0) return;
        s->len += (size_t)r;
        s->buf[s->len] = 0;
        double now = sse_now_ms();
        size_t off = 0;
        if (!s->status) {
            char *end = strstr(s->buf, "\r\n\r\n");
            if (!end) continue;
            s->status = atoi(s->buf + 9);
            off = (size_t)(end + 4 - s->buf);
        }
        for (char *e; (e = strstr(s->buf + off, "\n\n"));) {
            on_frame(s, s->buf + off, (size_t)(e - (s->buf + off)), now);
            off = (size_t)(e + 2 - s->buf);
        }
        memmove(s->buf, s->buf + off, s->len - off);
        s->len -= off;
        s->buf[s->len] = 0;
    }
}

/* ---- short requests --------------------------------------------------------------------- */

static void slot_done(sse_load *l, req_slot *q, int *answered, int *failed)
{
    epoll_ctl(l->ep, EPOLL_CTL_DEL, q->fd, NULL);
    close(q->fd);
    q->fd = -1;
    q->in[q->in_len < sizeof(q->in) ? q->in_len : sizeof(q->in) - 1] = 0;
    q->status = q->in_len > 12 ? atoi(q->in + 9) : 0;
    if (q->status >= 200 && q->status < 300) {
        (*answered)++;
    } else if (++*failed <= 3) {
        char *body = strstr(q->in, "\r\n\r\n");
        fprintf(stderr, "sse_load: request for stream %d: %d %s\n", q->i, q->status,
                body ? body + 4 : "");
    }
    q->i = -1;
    free(q->out);
    q->out = NULL;
}

static void slot_io(sse_load *l, req_slot *q, uint32_t ev, int *answered, int *failed)
{
    if (q->out_off < q->out_len && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        ssize_t w = write(q->fd, q->out + q->out_off, q->out_len - q->out_off);
        if (w < 0 && errno != EAGAIN) {
            slot_done(l, q, answered, failed);
            return;
        }
        if (w > 0) q->out_off += (size_t)w;
        if (q->out_off == q->out_len) {
            struct epoll_event e = {.events = EPOLLIN, .data.u64 = TAG(KIND_REQ, q - l->slots)};
            epoll_ctl(l->ep, EPOLL_CTL_MOD, q->fd, &e);
        }
        return;
    }
    for (;;) {
        char tmp[512];
        ssize_t r = read(q->fd, tmp, sizeof(tmp));
        if (r > 0) {
            size_t room = sizeof(q->in) - 1 - q->in_len;
            size_t k = (size_t)r < room ? (size_t)r : room;
            memcpy(q->in + q->in_len, tmp, k);
            q->in_len += k;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
        slot_done(l, q, answered, failed);
        return;
    }
}

static int slot_start(sse_load *l, req_slot *q, int i, int port, const sse_post *p)
{
    const char *auth = p->auth_of ? p->auth_of(i, p->ud) : NULL;
    const char *body = p->body_of(i, p->ud);
    char ah[400] = "";
    if (auth) snprintf(ah, sizeof(ah), "Authorization: Bearer %s\r\n", auth);
    int n = asprintf(&q->out,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     p->path_of(i, p->ud), ah, strlen(body), body);
    if (n < 0) return -1;
    q->out_len = (size_t)n;
    q->out_off = 0;
    q->in_len = 0;
    q->i = i;
    q->fd = connect_from(i / SSE_PER_ADDRESS, port, true);
    if (q->fd < 0) return -1;
    struct epoll_event e = {.events = EPOLLOUT, .data.u64 = TAG(KIND_REQ, q - l->slots)};
    epoll_ctl(l->ep, EPOLL_CTL_ADD, q->fd, &e);
    l->s[i].sent_ms = sse_now_ms();
    return 0;
}

/* ---- the loop --------------------------------------------------------------------------- */

static void stream_io(sse_load *l, int i, uint32_t ev)
{
    sse_stream *s = &l->s[i];
    if (s->fd < 0) return;
    if (l->req[i] && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        size_t len = strlen(l->req[i]);
        ssize_t w = write(s->fd, l->req[i], len);
        if (w != (ssize_t)len) { /* refused, or a request too large for one write */
            s->eof = true;
            epoll_ctl(l->ep, EPOLL_CTL_DEL, s->fd, NULL);
            close(s->fd);
            s->fd = -1;
            return;
        }
        free(l->req[i]);
        l->req[i] = NULL;
        struct epoll_event e = {.events = EPOLLIN, .data.u64 = TAG(KIND_STREAM, i)};
        epoll_ctl(l->ep, EPOLL_CTL_MOD, s->fd, &e);
        return;
    }
    stream_read(s);
}

/* Wait up to ms for events and handle them. */
static void turn(sse_load *l, int ms, int *answered, int *failed)
{
    struct epoll_event ev[256];
    int k = epoll_wait(l->ep, ev, 256, ms);
    for (int e = 0; e < k; e++) {
        uint64_t tag = ev[e].data.u64;
        int i = (int)(uint32_t)tag;
        if (tag >> 32 == KIND_STREAM)
            stream_io(l, i, ev[e].events);
        else
            slot_io(l, &l->slots[i], ev[e].events, answered, failed);
    }
}

int sse_load_open(sse_load *l, int n, int port, const char *(*path_of)(int i, void *ud), void *ud,
                  int pending, int timeout_ms)
{
    double end = sse_now_ms() + timeout_ms;
    int next = 0, dummy = 0;
    for (;;) {
        int waiting = 0, open = 0;
        for (int i = 0; i < next; i++) {
            waiting += l->s[i].fd >= 0 && !l->s[i].status;
            open += l->s[i].status == 200 && l->s[i].fd >= 0;
        }
        if ((next == n && !waiting) || sse_now_ms() > end) return open;
        while (next < n && waiting < pending) {
            sse_stream *s = &l->s[next];
            if (asprintf(&l->req[next],
                         "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n",
                         path_of(next, ud)) < 0)
                return open;
            s->fd = connect_from(next / SSE_PER_ADDRESS, port, true);
            if (s->fd >= 0) {
                struct epoll_event e = {.events = EPOLLOUT, .data.u64 = TAG(KIND_STREAM, next)};
                epoll_ctl(l->ep, EPOLL_CTL_ADD, s->fd, &e);
                waiting++;
            } else {
                s->eof = true;
            }
            next++;
        }
        turn(l, 20, &dummy, &dummy);
    }
}

int sse_load_post(sse_load *l, int n, int port, const sse_post *p, int timeout_ms)
{
    double end = sse_now_ms() + timeout_ms;
    int next = 0, answered = 0, failed = 0;
    while (sse_now_ms() < end) {
        int busy = 0;
        for (int j = 0; j < l->nslots; j++) {
            req_slot *q = &l->slots[j];
            if (q->i < 0 && next < n) {
                if (slot_start(l, q, next, port, p) != 0) {
                    failed++;
                    free(q->out);
                    q->out = NULL;
                    q->i = -1;
                }
                next++;
            }
            busy += q->i >= 0;
        }
        if (next == n && !busy && (!p->done || p->done(l, p->ud))) break;
        turn(l, 20, &answered, &failed);
    }
    return answered;
}

void sse_load_pump(sse_load *l, int ms)
{
    double end = sse_now_ms() + ms;
    int dummy = 0;
    while (sse_now_ms() < end)
        turn(l, (int)(end - sse_now_ms()) + 1, &dummy, &dummy);
}

int sse_http(int ip, int port, const char *method, const char *path, const char *auth,
             const char *body, char *out, size_t outlen)
{
    int fd = connect_from(ip, port, false);
    if (fd < 0) return -1;
    char *req = NULL, ah[400] = "";
    if (auth) snprintf(ah, sizeof(ah), "Authorization: Bearer %s\r\n", auth);
    int n = asprintf(&req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     method, path, ah, body ? strlen(body) : 0, body ? body : "");
    int status = -1;
    if (n > 0 && write(fd, req, (size_t)n) == n) {
        char buf[16384];
        size_t len = 0;
        ssize_t r;
        while (len + 1 < sizeof(buf) && (r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
            len += (size_t)r;
        buf[len] = 0;
        if (len > 12) status = atoi(buf + 9);
        char *b = strstr(buf, "\r\n\r\n");
        if (out && outlen) snprintf(out, outlen, "%s", b ? b + 4 : "");
    }
    free(req);
    close(fd);
    return status;
}

/* ---- the floor: a bare SSE server ------------------------------------------------------- */

/* To every stream whose head was written (headed[i]). */
static void floor_write_all(const int *fds, const bool *headed, int n, const char *text, size_t len)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0 && headed[i] && write(fds[i], text, len) < 0) { /* gone: read() sees it */
        }
}

static void floor_serve(int lfd, int max, int keepalive_ms)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int *fds = malloc((size_t)max * sizeof(int));
    bool *headed = calloc((size_t)max, sizeof(bool));
    for (int i = 0; i < max; i++)
        fds[i] = -1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    struct itimerspec it = {.it_interval = {keepalive_ms / 1000, (keepalive_ms % 1000) * 1000000L}};
    it.it_value = it.it_interval;
    timerfd_settime(tfd, 0, &it, NULL);
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e);
    e.data.u64 = UINT64_MAX - 1;
    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &e);
    e.data.u64 = UINT64_MAX - 2;
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &e);
    int n = 0;
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                               "Cache-Control: no-store\r\n\r\nretry: 3000\n\n";
    for (;;) {
        struct epoll_event ev[256];
        int k = epoll_wait(ep, ev, 256, -1);
        for (int j = 0; j < k; j++) {
            uint64_t tag = ev[j].data.u64;
            if (tag == UINT64_MAX) {
                int c;
                while (n < max &&
                       (c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
                    fds[n] = c;
                    struct epoll_event ce = {.events = EPOLLIN, .data.u64 = (uint64_t)n++};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
            } else if (tag == UINT64_MAX - 1) {
                struct signalfd_siginfo si;
                if (read(sfd, &si, sizeof(si)) != sizeof(si)) continue;
                if (si.ssi_signo == SIGTERM) _exit(0);
                char frame[200];
                int len = snprintf(frame, sizeof(frame),
                                   "id: 2\nevent: message\ndata: {\"id\":\"2\",\"role\":\"agent\","
                                   "\"text\":\"Hello\",\"ts\":%.3f}\n\n",
                                   sse_now_ms());
                floor_write_all(fds, headed, n, frame, (size_t)len);
            } else if (tag == UINT64_MAX - 2) {
                uint64_t ticks;
                if (read(tfd, &ticks, sizeof(ticks)) < 0) continue;
                floor_write_all(fds, headed, n, ": keepalive\n\n", 13);
            } else {
                int c = fds[tag];
                char buf[2048];
                ssize_t r = read(c, buf, sizeof(buf));
                if (r == 0 || (r < 0 && errno != EAGAIN)) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, c, NULL);
                    close(c);
                    fds[tag] = -1;
                } else if (r > 0 && !headed[tag] && memmem(buf, (size_t)r, "\r\n\r\n", 4)) {
                    headed[tag] = write(c, head, sizeof(head) - 1) > 0;
                }
            }
        }
    }
}

int sse_floor_start(int max_streams, int keepalive_ms, pid_t *pid, int *port)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 1024) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &len) != 0) {
        if (lfd >= 0) close(lfd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    *pid = fork();
    if (*pid < 0) {
        close(lfd);
        return -1;
    }
    if (*pid == 0) {
        floor_serve(lfd, max_streams, keepalive_ms);
        _exit(0);
    }
    close(lfd);
    return 0;
}
