#include "optmap.h"

#include "jsonschema.h"

#include <agenthost/plugin.h>

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void optmap_key(const opt_decl *d, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s", d->section ? d->section : "", d->section ? "." : "", d->name);
}

static unsigned long scale_of(const opt_decl *d)
{
    return d->scale ? d->scale : 1;
}

static bool is_integer_type(opt_type t)
{
    return t == OPT_T_INT || t == OPT_T_SIZE || t == OPT_T_DURATION;
}

static const char *const type_names[] = {
    [OPT_T_INT] = "integer",       [OPT_T_BOOL] = "boolean",  [OPT_T_STRING] = "string",
    [OPT_T_PATH] = "path",         [OPT_T_ENUM] = "enum",     [OPT_T_SIZE] = "size",
    [OPT_T_DURATION] = "duration", [OPT_T_OBJECT] = "object", [OPT_T_ARRAY] = "array"};

static const char *type_name(const opt_decl *d)
{
    return d->type > 0 && d->type <= OPT_T_ARRAY ? type_names[d->type] : "?";
}

/* ---- the JSON Schema ---- */

static json_t *section_schema(json_t *schema, const char *section)
{
    json_t *props = json_object_get(schema, "properties");
    if (!props) {
        props = json_object();
        if (json_object_set_new(schema, "properties", props) < 0) return NULL;
    }
    if (!section) return props;
    json_t *s = json_object_get(props, section);
    if (!s) {
        s = json_object();
        if (json_object_set_new(props, section, s) < 0) return NULL;
    }
    if (!json_object_get(s, "type")) json_object_set_new(s, "type", json_string("object"));
    if (!json_object_get(s, "additionalProperties"))
        json_object_set_new(s, "additionalProperties", json_false());
    if (!json_object_get(s, "default")) json_object_set_new(s, "default", json_object());
    json_t *sp = json_object_get(s, "properties");
    if (!sp) {
        sp = json_object();
        if (json_object_set_new(s, "properties", sp) < 0) return NULL;
    }
    return sp;
}

static json_t *enum_names(const opt_enum *v)
{
    json_t *a = json_array();
    for (; a && v && v->name; v++)
        json_array_append_new(a, json_string(v->name));
    return a;
}

static json_t *property_schema(const opt_decl *d)
{
    json_t *p = json_object();
    if (!p) return NULL;
    if (is_integer_type(d->type)) {
        json_object_set_new(p, "type", json_string("integer"));
        json_object_set_new(p, "minimum", json_integer(d->min));
        if (d->max != OPT_NO_MAX) json_object_set_new(p, "maximum", json_integer(d->max));
        json_object_set_new(p, "default", json_integer(d->def));
    } else if (d->type == OPT_T_BOOL) {
        json_object_set_new(p, "type", json_string("boolean"));
        json_object_set_new(p, "default", json_boolean(d->def));
    } else {
        json_object_set_new(p, "type", json_string("string"));
        if (d->type == OPT_T_PATH) json_object_set_new(p, "minLength", json_integer(1));
        if (d->type == OPT_T_ENUM) json_object_set_new(p, "enum", enum_names(d->values));
        if (d->def_str) json_object_set_new(p, "default", json_string(d->def_str));
    }
    if (d->doc) json_object_set_new(p, "description", json_string(d->doc));
    return p;
}

static bool is_json_type(opt_type t)
{
    return t == OPT_T_OBJECT || t == OPT_T_ARRAY;
}

/* A structured option's own schema stays; it gains the doc, or is made. */
static int add_structured(json_t *props, const opt_decl *d)
{
    json_t *p = json_object_get(props, d->name);
    if (!p) {
        p = json_pack("{s:s}", "type", d->type == OPT_T_OBJECT ? "object" : "array");
        if (!p || json_object_set_new(props, d->name, p) < 0) return AH_ENOMEM;
    }
    if (d->doc && !json_object_get(p, "description") &&
        json_object_set_new(p, "description", json_string(d->doc)) < 0)
        return AH_ENOMEM;
    return 0;
}

