/*
 * The limits every request is held to before a handler sees it, and how
 * the server keeps libmicrohttpd (0.9.75) from answering them itself, or
 * not at all.
 *
 * MHD keeps a request's line and headers, and one record per header field
 * and query argument, in the connection's memory pool. When the pool runs
 * out while it reads them, MHD answers by itself (431 or 414, with a short
 * HTML body), and in one case not at all: a query of many parameters (each
 * a record) exhausts the pool while the request line is parsed, and the
 * 431 MHD queues then is run over by its state machine: the client gets no
 * answer. So:
 * - the pool is sized (limits_pool_bytes) for every request within the
 *   limits, and for headers up to about twice max_header, which then reach
 *   limits_check and get the API's JSON 431;
 * - a query over HTTP_MAX_QUERY_ARGS is cut off unparsed in the URI
 *   callback, then refused with a JSON 414;
 * - in the last few hundred bytes before the pool is full, MHD has no room
 *   left to build any answer's headers and would close the connection
 *   silently: a request refused there is answered on the socket directly
 *   (through the TLS session when there is one), then closed.
 */
#include "core/util.h"
#include "server_priv.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* A record in MHD's pool for one header field or query argument: 56 bytes
 * in 0.9.75, aligned to 64; counted with room to spare. */
#define POOL_RECORD_BYTES 96
/* Fewer bytes than this left in the pool (by the count below) and MHD may
 * not find room for an answer's headers: the answer goes to the socket. */
#define POOL_ANSWER_MARGIN 2048

size_t limits_pool_bytes(const http_opts *o)
{
    /* Twice max_header, the records the limits allow (and a few more), and
     * 16 KiB for reading the body and building the answer's headers. */
    return 2 * o->max_header +
           (HTTP_MAX_HEADER_FIELDS + HTTP_MAX_QUERY_ARGS + 16) * POOL_RECORD_BYTES + 16384;
}

/* MHD calls this once the request line is in, with the raw target, before
 * it stores the query's arguments. A query of more parameters than the
 * limit is cut off here by ending the target right after its '?' (the
 * target lies in MHD's own read buffer, writable though passed as const),
 * so MHD parses none; the request is refused with 414 by limits_check. */
void *limits_on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)conn;
    http_req *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->srv = cls;
    r->start_ns = ah_mono_ns();
    char *q = uri ? strchr(uri, '?') : NULL;
    r->target_len = uri ? strlen(uri) : 0;
    if (q && q[1]) {
        size_t args = 1;
        for (const char *p = q + 1; *p; p++)
            args += *p == '&';
        if (args > HTTP_MAX_QUERY_ARGS) {
            r->too_many_args = true;
            q[1] = 0;
        }
    }
    return r;
}

static bool send_all(http_server *s, struct MHD_Connection *conn, const char *buf, size_t len)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        conn, s->tls ? MHD_CONNECTION_INFO_GNUTLS_SESSION : MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return false;
    for (size_t off = 0; off < len;) {
        ssize_t w;
        if (s->tls)
            w = gnutls_record_send((gnutls_session_t)ci->tls_session, buf + off, len - off);
        else
            w = send(ci->connect_fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w == GNUTLS_E_INTERRUPTED || (w < 0 && !s->tls && errno == EINTR)) continue;
        if (w <= 0) return false; /* full, or gone: the connection is closed anyway */
        off += (size_t)w;
    }
    return true;
}

/* The answer written straight to the socket, as http_respond_error would
 * have made it. */
static void answer_raw(http_server *s, http_req *r, struct MHD_Connection *conn, int status,
                       const char *code, const char *msg)
{
    char *body = http_error_json(code, msg, NULL);
    char *text = NULL;
    int n = body ? asprintf(&text,
                            "HTTP/1.1 %d %s\r\nConnection: close\r\n"
                            "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                            "X-Request-Id: %s\r\nX-Content-Type-Options: nosniff\r\n"
                            "Cache-Control: no-store\r\n\r\n%s",
                            status, MHD_get_reason_phrase_for((unsigned)status), strlen(body),
                            r->id, body)
                 : -1;
    if (n > 0 && send_all(s, conn, text, (size_t)n)) r->response_bytes = strlen(body);
    r->answered = true;
    r->status = status;
    free(text);
    free(body);
}

static limits_verdict refuse(http_server *s, http_req *r, struct MHD_Connection *conn,
                             bool pool_full, int status, const char *code, const char *msg)
{
    /* Logged and counted like any request, under a route of its own. */
    http_req_set_route(r, "(refused)");
    r->dispatched = true;
    if (pool_full) {
        answer_raw(s, r, conn, status, code, msg);
        return LIMITS_SENT_RAW;
    }
    http_respond_error(r, status, code, msg, NULL);
    return LIMITS_QUEUED;
}

limits_verdict limits_check(http_server *s, http_req *r, struct MHD_Connection *conn)
{
    char msg[160];
    const union MHD_ConnectionInfo *hs =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    size_t header_bytes = hs ? hs->header_size : r->target_len;
    int fields = MHD_get_connection_values(conn, MHD_HEADER_KIND, NULL, NULL);
    int args = MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, NULL, NULL);
    size_t used = header_bytes + (size_t)(fields + args) * POOL_RECORD_BYTES;
    bool pool_full = used + POOL_ANSWER_MARGIN > s->pool_bytes;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (r->too_many_args) {
        snprintf(msg, sizeof(msg), "the query has more than %d parameters", HTTP_MAX_QUERY_ARGS);
        return refuse(s, r, conn, pool_full, 414, "uri_too_long", msg);
    }
    if (header_bytes > s->o.max_header) {
        snprintf(msg, sizeof(msg),
                 "the request line and headers are larger than %zu bytes (http.max_header_kb)",
                 s->o.max_header);
        return refuse(s, r, conn, pool_full, 431, "headers_too_large", msg);
    }
    if (fields > HTTP_MAX_HEADER_FIELDS) {
        snprintf(msg, sizeof(msg), "the request has more than %d header fields",
                 HTTP_MAX_HEADER_FIELDS);
        return refuse(s, r, conn, pool_full, 431, "headers_too_large", msg);
    }
    if (cl && strtoull(cl, NULL, 10) > s->o.max_body) {
        snprintf(msg, sizeof(msg), "request body larger than %zu bytes", s->o.max_body);
        return refuse(s, r, conn, pool_full, 413, "payload_too_large", msg);
    }
    return LIMITS_PASS;
}
