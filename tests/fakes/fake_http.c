/*
 * fake_http.c - the HTTP/1.1 core of the protocol fakes. See fake_http.h.
 */
#include "fake_http.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HEAD_MAX (64u << 10)
#define BODY_MAX (32u << 20)

struct fh_server {
    uv_loop_t *uv;
    uv_tcp_t tcp;
    int port;
    fh_handler fn;
    void *ud;
    long open, max_open;
};

struct fh_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    fh_server *srv;
    char *buf;
    size_t len, cap;
    int busy; /* a request is being answered */
    int closing;
    int keep_alive;
    int handles; /* open uv handles */
    /* pending delayed action */
    void (*later)(fh_conn *, void *);
    void *later_ud;
    void (*later_free)(void *);
    /* script in play */
    fh_script script;
    size_t next_piece;
};

static void try_parse(fh_conn *c);

/* ---- lifetime ------------------------------------------------------------------ */

static void on_closed(uv_handle_t *h)
{
    fh_conn *c = h->data;
    if (--c->handles > 0) return;
    fh_script_free(&c->script);
    if (c->later_free && c->later_ud) c->later_free(c->later_ud);
    free(c->buf);
    free(c);
}

static void conn_close(fh_conn *c)
{
    if (c->closing) return;
    c->closing = 1;
    c->srv->open--;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_closed);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

/* ---- writing ------------------------------------------------------------------ */

typedef struct wreq {
    uv_write_t w;
    char *data;
} wreq;

static void on_written(uv_write_t *w, int status)
{
    wreq *r = (wreq *)w;
    (void)status;
    free(r->data);
    free(r);
}

/* Queue bytes (taken over). */
static void send_owned(fh_conn *c, char *data, size_t len)
{
    if (c->closing || !len) {
        free(data);
        return;
    }
    wreq *r = malloc(sizeof(*r));
    if (!r) {
        free(data);
        return;
    }
    r->data = data;
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    if (uv_write(&r->w, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
        free(data);
        free(r);
        conn_close(c);
    }
}

static void send_copy(fh_conn *c, const void *data, size_t len)
{
    char *d = malloc(len ? len : 1);
    if (!d) return;
    memcpy(d, data, len);
    send_owned(c, d, len);
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 307:
        return "Temporary Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 404:
        return "Not Found";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

static void done_request(fh_conn *c)
{
    c->busy = 0;
    if (!c->keep_alive) {
        uv_shutdown_t *sd = malloc(sizeof(*sd));
        if (!sd || uv_shutdown(sd, (uv_stream_t *)&c->tcp, NULL) != 0) free(sd);
        conn_close(c);
        return;
    }
    try_parse(c);
}

void fh_respond(fh_conn *c, int status, const char *content_type, const char *extra_headers,
                const void *body, size_t len)
{
    char *head = NULL;
    int n =
        asprintf(&head, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
                 status, reason(status), content_type ? content_type : "application/json", len,
                 extra_headers ? extra_headers : "", c->keep_alive ? "" : "Connection: close\r\n");
    if (n < 0) return;
    send_owned(c, head, (size_t)n);
    if (len) send_copy(c, body, len);
    done_request(c);
}

void fh_script_add(fh_script *s, uint32_t delay_ms, const void *data, size_t len)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        fh_piece *nv = realloc(s->v, cap * sizeof(*nv));
        if (!nv) return;
        s->v = nv;
        s->cap = cap;
    }
    char *d = malloc(len ? len : 1);
    if (!d) return;
    memcpy(d, data, len);
    s->v[s->n++] = (fh_piece){.delay_ms = delay_ms, .data = d, .len = len};
}

void fh_script_free(fh_script *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].data);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static void send_chunk(fh_conn *c, const char *data, size_t len)
{
    char *out = malloc(len + 32);
    if (!out) return;
    int h = snprintf(out, 32, "%zx\r\n", len);
    memcpy(out + h, data, len);
    memcpy(out + h + len, "\r\n", 2);
    send_owned(c, out, (size_t)h + len + 2);
}

static void play_next(fh_conn *c, void *ud);

static void schedule_piece(fh_conn *c)
{
    if (c->next_piece < c->script.n) {
        fh_later(c, c->script.v[c->next_piece].delay_ms, play_next, NULL, NULL);
        return;
    }
    if (c->script.cut) {
        /* Close mid-body: the chunked body never ends (what a proxy or a
         * crashed upstream does). A FIN, so what was sent is still read. */
        conn_close(c);
        return;
    }
    send_copy(c, "0\r\n\r\n", 5);
    fh_script_free(&c->script);
    done_request(c);
}

