/*
 * broker.c - the broker's face: options, validating a request before its
 * transfer starts, status. One request's life is in transfer.c.
 */
#include "broker.h"

#include "sdk/ipc/b64.h"
#include "core/log.h"
#include "core/util.h"
#include "broker_priv.h"
#include "egress_log.h"
#include "mail.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define URL_MAX 8192
#define HEADERS_MAX 64
#define HEADER_LINE_MAX 8192
#define HEADERS_TOTAL_MAX (64u << 10)

void broker_opts_defaults(broker_opts *o)
{
#define DEF(f, v)                                                                                  \
    if (!o->f) o->f = (v)
    DEF(connect_timeout_ms, 10000);
    DEF(timeout_ms, 60000);
    DEF(max_timeout_ms, 600000);
    DEF(idle_timeout_ms, 60000);
    DEF(max_request_bytes, 8u << 20);
    DEF(max_response_bytes, 8u << 20);
    DEF(max_stream_bytes, 32u << 20);
    DEF(max_header_bytes, 64u << 10);
    DEF(max_in_flight, 16000);
    DEF(retry_base_ms, 250);
    DEF(retry_max_ms, 8000);
    DEF(breaker_failures, 5);
    DEF(breaker_cooldown_ms, 30000);
    DEF(max_idle_connections, 1024);
#undef DEF
}

static void on_breaker_change(void *ud, const char *key, breaker_state from, breaker_state to,
                              uint32_t failures)
{
    (void)ud;
    egress_log_breaker(key, from, to, failures);
}

int broker_new(broker **out, ah_loop *loop, const broker_opts *o, char *err, size_t errlen)
{
    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "libcurl failed to initialise");
        return -1;
    }
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    if (!(cv->features & CURL_VERSION_ASYNCHDNS)) {
        /* A synchronous resolver would block the loop on every lookup. */
        snprintf(err, errlen,
                 "libcurl %s resolves names synchronously; the broker needs an "
                 "asynchronous resolver (threaded or c-ares)",
                 cv->version);
        curl_global_cleanup();
        return -1;
    }
    broker *b = calloc(1, sizeof(*b));
    if (!b) {
        curl_global_cleanup();
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    b->loop = loop;
    b->uv = loop_uv(loop);
    b->o = *o;
    broker_opts_defaults(&b->o);
    if (o->listen) snprintf(b->listen, sizeof(b->listen), "%s", o->listen);
    b->o.listen = b->listen[0] ? b->listen : NULL;
    if (policy_self_init(&b->self, b->o.listen) < 0)
        log_warn("broker", "cannot parse the listen address %s: it is not protected", b->listen);
    proxy_from_env(&b->proxy);
    b->breakers =
        breaker_table_new(b->o.breaker_failures, b->o.breaker_cooldown_ms, on_breaker_change, b);
    if (!b->breakers || driver_new(&b->drv, b->uv, xfer_on_curl_done, b) < 0) {
        broker_free(b);
        snprintf(err, errlen, "cannot start the egress driver");
        return -1;
    }
    /* A pool of idle connections for reuse (curl's default shrinks with the
     * number of running transfers). */
    curl_multi_setopt(driver_multi(b->drv), CURLMOPT_MAXCONNECTS, (long)b->o.max_idle_connections);
    egress_log_init();
    if (b->proxy.https || b->proxy.http || b->proxy.all)
        log_info("broker", "egress through proxies from the environment (no_proxy: %s)",
                 b->proxy.no ? b->proxy.no : "none");
    *out = b;
    return 0;
}

void broker_free(broker *b)
{
    if (!b) return;
    xfer_drop_all(b);
    /* Let the transfers' timers close before the driver drains the loop. */
    driver_free(b->drv);
    breaker_table_free(b->breakers);
    policy_self_free(&b->self);
    proxy_free(&b->proxy);
    free(b);
    curl_global_cleanup();
}

/* ---- validating a request ------------------------------------------------ */

static bool token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Headers the broker owns: a caller may not set them. */
static bool reserved_header(const char *name, size_t n)
{
    static const char *const names[] = {"host",
                                        "content-length",
                                        "transfer-encoding",
                                        "connection",
                                        "upgrade",
                                        "te",
                                        "trailer",
                                        "expect",
                                        "keep-alive",
                                        "proxy-authorization",
                                        "proxy-connection"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == n && !strncasecmp(names[i], name, n)) return true;
    return false;
}

static const char *check_header(const char *h)
{
    size_t n = strlen(h);
    if (n > HEADER_LINE_MAX) return "a header is longer than 8 KiB";
    const char *colon = strchr(h, ':');
    if (!colon || colon == h) return "a header is not \"Name: value\"";
    for (const char *p = h; p < colon; p++)
        if (!token_char(*p)) return "a header name has a character HTTP does not allow";
    for (const char *p = colon + 1; *p; p++)
        if (*p == '\r' || *p == '\n' || (*p > 0 && *p < 0x20 && *p != '\t') || *p == 0x7f)
            return "a header value has a control character (CR, LF, ...)";
    if (reserved_header(h, (size_t)(colon - h)))
        return "a header the broker sets itself (Host, Content-Length, Connection, ...)";
    return NULL;
}

