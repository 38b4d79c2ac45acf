/*
 * /chat/{widget}/...: the web chat's public endpoints (no admin token;
 * docs/channels/webchat.md): sessions (signed expiring tokens, returning
 * visitors, operator-signed identities), messages (a message.in on the
 * bus, answered after its commit), the agent's answers over SSE with
 * Last-Event-ID replay, a long-poll fallback and the history. CORS per
 * widget; per-session and per-address rate limits.
 */
#include "core/log.h"
#include "core/strmap.h"
#include "core/util.h"
#include "model/collections.h"
#include "model/ids.h"
#include "runtime/runtime.h"
#include "store/secrets.h"
#include "api_webchat.h"
#include "webchat_rate.h"
#include "webchat_sse.h"
#include "webchat_token.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_WAIT_MAX_MS 25000
typedef struct wc_ctx {
    docs *d;
    secrets *sec;
    runtime *rt;
    wc_hub *hub;
    uint8_t key[WCT_KEY_BYTES];
    wc_rates rates;
    strmap names; /* session -> the name its signed identity gave */
} wc_ctx;

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_int_t limit_of(const json_t *w, const char *k, json_int_t def)
{
    const json_t *v = json_object_get(json_object_get(w, "limits"), k);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

/* ---- shared with the pages ------------------------------------------------------ */

static int read_widget(doc_txn *t, void *ud)
{
    json_t **w = ud;
    const char *id = json_string_value(*w);
    json_t *doc = NULL;
    int rc = doc_get(t, COLL_WIDGETS, id, &doc, NULL);
    if (rc == AH_ENOTFOUND) return doc_fail(t, rc, NULL, "no widget \"%s\"", id);
    if (rc) return rc;
    json_decref(*w);
    *w = doc;
    return 0;
}

json_t *webchat_widget(docs *d, http_req *req, const char *id)
{
    if (!id_valid(id, "wdg")) {
        api_respond_not_found(req, "widget", id);
        return NULL;
    }
    json_t *w = json_string(id);
    doc_error e;
    int rc = d ? docs_read(d, read_widget, &w, &e) : AH_ENOTFOUND;
    if (rc || json_is_false(json_object_get(w, "enabled"))) {
        json_decref(w);
        if (rc && rc != AH_ENOTFOUND)
            http_respond_error(req, 503, "unavailable", e.message, NULL);
        else
            api_respond_not_found(req, "widget", id);
        return NULL;
    }
    return w;
}

/* The host's own pages (the demo) come from the host's origin. */
static bool same_origin(http_req *req, const char *origin)
{
    const char *host = http_req_header(req, "Host");
    const char *sep = strstr(origin, "://");
    return host && sep && !strcmp(sep + 3, host);
}

bool webchat_cors(const json_t *widget, http_req *req, char buf[2][400], const char *hs[5])
{
    const char *origin = http_req_header(req, "Origin");
    int n = 0;
    hs[0] = NULL;
    if (!origin) return true; /* not a browser's cross-origin call */
    bool ok = same_origin(req, origin);
    size_t i;
    const json_t *o;
    json_array_foreach(json_object_get(widget, "allowed_origins"), i, o)
    {
        const char *s = json_string_value(o);
        ok |= s && (!strcmp(s, "*") || !strcasecmp(s, origin));
    }
    if (!ok || strlen(origin) > 300 || strpbrk(origin, "\r\n")) return false;
    snprintf(buf[0], sizeof(buf[0]), "Access-Control-Allow-Origin: %s", origin);
    hs[n++] = buf[0];
    hs[n++] = "Vary: Origin";
    hs[n++] = "Access-Control-Expose-Headers: Retry-After";
    hs[n] = NULL;
    (void)buf[1];
    return true;
}

/* ---- the request's widget, origin and session --------------------------------------- */

typedef struct wc_call {
    json_t *widget;
    char buf[2][400];
    const char *hs[5];
    wct tok;
    const char *agent;
} wc_call;

static void respond_err(wc_call *c, http_req *req, int status, const char *code, const char *msg,
                        const char *field)
{
    http_respond_error_h(req, status, code, msg, field, c->hs);
}

static void respond_json(wc_call *c, http_req *req, int status, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    http_respond(req, status, "application/json", s ? s : "{}", s ? strlen(s) : 2, c->hs);
    free(s);
}

void webchat_log_refused(http_req *req, const char *widget, const char *what)
{
    log_ctx lc = {.request_id = http_req_id(req)};
    json_t *f = json_pack("{s:s,s:s,s:s,s:s}", "event", "webchat_refused", "client_ip",
                          http_req_client_ip(req), "widget", widget ? widget : "", "why", what);
    log_write("security", LOG_WARN, "webchat", &lc, f, "web chat refused: %s", what);
    json_decref(f);
}

/* The widget and the origin's check: false after answering. */
static bool begin(wc_ctx *x, http_req *req, const route_params *p, wc_call *c)
{
    memset(c, 0, sizeof(*c));
    c->widget = webchat_widget(x->d, req, route_param(p, "widget"));
    if (!c->widget) return false;
    c->agent = str_of(c->widget, "agent_id");
    if (!webchat_cors(c->widget, req, c->buf, c->hs)) {
        webchat_log_refused(req, route_param(p, "widget"), "origin not allowed");
        http_respond_error(req, 403, "origin_not_allowed",
                           "this widget does not allow calls from this origin (allowed_origins)",
                           NULL);
        json_decref(c->widget);
        c->widget = NULL;
        return false;
    }
    return true;
}

static void end(wc_call *c)
{
    json_decref(c->widget);
}

/* The session token from Authorization: Bearer, or ?token= (EventSource
 * sends no headers). 0; 1 when none was sent; -1 after answering 401. */
static int session_of(wc_ctx *x, http_req *req, wc_call *c, bool answer_missing)
{
    const char *auth = http_req_header(req, "Authorization");
    const char *tok = auth && !strncasecmp(auth, "Bearer ", 7) ? auth + 7 : NULL;
    if (!tok) tok = http_req_query(req, "token");
    if (!tok || !*tok) {
        if (!answer_missing) return 1;
        respond_err(c, req, 401, "unauthorized", "send the session token: Authorization: Bearer",
                    "token");
        return -1;
    }
    wct_status st = wct_parse(x->key, tok, strlen(tok), ah_now_ms(), &c->tok);
    const char *why = NULL;
    bool ours =
        (st == WCT_OK || st == WCT_EXPIRED) && !strcmp(c->tok.widget, str_of(c->widget, "id"));
    if (!ours)
        why = "not a session token of this widget";
    else if (st == WCT_EXPIRED)
        why = "the session has expired: start a new one";
    if (why) {
        bool expired = ours && st == WCT_EXPIRED;
        webchat_log_refused(req, str_of(c->widget, "id"),
                            expired ? "expired session token" : "invalid session token");
        respond_err(c, req, 401, expired ? "session_expired" : "invalid_token", why, "token");
        return -1;
    }
    return 0;
}

static bool throttled(wc_call *c, http_req *req, unsigned wait_s, const char *msg)
{
    if (!wait_s) return false;
    char ra[40];
    snprintf(ra, sizeof(ra), "Retry-After: %u", wait_s);
    const char *hs[6];
    int n = 0;
    for (; c->hs[n]; n++)
        hs[n] = c->hs[n];
    hs[n++] = ra;
    hs[n] = NULL;
    http_respond_error_h(req, 429, "too_many_requests", msg, NULL, hs);
    return true;
}

/* ---- GET /chat/{widget}/config ------------------------------------------------------- */

static int read_agent_name(doc_txn *t, void *ud)
{
    json_t **io = ud;
    json_t *a = NULL;
    int rc = doc_get(t, COLL_AGENTS, json_string_value(*io), &a, NULL);
    json_decref(*io);
    *io = rc ? NULL : json_incref(json_object_get(a, "name"));
    json_decref(a);
    return 0;
}

static void h_config(void *ctx, http_req *req, const route_params *p)
{
    wc_ctx *x = ctx;
    wc_call c;
    if (!begin(x, req, p, &c)) return;
    json_t *name = json_string(c.agent ? c.agent : "");
    docs_read(x->d, read_agent_name, &name, NULL);
    const json_t *theme = json_object_get(c.widget, "theme");
    json_t *out = json_pack(
        "{s:O,s:o,s:O,s:O?,s:O?,s:O?,s:b}", "widget", json_object_get(c.widget, "id"), "agent_name",
        name ? name : json_string(""), "lang", json_object_get(c.widget, "lang"), "color",
        json_object_get(theme, "color"), "title", json_object_get(theme, "title"), "greeting",
        json_object_get(theme, "greeting"), "identity_required",
        json_is_true(json_object_get(c.widget, "identity_required")));
    static const char *const optional[] = {"color", "title", "greeting"};
    for (size_t i = 0; i < 3; i++)
        if (json_is_null(json_object_get(out, optional[i]))) json_object_del(out, optional[i]);
    respond_json(&c, req, 200, out);
    end(&c);
}

/* ---- POST /chat/{widget}/sessions ------------------------------------------------------- */

/* A signed identity's session: "u-" and a hash of the widget and user id,
 * the same on every device the user logs in from. 0, or -1 after answering. */
static int identity_session(wc_ctx *x, http_req *req, wc_call *c, const json_t *idn, char *out,
                            size_t n)
{
    const char *wid = str_of(c->widget, "id");
    const char *user = str_of(idn, "user_id"), *sig = str_of(idn, "sig");
    const json_t *ts = json_object_get(idn, "ts");
    if (!json_is_object(idn) || !user || !*user || strlen(user) > 256 || !sig ||
        !json_is_integer(ts)) {
        respond_err(c, req, 422, "invalid",
                    "identity: {\"user_id\", \"email\"?, \"name\"?, \"ts\" (Unix seconds), "
                    "\"sig\" (hex HMAC-SHA256)}",
                    "identity");
        return -1;
    }
    char name[80], *secret = NULL;
    size_t slen = 0;
    webchat_secret_name(wid, name, sizeof(name));
    if (!x->sec || secrets_get(x->sec, name, "identity_secret", &secret, &slen) != 0) {
        webchat_log_refused(req, wid, "identity sent but the widget has no identity secret");
        respond_err(c, req, 403, "identity_not_accepted",
                    "this widget has no identity secret: identities cannot be checked", "identity");
        return -1;
    }
    int rc = wci_verify(secret, slen, user, str_of(idn, "email"), str_of(idn, "name"),
                        json_integer_value(ts), sig, ah_now_ms() / 1000);
    secrets_free_value(secret, slen);
    if (rc) {
        webchat_log_refused(req, wid,
                            rc == -2 ? "identity signed too long ago" : "forged identity");
        respond_err(c, req, 403, rc == -2 ? "identity_expired" : "identity_forged",
                    rc == -2 ? "identity.ts is out of range: sign it again"
                             : "identity.sig does not match: not signed with this widget's secret",
                    rc == -2 ? "identity.ts" : "identity.sig");
        return -1;
    }
    uint8_t h[16];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof(h));
    crypto_generichash_update(&st, (const uint8_t *)wid, strlen(wid) + 1);
    crypto_generichash_update(&st, (const uint8_t *)user, strlen(user));
    crypto_generichash_final(&st, h, sizeof(h));
    char hex[33];
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
    snprintf(out, n, "u-%s", hex);
    const char *nm = str_of(idn, "name") ? str_of(idn, "name") : str_of(idn, "email");
    if (nm && !strmap_get(&x->names, out)) {
        char *copy = strndup(nm, 200);
        if (copy && strmap_put(&x->names, out, copy) != 0) free(copy);
    }
    return 0;
}

