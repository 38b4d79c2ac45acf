#include "server.h"

#include "sdk/ipc/jsonw.h"
#include "core/log.h"
#include "core/utf8.h"
#include "core/util.h"
#include "deadline.h"
#include "server_priv.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void schedule(http_server *s);
static void kick(http_server *s);

/* ---- request lifecycle --------------------------------------------------- */

static void req_free(http_req *r)
{
    free(r->user);
    if (r->response) MHD_destroy_response(r->response);
    free(r->path);
    free(r->raw_url);
    free(r->body);
    free(r->sbuf);
    free(r);
}

/* A client's request id is taken only in a plain form: ids go into every
 * log line of the request, so anything else (a pasted token, markup,
 * control bytes, a long string) is replaced, never logged. */
static bool valid_request_id(const http_server *s, const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > HTTP_REQUEST_ID_MAX) return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.' || *p == ':'))
            return false;
    const char *refused = s->o.request_id_refused;
    return !refused || strncmp(id, refused, strlen(refused)) != 0;
}

/* The request as the handlers see it, once its headers are in. r is the
 * one limits_on_uri made, or NULL (then it is made here). */
static http_req *req_begin(http_server *s, http_req *r, struct MHD_Connection *conn,
                           const char *url, const char *method)
{
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r) return NULL;
        r->srv = s;
        r->start_ns = ah_mono_ns();
        r->target_len = strlen(url);
    }
    r->begun = true;
    r->conn = conn;
    /* A method is a token of visible ASCII; anything else is shown as '?'. */
    snprintf(r->method, sizeof(r->method), "%s", method);
    for (char *m = r->method; *m; m++)
        if (*m <= 0x20 || *m >= 0x7f) *m = '?';
    r->raw_url = utf8_lossy(url, strlen(url));
    r->path = r->raw_url ? strdup(r->raw_url) : NULL;
    if (!r->raw_url || !r->path) {
        req_free(r);
        return NULL;
    }
    r->path[strcspn(r->path, "?")] = 0;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->client_ip,
                      sizeof(r->client_ip));
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->client_ip,
                      sizeof(r->client_ip));
    }
    forwarded_client_ip(&s->o, conn, r->client_ip, sizeof(r->client_ip));
    const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (rid && valid_request_id(s, rid)) {
        snprintf(r->id, sizeof(r->id), "%s", rid);
    } else {
        unsigned char raw[8]; /* 16 hex digits */
        ah_randpool_take(&s->ids, raw, sizeof(raw));
        sodium_bin2hex(r->id, sizeof(r->id), raw, sizeof(raw));
    }
    return r;
}

static int append_body(http_req *r, const char *data, size_t n)
{
    if (r->body_len + n > r->srv->o.max_body) {
        r->too_big = true;
        return 0;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        char *nb = realloc(r->body, cap);
        if (!nb) return -1;
        r->body = nb;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = 0;
    return 0;
}

static enum MHD_Result queue(http_req *r)
{
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)r->status, r->response);
    MHD_destroy_response(r->response);
    r->response = NULL;
    return rc;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    (void)version;
    http_server *s = cls;
    http_req *r = *con_cls;
    if (!r || !r->begun) {
        deadline_headers_done(conn);
        r = req_begin(s, r, conn, url, method);
        *con_cls = r;
        if (!r) return MHD_NO;
        switch (limits_check(s, r, conn)) {
        case LIMITS_PASS:
            return MHD_YES;
        case LIMITS_QUEUED:
            return queue(r);
        case LIMITS_SENT_RAW:
            return MHD_NO; /* answered on the socket: MHD closes the connection */
        }
        return MHD_NO;
    }
    if (r->response) return queue(r); /* an answer made while suspended */
    if (*upload_data_size) {
        if (!r->too_big && append_body(r, upload_data, *upload_data_size) < 0) return MHD_NO;
        /* A body without a Content-Length (chunked) that outgrows the
         * limit is read on and dropped, to answer 413 at its end (MHD sends
         * no answer before then); one that goes on past four times the
         * limit and a mebibyte more is cut: the connection is closed. */
        if (r->too_big && (r->discarded += *upload_data_size) > 4 * s->o.max_body + (1u << 20))
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->dispatched) return MHD_YES;
    r->dispatched = true;
    if (r->too_big) {
        char msg[96];
        snprintf(msg, sizeof(msg), "request body larger than %zu bytes", s->o.max_body);
        http_respond_error(r, 413, "payload_too_large", msg, NULL);
    } else {
        s->fn(s->ud, r);
    }
    if (r->response) return queue(r);
    r->suspended = true;
    MHD_suspend_connection(conn);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    http_server *s = cls;
    http_req *r = *con_cls;
    deadline_request_done(conn);
    if (!r) return;
    *con_cls = NULL;
    r->conn = NULL;
    r->done = true;
    if (s->done && r->dispatched) s->done(s->ud, r);
    if ((r->answered && (!r->streaming || r->stream_ended)) || !r->dispatched) req_free(r);
    /* else: an asynchronous handler still holds it; freed when it answers
     * (or ends its stream). */
}

