#include "users.h"

#include "core/util.h"
#include "model/collections.h"
#include "model/ids.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <string.h>

int users_cred_id(const char *user_id, char *out)
{
    if (!id_valid(user_id, "usr")) return -1;
    snprintf(out, 32, "crd_%s", user_id + 4);
    return 0;
}

int users_create(doc_txn *t, const char *email, const char *name, const char *role,
                 const char *pw_hash, const char *actor, char *id)
{
    int64_t now = doc_txn_now(t);
    char when[40], cid[32];
    ah_rfc3339_ms(now, when, sizeof(when));
    id_new("usr", now, id, 32);
    users_cred_id(id, cid);
    json_t *u = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:s,s:s,s:s,s:s}", "id", id, "email", email,
                          "role", role, "status", pw_hash ? "active" : "invited", "language", "en",
                          "password_set", pw_hash != NULL, "created_at", when, "created_by", actor,
                          "updated_at", when, "updated_by", actor);
    if (u && name) json_object_set_new(u, "name", json_string(name));
    json_t *c = json_pack("{s:s,s:i,s:s,s:s}", "id", cid, "sessions_epoch", 0, "created_at", when,
                          "created_by", actor);
    if (c && pw_hash) {
        json_object_set_new(c, "password_hash", json_string(pw_hash));
        json_object_set_new(c, "password_changed_at", json_integer(now));
    }
    int rc = u && c ? doc_put(t, COLL_USERS, u, 0, NULL) : AH_ENOMEM;
    if (!rc) rc = doc_put(t, COLL_CREDENTIALS, c, 0, NULL);
    json_decref(u);
    json_decref(c);
    return rc;
}

int users_end_sessions(doc_txn *t, const char *user_id)
{
    char cid[32];
    if (users_cred_id(user_id, cid)) return AH_EINVAL;
    json_t *c = NULL;
    uint64_t rev = 0;
    int rc = doc_get(t, COLL_CREDENTIALS, cid, &c, &rev);
    if (rc == AH_ENOTFOUND) return 0; /* no password, no session */
    if (rc) return rc;
    json_int_t e = json_integer_value(json_object_get(c, "sessions_epoch"));
    json_object_set_new(c, "sessions_epoch", json_integer(e + 1));
    rc = doc_put(t, COLL_CREDENTIALS, c, rev, NULL);
    json_decref(c);
    return rc;
}

int users_set_password(doc_txn *t, const char *user_id, const char *pw_hash)
{
    char cid[32];
    if (users_cred_id(user_id, cid)) return AH_EINVAL;
    json_t *c = NULL, *u = NULL;
    uint64_t rev = 0, urev = 0;
    int rc = doc_get(t, COLL_CREDENTIALS, cid, &c, &rev);
    if (rc == AH_ENOTFOUND) {
        c = json_pack("{s:s,s:i}", "id", cid, "sessions_epoch", 0);
        rev = 0;
        rc = c ? 0 : AH_ENOMEM;
    }
    if (!rc) rc = doc_get(t, COLL_USERS, user_id, &u, &urev);
    if (!rc) {
        json_int_t e = json_integer_value(json_object_get(c, "sessions_epoch"));
        json_object_set_new(c, "sessions_epoch", json_integer(e + 1));
        json_object_set_new(c, "password_hash", json_string(pw_hash));
        json_object_set_new(c, "password_changed_at", json_integer(doc_txn_now(t)));
        json_object_set_new(u, "password_set", json_true());
        rc = doc_put(t, COLL_CREDENTIALS, c, rev, NULL);
    }
    if (!rc) rc = doc_put(t, COLL_USERS, u, urev, NULL);
    json_decref(c);
    json_decref(u);
    return rc;
}
