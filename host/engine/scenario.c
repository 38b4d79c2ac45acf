/*
 * scenario.c - checking a scenario's content on save: the whole (the
 * top-level fields, variables, languages), the error list, and texts and
 * templates, which every kind of step has. Steps are scn_steps.c's, the
 * graph scn_graph.c's, the schema walk scn_schema.c's.
 */
#include "engine/scenario.h"

#include "core/utf8.h"
#include "engine/scn_priv.h"
#include "engine/template.h"

#include <agenthost/plugin.h>
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern const char ah_schema_scenario_content[];

static json_t *g_schema;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void load_schema(void)
{
    g_schema = json_loads(ah_schema_scenario_content, 0, NULL);
}

const json_t *scenario_schema(void)
{
    pthread_once(&g_once, load_schema);
    return g_schema;
}

/* ---- errors and paths ------------------------------------------------------------- */

static void append(scn_check *c, const char *path, const char *msg)
{
    json_t *p = utf8_json_string(path), *m = utf8_json_string(msg);
    json_t *e = p && m ? json_pack("{s:o,s:o}", "path", p, "message", m) : NULL;
    if (!e) {
        if (!(p && m)) {
            json_decref(p);
            json_decref(m);
        }
        c->rc = AH_ENOMEM;
        return;
    }
    if (json_array_append_new(c->errors, e) != 0) c->rc = AH_ENOMEM;
}

static void add_error(scn_check *c, const char *tag, const char *path, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void add_error(scn_check *c, const char *tag, const char *path, const char *fmt, va_list ap)
{
    if (c->full || c->rc) return;
    /* A path cut short may end inside a character: keys are UTF-8. */
    char tagged[SCN_PATH_MAX + 16];
    snprintf(tagged, sizeof(tagged), "%s%s", tag, path);
    char *key = utf8_lossy(tagged, strlen(tagged));
    if (!key) {
        c->rc = AH_ENOMEM;
        return;
    }
    if (json_object_get(c->seen, key)) {
        free(key);
        return;
    }
    if (json_object_size(c->seen) >= SCENARIO_MAX_ERRORS) {
        char msg[100];
        snprintf(msg, sizeof(msg), "more problems not listed (the first %d are)",
                 SCENARIO_MAX_ERRORS);
        append(c, "", msg);
        c->full = true;
        free(key);
        return;
    }
    if (json_object_set_new(c->seen, key, json_true()) != 0) c->rc = AH_ENOMEM;
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    append(c, key + strlen(tag), msg);
    free(key);
}

void scn_error(scn_check *c, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_error(c, "", path, fmt, ap);
    va_end(ap);
}

void scn_error_loop(scn_check *c, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_error(c, "loop:", path, fmt, ap);
    va_end(ap);
}

void scn_path_key(char *out, const char *path, const char *key)
{
    snprintf(out, SCN_PATH_MAX, "%s%s%s", path, path[0] ? "." : "", key);
}

void scn_path_index(char *out, const char *path, size_t i)
{
    snprintf(out, SCN_PATH_MAX, "%s[%zu]", path, i);
}

void scn_quote(char *out, size_t n, const char *s)
{
    size_t len = strlen(s), cut = len > 60 ? 57 : len;
    while (cut < len && cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    snprintf(out, n, "\"%.*s%s\"", (int)cut, s, cut < len ? "..." : "");
}

/* ---- texts and templates ----------------------------------------------------------- */

typedef struct var_reads {
    scn_check *c;
    const char *path;
} var_reads;

/* What a template can read (run_context in run.c): anything else renders
 * as nothing, which is a mistake ("{{ name }}" for "{{ vars.name }}"). */
static bool known_root(const char *p)
{
    static const char *const roots[] = {"vars",  "contact", "conversation",
                                        "input", "result",  "now"};
    size_t n = strcspn(p, ".");
    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
        if (strlen(roots[i]) == n && !strncmp(p, roots[i], n)) return true;
    return false;
}

/* A template reads vars.NAME: NAME is declared (or the engine's _error);
 * any other path starts at what a template can read. */
static int on_path(void *ud, const char *p, const tmpl_pos *pos)
{
    var_reads *r = ud;
    if (!known_root(p)) {
        size_t n = strcspn(p, ".");
        scn_error(r->c, r->path,
                  "%d:%d: reads %.*s, which is nothing a template can read (vars.%.*s? the "
                  "others: contact, conversation, input, result, now)",
                  pos->line, pos->column, (int)n, p, (int)n, p);
        return 1;
    }
    if (strncmp(p, "vars.", 5)) return 0;
    const char *name = p + 5;
    size_t n = strcspn(name, ".");
    char var[80];
    if (n >= sizeof(var)) n = sizeof(var) - 1;
    memcpy(var, name, n);
    var[n] = 0;
    if (!strcmp(var, "_error") || !strcmp(var, "*") || json_object_get(r->c->declared, var))
        return 0;
    scn_error(r->c, r->path, "%d:%d: reads vars.%s, which is not a declared variable", pos->line,
              pos->column, var);
    return 1;
}

void scn_check_template(scn_check *c, const json_t *s, const char *path)
{
    if (!json_is_string(s)) return;
    tmpl *t = NULL;
    tmpl_error e;
    int rc = tmpl_compile(json_string_value(s), json_string_length(s), &t, &e);
    if (rc == AH_ENOMEM) {
        c->rc = rc;
        return;
    }
    if (rc) {
        if (e.pos.line > 0)
            scn_error(c, path, "%d:%d: %s", e.pos.line, e.pos.column, e.message);
        else
            scn_error(c, path, "%s", e.message);
        return;
    }
    var_reads r = {c, path};
    if (tmpl_paths(t, on_path, &r) == AH_ENOMEM) c->rc = AH_ENOMEM;
    tmpl_free(t);
}

static bool declared_language(const scn_check *c, const char *tag)
{
    size_t i;
    json_t *l;
    json_array_foreach(c->languages, i, l) if (!strcasecmp(json_string_value(l), tag)) return true;
    return false;
}

static bool text_has(const json_t *text, const char *lang)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)text, k, v) if (!strcasecmp(k, lang)) return true;
    return false;
}

