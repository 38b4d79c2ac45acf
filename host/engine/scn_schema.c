/*
 * scn_schema.c - a scenario against its schema, every problem at once.
 *
 * jsonschema_validate stops at the first error. Here objects and arrays
 * are walked: a node's own keywords (type, enum, const, bounds,
 * combinators) are checked by the validator on a copy of the node without
 * its structural keywords; then each required field, each member and each
 * item is visited on its own, so that a problem in one field hides no
 * other. Below a node the walk cannot split (anyOf, not, ...) the
 * validator's first error stands for it.
 */
#include "core/jsonschema.h"
#include "engine/scn_priv.h"

#include <agenthost/plugin.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_MAX_DEPTH 32 /* $refs and nesting of the content schema: far above its own */

/* Structural keywords: the walk itself applies them ("pattern" too: each
 * is compiled once a check, not once a value). */
static const char *const STRUCTURAL[] = {
    "$ref",    "$defs",   "properties", "required",    "additionalProperties",
    "items",   "$schema", "title",      "description", "default",
    "pattern", NULL};

struct scn_regex {
    regex_t re;
    bool ok;
};

/* The compiled pattern (NULL when it does not compile). */
static const regex_t *compiled(scn_check *c, const char *pattern)
{
    const json_t *at = json_object_get(c->patterns, pattern);
    if (at) {
        struct scn_regex *r = &c->regex[json_integer_value(at)];
        return r->ok ? &r->re : NULL;
    }
    struct scn_regex *grown = realloc(c->regex, (c->nregex + 1) * sizeof(*grown));
    if (!grown) {
        c->rc = AH_ENOMEM;
        return NULL;
    }
    c->regex = grown;
    struct scn_regex *r = &c->regex[c->nregex];
    r->ok = regcomp(&r->re, pattern, REG_EXTENDED | REG_NOSUB) == 0;
    if (!c->patterns) c->patterns = json_object();
    if (!c->patterns ||
        json_object_set_new(c->patterns, pattern, json_integer((json_int_t)c->nregex)) != 0) {
        if (r->ok) regfree(&r->re);
        c->rc = AH_ENOMEM;
        return NULL;
    }
    c->nregex++;
    return r->ok ? &r->re : NULL;
}

void scn_schema_done(scn_check *c)
{
    for (size_t i = 0; i < c->nregex; i++)
        if (c->regex[i].ok) regfree(&c->regex[i].re);
    free(c->regex);
    json_decref(c->patterns);
    c->regex = NULL;
    c->nregex = 0;
    c->patterns = NULL;
}

/* "pattern", as the validator says it. */
static bool pattern_ok(scn_check *c, const json_t *schema, const json_t *v, const char *path)
{
    const char *pattern = json_string_value(json_object_get(schema, "pattern"));
    if (!pattern || !json_is_string(v)) return true;
    const regex_t *re = compiled(c, pattern);
    if (c->rc) return false;
    if (!re) {
        scn_error(c, path, "schema pattern %s does not compile", pattern);
        return false;
    }
    if (regexec(re, json_string_value(v), 0, NULL, 0) == 0) return true;
    char got[64];
    jsonschema_describe(v, got, sizeof(got));
    scn_error(c, path, "%s does not match the pattern %s", got, pattern);
    return false;
}

static bool is_structural(const char *k)
{
    for (size_t i = 0; STRUCTURAL[i]; i++)
        if (!strcmp(STRUCTURAL[i], k)) return true;
    return false;
}

static const json_t *resolve(const json_t *root, const char *ref)
{
    if (strncmp(ref, "#/$defs/", 8)) return ref[0] == '#' && !ref[1] ? root : NULL;
    return json_object_get(json_object_get(root, "$defs"), ref + 8);
}

const json_t *scn_schema_def(const scn_check *c, const char *name)
{
    return json_object_get(json_object_get(c->schema, "$defs"), name);
}

