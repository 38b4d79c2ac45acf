#include "audit.h"

#include "core/log.h"
#include "core/util.h"
#include "collections.h"
#include "ids.h"

#include <agenthost/plugin.h>

#include <stdlib.h>
#include <string.h>

/* Fields every document has that say nothing of the change itself. */
static bool bookkeeping(const char *k)
{
    static const char *const names[] = {"revision", "schema_version", "updated_at", "updated_by"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(k, names[i])) return true;
    return false;
}

static bool is_sealed(const char *k, const char *const *sealed)
{
    for (size_t i = 0; sealed && sealed[i]; i++)
        if (!strcmp(k, sealed[i])) return true;
    return false;
}

static void diff_field(json_t *out, const char *k, const json_t *from, const json_t *to,
                       const char *const *sealed)
{
    if (bookkeeping(k) || json_equal(from, to) || (!from && !to)) return;
    if (is_sealed(k, sealed)) {
        json_object_set_new(out, k, json_pack("{s:b}", "changed", 1));
        return;
    }
    json_object_set_new(
        out, k,
        json_pack("{s:O,s:O}", "from", from ? from : json_null(), "to", to ? to : json_null()));
}

json_t *audit_diff(const json_t *before, const json_t *after, const char *const *sealed)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)after, k, v)
        diff_field(out, k, json_object_get(before, k), v, sealed);
    json_object_foreach((json_t *)before, k, v) if (!json_object_get(after, k))
        diff_field(out, k, v, NULL, sealed);
    return out;
}

/* After the commit: the entry's line in logs/audit.log. */
static void log_entry(void *ud, int status)
{
    json_t *e = ud;
    if (status == 0) {
        log_ctx c = {.request_id = json_string_value(json_object_get(e, "request_id"))};
        json_t *f =
            json_pack("{s:s,s:O,s:O,s:O,s:O}", "event", "change", "entry", json_object_get(e, "id"),
                      "actor", json_object_get(e, "actor"), "target", json_object_get(e, "target"),
                      "diff", json_object_get(e, "diff"));
        log_write("audit", LOG_INFO, "model", &c, f, "%s %s %s",
                  json_string_value(json_object_get(json_object_get(e, "actor"), "name")) ?: "-",
                  json_string_value(json_object_get(e, "action")),
                  json_string_value(json_object_get(json_object_get(e, "target"), "id")) ?: "");
        json_decref(f);
    }
    json_decref(e);
}

int audit_record(doc_txn *t, const audit_actor *who, const char *request_id, const char *action,
                 const char *coll, const char *id, const json_t *before, const json_t *after)
{
    const doc_collection *c = docs_collection(doc_txn_docs(t), coll);
    char eid[ID_MAX], at[40];
    id_new("aud", doc_txn_now(t), eid, sizeof(eid));
    ah_rfc3339_ms(doc_txn_now(t), at, sizeof(at));
    json_t *actor = json_pack("{s:s}", "kind", who && who->kind ? who->kind : "host");
    if (who && who->id) json_object_set_new(actor, "id", json_string(who->id));
    if (who && who->name) json_object_set_new(actor, "name", json_string(who->name));
    if (who && who->role) json_object_set_new(actor, "role", json_string(who->role));
    json_t *target = json_pack("{s:s}", "collection", coll);
    if (id) json_object_set_new(target, "id", json_string(id));
    json_t *e = json_pack("{s:s,s:s,s:o,s:s,s:o,s:o}", "id", eid, "at", at, "actor", actor,
                          "action", action, "target", target, "diff",
                          audit_diff(before, after, c ? c->sealed : NULL));
    if (!e) return doc_fail(t, AH_ENOMEM, NULL, "out of memory");
    if (request_id) json_object_set_new(e, "request_id", json_string(request_id));
    int rc = doc_put(t, COLL_AUDIT, e, 0, NULL);
    if (rc) {
        json_decref(e);
        return rc;
    }
    return doc_txn_defer(t, log_entry, e, false);
}