/* ---- answering ------------------------------------------------------------ */

/* The headers every answer carries, then the handler's own "Name: value"
 * lines. */
static void add_headers(http_req *r, const char *content_type, const char *const *headers)
{
    if (content_type) MHD_add_response_header(r->response, "Content-Type", content_type);
    MHD_add_response_header(r->response, "X-Request-Id", r->id);
    MHD_add_response_header(r->response, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r->response, "Cache-Control", "no-store");
    /* Security headers (issue 17): the API serves data, never pages to
     * frame or scripts to run; the admin's static files will carry their
     * own policy. HSTS only when this server speaks TLS itself. */
    MHD_add_response_header(r->response, "Content-Security-Policy",
                            "default-src 'none'; frame-ancestors 'none'");
    MHD_add_response_header(r->response, "X-Frame-Options", "DENY");
    MHD_add_response_header(r->response, "Referrer-Policy", "no-referrer");
    if (r->srv->tls)
        MHD_add_response_header(r->response, "Strict-Transport-Security",
                                "max-age=31536000; includeSubDomains");
    for (const char *const *h = headers; h && *h; h++) {
        const char *colon = strchr(*h, ':');
        if (!colon) continue;
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)(colon - *h), *h);
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        MHD_add_response_header(r->response, name, v);
    }
}

/* A handler that answered asynchronously: MHD acts on a resume only inside
 * MHD_run, hence the kick. */
static void resume_answered(http_req *r)
{
    if (r->suspended) {
        r->suspended = false;
        MHD_resume_connection(r->conn);
        kick(r->srv);
    }
}

void http_respond(http_req *r, int status, const char *content_type, const void *body, size_t len,
                  const char *const *headers)
{
    if (r->answered) return;
    r->answered = true;
    r->status = status;
    r->response_bytes = len;
    if (r->done) {
        req_free(r); /* the client left before the answer */
        return;
    }
    r->response = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r->response) return;
    add_headers(r, content_type, headers);
    resume_answered(r);
}

void http_respond_json(http_req *r, int status, json_t *body)
{
    size_t len = 0;
    char *s = body ? ah_json_dumps(body, &len) : NULL; /* json_dumps's bytes, faster */
    json_decref(body);
    if (!s) {
        http_respond(r, 500, "application/json",
                     "{\"error\":{\"code\":\"internal\",\"message\":\"cannot encode the answer\"}}",
                     69, NULL);
        return;
    }
    http_respond(r, status, "application/json", s, len, NULL);
    free(s);
}

void http_respond_error(http_req *r, int status, const char *code, const char *message,
                        const char *field)
{
    http_respond_error_h(r, status, code, message, field, NULL);
}

char *http_error_json(const char *code, const char *message, const char *field)
{
    json_t *e = json_object();
    json_object_set_new(e, "code", utf8_json_string(code));
    json_object_set_new(e, "message", utf8_json_string(message ? message : code));
    if (field) json_object_set_new(e, "field", utf8_json_string(field));
    json_t *o = json_pack("{s:o}", "error", e);
    char *s = o ? ah_json_dumps(o, NULL) : NULL;
    json_decref(o);
    return s;
}

void http_respond_error_h(http_req *r, int status, const char *code, const char *message,
                          const char *field, const char *const *headers)
{
    char *s = http_error_json(code, message, field);
    const char *extra[8] = {NULL};
    int k = 0;
    if (status == 401) extra[k++] = "WWW-Authenticate: Bearer realm=\"agenthost\"";
    for (const char *const *h = headers; h && *h && k < 7; h++)
        extra[k++] = *h;
    http_respond(r, status, "application/json", s, s ? strlen(s) : 0, extra);
    free(s);
}

/* ---- streamed answers ------------------------------------------------------- */

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    http_req *r = cls;
    if (r->soff < r->slen) {
        size_t n = r->slen - r->soff < max ? r->slen - r->soff : max;
        memcpy(buf, r->sbuf + r->soff, n);
        r->soff += n;
        r->response_bytes += n;
        return (ssize_t)n;
    }
    if (r->stream_ended) return MHD_CONTENT_READER_END_OF_STREAM;
    /* Nothing to send yet: park the connection until the next write. */
    r->stream_waiting = true;
    MHD_suspend_connection(r->conn);
    return 0;
}

static void stream_wake(http_req *r)
{
    if (r->stream_waiting && r->conn) {
        r->stream_waiting = false;
        MHD_resume_connection(r->conn);
        kick(r->srv);
    }
}

