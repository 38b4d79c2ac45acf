/*
 * instances_def.h - instances defined over the API (POST and DELETE
 * /api/v1/instances), beside those of the config file. Each is a record
 * in the store's instances database under "def/<id>" (ids never hold a
 * '/', so it never meets an instance's state record): its plugin, config
 * and overrides, never its secrets, which are sealed in the secrets store
 * as `agenthost secret set` seals them. The host adds every stored one at
 * start, after the config's (ADR 0041). Removing one stops its process,
 * then deletes in one commit its record, its state record, its KV and its
 * secrets: an id used again starts clean.
 */
#ifndef AH_INSTANCES_DEF_H
#define AH_INSTANCES_DEF_H

#include "registry.h"
#include "store/secrets.h"
#include "store/store.h"
#include "supervisor.h"

#include <jansson.h>
#include <stdbool.h>

#define INSTANCES_DEF_PREFIX "def/"

/* At start, before supervisor_start_all: add every stored definition. One
 * whose plugin is not installed, whose id the config already uses, or
 * whose config no longer validates is logged and skipped (its record is
 * kept). Returns how many were added. */
size_t instances_def_load(supervisor *s, store *st, const registry *r);

/* Whether id was defined over the API (its record is stored). */
bool instances_def_exists(store *st, const char *id);

/* What a create or a remove came to: status 0 (inst the new instance, or
 * NULL for a remove), or an AH_E* with field (may be NULL) and message. */
typedef void (*instances_def_cb)(void *ud, int status, const char *field, const char *message,
                                 instance *inst);

/* Create from def {"id", "plugin", "config"?, "secrets"? {name: value},
 * "egress"?, "limits"?, "restart"?, "required"?, "enabled"?}: checked
 * (the plugin installed, the id free, the config against the manifest's
 * config_schema, the secrets the manifest names and the required ones
 * given), added, its secrets sealed and its record written; once durable
 * it is started and cb runs. On a refusal returns AH_EINVAL (AH_EEXIST for
 * an id in use, AH_ENOTFOUND for a plugin not installed) with the field
 * and the reason, and cb never runs. Secret values never reach a log. */
int instances_def_create(supervisor *s, store *st, secrets *sec, const registry *r,
                         const json_t *def, instances_def_cb cb, void *ud, char *field,
                         size_t fieldlen, char *err, size_t errlen);

/* Remove an instance defined over the API: stopped, then its record,
 * state, KV and secrets deleted in one commit; cb runs after it. Returns
 * AH_ENOTFOUND (no such instance) or AH_EDENIED (it comes from the config
 * file) with err, and cb never runs. */
int instances_def_remove(supervisor *s, store *st, const char *id, instances_def_cb cb, void *ud,
                         char *err, size_t errlen);

#endif
