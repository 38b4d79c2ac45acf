/*
 * rt_failover.c - an answer its channel refused for good goes out on
 * another channel of the contact (docs/channels.md, Cross-channel; ADR
 * 0044). A channel plugin publishes message.failed when a send cannot
 * ever succeed (Telegram: 403, the bot blocked): {message_id,
 * conversation_id, contact_id, channel {kind, instance}, reason}. The
 * engine's "failover" consumer finds the message in its conversation (the
 * commit named it with its id), picks the contact's next channel in the
 * agent's fallback_channels order (kinds or instances; absent: the
 * contact's other identities, newest first), and in ONE commit settles
 * the delivery, moves the conversation to that chat and publishes the
 * message there again (a new id, the kept copy renamed so a second
 * failure is followed the same way), logged to logs/messages.log with
 * failover_of and the reason. No channel left: logged, acknowledged.
 */
#include "runtime/rt_priv.h"

#include "core/log.h"
#include "core/util.h"
#include "model/collections.h"
#include "model/ids.h"

#include <agenthost/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAILED_TOPIC "message.failed"

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

typedef struct fo {
    runtime *rt;
    uint64_t delivery;
    json_t *ev;   /* the message.failed body */
    json_t *conv; /* read, then changed */
    uint64_t conv_rev;
    json_t *agent, *contact;
    json_t *out;   /* the message.out published */
    json_t *extra; /* messages.log's failover fields */
    doc_op *op;
    char why[300];
} fo;

static void fo_free(void *ud)
{
    fo *f = ud;
    json_decref(f->ev);
    json_decref(f->conv);
    json_decref(f->agent);
    json_decref(f->contact);
    json_decref(f->out);
    json_decref(f->extra);
    free(f);
}

static int read_all(doc_txn *t, void *ud)
{
    fo *f = ud;
    int rc =
        doc_get(t, COLL_CONVERSATIONS, str_of(f->ev, "conversation_id"), &f->conv, &f->conv_rev);
    if (rc) return rc;
    if (doc_get(t, COLL_AGENTS, str_of(f->conv, "agent_id") ?: "", &f->agent, NULL) != 0)
        f->agent = json_object();
    rc = doc_get(t, COLL_CONTACTS, str_of(f->conv, "contact_id") ?: "", &f->contact, NULL);
    return rc == AH_ENOTFOUND ? 0 : rc;
}

static bool listed(const json_t *list, const char *s)
{
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v) if (s && json_is_string(v) &&
                                       !strcmp(json_string_value(v), s)) return true;
    return false;
}

/* The identity to try next: not an instance that refused the message. */
static const json_t *next_identity(fo *f, const json_t *failed)
{
    const json_t *ids = json_object_get(f->contact, "identities");
    const json_t *order = json_object_get(f->agent, "fallback_channels");
    if (json_is_array(order)) {
        size_t i, k;
        const json_t *want, *idn;
        json_array_foreach(order, i, want) json_array_foreach(ids, k, idn)
        {
            const char *inst = str_of(idn, "instance"), *w = json_string_value(want);
            if (!inst || listed(failed, inst) || !w) continue;
            if (!strcmp(w, inst) || !strcmp(w, str_of(idn, "channel") ?: "")) return idn;
        }
        return NULL;
    }
    for (size_t i = json_array_size(ids); i-- > 0;) { /* the newest first */
        const json_t *idn = json_array_get(ids, i);
        if (str_of(idn, "instance") && !listed(failed, str_of(idn, "instance"))) return idn;
    }
    return NULL;
}

static json_t *kept_message(json_t *conv, const char *id)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(conv, "messages"), i,
                       m) if (str_of(m, "id") && !strcmp(str_of(m, "id"), id)) return m;
    return NULL;
}

static void settle(fo *f, const char *level_msg, bool warn)
{
    json_t *l = json_pack("{s:s?,s:s?,s:s}", "message_id", str_of(f->ev, "message_id"),
                          "conversation_id", str_of(f->ev, "conversation_id"), "why", level_msg);
    log_write("host", warn ? LOG_WARN : LOG_INFO, "engine", NULL, l, "failover: %s", level_msg);
    json_decref(l);
    bus_ack(f->rt->d.bus, f->delivery);
    fo_free(f);
}

static int write_conv(doc_txn *t, void *ud)
{
    fo *f = ud;
    char at[40];
    ah_rfc3339_ms(doc_txn_now(t), at, sizeof(at));
    json_object_set_new(f->conv, "updated_at", json_string(at));
    json_object_set_new(f->conv, "updated_by", json_string("engine"));
    return doc_put(t, COLL_CONVERSATIONS, f->conv, f->conv_rev, NULL);
}

static void committed(void *ud, int status, const uint64_t *offsets, const bool *dup, size_t n)
{
    (void)offsets, (void)dup, (void)n;
    fo *f = ud;
    doc_error e = {0};
    docs_op_finish(f->op, status, &e);
    f->op = NULL;
    if (status) { /* the bus delivers it again after its backoff */
        log_write("host", LOG_WARN, "engine", NULL, NULL, "failover of %s not committed: %s",
                  str_of(f->ev, "message_id"), e.message[0] ? e.message : ah_strerror(status));
        fo_free(f);
        return;
    }
    rt_log_message(f->out, "out", str_of(f->conv, "agent_id"), str_of(f->conv, "id"),
                   str_of(f->conv, "contact_id"), f->extra);
    if (f->rt->watch) f->rt->watch(f->rt->watch_ud, str_of(f->conv, "id"), f->conv);
    fo_free(f);
}