static void play_next(fh_conn *c, void *ud)
{
    (void)ud;
    fh_piece *p = &c->script.v[c->next_piece++];
    send_chunk(c, p->data, p->len);
    schedule_piece(c);
}

void fh_play(fh_conn *c, int status, const char *content_type, const char *extra_headers,
             fh_script *script)
{
    char *head = NULL;
    int n = asprintf(&head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n"
                     "Cache-Control: no-cache\r\n%s\r\n",
                     status, reason(status), content_type, extra_headers ? extra_headers : "");
    if (n < 0) return;
    send_owned(c, head, (size_t)n);
    fh_script_free(&c->script);
    c->script = *script;
    memset(script, 0, sizeof(*script));
    c->next_piece = 0;
    schedule_piece(c);
}

static void on_later(uv_timer_t *t)
{
    fh_conn *c = t->data;
    void (*fn)(fh_conn *, void *) = c->later;
    void *ud = c->later_ud;
    void (*fr)(void *) = c->later_free;
    c->later = NULL;
    c->later_ud = NULL;
    c->later_free = NULL;
    if (fn && !c->closing) fn(c, ud);
    if (fr && ud) fr(ud);
}

void fh_later(fh_conn *c, uint32_t ms, void (*fn)(fh_conn *c, void *ud), void *ud,
              void (*free_ud)(void *ud))
{
    if (c->later_free && c->later_ud) c->later_free(c->later_ud);
    c->later = fn;
    c->later_ud = ud;
    c->later_free = free_ud;
    uv_timer_start(&c->timer, on_later, ms, 0);
}

/* ---- reading ------------------------------------------------------------------ */

static void bad_request(fh_conn *c, const char *why)
{
    c->keep_alive = 0;
    c->busy = 1;
    char body[256];
    int n = snprintf(body, sizeof(body),
                     "{\"error\":{\"message\":\"%s\",\"type\":\"invalid_request_error\"}}", why);
    fh_respond(c, 400, "application/json", NULL, body, (size_t)n);
}

static void try_parse(fh_conn *c)
{
    while (!c->busy && !c->closing && c->len) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (!end) {
            if (c->len > HEAD_MAX) bad_request(c, "headers too large");
            return;
        }
        size_t head_len = (size_t)(end - c->buf) + 4;
        /* Parsed in a copy: the buffer stays whole while the body is still coming. */
        char *head = malloc(head_len);
        if (!head) return bad_request(c, "out of memory");
        memcpy(head, c->buf, head_len - 4);
        head[head_len - 4] = 0;
        char *line_end = strstr(head, "\r\n");
        if (line_end) *line_end = 0;
        char method[16], target[4096], version[16];
        if (sscanf(head, "%15s %4095s %15s", method, target, version) != 3) {
            free(head);
            bad_request(c, "bad request line");
            return;
        }
        json_t *hdrs = json_object();
        size_t body_len = 0;
        c->keep_alive = strcmp(version, "HTTP/1.0") != 0;
        for (char *h = line_end ? line_end + 2 : NULL; h && *h;) {
            char *next = strstr(h, "\r\n");
            if (next) *next = 0;
            char *colon = strchr(h, ':');
            if (colon) {
                *colon = 0;
                for (char *p = h; *p; p++)
                    *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
                char *v = colon + 1;
                while (*v == ' ')
                    v++;
                json_object_set_new(hdrs, h, json_string(v));
                if (!strcmp(h, "content-length")) body_len = strtoull(v, NULL, 10);
                if (!strcmp(h, "connection") && !strcasecmp(v, "close")) c->keep_alive = 0;
            }
            h = next ? next + 2 : NULL;
        }
        free(head);
        if (body_len > BODY_MAX) {
            json_decref(hdrs);
            bad_request(c, "body too large");
            return;
        }
        if (c->len < head_len + body_len) { /* wait for the rest */
            json_decref(hdrs);
            return;
        }
        char *body = malloc(body_len + 1);
        memcpy(body, c->buf + head_len, body_len);
        body[body_len] = 0;
        char *q = strchr(target, '?');
        if (q) *q++ = 0;
        fh_req req = {.method = method,
                      .path = target,
                      .query = q ? q : "",
                      .headers = hdrs,
                      .body = body,
                      .body_len = body_len};
        memmove(c->buf, c->buf + head_len + body_len, c->len - head_len - body_len);
        c->len -= head_len + body_len;
        c->busy = 1;
        c->srv->fn(c->srv->ud, c, &req);
        json_decref(hdrs);
        free(body);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    fh_conn *c = h->data;
    if (c->cap - c->len < 16384) {
        size_t cap = c->cap ? c->cap * 2 : 16384 + 1;
        char *nb = realloc(c->buf, cap);
        if (!nb) {
            *b = uv_buf_init(NULL, 0);
            return;
        }
        c->buf = nb;
        c->cap = cap;
    }
    *b = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len - 1));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    fh_conn *c = s->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)n;
    try_parse(c);
}