int optmap_schema_add(const opt_decl *const *tables, json_t *schema)
{
    for (; *tables; tables++)
        for (const opt_decl *d = *tables; d->name; d++) {
            json_t *props = section_schema(schema, d->section);
            if (!props) return AH_ENOMEM;
            if (is_json_type(d->type)) {
                if (add_structured(props, d) < 0) return AH_ENOMEM;
            } else if (json_object_set_new(props, d->name, property_schema(d)) < 0) {
                return AH_ENOMEM;
            }
        }
    return 0;
}

/* ---- writing the values ---- */

static int bad(char *err, size_t errlen, const opt_decl *d, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(char *err, size_t errlen, const opt_decl *d, const char *fmt, ...)
{
    char key[128], msg[256];
    optmap_key(d, key, sizeof(key));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s: %s", key, msg);
    return AH_EINVAL;
}

static int expected(char *err, size_t errlen, const opt_decl *d, const char *what, const json_t *v)
{
    char got[64];
    jsonschema_describe(v, got, sizeof(got));
    return bad(err, errlen, d, "expected %s, got %s", what, got);
}

static unsigned long long field_max(opt_field f)
{
    switch (f) {
    case OPT_F_INT:
        return INT_MAX;
    case OPT_F_UINT:
        return UINT_MAX;
    case OPT_F_ULONG:
        return ULONG_MAX;
    case OPT_F_ULLONG:
        return ULLONG_MAX;
    default:
        return 0;
    }
}

/* x (in the option's unit, within its range) times the scale, into the field. */
static int put_integer(const opt_decl *d, void *dst, long long x, char *err, size_t errlen)
{
    long long s = (long long)scale_of(d), y;
    if (x < 0) { /* only an int field holds one */
        long long least = d->field == OPT_F_INT ? INT_MIN / s : 0;
        if (x < least || __builtin_mul_overflow(x, s, &y))
            return bad(err, errlen, d, "must be at least %lld (the least it can hold)", least);
        *(int *)dst = (int)y;
        return 0;
    }
    unsigned long long lim = field_max(d->field), v;
    if (__builtin_mul_overflow((unsigned long long)x, (unsigned long long)s, &v) || v > lim)
        return bad(err, errlen, d, "must be at most %llu (the most it can hold)",
                   lim / (unsigned long long)s);
    switch (d->field) {
    case OPT_F_INT:
        *(int *)dst = (int)v;
        break;
    case OPT_F_UINT:
        *(unsigned *)dst = (unsigned)v;
        break;
    case OPT_F_ULONG:
        *(unsigned long *)dst = (unsigned long)v;
        break;
    case OPT_F_ULLONG:
        *(unsigned long long *)dst = v;
        break;
    default:
        return bad(err, errlen, d, "declared with a field that is not an integer");
    }
    return 0;
}

static int apply_integer(const opt_decl *d, const json_t *v, void *dst, char *err, size_t errlen)
{
    long long x = d->def;
    if (v) {
        /* An integral real (5.0) is an integer, as the schema's validator says. */
        double r = json_is_real(v) ? json_real_value(v) : 0;
        if (json_is_integer(v))
            x = (long long)json_integer_value(v);
        else if (json_is_real(v) && isfinite(r) && r == floor(r) && r >= -0x1p63 && r < 0x1p63)
            x = (long long)r;
        else
            return expected(err, errlen, d, "integer", v);
    }
    if (x < d->min) return bad(err, errlen, d, "must be at least %lld", d->min);
    if (x > d->max) return bad(err, errlen, d, "must be at most %lld", d->max);
    return put_integer(d, dst, x, err, errlen);
}

static int apply_enum(const opt_decl *d, const json_t *v, void *dst, char *err, size_t errlen)
{
    const char *name = v ? json_string_value(v) : d->def_str;
    if (v && !name) return expected(err, errlen, d, "string", v);
    for (const opt_enum *e = d->values; name && e && e->name; e++)
        if (!strcmp(e->name, name)) return put_integer(d, dst, e->value, err, errlen);
    return bad(err, errlen, d, "\"%.64s\" is not one of its values", name ? name : "(none)");
}

/* path against the working directory, without its leading "./"s. */
static int resolve(const opt_decl *d, const char *path, char *out, char *err, size_t errlen)
{
    char cwd[PATH_MAX] = ".";
    const char *p = path;
    if (p[0] != '/') {
        if (!getcwd(cwd, sizeof(cwd))) snprintf(cwd, sizeof(cwd), ".");
        while (p[0] == '.' && p[1] == '/')
            p += 2;
        if (!strcmp(p, ".")) p = "";
    }
    int n = path[0] == '/' ? snprintf(out, d->size, "%s", path)
                           : snprintf(out, d->size, "%s%s%s", cwd, *p ? "/" : "", p);
    if (n < 0 || (size_t)n >= d->size) {
        out[0] = 0;
        return bad(err, errlen, d, "longer than %zu bytes once resolved", d->size - 1);
    }
    return 0;
}

static int apply_string(const opt_decl *d, const json_t *v, void *dst, char *err, size_t errlen)
{
    const char *s = v ? json_string_value(v) : d->def_str;
    if (v && !s) return expected(err, errlen, d, "string", v);
    if (d->field == OPT_F_CSTR) {
        *(const char **)dst = s;
        return 0;
    }
    if (d->field != OPT_F_BUF || d->size == 0)
        return bad(err, errlen, d, "declared with a field that is not a string");
    char *out = dst;
    out[0] = 0;
    if (!s) return 0;
    if (d->type == OPT_T_PATH) {
        if (!s[0]) return bad(err, errlen, d, "must not be empty");
        return resolve(d, s, out, err, errlen);
    }
    if ((size_t)snprintf(out, d->size, "%s", s) >= d->size) {
        out[0] = 0;
        return bad(err, errlen, d, "longer than %zu bytes", d->size - 1);
    }
    return 0;
}

static const json_t *value_of(const opt_decl *d, const json_t *root)
{
    const json_t *sec = d->section ? json_object_get(root, d->section) : root;
    return json_object_get(sec, d->name);
}

int optmap_apply(const opt_decl *t, const json_t *root, void *base, char *err, size_t errlen)
{
    for (const opt_decl *d = t; d->name; d++) {
        if (root && d->section && json_object_get(root, d->section) &&
            !json_is_object(json_object_get(root, d->section))) {
            char got[64];
            jsonschema_describe(json_object_get(root, d->section), got, sizeof(got));
            snprintf(err, errlen, "%s: expected object, got %s", d->section, got);
            return AH_EINVAL;
        }
        const json_t *v = root ? value_of(d, root) : NULL;
        void *dst = (char *)base + d->offset;
        int rc;
        if (is_integer_type(d->type)) {
            rc = apply_integer(d, v, dst, err, errlen);
        } else if (d->type == OPT_T_BOOL) {
            if (v && !json_is_boolean(v)) return expected(err, errlen, d, "boolean", v);
            if (d->field != OPT_F_BOOL)
                return bad(err, errlen, d, "declared with a field that is not a bool");
            *(bool *)dst = v ? json_is_true(v) : d->def != 0;
            rc = 0;
        } else if (d->type == OPT_T_ENUM) {
            rc = apply_enum(d, v, dst, err, errlen);
        } else if (is_json_type(d->type)) {
            bool ok = !v || (d->type == OPT_T_OBJECT ? json_is_object(v) : json_is_array(v));
            if (!ok) return expected(err, errlen, d, type_name(d), v);
            if (d->field != OPT_F_JSON)
                return bad(err, errlen, d, "declared with a field that is not a json_t *");
            *(const json_t **)dst = v;
            rc = 0;
        } else {
            rc = apply_string(d, v, dst, err, errlen);
        }
        if (rc) return rc;
    }
    return 0;
}

/* ---- describing the options: Markdown, text, JSON ---- */

static void describe_type(const opt_decl *d, char *buf, size_t len)
{
    if (d->unit)
        snprintf(buf, len, "%s (%s)", type_name(d), d->unit);
    else
        snprintf(buf, len, "%s", type_name(d));
}

/* code: wrap literal values in backquotes (Markdown). */
static void describe_default(const opt_decl *d, bool code, char *buf, size_t len)
{
    const char *q = code ? "`" : "";
    if (is_integer_type(d->type))
        snprintf(buf, len, "%lld", d->def);
    else if (d->type == OPT_T_BOOL)
        snprintf(buf, len, "%s%s%s", q, d->def ? "true" : "false", q);
    else if (d->def_str)
        snprintf(buf, len, "%s%s%s", q, d->def_str, q);
    else
        snprintf(buf, len, "%s", d->def_doc ? d->def_doc : "none");
}

static void describe_range(const opt_decl *d, bool code, char *buf, size_t len)
{
    buf[0] = 0;
    if (is_integer_type(d->type)) {
        if (d->max == OPT_NO_MAX)
            snprintf(buf, len, "≥ %lld", d->min);
        else
            snprintf(buf, len, "%lld–%lld", d->min, d->max);
    } else if (d->type == OPT_T_ENUM) {
        size_t n = 0;
        for (const opt_enum *e = d->values; e && e->name && n < len; e++)
            n += (size_t)snprintf(buf + n, len - n, "%s%s%s%s", n ? ", " : "", code ? "`" : "",
                                  e->name, code ? "`" : "");
    }
}

typedef struct sbuf {
    char *s;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->oom || need < 0) return;
    if (b->n + (size_t)need + 1 > b->cap) {
        size_t cap = (b->n + (size_t)need + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    b->n += (size_t)need;
}

static char *sb_finish(sbuf *b)
{
    if (b->oom || !b->s) {
        free(b->s);
        return NULL;
    }
    return b->s;
}

/* Markdown table cells: a '|' would end the cell. */
static void sb_cell(sbuf *b, const char *s)
{
    for (; *s; s++)
        sb_printf(b, *s == '|' ? "\\|" : "%c", *s);
}

char *optmap_markdown(const opt_decl *const *tables)
{
    sbuf b = {0};
    sb_printf(&b, "| option | type | default | range | meaning |\n");
    sb_printf(&b, "| --- | --- | --- | --- | --- |\n");
    for (; *tables; tables++)
        for (const opt_decl *d = *tables; d->name; d++) {
            char key[128], type[64], def[256], range[256];
            optmap_key(d, key, sizeof(key));
            describe_type(d, type, sizeof(type));
            describe_default(d, true, def, sizeof(def));
            describe_range(d, true, range, sizeof(range));
            sb_printf(&b, "| `%s` | %s | ", key, type);
            sb_cell(&b, def);
            sb_printf(&b, " | ");
            sb_cell(&b, range);
            sb_printf(&b, " | ");
            sb_cell(&b, d->doc ? d->doc : "");
            sb_printf(&b, " |\n");
        }
    return sb_finish(&b);
}

char *optmap_text(const opt_decl *const *tables)
{
    sbuf b = {0};
    for (; *tables; tables++)
        for (const opt_decl *d = *tables; d->name; d++) {
            char key[128], type[64], def[256], range[256];
            optmap_key(d, key, sizeof(key));
            describe_type(d, type, sizeof(type));
            describe_default(d, false, def, sizeof(def));
            describe_range(d, false, range, sizeof(range));
            sb_printf(&b, "%-32s %-15s default %s%s%s\n    %s\n", key, type, def,
                      range[0] ? ", range " : "", range, d->doc ? d->doc : "");
        }
    return sb_finish(&b);
}

static json_t *option_json(const opt_decl *d)
{
    char key[128];
    optmap_key(d, key, sizeof(key));
    json_t *o = json_pack("{s:s, s:s}", "key", key, "type", type_name(d));
    if (!o) return NULL;
    if (d->unit) json_object_set_new(o, "unit", json_string(d->unit));
    if (is_integer_type(d->type)) {
        json_object_set_new(o, "default", json_integer(d->def));
        json_object_set_new(o, "minimum", json_integer(d->min));
        if (d->max != OPT_NO_MAX) json_object_set_new(o, "maximum", json_integer(d->max));
    } else if (d->type == OPT_T_BOOL) {
        json_object_set_new(o, "default", json_boolean(d->def));
    } else if (d->def_str) {
        json_object_set_new(o, "default", json_string(d->def_str));
    } else if (d->def_doc) {
        json_object_set_new(o, "default_doc", json_string(d->def_doc));
    }
    if (d->type == OPT_T_ENUM) json_object_set_new(o, "values", enum_names(d->values));
    json_object_set_new(o, "doc", json_string(d->doc ? d->doc : ""));
    return o;
}

json_t *optmap_json(const opt_decl *const *tables)
{
    json_t *a = json_array();
    for (; a && *tables; tables++)
        for (const opt_decl *d = *tables; d->name; d++)
            if (json_array_append_new(a, option_json(d)) < 0) {
                json_decref(a);
                return NULL;
            }
    return a;
}
