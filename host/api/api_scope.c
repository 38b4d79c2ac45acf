/*
 * Grants per agent (host/auth/roles.h): a caller whose permission for a
 * route comes only from grants on some agents or agent groups may use the
 * route on those agents only. Which routes are about an agent is decided
 * here, from the route's pattern, before the handler runs: an item under
 * /api/v1/agents, /scenarios, /conversations, /triggers (by its agent_id)
 * or /contacts (by the agents of its conversations) is looked up and
 * refused with 403 naming the agent; the lists of those collections are
 * filtered and their creates and changes checked (api_docs.c, through
 * api_scope_doc and api_scope_filter). Every other route needs the
 * permission outright.
 */
#include "auth/perm.h"
#include "core/log.h"
#include "model/collections.h"
#include "api_priv.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <string.h>

#define CONTACT_CONVERSATIONS_MAX 1000 /* looked at to find a contact's agents */

typedef struct scoped {
    const char *base; /* "/api/v1/agents" */
    const char *coll;
    bool create; /* whether a grant lets one create there (checked by api_scope_doc) */
} scoped;

static const scoped scoped_colls[] = {
    {"/api/v1/agents", COLL_AGENTS, true},
    {"/api/v1/scenarios", COLL_SCENARIOS, true},
    {"/api/v1/conversations", COLL_CONVERSATIONS, true},
    {"/api/v1/triggers", COLL_TRIGGERS, true},
    {"/api/v1/contacts", COLL_CONTACTS, false},
};
#define NSCOPED (sizeof(scoped_colls) / sizeof(scoped_colls[0]))

static const scoped *scoped_of_coll(const char *coll)
{
    for (size_t i = 0; i < NSCOPED; i++)
        if (!strcmp(scoped_colls[i].coll, coll)) return &scoped_colls[i];
    return NULL;
}

static bool global(const principal *who, int perm)
{
    return perm < 0 || (who->perms >> perm & 1);
}

/* Whether a grant of who's gives perm on the agent (group_id: its group,
 * "" for none, NULL to be read). */
static bool agent_allowed(doc_txn *t, const principal *who, int perm, const char *agent_id,
                          const char *group_id)
{
    if (global(who, perm)) return true;
    if (!agent_id || !agent_id[0]) return false;
    char grp[64] = "";
    if (!group_id) {
        json_t *a = NULL;
        if (!doc_get(t, COLL_AGENTS, agent_id, &a, NULL))
            snprintf(grp, sizeof(grp), "%s",
                     json_string_value(json_object_get(a, "group_id")) ?: "");
        json_decref(a);
        group_id = grp;
    }
    for (unsigned i = 0; i < who->ngrants && i < PRINCIPAL_GRANTS; i++) {
        const principal_grant *g = &who->grants[i];
        if (!(g->perms >> perm & 1)) continue;
        if (g->agent_id[0] && !strcmp(g->agent_id, agent_id)) return true;
        if (g->group_id[0] && !strcmp(g->group_id, group_id)) return true;
    }
    return false;
}

typedef struct contact_walk {
    doc_txn *t;
    const principal *who;
    int perm, seen;
    bool ok;
    char *agent; /* the first agent seen, for the refusal */
} contact_walk;

static int contact_conv(void *ud, const char *id)
{
    contact_walk *w = ud;
    if (++w->seen > CONTACT_CONVERSATIONS_MAX) return 1;
    json_t *c = NULL;
    if (doc_get(w->t, COLL_CONVERSATIONS, id, &c, NULL)) return 0;
    const char *agent = json_string_value(json_object_get(c, "agent_id"));
    if (agent && !w->agent[0]) snprintf(w->agent, 32, "%s", agent);
    w->ok = agent_allowed(w->t, w->who, w->perm, agent, NULL);
    json_decref(c);
    return w->ok ? 1 : 0;
}

/* Whether who may use perm on doc of coll (a scoped collection); agent
 * (32 bytes) gets the agent it is about, or "". */
