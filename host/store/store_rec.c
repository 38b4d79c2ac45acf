#include "store_rec.h"

#include "core/crc32c.h"
#include "core/log.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <string.h>

static uint32_t rec_crc(const MDB_val *key, const void *data, size_t len)
{
    return crc32c(crc32c(0, key->mv_data, key->mv_size), data, len);
}

int store_rec_put(MDB_txn *txn, store *s, store_db db, const MDB_val *key, const void *data,
                  size_t len, unsigned flags)
{
    MDB_val k = *key, v = {STORE_REC_FRAME + len, NULL};
    int rc = mdb_put(txn, store_dbi(s, db), &k, &v, flags | MDB_RESERVE);
    if (rc) return rc;
    uint8_t *p = v.mv_data;
    p[0] = STORE_REC_V1;
    store_be32(p + 1, rec_crc(key, data, len));
    memcpy(p + STORE_REC_FRAME, data, len);
    return 0;
}

int store_rec_verify(const MDB_val *key, const MDB_val *value, MDB_val *payload)
{
    const uint8_t *p = value->mv_data;
    if (value->mv_size == 0 || p[0] != STORE_REC_V1) {
        *payload = *value;
        return 0;
    }
    if (value->mv_size < STORE_REC_FRAME) return -1;
    payload->mv_data = (void *)(p + STORE_REC_FRAME);
    payload->mv_size = value->mv_size - STORE_REC_FRAME;
    return store_rd32(p + 1) == rec_crc(key, payload->mv_data, payload->mv_size) ? 1 : -1;
}

void store_key_text(const MDB_val *key, char *out, size_t len)
{
    const uint8_t *p = key->mv_data;
    size_t o = 0, n = key->mv_size > 48 ? 48 : key->mv_size;
    for (size_t i = 0; i < n && o + 5 < len; i++)
        o += (size_t)snprintf(out + o, len - o, p[i] >= 0x20 && p[i] < 0x7f ? "%c" : "\\x%02x",
                              p[i]);
    if (key->mv_size > n && o + 4 < len) o += (size_t)snprintf(out + o, len - o, "...");
    if (o < len) out[o] = 0;
}

int store_rec_get(MDB_txn *txn, store *s, store_db db, const MDB_val *key, MDB_val *payload)
{
    MDB_val k = *key, v;
    int rc = mdb_get(txn, store_dbi(s, db), &k, &v);
    if (rc == MDB_NOTFOUND) return AH_ENOTFOUND;
    if (rc == 0 && store_rec_verify(key, &v, payload) == 1) return 0;
    char kt[4 * 48 + 8];
    store_key_text(key, kt, sizeof(kt));
    log_error("store",
              "damaged record in database %s: key \"%s\" %s; it is not served. Run `agenthost "
              "check` and restore a backup (docs/operations.md, \"Damaged store\")",
              store_db_name(db), kt, rc ? mdb_strerror(rc) : "fails its checksum");
    return AH_EIO;
}
