#include "jsonschema.h"

#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct vctx {
    const json_t *root;
    char *err;
    size_t errlen;
    char path[512];
} vctx;

void jsonschema_describe(const json_t *v, char *buf, size_t len)
{
    switch (json_typeof(v)) {
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = strlen(s);
        if (n > 40)
            snprintf(buf, len, "\"%.37s...\"", s);
        else
            snprintf(buf, len, "\"%s\"", s);
        break;
    }
    case JSON_INTEGER:
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(buf, len, "%g", json_real_value(v));
        break;
    case JSON_TRUE:
        snprintf(buf, len, "true");
        break;
    case JSON_FALSE:
        snprintf(buf, len, "false");
        break;
    case JSON_NULL:
        snprintf(buf, len, "null");
        break;
    case JSON_OBJECT:
        snprintf(buf, len, "an object");
        break;
    case JSON_ARRAY:
        snprintf(buf, len, "an array");
        break;
    }
}

static int fail(vctx *c, const char *fmt, const char *a, const char *b)
{
    char msg[256];
    snprintf(msg, sizeof(msg), fmt, a, b);
    snprintf(c->err, c->errlen, "%s: %s", c->path[0] ? c->path : "(root)", msg);
    return -1;
}

static bool is_integer(const json_t *v)
{
    if (json_is_integer(v)) return true;
    if (json_is_real(v)) {
        double d = json_real_value(v);
        return isfinite(d) && d == floor(d);
    }
    return false;
}

static bool type_matches(const char *t, const json_t *v)
{
    if (!strcmp(t, "object")) return json_is_object(v);
    if (!strcmp(t, "array")) return json_is_array(v);
    if (!strcmp(t, "string")) return json_is_string(v);
    if (!strcmp(t, "integer")) return is_integer(v);
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "null")) return json_is_null(v);
    return false;
}

static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) n++;
    return n;
}

/* "#" or a JSON pointer "#/a/b" (with ~0 and ~1 escapes) into root. */
static const json_t *resolve_ref(const json_t *root, const char *ref)
{
    if (ref[0] != '#') return NULL;
    if (!ref[1]) return root;
    if (ref[1] != '/') return NULL;
    const json_t *cur = root;
    const char *p = ref + 2;
    while (cur) {
        char tok[256];
        size_t n = 0;
        for (; *p && *p != '/' && n < sizeof(tok) - 1; p++) {
            if (*p == '~' && (p[1] == '0' || p[1] == '1')) {
                tok[n++] = p[1] == '0' ? '~' : '/';
                p++;
            } else {
                tok[n++] = *p;
            }
        }
        tok[n] = 0;
        cur = json_is_array(cur) ? json_array_get(cur, strtoul(tok, NULL, 10))
                                 : json_object_get(cur, tok);
        if (!*p) return cur;
        p++;
    }
    return NULL;
}

static int validate(vctx *c, const json_t *schema, const json_t *v, int depth);

static int path_push(vctx *c, size_t *saved, const char *key, long index)
{
    *saved = strlen(c->path);
    size_t room = sizeof(c->path) - *saved;
    int n;
    if (key)
        n = snprintf(c->path + *saved, room, "%s%s", *saved ? "." : "", key);
    else
        n = snprintf(c->path + *saved, room, "[%ld]", index);
    return n < 0 || (size_t)n >= room ? -1 : 0;
}

static void path_pop(vctx *c, size_t saved)
{
    c->path[saved] = 0;
}

static int validate_child(vctx *c, const json_t *schema, const json_t *v, const char *key,
                          long index, int depth)
{
    size_t saved;
    path_push(c, &saved, key, index);
    int rc = validate(c, schema, v, depth + 1);
    if (rc == 0) path_pop(c, saved);
    return rc;
}

/* Validate without keeping the error (for anyOf/oneOf/not). */
static bool quietly_valid(vctx *c, const json_t *schema, const json_t *v, int depth)
{
    char err[512];
    vctx q = {.root = c->root, .err = err, .errlen = sizeof(err)};
    snprintf(q.path, sizeof(q.path), "%s", c->path);
    return validate(&q, schema, v, depth + 1) == 0;
}

