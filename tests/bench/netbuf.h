/*
 * netbuf.h - a buffered blocking TCP connection for the peers' protocols
 * (RESP for Redis, the NATS text protocol): lines, counted bodies, and
 * batched writes. Reads wait at most NB_TIMEOUT_MS, so a silent server
 * fails the run instead of hanging it.
 */
#ifndef AH_BENCH_NETBUF_H
#define AH_BENCH_NETBUF_H

#include <stdbool.h>
#include <stddef.h>

#define NB_TIMEOUT_MS 20000

typedef struct netbuf {
    int fd;
    char *in;
    size_t in_len, in_off, in_cap;
    char *out;
    size_t out_len, out_cap;
} netbuf;

void nb_init(netbuf *nb, int fd);
/* Closes the socket too. */
void nb_free(netbuf *nb);

/* Read what is available (waiting if nothing is): >0, 0 at EOF, -1 on an
 * error or a timeout. */
int nb_fill(netbuf *nb);
/* The next whole line without its CRLF (NUL-terminated in place), or NULL
 * if no whole line is buffered yet. */
char *nb_line(netbuf *nb);
/* The next n bytes plus a CRLF, or NULL if not all buffered yet. */
char *nb_body(netbuf *nb, size_t n);
/* Where a parse may be undone when a message is incomplete. */
size_t nb_mark(const netbuf *nb);
void nb_rewind(netbuf *nb, size_t mark);

/* Queue bytes; nb_flush writes everything queued. 0 or -1. */
void nb_write(netbuf *nb, const void *p, size_t n);
void nb_printf(netbuf *nb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int nb_flush(netbuf *nb);

#endif