static bool doc_allowed(doc_txn *t, const principal *who, int perm, const char *coll,
                        const json_t *doc, char *agent)
{
    agent[0] = 0;
    if (global(who, perm)) return true;
    if (!strcmp(coll, COLL_AGENTS)) {
        snprintf(agent, 32, "%s", json_string_value(json_object_get(doc, "id")) ?: "");
        return agent_allowed(t, who, perm, agent,
                             json_string_value(json_object_get(doc, "group_id")) ?: "");
    }
    if (!strcmp(coll, COLL_CONTACTS)) {
        contact_walk w = {t, who, perm, 0, false, agent};
        json_t *key = json_pack("[s]", json_string_value(json_object_get(doc, "id")) ?: "");
        if (key) doc_scan_ids(t, COLL_CONVERSATIONS, "by_contact", key, false, contact_conv, &w);
        json_decref(key);
        return w.ok;
    }
    snprintf(agent, 32, "%s", json_string_value(json_object_get(doc, "agent_id")) ?: "");
    return agent_allowed(t, who, perm, agent, NULL);
}

static void refuse(docs *d, http_req *req, const principal *who, int perm, const char *coll,
                   const char *agent)
{
    char msg[300];
    if (agent[0])
        snprintf(msg, sizeof(msg),
                 "this needs the permission %s on the agent %s, which your grants do not give",
                 auth_perm_name((auth_perm)perm), agent);
    else
        snprintf(msg, sizeof(msg),
                 "this needs the permission %s on every agent, or on an agent this %s is of, "
                 "which your grants do not give",
                 auth_perm_name((auth_perm)perm),
                 !strcmp(coll, COLL_CONTACTS) ? "contact talked to" : "document");
    log_ctx lc = {.request_id = http_req_id(req)};
    json_t *f = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "event", "permission_denied",
                          "actor", who->name, "actor_token", who->id, "role", who->role,
                          "permission", auth_perm_name((auth_perm)perm), "agent_id", agent, "path",
                          http_req_path(req), "client_ip", http_req_client_ip(req));
    log_write("security", LOG_WARN, "api", &lc, f, "permission denied: %s", msg);
    json_decref(f);
    api_audit_access(d, req, "auth.denied", who, NULL,
                     json_pack("{s:s,s:s,s:s,s:s}", "permission", auth_perm_name((auth_perm)perm),
                               "agent_id", agent, "method", http_req_method(req), "path",
                               http_req_path(req)));
    http_respond_json(req, 403,
                      json_pack("{s:{s:s,s:s,s:s,s:s}}", "error", "code", "forbidden", "message",
                                msg, "permission", auth_perm_name((auth_perm)perm), "agent_id",
                                agent));
}

typedef struct item_arg {
    const principal *who;
    int perm;
    const char *coll, *id;
    bool found, ok;
    char agent[32];
} item_arg;

static int run_item(doc_txn *t, void *ud)
{
    item_arg *a = ud;
    json_t *doc = NULL;
    int rc = doc_get(t, a->coll, a->id, &doc, NULL);
    if (rc == AH_ENOTFOUND || rc == AH_EINVAL) return 0;
    if (rc) return rc;
    a->found = true;
    a->ok = doc_allowed(t, a->who, a->perm, a->coll, doc, a->agent);
    json_decref(doc);
    return 0;
}