static int check_type(vctx *c, const json_t *schema, const json_t *v)
{
    const json_t *t = json_object_get(schema, "type");
    if (!t) return 0;
    char got[64];
    jsonschema_describe(v, got, sizeof(got));
    if (json_is_string(t)) {
        if (!type_matches(json_string_value(t), v))
            return fail(c, "expected %s, got %s", json_string_value(t), got);
        return 0;
    }
    if (json_is_array(t)) {
        size_t i;
        const json_t *e;
        char names[128] = "";
        json_array_foreach(t, i, e)
        {
            if (json_is_string(e) && type_matches(json_string_value(e), v)) return 0;
            if (json_is_string(e) &&
                strlen(names) + strlen(json_string_value(e)) + 5 < sizeof(names)) {
                if (i) strcat(names, " or ");
                strcat(names, json_string_value(e));
            }
        }
        return fail(c, "expected %s, got %s", names, got);
    }
    return 0;
}

static int check_object(vctx *c, const json_t *schema, const json_t *v, int depth)
{
    const json_t *props = json_object_get(schema, "properties");
    const json_t *req = json_object_get(schema, "required");
    const json_t *addl = json_object_get(schema, "additionalProperties");
    size_t i;
    const json_t *e;
    json_array_foreach(req, i, e)
    {
        if (json_is_string(e) && !json_object_get(v, json_string_value(e))) {
            size_t saved;
            path_push(c, &saved, json_string_value(e), 0);
            return fail(c, "required field missing", NULL, NULL);
        }
    }
    const char *k;
    const json_t *pv;
    json_object_foreach((json_t *)v, k, pv)
    {
        const json_t *ps = props ? json_object_get(props, k) : NULL;
        if (ps) {
            if (validate_child(c, ps, pv, k, 0, depth) < 0) return -1;
        } else if (json_is_false(addl)) {
            size_t saved;
            path_push(c, &saved, k, 0);
            return fail(c, "unknown field", NULL, NULL);
        } else if (json_is_object(addl)) {
            if (validate_child(c, addl, pv, k, 0, depth) < 0) return -1;
        }
    }
    const json_t *mn = json_object_get(schema, "minProperties");
    const json_t *mx = json_object_get(schema, "maxProperties");
    if (json_is_integer(mn) && (json_int_t)json_object_size(v) < json_integer_value(mn))
        return fail(c, "too few fields", NULL, NULL);
    if (json_is_integer(mx) && (json_int_t)json_object_size(v) > json_integer_value(mx))
        return fail(c, "too many fields", NULL, NULL);
    return 0;
}

static int check_array(vctx *c, const json_t *schema, const json_t *v, int depth)
{
    const json_t *items = json_object_get(schema, "items");
    const json_t *mn = json_object_get(schema, "minItems");
    const json_t *mx = json_object_get(schema, "maxItems");
    char lim[32];
    if (json_is_integer(mn) && (json_int_t)json_array_size(v) < json_integer_value(mn)) {
        snprintf(lim, sizeof(lim), "%lld", (long long)json_integer_value(mn));
        return fail(c, "expected at least %s items", lim, NULL);
    }
    if (json_is_integer(mx) && (json_int_t)json_array_size(v) > json_integer_value(mx)) {
        snprintf(lim, sizeof(lim), "%lld", (long long)json_integer_value(mx));
        return fail(c, "expected at most %s items", lim, NULL);
    }
    size_t i;
    const json_t *e;
    if (items && (json_is_object(items) || json_is_boolean(items))) {
        json_array_foreach(v, i,
                           e) if (validate_child(c, items, e, NULL, (long)i, depth) < 0) return -1;
    }
    if (json_is_true(json_object_get(schema, "uniqueItems"))) {
        for (size_t a = 0; a < json_array_size(v); a++)
            for (size_t b = a + 1; b < json_array_size(v); b++)
                if (json_equal(json_array_get(v, a), json_array_get(v, b))) {
                    size_t saved;
                    path_push(c, &saved, NULL, (long)b);
                    return fail(c, "duplicate item", NULL, NULL);
                }
    }
    return 0;
}

/* ---- patterns, compiled once ------------------------------------------------------ */

/* A schema's patterns are few and fixed (ids, languages, names), and
 * compiling one costs far more than matching it: compiled regexes are kept
 * for the process, keyed by their text, in a table shared by every thread
 * (glibc's regexec is safe on a shared regex_t). Past PATTERNS_MAX
 * distinct patterns, the rest are compiled for each use, as before. */
#define PATTERNS_MAX 512 /* slots; a power of two */

static struct pattern_slot {
    char *text;
    regex_t re;
    bool ok; /* compiled */
} g_patterns[PATTERNS_MAX];
static size_t g_npatterns;
static pthread_mutex_t g_patterns_mu = PTHREAD_MUTEX_INITIALIZER;

