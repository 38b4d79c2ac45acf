/*
 * outbound.c - mail out over SMTP through the broker, idempotently.
 *
 * message.out for this instance: its thread's record ("thread:CHAT",
 * written by inbound.c) gives the address, the subject and the message
 * answered; a chat that is an address with no record yet (the engine's
 * failover or a continue_in offer mails a contact's address) starts a new
 * thread there: config.thread_subject unless email.subject is given, and
 * once sent the records "mid:ID" and "thread:ADDRESS" make the reply, and
 * the next answer, part of it; the reply is composed (mail.h: text and HTML parts, the
 * signature, In-Reply-To, References, one "Re:") with the Message-ID
 * <MSG_ID@DOMAIN>, the same on every attempt. The record "out:MSG_ID" says
 * "sending" before the SMTP transaction and "sent" after 250; a redelivery
 * of a sent one is acked without sending, one found "sending" (a crash in
 * mid-transaction) is sent again with the same Message-ID (a possible
 * duplicate, counted as email_possible_duplicates and logged). A refusal
 * with a 5xx code is permanent: recorded "failed" with the server's answer
 * and nacked with it on every delivery without sending again, so the bus
 * dead-letters it with the reason after its attempts; a 4xx refusal or a
 * network error is nacked for the bus's backoff.
 *
 * The action send (the step email.send): a notification to any address,
 * subject and text given per language; with an idempotency_key it is
 * recorded ("out:send:KEY") and sent at most once per key.
 */
#include "em.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
    email *e;
    const ah_event *ev; /* a delivery, or NULL */
    ah_call *call;      /* the action send, or NULL */
    bool durable;
    bool new_thread; /* a mail to an address chat with no thread yet: one starts */
    char id[128], chat[64], key[200];
    json_t *msg;  /* what to compose (compose's input) */
    json_t *mail; /* compose's answer */
    char **rcpt;  /* "Rcpt-To: <a>" headers, NULL-terminated */
    const char *outcome;
    char reason[400]; /* a permanent failure's text */
} job;

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void finish(job *j)
{
    json_decref(j->msg);
    json_decref(j->mail);
    for (size_t i = 0; j->rcpt && j->rcpt[i]; i++)
        free(j->rcpt[i]);
    free(j->rcpt);
    free(j);
}

static void done(job *j)
{
    if (j->call)
        j->e->host->reply(j->call, json_pack("{s:s,s:O?,s:s}", "outcome",
                                             j->outcome ? j->outcome : "sent", "message_id",
                                             json_object_get(j->mail, "message_id"), "id", j->id));
    else
        j->e->host->ack(j->e->ctx, j->ev);
    finish(j);
}

static void fail(job *j, const char *code, const char *why, uint32_t after_ms)
{
    if (j->call)
        j->e->host->reply_error(j->call, code, why);
    else
        j->e->host->nack(j->e->ctx, j->ev, why, after_ms);
    finish(j);
}

static json_t *record(const job *j, const char *state, const char *why)
{
    json_t *r = json_pack("{s:s,s:s,s:O?}", "state", state, "chat", j->chat, "message_id",
                          json_object_get(j->mail, "message_id"));
    if (why) json_object_set_new(r, "reason", json_string(why));
    return r;
}

/* ---- after the SMTP transaction -------------------------------------------------------- */

static void sent_stored(ah_ctx *ctx, int status, void *ud)
{
    (void)ctx;
    job *j = ud;
    if (status) { /* sent, not recorded: a redelivery sends it again (same Message-ID) */
        fail(j, "kv", ah_strerror(status), 0);
        return;
    }
    j->e->host->metric(j->e->ctx, "email_messages_sent", AH_METRIC_COUNTER, 1, NULL);
    done(j);
}

static void failed_stored(ah_ctx *ctx, int status, void *ud)
{
    (void)ctx;
    (void)status;
    job *j = ud;
    fail(j, "rejected", j->reason, 0);
}

