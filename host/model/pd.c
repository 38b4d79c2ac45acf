#include "pd.h"

#include "sdk/ipc/b64.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG crypto_aead_xchacha20poly1305_ietf_ABYTES

/* Seal or open n bytes with key, the contact's id as associated data. */
static int seal(const uint8_t *key, const char *cid, const uint8_t *in, size_t n, uint8_t *out)
{
    randombytes_buf(out, NONCE);
    return crypto_aead_xchacha20poly1305_ietf_encrypt(
        out + NONCE, NULL, in, n, (const uint8_t *)cid, strlen(cid), NULL, out, key);
}

static int open_box(const uint8_t *key, const char *cid, const uint8_t *in, size_t n, uint8_t *out)
{
    if (n < NONCE + TAG) return -1;
    return crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, in + NONCE, n - NONCE,
                                                      (const uint8_t *)cid, strlen(cid), in, key);
}

#define SEALED_KEY (NONCE + PD_KEY_BYTES + TAG)

int pd_key(keystore *ks, const uint8_t *kek, const char *cid, bool create, uint8_t *key)
{
    uint8_t sealed[SEALED_KEY];
    size_t n = 0;
    int rc = keystore_get(ks, cid, sealed, sizeof(sealed), &n);
    if (rc == AH_ENOTFOUND && create) {
        /* A write may run twice: a key made by the first run is kept. */
        uint8_t fresh[PD_KEY_BYTES];
        randombytes_buf(fresh, sizeof(fresh));
        seal(kek, cid, fresh, PD_KEY_BYTES, sealed);
        sodium_memzero(fresh, sizeof(fresh));
        rc = keystore_put_new(ks, cid, sealed, sizeof(sealed));
        if (rc == AH_EEXIST)
            rc = keystore_get(ks, cid, sealed, sizeof(sealed), &n);
        else if (rc == 0)
            n = sizeof(sealed);
    }
    if (rc) return rc == AH_ETOOBIG ? AH_EIO : rc;
    if (n != SEALED_KEY) return AH_EIO;
    return open_box(kek, cid, sealed, n, key) == 0 ? 0 : AH_EIO;
}

int pd_erase(keystore *ks, const char *cid)
{
    return keystore_del(ks, cid);
}

bool pd_is_sealed(const json_t *v)
{
    return json_is_object(v) && json_object_size(v) == 1 &&
           json_is_string(json_object_get(v, "$sealed"));
}

json_t *pd_seal(const uint8_t *key, const char *cid, const json_t *v)
{
    char *plain = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!plain) return NULL;
    size_t n = strlen(plain);
    uint8_t *box = malloc(NONCE + n + TAG);
    char *b64 = NULL;
    if (box) {
        seal(key, cid, (const uint8_t *)plain, n, box);
        b64 = ah_b64_encode(box, NONCE + n + TAG);
    }
    sodium_memzero(plain, n);
    free(plain);
    free(box);
    json_t *out = b64 ? json_pack("{s:s}", "$sealed", b64) : NULL;
    free(b64);
    return out;
}

json_t *pd_open(const uint8_t *key, const char *cid, const json_t *sealed)
{
    size_t n = 0;
    if (!pd_is_sealed(sealed)) return NULL;
    uint8_t *box = ah_b64_decode(json_string_value(json_object_get(sealed, "$sealed")), &n);
    if (!box) return NULL;
    json_t *out = NULL;
    if (n >= NONCE + TAG) {
        uint8_t *plain = malloc(n - NONCE - TAG + 1);
        if (plain && open_box(key, cid, box, n, plain) == 0)
            out = json_loadb((const char *)plain, n - NONCE - TAG, JSON_DECODE_ANY, NULL);
        if (plain) sodium_memzero(plain, n - NONCE - TAG);
        free(plain);
    }
    free(box);
    return out;
}
