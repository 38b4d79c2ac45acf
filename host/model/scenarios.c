/*
 * scenarios.c - scenario versions as documents (scenarios.h).
 */
#include "model/scenarios.h"

#include "core/util.h"
#include "model/collections.h"
#include "model/ids.h"

#include <agenthost/plugin.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int scenario_content_hash(const json_t *content, char hex[65], size_t *size)
{
    char *js = json_dumps(content, JSON_COMPACT | JSON_SORT_KEYS);
    if (!js) return AH_ENOMEM;
    uint8_t h[32];
    *size = strlen(js);
    crypto_generichash(h, sizeof(h), (const uint8_t *)js, *size, NULL, 0);
    free(js);
    sodium_bin2hex(hex, 65, h, sizeof(h));
    return 0;
}

int scenario_version_put(doc_txn *t, const char *scenario_id, json_int_t number,
                         const json_t *content, const char *message, const char *author,
                         json_t **out, uint64_t *rev)
{
    char hash[65], id[ID_MAX], at[40];
    size_t size = 0;
    int rc = scenario_content_hash(content, hash, &size);
    if (rc) return rc;
    id_new("scv", doc_txn_now(t), id, sizeof(id));
    ah_rfc3339_ms(doc_txn_now(t), at, sizeof(at));
    json_t *doc = json_pack("{s:s,s:s,s:I,s:O,s:s,s:I,s:s,s:s}", "id", id, "scenario_id",
                            scenario_id, "number", number, "content", content, "content_hash", hash,
                            "size", (json_int_t)size, "created_at", at, "created_by", author);
    if (!doc) return AH_ENOMEM;
    if (message) json_object_set_new(doc, "message", json_string(message));
    rc = doc_put(t, COLL_SCENARIO_VERSIONS, doc, 0, rev);
    if (rc)
        json_decref(doc);
    else
        *out = doc;
    return rc;
}

int scenario_version_get(doc_txn *t, const char *scenario_id, json_int_t number, json_t **out,
                         uint64_t *rev)
{
    char id[ID_MAX];
    json_t *key = json_pack("[s,I]", scenario_id, number);
    int rc = doc_find(t, COLL_SCENARIO_VERSIONS, "by_number", key, id, sizeof(id));
    json_decref(key);
    if (!rc) rc = doc_get(t, COLL_SCENARIO_VERSIONS, id, out, rev);
    if (rc == AH_ENOTFOUND)
        rc = doc_fail(t, rc, NULL, "scenario %s has no version %lld", scenario_id,
                      (long long)number);
    return rc;
}

int scenario_version_next(doc_txn *t, json_t *s, const json_t *content, const char *message,
                          const char *author, json_t **out, uint64_t *rev, bool *created)
{
    const char *sid = json_string_value(json_object_get(s, "id"));
    json_int_t n = json_integer_value(json_object_get(s, "latest_version"));
    char hash[65];
    size_t size = 0;
    int rc = scenario_content_hash(content, hash, &size);
    if (rc) return rc;
    *created = false;
    if (n > 0) { /* saving what the latest version holds makes no new version */
        json_t *latest = NULL;
        if ((rc = scenario_version_get(t, sid, n, &latest, rev)) != 0) return rc;
        if (!strcmp(json_string_value(json_object_get(latest, "content_hash")), hash)) {
            *out = latest;
            return 0;
        }
        json_decref(latest);
    }
    rc = scenario_version_put(t, sid, n + 1, content, message, author, out, rev);
    if (rc) return rc;
    json_object_set_new(s, "latest_version", json_integer(n + 1));
    *created = true;
    return 0;
}
