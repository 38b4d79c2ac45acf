/*
 * server_priv.h - what the HTTP server's files share: the request and
 * server structures, and the request limits (limits.c). Not a public
 * header: the server's face is server.h.
 */
#ifndef AH_HTTP_SERVER_PRIV_H
#define AH_HTTP_SERVER_PRIV_H

#include "core/randpool.h"
#include "deadline.h"
#include "server.h"

#include <microhttpd.h>
#include <netinet/in.h>

struct http_req {
    http_server *srv;
    struct MHD_Connection *conn; /* NULL once the connection ended */
    bool begun;                  /* its headers are in: the fields below are set */
    size_t target_len;           /* the request target as sent (path and query) */
    bool too_many_args;          /* its query was dropped unparsed (limits_on_uri) */
    char method[16];
    char *path;
    char *raw_url;
    char *body;
    size_t body_len, body_cap;
    bool too_big;
    size_t discarded; /* body bytes past the limit, read and dropped */
    bool dispatched, suspended, answered, done;
    bool streaming, stream_ended, stream_waiting; /* http_respond_stream */
    char *sbuf;                                   /* stream bytes not yet sent */
    size_t soff, slen, scap;
    struct MHD_Response *response;
    int status;
    size_t response_bytes;
    char client_ip[INET6_ADDRSTRLEN];
    char id[HTTP_REQUEST_ID_MAX + 1];
    uint64_t start_ns;
    const char *route;
    void *user;
};

struct http_server {
    struct MHD_Daemon *d;
    ah_loop *loop;
    uv_poll_t poll;
    uv_timer_t timer;
    http_handler_fn fn;
    http_done_fn done;
    void *ud;
    http_opts o;
    size_t pool_bytes; /* MHD's memory limit per connection (limits_pool_bytes) */
    deadline_watch *deadlines;
    int port;
    ah_randpool ids; /* request ids: one getrandom per 512, not one each */
    bool tls;        /* serving the pair of tls.h */
    int closing;     /* handles still closing */
};

/* {"error":{"code":...,"message":...,"field":...}} as compact JSON text
 * (malloc'd; NULL when out of memory). Bytes that are not UTF-8 become
 * U+FFFD. field may be NULL. */
char *http_error_json(const char *code, const char *message, const char *field);

/* ---- forwarded.c ---------------------------------------------------------- */

/* ip (the peer's address, n bytes) becomes the client's as
 * X-Forwarded-For gives it, when the peer is a trusted proxy. */
void forwarded_client_ip(const http_opts *o, struct MHD_Connection *conn, char *ip, size_t n);

/* ---- limits.c ---------------------------------------------------------- */

/* The memory libmicrohttpd may use per connection, for opts. */
size_t limits_pool_bytes(const http_opts *o);
/* MHD_OPTION_URI_LOG_CALLBACK (cls: the server): makes the request (its
 * con_cls, or NULL when out of memory) and keeps an over-long query from
 * being parsed. */
void *limits_on_uri(void *cls, const char *uri, struct MHD_Connection *conn);

typedef enum limits_verdict {
    LIMITS_PASS,     /* within every limit */
    LIMITS_QUEUED,   /* refused: r->response holds the JSON answer to queue */
    LIMITS_SENT_RAW, /* refused: the answer was written to the socket; close it */
} limits_verdict;
/* Hold a request whose headers are in to the limits; refused requests are
 * answered (and marked dispatched, so they are logged like the others). */
limits_verdict limits_check(http_server *s, http_req *r, struct MHD_Connection *conn);

#endif
