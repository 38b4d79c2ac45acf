/*
 * /api/v1/contacts: the people agents talk to. Their identities and
 * profile are sealed with a key of their own; erasing a contact (DELETE,
 * a data-protection request) deletes its conversations and destroys that
 * key, so every copy of its data, in old events and backups too, can never
 * be read again. Linking merges a second contact into a first.
 */
#include "core/util.h"
#include "model/collections.h"
#include "model/ids.h"
#include "api_docs.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What this family uses. */
typedef struct contacts_ctx {
    docs *d;
} contacts_ctx;

/* ---- rules ------------------------------------------------------------------------ */

/* The channel kinds of the identities (for filtering), each once; e-mail
 * addresses kept as given (found whatever their case). */
static int contact_prepare(res_change *c)
{
    json_t *kinds = json_array();
    size_t i;
    json_t *idn;
    json_array_foreach(json_object_get(c->doc, "identities"), i, idn)
    {
        json_t *ch = json_object_get(idn, "channel");
        bool seen = false;
        size_t k;
        json_t *e;
        json_array_foreach(kinds, k, e) seen |= json_equal(e, ch);
        if (!seen && json_is_string(ch)) json_array_append(kinds, ch);
    }
    json_object_set_new(c->doc, "channels", kinds);
    if (!c->old) {
        char now[40];
        ah_rfc3339_ms(doc_txn_now(c->t), now, sizeof(now));
        if (!json_object_get(c->doc, "first_seen_at"))
            json_object_set_new(c->doc, "first_seen_at", json_string(now));
        if (!json_object_get(c->doc, "last_seen_at"))
            json_object_set_new(c->doc, "last_seen_at", json_string(now));
    }
    return 0;
}

/* Erasure: the contact's conversations deleted, its key destroyed, the
 * contact deleted; one audit entry that names no personal data. */
static int contact_erase(res_change *c)
{
    const char *id = json_string_value(json_object_get(c->old, "id"));
    json_t *convs;
    int rc = doc_ids_by(c->t, COLL_CONVERSATIONS, "by_contact", id, false, SIZE_MAX, &convs);
    size_t i;
    json_t *cid;
    json_array_foreach(convs, i, cid)
    {
        if (rc) break;
        rc = doc_delete(c->t, COLL_CONVERSATIONS, json_string_value(cid), STORE_REV_ANY);
    }
    if (!rc) rc = doc_delete(c->t, COLL_CONTACTS, id, STORE_REV_ANY);
    if (!rc) rc = doc_erase_key(c->t, id);
    audit_actor who = res_actor(c->req);
    json_t *what = json_pack("{s:I}", "conversations_deleted", (json_int_t)json_array_size(convs));
    if (!rc)
        rc = audit_record(c->t, &who, http_req_id(c->req), "contact.erase", COLL_CONTACTS, id, NULL,
                          what);
    json_decref(what);
    json_decref(convs);
    c->doc = NULL;
    return rc ? rc : 1;
}

/* contact.created (source api) and contact.updated, in the commit of the
 * change (docs/schemas/events/). */
static void contact_events(const json_t *before, const json_t *after, uint64_t rev, json_t *out)
{
    const char *id = json_string_value(json_object_get(after, "id"));
    char at[40], idem[96];
    ah_rfc3339_ms(ah_now_ms(), at, sizeof(at));
    json_t *body;
    if (!before) {
        body = json_pack("{s:s,s:i,s:s,s:s,s:s}", "type", "contact.created", "event_version", 1,
                         "at", at, "contact_id", id, "source", "api");
    } else {
        static const char *const fields[] = {"identities", "profile", "consent", "tags"};
        json_t *changed = json_array();
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
            if (!json_equal(json_object_get(before, fields[i]), json_object_get(after, fields[i])))
                json_array_append_new(changed, json_string(fields[i]));
        if (!json_array_size(changed)) {
            json_decref(changed);
            return;
        }
        body =
            json_pack("{s:s,s:i,s:s,s:s,s:I,s:o}", "type", "contact.updated", "event_version", 1,
                      "at", at, "contact_id", id, "revision", (json_int_t)rev, "changed", changed);
        const json_t *links = json_object_get(after, "links");
        if (json_array_size(links)) json_object_set(body, "links", (json_t *)links);
    }
    snprintf(idem, sizeof(idem), "%s:r%llu:0", id, (unsigned long long)rev);
    json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:o}", "topic", "platform.contact", "key",
                                         id, "idempotency_key", idem, "body", body));
}

static const res_filter contact_filters[] = {
    {"channel", "channels"}, {"tag", "tags"}, {NULL, NULL}};
static const res_range contact_ranges[] = {
    {"last_seen", "last_seen_at"}, {"created", "created_at"}, {NULL, NULL}};
static const char *const contact_sorts[] = {"last_seen_at", "created_at", NULL};
static const char *const contact_read_only[] = {"channels", NULL};

