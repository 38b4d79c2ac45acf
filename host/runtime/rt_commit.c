/*
 * rt_commit.c - a turn's outcome as ONE transaction (bus_commit): the
 * input's delivery settled, the conversation (and a new or seen contact)
 * written, the replies published on message.out and the platform's events
 * on platform.conversation and platform.contact. See rt_priv.h.
 */
#include "runtime/rt_priv.h"

#include "core/fault.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "model/collections.h"
#include "model/experiments.h"
#include "model/ids.h"

#include <agenthost/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEEN_EVERY_MS 60000 /* a contact's last_seen_at is written at most once a minute */

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void stamp(json_t *doc, bool created, int64_t now)
{
    char buf[40];
    ah_rfc3339_ms(now, buf, sizeof(buf));
    if (created) {
        json_object_set_new(doc, "created_at", json_string(buf));
        json_object_set_new(doc, "created_by", json_string("engine"));
    }
    json_object_set_new(doc, "updated_at", json_string(buf));
    json_object_set_new(doc, "updated_by", json_string("engine"));
}

/* Whether the contact needs writing: new, or last seen a while ago. */
static bool contact_due(rt_job *j)
{
    if (j->new_contact || j->profile_changed || j->links_changed) return true;
    if (!j->contact || !j->contact_rev || j->kind != JOB_MESSAGE) return false;
    const char *was = str_of(j->contact, "updated_at");
    int64_t at = 0;
    return !was || !ah_parse_time(was, &at) || j->turn.now_ms - at >= SEEN_EVERY_MS;
}

static int write_docs(doc_txn *t, void *ud)
{
    rt_job *j = ud;
    int64_t now = doc_txn_now(t);
    int rc = 0;
    if (j->unlinked) { /* first: an identity is one contact's at a time (by_identity) */
        stamp(j->unlinked, false, now);
        rc = doc_put(t, COLL_CONTACTS, j->unlinked, j->unlinked_rev, NULL);
    }
    if (!rc && contact_due(j)) {
        stamp(j->contact, j->new_contact, now);
        rc = doc_put(t, COLL_CONTACTS, j->contact, j->contact_rev, NULL);
    }
    if (!rc && j->ended) { /* a command restarted the chat: the open conversation ends */
        char at[40];
        ah_rfc3339_ms(now, at, sizeof(at));
        json_object_set_new(j->ended, "state", json_string("ended"));
        json_object_set_new(j->ended, "outcome", json_string("restarted"));
        json_object_set_new(j->ended, "ended_at", json_string(at));
        json_object_set_new(j->ended, "wake_at", json_null());
        json_object_del(json_object_get(j->ended, "engine"), "timer");
        stamp(j->ended, false, now);
        if (!j->ended_exp_base)
            j->ended_exp_base = json_deep_copy(json_object_get(j->ended, "experiment"));
        rc = experiment_count_turn(t, j->ended_exp_base, j->ended, false, NULL);
        if (!rc) rc = doc_put(t, COLL_CONVERSATIONS, j->ended, j->ended_rev, NULL);
    }
    /* Its A/B test's counters, in the same commit (experiments.h). */
    if (!j->exp_base) j->exp_base = json_deep_copy(json_object_get(j->conv, "experiment"));
    if (!rc) rc = experiment_count_turn(t, j->exp_base, j->conv, j->new_conv, j->turn.path);
    if (rc) return rc;
    const json_t *timer = json_object_get(json_object_get(j->conv, "engine"), "timer");
    const json_t *due = json_object_get(timer, "due_ms");
    json_object_set_new(j->conv, "wake_at",
                        json_is_integer(due) ? json_incref((json_t *)due) : json_null());
    stamp(j->conv, j->new_conv, now);
    return doc_put(t, COLL_CONVERSATIONS, j->conv, j->conv_rev, NULL);
}

/* ---- what is published ------------------------------------------------------------- */

static const char *attachment_kind(const char *mime)
{
    if (!mime) return "document";
    static const char *const kinds[] = {"image", "audio", "video"};
    for (size_t i = 0; i < 3; i++)
        if (!strncmp(mime, kinds[i], strlen(kinds[i])) && mime[strlen(kinds[i])] == '/')
            return kinds[i];
    return "document";
}