static int read_conv_id(doc_txn *t, void *ud);

static void h_session(void *ctx, http_req *req, const route_params *p)
{
    wc_ctx *x = ctx;
    wc_call c;
    if (!begin(x, req, p, &c)) return;
    const char *wid = str_of(c.widget, "id");
    json_t *body = NULL;
    size_t blen;
    http_req_body(req, &blen);
    if (blen && api_body_json(req, &body, NULL) < 0) goto out;
    if (body && !json_is_object(body)) {
        respond_err(&c, req, 422, "invalid", "send a JSON object: {\"lang\"?, \"identity\"?}",
                    NULL);
        goto out;
    }
    int resumed = session_of(x, req, &c, false);
    if (resumed < 0) goto out;
    char session[WCT_ID_MAX + 1];
    const json_t *idn = json_object_get(body, "identity");
    if (resumed == 0) {
        snprintf(session, sizeof(session), "%s", c.tok.session);
    } else {
        if (throttled(&c, req,
                      wc_rate_hit(&x->rates, "sessions", http_req_client_ip(req),
                                  (uint32_t)limit_of(c.widget, "sessions_per_minute_per_ip", 10)),
                      "too many new sessions from this address; retry later"))
            goto out;
        if (idn) {
            if (identity_session(x, req, &c, idn, session, sizeof(session)) < 0) goto out;
        } else if (json_is_true(json_object_get(c.widget, "identity_required"))) {
            webchat_log_refused(req, wid, "no identity where one is required");
            respond_err(&c, req, 401, "identity_required",
                        "this widget talks only to signed-in users: send an identity", "identity");
            goto out;
        } else {
            id_new("s", ah_now_ms(), session, sizeof(session));
        }
    }
    int64_t exp = ah_now_ms() + limit_of(c.widget, "session_ttl_s", 2592000) * 1000;
    wct t = {.expires_ms = exp};
    snprintf(t.widget, sizeof(t.widget), "%s", wid);
    snprintf(t.session, sizeof(t.session), "%s", session);
    char token[WCT_TOKEN_MAX + 1];
    if (wct_make(x->key, &t, token, sizeof(token)) != 0) {
        respond_err(&c, req, 500, "failed", "cannot make a token", NULL);
        goto out;
    }
    char at[40];
    ah_rfc3339_ms(exp, at, sizeof(at));
    json_t *conv = json_pack("[s,s]", c.agent, session);
    docs_read(x->d, read_conv_id, &conv, NULL);
    bool found = json_is_string(conv);
    respond_json(&c, req, resumed == 0 ? 200 : 201,
                 json_pack("{s:s,s:s,s:o,s:s,s:b}", "token", token, "session_id", session,
                           "conversation_id", found ? conv : json_null(), "expires_at", at,
                           "resumed", resumed == 0));
    if (!found) json_decref(conv);
out:
    json_decref(body);
    end(&c);
}