/* The kept regex for text (compiled now if new), or NULL when the table is
 * full or memory ran out (the caller compiles its own). *bad: the pattern
 * does not compile. */
static const regex_t *pattern_of(const char *text, bool *bad)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = text; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    const regex_t *out = NULL;
    *bad = false;
    pthread_mutex_lock(&g_patterns_mu);
    for (size_t i = 0; i < PATTERNS_MAX; i++) {
        struct pattern_slot *sl = &g_patterns[(h + i) & (PATTERNS_MAX - 1)];
        if (sl->text && !strcmp(sl->text, text)) {
            *bad = !sl->ok;
            out = sl->ok ? &sl->re : NULL;
            break;
        }
        if (sl->text) continue;
        if (g_npatterns >= PATTERNS_MAX / 2 || !(sl->text = strdup(text))) break; /* full */
        g_npatterns++;
        sl->ok = regcomp(&sl->re, text, REG_EXTENDED | REG_NOSUB) == 0;
        *bad = !sl->ok;
        out = sl->ok ? &sl->re : NULL;
        break;
    }
    pthread_mutex_unlock(&g_patterns_mu);
    return out;
}

/* 0 (matches), REG_NOMATCH, or -1 (the pattern does not compile). */
static int pattern_match(const char *pattern, const char *s)
{
    bool bad;
    const regex_t *kept = pattern_of(pattern, &bad);
    if (bad) return -1;
    if (kept) return regexec(kept, s, 0, NULL, 0);
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0) return -1;
    int m = regexec(&re, s, 0, NULL, 0);
    regfree(&re);
    return m;
}

static int check_string(vctx *c, const json_t *schema, const json_t *v)
{
    const char *s = json_string_value(v);
    const json_t *mn = json_object_get(schema, "minLength");
    const json_t *mx = json_object_get(schema, "maxLength");
    const json_t *pat = json_object_get(schema, "pattern");
    char lim[32];
    size_t n = utf8_len(s);
    if (json_is_integer(mn) && (json_int_t)n < json_integer_value(mn)) {
        snprintf(lim, sizeof(lim), "%lld", (long long)json_integer_value(mn));
        return fail(c, n == 0 ? "must not be empty%s" : "shorter than %s characters",
                    n == 0 ? "" : lim, NULL);
    }
    if (json_is_integer(mx) && (json_int_t)n > json_integer_value(mx)) {
        snprintf(lim, sizeof(lim), "%lld", (long long)json_integer_value(mx));
        return fail(c, "longer than %s characters", lim, NULL);
    }
    if (json_is_string(pat)) {
        int m = pattern_match(json_string_value(pat), s);
        if (m < 0)
            return fail(c, "schema pattern %s does not compile", json_string_value(pat), NULL);
        if (m != 0) {
            char got[64];
            jsonschema_describe(v, got, sizeof(got));
            return fail(c, "%s does not match the pattern %s", got, json_string_value(pat));
        }
    }
    return 0;
}

static int check_number(vctx *c, const json_t *schema, const json_t *v)
{
    double d = json_number_value(v);
    static const char *const keys[] = {"minimum", "maximum", "exclusiveMinimum",
                                       "exclusiveMaximum"};
    static const char *const msgs[] = {"must be at least %s", "must be at most %s",
                                       "must be greater than %s", "must be less than %s"};
    for (int i = 0; i < 4; i++) {
        const json_t *lim = json_object_get(schema, keys[i]);
        if (!json_is_number(lim)) continue;
        double l = json_number_value(lim);
        bool bad =
            (i == 0 && d < l) || (i == 1 && d > l) || (i == 2 && d <= l) || (i == 3 && d >= l);
        if (bad) {
            char buf[32];
            jsonschema_describe(lim, buf, sizeof(buf));
            return fail(c, msgs[i], buf, NULL);
        }
    }
    return 0;
}

static int check_combinators(vctx *c, const json_t *schema, const json_t *v, int depth)
{
    size_t i;
    const json_t *e;
    const json_t *all = json_object_get(schema, "allOf");
    json_array_foreach(all, i, e) if (validate(c, e, v, depth + 1) < 0) return -1;

    const json_t *any = json_object_get(schema, "anyOf");
    if (json_is_array(any) && json_array_size(any)) {
        bool ok = false;
        json_array_foreach(any, i, e) if (!ok && quietly_valid(c, e, v, depth)) ok = true;
        if (!ok) {
            /* Report the first alternative's error: usually the intended one. */
            return validate(c, json_array_get(any, 0), v, depth + 1) < 0
                       ? -1
                       : fail(c, "matches none of the allowed forms", NULL, NULL);
        }
    }
    const json_t *one = json_object_get(schema, "oneOf");
    if (json_is_array(one) && json_array_size(one)) {
        int hits = 0;
        json_array_foreach(one, i, e) if (quietly_valid(c, e, v, depth)) hits++;
        if (hits == 0) return fail(c, "matches none of the allowed forms", NULL, NULL);
        if (hits > 1) return fail(c, "matches more than one of the exclusive forms", NULL, NULL);
    }
    const json_t *not = json_object_get(schema, "not");
    if (not &&quietly_valid(c, not, v, depth))
        return fail(c, "matches a form that is not allowed", NULL, NULL);
    return 0;
}

