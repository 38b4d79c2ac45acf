/*
 * inbound.c - the mailbox polled over IMAP (ADR 0034: libcurl has no IDLE).
 * Every poll_interval_s: UID SEARCH UID last+1:*; when it finds new UIDs,
 * STATUS confirms the UIDVALIDITY they belong to, then each new mail is
 * fetched by URL (up to max_per_poll), parsed (mail.h), and:
 *   - auto-replies, bounces, the agent's own mail and mailing-list mail
 *     (classification.answer false) are logged and counted, never
 *     published;
 *   - a sender over the rate limit is logged and counted, not published;
 *   - the rest is published on message.in in one commit, each with the
 *     idempotency key INSTANCE:UIDVALIDITY:UID.
 * Only once the batch is durable are the new place ("imap": {uidvalidity,
 * last_uid}) and the threads' records written, in one KV commit; a crash in
 * between fetches the same UIDs again and the bus stores nothing twice. Then
 * handled mail is moved to move_to (or left \Seen, as fetching made it).
 *
 * Threads (docs/channels/email.md): chat.id is the conversation of the
 * mail's thread, "t_" + 24 hex digits of a SHA-256: of the conversation the
 * parent (In-Reply-To) or the root (first of References) belongs to, when
 * either is a mail this instance received or sent ("mid:ID" records); else
 * of a reply token "t_..." in a plus address; else of the thread's key. A
 * thread the agent started by mailing an address (message.out whose chat
 * is the address: a failover, a continue_in offer) stays that chat: the
 * reply to it continues the conversation that sent it.
 */
#include "em.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_MAX 100

typedef struct mail_item {
    uint32_t uid;
    json_t *parsed; /* em_parse's answer, or NULL (fetch refused: skipped) */
    json_t *body;   /* message.in, or NULL: not published */
    char chat[64];  /* t_..., or an address (a thread the agent started) */
} mail_item;

typedef struct batch {
    email *e;
    mail_item items[BATCH_MAX];
    size_t n, at;
    uint32_t upto; /* the last UID this batch settles */
    bool more;     /* the search found more than one batch */
    json_t *mids;  /* message id -> chat, of this batch */
    size_t marked;
} batch;

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void poll_now(email *e);

static void poll_timer(ah_ctx *ctx, ah_timer *t, void *ud)
{
    (void)ctx;
    (void)t;
    poll_now(ud);
}

static void poll_later(email *e, uint32_t ms)
{
    if (e->stopping) return;
    if (!e->host->timer_start(e->ctx, ms, 0, poll_timer, e))
        e->host->log(e->ctx, AH_LOG_ERROR, "no timer for the next poll");
}

static void retry(email *e, const char *what, const ah_http_response *r, const char *why)
{
    e->backoff_ms = e->backoff_ms ? e->backoff_ms * 2 : 1000;
    if (e->backoff_ms > 300000) e->backoff_ms = 300000;
    uint32_t ms = e->backoff_ms > e->poll_ms ? e->backoff_ms : e->poll_ms;
    e->host->log(e->ctx, AH_LOG_WARN, "%s: %s%s%s; polled again in %u ms", what,
                 r && r->error_code ? r->error_code : "", r && r->error_message ? ": " : "",
                 r && r->error_message ? r->error_message : (why ? why : ""), ms);
    e->host->metric(e->ctx, "email_poll_errors", AH_METRIC_COUNTER, 1, NULL);
    poll_later(e, ms);
}

static void batch_free(batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        json_decref(b->items[i].parsed);
        json_decref(b->items[i].body);
    }
    json_decref(b->mids);
    free(b);
}

/* ---- the end of a batch: mark, then poll on ---------------------------------------- */

static void mark_next(batch *b);

static void marked(email *e, const ah_http_response *r, void *ud)
{
    batch *b = ud;
    if (r->error_code)
        e->host->log(e->ctx, AH_LOG_WARN, "moving UID %u to %s: %s", b->items[b->marked].uid,
                     e->move_to, r->error_code);
    b->marked++;
    mark_next(b);
}

