/*
 * agent_template.c - the built-in templates: read, summarised, filled in
 * (agent_template.h).
 */
#include "engine/agent_template.h"

#include <agenthost/plugin.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* templates/<id>.json, embedded by the build (CMakeLists.txt: AH_TEMPLATES). */
extern const char *const ah_templates[];

#define NAME_MAX_LEN 64
#define FILLED_MAX (256 * 1024) /* one string after filling: far above any text's bound */

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- the catalogue -------------------------------------------------------------------- */

static const char *missing_field(const json_t *t)
{
    static const char *const need[] = {"id",        "name",  "description", "languages",
                                       "variables", "agent", "triggers",    "scenario"};
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
        if (!json_object_get(t, need[i])) return need[i];
    return NULL;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(str_of(*(json_t *const *)a, "id"), str_of(*(json_t *const *)b, "id"));
}

json_t *atpl_catalogue_new(char *err, size_t errlen)
{
    size_t n = 0;
    while (ah_templates[n])
        n++;
    json_t **all = calloc(n ? n : 1, sizeof(*all));
    if (!all) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t got = 0;
    for (; got < n; got++) {
        json_error_t je;
        const char *miss = NULL;
        all[got] = json_loads(ah_templates[got], 0, &je);
        if (!all[got] || (miss = missing_field(all[got])) != NULL) {
            if (!all[got])
                snprintf(err, errlen, "built-in template %zu: %d:%d: %s", got, je.line, je.column,
                         je.text);
            else
                snprintf(err, errlen, "built-in template %s: no \"%s\"",
                         str_of(all[got], "id") ? str_of(all[got], "id") : "?", miss);
            json_decref(all[got]);
            break;
        }
    }
    json_t *out = NULL;
    if (got == n) {
        qsort(all, n, sizeof(*all), by_id);
        out = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append(out, all[i]);
    }
    for (size_t i = 0; i < got; i++)
        json_decref(all[i]);
    free(all);
    return out;
}

const json_t *atpl_find(const json_t *catalogue, const char *id)
{
    size_t i;
    const json_t *t;
    json_array_foreach(catalogue, i, t) if (id && !strcmp(str_of(t, "id"), id)) return t;
    return NULL;
}

json_t *atpl_summary(const json_t *tmpl)
{
    json_t *s = json_deep_copy(tmpl);
    if (!s) return NULL;
    const json_t *steps = json_object_get(json_object_get(tmpl, "scenario"), "steps");
    json_object_del(s, "scenario");
    json_object_set_new(s, "steps", json_integer((json_int_t)json_object_size(steps)));
    return s;
}

/* ---- the values ------------------------------------------------------------------------- */

typedef struct filling {
    const json_t *specs; /* the template's "variables" */
    json_t *values;      /* NAME -> value, every one known */
    json_t *problems;
} filling;

static void problem(filling *f, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(filling *f, const char *name, const char *fmt, ...)
{
    char msg[300], path[NAME_MAX_LEN + 40];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(path, sizeof(path), "variables.%s", name);
    json_array_append_new(f->problems, json_pack("{s:s,s:s}", "path", path, "message", msg));
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void check_string(filling *f, const char *name, const json_t *spec, const char *v)
{
    json_int_t max = json_integer_value(json_object_get(spec, "max_length"));
    if (max && (json_int_t)utf8_chars(v) > max)
        problem(f, name, "at most %lld characters", (long long)max);
    if (!*v) problem(f, name, "must not be empty");
    const char *pattern = str_of(spec, "pattern");
    regex_t re;
    if (pattern && regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) == 0) {
        if (regexec(&re, v, 0, NULL, 0) != 0) problem(f, name, "must match %s", pattern);
        regfree(&re);
    }
}

static void check_number(filling *f, const char *name, const json_t *spec, double v)
{
    const json_t *min = json_object_get(spec, "min"), *max = json_object_get(spec, "max");
    if (min && v < json_number_value(min)) problem(f, name, "at least %g", json_number_value(min));
    if (max && v > json_number_value(max)) problem(f, name, "at most %g", json_number_value(max));
}

/* One variable's value: given, or its default; checked against its spec. */
static void take_value(filling *f, const char *name, const json_t *spec, const json_t *given)
{
    const json_t *v = given ? given : json_object_get(spec, "default");
    if (!v) {
        problem(f, name, "required: %s",
                str_of(json_object_get(spec, "description"), "en")
                    ? str_of(json_object_get(spec, "description"), "en")
                    : "no default");
        return;
    }
    const char *type = str_of(spec, "type");
    size_t before = json_array_size(f->problems);
    if (!strcmp(type, "string")) {
        if (json_is_string(v))
            check_string(f, name, spec, json_string_value(v));
        else
            problem(f, name, "expected a string");
    } else if (!strcmp(type, "integer")) {
        if (json_is_integer(v))
            check_number(f, name, spec, (double)json_integer_value(v));
        else
            problem(f, name, "expected an integer");
    } else if (json_is_number(v)) {
        check_number(f, name, spec, json_number_value(v));
    } else {
        problem(f, name, "expected a number");
    }
    if (json_array_size(f->problems) == before) json_object_set(f->values, name, (json_t *)v);
}

static void take_values(filling *f, const json_t *given)
{
    const char *name;
    json_t *spec;
    json_object_foreach((json_t *)f->specs, name, spec)
    {
        take_value(f, name, spec, json_object_get(given, name));
    }
    json_t *v;
    json_object_foreach((json_t *)given, name, v)
    {
        if (!json_object_get(f->specs, name))
            problem(f, name, "this template has no such variable");
    }
}

/* ---- filling strings ---------------------------------------------------------------------- */

/* The text of a value, for a string holding it among other text: a
 * string's own, or a number's written into buf. */
static const char *value_text(const json_t *v, char *buf, size_t n)
{
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_integer(v))
        snprintf(buf, n, "%lld", (long long)json_integer_value(v));
    else
        snprintf(buf, n, "%.17g", json_number_value(v));
    return buf;
}

