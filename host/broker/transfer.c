/*
 * transfer.c - one egress request from start to answer: the allowlist
 * check on its URL and every redirect, the address check before each
 * socket is opened, attempts on curl, streaming 2xx bodies to the sink,
 * retries with backoff or Retry-After, the destination's breaker, the log
 * line, and the one answer.
 */
#include "sdk/ipc/b64.h"
#include "core/util.h"
#include "broker_priv.h"
#include "egress_log.h"
#include "mail.h"
#include "outcome.h"

#include <agenthost/plugin.h>

#include <arpa/inet.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define MIN_ATTEMPT_MS 20 /* a retry needs at least this much of the deadline left */

typedef enum timer_mode { T_NONE, T_IDLE, T_BACKOFF } timer_mode;

struct xfer {
    broker *b;
    egress_client *c;
    const egress_sink *sink;
    void *ud;
    bool answered;
    xfer_spec s;
    struct curl_slist *hdrs;
    mail_io mio;
    egress_target target;
    const egress_entry *entry;
    const char *proxy;
    char bkey[POLICY_HOST_MAX + 8];
    bool probe;
    CURL *easy;
    uv_timer_t timer;
    timer_mode tmode;
    uint64_t start_ns, deadline_ms;
    uint32_t retries, redirects;
    char path[520]; /* for logs: no query */
    /* the current attempt */
    int status;
    json_t *rh; /* response headers */
    size_t header_bytes;
    char *body;
    size_t body_len, body_cap;
    unsigned char carry[4];
    size_t ncarry;
    const char *abort; /* why a callback stopped the transfer: too_large, idle, gone */
    char refused[200], refused_addr[64];
    char errbuf[CURL_ERROR_SIZE];
    /* totals */
    uint64_t bytes_in, bytes_out, streamed;
    xfer *prev, *next;
};

static void on_idle(uv_timer_t *t);

void xfer_spec_free(xfer_spec *s)
{
    free(s->url);
    for (size_t i = 0; i < s->nheaders; i++)
        free(s->headers[i]);
    free(s->headers);
    if (s->body) sodium_memzero(s->body, s->body_len);
    free(s->body);
    free(s->command);
    free(s->mail_from);
    for (size_t i = 0; i < s->nrcpt; i++)
        free(s->rcpt[i]);
    free(s->rcpt);
    if (s->user) sodium_memzero(s->user, strlen(s->user));
    if (s->password) sodium_memzero(s->password, strlen(s->password));
    free(s->user);
    free(s->password);
    memset(s, 0, sizeof(*s));
}

void broker_answer_error(const egress_sink *sink, void *ud, int errnum, const char *code,
                         const char *message)
{
    sink->answer(ud, json_pack("{s:{s:i,s:s,s:s}}", "error", "errno", errnum, "code", code,
                               "message", message));
}

static int errno_of(const char *code)
{
    if (!strcmp(code, "refused")) return AH_EDENIED;
    if (!strcmp(code, "timeout")) return AH_ETIMEDOUT;
    if (!strcmp(code, "too_large")) return AH_ETOOBIG;
    if (!strcmp(code, "busy")) return AH_EBUSY;
    if (!strcmp(code, "invalid")) return AH_EINVAL;
    if (!strcmp(code, "unsupported")) return AH_EUNSUPPORTED;
    return AH_EIO;
}

/* ---- lifecycle ------------------------------------------------------------ */

static void on_timer_closed(uv_handle_t *h)
{
    xfer *x = h->data;
    json_decref(x->rh);
    free(x->body);
    xfer_spec_free(&x->s);
    free(x);
}

static void unlink_xfer(xfer *x)
{
    broker *b = x->b;
    if (x->prev)
        x->prev->next = x->next;
    else if (b->active == x)
        b->active = x->next;
    if (x->next) x->next->prev = x->prev;
    x->prev = x->next = NULL;
}

static void destroy(xfer *x)
{
    unlink_xfer(x);
    if (x->easy) curl_easy_cleanup(x->easy);
    x->easy = NULL;
    curl_slist_free_all(x->hdrs);
    x->hdrs = NULL;
    mail_io_free(&x->mio);
    x->b->in_flight--;
    x->c->in_flight--;
    egress_log_in_flight(x->c->id, x->c->in_flight);
    if (!x->answered) x->sink->dropped(x->ud);
    uv_timer_stop(&x->timer);
    uv_close((uv_handle_t *)&x->timer, on_timer_closed);
}