static void language_list(const scn_check *c, char *out, size_t n)
{
    size_t i, used = 0;
    json_t *l;
    out[0] = 0;
    json_array_foreach(c->languages, i, l)
    {
        int w = snprintf(out + used, n - used, "%s%s", i ? ", " : "", json_string_value(l));
        if (w < 0 || (size_t)w >= n - used) break;
        used += (size_t)w;
    }
}

void scn_check_text(scn_check *c, const json_t *text, const char *path)
{
    char sub[SCN_PATH_MAX];
    if (c->texts && (json_is_string(text) || json_is_object(text)) &&
        json_array_append_new(c->texts, json_pack("{s:s,s:O}", "path", path, "text", text)) != 0)
        c->rc = AH_ENOMEM;
    if (json_is_string(text)) {
        scn_check_template(c, text, path);
        return;
    }
    if (!json_is_object(text)) return; /* the schema says what it should be */
    char langs[200];
    language_list(c, langs, sizeof(langs));
    size_t i;
    json_t *l;
    json_array_foreach(c->languages, i, l)
    {
        if (text_has(text, json_string_value(l))) continue;
        scn_path_key(sub, path, json_string_value(l));
        scn_error(c, sub, "missing: every text is in each of the scenario's languages (%s)", langs);
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)text, k, v)
    {
        scn_path_key(sub, path, k);
        if (!declared_language(c, k)) {
            char q[80];
            scn_quote(q, sizeof(q), k);
            scn_error(c, sub, "%s is not one of the scenario's languages (%s)", q, langs);
        }
        scn_check_template(c, v, sub);
    }
}

void scn_check_template_leaves(scn_check *c, const json_t *v, const char *path, int depth)
{
    char sub[SCN_PATH_MAX];
    if (json_is_string(v)) {
        scn_check_template(c, v, path);
        return;
    }
    if ((json_is_object(v) || json_is_array(v)) && depth >= SCENARIO_MAX_DEPTH) {
        scn_error(c, path, "nested deeper than %d levels", SCENARIO_MAX_DEPTH);
        return;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            scn_path_key(sub, path, k);
            scn_check_template_leaves(c, m, sub, depth + 1);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m)
        {
            scn_path_index(sub, path, i);
            scn_check_template_leaves(c, m, sub, depth + 1);
        }
    }
}

void scn_add_expression(scn_check *c, const json_t *program, const char *path)
{
    if (!c->expressions || !json_is_string(program) || !json_string_length(program) || c->rc)
        return;
    json_t *p = utf8_json_string(path);
    json_t *e = p ? json_pack("{s:o,s:O}", "path", p, "program", program) : NULL;
    if (!e || json_array_append_new(c->expressions, e) != 0) c->rc = AH_ENOMEM;
}

