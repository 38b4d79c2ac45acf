#include "config.h"

#include "jsonschema.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const char ah_embed_config_schema[];
extern const size_t ah_embed_config_schema_len;

static json_t *g_schema;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void load_schema(void)
{
    g_schema = json_loadb(ah_embed_config_schema, ah_embed_config_schema_len, 0, NULL);
}

const json_t *config_schema(void)
{
    pthread_once(&g_once, load_schema);
    return g_schema;
}

int config_load(config *c, const char *path, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    if (!path) {
        c->json = json_object();
        return 0;
    }
    size_t len;
    char *text = ah_read_file(path, CONFIG_MAX_BYTES, &len);
    if (!text) {
        snprintf(err, errlen, "%s: %s", path,
                 errno == EFBIG ? "larger than 4 MiB" : strerror(errno));
        return -1;
    }
    json_error_t je;
    c->json = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!c->json) {
        snprintf(err, errlen, "%s: invalid JSON: line %d, column %d: %s", path, je.line, je.column,
                 je.text);
        return -1;
    }
    if (!json_is_object(c->json)) {
        snprintf(err, errlen, "%s: the configuration must be a JSON object", path);
        json_decref(c->json);
        c->json = NULL;
        return -1;
    }
    return 0;
}

int config_set(config *c, const char *key, const char *value)
{
    return json_object_set_new(c->json, key, json_string(value));
}

static void resolve(char *out, size_t len, const char *path)
{
    if (path[0] == '/') {
        snprintf(out, len, "%s", path);
        return;
    }
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd))) snprintf(cwd, sizeof(cwd), ".");
    const char *p = path;
    while (p[0] == '.' && p[1] == '/')
        p += 2;
    if (!strcmp(p, ".")) p = "";
    snprintf(out, len, "%s%s%s", cwd, *p ? "/" : "", p);
}

int config_finalize(config *c, const char *path, char *err, size_t errlen)
{
    const json_t *schema = config_schema();
    char verr[512];
    jsonschema_apply_defaults(schema, c->json);
    if (jsonschema_validate(schema, c->json, verr, sizeof(verr)) < 0) {
        snprintf(err, errlen, "%s: %s", path ? path : "configuration", verr);
        return -1;
    }
    c->listen = json_string_value(json_object_get(c->json, "listen"));
    resolve(c->data_dir, sizeof(c->data_dir),
            json_string_value(json_object_get(c->json, "data_dir")));
    resolve(c->logs_dir, sizeof(c->logs_dir),
            json_string_value(json_object_get(c->json, "logs_dir")));
    char exe[PATH_MAX], tmp[PATH_MAX + 64];
    if (ah_exe_dir(exe, sizeof(exe)) < 0) snprintf(exe, sizeof(exe), ".");
    const char *pd = json_string_value(json_object_get(c->json, "plugins_dir"));
    if (pd) {
        resolve(c->plugins_dir, sizeof(c->plugins_dir), pd);
    } else {
        /* Installed layout first (bin/../lib/agenthost/plugins), then the build tree. */
        snprintf(tmp, sizeof(tmp), "%s/../lib/agenthost/plugins", exe);
        if (access(tmp, R_OK) == 0)
            snprintf(c->plugins_dir, sizeof(c->plugins_dir), "%s", tmp);
        else
            snprintf(c->plugins_dir, sizeof(c->plugins_dir), "%s/plugins", exe);
    }
    const char *rn = json_string_value(json_object_get(c->json, "runner"));
    if (rn)
        resolve(c->runner, sizeof(c->runner), rn);
    else
        snprintf(c->runner, sizeof(c->runner), "%s/agenthost-runner", exe);
    const char *mk = json_string_value(json_object_get(c->json, "master_key"));
    if (mk)
        resolve(c->master_key, sizeof(c->master_key), mk);
    else
        snprintf(c->master_key, sizeof(c->master_key), "%s/master.key", c->data_dir);
    const char *tk = json_string_value(json_object_get(c->json, "trusted_keys_dir"));
    if (tk)
        resolve(c->trusted_keys_dir, sizeof(c->trusted_keys_dir), tk);
    else
        snprintf(c->trusted_keys_dir, sizeof(c->trusted_keys_dir), "%s/trusted-keys", c->data_dir);
    return 0;
}

void config_free(config *c)
{
    json_decref(c->json);
    c->json = NULL;
}

static const json_t *lookup(const config *c, const char *section, const char *key)
{
    const json_t *v = section ? json_object_get(json_object_get(c->json, section), key)
                              : json_object_get(c->json, key);
    if (v) return v;
    /* Fall back to the schema's default (a section absent from the file). */
    const json_t *props = json_object_get(config_schema(), "properties");
    if (section) props = json_object_get(json_object_get(props, section), "properties");
    return json_object_get(json_object_get(props, key), "default");
}

long long config_int(const config *c, const char *section, const char *key)
{
    return (long long)json_integer_value(lookup(c, section, key));
}

const char *config_str(const config *c, const char *section, const char *key)
{
    return json_string_value(lookup(c, section, key));
}

int config_bool(const config *c, const char *section, const char *key)
{
    return json_is_true(lookup(c, section, key));
}
