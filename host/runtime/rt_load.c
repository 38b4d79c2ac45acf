/*
 * rt_load.c - what a turn needs, read in one snapshot: the agent (bound
 * to the channel instance, or named), the contact (found by its identity,
 * or new), the conversation (the contact's open one with the agent on that
 * chat, or new), and the scenario version it runs (cached: versions never
 * change). See rt_priv.h.
 */
#include "runtime/rt_priv.h"

#include "core/util.h"
#include "engine/lang.h"
#include "model/collections.h"
#include "model/experiments.h"
#include "model/ids.h"

#include <agenthost/plugin.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCENARIO_CACHE_MAX 256

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Why a job cannot run: dropped (nothing to do for it: acknowledged), or
 * to retry (the store failed: delivered again). */
typedef struct load {
    rt_job *j;
    bool drop;
    int code;
    char why[400];
} load;

static int refuse(doc_txn *t, load *l, bool drop, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int refuse(doc_txn *t, load *l, bool drop, int code, const char *fmt, ...)
{
    (void)t;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->why, sizeof(l->why), fmt, ap);
    va_end(ap);
    l->drop = drop;
    l->code = code;
    return code;
}

/* ---- scenarios ------------------------------------------------------------------- */

static void cache_put(runtime *rt, const char *key, json_t *content)
{
    /* A new conversation reads its agent's latest version without looking
     * here first (it does not know the number yet): the copy cached holds,
     * versions never change. */
    if (strmap_get(&rt->scenarios, key)) return;
    if (rt->nscenarios >= SCENARIO_CACHE_MAX) { /* forget them all: a rare, cheap refill */
        size_t pos = 0;
        const char *k;
        void *v;
        while (strmap_next(&rt->scenarios, &pos, &k, &v))
            json_decref(v);
        strmap_free(&rt->scenarios);
        strmap_init(&rt->scenarios);
        rt->nscenarios = 0;
    }
    if (strmap_put(&rt->scenarios, key, json_incref(content)) == 0)
        rt->nscenarios++;
    else
        json_decref(content);
}

/* The content of scenario_id's version (0: the latest); *version set. */
static const json_t *scenario_in(doc_txn *t, runtime *rt, const char *scenario_id,
                                 json_int_t *version, char *err, size_t errlen)
{
    char key[120];
    if (*version > 0) {
        snprintf(key, sizeof(key), "%s:%lld", scenario_id, (long long)*version);
        const json_t *c = strmap_get(&rt->scenarios, key);
        if (c) return c;
    }
    json_t *vals =
        *version > 0 ? json_pack("[s,I]", scenario_id, *version) : json_pack("[s]", scenario_id);
    char id[64];
    int rc = doc_first_id(t, COLL_SCENARIO_VERSIONS, "by_number", vals, true, id, sizeof(id));
    json_decref(vals);
    json_t *doc = NULL;
    if (rc == 0) rc = doc_get(t, COLL_SCENARIO_VERSIONS, id, &doc, NULL);
    if (rc < 0 || !doc) {
        snprintf(err, errlen, "scenario %s has no version %lld", scenario_id, (long long)*version);
        json_decref(doc);
        return NULL;
    }
    *version = json_integer_value(json_object_get(doc, "number"));
    snprintf(key, sizeof(key), "%s:%lld", scenario_id, (long long)*version);
    cache_put(rt, key, json_object_get(doc, "content"));
    json_decref(doc);
    return strmap_get(&rt->scenarios, key);
}

typedef struct scn_read {
    runtime *rt;
    const char *id;
    json_int_t version;
    const json_t *content;
    char err[300];
} scn_read;

static int read_scenario(doc_txn *t, void *ud)
{
    scn_read *r = ud;
    r->content = scenario_in(t, r->rt, r->id, &r->version, r->err, sizeof(r->err));
    return r->content ? 0 : AH_ENOTFOUND;
}