/* [agent, session] in, the newest conversation's id (a string) or the
 * array back out. */
static int read_conv_id(doc_txn *t, void *ud)
{
    json_t **io = ud;
    const char *agent = json_string_value(json_array_get(*io, 0));
    const char *session = json_string_value(json_array_get(*io, 1));
    char hex[65], contact[64] = "", conv[64] = "";
    if (!agent || contact_identity_hash(doc_txn_docs(t), "webchat", session, hex) < 0) return 0;
    json_t *v = json_pack("[s]", hex);
    int rc = doc_find(t, COLL_CONTACTS, "by_identity", v, contact, sizeof(contact));
    json_decref(v);
    if (rc) return 0;
    v = json_pack("[s,s]", agent, contact);
    rc = doc_first_id(t, COLL_CONVERSATIONS, "by_agent_contact", v, true, conv, sizeof(conv));
    json_decref(v);
    if (rc == 0) {
        json_decref(*io);
        *io = json_string(conv);
    }
    return 0;
}

/* ---- POST /chat/{widget}/messages -------------------------------------------------- */

typedef struct send_req {
    wc_ctx *x;
    http_req *req;
    char id[80];
    char widget[40], session[WCT_ID_MAX + 1];
    char buf[2][400];
    const char *hs[5];
} send_req;