/* A message the turn sent, as message.out (docs/channels.md). */
json_t *rt_outbound(const json_t *conv, const char *agent_id, const char *contact_id,
                    const json_t *m, const char *id, const char *at)
{
    const json_t *ch = json_object_get(m, "channel"); /* continue_in's mail */
    if (!json_is_object(ch)) ch = json_object_get(conv, "channel");
    const char *kind = str_of(ch, "kind"), *inst = str_of(ch, "instance");
    const char *chat = str_of(ch, "chat_id");
    json_t *o = json_pack("{s:i,s:s,s:s,s:s,s:{s:s,s:s},s:s,s:s,s:s,s:s,s:{s:s}}", "event_version",
                          1, "id", id, "direction", "out", "kind", "message", "channel", "kind",
                          kind ? kind : "api", "instance", inst ? inst : "api", "agent_id",
                          agent_id, "conversation_id", str_of(conv, "id"), "contact_id", contact_id,
                          "at", at, "chat", "id", chat ? chat : contact_id);
    if (json_is_object(json_object_get(m, "email")))
        json_object_set(o, "email", json_object_get(m, "email"));
    const char *lang = str_of(conv, "language");
    if (lang) json_object_set_new(o, "language", json_string(lang));
    const char *text = str_of(m, "text");
    if (text && *text) json_object_set_new(o, "text", json_string(text));
    const json_t *buttons = json_object_get(m, "buttons");
    if (json_array_size(buttons)) {
        json_t *rows = json_array();
        size_t i;
        const json_t *b;
        json_array_foreach(buttons, i, b)
        {
            json_t *btn = json_pack("{s:O}", "text", json_object_get(b, "label"));
            if (str_of(b, "url"))
                json_object_set(btn, "url", json_object_get(b, "url"));
            else if (str_of(b, "payload"))
                json_object_set(btn, "action", json_object_get(b, "payload"));
            else
                json_object_set_new(
                    btn, "action",
                    json_stringn(str_of(b, "label"), strnlen(str_of(b, "label"), 64)));
            json_array_append_new(rows, json_pack("[o]", btn));
        }
        json_object_set_new(o, "keyboard", json_pack("{s:s,s:o}", "type", "inline", "rows", rows));
    }
    const json_t *att = json_object_get(m, "attachments");
    if (json_array_size(att)) {
        json_t *list = json_array();
        size_t i;
        const json_t *a;
        json_array_foreach(att, i, a)
        {
            json_t *x = json_pack("{s:s,s:O}", "kind", attachment_kind(str_of(a, "mime_type")),
                                  "url", json_object_get(a, "url"));
            if (str_of(a, "name")) json_object_set(x, "name", json_object_get(a, "name"));
            if (str_of(a, "mime_type"))
                json_object_set(x, "mime_type", json_object_get(a, "mime_type"));
            json_array_append_new(list, x);
        }
        json_object_set_new(o, "attachments", list);
    }
    return o;
}

static json_t *started_event(rt_job *j, const char *at)
{
    const json_t *ch = json_object_get(j->conv, "channel");
    json_t *trigger = j->trigger ? json_incref(j->trigger) : json_pack("{s:s}", "kind", "api");
    json_t *e = json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:{s:s,s:s},s:O,s:o}", "type",
                          "conversation.started", "event_version", 1, "at", at, "conversation_id",
                          j->conv_id, "agent_id", j->agent_id, "contact_id", j->contact_id,
                          "channel", "kind", str_of(ch, "kind") ? str_of(ch, "kind") : "api",
                          "instance", str_of(ch, "instance") ? str_of(ch, "instance") : "api",
                          "scenario", json_object_get(j->conv, "scenario"), "trigger", trigger);
    const char *lang = str_of(j->conv, "language");
    if (lang) json_object_set_new(e, "language", json_string(lang));
    return e;
}

static json_t *contact_event(rt_job *j, const char *at)
{
    json_t *e = json_pack("{s:s,s:i,s:s,s:s,s:s}", "type", "contact.created", "event_version", 1,
                          "at", at, "contact_id", j->contact_id, "source",
                          j->kind == JOB_MESSAGE ? "channel" : "api");
    const json_t *ch = json_object_get(j->conv, "channel");
    if (j->kind == JOB_MESSAGE && str_of(ch, "kind") && str_of(ch, "instance"))
        json_object_set_new(e, "channel",
                            json_pack("{s:O,s:O}", "kind", json_object_get(ch, "kind"), "instance",
                                      json_object_get(ch, "instance")));
    return e;
}

/* The conversation's copy of message m (the same seq) takes its id: a
 * message.failed names it (rt_failover.c). */
