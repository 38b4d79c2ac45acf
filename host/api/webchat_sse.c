/*
 * webchat_sse.c - the web chat's streams and long polls (webchat_sse.h).
 */
#include "webchat_sse.h"

#include "core/log.h"
#include "core/metrics.h"
#include "core/strmap.h"
#include "core/util.h"
#include "model/collections.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define CHAT_KEY_MAX 140

typedef struct wc_sub wc_sub;
struct wc_sub {
    wc_sub *prev, *next; /* in its chat */
    wc_hub *hub;
    http_req *req;
    char chat[CHAT_KEY_MAX];
    char ip[64];
    char agent[40], session[64];
    int64_t last; /* the newest seq sent */
    bool poll;
    uv_timer_t timer; /* a poll's deadline */
    char **headers;   /* a poll's answer headers (NULL-terminated copies) */
};

typedef struct wc_chat {
    wc_sub *head;
    size_t n;
} wc_chat;

struct wc_hub {
    ah_loop *loop;
    docs *d;
    wc_hub_opts o;
    strmap chats; /* "widget:session" -> wc_chat */
    strmap ips;   /* client address -> size_t * */
    uv_timer_t keepalive;
    size_t n;
};

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- reading the conversation ------------------------------------------------------ */

/* A stored message as the protocol shows it. */
static json_t *frame_of(const json_t *m)
{
    json_int_t seq = json_integer_value(json_object_get(m, "seq"));
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)seq);
    const char *dir = str_of(m, "direction");
    int64_t ts = 0;
    if (str_of(m, "at")) ah_parse_time(str_of(m, "at"), &ts);
    json_t *o = json_pack("{s:s,s:s,s:s,s:I}", "id", id, "role",
                          dir && !strcmp(dir, "in") ? "user" : "agent", "text",
                          str_of(m, "text") ? str_of(m, "text") : "", "ts", (json_int_t)ts);
    json_t *buttons = json_array();
    size_t i;
    const json_t *b;
    json_array_foreach(json_object_get(m, "buttons"), i, b)
    {
        const char *label = str_of(b, "label");
        if (!label) continue;
        json_t *x = json_pack("{s:s,s:s}", "text", label, "payload",
                              str_of(b, "payload") ? str_of(b, "payload") : label);
        if (str_of(b, "url")) json_object_set(x, "url", json_object_get(b, "url"));
        json_array_append_new(buttons, x);
    }
    json_object_set_new(o, "buttons", buttons);
    json_t *att = json_array();
    json_array_foreach(json_object_get(m, "attachments"), i, b)
    {
        const char *type = str_of(b, "mime_type") ? str_of(b, "mime_type") : str_of(b, "type");
        json_t *x = json_pack("{s:s,s:s,s:s}", "name", str_of(b, "name") ? str_of(b, "name") : "",
                              "url", str_of(b, "url") ? str_of(b, "url") : "", "type",
                              type ? type : "application/octet-stream");
        if (json_is_integer(json_object_get(b, "size")))
            json_object_set(x, "size", json_object_get(b, "size"));
        json_array_append_new(att, x);
    }
    json_object_set_new(o, "attachments", att);
    return o;
}

/* The protocol's messages of conv after `after`; *last its newest seq. */
static json_t *frames_after(const json_t *conv, int64_t after, size_t limit, int64_t *last)
{
    json_t *out = json_array();
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(conv, "messages"), i, m)
    {
        json_int_t seq = json_integer_value(json_object_get(m, "seq"));
        if (seq > *last) *last = seq;
        if (seq <= after || (limit && json_array_size(out) >= limit)) continue;
        json_array_append_new(out, frame_of(m));
    }
    return out;
}

typedef struct read_arg {
    const char *agent, *session;
    json_t *conv;
} read_arg;

static int read_conv(doc_txn *t, void *ud)
{
    read_arg *a = ud;
    char hex[65], contact[64] = "", conv_id[64] = "";
    if (contact_identity_hash(doc_txn_docs(t), "webchat", a->session, hex) < 0) return 0;
    json_t *v = json_pack("[s]", hex);
    int rc = doc_find(t, COLL_CONTACTS, "by_identity", v, contact, sizeof(contact));
    json_decref(v);
    if (rc == AH_ENOTFOUND) return 0;
    if (rc) return rc;
    v = json_pack("[s,s]", a->agent, contact);
    rc = doc_first_id(t, COLL_CONVERSATIONS, "by_agent_contact", v, true, conv_id, sizeof(conv_id));
    json_decref(v);
    if (rc == AH_ENOTFOUND) return 0;
    if (rc) return rc;
    rc = doc_get(t, COLL_CONVERSATIONS, conv_id, &a->conv, NULL);
    return rc == AH_ENOTFOUND ? 0 : rc;
}