static void sent(void *ud, const runtime_outcome *o)
{
    send_req *s = ud;
    if (o->status) {
        static const char *const retry[] = {"Retry-After: 1", NULL};
        http_respond_error_h(s->req, 503, "unavailable", o->message ? o->message : "unavailable",
                             NULL, s->hs[0] ? s->hs : retry);
    } else {
        char body[160];
        int n = snprintf(body, sizeof(body), "{\"id\":\"%s\",\"status\":\"accepted\"}", s->id);
        http_respond(s->req, 202, "application/json", body, (size_t)n, s->hs);
        wc_hub_event(s->x->hub, s->widget, s->session, "typing", json_pack("{s:b}", "on", 1));
    }
    free(s);
}

/* The message's attachments: uploads of this widget ({"id", "name",
 * "url", "type", "size"} as the upload answered), at most 10. */
static const char *check_attachments(const json_t *att, const char *wid)
{
    if (!att) return NULL;
    if (!json_is_array(att) || json_array_size(att) > 10)
        return "attachments: an array of at most 10 uploads";
    size_t i;
    const json_t *a;
    char prefix[80];
    snprintf(prefix, sizeof(prefix), "/chat/%s/uploads/", wid);
    json_array_foreach(att, i, a)
    {
        const char *url = str_of(a, "url");
        if (!json_is_object(a) || !url || strncmp(url, prefix, strlen(prefix)) != 0 ||
            strlen(url) > 200)
            return "attachments: each one an upload of this widget, as POST uploads answered";
    }
    return NULL;
}

