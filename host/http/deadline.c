#include "deadline.h"

#include "core/log.h"
#include "core/util.h"
#include "tcpinfo.h"

#include <agenthost/plugin.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct watched {
    struct watched *prev, *next;
    deadline_watch *w;
    int fd;
    uint64_t baseline;   /* bytes received when it became ready for its request */
    uint64_t started_ms; /* when the request's first byte came (about); 0: not yet */
    bool waiting;        /* for a request's headers */
    bool cut;            /* shut down by the sweep */
    char ip[INET6_ADDRSTRLEN];
} watched;

struct deadline_watch {
    uv_timer_t timer;
    uint64_t timeout_ms;
    watched head; /* a ring: head.next is the oldest */
    void (*kick)(void *ud);
    void *ud;
};

static void client_ip(struct MHD_Connection *conn, char *out, size_t len)
{
    out[0] = 0;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
}

static void cut(watched *c)
{
    c->cut = true;
    shutdown(c->fd, SHUT_RDWR); /* libmicrohttpd reads the end and closes the socket */
    json_t *f = json_pack("{s:s,s:s}", "event", "header_timeout", "client_ip", c->ip);
    log_write("security", LOG_WARN, "http", NULL, f,
              "connection closed: request headers not complete within %llu s",
              (unsigned long long)(c->w->timeout_ms / 1000));
    json_decref(f);
}

/* The first sweep to see bytes past the baseline takes now as the
 * request's start: at most one sweep after its first byte. */
static bool begun(watched *c, uint64_t now)
{
    if (!c->started_ms) {
        uint64_t n = tcpinfo_bytes_received(c->fd);
        /* Unknown (a kernel before 4.1): counted as begun at once. */
        if (n != TCPINFO_UNKNOWN && n <= c->baseline) return false; /* idle */
        c->started_ms = now;
    }
    return true;
}

static void sweep(uv_timer_t *t)
{
    deadline_watch *w = t->data;
    uint64_t now = ah_mono_ms();
    bool any = false;
    for (watched *c = w->head.next; c != &w->head; c = c->next) {
        if (!c->waiting || c->cut) continue;
        if (begun(c, now) && now - c->started_ms >= w->timeout_ms) {
            cut(c);
            any = true;
        }
    }
    if (any) w->kick(w->ud);
}

int deadline_start(deadline_watch **out, ah_loop *loop, unsigned header_timeout_s,
                   void (*kick)(void *ud), void *ud)
{
    deadline_watch *w = calloc(1, sizeof(*w));
    if (!w) return AH_ENOMEM;
    w->timeout_ms = (uint64_t)header_timeout_s * 1000;
    w->head.next = w->head.prev = &w->head;
    w->kick = kick;
    w->ud = ud;
    uv_timer_init(loop_uv(loop), &w->timer);
    w->timer.data = w;
    /* A connection is cut at most a quarter of the timeout (and never more
     * than a second) late. */
    uint64_t every = w->timeout_ms / 4 < 1000 ? w->timeout_ms / 4 : 1000;
    uv_timer_start(&w->timer, sweep, every, every);
    *out = w;
    return 0;
}

static void free_watch(uv_handle_t *h)
{
    free(h->data);
}

void deadline_stop(deadline_watch *w)
{
    if (!w) return;
    /* MHD_stop_daemon reported every connection closed; free any it did not. */
    while (w->head.next != &w->head) {
        watched *c = w->head.next;
        w->head.next = c->next;
        free(c);
    }
    uv_close((uv_handle_t *)&w->timer, free_watch);
}

void deadline_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode toe)
{
    deadline_watch *w = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        watched *c = calloc(1, sizeof(*c));
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!c || !fd) { /* untracked: the idle timeout still applies */
            free(c);
            *socket_context = NULL;
            return;
        }
        c->w = w;
        c->fd = fd->connect_fd;
        c->baseline = 0; /* what came before the accept is this request's too */
        c->waiting = true;
        client_ip(conn, c->ip, sizeof(c->ip));
        c->prev = w->head.prev;
        c->next = &w->head;
        w->head.prev->next = c;
        w->head.prev = c;
        *socket_context = c;
        return;
    }
    watched *c = *socket_context;
    if (!c) return;
    c->prev->next = c->next;
    c->next->prev = c->prev;
    free(c);
    *socket_context = NULL;
}

static watched *of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        conn ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
    return ci ? ci->socket_context : NULL;
}

void deadline_headers_done(struct MHD_Connection *conn)
{
    watched *c = of(conn);
    if (c) c->waiting = false;
}

void deadline_request_done(struct MHD_Connection *conn)
{
    watched *c = of(conn);
    if (c) {
        c->waiting = true;
        c->baseline = tcpinfo_bytes_received(c->fd);
        c->started_ms = 0;
    }
}