static void report(xfer *x, const char *code, const char *msg)
{
    egress_report r = {
        .plugin = x->c->name,
        .instance = x->c->id,
        .request_id = x->s.request_id[0] ? x->s.request_id : NULL,
        .method = x->s.method,
        .scheme = x->target.scheme,
        .host = x->target.host,
        .port = x->target.port,
        .path = x->path,
        .status = x->status,
        .error_code = code,
        .error_message = msg,
        .bytes_in = x->bytes_in,
        .bytes_out = x->bytes_out,
        .latency_ms = (double)(ah_mono_ns() - x->start_ns) / 1e6,
        .retries = x->retries,
        .redirects = x->redirects,
        .stream = (x->s.flags & AH_HTTP_STREAM) != 0,
    };
    egress_log_request(&r);
}

static bool streaming(const xfer *x)
{
    return (x->s.flags & AH_HTTP_STREAM) && x->status >= 200 && x->status < 300;
}

static void send_chunk(xfer *x, const unsigned char *data, size_t len, bool final);

/* Answer (code NULL: a complete response) and free the transfer. */
static void finish(xfer *x, const char *code, const char *msg)
{
    if (x->ncarry) send_chunk(x, NULL, 0, true);
    report(x, code, msg);
    json_t *o = json_pack("{s:i,s:O,s:i,s:i}", "status", x->status, "headers",
                          x->rh ? x->rh : json_object(), "retries", (int)x->retries, "redirects",
                          (int)x->redirects);
    if (x->body_len || !streaming(x)) {
        if (ah_utf8_valid(x->body, x->body_len)) {
            json_object_set_new(o, "body", json_stringn(x->body ? x->body : "", x->body_len));
        } else {
            char *enc = ah_b64_encode(x->body, x->body_len);
            json_object_set_new(o, "body_b64", json_string(enc ? enc : ""));
            free(enc);
        }
    }
    if (code)
        json_object_set_new(o, "error",
                            json_pack("{s:i,s:s,s:s}", "errno", errno_of(code), "code", code,
                                      "message", msg ? msg : code));
    x->answered = true;
    x->sink->answer(x->ud, o);
    destroy(x);
}

/* Refused by policy: a security.log line, then the error. */
static void refuse(xfer *x, const char *why, const char *addr)
{
    egress_log_refused(x->c->name, x->c->id, x->s.method, x->target.scheme, x->target.host,
                       x->target.port, x->path, why, addr);
    char msg[400];
    snprintf(msg, sizeof(msg), "egress to %s://%s:%d refused: %s", x->target.scheme, x->target.host,
             x->target.port, why);
    finish(x, "refused", msg);
}

/* ---- streaming ------------------------------------------------------------ */

/* Length of the longest prefix of p that does not end inside a UTF-8
 * sequence (at most 3 bytes are held back). */
static size_t utf8_whole(const unsigned char *p, size_t n)
{
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = p[n - back];
        if ((c & 0xC0) == 0x80) continue; /* continuation: keep looking for the lead byte */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back ? n - back : n;
    }
    return n;
}

static void send_chunk(xfer *x, const unsigned char *data, size_t len, bool final)
{
    size_t total = x->ncarry + len;
    unsigned char *buf = malloc(total ? total : 1);
    if (!buf) return;
    memcpy(buf, x->carry, x->ncarry);
    if (len) memcpy(buf + x->ncarry, data, len);
    size_t whole = final ? total : utf8_whole(buf, total);
    json_t *o = NULL;
    if (ah_utf8_valid(buf, whole)) {
        if (whole) o = json_pack("{s:s%}", "data", (const char *)buf, whole);
        x->ncarry = total - whole;
        memcpy(x->carry, buf + whole, x->ncarry);
    } else {
        char *enc = ah_b64_encode(buf, total); /* binary: send it all, hold nothing */
        o = json_pack("{s:s}", "data_b64", enc ? enc : "");
        free(enc);
        x->ncarry = 0;
    }
    free(buf);
    if (o) x->sink->partial(x->ud, o);
}

