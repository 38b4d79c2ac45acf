/*
 * manifest.h - plugin manifests: loading, validation, typed access.
 *
 * A manifest is JSON validated against manifests/schema.json (embedded in
 * the binary) plus checks a schema cannot express (the library exists
 * beside the manifest, nested schemas are usable, names are unique). Every
 * error is one line naming the file and the field:
 *   manifests/telegram.json: limits.memory_mb: expected integer, got "lots"
 */
#ifndef AH_MANIFEST_H
#define AH_MANIFEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MANIFEST_MAX_BYTES (1u << 20)

typedef struct manifest_limits {
    uint32_t memory_mb;
    uint32_t open_files;
    uint32_t in_flight;
    uint32_t stall_ms;
    uint32_t cpu_s; /* 0: unlimited */
} manifest_limits;

typedef enum restart_policy {
    RESTART_ON_FAILURE = 0,
    RESTART_ALWAYS,
    RESTART_NEVER
} restart_policy;

typedef struct manifest_restart {
    restart_policy policy;
    uint32_t backoff_ms;
    uint32_t max_backoff_ms;
    uint32_t max_crashes;
    uint32_t window_s;
} manifest_restart;

typedef struct manifest {
    char *path;                               /* the manifest file as given */
    char *dir;                                /* its directory */
    char *library;                            /* absolute path of the library */
    const char *name, *version, *description; /* borrowed from json */
    int abi_major, abi_minor;
    manifest_limits limits;
    manifest_restart restart;
    /* "storage": {"private": true, "max_mb": N}: the instance's private
     * directory (docs/adr/0051-plugin-private-storage.md); 0: none. */
    uint32_t storage_max_mb;
    json_t *json; /* the whole manifest with defaults applied (owned) */
} manifest;

/* Load and validate a manifest file. Returns 0, or -1 with a one-line
 * error "PATH: FIELD: MESSAGE" in err. check_library: require the library
 * file to exist. */
int manifest_load(const char *path, bool check_library, manifest **out, char *err, size_t errlen);

/* Validate manifest text (no file access beyond the library check when
 * check_library). path is used for messages and to locate the library.
 * Returns as manifest_load. */
int manifest_parse(const char *path, const char *text, size_t len, bool check_library,
                   manifest **out, char *err, size_t errlen);

void manifest_free(manifest *m);

/* Borrowed views into the manifest's JSON (never NULL for arrays/objects:
 * an empty one when absent). */
const json_t *manifest_config_schema(const manifest *m);            /* may be NULL */
const json_t *manifest_secrets(const manifest *m);                  /* array of {name, required} */
const json_t *manifest_actions(const manifest *m);                  /* array */
const json_t *manifest_egress(const manifest *m);                   /* array */
const json_t *manifest_action(const manifest *m, const char *name); /* or NULL */

/* Whether the manifest's `calls` lets it call `action` of plugin `plugin`. */
bool manifest_may_call(const manifest *m, const char *plugin, const char *action);

bool manifest_declares_secret(const manifest *m, const char *name);
/* Topic checks honour wildcards in the manifest ("message.*", "crm.>"). */
bool manifest_may_publish(const manifest *m, const char *topic);
bool manifest_subscribes(const manifest *m, const char *topic);

/* Layer a "limits" / "restart" object over base values (fields absent
 * from obj keep base's). obj must be valid against the schema's parts. */
void manifest_layer_limits(const json_t *obj, const manifest_limits *base, manifest_limits *out);
void manifest_layer_restart(const json_t *obj, const manifest_restart *base, manifest_restart *out);

/* The embedded schema (a new reference is not taken: borrowed, static). */
const json_t *manifest_schema(void);

#endif