int wc_read(wc_hub *h, const char *agent, const char *session, int64_t after, size_t limit,
            json_t **msgs, int64_t *last)
{
    read_arg a = {.agent = agent, .session = session};
    *msgs = NULL;
    *last = after;
    int rc = docs_read(h->d, read_conv, &a, NULL);
    if (rc) {
        json_decref(a.conv);
        return rc;
    }
    *last = 0;
    *msgs = a.conv ? frames_after(a.conv, after, limit, last) : json_array();
    if (*last < after) *last = after;
    json_decref(a.conv);
    return *msgs ? 0 : AH_ENOMEM;
}

/* ---- the subscribers --------------------------------------------------------------- */

static size_t *ip_count(wc_hub *h, const char *ip, bool make)
{
    size_t *n = strmap_get(&h->ips, ip);
    if (!n && make) {
        n = calloc(1, sizeof(*n));
        if (n && strmap_put(&h->ips, ip, n) != 0) {
            free(n);
            n = NULL;
        }
    }
    return n;
}

static void sub_unlink(wc_sub *s)
{
    wc_hub *h = s->hub;
    wc_chat *c = strmap_get(&h->chats, s->chat);
    if (c) {
        if (s->prev)
            s->prev->next = s->next;
        else
            c->head = s->next;
        if (s->next) s->next->prev = s->prev;
        if (--c->n == 0) free(strmap_del(&h->chats, s->chat));
    }
    size_t *n = ip_count(h, s->ip, false);
    if (n && --*n == 0) free(strmap_del(&h->ips, s->ip));
    h->n--;
    metrics_gauge_set("agenthost_webchat_connections", NULL, (double)h->n);
}

static void free_headers(char **hs)
{
    for (size_t i = 0; hs && hs[i]; i++)
        free(hs[i]);
    free(hs);
}

static void sub_closed(uv_handle_t *hd)
{
    wc_sub *s = hd->data;
    free_headers(s->headers);
    free(s);
}

/* Bounds, then a new subscriber linked in its chat; NULL with *full set
 * when a bound is reached. */
static wc_sub *sub_new(wc_hub *h, http_req *req, const wc_who *who, int64_t after, bool *full)
{
    char chat[CHAT_KEY_MAX];
    snprintf(chat, sizeof(chat), "%s:%s", who->widget, who->session);
    wc_chat *c = strmap_get(&h->chats, chat);
    size_t *ipn = ip_count(h, http_req_client_ip(req), false);
    *full = (c && c->n >= h->o.per_session) || (ipn && *ipn >= h->o.per_ip);
    if (*full) return NULL;
    wc_sub *s = calloc(1, sizeof(*s));
    if (!c && s) {
        c = calloc(1, sizeof(*c));
        if (c && strmap_put(&h->chats, chat, c) != 0) {
            free(c);
            c = NULL;
        }
    }
    ipn = s && c ? ip_count(h, http_req_client_ip(req), true) : NULL;
    if (!ipn) {
        if (c && !c->n) free(strmap_del(&h->chats, chat));
        free(s);
        return NULL;
    }
    (*ipn)++;
    s->hub = h;
    s->req = req;
    s->last = after;
    snprintf(s->chat, sizeof(s->chat), "%s", chat);
    snprintf(s->ip, sizeof(s->ip), "%s", http_req_client_ip(req));
    snprintf(s->agent, sizeof(s->agent), "%s", who->agent);
    snprintf(s->session, sizeof(s->session), "%s", who->session);
    s->next = c->head;
    if (c->head) c->head->prev = s;
    c->head = s;
    c->n++;
    h->n++;
    metrics_gauge_set("agenthost_webchat_connections", NULL, (double)h->n);
    return s;
}

static int write_frame(http_req *req, const char *id, const char *event, json_t *data)
{
    char *js = json_dumps(data, JSON_COMPACT);
    json_decref(data);
    char *frame = NULL;
    int n = js ? asprintf(&frame, "%s%s%sevent: %s\ndata: %s\n\n", id ? "id: " : "", id ? id : "",
                          id ? "\n" : "", event, js)
               : -1;
    free(js);
    int rc = n > 0 ? http_stream_write(req, frame, (size_t)n) : -1;
    free(frame);
    return rc;
}

static void stream_end(wc_sub *s)
{
    sub_unlink(s);
    http_stream_end(s->req);
    free(s);
}