static void h_message(void *ctx, http_req *req, const route_params *p)
{
    wc_ctx *x = ctx;
    wc_call c;
    if (!begin(x, req, p, &c)) return;
    json_t *body = NULL;
    if (session_of(x, req, &c, true) < 0 || api_body_json(req, &body, NULL) < 0) goto out;
    const char *wid = str_of(c.widget, "id");
    const char *text = str_of(body, "text"), *payload = str_of(body, "payload");
    const char *client_id = str_of(body, "client_id");
    const json_t *att = json_object_get(body, "attachments");
    size_t max_text = (size_t)limit_of(c.widget, "max_text", 4000);
    const char *why = NULL, *field = NULL;
    const char *k;
    json_t *v;
    if (!json_is_object(body)) why = "send a JSON object: {\"text\"} or {\"payload\"}";
    if (!why) json_object_foreach(body, k, v)
        {
            if (strcmp(k, "text") && strcmp(k, "payload") && strcmp(k, "client_id") &&
                strcmp(k, "attachments")) {
                why = "unknown field", field = k;
                break;
            }
            if (strcmp(k, "attachments") && !json_is_string(v)) {
                why = "expected a string", field = k;
                break;
            }
        }
    if (!why && !text && !payload && !json_array_size(att))
        why = "text: required (or payload, a button's; or attachments)", field = "text";
    if (!why && ((text && strlen(text) > max_text) || (payload && strlen(payload) > 1024)))
        why = "too long (limits.max_text; a payload 1024 bytes)", field = text ? "text" : "payload";
    if (!why && client_id && (strlen(client_id) > 64 || !wct_id_valid(client_id)))
        why = "1 to 64 of A-Z a-z 0-9 _ -", field = "client_id";
    if (!why && (why = check_attachments(att, wid))) field = "attachments";
    if (why) {
        respond_err(&c, req, 422, "invalid", why, field);
        goto out;
    }
    uint32_t per_min = (uint32_t)limit_of(c.widget, "messages_per_minute", 20);
    if (throttled(&c, req, wc_rate_hit(&x->rates, "msg", c.tok.session, per_min),
                  "too many messages in this session; retry later") ||
        throttled(&c, req, wc_rate_hit(&x->rates, "msgip", http_req_client_ip(req), per_min * 5),
                  "too many messages from this address; retry later"))
        goto out;
    send_req *s = calloc(1, sizeof(*s));
    if (!s) {
        respond_err(&c, req, 503, "unavailable", "out of memory", NULL);
        goto out;
    }
    s->x = x;
    s->req = req;
    memcpy(s->buf, c.buf, sizeof(s->buf));
    for (int i = 0; c.hs[i]; i++)
        s->hs[i] = c.hs[i] == c.buf[0] ? s->buf[0] : c.hs[i];
    snprintf(s->widget, sizeof(s->widget), "%s", wid);
    snprintf(s->session, sizeof(s->session), "%s", c.tok.session);
    const char *idem = http_req_header(req, "Idempotency-Key");
    if (!idem) idem = client_id;
    char key[200];
    if (idem) snprintf(key, sizeof(key), "%s:%.100s", c.tok.session, idem);
    if (idem)
        snprintf(s->id, sizeof(s->id), "%.64s", idem);
    else
        id_new("msg", ah_now_ms(), s->id, sizeof(s->id));
    json_t *msg = json_pack("{s:s,s:s?,s:s?,s:O?,s:s?}", "user", c.tok.session, "text", text,
                            "payload", payload, "attachments", att, "name",
                            (const char *)strmap_get(&x->names, c.tok.session));
    char err[300] = "";
    int rc = runtime_channel_message(x->rt, "webchat", wid, c.agent, msg, idem ? key : NULL, sent,
                                     s, err, sizeof(err));
    json_decref(msg);
    if (rc) {
        free(s);
        respond_err(&c, req, rc == AH_EINVAL ? 422 : 503,
                    rc == AH_EINVAL ? "invalid" : "unavailable", err, NULL);
    }
out:
    json_decref(body);
    end(&c);
}

