/*
 * kv.h - the key-value service plugins reach through kv_get/put/delete/
 * scan. Each instance sees only its own namespace: keys are stored as
 * "<instance>\0<key>" in the store's kv database, values as compact JSON.
 * Puts and deletes are answered after their commit.
 */
#ifndef AH_KV_H
#define AH_KV_H

#include "../core/store.h"
#include "supervisor.h"

#define KV_KEY_MAX 512
#define KV_VALUE_MAX (1u << 20)
#define KV_SCAN_MAX 1000

typedef struct kv_service kv_service;

/* Register the KV handlers with the supervisor. */
int kv_attach(kv_service **out, supervisor *sup, store *st);
void kv_detach(kv_service *kv);

#endif
