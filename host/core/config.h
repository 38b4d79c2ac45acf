/*
 * config.h - the host's configuration file: JSON, flags on top, validated
 * against the declared options (config_options below for the top-level
 * paths, and the caller's table, host/app/options.c, for the rest) merged with
 * the structured parts of etc/config.schema.json (embedded); defaults
 * applied, paths resolved, every declared option written into its field.
 */
#ifndef AH_CONFIG_H
#define AH_CONFIG_H

#include "optmap.h"

#include <jansson.h>
#include <stddef.h>

#define CONFIG_MAX_BYTES (4u << 20)

typedef struct config {
    json_t *json; /* the whole validated file, defaults applied (owned) */
    /* The top-level options (config_options), resolved. */
    const char *listen; /* borrowed from json */
    char data_dir[1024];
    char logs_dir[1024];
    char plugins_dir[1024];
    char runner[1024];
    char master_key[1024];
    char trusted_keys_dir[1024]; /* keys trusted to sign plugin packages */
} config;

/* The top-level options, into struct config (ended by {0}). */
extern const opt_decl config_options[];

/* Read a file (path NULL: none, the defaults apply). Returns 0, or with
 * "PATH: reason" in err: AH_EIO (cannot read it), AH_ETOOBIG (over
 * CONFIG_MAX_BYTES), AH_EINVAL (not JSON, or not an object), AH_ENOMEM. */
int config_load(config *c, const char *path, char *err, size_t errlen);

/* Set one top-level string (a flag) before config_finalize. 0, or AH_ENOMEM. */
int config_set(config *c, const char *key, const char *value);

/* Validate the file against config_options, `options` (the caller's
 * declarations, ended by {0}) and the structured schema; apply defaults;
 * write config_options into c and `options` into settings (the struct they
 * were declared on; its other fields are left as they are). Returns 0, or
 * with "PATH: KEY: reason" in err (PATH "configuration" when NULL):
 *   AH_EINVAL  an unknown key ("unknown option", and the nearest known one
 *              when one is close), a value of the wrong type, out of its
 *              range or enum, too large for its field, or a path too long;
 *   AH_ENOMEM  out of memory. */
int config_finalize(config *c, const opt_decl *options, void *settings, const char *path, char *err,
                    size_t errlen);

void config_free(config *c);

/* The whole JSON Schema of a file with these options (the structured file,
 * config_options and options merged): a new reference, or NULL (out of
 * memory). */
json_t *config_schema_new(const opt_decl *options);

#endif