static int validate(vctx *c, const json_t *schema, const json_t *v, int depth)
{
    if (depth > MAX_DEPTH) return fail(c, "nested too deeply", NULL, NULL);
    if (json_is_true(schema) || !schema) return 0;
    if (json_is_false(schema)) return fail(c, "not allowed here", NULL, NULL);
    if (!json_is_object(schema)) return 0;
    const json_t *ref = json_object_get(schema, "$ref");
    if (json_is_string(ref)) {
        const json_t *target = resolve_ref(c->root, json_string_value(ref));
        if (!target) return fail(c, "schema reference %s not found", json_string_value(ref), NULL);
        if (validate(c, target, v, depth + 1) < 0) return -1;
    }
    if (check_type(c, schema, v) < 0) return -1;
    const json_t *en = json_object_get(schema, "enum");
    if (json_is_array(en)) {
        size_t i;
        const json_t *e;
        bool ok = false;
        json_array_foreach(en, i, e) if (json_equal(e, v)) ok = true;
        if (!ok) {
            char got[64], allowed[160] = "";
            jsonschema_describe(v, got, sizeof(got));
            json_array_foreach(en, i, e)
            {
                char one[48];
                jsonschema_describe(e, one, sizeof(one));
                if (strlen(allowed) + strlen(one) + 3 < sizeof(allowed)) {
                    if (i) strcat(allowed, ", ");
                    strcat(allowed, one);
                }
            }
            return fail(c, "%s is not one of %s", got, allowed);
        }
    }
    const json_t *cn = json_object_get(schema, "const");
    if (cn && !json_equal(cn, v)) {
        char want[64];
        jsonschema_describe(cn, want, sizeof(want));
        return fail(c, "must be %s", want, NULL);
    }
    if (json_is_object(v) && check_object(c, schema, v, depth) < 0) return -1;
    if (json_is_array(v) && check_array(c, schema, v, depth) < 0) return -1;
    if (json_is_string(v) && check_string(c, schema, v) < 0) return -1;
    if (json_is_number(v) && check_number(c, schema, v) < 0) return -1;
    return check_combinators(c, schema, v, depth);
}

int jsonschema_validate_in(const json_t *root, const json_t *schema, const json_t *instance,
                           char *err, size_t errlen)
{
    vctx c = {.root = root, .err = err, .errlen = errlen};
    err[0] = 0;
    return validate(&c, schema, instance, 0);
}

int jsonschema_validate(const json_t *schema, const json_t *instance, char *err, size_t errlen)
{
    vctx c = {.root = schema, .err = err, .errlen = errlen};
    err[0] = 0;
    return validate(&c, schema, instance, 0);
}

/* ---- checking a schema ---------------------------------------------------- */

static int check_schema(vctx *c, const json_t *s, int depth);

static int check_schema_child(vctx *c, const json_t *s, const char *key, int depth)
{
    size_t saved;
    path_push(c, &saved, key, 0);
    int rc = check_schema(c, s, depth + 1);
    if (rc == 0) path_pop(c, saved);
    return rc;
}