static const resource contacts_res = {
    .coll = COLL_CONTACTS,
    .noun = "contact",
    .plural = "contacts",
    .base = "/api/v1/contacts",
    .item = "/api/v1/contacts/{id}",
    .delete_perm = "contacts:erase",
    .filters = contact_filters,
    .ranges = contact_ranges,
    .sorts = contact_sorts,
    .default_sort = "-last_seen_at",
    .text_field = "profile.name",
    .read_only = contact_read_only,
    .defaults = "{\"identities\": [], \"profile\": {}, \"consent\": {}, \"tags\": []}",
    .prepare = contact_prepare,
    .before_delete = contact_erase,
    .events = contact_events,
    .audit_reads = true, /* the profile */
};

/* ---- finding by identity ------------------------------------------------------------ */

typedef struct lookup_arg {
    const char *channel, *id;
    json_t *doc;
    uint64_t rev;
} lookup_arg;

static int run_lookup(doc_txn *t, void *ud)
{
    lookup_arg *a = ud;
    char hex[65], id[ID_MAX];
    contact_identity_hash(doc_txn_docs(t), a->channel, a->id, hex);
    json_t *v = json_pack("[s]", hex);
    int rc = doc_find(t, COLL_CONTACTS, "by_identity", v, id, sizeof(id));
    json_decref(v);
    if (!rc) rc = doc_get(t, COLL_CONTACTS, id, &a->doc, &a->rev);
    if (rc == AH_ENOTFOUND) rc = doc_fail(t, rc, NULL, "no contact has that identity");
    return rc;
}

static void h_lookup(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    contacts_ctx *x = ctx;
    lookup_arg a = {.channel = http_req_query(req, "channel"), .id = http_req_query(req, "id")};
    if (!a.channel || !a.id) {
        http_respond_error(req, 422, "invalid_query", "give both channel and id",
                           a.channel ? "id" : "channel");
        return;
    }
    doc_error e;
    int rc = docs_read(x->d, run_lookup, &a, &e);
    if (rc) {
        json_decref(a.doc);
        res_respond_error(req, rc, &e);
        return;
    }
    api_audit_read(x->d, req, "contact.read", COLL_CONTACTS,
                   json_string_value(json_object_get(a.doc, "id")),
                   json_pack("{s:s}", "by", "identity"));
    res_respond_doc(req, 200, a.doc, a.rev, NULL);
}

/* ---- linking two contacts ------------------------------------------------------------ */

typedef struct link_arg {
    contacts_ctx *x;
    http_req *req;
    char keep[ID_MAX], other[ID_MAX];
    json_t *result;
    uint64_t rev;
} link_arg;

/* What other knows that keep does not: identities, profile fields,
 * consent, tags, links (per instance), the earlier first and later last
 * sighting. */
static void merge_contact(json_t *keep, const json_t *other)
{
    json_t *ids = json_object_get(keep, "identities");
    if (!ids) json_object_set_new(keep, "identities", ids = json_array());
    json_array_extend(ids, json_object_get(other, "identities"));
    json_t *prof = json_object_get(keep, "profile");
    if (!json_is_object(prof)) json_object_set_new(keep, "profile", prof = json_object());
    json_object_update_missing(prof, json_object_get(other, "profile"));
    json_t *consent = json_object_get(keep, "consent");
    if (!json_is_object(consent)) json_object_set_new(keep, "consent", consent = json_object());
    json_object_update_missing(consent, json_object_get(other, "consent"));
    json_t *tags = json_object_get(keep, "tags");
    if (!tags) json_object_set_new(keep, "tags", tags = json_array());
    size_t i, k;
    json_t *t, *e;
    json_array_foreach(json_object_get(other, "tags"), i, t)
    {
        bool have = false;
        json_array_foreach(tags, k, e) have |= json_equal(e, t);
        if (!have) json_array_append(tags, t);
    }
    /* Links to outside records: other's for instances keep has none for. */
    json_t *links = json_object_get(keep, "links");
    json_array_foreach(json_object_get(other, "links"), i, t)
    {
        bool have = false;
        json_array_foreach(links, k, e) have |=
            json_equal(json_object_get(e, "instance"), json_object_get(t, "instance"));
        if (have) continue;
        if (!links) json_object_set_new(keep, "links", links = json_array());
        json_array_append(links, t);
    }
    const char *f1 = json_string_value(json_object_get(keep, "first_seen_at"));
    const char *f2 = json_string_value(json_object_get(other, "first_seen_at"));
    if (f2 && (!f1 || strcmp(f2, f1) < 0))
        json_object_set_new(keep, "first_seen_at", json_string(f2));
    const char *l1 = json_string_value(json_object_get(keep, "last_seen_at"));
    const char *l2 = json_string_value(json_object_get(other, "last_seen_at"));
    if (l2 && (!l1 || strcmp(l2, l1) > 0))
        json_object_set_new(keep, "last_seen_at", json_string(l2));
}

/* other's conversations become keep's: opened with other's key, sealed
 * again with keep's as they are written. */