static void mark_next(batch *b)
{
    email *e = b->e;
    while (e->move_to[0] && b->marked < b->n && !e->stopping) {
        char cmd[200], url[700];
        snprintf(cmd, sizeof(cmd), "UID MOVE %u \"%s\"", b->items[b->marked].uid, e->move_to);
        em_mailbox_url(e, url, sizeof(url));
        if (em_request(e, cmd, url, NULL, 0, NULL, false, 0, marked, b) == 0) return;
        b->marked++;
    }
    bool more = b->more;
    batch_free(b);
    e->backoff_ms = 0;
    if (more)
        poll_now(e);
    else
        poll_later(e, e->poll_ms);
}

static void place_stored(ah_ctx *ctx, int status, void *ud)
{
    (void)ctx;
    batch *b = ud;
    email *e = b->e;
    if (status) { /* published, the place not stored: the same UIDs again, deduplicated */
        b->more = false;
        e->host->log(e->ctx, AH_LOG_WARN, "storing the mailbox's place: %s", ah_strerror(status));
        batch_free(b);
        retry(e, "storing the place", NULL, ah_strerror(status));
        return;
    }
    e->last_uid = b->upto;
    e->have_state = true;
    mark_next(b);
}

/* The new place and, for each mail published, its thread's record and its
 * id's conversation, in one commit. */
static void store_place(batch *b)
{
    email *e = b->e;
    size_t n = 1 + 2 * b->n;
    ah_kv_entry *kv = calloc(n, sizeof(*kv));
    char(*keys)[300] = calloc(n, sizeof(*keys));
    json_t *vals = json_array();
    if (!kv || !keys) {
        free(kv), free(keys), json_decref(vals);
        batch_free(b);
        retry(e, "storing the place", NULL, "out of memory");
        return;
    }
    size_t k = 0;
    json_t *place = json_pack("{s:I,s:I}", "uidvalidity", (json_int_t)e->uidvalidity, "last_uid",
                              (json_int_t)b->upto);
    json_array_append_new(vals, place);
    kv[k++] = (ah_kv_entry){.key = "imap", .value = place};
    for (size_t i = 0; i < b->n; i++) {
        const json_t *m = b->items[i].body;
        if (!m) continue;
        const json_t *p = b->items[i].parsed;
        const json_t *from = json_array_get(json_object_get(p, "from"), 0);
        const json_t *rt = json_array_get(json_object_get(p, "reply_to"), 0);
        json_t *th = json_pack(
            "{s:O?,s:O?,s:O?,s:O?,s:O?,s:I}", "address", json_object_get(rt ? rt : from, "address"),
            "name", json_object_get(from, "name"), "subject", json_object_get(p, "subject"),
            "message_id", json_object_get(p, "message_id"), "references",
            json_object_get(p, "references"), "uid", (json_int_t)b->items[i].uid);
        json_array_append_new(vals, th);
        snprintf(keys[k], sizeof(keys[k]), "thread:%s", b->items[i].chat);
        kv[k] = (ah_kv_entry){.key = keys[k], .value = th};
        k++;
        const char *mid = str(p, "message_id");
        if (mid && strlen(mid) < 250) {
            json_t *c = json_string(b->items[i].chat);
            json_array_append_new(vals, c);
            snprintf(keys[k], sizeof(keys[k]), "mid:%s", mid);
            kv[k] = (ah_kv_entry){.key = keys[k], .value = c};
            k++;
        }
    }
    int rc = e->host->kv_put_many(e->ctx, kv, k, place_stored, b);
    free(kv), free(keys), json_decref(vals);
    if (rc) place_stored(e->ctx, rc, b);
}