/* A validator message "sub: message" under path. */
static void report(scn_check *c, const char *path, const char *verr)
{
    const char *sep = strstr(verr, ": ");
    if (!sep) {
        scn_error(c, path, "%s", verr);
        return;
    }
    char sub[SCN_PATH_MAX], full[SCN_PATH_MAX];
    snprintf(sub, sizeof(sub), "%.*s", (int)(sep - verr), verr);
    if (!strcmp(sub, "(root)"))
        snprintf(full, sizeof(full), "%s", path);
    else if (sub[0] == '[' || !path[0])
        snprintf(full, sizeof(full), "%s%s", path, sub);
    else
        snprintf(full, sizeof(full), "%s.%s", path, sub);
    scn_error(c, full, "%s", sep + 2);
}

/* The node's own keywords, checked by the validator: false on a problem
 * (then its members are not visited: the node is not what they need). */
static bool own_keywords(scn_check *c, const json_t *schema, const json_t *v, const char *path)
{
    json_t *own = json_object();
    if (!own) {
        c->rc = AH_ENOMEM;
        return false;
    }
    const char *k;
    json_t *kv;
    json_object_foreach((json_t *)schema, k, kv)
    {
        if (!is_structural(k)) json_object_set(own, k, kv);
    }
    bool ok = true;
    if (json_object_size(own)) {
        char err[512];
        if (jsonschema_validate_in(c->schema, own, v, err, sizeof(err)) != 0) {
            report(c, path, err);
            ok = false;
        }
    }
    json_decref(own);
    return ok && pattern_ok(c, schema, v, path);
}

static void collect(scn_check *c, const json_t *schema, const json_t *v, const char *path,
                    int depth);

static void members(scn_check *c, const json_t *schema, const json_t *v, const char *path,
                    int depth)
{
    const json_t *props = json_object_get(schema, "properties");
    const json_t *addl = json_object_get(schema, "additionalProperties");
    char sub[SCN_PATH_MAX];
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(schema, "required"), i, e)
    {
        const char *name = json_string_value(e);
        if (!name || json_object_get(v, name)) continue;
        scn_path_key(sub, path, name);
        scn_error(c, sub, "required field missing");
    }
    const char *k;
    const json_t *mv;
    json_object_foreach((json_t *)v, k, mv)
    {
        const json_t *ps = json_object_get(props, k);
        scn_path_key(sub, path, k);
        if (ps)
            collect(c, ps, mv, sub, depth + 1);
        else if (json_is_false(addl))
            scn_error(c, sub, "unknown field");
        else if (json_is_object(addl))
            collect(c, addl, mv, sub, depth + 1);
    }
}

static void collect(scn_check *c, const json_t *schema, const json_t *v, const char *path,
                    int depth)
{
    if (c->full || c->rc) return;
    if (depth > SCHEMA_MAX_DEPTH || !json_is_object(schema)) {
        if (json_is_false(schema)) scn_error(c, path, "not allowed here");
        return;
    }
    const char *ref = json_string_value(json_object_get(schema, "$ref"));
    if (ref) {
        const json_t *target = resolve(c->schema, ref);
        if (!target) {
            scn_error(c, path, "schema reference %s not found", ref);
            return;
        }
        collect(c, target, v, path, depth + 1);
    }
    if (!own_keywords(c, schema, v, path)) return;
    if (json_is_object(v)) {
        members(c, schema, v, path, depth);
    } else if (json_is_array(v) && json_is_object(json_object_get(schema, "items"))) {
        char sub[SCN_PATH_MAX];
        const json_t *items = json_object_get(schema, "items");
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e)
        {
            scn_path_index(sub, path, i);
            collect(c, items, e, sub, depth + 1);
        }
    }
}

void scn_schema_collect(scn_check *c, const json_t *schema, const json_t *v, const char *path)
{
    collect(c, schema, v, path, 0);
}