bool scenario_target(const char *name)
{
    return scn_var_name_ok(name) || scenario_profile_target(name) ||
           !strcmp(name, "conversation.language");
}

bool scenario_profile_target(const char *name)
{
    if (strncmp(name, "contact.", 8) != 0) return false;
    const char *f = name + 8;
    if (!strcmp(f, "name") || !strcmp(f, "phone") || !strcmp(f, "email") || !strcmp(f, "language"))
        return true;
    return !strncmp(f, "attributes.", 11) && scn_var_name_ok(f + 11);
}

static void not_a_profile_field(scn_check *c, const char *path, const char *quoted)
{
    scn_error(c, path,
              "%s is not a field of the contact's profile: contact.name, contact.phone, "
              "contact.email, contact.language or contact.attributes.KEY",
              quoted);
}

void scn_check_target_name(scn_check *c, const char *name, const char *path)
{
    if (scenario_target(name)) return;
    char q[80];
    scn_quote(q, sizeof(q), name);
    if (!strncmp(name, "contact.", 8))
        not_a_profile_field(c, path, q);
    else
        scn_error(c, path,
                  "%s is not a variable name: a letter, then letters, digits or _ (at most 64)", q);
}

void scn_check_stored_var(scn_check *c, const json_t *name, const char *path)
{
    const char *n = json_string_value(name);
    if (!n || json_object_get(c->declared, n) || (!scn_var_name_ok(n) && scenario_target(n)))
        return;
    char q[80];
    scn_quote(q, sizeof(q), n);
    if (!strncmp(n, "contact.", 8)) {
        not_a_profile_field(c, path, q);
        return;
    }
    scn_error(c, path,
              "%s is not a declared variable: declare it in variables (or assign it in a set "
              "step)",
              q);
}

/* ---- the whole ---------------------------------------------------------------------- */

bool scn_var_name_ok(const char *s)
{
    if (!isalpha((unsigned char)s[0])) return false;
    size_t n = 1;
    for (; s[n]; n++)
        if (!isalnum((unsigned char)s[n]) && s[n] != '_') return false;
    return n <= 64;
}

static bool of_type(const char *type, const json_t *v)
{
    if (!strcmp(type, "string")) return json_is_string(v);
    if (!strcmp(type, "integer")) return json_is_integer(v);
    if (!strcmp(type, "number")) return json_is_number(v);
    if (!strcmp(type, "boolean")) return json_is_boolean(v);
    if (!strcmp(type, "object")) return json_is_object(v);
    if (!strcmp(type, "array")) return json_is_array(v);
    return true; /* an unknown type is the schema's error */
}

static void check_variables(scn_check *c)
{
    const char *name;
    json_t *def;
    char path[SCN_PATH_MAX], sub[SCN_PATH_MAX];
    json_object_foreach(json_object_get(c->content, "variables"), name, def)
    {
        scn_path_key(path, "variables", name);
        if (!scn_var_name_ok(name)) {
            char q[80];
            scn_quote(q, sizeof(q), name);
            scn_error(c, path,
                      "%s is not a variable name: a letter, then letters, digits or _ (at most "
                      "64)",
                      q);
            continue;
        }
        json_object_set_new(c->declared, name, json_true());
        const char *type = json_string_value(json_object_get(def, "type"));
        const json_t *dflt = json_object_get(def, "default");
        if (type && dflt && !of_type(type, dflt)) {
            scn_path_key(sub, path, "default");
            scn_error(c, sub, "expected %s, the variable's type", type);
        }
    }
}

/* Variables set steps assign are declared too (the format lets them). */
static void declare_set_variables(scn_check *c)
{
    const char *id, *name;
    json_t *step, *v;
    json_object_foreach(json_object_get(c->content, "steps"), id, step)
    {
        if (strcmp(json_string_value(json_object_get(step, "kind")) ?: "", "set")) continue;
        json_object_foreach(json_object_get(step, "set"), name, v)
        {
            if (scn_var_name_ok(name)) json_object_set_new(c->declared, name, json_true());
        }
    }
}

/* [a-z]{2,3}(-[A-Z]{2})? as the schema says: other tags are its errors,
 * and texts are not held to them. */