/* ---- curl callbacks ----------------------------------------------------------- */

static void arm_idle(xfer *x)
{
    if (!(x->s.flags & AH_HTTP_STREAM) || x->tmode == T_BACKOFF) return;
    x->tmode = T_IDLE;
    uv_timer_start(&x->timer, on_idle, x->s.idle_timeout_ms, 0);
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    xfer *x = ud;
    size_t len = size * n;
    x->header_bytes += len;
    if (x->header_bytes > x->b->o.max_header_bytes) {
        x->abort = "too_large";
        return 0;
    }
    arm_idle(x);
    if (x->s.mail) return len; /* a mail server's protocol lines: not headers */
    if (len >= 5 && !memcmp(buf, "HTTP/", 5)) {
        /* A new response (after 100 Continue, or the real one). */
        const char *sp = memchr(buf, ' ', len);
        x->status = sp ? atoi(sp + 1) : 0;
        json_object_clear(x->rh);
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon || colon == buf) return len;
    char name[128];
    size_t nl = (size_t)(colon - buf);
    if (nl >= sizeof(name)) return len;
    for (size_t i = 0; i < nl; i++)
        name[i] = (char)(buf[i] >= 'A' && buf[i] <= 'Z' ? buf[i] + 32 : buf[i]);
    name[nl] = 0;
    const char *v = colon + 1, *end = buf + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    if (!ah_utf8_valid(name, nl) || !ah_utf8_valid(v, (size_t)(end - v))) return len;
    const char *prev = json_string_value(json_object_get(x->rh, name));
    if (prev) {
        char *joined = NULL;
        if (asprintf(&joined, "%s, %.*s", prev, (int)(end - v), v) > 0)
            json_object_set_new(x->rh, name, json_string(joined));
        free(joined);
    } else {
        json_object_set_new(x->rh, name, json_stringn(v, (size_t)(end - v)));
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    xfer *x = ud;
    size_t len = size * n;
    x->bytes_in += len;
    arm_idle(x);
    if (!x->sink->live(x->ud)) {
        x->abort = "gone";
        return 0;
    }
    if (streaming(x)) {
        if (x->streamed + len > x->b->o.max_stream_bytes) {
            x->abort = "too_large";
            return 0;
        }
        x->streamed += len;
        send_chunk(x, (const unsigned char *)data, len, false);
        return len;
    }
    if (x->body_len + len > x->b->o.max_response_bytes) {
        x->abort = "too_large";
        return 0;
    }
    if (x->body_len + len + 1 > x->body_cap) {
        size_t cap = x->body_cap ? x->body_cap : 4096;
        while (cap < x->body_len + len + 1)
            cap *= 2;
        char *nb = realloc(x->body, cap);
        if (!nb) {
            x->abort = "too_large";
            return 0;
        }
        x->body = nb;
        x->body_cap = cap;
    }
    memcpy(x->body + x->body_len, data, len);
    x->body_len += len;
    return len;
}

static int port_of(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET ? ntohs(((const struct sockaddr_in *)sa)->sin_port)
                                    : ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
}

/* Every connection: the resolved address must pass the entry's rules
 * before a socket exists. Through a proxy the address is the proxy's. */
static curl_socket_t on_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)purpose;
    xfer *x = ud;
    const struct sockaddr *sa = &a->addr;
    if (!x->proxy) {
        const char *why =
            policy_check_target_address(x->c->pol, &x->target, sa, port_of(sa), &x->b->self);
        if (why) {
            snprintf(x->refused, sizeof(x->refused), "%s", why);
            policy_addr_str(sa, x->refused_addr, sizeof(x->refused_addr));
            return CURL_SOCKET_BAD;
        }
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* ---- attempts ---------------------------------------------------------------- */

static void start_attempt(xfer *x);

static uint64_t remaining_ms(const xfer *x)
{
    uint64_t now = ah_mono_ms();
    return x->deadline_ms > now ? x->deadline_ms - now : 0;
}

static int setup_easy(xfer *x)
{
    CURL *e = x->easy;
    broker *b = x->b;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, x->s.url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, x->target.scheme);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)b->o.connect_timeout_ms);
    uint64_t left = remaining_ms(x);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(left ? left : 1));
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    const char *ca = policy_ca_file(x->c->pol, &x->target);
    if (ca) curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    curl_easy_setopt(e, CURLOPT_PROXY, x->proxy ? x->proxy : "");
    curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* HTTP/2 over TLS: wait for a connection that can multiplex rather than
     * open one per request. Plain HTTP/1.1 has nothing to wait for. */
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, strcmp(x->target.scheme, "https") == 0 ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    if (x->s.mail) {
        mail_setup(e, &x->s, x->target.scheme, policy_private_match(x->c->pol, &x->target),
                   &x->mio);
        return 0;
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
    const char *m = x->s.method;
    if (!strcmp(m, "GET")) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (!strcmp(m, "HEAD")) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(m, "POST") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->s.body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->s.body ? x->s.body : "");
    }
    return 0;
}