/* ---- events, poll, history ------------------------------------------------------------ */

/* A non-negative sequence number from text (NULL: 0). -1 when malformed. */
static int64_t seq_of(const char *s)
{
    if (!s || !*s) return 0;
    int64_t v = 0;
    for (const char *q = s; *q; q++) {
        if (*q < '0' || *q > '9' || q - s > 15) return -1;
        v = v * 10 + (*q - '0');
    }
    return v;
}

static void hub_refused(wc_call *c, http_req *req, int rc)
{
    if (rc == 1)
        throttled(c, req, 5, "too many open connections for this session or address");
    else
        respond_err(c, req, 503, "unavailable", ah_strerror(rc), NULL);
}

static void h_events(void *ctx, http_req *req, const route_params *p)
{
    wc_ctx *x = ctx;
    wc_call c;
    if (!begin(x, req, p, &c)) return;
    if (session_of(x, req, &c, true) < 0) goto out;
    const char *last = http_req_header(req, "Last-Event-ID");
    if (!last) last = http_req_query(req, "last_event_id");
    int64_t after = seq_of(last);
    if (after < 0) {
        respond_err(&c, req, 400, "invalid", "Last-Event-ID: a message id (digits)",
                    "last_event_id");
        goto out;
    }
    static const char *const more[] = {"Cache-Control: no-store", "X-Accel-Buffering: no"};
    const char *hs[8];
    int n = 0;
    for (; c.hs[n]; n++)
        hs[n] = c.hs[n];
    hs[n++] = more[0];
    hs[n++] = more[1];
    hs[n] = NULL;
    wc_who who = {str_of(c.widget, "id"), c.agent, c.tok.session, hs};
    int rc = wc_hub_stream(x->hub, req, &who, after);
    if (rc) hub_refused(&c, req, rc);
out:
    end(&c);
}

static void h_poll(void *ctx, http_req *req, const route_params *p)
{
    wc_ctx *x = ctx;
    wc_call c;
    if (!begin(x, req, p, &c)) return;
    if (session_of(x, req, &c, true) < 0) goto out;
    int64_t after = seq_of(http_req_query(req, "after"));
    int64_t wait = seq_of(http_req_query(req, "wait_ms"));
    if (!http_req_query(req, "wait_ms")) wait = POLL_WAIT_MAX_MS;
    if (after < 0 || wait < 0 || wait > POLL_WAIT_MAX_MS) {
        respond_err(&c, req, 400, "invalid",
                    after < 0 ? "after: a message id (digits)" : "wait_ms: 0 to 25000",
                    after < 0 ? "after" : "wait_ms");
        goto out;
    }
    wc_who who = {str_of(c.widget, "id"), c.agent, c.tok.session, c.hs};
    int rc = wc_hub_poll(x->hub, req, &who, after, (uint32_t)wait);
    if (rc) hub_refused(&c, req, rc);
out:
    end(&c);
}

static void h_history(void *ctx, http_req *req, const route_params *p)
{
    wc_ctx *x = ctx;
    wc_call c;
    if (!begin(x, req, p, &c)) return;
    if (session_of(x, req, &c, true) < 0) goto out;
    int64_t after = seq_of(http_req_query(req, "after"));
    int64_t limit = http_req_query(req, "limit") ? seq_of(http_req_query(req, "limit")) : 100;
    if (after < 0 || limit < 1 || limit > 200) {
        respond_err(&c, req, 400, "invalid",
                    after < 0 ? "after: a message id (digits)" : "limit: 1 to 200",
                    after < 0 ? "after" : "limit");
        goto out;
    }
    json_t *msgs;
    int64_t last;
    int rc = wc_read(x->hub, c.agent, c.tok.session, after, (size_t)limit, &msgs, &last);
    if (rc) {
        respond_err(&c, req, 503, "unavailable", ah_strerror(rc), NULL);
        goto out;
    }
    size_t n = json_array_size(msgs);
    char next[24];
    snprintf(next, sizeof(next), "%s",
             n ? str_of(json_array_get(msgs, n - 1), "id") : http_req_query(req, "after") ?: "0");
    respond_json(&c, req, 200, json_pack("{s:o,s:s}", "messages", msgs, "next", next));
out:
    end(&c);
}

