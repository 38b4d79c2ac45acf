#include "config.h"

#include "jsonschema.h"
#include "util.h"

#include <agenthost/plugin.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const char ah_embed_config_schema[];
extern const size_t ah_embed_config_schema_len;

/* One declaration per option, laid out as a table. */
/* clang-format off */
const opt_decl config_options[] = {
    {.name = "listen", OPT_STRING(config, listen), .def_str = "127.0.0.1:8080",
     .doc = "HOST:PORT of the HTTP server ([::1]:8080 for IPv6, port 0 for any)."},
    {.name = "data_dir", OPT_PATH(config, data_dir), .def_str = "./var",
     .doc = "The store, the master key and the lock file; created 0700."},
    {.name = "logs_dir", OPT_PATH(config, logs_dir), .def_str = "./logs",
     .doc = "The log files; created 0700."},
    {.name = "plugins_dir", OPT_PATH(config, plugins_dir), .def_doc = "beside the binary",
     .doc = "Installed plugins, one folder each (../lib/agenthost/plugins when installed, "
            "./plugins in a build tree)."},
    {.name = "runner", OPT_PATH(config, runner), .def_doc = "beside the binary",
     .doc = "The sandbox runner, agenthost-runner."},
    {.name = "master_key", OPT_PATH(config, master_key), .def_doc = "DATA_DIR/master.key",
     .doc = "The master key file of the secrets; keep it apart from backups."},
    {.name = "trusted_keys_dir", OPT_PATH(config, trusted_keys_dir),
     .def_doc = "DATA_DIR/trusted-keys",
     .doc = "Public keys trusted to sign plugin packages, one KEY_ID.pub each."},
    {0}};
/* clang-format on */

json_t *config_schema_new(const opt_decl *options)
{
    json_t *s = json_loadb(ah_embed_config_schema, ah_embed_config_schema_len, 0, NULL);
    const opt_decl *const tables[] = {config_options, options, NULL};
    if (s && optmap_schema_add(tables, s) < 0) {
        json_decref(s);
        return NULL;
    }
    return s;
}

int config_load(config *c, const char *path, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    if (!path) {
        c->json = json_object();
        return c->json ? 0 : AH_ENOMEM;
    }
    size_t len;
    char *text = ah_read_file(path, CONFIG_MAX_BYTES, &len);
    if (!text) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, e == EFBIG ? "larger than 4 MiB" : strerror(e));
        return e == EFBIG ? AH_ETOOBIG : e == ENOMEM ? AH_ENOMEM : AH_EIO;
    }
    json_error_t je;
    c->json = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!c->json) {
        snprintf(err, errlen, "%s: invalid JSON: line %d, column %d: %s", path, je.line, je.column,
                 je.text);
        return AH_EINVAL;
    }
    if (!json_is_object(c->json)) {
        snprintf(err, errlen, "%s: the configuration must be a JSON object", path);
        json_decref(c->json);
        c->json = NULL;
        return AH_EINVAL;
    }
    return 0;
}

int config_set(config *c, const char *key, const char *value)
{
    return json_object_set_new(c->json, key, json_string(value)) < 0 ? AH_ENOMEM : 0;
}

/* ---- unknown keys, and the nearest known one ---- */

/* Optimal string alignment distance (a swap of neighbours counts 1), for
 * short words (longer ones are never near: UINT_MAX). */
static unsigned distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 64 || m > 64) return UINT_MAX;
    unsigned d[65][65];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (unsigned)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (unsigned)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            unsigned cost = a[i - 1] != b[j - 1], best = d[i - 1][j - 1] + cost;
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

/* The known key nearest to `key`: at most 2 edits, and fewer than a third of its length. */
static const char *nearest(const char *key, const json_t *props)
{
    const char *best = NULL, *k;
    unsigned bd = UINT_MAX, limit = (unsigned)(strlen(key) / 3);
    const json_t *v;
    if (limit > 2) limit = 2;
    if (limit < 1) limit = 1;
    json_object_foreach((json_t *)props, k, v)
    {
        unsigned d = distance(key, k);
        if (d <= limit && d < bd) {
            bd = d;
            best = k;
        }
    }
    return best;
}