static void build_headers(xfer *x)
{
    curl_slist_free_all(x->hdrs);
    x->hdrs = curl_slist_append(NULL, "Expect:"); /* no 100-continue round trip */
    for (size_t i = 0; i < x->s.nheaders; i++)
        x->hdrs = curl_slist_append(x->hdrs, x->s.headers[i]);
}

static void on_backoff_done(uv_timer_t *t)
{
    xfer *x = t->data;
    x->tmode = T_NONE;
    start_attempt(x);
}

static void start_attempt(xfer *x)
{
    broker *b = x->b;
    if (!x->sink->live(x->ud)) {
        destroy(x);
        return;
    }
    if (!remaining_ms(x)) {
        finish(x, "timeout", "deadline passed before the request could be sent");
        return;
    }
    uint64_t retry_in = 0;
    breaker_verdict v = x->c->no_breakers
                            ? BREAKER_ALLOW
                            : breaker_allow(b->breakers, x->bkey, ah_mono_ms(), &retry_in);
    if (v == BREAKER_DENY) {
        char msg[400];
        snprintf(msg, sizeof(msg),
                 "circuit breaker for %s is open after repeated failures; next probe in %llu ms",
                 x->bkey, (unsigned long long)retry_in);
        finish(x, "circuit_open", msg);
        return;
    }
    x->probe = v == BREAKER_ALLOW_PROBE;
    x->status = 0;
    x->header_bytes = 0;
    x->body_len = 0;
    x->abort = NULL;
    x->refused[0] = x->refused_addr[0] = x->errbuf[0] = 0;
    json_object_clear(x->rh);
    setup_easy(x);
    x->bytes_out += x->s.body_len;
    if (driver_add(b->drv, x->easy) < 0) {
        if (!x->c->no_breakers) breaker_abandon(b->breakers, x->bkey, x->probe);
        finish(x, "network", "the transfer could not start");
        return;
    }
    arm_idle(x);
}

static void on_idle(uv_timer_t *t)
{
    xfer *x = t->data;
    x->tmode = T_NONE;
    x->abort = "idle";
    driver_remove(x->b->drv, x->easy);
    xfer_on_curl_done(x->b, x->easy, CURLE_OPERATION_TIMEDOUT);
}

/* ---- outcomes ---------------------------------------------------------------------- */

static void classify(xfer *x, CURLcode rc, outcome *o)
{
    attempt_end e = {
        .rc = rc,
        .status = x->status,
        .errbuf = x->errbuf,
        .abort = x->abort,
        .refused = x->refused[0] != 0,
        .streaming = streaming(x),
        .size_cap = streaming(x) ? x->b->o.max_stream_bytes : x->b->o.max_response_bytes,
        .idle_ms = x->s.idle_timeout_ms,
        .mail = x->s.mail != MAIL_NONE,
    };
    outcome_classify(&e, o);
}

/* 3xx with a Location: 1 if a new attempt was started or the transfer
 * finished, 0 if it is not a redirect. */