static int move_conversations(doc_txn *t, const char *from, const char *to)
{
    json_t *convs;
    int rc = doc_ids_by(t, COLL_CONVERSATIONS, "by_contact", from, false, SIZE_MAX, &convs);
    size_t i;
    json_t *id;
    json_array_foreach(convs, i, id)
    {
        json_t *c = NULL;
        uint64_t rev;
        if (rc || (rc = doc_get(t, COLL_CONVERSATIONS, json_string_value(id), &c, &rev)) != 0)
            break;
        json_object_set_new(c, "contact_id", json_string(to));
        rc = doc_put(t, COLL_CONVERSATIONS, c, rev, NULL);
        json_decref(c);
    }
    json_decref(convs);
    return rc;
}

static int run_link(doc_txn *t, void *ud)
{
    link_arg *l = ud;
    json_t *keep = NULL, *other = NULL;
    uint64_t krev;
    int rc = doc_get(t, COLL_CONTACTS, l->keep, &keep, &krev);
    if (rc == AH_ENOTFOUND) rc = doc_fail(t, rc, NULL, "no contact %s", l->keep);
    if (!rc) rc = doc_get(t, COLL_CONTACTS, l->other, &other, NULL);
    if (rc == AH_ENOTFOUND) rc = doc_fail(t, AH_EINVAL, "contact_id", "no contact %s", l->other);
    json_t *before = keep ? json_deep_copy(keep) : NULL;
    /* Conversations move while other's key still opens them; other's
     * identities leave the index before keep takes them. */
    if (!rc) rc = move_conversations(t, l->other, l->keep);
    if (!rc) rc = doc_delete(t, COLL_CONTACTS, l->other, STORE_REV_ANY);
    if (!rc) rc = doc_erase_key(t, l->other);
    if (!rc) {
        merge_contact(keep, other);
        res_change c = {.t = t, .req = l->req, .doc = keep, .old = before};
        rc = contact_prepare(&c);
        res_stamp(keep, l->req, doc_txn_now(t), false);
    }
    if (!rc) rc = doc_put(t, COLL_CONTACTS, keep, krev, &l->rev);
    audit_actor who = res_actor(l->req);
    json_t *what = json_pack("{s:s}", "linked", l->other);
    if (!rc)
        rc = audit_record(t, &who, http_req_id(l->req), "contact.link", COLL_CONTACTS, l->keep,
                          NULL, what);
    json_decref(what);
    json_decref(before);
    json_decref(other);
    json_decref(l->result);
    l->result = rc ? NULL : keep;
    if (rc) json_decref(keep);
    return rc;
}

static void link_done(int status, const doc_error *e, void *ud)
{
    link_arg *l = ud;
    if (status)
        res_respond_error(l->req, status, e);
    else
        res_respond_doc(l->req, 200, json_incref(l->result), l->rev, NULL);
    json_decref(l->result);
    free(l);
}

static void h_link(void *ctx, http_req *req, const route_params *p)
{
    contacts_ctx *x = ctx;
    json_t *body;
    if (api_body_json(req, &body, NULL) < 0) return;
    const char *other = json_string_value(json_object_get(body, "contact_id"));
    const char *keep = route_param(p, "id");
    const char *why = !json_is_object(body) || json_object_size(body) != 1 || !other
                          ? "send {\"contact_id\": \"con_...\"}: the contact merged into this one"
                      : !strcmp(other, keep) ? "a contact cannot be linked to itself"
                                             : NULL;
    link_arg *l = why ? NULL : calloc(1, sizeof(*l));
    if (l) {
        l->x = x;
        l->req = req;
        snprintf(l->keep, sizeof(l->keep), "%s", keep);
        snprintf(l->other, sizeof(l->other), "%s", other);
    }
    json_decref(body);
    if (why) {
        http_respond_error(req, 422, "invalid", why, "contact_id");
        return;
    }
    int rc = l ? docs_write(x->d, run_link, l, link_done) : AH_ENOMEM;
    if (rc) {
        free(l);
        http_respond_error(req, 503, "store_error", ah_strerror(rc), NULL);
    }
}

static const route extra[] = {
    {"GET", "/api/v1/contacts/lookup", h_lookup, "contacts:read",
     "The contact with an identity (?channel=&id=)"},
    {"POST", "/api/v1/contacts/{id}/link", h_link, "contacts:write",
     "Merge another contact into this one: identities, profile, conversations"},
};

int api_contacts_routes(api_table *t, const api_deps *deps)
{
    contacts_ctx *x = NULL;
    if (deps) {
        if (!(x = calloc(1, sizeof(*x)))) return AH_ENOMEM;
        x->d = deps->docs;
        int rc = api_table_own(t, x, free);
        if (rc) return rc;
    }
    /* /lookup before /{id}: the router takes the first match. */
    int rc = api_table_add(t, extra, sizeof(extra) / sizeof(extra[0]), x);
    if (!rc)
        rc = res_register_with_bus(t, &contacts_res, deps ? deps->docs : NULL,
                                   deps ? deps->bus : NULL, x, "contacts:read", "contacts:write");
    return rc;
}
