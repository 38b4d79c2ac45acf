/*
 * fake_http.h - a small HTTP/1.1 server on libuv for protocol fakes: real
 * sockets on loopback, keep-alive, Content-Length request bodies, whole or
 * chunked responses, scripted streams with pauses, abrupt cuts. One
 * thread; thousands of connections at once.
 */
#ifndef FAKE_HTTP_H
#define FAKE_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct fh_server fh_server;
typedef struct fh_conn fh_conn;

typedef struct fh_req {
    const char *method;
    const char *path;  /* without the query */
    const char *query; /* after '?', or "" */
    json_t *headers;   /* lower-case name -> value (borrowed) */
    const char *body;
    size_t body_len;
} fh_req;

/* Called once per request; answer with fh_respond, fh_stream_* or fh_play. */
typedef void (*fh_handler)(void *ud, fh_conn *c, const fh_req *req);

int fh_listen(fh_server **out, uv_loop_t *uv, const char *host, int port, fh_handler fn, void *ud);
/* Stop listening and free the server once its handle is closed (run the
 * loop). Only when fh_open_connections is 0: a connection counts on it. */
void fh_close(fh_server *s);
int fh_port(const fh_server *s);
/* Announce the server for fake_proc.h's fake_start: write its port to
 * path (atomically, when path is not NULL) and "NAME listening on ..." to
 * stdout. 0, or -1 after saying why on stderr. */
int fh_announce(const fh_server *s, const char *name, const char *path);
long fh_open_connections(const fh_server *s);
long fh_max_connections(const fh_server *s);

/* A whole response. extra_headers: "Name: value\r\n..." or NULL. */
void fh_respond(fh_conn *c, int status, const char *content_type, const char *extra_headers,
                const void *body, size_t len);

/* A scripted chunked response: pieces sent one by one, each after its
 * delay; then the end of the body, or an abrupt close (cut). */
typedef struct fh_piece {
    uint32_t delay_ms;
    char *data; /* owned by the script */
    size_t len;
} fh_piece;

typedef struct fh_script {
    fh_piece *v;
    size_t n, cap;
    int cut; /* close the connection instead of ending the body */
} fh_script;

void fh_script_add(fh_script *s, uint32_t delay_ms, const void *data, size_t len);
void fh_script_free(fh_script *s);
/* Send status and headers now, then play the script (taken over). */
void fh_play(fh_conn *c, int status, const char *content_type, const char *extra_headers,
             fh_script *script);

/* A fake's life after its state is ready: listen on 127.0.0.1:port (0: any),
 * write the port to port_file (if not NULL; atomically, for fake_proc),
 * announce it on stdout, and run uv until SIGTERM or SIGINT. The process's
 * exit status: 0, or 1 with the reason on stderr (name prefixes it). */
int fh_serve(uv_loop_t *uv, fh_server **srv, const char *name, int port, const char *port_file,
             fh_handler fn, void *ud);

/* Run fn after ms on this connection (dropped if it closes first). */
void fh_later(fh_conn *c, uint32_t ms, void (*fn)(fh_conn *c, void *ud), void *ud,
              void (*free_ud)(void *ud));

/* A server with a loop and a thread of its own, for a fake living inside
 * a test process (a CRM, a scoring service): listening on 127.0.0.1 on a
 * free port. fn runs on that thread. 0 with *out, or -1. */
typedef struct fh_thread fh_thread;
int fh_thread_start(fh_thread **out, fh_handler fn, void *ud);
int fh_thread_port(const fh_thread *t);
/* Stop the server, join its thread, free it. */
void fh_thread_stop(fh_thread *t);

#endif