static int follow_redirect(xfer *x)
{
    int s = x->status;
    if (s != 301 && s != 302 && s != 303 && s != 307 && s != 308) return 0;
    char *loc = NULL;
    if (curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_URL, &loc) != CURLE_OK || !loc) return 0;
    if (x->redirects >= x->b->o.max_redirects) {
        char msg[200];
        snprintf(msg, sizeof(msg), "more than %u redirects", x->b->o.max_redirects);
        finish(x, "redirects", msg);
        return 1;
    }
    char *next = strdup(loc);
    egress_target t;
    char why[300];
    if (!next || policy_parse_url(next, &t, why, sizeof(why)) < 0) {
        free(next);
        finish(x, "refused", "redirect to an unusable URL");
        return 1;
    }
    bool same_origin = !strcmp(t.scheme, x->target.scheme) && !strcmp(t.host, x->target.host) &&
                       t.port == x->target.port;
    x->redirects++;
    free(x->s.url);
    x->s.url = next;
    x->target = t;
    egress_log_path(next, x->path, sizeof(x->path));
    x->entry = policy_match(x->c->pol, &x->target);
    if (!x->entry) {
        refuse(x, "redirect to a destination the manifest does not allow", NULL);
        return 1;
    }
    if (t.ip_literal) {
        const char *bad = policy_check_target_address(x->c->pol, &t, (const struct sockaddr *)&t.ip,
                                                      t.port, &x->b->self);
        if (bad) {
            char a[64];
            refuse(x, bad, policy_addr_str((const struct sockaddr *)&t.ip, a, sizeof(a)));
            return 1;
        }
    }
    if (s == 303 || ((s == 301 || s == 302) && !strcmp(x->s.method, "POST"))) {
        if (strcmp(x->s.method, "HEAD") != 0) snprintf(x->s.method, sizeof(x->s.method), "GET");
        free(x->s.body);
        x->s.body = NULL;
        x->s.body_len = 0;
    }
    if (!same_origin) {
        /* Credentials stay with the origin they were meant for. */
        size_t k = 0;
        for (size_t i = 0; i < x->s.nheaders; i++) {
            char *h = x->s.headers[i];
            size_t nl = strcspn(h, ":");
            char name[128];
            snprintf(name, sizeof(name), "%.*s", (int)(nl < 127 ? nl : 127), h);
            for (char *p = name; *p; p++)
                *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
            if (strstr(name, "auth") || strstr(name, "key") || strstr(name, "token") ||
                strstr(name, "cookie") || strstr(name, "secret")) {
                free(h);
                continue;
            }
            x->s.headers[k++] = h;
        }
        x->s.nheaders = k;
        build_headers(x);
    }
    x->proxy = proxy_for(&x->b->proxy, &x->target);
    snprintf(x->bkey, sizeof(x->bkey), "%s:%d", x->target.host, x->target.port);
    start_attempt(x);
    return 1;
}

static void retry_later(xfer *x, uint32_t delay_ms, const char *why)
{
    x->retries++;
    egress_log_retry(x->c->id, x->target.host, x->retries, delay_ms, why);
    x->tmode = T_BACKOFF;
    uv_timer_start(&x->timer, on_backoff_done, delay_ms, 0);
}

void xfer_on_curl_done(void *ud, CURL *easy, CURLcode rc)
{
    (void)ud;
    xfer *x = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    if (!x) return;
    broker *b = x->b;
    if (x->tmode == T_IDLE) {
        uv_timer_stop(&x->timer);
        x->tmode = T_NONE;
    }
    if (x->abort && !strcmp(x->abort, "gone")) {
        if (!x->c->no_breakers) breaker_abandon(b->breakers, x->bkey, x->probe);
        destroy(x);
        return;
    }
    if (x->s.mail) {
        long code = 0; /* SMTP's last reply code; IMAP has none */
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
        x->status = (int)code;
    }
    outcome o;
    classify(x, rc, &o);
    if (x->c->no_breakers)
        ; /* its caller paces its retries itself */
    else if (o.breaker > 0)
        breaker_success(b->breakers, x->bkey, x->probe);
    else if (o.breaker < 0)
        breaker_failure(b->breakers, x->bkey, x->probe, ah_mono_ms());
    else
        breaker_abandon(b->breakers, x->bkey, x->probe);
    x->probe = false;
    if (o.code && !strcmp(o.code, "refused")) {
        refuse(x, x->refused, x->refused_addr[0] ? x->refused_addr : NULL);
        return;
    }
    if (!o.code && !x->s.mail && follow_redirect(x)) return;
    if (!o.code && !x->s.mail && x->status == 0) {
        o.code = "network";
        snprintf(o.msg, sizeof(o.msg), "no HTTP response");
    }
    bool idem = x->s.flags & AH_HTTP_IDEMPOTENT;
    bool may = x->streamed == 0 && x->retries < b->o.max_retries &&
               (o.retry_any || (idem && o.retry_idem));
    if (may) {
        uint32_t rnd = randombytes_random();
        int64_t delay =
            backoff_delay_ms(x->retries + 1, b->o.retry_base_ms, b->o.retry_max_ms, rnd);
        const char *ra = json_string_value(json_object_get(x->rh, "retry-after"));
        if (!o.code && ra && (x->status == 429 || x->status == 503)) {
            int64_t want = retry_after_ms(ra, ah_now_ms());
            if (want > (int64_t)b->o.max_retry_after_ms)
                may = false; /* too long to wait: the caller decides */
            else if (want >= 0)
                delay = want;
        }
        if (may && (uint64_t)delay + MIN_ATTEMPT_MS < remaining_ms(x)) {
            char why[64];
            if (o.code)
                snprintf(why, sizeof(why), "%s", o.code);
            else
                snprintf(why, sizeof(why), "HTTP %d", x->status);
            retry_later(x, (uint32_t)delay, why);
            return;
        }
    }
    finish(x, o.code, o.code ? o.msg : NULL);
}