/* The first key in v that the schema does not know, named by its path. */
static int unknown_keys(const json_t *schema, const json_t *v, char *path, size_t at, size_t cap,
                        char *err, size_t errlen)
{
    const json_t *props = json_object_get(schema, "properties");
    const json_t *addl = json_object_get(schema, "additionalProperties");
    const json_t *items = json_object_get(schema, "items");
    const char *k;
    const json_t *cv;
    int rc = 0;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, cv)
        {
            const json_t *cs = json_object_get(props, k);
            if (!cs && json_is_object(addl)) cs = addl;
            snprintf(path + at, cap - at, "%s%s", at ? "." : "", k);
            size_t next = strlen(path);
            if (!cs && json_is_false(addl)) {
                const char *near = nearest(k, props);
                snprintf(err, errlen, "%s: unknown option%s%s%s", path,
                         near ? "; did you mean " : "", near ? near : "", near ? "?" : "");
                return AH_EINVAL;
            }
            if (cs && (rc = unknown_keys(cs, cv, path, next, cap, err, errlen))) return rc;
        }
    } else if (json_is_array(v) && json_is_object(items)) {
        size_t i;
        json_array_foreach(v, i, cv)
        {
            snprintf(path + at, cap - at, "[%zu]", i);
            if ((rc = unknown_keys(items, cv, path, strlen(path), cap, err, errlen))) return rc;
        }
    }
    path[at] = 0;
    return 0;
}

/* ---- finalising ---- */

/* The paths whose default the code computes: beside the binary, or in the data directory. */
static void computed_defaults(config *c)
{
    char exe[PATH_MAX], tmp[PATH_MAX + 64];
    if (ah_exe_dir(exe, sizeof(exe)) < 0) snprintf(exe, sizeof(exe), ".");
    if (!c->plugins_dir[0]) {
        /* Installed layout first (bin/../lib/agenthost/plugins), then the build tree. */
        snprintf(tmp, sizeof(tmp), "%s/../lib/agenthost/plugins", exe);
        if (access(tmp, R_OK) == 0)
            snprintf(c->plugins_dir, sizeof(c->plugins_dir), "%s", tmp);
        else
            snprintf(c->plugins_dir, sizeof(c->plugins_dir), "%s/plugins", exe);
    }
    if (!c->runner[0]) snprintf(c->runner, sizeof(c->runner), "%s/agenthost-runner", exe);
    if (!c->master_key[0])
        snprintf(c->master_key, sizeof(c->master_key), "%s/master.key", c->data_dir);
    if (!c->trusted_keys_dir[0])
        snprintf(c->trusted_keys_dir, sizeof(c->trusted_keys_dir), "%s/trusted-keys", c->data_dir);
}

int config_finalize(config *c, const opt_decl *options, void *settings, const char *path, char *err,
                    size_t errlen)
{
    char verr[512], where[512] = "";
    json_t *schema = config_schema_new(options);
    int rc = AH_EINVAL;
    if (!schema) {
        snprintf(err, errlen, "%s: out of memory", path ? path : "configuration");
        return AH_ENOMEM;
    }
    if (unknown_keys(schema, c->json, where, 0, sizeof(where), verr, sizeof(verr)) < 0) goto fail;
    jsonschema_apply_defaults(schema, c->json);
    if (jsonschema_validate(schema, c->json, verr, sizeof(verr)) < 0) goto fail;
    if (optmap_apply(config_options, c->json, c, verr, sizeof(verr)) < 0 ||
        optmap_apply(options, c->json, settings, verr, sizeof(verr)) < 0)
        goto fail;
    computed_defaults(c);
    json_decref(schema);
    return 0;
fail:
    snprintf(err, errlen, "%s: %s", path ? path : "configuration", verr);
    json_decref(schema);
    return rc;
}

void config_free(config *c)
{
    json_decref(c->json);
    c->json = NULL;
}