static const char *check_method(const char *m)
{
    static const char *const ok[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (!strcmp(m, ok[i])) return NULL;
    return "method must be GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS";
}

/* A request's "kind", when given, must be its URL's: "http" for http(s)
 * URLs, "smtp" or "imap" (or their s forms) for mail URLs. */
static const char *check_kind(const char *kind, const char *url, const char **code)
{
    if (!kind) return NULL;
    static const struct {
        const char *kind;
        mail_kind mk;
    } k[] = {{"http", MAIL_NONE},  {"https", MAIL_NONE}, {"smtp", MAIL_SMTP},
             {"smtps", MAIL_SMTP}, {"imap", MAIL_IMAP},  {"imaps", MAIL_IMAP}};
    for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
        if (!strcmp(kind, k[i].kind))
            return k[i].mk == mail_kind_of_url(url) ? NULL
                                                    : "the kind does not match the URL's scheme";
    *code = "unsupported";
    return "kind must be http, smtp, smtps, imap or imaps";
}

/* An HTTP request's method and headers. */
static const char *parse_http_head(const json_t *body, xfer_spec *s, const char **code)
{
    const char *method = json_string_value(json_object_get(body, "method"));
    const char *why = check_method(method);
    if (why) return why;
    snprintf(s->method, sizeof(s->method), "%s", method);
    const json_t *hs = json_object_get(body, "headers");
    if (hs && !json_is_array(hs)) return "headers must be an array of \"Name: value\" strings";
    if (json_array_size(hs) > HEADERS_MAX) {
        *code = "too_large";
        return "more than 64 headers";
    }
    s->headers = calloc(json_array_size(hs) + 1, sizeof(char *));
    if (!s->headers) {
        *code = "busy";
        return "out of memory";
    }
    size_t total = 0, i;
    const json_t *h;
    json_array_foreach(hs, i, h)
    {
        const char *line = json_string_value(h);
        if (!line || strlen(line) != json_string_length(h))
            return "headers must be strings without NUL";
        if ((why = check_header(line)) != NULL) return why;
        total += strlen(line);
        if (total > HEADERS_TOTAL_MAX) {
            *code = "too_large";
            return "headers larger than 64 KiB in all";
        }
        s->headers[s->nheaders++] = strdup(line);
    }
    return NULL;
}

/* Fill spec from the request's JSON. NULL, or the reason it is invalid
 * (with *code "invalid", "too_large" or "unsupported"). */
static const char *parse_request(broker *b, const json_t *body, xfer_spec *s, const char **code)
{
    *code = "invalid";
    const char *method = json_string_value(json_object_get(body, "method"));
    const char *url = json_string_value(json_object_get(body, "url"));
    if (!method || !url) return "a request needs a method and a url";
    const char *why = check_kind(json_string_value(json_object_get(body, "kind")), url, code);
    if (why) return why;
    if (strlen(url) > URL_MAX) {
        *code = "too_large";
        return "URL longer than 8 KiB";
    }
    if (!(s->url = strdup(url))) {
        *code = "busy";
        return "out of memory";
    }
    bool mail = mail_kind_of_url(url) != MAIL_NONE;
    why = mail ? mail_parse_head(body, s, code) : parse_http_head(body, s, code);
    if (why) return why;
    const json_t *bt = json_object_get(body, "body");
    const json_t *bb = json_object_get(body, "body_b64");
    if (json_is_string(bt)) {
        s->body_len = json_string_length(bt);
        s->body = malloc(s->body_len + 1);
        if (s->body) memcpy(s->body, json_string_value(bt), s->body_len + 1);
    } else if (json_is_string(bb)) {
        s->body = (char *)ah_b64_decode(json_string_value(bb), &s->body_len);
        if (!s->body) return "body_b64 is not base64";
    }
    if (s->body_len > b->o.max_request_bytes) {
        *code = "too_large";
        return "request body over the broker's cap";
    }
    json_int_t t = json_integer_value(json_object_get(body, "timeout_ms"));
    json_int_t idle = json_integer_value(json_object_get(body, "idle_timeout_ms"));
    if (t < 0 || idle < 0) return "timeouts must not be negative";
    s->timeout_ms =
        t ? (uint32_t)(t < b->o.max_timeout_ms ? t : b->o.max_timeout_ms) : b->o.timeout_ms;
    s->idle_timeout_ms =
        idle ? (uint32_t)(idle < s->timeout_ms ? idle : s->timeout_ms) : b->o.idle_timeout_ms;
    s->flags = (uint32_t)json_integer_value(json_object_get(body, "flags")) &
               (AH_HTTP_IDEMPOTENT | AH_HTTP_STREAM);
    return mail ? mail_check(s) : NULL;
}

void broker_request(broker *b, egress_client *c, const json_t *request, const char *request_id,
                    const egress_sink *sink, void *ud)
{
    if (b->in_flight >= b->o.max_in_flight) {
        broker_answer_error(
            sink, ud, AH_EBUSY, "busy",
            "the host has too many egress requests in flight (broker.max_in_flight)");
        return;
    }
    xfer_spec s = {0};
    const char *code;
    const char *why = parse_request(b, request, &s, &code);
    if (why) {
        xfer_spec_free(&s);
        char msg[300];
        snprintf(msg, sizeof(msg), "bad egress request: %s", why);
        broker_answer_error(sink, ud,
                            !strcmp(code, "too_large")     ? AH_ETOOBIG
                            : !strcmp(code, "unsupported") ? AH_EUNSUPPORTED
                            : !strcmp(code, "busy")        ? AH_ENOMEM
                                                           : AH_EINVAL,
                            code, msg);
        return;
    }
    snprintf(s.request_id, sizeof(s.request_id), "%s", request_id ? request_id : "");
    xfer_start(b, c, &s, sink, ud);
}

void broker_set_listen_port(broker *b, int port)
{
    if (b && port > 0) b->self.port = port;
}

json_t *broker_status(broker *b)
{
    if (!b) return json_pack("{s:b}", "ok", 1);
    return json_pack("{s:b,s:I,s:o}", "ok", 1, "in_flight", (json_int_t)b->in_flight, "breakers",
                     breaker_table_json(b->breakers, ah_mono_ms()));
}
