#include "totp_seal.h"

#include "model/collections.h"
#include "totp.h"
#include "users.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define PREFIX "s1."
#define NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define PLAIN (TOTP_SECRET_B32 - 1)

int totp_seal(const uint8_t key[32], const char *cid, const char *b32, char *out)
{
    if (!b32 || strlen(b32) != PLAIN || !cid) return -1;
    unsigned char raw[NONCE + PLAIN + TAG];
    randombytes_buf(raw, NONCE);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(raw + NONCE, &clen, (const unsigned char *)b32,
                                               PLAIN, (const unsigned char *)cid, strlen(cid), NULL,
                                               raw, key);
    memcpy(out, PREFIX, 3);
    sodium_bin2base64(out + 3, TOTP_SEALED_MAX - 3, raw, NONCE + (size_t)clen,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return 0;
}

int totp_unseal(const uint8_t key[32], const char *cid, const char *sealed, char *b32)
{
    unsigned char raw[NONCE + PLAIN + TAG];
    size_t len = 0;
    if (!sealed || !cid || strncmp(sealed, PREFIX, 3) ||
        sodium_base642bin(raw, sizeof(raw), sealed + 3, strlen(sealed + 3), NULL, &len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) ||
        len != sizeof(raw))
        return -1;
    unsigned long long plen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)b32, &plen, NULL, raw + NONCE,
                                                   len - NONCE, (const unsigned char *)cid,
                                                   strlen(cid), raw, key) ||
        plen != PLAIN)
        return -1;
    b32[PLAIN] = 0;
    return 0;
}

/* Seal c's field `clear` into `sealed`: 1 when changed, 0, or -1. */
static int seal_field(json_t *c, const uint8_t key[32], const char *cid, const char *clear,
                      const char *sealed)
{
    const char *v = json_string_value(json_object_get(c, clear));
    if (!v) return 0;
    char out[TOTP_SEALED_MAX];
    if (totp_seal(key, cid, v, out)) return -1;
    json_object_set_new(c, sealed, json_string(out));
    json_object_del(c, clear);
    return 1;
}

int totp_seal_all(doc_txn *t, const uint8_t key[32], size_t *n)
{
    *n = 0;
    json_t *ids = NULL, *none = json_array();
    int rc =
        none ? doc_list_ids(t, COLL_USERS, "by_email", none, false, SIZE_MAX, &ids) : AH_ENOMEM;
    json_decref(none);
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        if (rc) break;
        char cid[32];
        json_t *c = NULL;
        uint64_t rev = 0;
        if (users_cred_id(json_string_value(v), cid)) continue;
        rc = doc_get(t, COLL_CREDENTIALS, cid, &c, &rev);
        if (rc == AH_ENOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc) break;
        int a = seal_field(c, key, cid, "totp_secret", "totp_secret_sealed");
        int b = seal_field(c, key, cid, "totp_pending", "totp_pending_sealed");
        if (a < 0 || b < 0)
            rc = doc_fail(t, AH_EINVAL, "totp_secret", "credential %s: a secret that is not one",
                          cid);
        else if (a || b) {
            rc = doc_put(t, COLL_CREDENTIALS, c, rev, NULL);
            if (!rc) (*n)++;
        }
        json_decref(c);
    }
    json_decref(ids);
    return rc;
}