static void name_kept(json_t *conv, const json_t *m, const char *id)
{
    const json_t *seq = json_object_get(m, "seq");
    if (!json_is_integer(seq)) return;
    json_t *list = json_object_get(conv, "messages");
    for (size_t i = json_array_size(list); i-- > 0;) {
        json_t *k = json_array_get(list, i);
        if (json_equal(json_object_get(k, "seq"), seq)) {
            json_object_set_new(k, "id", json_string(id));
            return;
        }
    }
}

/* Everything to publish, as {topic, key, idempotency_key, body}. */
static json_t *outgoing(rt_job *j)
{
    json_t *all = json_array();
    char at[40], id[40], idem[96];
    ah_rfc3339_ms(j->turn.now_ms, at, sizeof(at));
    unsigned long long rev = (unsigned long long)j->conv_rev + 1;
    int n = 0;
#define PLATFORM(topic, key, body)                                                                 \
    do {                                                                                           \
        snprintf(idem, sizeof(idem), "%s:r%llu:%d", key, rev, n++);                                \
        json_array_append_new(all, json_pack("{s:s,s:s,s:s,s:o}", "topic", topic, "key", key,      \
                                             "idempotency_key", idem, "body", body));              \
    } while (0)
    if (j->new_contact) PLATFORM("platform.contact", j->contact_id, contact_event(j, at));
    if (j->profile_changed && !j->new_contact) {
        json_t *e = json_pack("{s:s,s:i,s:s,s:s,s:I,s:[s],s:s}", "type", "contact.updated",
                              "event_version", 1, "at", at, "contact_id", j->contact_id, "revision",
                              (json_int_t)j->contact_rev + 1, "changed", "profile", "by", "engine");
        const json_t *links = json_object_get(j->contact, "links");
        if (json_array_size(links)) json_object_set(e, "links", (json_t *)links);
        PLATFORM("platform.contact", j->contact_id, e);
    }
    if (j->new_conv) PLATFORM("platform.conversation", j->conv_id, started_event(j, at));
    j->sent = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(j->turn.messages, i, m)
    {
        id_new("msg", j->turn.now_ms, id, sizeof(id));
        json_t *body = rt_outbound(j->conv, j->agent_id, j->contact_id, m, id, at);
        name_kept(j->conv, m, id);
        json_array_append_new(j->sent, json_incref(body));
        json_array_append_new(all, json_pack("{s:s,s:s,s:s,s:o}", "topic", "message.out", "key",
                                             j->conv_id, "idempotency_key", id, "body", body));
    }
    json_t *e;
    json_array_foreach(j->turn.events, i, e)
    {
        const char *topic = str_of(e, "topic");
        if (!strncmp(topic, "platform.",
                     9)) { /* keyed by the turn's choice, else the conversation */
            const char *key = str_of(e, "key") ? str_of(e, "key") : j->conv_id;
            PLATFORM(topic, key, json_incref(json_object_get(e, "body")));
        } else {
            json_array_append_new(all, json_pack("{s:s,s:s,s:O}", "topic", topic, "key", j->conv_id,
                                                 "body", json_object_get(e, "body")));
        }
    }
#undef PLATFORM
    /* The turn as it ran, for its replay (rt_record.c). */
    snprintf(idem, sizeof(idem), "%s:r%llu:turn", j->conv_id, rev);
    json_array_append_new(all,
                          json_pack("{s:s,s:s,s:s,s:o}", "topic", RT_TURNS_TOPIC, "key", j->conv_id,
                                    "idempotency_key", idem, "body", rt_record_turn(j, at)));
    return all;
}

/* ---- the commit ------------------------------------------------------------------------ */

/* One line of logs/messages.log for a message in or out: its ids, channel,
 * direction and size; the text only with debug logging on. */
void rt_log_message(const json_t *m, const char *direction, const char *agent_id,
                    const char *conv_id, const char *contact_id, const json_t *extra)
{
    const json_t *ch = json_object_get(m, "channel");
    const char *text = str_of(m, "text");
    json_t *f =
        json_pack("{s:s,s:s?,s:s?,s:s?,s:s,s:s,s:s,s:I,s:I}", "direction", direction, "message_id",
                  str_of(m, "id"), "channel", str_of(ch, "kind"), "instance",
                  str_of(ch, "instance"), "agent_id", agent_id, "conversation_id", conv_id,
                  "contact_id", contact_id, "size", (json_int_t)(text ? strlen(text) : 0),
                  "attachments", (json_int_t)json_array_size(json_object_get(m, "attachments")));
    if (json_is_object(extra)) json_object_update(f, (json_t *)extra);
    if (log_enabled(LOG_DEBUG) && text) json_object_set_new(f, "text", json_string(text));
    log_write("messages", LOG_INFO, "engine", NULL, f, "message %s", direction);
    json_decref(f);
}