const json_t *rt_scenario(runtime *rt, const char *scenario_id, json_int_t *version, char *err,
                          size_t errlen)
{
    scn_read r = {.rt = rt, .id = scenario_id, .version = *version};
    doc_error e;
    if (docs_read(rt->d.docs, read_scenario, &r, &e) != 0) {
        snprintf(err, errlen, "%s", r.err[0] ? r.err : e.message);
        return NULL;
    }
    *version = r.version;
    return r.content;
}

/* The version a new conversation with agent runs: {scenario_id, version},
 * the A/B split decided by the contact (the same contact, the same
 * variant); *variant set to it when the split chose. */
static json_t *pick_version(const json_t *agent, const char *contact_id, json_int_t *variant)
{
    *variant = 0;
    const json_t *s = json_object_get(agent, "scenario");
    const char *id = str_of(s, "scenario_id");
    if (!id) return NULL;
    json_int_t version = json_integer_value(json_object_get(s, "version"));
    const json_t *split = json_object_get(s, "split");
    if (json_array_size(split)) {
        uint8_t h[8];
        crypto_generichash(h, sizeof(h), (const uint8_t *)contact_id, strlen(contact_id), NULL, 0);
        unsigned point = (unsigned)(((uint32_t)h[0] << 8 | h[1]) % 100), acc = 0;
        size_t i;
        const json_t *part;
        json_array_foreach(split, i, part)
        {
            acc += (unsigned)json_integer_value(json_object_get(part, "percent"));
            if (point < acc) {
                version = *variant = json_integer_value(json_object_get(part, "version"));
                break;
            }
        }
    }
    return json_pack("{s:s,s:I}", "scenario_id", id, "version", version);
}

/* ---- the agent ----------------------------------------------------------------------- */

static int load_agent(doc_txn *t, load *l, const char *inst)
{
    rt_job *j = l->j;
    char id[64] = "";
    int rc = 0;
    if (j->agent_id[0]) {
        snprintf(id, sizeof(id), "%s", j->agent_id);
        if (!id_valid(id, "agt")) { /* a trigger names agents by name too */
            json_t *v = json_pack("[s]", j->agent_id);
            rc = doc_find(t, COLL_AGENTS, "by_name", v, id, sizeof(id));
            json_decref(v);
        }
    } else if (inst) {
        json_t *v = json_pack("[s]", inst);
        rc = doc_find(t, COLL_AGENTS, "by_channel", v, id, sizeof(id));
        json_decref(v);
        if (rc == AH_ENOTFOUND)
            return refuse(t, l, true, AH_ENOTFOUND, "no agent is bound to channel instance %s",
                          inst);
    }
    if (!rc) rc = doc_get(t, COLL_AGENTS, id, &j->agent, NULL);
    if (rc == AH_ENOTFOUND)
        return refuse(t, l, true, rc, "no agent %s", j->agent_id[0] ? j->agent_id : id);
    if (rc) return refuse(t, l, false, rc, "reading the agent: %s", ah_strerror(rc));
    snprintf(j->agent_id, sizeof(j->agent_id), "%s", id);
    const char *status = str_of(j->agent, "status");
    if (status && strcmp(status, "active") != 0)
        return refuse(t, l, true, AH_EDENIED, "agent %s is %s", id, status);
    return 0;
}

/* ---- the contact ------------------------------------------------------------------------- */