static void published(ah_ctx *ctx, int status, const uint64_t *offsets, size_t n, void *ud)
{
    (void)ctx;
    (void)offsets;
    batch *b = ud;
    email *e = b->e;
    if (status) {
        batch_free(b);
        retry(e, "publishing message.in", NULL, ah_strerror(status)); /* the same UIDs again */
        return;
    }
    e->host->metric(e->ctx, "email_messages_in", AH_METRIC_COUNTER, (double)n, NULL);
    store_place(b);
}

static void publish(batch *b)
{
    email *e = b->e;
    ah_publish_item items[BATCH_MAX];
    ah_publish_opts opts[BATCH_MAX];
    char keys[BATCH_MAX][200], idems[BATCH_MAX][200];
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (!b->items[i].body) continue;
        snprintf(keys[k], sizeof(keys[k]), "%s:%s", e->instance, b->items[i].chat);
        snprintf(idems[k], sizeof(idems[k]), "%s:%u:%u", e->instance, e->uidvalidity,
                 b->items[i].uid);
        opts[k] =
            (ah_publish_opts){.size = sizeof(opts[k]), .key = keys[k], .idempotency_key = idems[k]};
        items[k] =
            (ah_publish_item){.topic = "message.in", .body = b->items[i].body, .opts = &opts[k]};
        k++;
    }
    if (!k) {
        store_place(b);
        return;
    }
    int rc = e->host->publish_batch(e->ctx, items, k, published, b);
    if (rc) {
        batch_free(b);
        retry(e, "publishing message.in", NULL, ah_strerror(rc));
    }
}

/* ---- each mail: fetch, parse, decide ------------------------------------------------ */

static void fetch_next(batch *b);

/* Is this sender over the limit? Counts the mail. */
static bool over_limit(email *e, const char *sender)
{
    if (!e->rate_max || !sender) return false;
    int64_t now = em_now_ms() / 1000;
    json_t *r = json_object_get(e->rate, sender);
    if (!r || now - json_integer_value(json_array_get(r, 0)) >= (json_int_t)e->rate_window_s) {
        if (json_object_size(e->rate) > 10000) json_object_clear(e->rate);
        json_object_set_new(e->rate, sender, json_pack("[I,i]", (json_int_t)now, 1));
        return false;
    }
    json_int_t n = json_integer_value(json_array_get(r, 1)) + 1;
    json_array_set_new(r, 1, json_integer(n));
    return n > (json_int_t)e->rate_max;
}

static json_t *attachments_of(const json_t *p)
{
    json_t *out = json_array();
    size_t i;
    const json_t *a;
    const char *mid = str(p, "message_id");
    json_array_foreach(json_object_get(p, "attachments"), i, a)
    {
        const char *ct = str(a, "content_type");
        const char *kind = ct && !strncmp(ct, "image/", 6)   ? "image"
                           : ct && !strncmp(ct, "audio/", 6) ? "audio"
                           : ct && !strncmp(ct, "video/", 6) ? "video"
                                                             : "document";
        json_t *o = json_pack(
            "{s:s,s:O?,s:O?,s:O?}", "kind", kind, "name", json_object_get(a, "filename"),
            "mime_type", json_object_get(a, "content_type"), "size", json_object_get(a, "size"));
        json_object_set_new(
            o, "ref",
            json_sprintf("email:<%s>/%s", mid ? mid : "", str(a, "part") ? str(a, "part") : ""));
        json_array_append_new(out, o);
    }
    return out;
}

