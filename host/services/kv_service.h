/*
 * kv_service.h - the key-value service plugins reach through kv_get/put/
 * delete/scan (AH_MSG_KV_GET, _PUT, _DEL, _SCAN). Each instance sees only
 * its own namespace: keys are stored as "<instance>\0<key>" in the store's
 * kv database, values as compact JSON. Puts and deletes are answered after
 * their commit.
 */
#ifndef AH_KV_SERVICE_H
#define AH_KV_SERVICE_H

#include "store/store.h"
#include "plugin/supervisor.h"

#define KV_KEY_MAX 512
#define KV_VALUE_MAX (1u << 20)
#define KV_SCAN_MAX 1000

typedef struct kv_service kv_service;

/* Register the KV handlers with the supervisor. 0, or AH_ENOMEM. */
int kv_service_attach(kv_service **out, supervisor *sup, store *st);
/* Once the store is closed (a pending write holds the service). NULL is
 * fine. */
void kv_service_detach(kv_service *kv);

#endif
