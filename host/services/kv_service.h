/*
 * kv_service.h - the key-value service plugins reach through kv_get/put/
 * delete/scan (AH_MSG_KV_GET, _PUT, _DEL, _SCAN). Each instance sees only
 * its own namespace: keys are stored as "<instance>\0<key>" in the store's
 * kv database. Writes are answered after their commit.
 *
 * A value is stored in an envelope (ABI 1.3): the byte KV_ENVELOPE, the
 * key's revision (8 bytes, little-endian; 1 for the first write, one more
 * for each), the time it expires (Unix ms, 8 bytes; 0: never), then the
 * value as compact JSON. A value written before the envelope is a bare JSON
 * text (which cannot begin with that byte): it reads as revision 1, never
 * expiring, and is wrapped at its next write. An expired value reads as
 * absent (get, scan, a revision check) and is replaced or removed by the
 * next write of its key.
 *
 * Requests: KV_GET {key} -> {value, rev}; KV_PUT {key, value, if_rev,
 * ttl_ms} -> {rev} (AH_ECONFLICT when if_rev is not the current revision,
 * 0 meaning absent); KV_DEL {key}; KV_SCAN {prefix, after, limit} ->
 * {items, next}; KV_INCR {key, delta} -> {value, rev}; KV_MANY {get: [key]}
 * -> {items: [{key, value, rev}]} in one snapshot, or {put: [{key, value,
 * ttl_ms, if_rev}]} in one commit, all or nothing (no value: delete).
 */
#ifndef AH_KV_SERVICE_H
#define AH_KV_SERVICE_H

#include "store/store.h"
#include "plugin/supervisor.h"

#define KV_KEY_MAX 512
#define KV_VALUE_MAX (1u << 20)
#define KV_SCAN_MAX 1000
#define KV_MANY_MAX 1000
#define KV_ENVELOPE 0x02
#define KV_ENVELOPE_LEN 17

typedef struct kv_service kv_service;

/* Register the KV handlers with the supervisor. 0, or AH_ENOMEM. */
int kv_service_attach(kv_service **out, supervisor *sup, store *st);
/* The harness: write each member of obj as a key of the instance (a
 * JSON value each, never expiring; store_write_now, before the loop runs),
 * or read the instance's live keys as one object (NULL if the store
 * cannot be read). */
int kv_service_seed(store *st, const char *inst_id, const json_t *obj, char *err, size_t errlen);
json_t *kv_service_dump(store *st, const char *inst_id);
/* Once the store is closed (a pending write holds the service). NULL is
 * fine. */
void kv_service_detach(kv_service *kv);

#endif