static void handle(void *ud)
{
    fo *f = ud;
    runtime *rt = f->rt;
    const char *mid = str_of(f->ev, "message_id"), *cid = str_of(f->ev, "conversation_id");
    const char *inst = str_of(json_object_get(f->ev, "channel"), "instance");
    if (!mid || !cid || !inst || !id_valid(cid, "cnv")) {
        settle(f, "not the shape of message.failed: message_id, conversation_id, channel", true);
        return;
    }
    doc_error e;
    int rc = docs_read(rt->d.docs, read_all, f, &e);
    if (rc == AH_ENOTFOUND) {
        settle(f, "no such conversation", true);
        return;
    }
    if (rc) {
        bus_nack(rt->d.bus, f->delivery, e.message, 1000);
        fo_free(f);
        return;
    }
    json_t *m = kept_message(f->conv, mid);
    if (!m) {
        settle(f, "the message is not in its conversation (an older one, or already followed)",
               true);
        return;
    }
    json_t *info = json_object_get(m, "failover");
    if (!json_is_object(info)) {
        info = json_pack("{s:s,s:[]}", "of", mid, "failed");
        json_object_set_new(m, "failover", info);
    }
    json_t *failed = json_object_get(info, "failed");
    if (!listed(failed, inst)) json_array_append_new(failed, json_string(inst));
    if (str_of(f->ev, "reason")) json_object_set(info, "reason", json_object_get(f->ev, "reason"));
    const json_t *idn = next_identity(f, failed);
    if (!idn) {
        settle(f, "no other channel of the contact to send the answer on", true);
        return;
    }
    json_t *ch = json_pack("{s:O,s:O,s:O}", "kind", json_object_get(idn, "channel"), "instance",
                           json_object_get(idn, "instance"), "chat_id", json_object_get(idn, "id"));
    rt_conv_move(f->conv, ch);
    json_decref(ch);
    char id[40], at[40];
    int64_t now = ah_now_ms();
    id_new("msg", now, id, sizeof(id));
    ah_rfc3339_ms(now, at, sizeof(at));
    json_object_set_new(m, "id", json_string(id));
    f->out =
        rt_outbound(f->conv, str_of(f->conv, "agent_id"), str_of(f->conv, "contact_id"), m, id, at);
    f->extra = json_pack("{s:O,s:s,s:O?}", "failover_of", json_object_get(info, "of"),
                         "failed_instance", inst, "reason", json_object_get(f->ev, "reason"));
    f->op = docs_op_new(rt->d.docs, write_conv, f);
    if (!f->op) {
        bus_nack(rt->d.bus, f->delivery, "out of memory", 1000);
        fo_free(f);
        return;
    }
    bus_msg msg = {.topic = "message.out",
                   .key = str_of(f->conv, "id"),
                   .idempotency_key = id,
                   .body = f->out};
    bus_commit_req req = {
        .settle = f->delivery, .msgs = &msg, .n = 1, .apply = docs_op_apply, .apply_arg = f->op};
    char err[300] = "";
    rc = bus_commit(rt->d.bus, &req, committed, f, err, sizeof(err));
    if (rc) {
        docs_op_finish(f->op, rc, NULL);
        f->op = NULL;
        log_write("host", LOG_WARN, "engine", NULL, NULL, "failover of %s: %s", mid, err);
        bus_nack(rt->d.bus, f->delivery, err, 1000);
        fo_free(f);
    }
}

static int deliver(void *ud, const bus_delivery *d)
{
    runtime *rt = ud;
    if (rt->stopped) return -1;
    fo *f = calloc(1, sizeof(*f));
    if (!f) return -1;
    f->rt = rt;
    f->delivery = d->id;
    f->ev = json_is_object(d->body) ? json_deep_copy(d->body) : json_object();
    if (rt_soon(rt, handle, fo_free, f) != 0) {
        fo_free(f);
        return -1;
    }
    return 0;
}

static const bus_consumer_ops OPS = {.deliver = deliver};

int rt_failover_open(runtime *rt, char *err, size_t errlen)
{
    static const char *const patterns[] = {FAILED_TOPIC};
    bus_consumer_opts co = {.name = "failover",
                            .patterns = patterns,
                            .npatterns = 1,
                            .start = BUS_START_EARLIEST,
                            .max_in_flight = 16,
                            .ack_timeout_ms = 60000};
    int rc = bus_consumer_open(rt->d.bus, &co, &OPS, rt, &rt->failover, err, errlen);
    if (rc) return rc;
    bus_consumer_attach(rt->failover);
    return 0;
}

void rt_failover_close(runtime *rt)
{
    if (rt->failover) bus_consumer_detach(rt->failover, NULL);
}
