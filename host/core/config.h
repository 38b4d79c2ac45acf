/*
 * config.h - the host's configuration: a JSON file validated against
 * etc/config.schema.json (embedded), defaults applied, flags on top.
 */
#ifndef AH_CONFIG_H
#define AH_CONFIG_H

#include <jansson.h>
#include <stddef.h>

#define CONFIG_MAX_BYTES (4u << 20)

typedef struct config {
    json_t *json; /* the whole validated config, defaults applied (owned) */
    /* Resolved paths and values (borrowed from json or owned buffers). */
    const char *listen;
    char data_dir[1024];
    char logs_dir[1024];
    char plugins_dir[1024];
    char runner[1024];
    char master_key[1024];
    char trusted_keys_dir[1024]; /* keys trusted to sign plugin packages */
} config;

/* Start from a file (path may be NULL for the embedded defaults). On error
 * returns -1 with "PATH: FIELD: MESSAGE" in err. */
int config_load(config *c, const char *path, char *err, size_t errlen);

/* Override one top-level string setting (from a flag) before finalising. */
int config_set(config *c, const char *key, const char *value);

/* Validate, apply defaults and resolve paths. -1 with err on failure. */
int config_finalize(config *c, const char *path_for_errors, char *err, size_t errlen);

void config_free(config *c);

/* Typed access with the schema's defaults: config_int(c, "http", "max_connections"). */
long long config_int(const config *c, const char *section, const char *key);
const char *config_str(const config *c, const char *section, const char *key);
int config_bool(const config *c, const char *section, const char *key);

/* The embedded schema (borrowed). */
const json_t *config_schema(void);

#endif
