/*
 * instances_def.c - instances defined over the API. See instances_def.h.
 */
#include "instances_def.h"
#include "storage.h"

#include "core/log.h"
#include "core/util.h"

#include <agenthost/plugin.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t def_key(char *buf, size_t len, const char *id)
{
    int n = snprintf(buf, len, INSTANCES_DEF_PREFIX "%s", id);
    return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

/* The overrides supervisor_add takes, from a definition. */
static json_t *overrides_of(const json_t *def)
{
    json_t *o = json_object();
    static const char *const parts[] = {"limits", "restart", "egress", "required"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        json_t *v = json_object_get(def, parts[i]);
        if (v) json_object_set(o, parts[i], v);
    }
    return o;
}

/* ---- at start ---------------------------------------------------------------------- */

static int collect(void *ud, store_val key, store_val val)
{
    (void)key;
    json_t *rec = json_loadb(val.data, val.len, 0, NULL);
    if (rec) json_array_append_new(ud, rec);
    return 0;
}

size_t instances_def_load(supervisor *s, store *st, const registry *r)
{
    json_t *all = json_array();
    store_txn *txn;
    if (store_read_begin(st, &txn) == 0) {
        store_scan(txn, STORE_DB_INSTANCES, INSTANCES_DEF_PREFIX, strlen(INSTANCES_DEF_PREFIX),
                   NULL, 0, 0, collect, all);
        store_read_end(st, txn);
    }
    size_t added = 0, i;
    json_t *def;
    json_array_foreach(all, i, def)
    {
        const char *id = json_string_value(json_object_get(def, "id")) ?: "?";
        const char *plugin = json_string_value(json_object_get(def, "plugin")) ?: "?";
        const manifest *m = registry_find(r, plugin);
        char err[600];
        if (!m) {
            log_error("host",
                      "instance %s (made over the API): plugin \"%s\" is not installed in %s", id,
                      plugin, registry_dir(r));
            continue;
        }
        if (supervisor_find(s, id)) {
            log_error("host",
                      "instance %s (made over the API): the config file defines an instance of "
                      "that id, which wins; remove one of them",
                      id);
            continue;
        }
        json_t *ov = overrides_of(def);
        if (supervisor_add(s, id, m, json_object_get(def, "config"), ov,
                           !json_is_false(json_object_get(def, "enabled")), err, sizeof(err)) < 0)
            log_error("host", "instance %s (made over the API): %s", id, err);
        else
            added++;
        json_decref(ov);
    }
    json_decref(all);
    return added;
}

bool instances_def_exists(store *st, const char *id)
{
    char key[128];
    size_t klen = def_key(key, sizeof(key), id);
    store_txn *txn;
    if (!klen || store_read_begin(st, &txn) != 0) return false;
    store_val v;
    bool found = store_get(txn, STORE_DB_INSTANCES, key, klen, &v) == 0;
    store_read_end(st, txn);
    return found;
}

/* ---- removing (and undoing a create that failed) --------------------------------------- */

typedef struct purge_op {
    char id[72];
    store *st;
    const char *data_dir; /* for the private storage (storage.h), may be NULL */
    instances_def_cb cb;
    void *ud;
    int fail_status; /* a create undone: report this */
    char fail_field[64];
    char fail_msg[300];
} purge_op;

static int del_ok(int rc)
{
    return rc == AH_ENOTFOUND ? 0 : rc;
}

static int apply_purge(store_txn *txn, void *arg)
{
    purge_op *op = arg;
    char key[128];
    size_t klen = def_key(key, sizeof(key), op->id), idlen = strlen(op->id);
    int rc = del_ok(store_del(txn, STORE_DB_INSTANCES, key, klen));
    if (!rc) rc = del_ok(store_del(txn, STORE_DB_INSTANCES, op->id, idlen));
    /* KV and secrets are keyed "<instance>\0<name>" (store.h). */
    if (!rc) rc = store_del_prefix(txn, STORE_DB_KV, op->id, idlen + 1, NULL);
    if (!rc) rc = store_del_prefix(txn, STORE_DB_SECRETS, op->id, idlen + 1, NULL);
    return rc;
}

static void done_purge(int status, void *arg)
{
    purge_op *op = arg;
    /* Its private storage goes with it (only once the record is gone: a
     * failed purge keeps both). */
    if (!status && op->data_dir && plugin_storage_remove(op->data_dir, op->id) < 0)
        log_error("host", "instance %s: deleting its private storage failed: %s", op->id,
                  strerror(errno));
    if (status)
        log_error("host", "instance %s: deleting its record, KV and secrets failed: %s", op->id,
                  ah_strerror(status));
    else if (!op->fail_status)
        log_info("host", "instance %s removed with its record, KV, secrets and private storage",
                 op->id);
    if (op->cb) {
        if (op->fail_status)
            op->cb(op->ud, op->fail_status, op->fail_field[0] ? op->fail_field : NULL, op->fail_msg,
                   NULL);
        else if (status)
            op->cb(op->ud, status, NULL, "the store refused the deletion", NULL);
        else
            op->cb(op->ud, 0, NULL, NULL, NULL);
    }
    free(op);
}

static void gone(void *ud)
{
    purge_op *op = ud;
    if (store_write(op->st, apply_purge, done_purge, op) != 0) done_purge(AH_ENOMEM, op);
}

int instances_def_remove(supervisor *s, store *st, const char *id, instances_def_cb cb, void *ud,
                         char *err, size_t errlen)
{
    instance *inst = supervisor_find(s, id);
    bool defined = instances_def_exists(st, id);
    if (!inst && !defined) {
        snprintf(err, errlen, "no instance %s", id);
        return AH_ENOTFOUND;
    }
    if (!defined) {
        snprintf(err, errlen,
                 "instance %s comes from the config file: remove it there and restart the host",
                 id);
        return AH_EDENIED;
    }
    purge_op *op = calloc(1, sizeof(*op));
    if (!op) {
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    snprintf(op->id, sizeof(op->id), "%s", id);
    op->st = st;
    op->data_dir = supervisor_data_dir(s);
    op->cb = cb;
    op->ud = ud;
    if (inst)
        supervisor_remove(s, inst, gone, op);
    else
        gone(op);
    return 0;
}

/* ---- creating ---------------------------------------------------------------------- */

typedef struct create_op {
    supervisor *s;
    store *st;
    instance *inst;
    char id[72];
    char *json; /* the record */
    int secret_status;
    unsigned secrets_pending;
    instances_def_cb cb;
    void *ud;
} create_op;

static void secret_done(int status, void *ud)
{
    create_op *op = ud;
    if (status && !op->secret_status) op->secret_status = status;
    op->secrets_pending--;
}

static int apply_def(store_txn *txn, void *arg)
{
    create_op *op = arg;
    char key[128];
    size_t klen = def_key(key, sizeof(key), op->id);
    return store_put(txn, STORE_DB_INSTANCES, key, klen, op->json, strlen(op->json));
}

static void undo(create_op *op, int status, const char *field, const char *msg)
{
    purge_op *p = calloc(1, sizeof(*p));
    if (!p) {
        op->cb(op->ud, status, field, msg, NULL);
        return;
    }
    snprintf(p->id, sizeof(p->id), "%s", op->id);
    p->st = op->st;
    p->data_dir = supervisor_data_dir(op->s);
    p->cb = op->cb;
    p->ud = op->ud;
    p->fail_status = status;
    snprintf(p->fail_field, sizeof(p->fail_field), "%s", field ? field : "");
    snprintf(p->fail_msg, sizeof(p->fail_msg), "%s", msg);
    supervisor_remove(op->s, op->inst, gone, p);
}

static void done_def(int status, void *arg)
{
    create_op *op = arg;
    /* Writes commit in the order queued: every secret's is answered. */
    if (op->secret_status || status) {
        int rc = op->secret_status ? op->secret_status : status;
        log_error("host", "instance %s: storing it failed: %s", op->id, ah_strerror(rc));
        undo(op, rc, op->secret_status ? "secrets" : NULL,
             op->secret_status ? "a secret could not be stored" : "the store refused the write");
    } else {
        log_info("host", "instance %s (plugin %s) created over the API", op->id,
                 instance_manifest(op->inst)->name);
        supervisor_start_one(op->s, op->inst);
        op->cb(op->ud, 0, NULL, NULL, op->inst);
    }
    free(op->json);
    free(op);
}

static int fail(int rc, char *field, size_t fieldlen, const char *f, char *err, size_t errlen,
                const char *fmt, const char *a, const char *b)
{
    snprintf(field, fieldlen, "%s", f);
    snprintf(err, errlen, fmt, a, b);
    return rc;
}

/* A manifest's declared secret of that name, or NULL. */
static const json_t *declared_secret(const manifest *m, const char *name)
{
    size_t i;
    const json_t *d;
    json_array_foreach(json_object_get(m->json, "secrets"), i, d)
    {
        if (!strcmp(json_string_value(json_object_get(d, "name")) ?: "", name)) return d;
    }
    return NULL;
}

static int check_secrets(const manifest *m, const json_t *secs, char *field, size_t fieldlen,
                         char *err, size_t errlen)
{
    if (secs && !json_is_object(secs))
        return fail(AH_EINVAL, field, fieldlen, "secrets", err, errlen,
                    "must be an object of secret names to values%s%s", "", "");
    const char *name;
    const json_t *v;
    char f[160];
    json_object_foreach((json_t *)secs, name, v)
    {
        snprintf(f, sizeof(f), "secrets.%s", name);
        if (!declared_secret(m, name))
            return fail(AH_EINVAL, field, fieldlen, f, err, errlen,
                        "plugin %s declares no secret %s", m->name, name);
        size_t n = json_string_length(v);
        if (!json_is_string(v) || n < SECRET_MIN_BYTES || n > SECRET_MAX_BYTES ||
            memchr(json_string_value(v), 0, n))
            return fail(AH_EINVAL, field, fieldlen, f, err, errlen,
                        "must be a string of 8 bytes to 64 KiB without NUL%s%s", "", "");
    }
    size_t i;
    const json_t *d;
    json_array_foreach(json_object_get(m->json, "secrets"), i, d)
    {
        const char *dn = json_string_value(json_object_get(d, "name")) ?: "";
        snprintf(f, sizeof(f), "secrets.%s", dn);
        if (json_is_true(json_object_get(d, "required")) && !json_object_get(secs, dn))
            return fail(AH_EINVAL, field, fieldlen, f, err, errlen, "plugin %s needs the secret %s",
                        m->name, dn);
    }
    return 0;
}

/* supervisor_add's reason, "instance ID: PART: why", into field and err. */
static void split_reason(const char *id, const char *why, char *field, size_t fieldlen, char *err,
                         size_t errlen)
{
    char lead[100];
    snprintf(lead, sizeof(lead), "instance %s: ", id);
    const char *p = !strncmp(why, lead, strlen(lead)) ? why + strlen(lead) : why;
    static const char *const parts[] = {"config", "limits", "restart", "egress"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        size_t n = strlen(parts[i]);
        if (!strncmp(p, parts[i], n) && p[n] == ':') {
            snprintf(field, fieldlen, "%s", parts[i]);
            snprintf(err, errlen, "%s", p + n + 2);
            return;
        }
    }
    snprintf(field, fieldlen, "id");
    snprintf(err, errlen, "%s", p);
}

int instances_def_create(supervisor *s, store *st, secrets *sec, const registry *r,
                         const json_t *def, instances_def_cb cb, void *ud, char *field,
                         size_t fieldlen, char *err, size_t errlen)
{
    field[0] = 0;
    if (!json_is_object(def))
        return fail(AH_EINVAL, field, fieldlen, "", err, errlen, "the body must be an object%s%s",
                    "", "");
    static const char *const known[] = {"id",     "plugin",  "config",   "secrets", "egress",
                                        "limits", "restart", "required", "enabled"};
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)def, k, v)
    {
        bool ok = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            ok = ok || !strcmp(k, known[i]);
        if (!ok)
            return fail(AH_EINVAL, field, fieldlen, k, err, errlen, "unknown field%s%s", "", "");
    }
    const char *id = json_string_value(json_object_get(def, "id"));
    const char *plugin = json_string_value(json_object_get(def, "plugin"));
    if (!id || !ah_valid_id(id))
        return fail(AH_EINVAL, field, fieldlen, "id", err, errlen,
                    "1-64 characters of a-z, 0-9, '-', '_' and '.'%s%s", "", "");
    if (supervisor_find(s, id) || instances_def_exists(st, id))
        return fail(AH_EEXIST, field, fieldlen, "id", err, errlen, "instance %s exists already%s",
                    id, "");
    if (!plugin)
        return fail(AH_EINVAL, field, fieldlen, "plugin", err, errlen,
                    "the installed plugin's name%s%s", "", "");
    const manifest *m = registry_find(r, plugin);
    if (!m)
        return fail(AH_ENOTFOUND, field, fieldlen, "plugin", err, errlen,
                    "plugin %s is not installed%s", plugin, "");
    const json_t *cfg = json_object_get(def, "config");
    if (cfg && !json_is_object(cfg))
        return fail(AH_EINVAL, field, fieldlen, "config", err, errlen, "must be an object%s%s", "",
                    "");
    static const char *const bools[] = {"required", "enabled"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *b = json_object_get(def, bools[i]);
        if (b && !json_is_boolean(b))
            return fail(AH_EINVAL, field, fieldlen, bools[i], err, errlen, "must be a boolean%s%s",
                        "", "");
    }
    const json_t *secs = json_object_get(def, "secrets");
    int rc = check_secrets(m, secs, field, fieldlen, err, errlen);
    if (rc) return rc;
    json_t *ov = overrides_of(def);
    char why[700];
    rc = supervisor_add(s, id, m, cfg, ov, !json_is_false(json_object_get(def, "enabled")), why,
                        sizeof(why));
    json_decref(ov);
    if (rc < 0) {
        split_reason(id, why, field, fieldlen, err, errlen);
        return AH_EINVAL;
    }
    create_op *op = calloc(1, sizeof(*op));
    json_t *rec = json_deep_copy(def);
    json_object_del(rec, "secrets");
    json_object_set_new(rec, "created_at_ms", json_integer(ah_now_ms()));
    if (op) op->json = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(rec);
    instance *inst = supervisor_find(s, id);
    if (!op || !op->json) {
        if (op) free(op);
        supervisor_remove(s, inst, NULL, NULL);
        return fail(AH_ENOMEM, field, fieldlen, "", err, errlen, "out of memory%s%s", "", "");
    }
    *op = (create_op){.s = s, .st = st, .inst = inst, .json = op->json, .cb = cb, .ud = ud};
    snprintf(op->id, sizeof(op->id), "%s", id);
    const char *name;
    json_object_foreach((json_t *)secs, name, v)
    {
        op->secrets_pending++;
        int src = secrets_set(sec, id, name, json_string_value(v), json_string_length(v),
                              secret_done, op);
        if (src) {
            op->secrets_pending--;
            if (!op->secret_status) op->secret_status = src;
        }
    }
    if (store_write(st, apply_def, done_def, op) != 0) done_def(AH_ENOMEM, op);
    return 0;
}