static json_t *message_in(email *e, const json_t *p, const char *chat, uint32_t uid)
{
    const json_t *from = json_array_get(json_object_get(p, "from"), 0);
    const char *mid = str(p, "message_id"), *irt = str(p, "in_reply_to");
    const char *text = str(p, "new_text");
    if (!text || !*text) text = str(p, "text");
    json_t *m = json_pack("{s:i,s:s,s:s,s:{s:s,s:s},s:{s:s,s:s},s:{s:O?,s:s,s:O?},s:s}",
                          "event_version", 1, "direction", "in", "kind", "message", "channel",
                          "kind", "email", "instance", e->instance, "chat", "id", chat, "type",
                          "private", "from", "id", json_object_get(from, "address"), "type", "user",
                          "name", json_object_get(from, "name"), "text", text ? text : "");
    if (mid) json_object_set_new(m, "external_id", json_sprintf("<%s>", mid));
    if (str(p, "date")) json_object_set(m, "at", json_object_get(p, "date"));
    if (irt)
        json_object_set_new(m, "reply_to",
                            json_pack("{s:o}", "external_id", json_sprintf("<%s>", irt)));
    if (str(p, "html")) json_object_set(m, "html", json_object_get(p, "html"));
    if (str(p, "language")) json_object_set(m, "language", json_object_get(p, "language"));
    /* raw: what the mail said beyond the schema's fields (the schema's `email` takes
     * only subject, recipients and references): its header fields, bounded, and
     * where it was found and how it was read. */
    json_t *raw = json_pack("{s:O?,s:O?,s:s?,s:I,s:I}", "headers", json_object_get(p, "headers"),
                            "thread", json_object_get(json_object_get(p, "thread"), "key"),
                            "trimmed", str(p, "trimmed"), "uid", (json_int_t)uid, "uidvalidity",
                            (json_int_t)e->uidvalidity);
    if (json_is_true(json_object_get(p, "headers_truncated")))
        json_object_set_new(raw, "headers_truncated", json_true());
    json_object_set_new(m, "raw", raw);
    json_t *att = attachments_of(p);
    if (json_array_size(att))
        json_object_set_new(m, "attachments", att);
    else
        json_decref(att);
    json_t *em = json_object();
    static const char *const keep[] = {"subject", "to", "cc", "references"};
    for (size_t i = 0; i < sizeof(keep) / sizeof(*keep); i++) {
        const json_t *v = json_object_get(p, keep[i]);
        if (json_is_string(v) || json_array_size(v)) json_object_set(em, keep[i], (json_t *)v);
    }
    json_object_set_new(m, "email", em);
    return m;
}

/* Which conversation: found by a parent or root this instance knows, a
 * token of ours, or made from the thread's key. */
static void decided(email *e, batch *b, mail_item *it, const char *known)
{
    const json_t *th = json_object_get(it->parsed, "thread");
    const char *token = str(th, "token");
    if (known && (em_is_chat(known) || em_is_address_chat(known)))
        snprintf(it->chat, sizeof(it->chat), "%s", known);
    else if (token && em_is_chat(token))
        snprintf(it->chat, sizeof(it->chat), "%s", token);
    else
        em_chat_of(str(th, "key") ? str(th, "key") : "", it->chat, sizeof(it->chat));
    const char *mid = str(it->parsed, "message_id");
    if (mid) json_object_set_new(b->mids, mid, json_string(it->chat));
    it->body = message_in(e, it->parsed, it->chat, it->uid);
    b->at++;
    fetch_next(b);
}

static void got_known(ah_ctx *ctx, int status, const ah_kv_entry *items, size_t n, void *ud)
{
    (void)ctx;
    batch *b = ud;
    email *e = b->e;
    if (status) {
        batch_free(b);
        retry(e, "reading the threads", NULL, ah_strerror(status));
        return;
    }
    const char *known = NULL;
    for (size_t i = 0; i < n && !known; i++)
        known = json_string_value(items[i].value);
    decided(e, b, &b->items[b->at], known);
}

