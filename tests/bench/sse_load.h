/*
 * sse_load.h - the client side of bench_webchat: thousands of SSE streams
 * and short HTTP requests on one epoll loop in the bench process, each
 * from one of the loopback addresses 127.0.0.2... (so per-address limits
 * see many clients, as from many visitors), and the floor: a bare SSE
 * server in a child process that holds the same streams and writes one
 * frame to each on SIGUSR1.
 */
#ifndef BENCH_SSE_LOAD_H
#define BENCH_SSE_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Streams per source address (127.0.0.2 + i / SSE_PER_ADDRESS). */
#define SSE_PER_ADDRESS 500

/* One stream: what the bench needs to know of it. */
typedef struct sse_stream {
    int fd;
    int status;      /* the answer's status, 0 until its head arrived */
    bool eof;        /* the server closed it */
    double sent_ms;  /* when its message was sent (0: none) */
    double got_ms;   /* when the first agent message frame arrived (0: none yet) */
    double ts_ms;    /* that frame's "ts" (the server's time of the message) */
    double token_ms; /* when the first token frame with text arrived (0: none) */
    int frames;      /* message frames seen */
    char buf[1024];  /* the unparsed tail */
    size_t len;
} sse_stream;

typedef struct sse_load sse_load;

/* Room for n streams and in_flight short requests. NULL when out of memory. */
sse_load *sse_load_new(int n, int in_flight);
void sse_load_free(sse_load *l); /* closes everything */
sse_stream *sse_load_stream(sse_load *l, int i);

/* Open streams [0, n) to 127.0.0.1:port, stream i asking GET path_i (from
 * path_of(i, ud)), at most `pending` connecting at once. Returns how many
 * are open with status 200 when every one answered or timeout_ms passed. */
int sse_load_open(sse_load *l, int n, int port, const char *(*path_of)(int i, void *ud), void *ud,
                  int pending, int timeout_ms);

/* POST body_of(i) to path_of(i) (JSON; Authorization: Bearer auth_of(i)
 * when not NULL) for i in [0, n), `in_flight` at a time, each on its own
 * connection from stream i's address, stream i's sent_ms set as it goes;
 * meanwhile read every stream. Returns the count answered 2xx; stops when
 * all n are answered and done(l, ud) says so, or after timeout_ms. */
typedef struct sse_post {
    const char *(*path_of)(int i, void *ud);
    const char *(*body_of)(int i, void *ud);
    const char *(*auth_of)(int i, void *ud);
    bool (*done)(sse_load *l, void *ud);
    void *ud;
} sse_post;
int sse_load_post(sse_load *l, int n, int port, const sse_post *p, int timeout_ms);

/* Read the streams for ms (keepalives, late frames). */
void sse_load_pump(sse_load *l, int ms);

/* A blocking request from source address 127.0.0.(2 + ip): the status and
 * up to outlen - 1 bytes of the body in out (may be NULL); -1 on failure. */
int sse_http(int ip, int port, const char *method, const char *path, const char *auth,
             const char *body, char *out, size_t outlen);

/* The floor: a bare SSE server (epoll, no HTTP library) in a child
 * process on a free port: it answers every GET with the stream's head,
 * writes ": keepalive" to each every keepalive_ms, and on SIGUSR1 one
 * "message" frame {"ts": <ms>} to each. 0 with *pid and *port, or -1. */
int sse_floor_start(int max_streams, int keepalive_ms, pid_t *pid, int *port);

/* Wall-clock time in ms (CLOCK_REALTIME, as the host's message "ts"). */
double sse_now_ms(void);

/* Raise RLIMIT_NOFILE to its hard limit; the limit now in force. */
long sse_raise_nofile(void);

#endif