static void on_connection(uv_stream_t *l, int status)
{
    fh_server *srv = l->data;
    if (status < 0) return;
    fh_conn *c = calloc(1, sizeof(*c));
    if (!c) return;
    c->srv = srv;
    uv_tcp_init(srv->uv, &c->tcp);
    uv_timer_init(srv->uv, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->timer, on_closed);
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    srv->open++;
    if (srv->open > srv->max_open) srv->max_open = srv->open;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int fh_listen(fh_server **out, uv_loop_t *uv, const char *host, int port, fh_handler fn, void *ud)
{
    fh_server *s = calloc(1, sizeof(*s));
    if (!s) return -1;
    s->uv = uv;
    s->fn = fn;
    s->ud = ud;
    struct sockaddr_in a;
    uv_ip4_addr(host, port, &a);
    uv_tcp_init(uv, &s->tcp);
    s->tcp.data = s;
    if (uv_tcp_bind(&s->tcp, (const struct sockaddr *)&a, 0) != 0 ||
        uv_listen((uv_stream_t *)&s->tcp, 4096, on_connection) != 0) {
        free(s);
        return -1;
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&ss, &len);
    s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    *out = s;
    return 0;
}

static void on_server_closed(uv_handle_t *h)
{
    free(h->data);
}

void fh_close(fh_server *s)
{
    if (s) uv_close((uv_handle_t *)&s->tcp, on_server_closed);
}

int fh_port(const fh_server *s)
{
    return s->port;
}

long fh_open_connections(const fh_server *s)
{
    return s->open;
}

long fh_max_connections(const fh_server *s)
{
    return s->max_open;
}

int fh_announce(const fh_server *s, const char *name, const char *path)
{
    if (path) {
        char tmp[1100];
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%d\n", fh_port(s)) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
            fprintf(stderr, "%s: cannot write %s\n", name, path);
            return -1;
        }
    }
    printf("%s listening on 127.0.0.1:%d\n", name, fh_port(s));
    fflush(stdout);
    return 0;
}

static void serve_stop(uv_signal_t *h, int sig)
{
    (void)sig;
    uv_stop(h->loop);
}

int fh_serve(uv_loop_t *uv, fh_server **srv, const char *name, int port, const char *port_file,
             fh_handler fn, void *ud)
{
    if (fh_listen(srv, uv, "127.0.0.1", port, fn, ud) < 0) {
        fprintf(stderr, "%s: cannot listen on 127.0.0.1:%d\n", name, port);
        return 1;
    }
    if (fh_announce(*srv, name, port_file) != 0) return 1;
    uv_signal_t term, intr;
    uv_signal_init(uv, &term);
    uv_signal_init(uv, &intr);
    uv_signal_start(&term, serve_stop, SIGTERM);
    uv_signal_start(&intr, serve_stop, SIGINT);
    uv_run(uv, UV_RUN_DEFAULT);
    return 0;
}

/* ---- a server on its own thread ------------------------------------------------------------ */

struct fh_thread {
    uv_loop_t loop;
    uv_async_t stop;
    fh_server *srv;
    pthread_t th;
};

static void thread_stop(uv_async_t *a)
{
    fh_thread *t = a->data;
    fh_close(t->srv);
    uv_close((uv_handle_t *)a, NULL);
}

static void *thread_run(void *arg)
{
    fh_thread *t = arg;
    uv_run(&t->loop, UV_RUN_DEFAULT);
    return NULL;
}

int fh_thread_start(fh_thread **out, fh_handler fn, void *ud)
{
    fh_thread *t = calloc(1, sizeof(*t));
    if (!t || uv_loop_init(&t->loop) != 0) {
        free(t);
        return -1;
    }
    t->stop.data = t;
    if (uv_async_init(&t->loop, &t->stop, thread_stop) != 0 ||
        fh_listen(&t->srv, &t->loop, "127.0.0.1", 0, fn, ud) != 0 ||
        pthread_create(&t->th, NULL, thread_run, t) != 0) {
        fprintf(stderr, "fh_thread_start: cannot start the server\n");
        return -1; /* a test's setup fails: the process ends */
    }
    *out = t;
    return 0;
}

int fh_thread_port(const fh_thread *t)
{
    return fh_port(t->srv);
}

void fh_thread_stop(fh_thread *t)
{
    if (!t) return;
    uv_async_send(&t->stop);
    pthread_join(t->th, NULL);
    uv_loop_close(&t->loop);
    free(t);
}