static int check_schema(vctx *c, const json_t *s, int depth)
{
    static const char *const types[] = {"object", "array",   "string", "integer",
                                        "number", "boolean", "null"};
    if (depth > MAX_DEPTH) return fail(c, "schema nested too deeply", NULL, NULL);
    if (json_is_boolean(s)) return 0;
    if (!json_is_object(s)) return fail(c, "a schema must be an object or a boolean", NULL, NULL);
    const json_t *t = json_object_get(s, "type");
    if (t) {
        json_t *list = json_is_string(t) ? json_pack("[O]", t) : json_incref((json_t *)t);
        if (!json_is_array(list)) {
            json_decref(list);
            return fail(c, "type must be a string or an array of strings", NULL, NULL);
        }
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e)
        {
            bool ok = false;
            for (size_t k = 0; json_is_string(e) && k < sizeof(types) / sizeof(types[0]); k++)
                ok |= !strcmp(json_string_value(e), types[k]);
            if (!ok) {
                char got[64];
                jsonschema_describe(e, got, sizeof(got));
                json_decref(list);
                return fail(c, "unknown type %s", got, NULL);
            }
        }
        json_decref(list);
    }
    const json_t *props = json_object_get(s, "properties");
    if (props) {
        if (!json_is_object(props)) return fail(c, "properties must be an object", NULL, NULL);
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)props, k, v)
        {
            char key[300];
            snprintf(key, sizeof(key), "properties.%s", k);
            if (check_schema_child(c, v, key, depth) < 0) return -1;
        }
    }
    const json_t *req = json_object_get(s, "required");
    if (req) {
        size_t i;
        const json_t *e;
        if (!json_is_array(req))
            return fail(c, "required must be an array of field names", NULL, NULL);
        json_array_foreach(req, i, e) if (!json_is_string(e)) return fail(
            c, "required must be an array of field names", NULL, NULL);
    }
    static const char *const sub[] = {"items", "additionalProperties", "not"};
    for (size_t i = 0; i < 3; i++) {
        const json_t *x = json_object_get(s, sub[i]);
        if (x && check_schema_child(c, x, sub[i], depth) < 0) return -1;
    }
    static const char *const lists[] = {"anyOf", "oneOf", "allOf"};
    for (size_t i = 0; i < 3; i++) {
        const json_t *x = json_object_get(s, lists[i]);
        if (!x) continue;
        if (!json_is_array(x) || !json_array_size(x))
            return fail(c, "%s must be a non-empty array of schemas", lists[i], NULL);
        size_t j;
        const json_t *e;
        json_array_foreach(x, j, e) if (check_schema_child(c, e, lists[i], depth) < 0) return -1;
    }
    static const char *const nums[] = {"minimum", "maximum", "exclusiveMinimum",
                                       "exclusiveMaximum"};
    for (size_t i = 0; i < 4; i++) {
        const json_t *x = json_object_get(s, nums[i]);
        if (x && !json_is_number(x)) return fail(c, "%s must be a number", nums[i], NULL);
    }
    static const char *const counts[] = {"minLength", "maxLength",     "minItems",
                                         "maxItems",  "minProperties", "maxProperties"};
    for (size_t i = 0; i < 6; i++) {
        const json_t *x = json_object_get(s, counts[i]);
        if (x && (!json_is_integer(x) || json_integer_value(x) < 0))
            return fail(c, "%s must be a non-negative integer", counts[i], NULL);
    }
    const json_t *pat = json_object_get(s, "pattern");
    if (pat) {
        regex_t re;
        if (!json_is_string(pat) ||
            regcomp(&re, json_string_value(pat), REG_EXTENDED | REG_NOSUB) != 0)
            return fail(c, "pattern must be a valid regular expression", NULL, NULL);
        regfree(&re);
    }
    const json_t *en = json_object_get(s, "enum");
    if (en && (!json_is_array(en) || !json_array_size(en)))
        return fail(c, "enum must be a non-empty array", NULL, NULL);
    const json_t *ref = json_object_get(s, "$ref");
    if (ref && (!json_is_string(ref) || !resolve_ref(c->root, json_string_value(ref))))
        return fail(c, "$ref must be a JSON pointer into the schema (\"#/$defs/NAME\")", NULL,
                    NULL);
    const json_t *defs = json_object_get(s, "$defs");
    if (defs) {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)defs, k,
                            v) if (check_schema_child(c, v, k, depth) < 0) return -1;
    }
    return 0;
}

int jsonschema_check(const json_t *schema, char *err, size_t errlen)
{
    vctx c = {.root = schema, .err = err, .errlen = errlen};
    err[0] = 0;
    return check_schema(&c, schema, 0);
}

void jsonschema_apply_defaults(const json_t *schema, json_t *instance)
{
    if (!json_is_object(schema) || !json_is_object(instance)) return;
    const json_t *props = json_object_get(schema, "properties");
    const char *k;
    const json_t *ps;
    json_object_foreach((json_t *)props, k, ps)
    {
        json_t *cur = json_object_get(instance, k);
        const json_t *def = json_object_get(ps, "default");
        if (!cur && def) {
            json_object_set_new(instance, k, json_deep_copy(def));
        } else if (json_is_object(cur)) {
            jsonschema_apply_defaults(ps, cur);
        }
    }
}