static void put(job *j, json_t *value, ah_done_cb cb)
{
    if (!j->durable) {
        json_decref(value);
        cb(j->e->ctx, 0, j);
        return;
    }
    int rc = j->e->host->kv_put(j->e->ctx, j->key, value, cb, j);
    json_decref(value);
    if (rc) cb(j->e->ctx, rc, j);
}

static void smtp_answered(email *e, const ah_http_response *r, void *ud)
{
    job *j = ud;
    if (!r->error_code && r->status >= 200 && r->status < 300) {
        const char *mid = str(j->mail, "message_id");
        if (!j->durable || !mid) {
            put(j, record(j, "sent", NULL), sent_stored);
            return;
        }
        char midkey[300], tkey[100];
        snprintf(midkey, sizeof(midkey), "mid:%.250s", mid);
        snprintf(tkey, sizeof(tkey), "thread:%s", j->chat);
        json_t *rec = record(j, "sent", NULL), *chat = json_string(j->chat);
        /* A thread the agent started: its record, so that the next answer
         * on the chat is a reply in it ("Re:", In-Reply-To this mail). */
        json_t *th =
            j->new_thread
                ? json_pack("{s:O?,s:O?,s:s}", "address", json_object_get(j->msg, "to"), "subject",
                            json_object_get(j->mail, "subject"), "message_id", mid)
                : NULL;
        ah_kv_entry kv[3] = {{.key = j->key, .value = rec},
                             {.key = midkey, .value = chat},
                             {.key = tkey, .value = th}};
        bool threaded = em_is_chat(j->chat) || em_is_address_chat(j->chat);
        int rc = e->host->kv_put_many(e->ctx, kv, !threaded ? 1 : th ? 3 : 2, sent_stored, j);
        json_decref(rec);
        json_decref(chat);
        json_decref(th);
        if (rc) sent_stored(e->ctx, rc, j);
        return;
    }
    snprintf(j->reason, sizeof(j->reason), "SMTP %d: %s%s%s", r->status,
             r->error_code ? r->error_code : "unexpected answer", r->error_message ? ": " : "",
             r->error_message ? r->error_message : "");
    if (r->error_code && !strcmp(r->error_code, "rejected") && r->status >= 500) {
        e->host->log(e->ctx, AH_LOG_ERROR, "%s to %s refused: %s (dead-lettered)", j->id,
                     str(j->msg, "to") ? str(j->msg, "to") : "?", j->reason);
        e->host->metric(e->ctx, "email_send_failed", AH_METRIC_COUNTER, 1, NULL);
        put(j, record(j, "failed", j->reason), failed_stored);
        return;
    }
    e->host->log(e->ctx, AH_LOG_WARN, "%s: %s; retried", j->id, j->reason);
    e->host->metric(e->ctx, "email_send_retried", AH_METRIC_COUNTER, 1, NULL);
    fail(j, "send_failed", j->reason, 0);
}

static void send_now(ah_ctx *ctx, int status, void *ud)
{
    (void)ctx;
    job *j = ud;
    email *e = j->e;
    if (status) {
        fail(j, "kv", ah_strerror(status), 0);
        return;
    }
    const char *raw = str(j->mail, "raw");
    char from[400];
    snprintf(from, sizeof(from), "Mail-From: <%s>", e->own[0] ? e->own[0] : "");
    size_t n = 0;
    while (j->rcpt[n])
        n++;
    const char **hs = calloc(n + 2, sizeof(*hs));
    if (!hs) {
        fail(j, "no_memory", "out of memory", 0);
        return;
    }
    hs[0] = from;
    for (size_t i = 0; i < n; i++)
        hs[i + 1] = j->rcpt[i];
    int rc = em_request(e, "SEND", e->smtp_url, raw, strlen(raw), hs, true, 0, smtp_answered, j);
    free(hs);
    if (rc) fail(j, "send_failed", "the host refused the request", 0);
}

/* ---- composing ------------------------------------------------------------------------------ */