static void thread_of(email *e, batch *b, mail_item *it)
{
    const json_t *th = json_object_get(it->parsed, "thread");
    const char *cands[2] = {str(th, "parent"), str(th, "root")};
    const char *keys[2];
    char buf[2][300];
    size_t n = 0;
    for (size_t i = 0; i < 2; i++) {
        if (!cands[i] || strlen(cands[i]) >= 250) continue;
        const char *here = str(b->mids, cands[i]);
        if (here) {
            decided(e, b, it, here);
            return;
        }
        snprintf(buf[n], sizeof(buf[n]), "mid:%s", cands[i]);
        keys[n] = buf[n];
        n++;
    }
    if (!n || e->host->kv_get_many(e->ctx, keys, n, got_known, b) != 0) decided(e, b, it, NULL);
}

static void fetched(email *e, const ah_http_response *r, void *ud)
{
    batch *b = ud;
    mail_item *it = &b->items[b->at];
    if (e->stopping) {
        batch_free(b);
        return;
    }
    if (r->error_code && strcmp(r->error_code, "rejected") != 0) {
        char what[64];
        snprintf(what, sizeof(what), "fetching UID %u", it->uid);
        batch_free(b);
        retry(e, what, r, NULL); /* nothing settled: the same UIDs next time */
        return;
    }
    if (r->error_code) { /* refused: gone (expunged, moved by a person) since the search */
        e->host->log(e->ctx, AH_LOG_WARN, "UID %u: the server refused to fetch it (%s); skipped",
                     it->uid, r->error_message ? r->error_message : r->error_code);
        e->host->metric(e->ctx, "email_in_skipped", AH_METRIC_COUNTER, 1, "kind=gone");
        b->at++;
        fetch_next(b);
        return;
    }
    em_parse_opts o = {.own = e->own, .own_n = e->own_n, .max_text = e->max_text};
    char err[256];
    it->parsed = em_parse(r->body, r->body_len, &o, err, sizeof(err));
    if (!it->parsed) {
        e->host->log(e->ctx, AH_LOG_WARN, "UID %u is not a message (%s); skipped", it->uid, err);
        e->host->metric(e->ctx, "email_in_skipped", AH_METRIC_COUNTER, 1, "kind=not_a_message");
        b->at++;
        fetch_next(b);
        return;
    }
    const json_t *cl = json_object_get(it->parsed, "classification");
    const char *sender = str(json_array_get(json_object_get(it->parsed, "from"), 0), "address");
    if (!json_is_true(json_object_get(cl, "answer"))) {
        char labels[80];
        snprintf(labels, sizeof(labels), "kind=%s", str(cl, "kind") ? str(cl, "kind") : "unknown");
        e->host->log(e->ctx, AH_LOG_INFO, "UID %u from %s: %s (%s); recorded, not answered",
                     it->uid, sender ? sender : "?", str(cl, "kind"), str(cl, "reason"));
        e->host->metric(e->ctx, "email_in_skipped", AH_METRIC_COUNTER, 1, labels);
        b->at++;
        fetch_next(b);
        return;
    }
    if (over_limit(e, sender)) {
        e->host->log(e->ctx, AH_LOG_WARN,
                     "UID %u from %s: over rate_limit (%u mails in %u s); recorded, not answered",
                     it->uid, sender, e->rate_max, e->rate_window_s);
        e->host->metric(e->ctx, "email_in_skipped", AH_METRIC_COUNTER, 1, "kind=rate_limited");
        b->at++;
        fetch_next(b);
        return;
    }
    thread_of(e, b, it);
}

static void fetch_next(batch *b)
{
    email *e = b->e;
    if (b->at >= b->n) {
        publish(b);
        return;
    }
    char url[700], full[760];
    em_mailbox_url(e, url, sizeof(url));
    snprintf(full, sizeof(full), "%s;UID=%u", url, b->items[b->at].uid);
    if (em_request(e, "GET", full, NULL, 0, NULL, false, AH_HTTP_IDEMPOTENT, fetched, b)) {
        batch_free(b);
        retry(e, "fetching", NULL, "the host refused the request");
    }
}

/* ---- the poll ------------------------------------------------------------------------ */