static int load_contact(doc_txn *t, load *l)
{
    rt_job *j = l->j;
    const char *given = str_of(j->identity, "contact_id");
    const char *channel = str_of(j->identity, "channel"), *who = str_of(j->identity, "id");
    char id[64] = "";
    int rc = AH_ENOTFOUND;
    if (given) {
        snprintf(id, sizeof(id), "%s", given);
        rc = 0;
    } else if (channel && who) {
        char hex[65];
        contact_identity_hash(doc_txn_docs(t), channel, who, hex);
        json_t *v = json_pack("[s]", hex);
        rc = doc_find(t, COLL_CONTACTS, "by_identity", v, id, sizeof(id));
        json_decref(v);
    }
    if (!rc) rc = doc_get(t, COLL_CONTACTS, id, &j->contact, &j->contact_rev);
    if (rc == AH_ENOTFOUND && given) return refuse(t, l, true, rc, "no contact %s", given);
    if (rc && rc != AH_ENOTFOUND)
        return refuse(t, l, false, rc, "reading the contact: %s", ah_strerror(rc));
    int64_t now = doc_txn_now(t);
    if (rc == AH_ENOTFOUND) {
        id_new("con", now, id, sizeof(id));
        j->contact = json_pack("{s:s,s:[],s:[],s:{},s:{},s:[]}", "id", id, "identities", "channels",
                               "profile", "consent", "tags");
        if (channel && who) {
            json_t *idn = json_pack("{s:s,s:s}", "channel", channel, "id", who);
            if (str_of(j->identity, "instance"))
                json_object_set(idn, "instance", json_object_get(j->identity, "instance"));
            json_array_append_new(json_object_get(j->contact, "identities"), idn);
            json_array_append_new(json_object_get(j->contact, "channels"), json_string(channel));
        }
        json_t *profile = json_object_get(j->contact, "profile");
        if (str_of(j->identity, "name"))
            json_object_set(profile, "name", json_object_get(j->identity, "name"));
        if (str_of(j->identity, "language"))
            json_object_set(profile, "language", json_object_get(j->identity, "language"));
        ah_json_set_time(j->contact, "first_seen_at", now);
        j->new_contact = true;
        j->contact_rev = 0;
    }
    ah_json_set_time(j->contact, "last_seen_at", now);
    snprintf(j->contact_id, sizeof(j->contact_id), "%s", id);
    return 0;
}

/* ---- the conversation -------------------------------------------------------------------- */

typedef struct open_conv {
    doc_txn *t;
    const char *instance, *chat;
    json_t *doc;
    uint64_t rev;
    int rc;
    json_int_t seq; /* the newest's message_seq on this chat, open or ended */
} open_conv;

/* The newest conversation of the agent with the contact: still open on
 * this chat, or none. */
static int newest(void *ud, const char *id)
{
    open_conv *o = ud;
    json_t *doc = NULL;
    uint64_t rev = 0;
    o->rc = doc_get(o->t, COLL_CONVERSATIONS, id, &doc, &rev);
    if (o->rc) return 1;
    const json_t *ch = json_object_get(doc, "channel");
    const char *state = str_of(doc, "state");
    bool same = (!o->instance ||
                 (str_of(ch, "instance") && !strcmp(str_of(ch, "instance"), o->instance))) &&
                (!o->chat || (str_of(ch, "chat_id") && !strcmp(str_of(ch, "chat_id"), o->chat)));
    /* A conversation that moved across channels (rt_link.c) goes on from
     * any of its chats. */
    same |= rt_conv_on_chat(doc, o->instance, o->chat);
    if (same) o->seq = json_integer_value(json_object_get(doc, "message_seq"));
    if (same && state && strcmp(state, "ended") != 0) {
        o->doc = doc;
        o->rev = rev;
    } else {
        json_decref(doc);
    }
    return 1;
}

