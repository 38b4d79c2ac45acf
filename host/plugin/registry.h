/*
 * registry.h - the installed plugins: one folder per plugin under the
 * plugins directory, each holding manifest.json and its library. A bad
 * manifest is reported (one line naming the file and the field) and
 * skipped; the others load.
 */
#ifndef AH_REGISTRY_H
#define AH_REGISTRY_H

#include "manifest.h"

#include <jansson.h>
#include <stddef.h>

typedef struct registry registry;

/* Scan dir. Returns 0 (even with bad manifests; see registry_errors), or
 * -1 with err when the directory itself cannot be read. */
int registry_scan(registry **out, const char *dir, char *err, size_t errlen);
void registry_free(registry *r);

size_t registry_count(const registry *r);
const manifest *registry_at(const registry *r, size_t i);
const manifest *registry_find(const registry *r, const char *name);
/* Array of error lines for manifests that were skipped (borrowed). */
const json_t *registry_errors(const registry *r);
const char *registry_dir(const registry *r);

#endif
