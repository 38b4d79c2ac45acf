#include "invites.h"

#include "model/collections.h"
#include "users.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static void token_hash(const char *token, char *hex)
{
    unsigned char h[32];
    crypto_generichash(h, sizeof(h), (const unsigned char *)token, strlen(token),
                       (const unsigned char *)"agenthost-invite/1", 18);
    sodium_bin2hex(hex, 65, h, sizeof(h));
}

/* A fresh token for user_id written into credential c (kind, expiry). */
static void issue(doc_txn *t, json_t *c, const char *user_id, const char *kind, int64_t ttl,
                  char *token)
{
    unsigned char r[32];
    char hex[65];
    randombytes_buf(r, sizeof(r));
    snprintf(token, INVITE_TOKEN_LEN + 1, "%s.", user_id);
    sodium_bin2hex(token + strlen(token), 65, r, sizeof(r));
    sodium_memzero(r, sizeof(r));
    token_hash(token, hex);
    json_object_set_new(c, "token_hash", json_string(hex));
    json_object_set_new(c, "token_kind", json_string(kind));
    json_object_set_new(c, "token_expires_at", json_integer(doc_txn_now(t) + ttl));
}

int invite_create(doc_txn *t, const char *email, const char *name, const char *role,
                  const char *actor, int64_t ttl_ms, char *id, char *token)
{
    int rc = users_create(t, email, name, role, NULL, actor, id);
    char cid[32];
    json_t *c = NULL;
    uint64_t rev = 0;
    if (!rc) users_cred_id(id, cid);
    if (!rc) rc = doc_get(t, COLL_CREDENTIALS, cid, &c, &rev);
    if (rc) return rc;
    issue(t, c, id, "invite", ttl_ms, token);
    rc = doc_put(t, COLL_CREDENTIALS, c, rev, NULL);
    json_decref(c);
    return rc;
}

int invite_reset(doc_txn *t, const char *user_id, int64_t ttl_ms, char *token, bool *invite)
{
    char cid[32];
    if (users_cred_id(user_id, cid)) return AH_ENOTFOUND;
    json_t *u = NULL, *c = NULL;
    uint64_t rev = 0;
    int rc = doc_get(t, COLL_USERS, user_id, &u, NULL);
    const char *status = rc ? "" : json_string_value(json_object_get(u, "status")) ?: "";
    if (!rc && !strcmp(status, "disabled")) rc = AH_EDENIED;
    *invite = !rc && !strcmp(status, "invited");
    json_decref(u);
    if (rc) return rc;
    rc = doc_get(t, COLL_CREDENTIALS, cid, &c, &rev);
    if (rc == AH_ENOTFOUND) {
        c = json_pack("{s:s,s:i}", "id", cid, "sessions_epoch", 0);
        rev = 0;
        rc = c ? 0 : AH_ENOMEM;
    }
    if (rc) return rc;
    issue(t, c, user_id, *invite ? "invite" : "reset", ttl_ms, token);
    rc = doc_put(t, COLL_CREDENTIALS, c, rev, NULL);
    json_decref(c);
    return rc;
}

int invite_take(doc_txn *t, const char *token, bool consume, char *user_id, bool *invite)
{
    const char *dot = token ? strchr(token, '.') : NULL;
    if (!dot || strlen(token) != INVITE_TOKEN_LEN || dot - token != 30) return AH_ENOTFOUND;
    char uid[32], cid[32], hex[65];
    snprintf(uid, sizeof(uid), "%.*s", (int)(dot - token), token);
    if (users_cred_id(uid, cid)) return AH_ENOTFOUND;
    json_t *c = NULL;
    uint64_t rev = 0;
    int rc = doc_get(t, COLL_CREDENTIALS, cid, &c, &rev);
    if (rc) return rc == AH_ENOTFOUND ? AH_ENOTFOUND : rc;
    token_hash(token, hex);
    const char *have = json_string_value(json_object_get(c, "token_hash"));
    const char *kind = json_string_value(json_object_get(c, "token_kind"));
    bool ok = have && kind && strlen(have) == 64 && sodium_memcmp(have, hex, 64) == 0 &&
              json_integer_value(json_object_get(c, "token_expires_at")) > doc_txn_now(t);
    if (ok) {
        snprintf(user_id, 32, "%s", uid);
        *invite = !strcmp(kind, "invite");
    }
    if (ok && consume) {
        json_object_del(c, "token_hash");
        json_object_del(c, "token_kind");
        json_object_del(c, "token_expires_at");
        rc = doc_put(t, COLL_CREDENTIALS, c, rev, NULL);
    }
    json_decref(c);
    return ok ? rc : AH_ENOTFOUND;
}
