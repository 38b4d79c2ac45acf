#include "manifest_priv.h"

#include "core/jsonschema.h"
#include "core/topic.h"
#include "core/util.h"

#include <agenthost/plugin.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

extern const char ah_embed_manifest_schema[];
extern const size_t ah_embed_manifest_schema_len;

static json_t *g_schema;
static pthread_once_t g_schema_once = PTHREAD_ONCE_INIT;

static void load_schema(void)
{
    json_error_t e;
    g_schema = json_loadb(ah_embed_manifest_schema, ah_embed_manifest_schema_len, 0, &e);
}

const json_t *manifest_schema(void)
{
    pthread_once(&g_schema_once, load_schema);
    return g_schema;
}

static json_t *g_empty;
static pthread_once_t g_empty_once = PTHREAD_ONCE_INIT;

static void make_empty(void)
{
    g_empty = json_array();
}

static const json_t *empty_array(void)
{
    pthread_once(&g_empty_once, make_empty);
    return g_empty;
}

void manifest_free(manifest *m)
{
    if (!m) return;
    free(m->path);
    free(m->dir);
    free(m->library);
    json_decref(m->json);
    free(m);
}

static int ferr(char *err, size_t errlen, const char *path, const char *field, const char *fmt,
                const char *a)
{
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, a);
    if (field)
        snprintf(err, errlen, "%s: %s: %s", path, field, msg);
    else
        snprintf(err, errlen, "%s: %s", path, msg);
    return -1;
}

static uint32_t get_u32(const json_t *obj, const char *key, uint32_t def)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (uint32_t)json_integer_value(v) : def;
}

/* Checks the schema cannot express. */
static int semantic_checks(manifest *m, bool check_library, char *err, size_t errlen)
{
    const json_t *j = m->json;
    char schema_err[512], field[128];

    const json_t *cs = json_object_get(j, "config_schema");
    if (cs && jsonschema_check(cs, schema_err, sizeof(schema_err)) < 0)
        return ferr(err, errlen, m->path, "config_schema", "%s", schema_err);

    size_t i;
    const json_t *a;
    json_array_foreach(manifest_actions(m), i, a)
    {
        const char *name = json_string_value(json_object_get(a, "name"));
        for (size_t k = 0; k < i; k++) {
            const char *other =
                json_string_value(json_object_get(json_array_get(manifest_actions(m), k), "name"));
            if (!strcmp(other, name)) {
                snprintf(field, sizeof(field), "actions[%zu].name", i);
                return ferr(err, errlen, m->path, field, "duplicate action \"%s\"", name);
            }
        }
        char prefix[40], msg[300];
        snprintf(prefix, sizeof(prefix), "actions[%zu]", i);
        if (manifest_check_export((json_t *)a, field, sizeof(field), prefix, msg, sizeof(msg)) < 0)
            return ferr(err, errlen, m->path, field, "%s", msg);
        static const char *const schemas[] = {"args", "result"};
        for (int s = 0; s < 2; s++) {
            const json_t *sch = json_object_get(a, schemas[s]);
            if (sch && jsonschema_check(sch, schema_err, sizeof(schema_err)) < 0) {
                snprintf(field, sizeof(field), "actions[%zu].%s", i, schemas[s]);
                return ferr(err, errlen, m->path, field, "%s", schema_err);
            }
        }
    }
    const json_t *wh = json_object_get(j, "webhook");
    const char *whsecret = json_string_value(json_object_get(wh, "secret"));
    if (whsecret && !manifest_declares_secret(m, whsecret))
        return ferr(err, errlen, m->path, "webhook.secret",
                    "names \"%s\", which the manifest's secrets do not declare", whsecret);
    if (wh && !!whsecret != !!json_object_get(wh, "secret_header"))
        return ferr(err, errlen, m->path, "webhook", "secret_header and secret go together%s", "");

    if (m->restart.max_backoff_ms < m->restart.backoff_ms)
        return ferr(err, errlen, m->path, "restart.max_backoff_ms",
                    "must be at least restart.backoff_ms%s", "");

    if (check_library) {
        struct stat st;
        if (stat(m->library, &st) < 0)
            return ferr(err, errlen, m->path, "library", "%s", strerror(errno));
        if (!S_ISREG(st.st_mode))
            return ferr(err, errlen, m->path, "library", "%s is not a regular file", m->library);
    }
    return 0;
}