void http_respond_stream(http_req *r, int status, const char *content_type,
                         const char *const *headers)
{
    if (r->answered) return;
    r->answered = true;
    r->streaming = true;
    r->status = status;
    if (r->done) return; /* the client left: writes fail, http_stream_end frees */
    r->response = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_reader, r, NULL);
    if (!r->response) return;
    add_headers(r, content_type, headers);
    MHD_add_response_header(r->response, "X-Accel-Buffering", "no");
    resume_answered(r);
}

int http_stream_write(http_req *r, const void *data, size_t len)
{
    if (!r->streaming || r->stream_ended || r->done) return -1;
    if (r->soff && r->soff == r->slen) r->soff = r->slen = 0;
    if (r->slen - r->soff + len > HTTP_STREAM_BUFFER_MAX) return -1;
    if (r->slen + len > r->scap) {
        if (r->soff) { /* reclaim what was sent */
            memmove(r->sbuf, r->sbuf + r->soff, r->slen - r->soff);
            r->slen -= r->soff;
            r->soff = 0;
        }
        size_t cap = r->scap ? r->scap : 4096;
        while (cap < r->slen + len)
            cap *= 2;
        char *nb = realloc(r->sbuf, cap);
        if (!nb) return -1;
        r->sbuf = nb;
        r->scap = cap;
    }
    memcpy(r->sbuf + r->slen, data, len);
    r->slen += len;
    stream_wake(r);
    return 0;
}

void http_stream_end(http_req *r)
{
    if (!r->streaming || r->stream_ended) return;
    r->stream_ended = true;
    if (r->done) {
        req_free(r); /* the client left; MHD is done with it */
        return;
    }
    stream_wake(r);
}

/* ---- accessors ------------------------------------------------------------- */

const char *http_req_method(const http_req *r)
{
    return r->method;
}

const char *http_req_path(const http_req *r)
{
    return r->path;
}

const char *http_req_raw_url(const http_req *r)
{
    return r->raw_url;
}

const char *http_req_query(const http_req *r, const char *name)
{
    return r->conn ? MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name) : NULL;
}

const char *http_req_header(const http_req *r, const char *name)
{
    return r->conn ? MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name) : NULL;
}

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)kind;
    json_t *o = cls;
    char low[256];
    size_t i = 0;
    for (; key[i] && i < sizeof(low) - 1; i++)
        low[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ? key[i] + 32 : key[i]);
    low[i] = 0;
    char *name = utf8_lossy(low, i);
    json_t *v = utf8_json_string(value ? value : "");
    if (name && v)
        json_object_set_new(o, name, v);
    else
        json_decref(v);
    free(name);
    return MHD_YES;
}

static enum MHD_Result collect_raw(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    char *name = utf8_lossy(key, strlen(key));
    json_t *v = utf8_json_string(value ? value : "");
    if (name && v)
        json_object_set_new(cls, name, v);
    else
        json_decref(v);
    free(name);
    return MHD_YES;
}

json_t *http_req_query_json(const http_req *r)
{
    json_t *o = json_object();
    if (r->conn) MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_raw, o);
    return o;
}

json_t *http_req_headers_json(const http_req *r)
{
    json_t *o = json_object();
    if (r->conn) MHD_get_connection_values(r->conn, MHD_HEADER_KIND, collect, o);
    return o;
}

const char *http_req_body(const http_req *r, size_t *len)
{
    *len = r->body_len;
    return r->body ? r->body : "";
}

const char *http_req_client_ip(const http_req *r)
{
    return r->client_ip;
}

const char *http_req_id(const http_req *r)
{
    return r->id;
}

uint64_t http_req_start_ns(const http_req *r)
{
    return r->start_ns;
}

bool http_req_answered(const http_req *r)
{
    return r->answered;
}

int http_req_status(const http_req *r)
{
    return r->status;
}

size_t http_req_response_bytes(const http_req *r)
{
    return r->response_bytes;
}

void http_req_set_route(http_req *r, const char *pattern)
{
    r->route = pattern;
}

const char *http_req_route(const http_req *r)
{
    return r->route;
}

void http_req_set_user(http_req *r, void *user)
{
    r->user = user;
}

void *http_req_user(const http_req *r)
{
    return r->user;
}

/* ---- the daemon on the loop --------------------------------------------- */

static void run_mhd(http_server *s)
{
    MHD_run(s->d);
    schedule(s);
}

static void on_timer(uv_timer_t *t)
{
    run_mhd(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run_mhd(p->data);
}

static void schedule(http_server *s)
{
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(s->d, &ms) == MHD_YES)
        uv_timer_start(&s->timer, on_timer, ms, 0);
    else
        uv_timer_stop(&s->timer);
}

static void kick(http_server *s)
{
    uv_timer_start(&s->timer, on_timer, 0, 0);
}