static void log_message(rt_job *j, const json_t *m, const char *direction)
{
    rt_log_message(m, direction, j->agent_id, j->conv_id, j->contact_id, NULL);
}

static void told_after(rt_job *j)
{
    if (j->kind == JOB_MESSAGE && j->msg) log_message(j, j->msg, "in");
    size_t i;
    const json_t *m;
    json_array_foreach(j->sent, i, m) log_message(j, m, "out");
    char labels[200];
    if (j->new_conv) {
        metrics_labels(labels, sizeof(labels), "agent", j->agent_id, NULL);
        metrics_counter_add("agenthost_engine_conversations_started_total", labels, 1);
        json_t *f = json_pack("{s:s,s:s,s:s,s:O?,s:O?}", "agent_id", j->agent_id, "conversation_id",
                              j->conv_id, "contact_id", j->contact_id, "scenario",
                              json_object_get(j->conv, "scenario"), "trigger", j->trigger);
        log_write("agent_launch", LOG_INFO, "engine", NULL, f, "conversation started");
        json_decref(f);
    }
    if (j->stop == RUN_ENDED) {
        const char *outcome = str_of(j->conv, "outcome");
        metrics_labels(labels, sizeof(labels), "agent", j->agent_id, "outcome",
                       outcome ? outcome : "-", NULL);
        metrics_counter_add("agenthost_engine_conversations_ended_total", labels, 1);
    }
}

static void committed(void *ud, int status, const uint64_t *offsets, const bool *dup, size_t n)
{
    (void)offsets, (void)dup, (void)n;
    rt_job *j = ud;
    doc_error e = {0};
    docs_op_finish(j->op, status, &e);
    j->op = NULL;
    j->delivery = 0; /* settled, or retried by the bus after a failed commit */
    if (status) {
        rt_finish(j, status, status == AH_ECONFLICT ? "conflict" : "unavailable",
                  e.message[0] ? e.message : ah_strerror(status));
        return;
    }
    AH_FAULT("engine.after_commit"); /* written, nobody told yet */
    told_after(j);
    if (j->rt->watch && j->conv) j->rt->watch(j->rt->watch_ud, j->conv_id, j->conv);
    rt_finish(j, 0, NULL, NULL);
}

/* The profile fields the turn set (contact.* targets) into the contact. */
static void apply_profile(rt_job *j)
{
    if (!j->turn.profile || !j->contact) return;
    json_t *profile = json_object_get(j->contact, "profile");
    if (!json_is_object(profile))
        json_object_set_new(j->contact, "profile", profile = json_object());
    json_t *before = json_deep_copy(profile);
    run_profile_apply(profile, j->turn.profile);
    j->profile_changed = !json_equal(before, profile);
    json_decref(before);
}

void rt_commit(rt_job *j)
{
    runtime *rt = j->rt;
    apply_profile(j);
    if (j->contact) j->links_changed |= run_links_apply(j->contact, j->turn.links);
    j->links_changed |=
        rt_link_codes_apply(j->contact, j->turn.link_codes, j->conv_id, j->turn.now_ms);
    json_t *out = outgoing(j);
    size_t n = json_array_size(out);
    bus_msg *msgs = calloc(n ? n : 1, sizeof(*msgs));
    j->op = docs_op_new(rt->d.docs, write_docs, j);
    if (!msgs || !j->op) {
        free(msgs);
        json_decref(out);
        if (j->op) docs_op_finish(j->op, AH_ENOMEM, NULL);
        j->op = NULL;
        rt_fail(j, true, AH_ENOMEM, "unavailable", "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(out, i);
        msgs[i] = (bus_msg){.topic = str_of(x, "topic"),
                            .key = str_of(x, "key"),
                            .idempotency_key = str_of(x, "idempotency_key"),
                            .body = json_object_get(x, "body")};
    }
    AH_FAULT("engine.before_commit"); /* decided, nothing written */
    bus_commit_req req = {
        .settle = j->delivery, .msgs = msgs, .n = n, .apply = docs_op_apply, .apply_arg = j->op};
    char err[300] = "";
    int rc = bus_commit(rt->d.bus, &req, committed, j, err, sizeof(err));
    free(msgs);
    json_decref(out);
    if (rc) {
        docs_op_finish(j->op, rc, NULL);
        j->op = NULL;
        /* Not taken: nothing written; the input comes back later. */
        rt_fail(j, true, rc, "unavailable", "committing the turn: %s", err);
    }
}
