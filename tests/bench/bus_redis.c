/* bus_redis.c - the peer at equal durability: Debian's redis-server on
 * loopback with appendonly yes and appendfsync always (the AOF is
 * fsynced before replies to the commands of an event-loop iteration are
 * sent, so a reply means on disk), a 256-byte field per entry, XADD
 * pipelined on one connection with up to `window` commands unanswered. */
#include "bus.h"

#include "netbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct redis_peer {
    bench *b;
    bench_server srv;
    netbuf nb;
    unsigned streams;
    char cmd_head[128];
    char value[EVENT_BYTES];
};

/* One reply: 1 for a bulk or simple string or an integer, 0 if not all
 * buffered yet, -1 for an error reply (*err gets it) or a protocol error. */
static int read_reply(netbuf *nb, char **err, long long *num)
{
    size_t mark = nb_mark(nb);
    char *line = nb_line(nb);
    if (!line) return 0;
    switch (line[0]) {
    case '+':
        return 1;
    case ':':
        if (num) *num = atoll(line + 1);
        return 1;
    case '-':
        *err = line + 1;
        return -1;
    case '$': {
        long len = atol(line + 1);
        if (len < 0) return 1;
        if (!nb_body(nb, (size_t)len)) {
            nb_rewind(nb, mark);
            return 0;
        }
        return 1;
    }
    default:
        *err = line;
        return -1;
    }
}

/* Send one command and wait for its reply. */
static int command(redis_peer *r, long long *num, int argc, ...)
{
    va_list ap;
    va_start(ap, argc);
    nb_printf(&r->nb, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        const char *a = va_arg(ap, const char *);
        nb_printf(&r->nb, "$%zu\r\n%s\r\n", strlen(a), a);
    }
    va_end(ap);
    if (nb_flush(&r->nb) < 0) return -1;
    for (;;) {
        char *err = NULL;
        int rc = read_reply(&r->nb, &err, num);
        if (rc == 1) return 0;
        if (rc < 0) {
            bench_fail(r->b, "redis: %s", err ? err : "protocol error");
            return -1;
        }
        if (nb_fill(&r->nb) <= 0) return -1;
    }
}

redis_peer *redis_start(bench *b)
{
    if (!bench_have("redis-server")) {
        bench_fail(b, "redis-server is not installed (scripts/deps.sh --bench installs it)");
        return NULL;
    }
    redis_peer *r = calloc(1, sizeof(*r));
    r->b = b;
    r->nb.fd = -1;
    memset(r->value, 'e', sizeof(r->value));
    if (bench_tmpdir(r->srv.dir, sizeof(r->srv.dir), "redis") < 0) {
        free(r);
        bench_fail(b, "cannot make a temporary directory");
        return NULL;
    }
    r->srv.port = bench_free_port();
    char port[16];
    snprintf(port, sizeof(port), "%d", r->srv.port);
    char *argv[] = {"redis-server",
                    "--port",
                    port,
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    r->srv.dir,
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                    "--save",
                    "",
                    "--daemonize",
                    "no",
                    "--protected-mode",
                    "yes",
                    "--logfile",
                    "",
                    NULL};
    int fd = -1;
    if (bench_server_start(&r->srv, argv, 10000) < 0 || (fd = bench_connect(r->srv.port)) < 0) {
        bench_fail(b, "redis-server did not start");
        bench_server_stop(&r->srv, 2000);
        free(r);
        return NULL;
    }
    nb_init(&r->nb, fd);
    if (command(r, NULL, 1, "PING") < 0) {
        redis_stop(r);
        bench_fail(b, "redis-server does not answer");
        return NULL;
    }
    return r;
}

void redis_stop(redis_peer *r)
{
    if (!r) return;
    if (r->nb.fd >= 0) nb_free(&r->nb);
    bench_server_stop(&r->srv, 5000);
    free(r);
}

static void queue_xadd(redis_peer *r)
{
    nb_write(&r->nb, r->cmd_head, strlen(r->cmd_head));
    nb_write(&r->nb, r->value, EVENT_BYTES);
    nb_write(&r->nb, "\r\n", 2);
}

pub_result redis_publish(redis_peer *r, const pub_plan *p)
{
    pub_result res = {.ok = true};
    char stream[32];
    snprintf(stream, sizeof(stream), "bench%u", ++r->streams);
    snprintf(r->cmd_head, sizeof(r->cmd_head),
             "*5\r\n$4\r\nXADD\r\n$%zu\r\n%s\r\n$1\r\n*\r\n$1\r\nd\r\n$%d\r\n", strlen(stream),
             stream, EVENT_BYTES);
    long issued = 0, answered = 0;
    uint64_t t0 = bench_now_ns(), stop_at = t0 + (uint64_t)(p->seconds * 1e9);
    for (; issued < (long)p->window && issued < p->max_events; issued++)
        queue_xadd(r);
    bool stopping = false;
    while (answered < issued) {
        if (nb_flush(&r->nb) < 0 || nb_fill(&r->nb) <= 0) {
            bench_fail(r->b, "redis: connection lost after %ld of %ld replies", answered, issued);
            res.ok = false;
            break;
        }
        /* Every reply frees a slot of the window: refill it at once. */
        for (;;) {
            char *err = NULL;
            int rc = read_reply(&r->nb, &err, NULL);
            if (rc == 0) break;
            if (rc < 0) {
                bench_fail(r->b, "redis XADD: %s", err ? err : "protocol error");
                res.ok = false;
                stopping = true;
                answered++;
                continue;
            }
            answered++;
            if (!stopping && (issued >= p->max_events || bench_now_ns() >= stop_at))
                stopping = true;
            if (!stopping) {
                queue_xadd(r);
                issued++;
            }
        }
    }
    res.seconds = (double)(bench_now_ns() - t0) / 1e9;
    res.events = answered;
    long long len = -1;
    if (res.ok && (command(r, &len, 2, "XLEN", stream) < 0 || len != issued)) {
        bench_fail(r->b, "redis: stream %s holds %lld entries, %ld were acknowledged", stream, len,
                   issued);
        res.ok = false;
    }
    return res;
}
