/*
 * rt_link.c - one contact across channels (docs/channels.md,
 * Cross-channel; ADR 0044). A continue_in step offered a link code
 * (host/engine/run_continue.c): its hash is in the contact
 * (contact.link_codes), with the channel instance it is for, the
 * conversation that offered it and when it expires. A message on that
 * instance carrying the code (Telegram's "/start CODE", a mail's subject
 * or text) links the sender's identity to the contact, spends the code,
 * and moves the conversation to the sender's chat. A code unknown, spent,
 * expired or for another instance links nothing: refused, logged to
 * security.log, and the message goes on as any other. See rt_priv.h.
 */
#include "runtime/rt_priv.h"

#include "core/log.h"
#include "core/util.h"
#include "model/collections.h"

#include <agenthost/plugin.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- conversations on several chats ------------------------------------------------ */

bool rt_conv_on_chat(const json_t *conv, const char *inst, const char *chat)
{
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(conv, "channels"), i, c)
    {
        const char *ci = str_of(c, "instance"), *cc = str_of(c, "chat_id");
        if (ci && cc && inst && chat && !strcmp(ci, inst) && !strcmp(cc, chat)) return true;
    }
    return false;
}

void rt_conv_move(json_t *conv, const json_t *channel)
{
    json_t *list = json_object_get(conv, "channels");
    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(conv, "channels", list);
        const json_t *was = json_object_get(conv, "channel");
        if (str_of(was, "instance") && str_of(was, "chat_id"))
            json_array_append_new(list, json_deep_copy(was));
    }
    if (!rt_conv_on_chat(conv, str_of(channel, "instance"), str_of(channel, "chat_id")))
        json_array_append_new(list, json_deep_copy(channel));
    while (json_array_size(list) > 20)
        json_array_remove(list, 0);
    json_object_set_new(conv, "channel", json_deep_copy(channel));
}

/* ---- codes -------------------------------------------------------------------------- */

bool rt_link_codes_apply(json_t *contact, const json_t *codes, const char *conv_id, int64_t now)
{
    if (!contact || !json_array_size(codes)) return false;
    json_t *list = json_object_get(contact, "link_codes");
    json_t *kept = json_array();
    size_t i;
    const json_t *c;
    json_array_foreach(list, i, c) if (json_integer_value(json_object_get(c, "expires_ms")) > now)
        json_array_append(kept, (json_t *)c);
    json_array_foreach(codes, i, c)
    {
        json_t *x = json_deep_copy(c);
        if (conv_id) json_object_set_new(x, "conversation_id", json_string(conv_id));
        json_array_append_new(kept, x);
    }
    while (json_array_size(kept) > RT_LINK_CODES_MAX)
        json_array_remove(kept, 0);
    json_object_set_new(contact, "link_codes", kept);
    return true;
}

static void refused(rt_job *j, const char *why)
{
    const json_t *ch = json_object_get(j->msg, "channel");
    json_t *f = json_pack("{s:s,s:s?,s:s?,s:s}", "event", "link_code_refused", "channel",
                          str_of(ch, "kind"), "instance", str_of(ch, "instance"), "why", why);
    log_write("security", LOG_WARN, "engine", NULL, f, "link code refused: %s", why);
    json_decref(f);
}

/* The code a message carries: "/start CODE", else a word of its subject
 * or text. */
static bool code_of(const json_t *msg, char code[RUN_LINK_CODE_LEN + 1])
{
    const json_t *cmd = json_object_get(msg, "command");
    if (str_of(cmd, "name") && !strcmp(str_of(cmd, "name"), "start"))
        return run_link_code_find(str_of(cmd, "args"), code);
    return run_link_code_find(str_of(json_object_get(msg, "email"), "subject"), code) ||
           run_link_code_find(str_of(msg, "text"), code);
}

/* The identity as the contact keeps it: verified (the code proved it). */
static json_t *identity_of(rt_job *j)
{
    json_t *idn = json_pack("{s:O,s:O,s:b}", "channel", json_object_get(j->identity, "channel"),
                            "id", json_object_get(j->identity, "id"), "verified", 1);
    if (str_of(j->identity, "instance"))
        json_object_set(idn, "instance", json_object_get(j->identity, "instance"));
    return idn;
}

/* Drop the identity {channel, id} from contact; its channels recomputed. */
static void drop_identity(json_t *contact, const char *channel, const char *id)
{
    json_t *ids = json_object_get(contact, "identities");
    for (size_t i = json_array_size(ids); i-- > 0;) {
        const json_t *x = json_array_get(ids, i);
        if (str_of(x, "channel") && str_of(x, "id") && !strcmp(str_of(x, "channel"), channel) &&
            !strcmp(str_of(x, "id"), id))
            json_array_remove(ids, i);
    }
    json_t *kinds = json_array();
    size_t i;
    const json_t *x;
    json_array_foreach(ids, i, x)
    {
        bool seen = false;
        size_t k;
        const json_t *y;
        json_array_foreach(kinds, k, y) seen |= !strcmp(json_string_value(y), str_of(x, "channel"));
        if (!seen) json_array_append_new(kinds, json_string(str_of(x, "channel")));
    }
    json_object_set_new(contact, "channels", kinds);
}

/* The code's entry in contact.link_codes, its index; -1 if none. */
static int find_code(const json_t *contact, const char *hex)
{
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(contact, "link_codes"), i, c)
    {
        const char *h = str_of(c, "hash");
        if (h && strlen(h) == 32 && sodium_memcmp(h, hex, 32) == 0) return (int)i;
    }
    return -1;
}

