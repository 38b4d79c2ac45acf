/*
 * server.h - the host's HTTP server: libmicrohttpd in external epoll mode,
 * its epoll fd watched by the host's loop (MHD_run on readiness and at
 * MHD_get_timeout; never select()).
 *
 * Each request reaches the handler once its body is complete (bounded by
 * max_body; larger bodies get 413 before they are read). Requests over the
 * limits below are answered before any handler, in the API's JSON error
 * shape: 414 uri_too_long (more than HTTP_MAX_QUERY_ARGS query
 * parameters), 431 headers_too_large (request line and headers over
 * max_header bytes, or more than HTTP_MAX_HEADER_FIELDS header fields),
 * 413 payload_too_large (a Content-Length over max_body). A request whose
 * line and headers outgrow even the connection's memory (about twice
 * max_header) is answered by libmicrohttpd itself (431 or 414 with its own
 * short HTML body, then the connection closed); so are a Content-Length
 * or chunk size that does not fit in 64 bits (413) and malformed HTTP
 * (400). A connection whose request headers are not complete within
 * header_timeout_s of its first byte is closed without an answer
 * (deadline.h). The handler must
 * answer exactly once, now or later: a request not answered when the
 * handler returns has its connection suspended until the answer comes. A
 * request whose client went away stays valid until it is answered; the
 * answer is then dropped.
 */
#ifndef AH_HTTP_SERVER_H
#define AH_HTTP_SERVER_H

#include "core/loop.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct http_server http_server;
typedef struct http_req http_req;

typedef struct http_opts {
    const char *listen;          /* "HOST:PORT", "[V6]:PORT" */
    unsigned max_connections;    /* total */
    unsigned per_ip_connections; /* 0: unlimited */
    size_t max_body;             /* bytes */
    size_t max_header;           /* bytes of request line + headers */
    unsigned idle_timeout_s;
    unsigned header_timeout_s;      /* line and headers complete this long after the
                                       request's first byte (deadline.h) */
    const char *request_id_refused; /* an X-Request-Id starting with this (the API
                                       tokens' prefix) is replaced; NULL: none */
    const char *tls_cert;           /* PEM files; both or neither */
    const char *tls_key;
    /* Comma-separated addresses of reverse proxies whose X-Forwarded-For
     * is believed (forwarded.c); NULL: none, the peer is the client. */
    const char *trusted_proxies;
} http_opts;

/* Limits of every request (documented in docs/operations.md). */
#define HTTP_MAX_QUERY_ARGS 100
#define HTTP_MAX_HEADER_FIELDS 100
/* X-Request-Id: 1 to 64 characters of A-Z a-z 0-9 . _ : - (else replaced). */
#define HTTP_REQUEST_ID_MAX 64

typedef void (*http_handler_fn)(void *ud, http_req *req);
/* Called when a request ends (answered and sent, or its client gone). */
typedef void (*http_done_fn)(void *ud, http_req *req);

/* Listen on o->listen and serve on loop: fn gets each request, done each
 * ending. 0, or -1 with err (a listen address that is not HOST:PORT, TLS
 * files half given or unreadable, an address that cannot be listened on,
 * out of memory). */
int http_server_start(http_server **out, ah_loop *loop, const http_opts *o, http_handler_fn fn,
                      http_done_fn done, void *ud, char *err, size_t errlen);
/* Stop accepting and close every connection. */
void http_server_stop(http_server *s);
/* Read the TLS files again (on SIGHUP): connections made from now on get
 * the new certificate, open ones keep theirs (tls.h). 0; 1 when the server
 * does not speak TLS; -1 with err (unreadable, not PEM, a key that is not
 * the certificate's), the previous pair still served. */
int http_server_reload_tls(http_server *s, char *err, size_t errlen);
/* The port actually bound (for --listen HOST:0). */
int http_server_port(const http_server *s);

/* Request accessors (valid until the request is answered and done). */
const char *http_req_method(const http_req *r);
/* The decoded path, without query; bytes that are not UTF-8 are replaced
 * by U+FFFD (utf8.h), so the path can be quoted in JSON and logs. */
const char *http_req_path(const http_req *r);
const char *http_req_raw_url(const http_req *r); /* the URL as MHD gave it: the same */
const char *http_req_query(const http_req *r, const char *name);
const char *http_req_header(const http_req *r, const char *name);
/* Every query argument as a JSON object (new reference); repeated keys keep
 * the last. Here and in http_req_headers_json, bytes that are not UTF-8
 * become U+FFFD. */
json_t *http_req_query_json(const http_req *r);
/* Every header as a JSON object of lower-case names (new reference). */
json_t *http_req_headers_json(const http_req *r);
const char *http_req_body(const http_req *r, size_t *len);
const char *http_req_client_ip(const http_req *r);
const char *http_req_id(const http_req *r); /* X-Request-Id, accepted or generated */
uint64_t http_req_start_ns(const http_req *r);
bool http_req_answered(const http_req *r);
int http_req_status(const http_req *r); /* the status answered; 0 before an answer */
size_t http_req_response_bytes(const http_req *r);

/* Per-request slots for the layers above (router, auth). */
void http_req_set_route(http_req *r, const char *pattern);
const char *http_req_route(const http_req *r);
/* A malloc'd object owned by the request from now on (freed with it). */
void http_req_set_user(http_req *r, void *user);
void *http_req_user(const http_req *r);

/* Answer. headers: NULL-terminated "Name: value" strings, or NULL. The
 * body is copied. */
void http_respond(http_req *r, int status, const char *content_type, const void *body, size_t len,
                  const char *const *headers);
/* Answer with JSON (body stolen). */
void http_respond_json(http_req *r, int status, json_t *body);
/* {"error":{"code":...,"message":...,"field":...}}; field may be NULL. Any
 * bytes (a quoted path, a plugin's message) are fine: what is not UTF-8
 * becomes U+FFFD, so the answer always has its JSON body. */
void http_respond_error(http_req *r, int status, const char *code, const char *message,
                        const char *field);
/* The same with extra headers ("Allow: GET", "Retry-After: 60"). */
void http_respond_error_h(http_req *r, int status, const char *code, const char *message,
                          const char *field, const char *const *headers);

/* Answer with a stream (Server-Sent Events and the like): the status and
 * headers go out now, the body in pieces as http_stream_write gives them,
 * until http_stream_end. The request stays valid until http_stream_end
 * even if its client leaves (writes then fail). */
void http_respond_stream(http_req *r, int status, const char *content_type,
                         const char *const *headers);
/* Append body bytes (copied). 0, or -1 when the client has gone or more
 * than HTTP_STREAM_BUFFER_MAX bytes wait unsent. */
int http_stream_write(http_req *r, const void *data, size_t len);
void http_stream_end(http_req *r);

#define HTTP_STREAM_BUFFER_MAX (8u << 20)

#endif