/* s with every ${NAME} replaced: a new string value, or NULL after noting
 * a problem (a name not declared, too long a result). */
static json_t *fill_string(filling *f, const char *s)
{
    const char *open = strstr(s, "${");
    if (!open) return json_string(s);
    const char *close = strchr(open, '}');
    size_t len = close ? (size_t)(close - open - 2) : 0;
    char name[NAME_MAX_LEN + 1];
    if (open == s && close && !close[1] && len && len <= NAME_MAX_LEN) { /* exactly ${NAME} */
        snprintf(name, sizeof(name), "%.*s", (int)len, open + 2);
        const json_t *v = json_object_get(f->values, name);
        if (v) return json_incref((json_t *)v);
    }
    char *out = malloc(FILLED_MAX);
    if (!out) return NULL;
    size_t used = 0;
    const char *p = s;
    bool ok = true;
    while (ok && (open = strstr(p, "${")) != NULL) {
        close = strchr(open, '}');
        len = close ? (size_t)(close - open - 2) : 0;
        if (!close || !len || len > NAME_MAX_LEN) break; /* not a variable: kept as it is */
        snprintf(name, sizeof(name), "%.*s", (int)len, open + 2);
        const json_t *v = json_object_get(f->values, name);
        if (!v) {
            if (!json_object_get(f->specs, name))
                problem(f, name, "the template names it but does not declare it");
            ok = false;
            break;
        }
        char num[40];
        int w = snprintf(out + used, FILLED_MAX - used, "%.*s%s", (int)(open - p), p,
                         value_text(v, num, sizeof(num)));
        if (w < 0 || (size_t)w >= FILLED_MAX - used) ok = false;
        used += ok ? (size_t)w : 0;
        p = close + 1;
    }
    if (ok && (size_t)snprintf(out + used, FILLED_MAX - used, "%s", p) >= FILLED_MAX - used)
        ok = false;
    json_t *r = ok ? json_string(out) : NULL;
    free(out);
    return r;
}

/* A deep copy of v with its strings filled; NULL when one could not be. */
static json_t *fill_json(filling *f, const json_t *v)
{
    if (json_is_string(v)) return fill_string(f, json_string_value(v));
    json_t *out = NULL;
    if (json_is_object(v)) {
        out = json_object();
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e)
        {
            json_t *c = fill_json(f, e);
            if (!c) {
                json_decref(out);
                return NULL;
            }
            json_object_set_new(out, k, c);
        }
    } else if (json_is_array(v)) {
        out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            json_t *c = fill_json(f, e);
            if (!c) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, c);
        }
    } else {
        out = json_deep_copy(v);
    }
    return out;
}

int atpl_fill(const json_t *tmpl, const json_t *values, json_t **out, json_t **problems)
{
    *out = *problems = NULL;
    filling f = {.specs = json_object_get(tmpl, "variables"),
                 .values = json_object(),
                 .problems = json_array()};
    if (!f.values || !f.problems) {
        json_decref(f.values);
        json_decref(f.problems);
        return AH_ENOMEM;
    }
    take_values(&f, values);
    json_t *agent = NULL, *triggers = NULL, *scenario = NULL;
    if (!json_array_size(f.problems)) {
        agent = fill_json(&f, json_object_get(tmpl, "agent"));
        triggers = fill_json(&f, json_object_get(tmpl, "triggers"));
        scenario = fill_json(&f, json_object_get(tmpl, "scenario"));
    }
    int rc = 0;
    if (json_array_size(f.problems)) {
        rc = AH_EINVAL;
        *problems = json_incref(f.problems);
    } else if (!agent || !triggers || !scenario) {
        rc = AH_ENOMEM;
    } else {
        *out = json_pack("{s:O,s:O,s:O,s:O}", "agent", agent, "triggers", triggers, "scenario",
                         scenario, "values", f.values);
        if (!*out) rc = AH_ENOMEM;
    }
    json_decref(agent);
    json_decref(triggers);
    json_decref(scenario);
    json_decref(f.values);
    json_decref(f.problems);
    return rc;
}