/* Send what follows s->last; -1 when the client is gone (s ended). */
static int stream_send(wc_sub *s, json_t *frames /* stolen */)
{
    size_t i;
    json_t *f;
    int rc = 0;
    json_array_foreach(frames, i, f)
    {
        const char *id = str_of(f, "id");
        int64_t seq = strtoll(id, NULL, 10);
        if (seq <= s->last) continue;
        if ((rc = write_frame(s->req, id, "message", json_incref(f))) != 0) break;
        s->last = seq;
    }
    json_decref(frames);
    if (rc) stream_end(s);
    return rc;
}

static void poll_answer(wc_sub *s, json_t *frames /* stolen */, int64_t last)
{
    char next[24];
    snprintf(next, sizeof(next), "%lld", (long long)last);
    http_req *req = s->req;
    json_t *o = json_pack("{s:o,s:s}", "messages", frames, "next", next);
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    http_respond(req, 200, "application/json", body ? body : "{}", body ? strlen(body) : 2,
                 (const char *const *)s->headers);
    free(body);
    sub_unlink(s);
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, sub_closed);
}

static void poll_expired(uv_timer_t *t)
{
    wc_sub *s = t->data;
    poll_answer(s, json_array(), s->last);
}

/* What was missed, then a subscriber: 0 with *out, or wc_hub_stream's
 * codes (1: a bound reached). */
static int sub_open(wc_hub *h, http_req *req, const wc_who *who, int64_t after, json_t **frames,
                    int64_t *last, wc_sub **out)
{
    int rc = wc_read(h, who->agent, who->session, after, 0, frames, last);
    if (rc) return rc;
    bool full;
    *out = sub_new(h, req, who, after, &full);
    if (*out) return 0;
    json_decref(*frames);
    return full ? 1 : AH_ENOMEM;
}

int wc_hub_stream(wc_hub *h, http_req *req, const wc_who *who, int64_t after)
{
    json_t *frames;
    int64_t last;
    wc_sub *s;
    int rc = sub_open(h, req, who, after, &frames, &last, &s);
    if (rc) return rc;
    http_respond_stream(req, 200, "text/event-stream; charset=utf-8", who->headers);
    /* The retry hint, then what was missed. */
    static const char hello[] = "retry: 3000\n: agenthost web chat\n\n";
    if (http_stream_write(req, hello, sizeof(hello) - 1) != 0) {
        json_decref(frames);
        stream_end(s);
        return 0;
    }
    stream_send(s, frames);
    return 0;
}

static char **copy_headers(const char *const *hs)
{
    size_t n = 0;
    while (hs && hs[n])
        n++;
    char **out = calloc(n + 1, sizeof(*out));
    for (size_t i = 0; out && i < n; i++)
        out[i] = strdup(hs[i]);
    return out;
}

int wc_hub_poll(wc_hub *h, http_req *req, const wc_who *who, int64_t after, uint32_t wait_ms)
{
    json_t *frames;
    int64_t last;
    wc_sub *s;
    int rc = sub_open(h, req, who, after, &frames, &last, &s);
    if (rc) return rc;
    s->poll = true;
    s->headers = copy_headers(who->headers);
    uv_timer_init(loop_uv(h->loop), &s->timer);
    s->timer.data = s;
    if (json_array_size(frames) || !wait_ms) {
        poll_answer(s, frames, last);
        return 0;
    }
    json_decref(frames);
    s->last = last;
    uv_timer_start(&s->timer, poll_expired, wait_ms, 0);
    return 0;
}

void wc_hub_event(wc_hub *h, const char *widget, const char *session, const char *event,
                  json_t *data)
{
    char chat[CHAT_KEY_MAX];
    snprintf(chat, sizeof(chat), "%s:%s", widget, session);
    wc_chat *c = strmap_get(&h->chats, chat);
    for (wc_sub *s = c ? c->head : NULL, *next; s; s = next) {
        next = s->next;
        if (s->poll) continue;
        if (write_frame(s->req, NULL, event, json_incref(data)) != 0) {
            bool last = c->n == 1;
            stream_end(s);
            if (last) break; /* the chat is gone with it */
        }
    }
    json_decref(data);
}

void wc_hub_partial(void *ud, const char *widget, const char *session, const char *stream,
                    const json_t *partial)
{
    const json_t *delta = json_object_get(partial, "delta");
    json_t *data = json_is_string(delta) ? json_pack("{s:s,s:O}", "stream", stream, "delta", delta)
                   : json_is_true(json_object_get(partial, "restart"))
                       ? json_pack("{s:s,s:b}", "stream", stream, "restart", 1)
                       : NULL;
    if (data) wc_hub_event(ud, widget, session, "token", data);
}