static int cmp_uid(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static uint32_t item_of(const char *body, const char *name)
{
    const char *s = strstr(body, name);
    return s ? (uint32_t)strtoul(s + strlen(name), NULL, 10) : 0;
}

static int status_request(email *e, em_http_cb cb, void *ud)
{
    char cmd[200], url[600];
    snprintf(cmd, sizeof(cmd), "STATUS \"%s\" (UIDVALIDITY UIDNEXT)", e->mailbox);
    snprintf(url, sizeof(url), "%s/", e->imap_url);
    return em_request(e, cmd, url, NULL, 0, NULL, false, AH_HTTP_IDEMPOTENT, cb, ud);
}

static void validity_checked(email *e, const ah_http_response *r, void *ud)
{
    batch *b = ud;
    if (e->stopping) {
        batch_free(b);
        return;
    }
    uint32_t v = r->error_code ? 0 : item_of(r->body ? (const char *)r->body : "", "UIDVALIDITY ");
    if (!v) {
        batch_free(b);
        retry(e, "STATUS", r, "no UIDVALIDITY in the answer");
        return;
    }
    if (v != e->uidvalidity) { /* the UIDs found are another mailbox's: start over */
        e->host->log(e->ctx, AH_LOG_WARN,
                     "%s's UIDVALIDITY changed (%u to %u): the mailbox was recreated; "
                     "first_start decides again what is handled",
                     e->mailbox, e->uidvalidity, v);
        e->host->metric(e->ctx, "email_uidvalidity_changed", AH_METRIC_COUNTER, 1, NULL);
        batch_free(b);
        e->have_state = false;
        poll_now(e);
        return;
    }
    fetch_next(b);
}

/* UIDs are only meaningful under the UIDVALIDITY stored with them. */
static void check_validity(email *e, batch *b)
{
    if (status_request(e, validity_checked, b)) {
        batch_free(b);
        retry(e, "STATUS", NULL, "the host refused the request");
    }
}

static void searched(email *e, const ah_http_response *r, void *ud)
{
    (void)ud;
    if (e->stopping) return;
    if (r->error_code) {
        retry(e, "UID SEARCH", r, NULL);
        return;
    }
    batch *b = calloc(1, sizeof(*b));
    if (!b) {
        retry(e, "UID SEARCH", NULL, "out of memory");
        return;
    }
    *b = (batch){.e = e, .mids = json_object(), .upto = e->last_uid};
    const char *body = r->body ? (const char *)r->body : "";
    const char *s = strstr(body, "* SEARCH");
    uint32_t found[1000];
    size_t n = 0;
    for (const char *c = s ? s + 8 : ""; *c && *c != '\r' && *c != '\n' && n < 1000;) {
        char *end;
        unsigned long v = strtoul(c, &end, 10);
        if (end == c) {
            c++;
            continue;
        }
        if (v > e->last_uid && v <= UINT32_MAX) found[n++] = (uint32_t)v;
        c = end;
    }
    qsort(found, n, sizeof(found[0]), cmp_uid);
    for (size_t i = 0; i < n; i++) {
        if (b->n == e->max_per_poll || b->n == BATCH_MAX) {
            b->more = true;
            break;
        }
        b->items[b->n++].uid = found[i];
        b->upto = found[i];
    }
    if (!b->n) {
        batch_free(b);
        e->backoff_ms = 0;
        poll_later(e, e->poll_ms);
        return;
    }
    check_validity(e, b);
}

static void search(email *e)
{
    char cmd[80], url[700];
    snprintf(cmd, sizeof(cmd), "UID SEARCH UID %u:*", e->last_uid + 1);
    em_mailbox_url(e, url, sizeof(url));
    if (em_request(e, cmd, url, NULL, 0, NULL, false, AH_HTTP_IDEMPOTENT, searched, NULL))
        retry(e, "UID SEARCH", NULL, "the host refused the request");
}

static void first_place_stored(ah_ctx *ctx, int status, void *ud)
{
    (void)ctx;
    email *e = ud;
    if (status) {
        retry(e, "storing the place", NULL, ah_strerror(status));
        return;
    }
    e->have_state = true;
    e->host->log(e->ctx, AH_LOG_INFO, "watching %s: UIDVALIDITY %u, mail after UID %u", e->mailbox,
                 e->uidvalidity, e->last_uid);
    poll_later(e, e->poll_ms);
}

static void got_status(email *e, const ah_http_response *r, void *ud)
{
    (void)ud;
    if (e->stopping) return;
    if (r->error_code) {
        retry(e, "STATUS", r, NULL);
        return;
    }
    const char *body = r->body ? (const char *)r->body : "";
    uint32_t v = item_of(body, "UIDVALIDITY "), next = item_of(body, "UIDNEXT ");
    if (!v || !next) {
        retry(e, "STATUS", NULL, "no UIDVALIDITY or UIDNEXT in the answer");
        return;
    }
    /* A first start, or a new mailbox: first_start says where to begin. */
    e->uidvalidity = v;
    e->last_uid = e->first_all ? 0 : next - 1;
    json_t *place =
        json_pack("{s:I,s:I}", "uidvalidity", (json_int_t)v, "last_uid", (json_int_t)e->last_uid);
    int rc = e->host->kv_put(e->ctx, "imap", place, first_place_stored, e);
    json_decref(place);
    if (rc) retry(e, "storing the place", NULL, ah_strerror(rc));
}

/* A poll: UID SEARCH in the mailbox (which also makes the server look for
 * new mail: a STATUS of the mailbox a connection has selected may answer
 * what it saw when it selected it); the STATUS only on a first start and
 * before fetching, for UIDVALIDITY. */
static void poll_now(email *e)
{
    if (e->stopping) return;
    if (e->have_state) {
        search(e);
        return;
    }
    if (status_request(e, got_status, NULL))
        retry(e, "STATUS", NULL, "the host refused the request");
}

static void got_place(ah_ctx *ctx, int status, const json_t *value, void *ud)
{
    (void)ctx;
    email *e = ud;
    if (status && status != AH_ENOTFOUND) {
        retry(e, "reading the mailbox's place", NULL, ah_strerror(status));
        return;
    }
    if (!status && json_is_integer(json_object_get(value, "uidvalidity"))) {
        e->uidvalidity = (uint32_t)json_integer_value(json_object_get(value, "uidvalidity"));
        e->last_uid = (uint32_t)json_integer_value(json_object_get(value, "last_uid"));
        e->have_state = true;
        e->host->log(e->ctx, AH_LOG_INFO, "watching %s: UIDVALIDITY %u, mail after UID %u",
                     e->mailbox, e->uidvalidity, e->last_uid);
    }
    poll_now(e);
}

static void created(email *e, const ah_http_response *r, void *ud)
{
    (void)r;
    (void)ud;
    e->host->kv_get(e->ctx, "imap", got_place, e);
}

void em_inbound_start(email *e)
{
    if (e->move_to[0]) { /* the folder, if it is not there yet (an error if it is: ignored) */
        char cmd[200], url[600];
        snprintf(cmd, sizeof(cmd), "CREATE \"%s\"", e->move_to);
        snprintf(url, sizeof(url), "%s/", e->imap_url);
        if (em_request(e, cmd, url, NULL, 0, NULL, false, 0, created, NULL) == 0) return;
    }
    e->host->kv_get(e->ctx, "imap", got_place, e);
}

json_t *em_inbound_status(const email *e)
{
    return json_pack("{s:s,s:b,s:I,s:I,s:I}", "mailbox", e->mailbox, "watching", e->have_state,
                     "uidvalidity", (json_int_t)e->uidvalidity, "last_uid", (json_int_t)e->last_uid,
                     "poll_interval_ms", (json_int_t)e->poll_ms);
}