static bool language_ok(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz");
    if (n < 2 || n > 3) return false;
    if (!s[n]) return true;
    return s[n] == '-' && strspn(s + n + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 2 && !s[n + 3];
}

static void check_languages(scn_check *c)
{
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(c->content, "languages"), i, l)
    {
        if (json_is_string(l) && language_ok(json_string_value(l)))
            json_array_append(c->languages, l);
    }
    const char *dl = json_string_value(json_object_get(c->content, "default_language"));
    if (dl && json_array_size(c->languages) && !declared_language(c, dl)) {
        char langs[200];
        language_list(c, langs, sizeof(langs));
        scn_error(c, "default_language", "\"%s\" is not one of languages (%s)", dl, langs);
    }
}

/* [a-z][a-z0-9_]{0,63} */
static bool step_id_ok(const char *s)
{
    if (!(s[0] >= 'a' && s[0] <= 'z')) return false;
    size_t n = 1;
    for (; s[n]; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
            return false;
    return n <= 64;
}

static void check_whole(scn_check *c)
{
    const json_t *content = c->content;
    /* The top level against the schema, steps aside (each by its kind). */
    json_t *top = json_copy((json_t *)content);
    json_t *schema = json_copy((json_t *)c->schema);
    json_t *props = schema ? json_copy(json_object_get(schema, "properties")) : NULL;
    if (!top || !schema || !props) {
        json_decref(top);
        json_decref(schema);
        json_decref(props);
        c->rc = AH_ENOMEM;
        return;
    }
    const json_t *steps = json_object_get(content, "steps");
    if (json_is_object(steps)) {
        json_object_set_new(top, "steps", json_object());
        json_object_set_new(props, "steps", json_pack("{s:s}", "type", "object"));
        size_t n = json_object_size(steps);
        if (n == 0) scn_error(c, "steps", "a scenario has at least one step");
        if (n > SCENARIO_MAX_STEPS) scn_error(c, "steps", "more than %d steps", SCENARIO_MAX_STEPS);
    }
    json_object_set_new(schema, "properties", props);
    scn_schema_collect(c, schema, top, "");
    json_decref(schema);
    json_decref(top);
    check_languages(c);
    check_variables(c);
    declare_set_variables(c);
    scn_check_text(c, json_object_get(content, "fallback"), "fallback");
    const char *id;
    json_t *step;
    char path[SCN_PATH_MAX];
    json_object_foreach((json_t *)steps, id, step)
    {
        if (!step_id_ok(id)) {
            char q[80];
            scn_quote(q, sizeof(q), id);
            scn_path_key(path, "steps", id);
            scn_error(c, path,
                      "%s is not a step id: a-z, then a-z, 0-9 or _ (at most 64 characters)", q);
        }
        scn_check_step(c, id, step);
    }
    if (json_is_object(steps)) scn_check_graph(c);
}

static int check(const json_t *content, const scenario_check_env *env, json_t *errors,
                 json_t *expressions, json_t *texts)
{
    scn_check c = {.schema = scenario_schema(),
                   .content = content,
                   .env = env,
                   .errors = errors,
                   .expressions = expressions,
                   .texts = texts,
                   .seen = json_object(),
                   .declared = json_object(),
                   .languages = json_array()};
    if (!c.schema || !c.seen || !c.declared || !c.languages) {
        c.rc = AH_ENOMEM;
    } else if (!json_is_object(content)) {
        char got[64];
        snprintf(got, sizeof(got), "%s",
                 json_is_array(content) ? "an array"
                 : content              ? "not an object"
                                        : "nothing");
        scn_error(&c, "", "a scenario is an object, got %s", got);
    } else {
        check_whole(&c);
    }
    scn_schema_done(&c);
    json_decref(c.seen);
    json_decref(c.declared);
    json_decref(c.languages);
    return c.rc;
}

int scenario_validate(const json_t *content, const scenario_check_env *env, json_t *errors,
                      json_t *expressions)
{
    if (!json_is_array(errors) || (expressions && !json_is_array(expressions))) return AH_EINVAL;
    return check(content, env, errors, expressions, NULL);
}

int scenario_texts(const json_t *content, json_t *texts)
{
    if (!json_is_array(texts)) return AH_EINVAL;
    json_t *errors = json_array();
    int rc = errors ? check(content, NULL, errors, NULL, texts) : AH_ENOMEM;
    json_decref(errors);
    return rc;
}