/* ---- start --------------------------------------------------------------------- */

void xfer_start(broker *b, egress_client *c, xfer_spec *spec, const egress_sink *sink, void *ud)
{
    xfer *x = calloc(1, sizeof(*x));
    if (!x) {
        xfer_spec_free(spec);
        broker_answer_error(sink, ud, AH_ENOMEM, "busy", "out of memory");
        return;
    }
    x->b = b;
    x->c = c;
    x->sink = sink;
    x->ud = ud;
    x->s = *spec;
    memset(spec, 0, sizeof(*spec));
    x->start_ns = ah_mono_ns();
    x->deadline_ms = ah_mono_ms() + x->s.timeout_ms;
    x->rh = json_object();
    x->easy = curl_easy_init();
    uv_timer_init(b->uv, &x->timer);
    x->timer.data = x;
    x->next = b->active;
    if (x->next) x->next->prev = x;
    b->active = x;
    b->in_flight++;
    c->in_flight++;
    egress_log_in_flight(c->id, c->in_flight);
    egress_log_path(x->s.url, x->path, sizeof(x->path));

    char why[300];
    if (policy_parse_url(x->s.url, &x->target, why, sizeof(why)) < 0) {
        snprintf(x->target.scheme, sizeof(x->target.scheme), "?");
        snprintf(x->target.host, sizeof(x->target.host), "?");
        finish(x, "invalid", why);
        return;
    }
    if (!x->easy || !x->rh) {
        finish(x, "busy", "out of memory");
        return;
    }
    if (!x->s.mail && strcmp(x->target.scheme, "http") != 0 &&
        strcmp(x->target.scheme, "https") != 0) {
        finish(x, "invalid", "an http request's URL is http:// or https://");
        return;
    }
    if (!c->pol) {
        refuse(x, c->refusal, NULL);
        return;
    }
    x->entry = policy_match(c->pol, &x->target);
    if (!x->entry) {
        refuse(x, "destination not in the manifest's egress allowlist", NULL);
        return;
    }
    if (x->target.ip_literal) {
        const char *bad = policy_check_target_address(
            c->pol, &x->target, (const struct sockaddr *)&x->target.ip, x->target.port, &b->self);
        if (bad) {
            char a[64];
            refuse(x, bad, policy_addr_str((const struct sockaddr *)&x->target.ip, a, sizeof(a)));
            return;
        }
    }
    /* Mail goes straight to its server: the address check always applies. */
    x->proxy = x->s.mail ? NULL : proxy_for(&b->proxy, &x->target);
    snprintf(x->bkey, sizeof(x->bkey), "%s:%d", x->target.host, x->target.port);
    build_headers(x);
    start_attempt(x);
}

void xfer_drop_all(broker *b)
{
    while (b->active) {
        xfer *x = b->active;
        if (x->easy) driver_remove(b->drv, x->easy);
        destroy(x);
    }
}