static int new_conversation(doc_txn *t, load *l, const json_t *channel)
{
    rt_job *j = l->j;
    json_int_t variant = 0;
    json_t *ref = pick_version(j->agent, j->contact_id, &variant);
    if (!ref) return refuse(t, l, true, AH_ENOTFOUND, "agent %s has no scenario", j->agent_id);
    char exp[ID_MAX];
    int rc = variant ? experiment_running(t, j->agent_id, exp, sizeof(exp)) : AH_ENOTFOUND;
    if (rc && rc != AH_ENOTFOUND) {
        json_decref(ref);
        return refuse(t, l, false, rc, "reading the agent's experiment: %s", ah_strerror(rc));
    }
    int64_t now = doc_txn_now(t);
    id_new("cnv", now, j->conv_id, sizeof(j->conv_id));
    /* The language: the contact's profile, then the channel's hint (the
     * client's language); else the text, once the scenario is known
     * (conversation_language). */
    const char *lang = str_of(json_object_get(j->contact, "profile"), "language");
    if (!lang) lang = str_of(j->identity, "language");
    j->conv = json_pack("{s:s,s:s,s:s,s:s,s:o,s:O,s:o,s:[]}", "id", j->conv_id, "agent_id",
                        j->agent_id, "contact_id", j->contact_id, "state", "active", "scenario",
                        ref, "channel", channel ? channel : json_object(), "variables",
                        j->vars ? json_deep_copy(j->vars) : json_object(), "messages");
    if (lang) json_object_set_new(j->conv, "language", json_string(lang));
    if (!rc) /* counted into its experiment turn by turn (rt_commit.c) */
        json_object_set_new(
            j->conv, "experiment",
            json_pack("{s:s,s:I,s:[],s:n}", "id", exp, "version", variant, "seen", "at"));
    ah_json_set_time(j->conv, "started_at", now);
    j->new_conv = true;
    j->conv_rev = 0;
    return 0;
}

/* A new conversation neither the profile nor the channel gave a language:
 * its first message's, among the scenario's languages (lang_detect), else
 * the agent's default (else the scenario's, at run time). */
static void conversation_language(rt_job *j)
{
    const char *lang =
        lang_detect(str_of(j->input, "text"), json_object_get(j->scenario, "languages"));
    if (!lang) lang = str_of(j->agent, "default_language");
    if (lang) json_object_set_new(j->conv, "language", json_string(lang));
}

static int load_scenario_of(doc_txn *t, load *l)
{
    rt_job *j = l->j;
    const json_t *active = json_object_get(json_object_get(j->conv, "engine"), "active");
    const json_t *ref = json_object_get(active ? active : j->conv, "scenario");
    const char *id = str_of(ref, "scenario_id");
    json_int_t version = json_integer_value(json_object_get(ref, "version"));
    char err[300] = "";
    const json_t *c = id ? scenario_in(t, j->rt, id, &version, err, sizeof(err)) : NULL;
    if (!c)
        return refuse(t, l, true, AH_ENOTFOUND, "conversation %s: %s", j->conv_id,
                      err[0] ? err : "it runs no scenario");
    if (j->new_conv) /* the latest, when the agent names none: now it is fixed */
        json_object_set_new(json_object_get(j->conv, "scenario"), "version", json_integer(version));
    j->scenario = json_incref((json_t *)c);
    if (j->new_conv && !str_of(j->conv, "language")) conversation_language(j);
    return 0;
}

/* ---- by kind -----------------------------------------------------------------------------------
 */

static int load_existing(doc_txn *t, load *l)
{
    rt_job *j = l->j;
    int rc = doc_get(t, COLL_CONVERSATIONS, j->conv_id, &j->conv, &j->conv_rev);
    if (rc == AH_ENOTFOUND) return refuse(t, l, true, rc, "no conversation %s", j->conv_id);
    if (rc) return refuse(t, l, false, rc, "reading the conversation: %s", ah_strerror(rc));
    snprintf(j->agent_id, sizeof(j->agent_id), "%s", str_of(j->conv, "agent_id"));
    json_t *agent = NULL;
    if (doc_get(t, COLL_AGENTS, j->agent_id, &agent, NULL) == 0) j->agent = agent;
    const char *cid = str_of(j->conv, "contact_id");
    if (cid && doc_get(t, COLL_CONTACTS, cid, &j->contact, &j->contact_rev) == 0)
        snprintf(j->contact_id, sizeof(j->contact_id), "%s", cid);
    if (j->kind == JOB_TIMER) {
        const json_t *due = json_object_get(j->conv, "wake_at");
        if (!json_is_integer(due) || json_integer_value(due) > doc_txn_now(t))
            return refuse(t, l, true, AH_ENOTFOUND, "conversation %s has no timer due", j->conv_id);
    }
    return load_scenario_of(t, l);
}