int manifest_parse(const char *path, const char *text, size_t len, bool check_library,
                   manifest **out, char *err, size_t errlen)
{
    *out = NULL;
    if (len > MANIFEST_MAX_BYTES) return ferr(err, errlen, path, NULL, "larger than %s", "1 MiB");
    const json_t *schema = manifest_schema();
    if (!schema)
        return ferr(err, errlen, path, NULL, "%s", "internal error: embedded schema unreadable");

    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        char msg[300];
        snprintf(msg, sizeof(msg), "line %d, column %d: %s", je.line, je.column, je.text);
        return ferr(err, errlen, path, NULL, "invalid JSON: %s", msg);
    }
    char verr[512];
    if (jsonschema_validate(schema, j, verr, sizeof(verr)) < 0) {
        json_decref(j);
        return ferr(err, errlen, path, NULL, "%s", verr);
    }
    jsonschema_apply_defaults(schema, j);
    /* Defaults of array items (secrets[].required, egress[].scheme). */
    const json_t *props = json_object_get(schema, "properties");
    static const char *const arrays[] = {"secrets", "egress"};
    for (int k = 0; k < 2; k++) {
        const json_t *item_schema = json_object_get(json_object_get(props, arrays[k]), "items");
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(j, arrays[k]), i, it)
            jsonschema_apply_defaults(item_schema, it);
    }
    if (!json_object_get(j, "limits")) {
        json_object_set_new(j, "limits", json_object());
        jsonschema_apply_defaults(schema, j);
    }
    if (!json_object_get(j, "restart")) {
        json_object_set_new(j, "restart", json_object());
        jsonschema_apply_defaults(schema, j);
    }

    manifest *m = calloc(1, sizeof(*m));
    if (!m) {
        json_decref(j);
        return ferr(err, errlen, path, NULL, "%s", "out of memory");
    }
    m->json = j;
    m->path = strdup(path);
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof(dir), ".");
    char absdir[PATH_MAX];
    m->dir = strdup(realpath(dir, absdir) ? absdir : dir);
    m->name = json_string_value(json_object_get(j, "name"));
    m->version = json_string_value(json_object_get(j, "version"));
    m->description = json_string_value(json_object_get(j, "description"));
    sscanf(json_string_value(json_object_get(j, "abi")), "%d.%d", &m->abi_major, &m->abi_minor);
    char lib[PATH_MAX + 256];
    snprintf(lib, sizeof(lib), "%s/%s", m->dir, json_string_value(json_object_get(j, "library")));
    m->library = strdup(lib);

    static const manifest_limits dl = {256, 64, 256, 10000, 0};
    static const manifest_restart dr = {RESTART_ON_FAILURE, 500, 30000, 5, 60};
    manifest_layer_limits(json_object_get(j, "limits"), &dl, &m->limits);
    manifest_layer_restart(json_object_get(j, "restart"), &dr, &m->restart);
    const json_t *storage = json_object_get(j, "storage");
    if (json_is_true(json_object_get(storage, "private")))
        m->storage_max_mb = (uint32_t)json_integer_value(json_object_get(storage, "max_mb"));

    if (!m->path || !m->dir || !m->library) {
        manifest_free(m);
        return ferr(err, errlen, path, NULL, "%s", "out of memory");
    }
    if (semantic_checks(m, check_library, err, errlen) < 0) {
        manifest_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

int manifest_load(const char *path, bool check_library, manifest **out, char *err, size_t errlen)
{
    size_t len;
    char *text = ah_read_file(path, MANIFEST_MAX_BYTES, &len);
    if (!text) {
        *out = NULL;
        return ferr(err, errlen, path, NULL, "%s",
                    errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
    }
    int rc = manifest_parse(path, text, len, check_library, out, err, errlen);
    free(text);
    return rc;
}

const json_t *manifest_config_schema(const manifest *m)
{
    return json_object_get(m->json, "config_schema");
}

static const json_t *array_or_empty(const manifest *m, const char *key)
{
    const json_t *a = json_object_get(m->json, key);
    return a ? a : empty_array();
}

const json_t *manifest_secrets(const manifest *m)
{
    return array_or_empty(m, "secrets");
}

const json_t *manifest_actions(const manifest *m)
{
    return array_or_empty(m, "actions");
}

const json_t *manifest_egress(const manifest *m)
{
    return array_or_empty(m, "egress");
}

const json_t *manifest_action(const manifest *m, const char *name)
{
    size_t i;
    const json_t *a;
    json_array_foreach(manifest_actions(m), i, a)
    {
        if (!strcmp(json_string_value(json_object_get(a, "name")), name)) return a;
    }
    return NULL;
}

bool manifest_may_call(const manifest *m, const char *plugin, const char *action)
{
    size_t i, j;
    const json_t *c, *a;
    json_array_foreach(array_or_empty(m, "calls"), i, c)
    {
        const char *p = json_string_value(json_object_get(c, "plugin"));
        if (!p || strcmp(p, plugin) != 0) continue;
        json_array_foreach(json_object_get(c, "actions"), j, a)
        {
            const char *s = json_string_value(a);
            if (s && !strcmp(s, action)) return true;
        }
    }
    return false;
}

bool manifest_declares_secret(const manifest *m, const char *name)
{
    size_t i;
    const json_t *s;
    json_array_foreach(manifest_secrets(m), i, s)
    {
        if (!strcmp(json_string_value(json_object_get(s, "name")), name)) return true;
    }
    return false;
}

static bool any_match(const json_t *patterns, const char *topic)
{
    size_t i;
    const json_t *p;
    json_array_foreach(patterns, i, p)
    {
        if (topic_matches(json_string_value(p), topic)) return true;
    }
    return false;
}

bool manifest_may_publish(const manifest *m, const char *topic)
{
    return any_match(json_object_get(m->json, "publishes"), topic);
}

bool manifest_subscribes(const manifest *m, const char *topic)
{
    return any_match(json_object_get(m->json, "subscribes"), topic);
}

void manifest_layer_limits(const json_t *o, const manifest_limits *base, manifest_limits *out)
{
    *out = *base;
    out->memory_mb = get_u32(o, "memory_mb", base->memory_mb);
    out->open_files = get_u32(o, "open_files", base->open_files);
    out->in_flight = get_u32(o, "in_flight", base->in_flight);
    out->stall_ms = get_u32(o, "stall_ms", base->stall_ms);
    out->cpu_s = get_u32(o, "cpu_s", base->cpu_s);
}

void manifest_layer_restart(const json_t *o, const manifest_restart *base, manifest_restart *out)
{
    *out = *base;
    const char *pol = json_string_value(json_object_get(o, "policy"));
    if (pol)
        out->policy = !strcmp(pol, "always")  ? RESTART_ALWAYS
                      : !strcmp(pol, "never") ? RESTART_NEVER
                                              : RESTART_ON_FAILURE;
    out->backoff_ms = get_u32(o, "backoff_ms", base->backoff_ms);
    out->max_backoff_ms = get_u32(o, "max_backoff_ms", base->max_backoff_ms);
    out->max_crashes = get_u32(o, "max_crashes", base->max_crashes);
    out->window_s = get_u32(o, "window_s", base->window_s);
}