/* OPTIONS: the CORS preflight. */
static void h_preflight(void *ctx, http_req *req, const route_params *p)
{
    wc_ctx *x = ctx;
    wc_call c;
    if (!begin(x, req, p, &c)) return;
    const char *hs[9];
    int n = 0;
    for (; c.hs[n]; n++)
        hs[n] = c.hs[n];
    hs[n++] = "Access-Control-Allow-Methods: GET, POST, OPTIONS";
    hs[n++] = "Access-Control-Allow-Headers: Authorization, Content-Type, Idempotency-Key, "
              "Last-Event-ID, X-Filename";
    hs[n++] = "Access-Control-Max-Age: 600";
    hs[n] = NULL;
    http_respond(req, 204, NULL, NULL, 0, hs);
    end(&c);
}

static const route routes[] = {
    {"GET", "/chat/{widget}/config", h_config, "public",
     "Web chat: what the widget shows (agent name, language, color)"},
    {"POST", "/chat/{widget}/sessions", h_session, "public",
     "Web chat: start or resume a session (a signed token)"},
    {"POST", "/chat/{widget}/messages", h_message, "public",
     "Web chat: send a message (answered after its commit)"},
    {"GET", "/chat/{widget}/events", h_events, "public",
     "Web chat: the agent's messages as Server-Sent Events (Last-Event-ID replays)"},
    {"GET", "/chat/{widget}/poll", h_poll, "public",
     "Web chat: long-poll fallback for clients without SSE"},
    {"GET", "/chat/{widget}/history", h_history, "public",
     "Web chat: the session's conversation so far"},
    {"OPTIONS", "/chat/{widget}/{rest...}", h_preflight, "public", "Web chat: CORS preflight"},
};

static void hub_close(void *hub)
{
    wc_hub_close(hub);
}

static void ctx_free(void *p)
{
    wc_ctx *x = p;
    if (x->rt) {
        runtime_watch(x->rt, NULL, NULL);
        runtime_watch_partials(x->rt, NULL, NULL, NULL);
    }
    wc_hub_free(x->hub);
    size_t pos = 0;
    const char *k;
    void *v;
    wc_rates_free(&x->rates);
    while (strmap_next(&x->names, &pos, &k, &v))
        free(v);
    strmap_free(&x->names);
    sodium_memzero(x->key, sizeof(x->key));
    free(x);
}

int api_webchat_routes(api_table *t, const api_deps *deps)
{
    wc_ctx *x = NULL;
    if (deps) {
        if (!deps->rt || !deps->loop) return 0; /* no engine: no web chat */
        if (!(x = calloc(1, sizeof(*x)))) return AH_ENOMEM;
        x->d = deps->docs;
        x->sec = deps->sec;
        x->rt = deps->rt;
        wc_rates_init(&x->rates);
        strmap_init(&x->names);
        /* Tokens outlive restarts when the master key is there. */
        if (!x->sec || secrets_derive_key(x->sec, "ahwchat1", x->key) != 0) {
            randombytes_buf(x->key, sizeof(x->key));
            log_write("host", LOG_WARN, "webchat", NULL, NULL,
                      "no master key: web chat sessions end when the host restarts");
        }
        const api_opts *o = deps->opts;
        wc_hub_opts ho = {.keepalive_ms = o ? o->webchat_keepalive_ms : 0,
                          .per_ip = o ? o->webchat_per_ip : 0,
                          .per_session = o ? o->webchat_per_session : 0};
        x->hub = wc_hub_new(deps->loop, deps->docs, &ho);
        if (!x->hub) {
            free(x);
            return AH_ENOMEM;
        }
        runtime_watch(x->rt, wc_hub_committed, x->hub);
        runtime_watch_partials(x->rt, "webchat", wc_hub_partial, x->hub);
        int rc = api_table_own(t, x, ctx_free);
        if (!rc) rc = api_table_before_stop(t, x->hub, hub_close);
        if (rc) return rc;
    }
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), x);
}