int api_scope_route(docs *d, http_req *req, const char *method, const char *pattern,
                    const route_params *p, const principal *who, int perm)
{
    if (!(who->granted >> perm & 1)) return 0;
    for (size_t i = 0; i < NSCOPED; i++) {
        const scoped *s = &scoped_colls[i];
        size_t n = strlen(s->base);
        if (strncmp(pattern, s->base, n)) continue;
        if (!pattern[n]) /* the list (filtered) or a create (checked) */
            return !strcmp(method, "GET") || (!strcmp(method, "POST") && s->create) ? 1 : 0;
        if (strncmp(pattern + n, "/{id}", 5) || (pattern[n + 5] && pattern[n + 5] != '/')) continue;
        /* A contact's own routes only: /link merges in another contact. */
        if (pattern[n + 5] && !strcmp(s->coll, COLL_CONTACTS)) return 0;
        item_arg a = {who, perm, s->coll, route_param(p, "id"), false, false, ""};
        doc_error e;
        if (!a.id || !d) return 0;
        if (docs_read(d, run_item, &a, &e)) {
            http_respond_error(req, 503, "store_error", "cannot read the document", NULL);
            return -1;
        }
        if (!a.found || a.ok) return 1; /* a missing one: the handler's 404 */
        refuse(d, req, who, perm, s->coll, a.agent);
        return -1;
    }
    return 0;
}

int api_scope_doc(doc_txn *t, http_req *req, const char *coll, const json_t *doc)
{
    const principal *who = req ? http_req_user(req) : NULL;
    if (!who || global(who, who->need) || !scoped_of_coll(coll)) return 0;
    char agent[32];
    if (doc_allowed(t, who, who->need, coll, doc, agent)) {
        /* A conversation with someone else's contact would show it: the
         * contact must be one the grants reach already. */
        const char *contact = json_string_value(json_object_get(doc, "contact_id"));
        json_t *c = NULL;
        if (strcmp(coll, COLL_CONVERSATIONS) || !contact ||
            doc_get(t, COLL_CONTACTS, contact, &c, NULL))
            return 0;
        bool ok = doc_allowed(t, who, who->need, COLL_CONTACTS, c, agent);
        json_decref(c);
        if (ok) return 0;
        return doc_fail(t, AH_EDENIED, "contact_id",
                        "this needs the permission %s on an agent the contact %s talked to, "
                        "which your grants do not give",
                        auth_perm_name((auth_perm)who->need), contact);
    }
    const char *field = !strcmp(coll, COLL_AGENTS) ? "group_id" : "agent_id";
    if (agent[0] && strcmp(coll, COLL_AGENTS))
        return doc_fail(t, AH_EDENIED, field,
                        "this needs the permission %s on the agent %s, which your grants do "
                        "not give",
                        auth_perm_name((auth_perm)who->need), agent);
    return doc_fail(t, AH_EDENIED, field,
                    "this needs the permission %s on every agent, or an agent or group your "
                    "grants name",
                    auth_perm_name((auth_perm)who->need));
}

typedef struct filter_arg {
    const principal *who;
    const char *coll;
    json_t *items;
} filter_arg;

static int run_filter(doc_txn *t, void *ud)
{
    filter_arg *a = ud;
    char agent[32];
    for (size_t i = json_array_size(a->items); i-- > 0;)
        if (!doc_allowed(t, a->who, a->who->need, a->coll, json_array_get(a->items, i), agent))
            json_array_remove(a->items, i);
    return 0;
}

bool api_scope_filter(docs *d, http_req *req, const char *coll, json_t *items)
{
    const principal *who = http_req_user(req);
    if (!who || global(who, who->need) || !scoped_of_coll(coll)) return false;
    filter_arg a = {who, coll, items};
    doc_error e;
    if (docs_read(d, run_filter, &a, &e)) json_array_clear(items); /* unreadable: show nothing */
    return true;
}

json_t *api_scope_grants_json(const principal *who)
{
    json_t *a = json_array();
    for (unsigned i = 0; a && i < who->ngrants && i < PRINCIPAL_GRANTS; i++) {
        const principal_grant *g = &who->grants[i];
        json_t *perms = json_array();
        for (int k = 0; k < PERM_COUNT; k++)
            if (g->perms >> k & 1)
                json_array_append_new(perms, json_string(auth_perm_name((auth_perm)k)));
        json_array_append_new(
            a, json_pack("{s:s,s:o}", g->agent_id[0] ? "agent_id" : "agent_group_id",
                         g->agent_id[0] ? g->agent_id : g->group_id, "permissions", perms));
    }
    return a;
}