/* Compose msg and send it, recording first when durable. */
static void compose_and_send(job *j, const json_t *prior)
{
    email *e = j->e;
    char err[256];
    j->mail = em_compose(j->msg, err, sizeof(err));
    if (!j->mail) {
        e->host->log(e->ctx, AH_LOG_ERROR, "%s: cannot compose: %s", j->id, err);
        if (j->call) {
            fail(j, "invalid", err, 0);
            return;
        }
        snprintf(j->reason, sizeof(j->reason), "cannot compose: %s", err);
        put(j, record(j, "failed", j->reason), failed_stored);
        return;
    }
    /* The envelope is what compose parsed: "Rcpt-To: <a>" for each. */
    const json_t *to = json_object_get(j->mail, "rcpt");
    j->rcpt = calloc(json_array_size(to) + 1, sizeof(*j->rcpt));
    size_t n = 0, i;
    const json_t *a;
    json_array_foreach(to, i, a) if (j->rcpt && asprintf(&j->rcpt[n], "Rcpt-To: <%s>",
                                                         json_string_value(a)) >= 0) n++;
    if (!n) {
        fail(j, "invalid", "no recipient", 0);
        return;
    }
    if (prior && !strcmp(str(prior, "state") ? str(prior, "state") : "", "sending")) {
        e->host->metric(e->ctx, "email_possible_duplicates", AH_METRIC_COUNTER, 1, NULL);
        e->host->log(e->ctx, AH_LOG_WARN,
                     "%s was in mid-transaction: sent again with the same Message-ID <%s> "
                     "(a possible duplicate)",
                     j->id, str(j->mail, "message_id"));
    }
    if (!j->durable) {
        send_now(e->ctx, 0, j);
        return;
    }
    put(j, record(j, "sending", NULL), send_now);
}

static const char *domain(const email *e)
{
    const char *at = e->own[0] ? strrchr(e->own[0], '@') : NULL;
    return at && at[1] ? at + 1 : "localhost";
}

static json_t *from_of(const email *e)
{
    const char *name = str(e->config, "from_name");
    return json_pack("{s:s,s:s?}", "address", e->own[0] ? e->own[0] : "", "name", name);
}

/* The subject of a thread the agent starts without one given:
 * config.thread_subject, else "Your conversation with FROM_NAME". */
static const char *new_subject(const email *e)
{
    static char buf[300];
    if (str(e->config, "thread_subject")) return str(e->config, "thread_subject");
    const char *name = str(e->config, "from_name");
    snprintf(buf, sizeof(buf), "Your conversation%s%.200s", name ? " with " : "", name ? name : "");
    return buf;
}

/* A settled record answers at once; otherwise go on (0). */
static int settled(job *j, const json_t *rec)
{
    const char *state = str(rec, "state");
    if (state && !strcmp(state, "sent")) {
        j->e->host->metric(j->e->ctx, "email_redelivered_settled", AH_METRIC_COUNTER, 1, NULL);
        j->mail = json_pack("{s:O?}", "message_id", json_object_get(rec, "message_id"));
        done(j);
        return 1;
    }
    if (state && !strcmp(state, "failed")) {
        fail(j, "rejected", str(rec, "reason") ? str(rec, "reason") : "refused", 0);
        return 1;
    }
    return 0;
}