/* ---- on_command triggers -------------------------------------------------------------- */

typedef struct cmd_find {
    doc_txn *t;
    const char *name, *instance;
    json_t *found;
} cmd_find;

static int cmd_one(void *ud, const char *id)
{
    cmd_find *f = ud;
    json_t *doc = NULL;
    if (doc_get(f->t, COLL_TRIGGERS, id, &doc, NULL) != 0) return 0;
    const json_t *c = json_object_get(doc, "command");
    const char *kind = str_of(doc, "kind"), *name = str_of(c, "name");
    bool ok = kind && !strcmp(kind, "on_command") &&
              !json_is_false(json_object_get(doc, "enabled")) && name && !strcmp(name + 1, f->name);
    const json_t *only = json_object_get(c, "channels");
    if (ok && json_array_size(only)) {
        bool listed = false;
        size_t i;
        const json_t *ch;
        json_array_foreach(only, i, ch) listed |=
            f->instance && json_is_string(ch) && !strcmp(json_string_value(ch), f->instance);
        ok = listed;
    }
    if (!ok) {
        json_decref(doc);
        return 0;
    }
    f->found = doc;
    return 1;
}

/* The agent's on_command trigger for the message's command, or NULL. */
static json_t *command_trigger(doc_txn *t, const char *agent, const json_t *cmd, const char *inst)
{
    if (!str_of(cmd, "name")) return NULL;
    cmd_find f = {.t = t, .name = str_of(cmd, "name"), .instance = inst};
    json_t *v = json_pack("[s]", agent);
    doc_scan_ids(t, COLL_TRIGGERS, "by_agent", v, false, cmd_one, &f);
    json_decref(v);
    return f.found;
}

/* The conversation a command trigger starts: its variables, the command's
 * argument in the trigger's var. */
static void start_by_command(rt_job *j, const json_t *trg, const json_t *cmd)
{
    json_decref(j->vars);
    j->vars = json_deep_copy(json_object_get(trg, "variables"));
    if (!j->vars) j->vars = json_object();
    const char *var = str_of(json_object_get(trg, "command"), "var");
    if (var && str_of(cmd, "args")) json_object_set(j->vars, var, json_object_get(cmd, "args"));
    json_decref(j->trigger);
    j->trigger = json_pack("{s:s,s:O,s:O}", "kind", "on_command", "id", json_object_get(trg, "id"),
                           "command", json_object_get(cmd, "name"));
}