int rt_link_try(doc_txn *t, rt_job *j)
{
    char code[RUN_LINK_CODE_LEN + 1];
    if (!j->msg || !code_of(j->msg, code)) return 0;
    const char *inst = str_of(json_object_get(j->msg, "channel"), "instance");
    const char *kind = str_of(j->identity, "channel"), *who = str_of(j->identity, "id");
    if (!inst || !kind || !who) return 0;
    char contact_id[40], hex[33];
    snprintf(contact_id, sizeof(contact_id), "con_%.26s", code + 1);
    run_link_code_hash(code, hex);
    sodium_memzero(code, sizeof(code));
    json_t *c = NULL;
    uint64_t rev = 0;
    int rc = doc_get(t, COLL_CONTACTS, contact_id, &c, &rev);
    if (rc && rc != AH_ENOTFOUND) return rc;
    int at = rc ? -1 : find_code(c, hex);
    const json_t *entry =
        at >= 0 ? json_array_get(json_object_get(c, "link_codes"), (size_t)at) : NULL;
    const char *why = NULL;
    if (!entry)
        why = "unknown or already used";
    else if (json_integer_value(json_object_get(entry, "expires_ms")) <= doc_txn_now(t))
        why = "expired";
    else if (!str_of(entry, "instance") || strcmp(str_of(entry, "instance"), inst) != 0)
        why = "made for another channel instance";
    if (why) {
        refused(j, why);
        json_decref(c);
        return 0;
    }
    char conv_id[40] = "";
    snprintf(conv_id, sizeof(conv_id), "%s", str_of(entry, "conversation_id") ?: "");
    json_array_remove(json_object_get(c, "link_codes"), (size_t)at); /* spent */

    /* The identity leaves the contact that held it. */
    char hid[65], holder[64] = "";
    contact_identity_hash(doc_txn_docs(t), kind, who, hid);
    json_t *v = json_pack("[s]", hid);
    rc = doc_find(t, COLL_CONTACTS, "by_identity", v, holder, sizeof(holder));
    json_decref(v);
    if (rc && rc != AH_ENOTFOUND) {
        json_decref(c);
        return rc;
    }
    if (!rc && strcmp(holder, contact_id) != 0) {
        rc = doc_get(t, COLL_CONTACTS, holder, &j->unlinked, &j->unlinked_rev);
        if (rc) {
            json_decref(c);
            return rc;
        }
        drop_identity(j->unlinked, kind, who);
    }
    drop_identity(c, kind, who); /* linked again: kept once, verified */
    json_array_append_new(json_object_get(c, "identities"), identity_of(j));
    drop_identity(c, "", ""); /* channels recomputed with it */
    json_decref(j->contact);
    j->contact = c;
    j->contact_rev = rev;
    j->links_changed = true;
    snprintf(j->contact_id, sizeof(j->contact_id), "%s", contact_id);

    /* The conversation that offered the code goes on here, when still
     * open with this agent. */
    json_t *conv = NULL;
    uint64_t crev = 0;
    if (conv_id[0] && doc_get(t, COLL_CONVERSATIONS, conv_id, &conv, &crev) == 0 &&
        str_of(conv, "agent_id") && !strcmp(str_of(conv, "agent_id"), j->agent_id) &&
        str_of(conv, "state") && strcmp(str_of(conv, "state"), "ended") != 0) {
        json_t *ch = json_pack("{s:s,s:s,s:O}", "kind", kind, "instance", inst, "chat_id",
                               json_object_get(json_object_get(j->msg, "chat"), "id"));
        rt_conv_move(conv, ch);
        json_decref(ch);
        json_decref(j->conv);
        j->conv = conv;
        j->conv_rev = crev;
        snprintf(j->conv_id, sizeof(j->conv_id), "%s", conv_id);
        j->link_turn = true;
    } else {
        json_decref(conv);
    }
    json_t *f = json_pack("{s:s,s:s,s:s,s:s,s:s?,s:b}", "event", "identity_linked", "contact_id",
                          contact_id, "channel", kind, "instance", inst, "conversation_id",
                          j->link_turn ? conv_id : NULL, "moved", j->unlinked != NULL);
    log_write("host", LOG_INFO, "engine", NULL, f, "identity linked across channels");
    json_decref(f);
    return 1;
}

/* ---- the link turn ----------------------------------------------------------------- */

/* What the agent last said (not the offer itself), said again on the new
 * chat so that the person sees where the conversation stands. */
void rt_link_turn(rt_job *j)
{
    run_turn *t = &j->turn;
    t->messages = json_array();
    t->events = json_array();
    t->path = json_array();
    const json_t *list = json_object_get(j->conv, "messages");
    for (size_t i = json_array_size(list); i-- > 0;) {
        const json_t *m = json_array_get(list, i);
        if (!str_of(m, "direction") || strcmp(str_of(m, "direction"), "out") != 0) continue;
        const json_t *step =
            json_object_get(json_object_get(j->scenario, "steps"), str_of(m, "step") ?: "");
        if (str_of(step, "kind") && !strcmp(str_of(step, "kind"), "continue_in")) continue;
        json_t *again = json_pack("{s:O?}", "text", json_object_get(m, "text"));
        if (json_object_get(m, "buttons"))
            json_object_set(again, "buttons", json_object_get(m, "buttons"));
        json_array_append_new(t->messages, again);
        break;
    }
}