static void got_out(ah_ctx *ctx, int status, const ah_kv_entry *items, size_t n, void *ud)
{
    (void)ctx;
    job *j = ud;
    email *e = j->e;
    if (status || n != 2) {
        fail(j, "kv", ah_strerror(status ? status : AH_EIO), 0);
        return;
    }
    if (settled(j, items[0].value)) return;
    const json_t *b = j->ev->body, *th = items[1].value, *em = json_object_get(b, "email");
    j->msg = json_pack("{s:o,s:s?,s:s?}", "from", from_of(e), "text", str(b, "text"), "html",
                       str(b, "html"));
    if (!str(j->msg, "text")) json_object_set_new(j->msg, "text", json_string(""));
    const json_t *to = json_object_get(em, "to");
    if (to)
        json_object_set(j->msg, "to", (json_t *)to);
    else if (str(th, "address"))
        json_object_set_new(j->msg, "to",
                            json_pack("{s:O,s:O?}", "address", json_object_get(th, "address"),
                                      "name", json_object_get(th, "name")));
    else if (em_is_address_chat(j->chat)) { /* a new thread to the contact's address */
        json_object_set_new(j->msg, "to", json_string(j->chat));
        j->new_thread = !str(th, "message_id");
    }
    if (json_object_get(em, "cc")) json_object_set(j->msg, "cc", json_object_get(em, "cc"));
    const char *subject = str(em, "subject") ? str(em, "subject") : str(th, "subject");
    if (!subject && j->new_thread) subject = new_subject(e);
    if (subject) json_object_set_new(j->msg, "subject", json_string(subject));
    const char *parent = str(json_object_get(b, "reply_to"), "external_id");
    if (!parent) parent = str(th, "message_id");
    if (parent) {
        const json_t *refs = json_object_get(em, "references");
        json_object_set_new(j->msg, "in_reply_to",
                            json_pack("{s:s,s:O?,s:s?}", "message_id", parent, "references",
                                      refs ? refs : json_object_get(th, "references"), "subject",
                                      subject));
    }
    if (str(e->config, "signature"))
        json_object_set(j->msg, "signature", json_object_get(e->config, "signature"));
    if (json_is_true(json_object_get(e->config, "reply_token")) && em_is_chat(j->chat))
        json_object_set_new(j->msg, "reply_token", json_string(j->chat));
    json_object_set_new(j->msg, "message_id", json_sprintf("%s@%s", j->id, domain(e)));
    if (!json_object_get(j->msg, "to") && em_is_chat(j->chat)) {
        /* The poller writes a new thread's record just after publishing its
         * mail: an agent quicker than that is answered once it is there
         * (the bus's backoff; dead-lettered with this reason if never). */
        e->host->metric(e->ctx, "email_send_retried", AH_METRIC_COUNTER, 1, NULL);
        fail(j, "no_thread", "no record of the thread yet; retried", 200);
        return;
    }
    if (!json_object_get(j->msg, "to")) {
        e->host->log(e->ctx, AH_LOG_WARN, "%s: no address for chat %s; dropped", j->id, j->chat);
        done(j);
        return;
    }
    compose_and_send(j, items[0].value);
}

void em_on_out(email *e, const ah_event *ev)
{
    const json_t *b = ev->body, *ch = json_object_get(b, "channel");
    if (!str(ch, "kind") || strcmp(str(ch, "kind"), "email") || !str(ch, "instance") ||
        strcmp(str(ch, "instance"), e->instance)) {
        e->host->ack(e->ctx, ev); /* another instance's */
        return;
    }
    const char *id = str(b, "id"), *chat = str(json_object_get(b, "chat"), "id");
    if (!id || !chat || strlen(id) >= 100 || strlen(chat) >= 64 || !e->smtp_url[0]) {
        e->host->log(e->ctx, AH_LOG_WARN, "message.out %s: %s; dropped", ev->id,
                     e->smtp_url[0] ? "no id or chat.id" : "no smtp_url configured");
        e->host->ack(e->ctx, ev);
        return;
    }
    job *j = calloc(1, sizeof(*j));
    if (!j) {
        e->host->nack(e->ctx, ev, "out of memory", 0);
        return;
    }
    *j = (job){.e = e, .ev = ev, .durable = true};
    snprintf(j->id, sizeof(j->id), "%s", id);
    snprintf(j->chat, sizeof(j->chat), "%s", chat);
    snprintf(j->key, sizeof(j->key), "out:%s", id);
    char tk[100];
    snprintf(tk, sizeof(tk), "thread:%s", chat);
    const char *keys[2] = {j->key, tk};
    if (e->host->kv_get_many(e->ctx, keys, 2, got_out, j)) fail(j, "kv", "kv", 0);
}