static void kick_cb(void *ud)
{
    kick(ud);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Percent-decoding of paths and query values, in place. An encoded control
 * character ("%00", "%0a") is decoded to 0x01 instead: a NUL would cut the
 * string short, and 0x01 is a control byte the router refuses in paths. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    char *w = s;
    for (const char *r = s; *r;) {
        int hi, lo;
        if (r[0] == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0) {
            int v = hi << 4 | lo;
            *w++ = (char)(v < 0x20 || v == 0x7f ? 0x01 : v);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
    return (size_t)(w - s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = 0;
    log_write("api", LOG_WARN, "http", NULL, NULL, "%s", msg);
}

static int parse_listen(const char *listen, struct sockaddr_storage *ss, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen + strlen(listen) - 1) {
        snprintf(err, errlen, "listen address \"%s\" is not HOST:PORT", listen);
        return -1;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535) {
        snprintf(err, errlen, "listen address \"%s\": bad port", listen);
        return -1;
    }
    memset(ss, 0, sizeof(*ss));
    if (host[0] == '[') {
        size_t n = strlen(host);
        if (n < 3 || host[n - 1] != ']') {
            snprintf(err, errlen, "listen address \"%s\": bad IPv6 address", listen);
            return -1;
        }
        host[n - 1] = 0;
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1) {
            snprintf(err, errlen, "listen address \"%s\": bad IPv6 address", listen);
            return -1;
        }
        return 0;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (!host[0] || !strcmp(host, "*"))
        a->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (!strcmp(host, "localhost"))
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
        snprintf(err, errlen, "listen address \"%s\": give an IP address, not a name", listen);
        return -1;
    }
    return 0;
}

int http_server_start(http_server **out, ah_loop *loop, const http_opts *o, http_handler_fn fn,
                      http_done_fn done, void *ud, char *err, size_t errlen)
{
    *out = NULL;
    struct sockaddr_storage ss;
    if (parse_listen(o->listen, &ss, err, errlen) < 0) return -1;
    http_server *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->loop = loop;
    s->fn = fn;
    s->done = done;
    s->ud = ud;
    s->o = *o;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    if ((o->tls_cert != NULL) != (o->tls_key != NULL)) {
        snprintf(err, errlen, "TLS needs both http.tls_cert and http.tls_key");
        free(s);
        return -1;
    }
    if (o->tls_cert) {
        if (tls_load(o->tls_cert, o->tls_key, err, errlen) < 0) {
            free(s);
            return -1;
        }
        s->tls = true;
        flags |= MHD_USE_TLS;
    }
    if (deadline_start(&s->deadlines, loop, o->header_timeout_s ? o->header_timeout_s : 10, kick_cb,
                       s) < 0) {
        snprintf(err, errlen, "out of memory");
        if (s->tls) tls_close();
        free(s);
        return -1;
    }
    s->pool_bytes = limits_pool_bytes(o);
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL},
        {MHD_OPTION_SOCK_ADDR, 0, &ss},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)deadline_notify, s->deadlines},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)limits_on_uri, s},
        {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, o->max_connections, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->per_ip_connections, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, o->idle_timeout_s, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)s->pool_bytes, NULL},
        {MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL},
        {s->tls ? MHD_OPTION_HTTPS_CERT_CALLBACK : MHD_OPTION_END, 0,
         s->tls ? tls_callback() : NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_access, s, MHD_OPTION_ARRAY, opts,
                            MHD_OPTION_END);
    if (!s->d) {
        snprintf(err, errlen, "cannot listen on %s (address in use, or not allowed)", o->listen);
        deadline_stop(s->deadlines);
        if (s->tls) tls_close();
        free(s);
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *pi = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = pi ? pi->port : 0;
    uv_poll_init(loop_uv(loop), &s->poll, di->epoll_fd);
    s->poll.data = s;
    uv_poll_start(&s->poll, UV_READABLE, on_poll);
    uv_timer_init(loop_uv(loop), &s->timer);
    s->timer.data = s;
    *out = s;
    return 0;
}

int http_server_reload_tls(http_server *s, char *err, size_t errlen)
{
    if (!s->tls) return 1;
    return tls_load(s->o.tls_cert, s->o.tls_key, err, errlen) < 0 ? -1 : 0;
}

int http_server_port(const http_server *s)
{
    return s->port;
}

static void free_server(uv_handle_t *h)
{
    http_server *s = h->data;
    if (--s->closing > 0) return; /* libuv runs close callbacks in no promised order */
    if (s->tls) tls_close();
    free(s);
}

void http_server_stop(http_server *s)
{
    if (!s) return;
    MHD_stop_daemon(s->d);
    deadline_stop(s->deadlines);
    s->closing = 2;
    uv_close((uv_handle_t *)&s->poll, free_server);
    uv_close((uv_handle_t *)&s->timer, free_server);
}