void wc_hub_committed(void *ud, const char *conv_id, const json_t *conv)
{
    (void)conv_id;
    wc_hub *h = ud;
    const json_t *ch = json_object_get(conv, "channel");
    if (!str_of(ch, "kind") || strcmp(str_of(ch, "kind"), "webchat") != 0) return;
    char chat[CHAT_KEY_MAX];
    snprintf(chat, sizeof(chat), "%s:%s", str_of(ch, "instance") ?: "",
             str_of(ch, "chat_id") ?: "");
    wc_chat *c = strmap_get(&h->chats, chat);
    if (!c) return;
    size_t n = c->n;
    wc_sub **subs = calloc(n, sizeof(*subs));
    if (!subs) return;
    size_t k = 0;
    for (wc_sub *s = c->head; s && k < n; s = s->next)
        subs[k++] = s;
    for (size_t i = 0; i < k; i++) { /* each may end, and its chat with the last */
        wc_sub *s = subs[i];
        int64_t last = 0;
        json_t *frames = frames_after(conv, s->last, 0, &last);
        if (s->poll) {
            if (json_array_size(frames))
                poll_answer(s, frames, last);
            else
                json_decref(frames);
            continue;
        }
        if (stream_send(s, frames) == 0)
            write_frame(s->req, NULL, "typing", json_pack("{s:b}", "on", 0));
    }
    free(subs);
}

/* ---- keepalives ------------------------------------------------------------------ */

static void keepalive(uv_timer_t *t)
{
    wc_hub *h = t->data;
    static const char ka[] = ": keepalive\n\n";
    size_t pos = 0;
    const char *k;
    void *v;
    /* Ends change the map: collect first. */
    size_t cap = h->n, n = 0;
    wc_sub **all = cap ? calloc(cap, sizeof(*all)) : NULL;
    while (all && strmap_next(&h->chats, &pos, &k, &v))
        for (wc_sub *s = ((wc_chat *)v)->head; s && n < cap; s = s->next)
            if (!s->poll) all[n++] = s;
    for (size_t i = 0; i < n; i++)
        if (http_stream_write(all[i]->req, ka, sizeof(ka) - 1) != 0) stream_end(all[i]);
    free(all);
}

wc_hub *wc_hub_new(ah_loop *loop, docs *d, const wc_hub_opts *o)
{
    wc_hub *h = calloc(1, sizeof(*h));
    if (!h) return NULL;
    h->loop = loop;
    h->d = d;
    if (o) h->o = *o;
    if (!h->o.keepalive_ms) h->o.keepalive_ms = 15000;
    if (!h->o.per_ip) h->o.per_ip = 50;
    if (!h->o.per_session) h->o.per_session = 5;
    strmap_init(&h->chats);
    strmap_init(&h->ips);
    metrics_describe("agenthost_webchat_connections", METRIC_GAUGE,
                     "Web chat SSE streams and long polls open");
    uv_timer_init(loop_uv(loop), &h->keepalive);
    h->keepalive.data = h;
    uv_timer_start(&h->keepalive, keepalive, h->o.keepalive_ms, h->o.keepalive_ms);
    uv_unref((uv_handle_t *)&h->keepalive);
    return h;
}

size_t wc_hub_count(const wc_hub *h)
{
    return h->n;
}

void wc_hub_close(wc_hub *h)
{
    size_t cap = h->n, n = 0, pos = 0;
    const char *k;
    void *v;
    wc_sub **all = cap ? calloc(cap, sizeof(*all)) : NULL;
    while (all && strmap_next(&h->chats, &pos, &k, &v))
        for (wc_sub *s = ((wc_chat *)v)->head; s && n < cap; s = s->next)
            all[n++] = s;
    for (size_t i = 0; i < n; i++) {
        if (all[i]->poll)
            poll_answer(all[i], json_array(), all[i]->last);
        else
            stream_end(all[i]);
    }
    free(all);
}

static void hub_closed(uv_handle_t *hd)
{
    free(hd->data);
}

void wc_hub_free(wc_hub *h)
{
    if (!h) return;
    size_t pos = 0;
    const char *k;
    void *v;
    while (strmap_next(&h->chats, &pos, &k, &v)) {
        wc_chat *c = v;
        for (wc_sub *s = c->head, *next; s; s = next) {
            next = s->next;
            if (s->poll) {
                uv_timer_stop(&s->timer);
                uv_close((uv_handle_t *)&s->timer, sub_closed);
            } else {
                free(s);
            }
        }
        free(c);
    }
    strmap_free(&h->chats);
    pos = 0;
    while (strmap_next(&h->ips, &pos, &k, &v))
        free(v);
    strmap_free(&h->ips);
    uv_timer_stop(&h->keepalive);
    uv_close((uv_handle_t *)&h->keepalive, hub_closed);
}