/* ---- the action send ------------------------------------------------------------------------ */

/* The text for the language: the exact tag, its base language, then
 * default_language, then the first; a string is every language's. */
static const char *pick(const json_t *v, const char *lang, const char *dflt)
{
    if (json_is_string(v) || !json_is_object(v)) return json_string_value(v);
    const char *tags[2] = {lang, dflt};
    for (size_t t = 0; t < 2; t++) {
        if (!tags[t]) continue;
        const char *k;
        const json_t *x;
        json_object_foreach((json_t *)v, k,
                            x) if (!strcasecmp(k, tags[t])) return json_string_value(x);
        size_t base = strcspn(tags[t], "-_");
        json_object_foreach((json_t *)v, k, x) if (strlen(k) >= base &&
                                                   !strncasecmp(k, tags[t], base) &&
                                                   (!k[base] || k[base] == '-' ||
                                                    k[base] == '_')) return json_string_value(x);
    }
    const char *k;
    const json_t *x;
    json_object_foreach((json_t *)v, k, x) return json_string_value(x);
    return NULL;
}

static void got_send_record(ah_ctx *ctx, int status, const json_t *value, void *ud)
{
    (void)ctx;
    job *j = ud;
    if (status && status != AH_ENOTFOUND) {
        fail(j, "kv", ah_strerror(status), 0);
        return;
    }
    if (!status && settled(j, value)) return;
    compose_and_send(j, status ? NULL : value);
}

void em_send_action(email *e, ah_call *call, const json_t *args)
{
    if (!e->smtp_url[0] || !e->own[0]) {
        e->host->reply_error(call, "config", "sending needs config.smtp_url and config.address");
        return;
    }
    const char *lang = str(args, "language"), *dflt = str(args, "default_language");
    const char *subject = pick(json_object_get(args, "subject"), lang, dflt);
    const char *text = pick(json_object_get(args, "text"), lang, dflt);
    const char *html = pick(json_object_get(args, "html"), lang, dflt);
    if (!text) {
        e->host->reply_error(call, "invalid",
                             "text: a string or an object of language -> text is needed");
        return;
    }
    if (!json_object_get(args, "to")) {
        e->host->reply_error(call, "invalid", "to: an address is needed");
        return;
    }
    job *j = calloc(1, sizeof(*j));
    if (!j) {
        e->host->reply_error(call, "no_memory", "out of memory");
        return;
    }
    const char *idem = str(args, "idempotency_key");
    *j = (job){.e = e, .call = call, .durable = idem != NULL};
    snprintf(j->id, sizeof(j->id), "send:%.100s", idem ? idem : "-");
    snprintf(j->key, sizeof(j->key), "out:send:%.150s", idem ? idem : "-");
    snprintf(j->chat, sizeof(j->chat), "-");
    j->msg = json_pack("{s:o,s:O,s:s,s:s?,s:s?}", "from", from_of(e), "to",
                       json_object_get(args, "to"), "text", text, "subject", subject, "html", html);
    static const char *const kept[] = {"cc", "bcc"};
    for (size_t i = 0; i < 2; i++)
        if (json_object_get(args, kept[i]))
            json_object_set(j->msg, kept[i], json_object_get(args, kept[i]));
    if (str(e->config, "signature") && !json_is_false(json_object_get(args, "signature")))
        json_object_set(j->msg, "signature", json_object_get(e->config, "signature"));
    if (idem) { /* the same Message-ID on every attempt of this key */
        gchar *h = g_compute_checksum_for_string(G_CHECKSUM_SHA256, idem, -1);
        json_object_set_new(j->msg, "message_id", json_sprintf("send-%.32s@%s", h, domain(e)));
        g_free(h);
    }
    if (!j->durable) {
        compose_and_send(j, NULL);
        return;
    }
    if (e->host->kv_get(e->ctx, j->key, got_send_record, j)) fail(j, "kv", "kv", 0);
}