static int load_message(doc_txn *t, load *l)
{
    rt_job *j = l->j;
    const json_t *ch = json_object_get(j->msg, "channel");
    const char *inst = str_of(ch, "instance");
    const char *chat = str_of(json_object_get(j->msg, "chat"), "id");
    int rc = load_agent(t, l, inst);
    int linked = rc ? 0 : rt_link_try(t, j);
    if (linked < 0) return refuse(t, l, false, linked, "linking: %s", ah_strerror(linked));
    if (linked) ah_json_set_time(j->contact, "last_seen_at", doc_txn_now(t));
    if (j->link_turn) return load_scenario_of(t, l);
    if (!rc && !linked) rc = load_contact(t, l);
    if (rc) return rc;
    const json_t *cmd = linked ? NULL : json_object_get(j->msg, "command");
    json_t *trg = cmd ? command_trigger(t, j->agent_id, cmd, inst) : NULL;
    open_conv o = {.t = t, .instance = inst, .chat = chat};
    if (!j->new_contact) {
        json_t *v = json_pack("[s,s]", j->agent_id, j->contact_id);
        rc = doc_scan_ids(t, COLL_CONVERSATIONS, "by_agent_contact", v, true, newest, &o);
        json_decref(v);
        if (rc >= 0 && o.rc) rc = o.rc;
        if (rc < 0) {
            json_decref(trg);
            return refuse(t, l, false, rc, "reading conversations: %s", ah_strerror(rc));
        }
        if (o.doc && trg) { /* the command starts over: the open one ends with the new */
            json_decref(j->ended);
            j->ended = o.doc;
            j->ended_rev = o.rev;
        } else if (o.doc) {
            const json_t *was = json_object_get(o.doc, "channel");
            if (!str_of(was, "instance") || strcmp(str_of(was, "instance"), inst) != 0 ||
                !str_of(was, "chat_id") || strcmp(str_of(was, "chat_id"), chat) != 0) {
                /* the contact wrote from another of its chats: answered there */
                json_t *here = json_pack("{s:s?,s:s?,s:s?}", "kind", str_of(ch, "kind"), "instance",
                                         inst, "chat_id", chat);
                rt_conv_move(o.doc, here);
                json_decref(here);
            }
            j->conv = o.doc;
            j->conv_rev = o.rev;
            snprintf(j->conv_id, sizeof(j->conv_id), "%s", str_of(o.doc, "id"));
            return load_scenario_of(t, l);
        }
    }
    json_t *channel = json_pack("{s:s?,s:s?,s:s?}", "kind", str_of(ch, "kind"), "instance", inst,
                                "chat_id", chat);
    json_decref(j->trigger);
    j->trigger =
        cmd ? json_pack("{s:s,s:O}", "kind", "command", "command", json_object_get(cmd, "name"))
            : json_pack("{s:s}", "kind", "message");
    if (trg) start_by_command(j, trg, cmd);
    json_decref(trg);
    rc = new_conversation(t, l, channel);
    json_decref(channel);
    /* A chat's messages stay numbered on from its last conversation's. */
    if (!rc && o.seq > 0) json_object_set_new(j->conv, "message_seq", json_integer(o.seq));
    return rc ? rc : load_scenario_of(t, l);
}

static int load_start(doc_txn *t, load *l)
{
    rt_job *j = l->j;
    int rc = load_agent(t, l, NULL);
    if (!rc) rc = load_contact(t, l);
    if (rc) return rc;
    /* An agent a trigger starts talks on the chat of the conversation that
     * started it. */
    json_t *channel = NULL;
    const char *from = j->from_conv[0] ? j->from_conv : NULL;
    json_t *src = NULL;
    if (from && doc_get(t, COLL_CONVERSATIONS, from, &src, NULL) == 0)
        channel = json_incref(json_object_get(src, "channel"));
    json_decref(src);
    if (!channel) channel = json_pack("{s:s,s:s}", "kind", "api", "instance", "api");
    rc = new_conversation(t, l, channel);
    json_decref(channel);
    return rc ? rc : load_scenario_of(t, l);
}

static int load_txn(doc_txn *t, void *ud)
{
    load *l = ud;
    switch (l->j->kind) {
    case JOB_MESSAGE:
        return load_message(t, l);
    case JOB_START:
        return load_start(t, l);
    case JOB_TIMER:
    case JOB_RESUME:
        return load_existing(t, l);
    case JOB_DROP:
        break;
    }
    return AH_EINVAL;
}

int rt_load(rt_job *j)
{
    j->new_contact = j->new_conv = false;
    load l = {.j = j};
    doc_error e;
    int rc = docs_read(j->rt->d.docs, load_txn, &l, &e);
    if (!rc) return 0;
    if (!l.why[0]) {
        snprintf(l.why, sizeof(l.why), "%s", e.message);
        l.drop = false;
    }
    static const struct {
        int code;
        const char *name;
    } names[] = {{AH_ENOTFOUND, "not_found"}, {AH_EDENIED, "paused"}};
    const char *code = "unavailable";
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (rc == names[i].code) code = names[i].name;
    /* An input no agent takes is dropped (and logged); an API caller is
     * told why. */
    if (l.drop && (j->delivery || j->kind == JOB_TIMER)) code = "dropped";
    rt_fail(j, !l.drop, rc, code, "%s", l.why);
    return rc;
}
