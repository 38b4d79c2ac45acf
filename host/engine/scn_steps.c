/*
 * scn_steps.c - one step of a scenario: its kind (built in, or declared by
 * an installed plugin), its kind's schema, and the rules a schema cannot
 * say: texts and templates, jq programs, variables it stores into,
 * patterns that compile, bounds in order, fields that go together.
 */
#include "core/jsonschema.h"
#include "engine/scn_priv.h"

#include <agenthost/plugin.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

typedef void (*kind_fn)(scn_check *c, const json_t *step, const char *path);

typedef struct kind_def {
    const char *kind; /* as written in a step */
    const char *def;  /* its schema in $defs */
    kind_fn check;
} kind_def;

/* ---- parts several kinds have ---------------------------------------------------- */

static const scenario_plugin_step *declared_kind(const scn_check *c, const char *kind);
static void check_instance(scn_check *c, const json_t *step, const char *path,
                           const scenario_plugin_step *ps);

static void field_path(char *out, const char *path, const char *key)
{
    scn_path_key(out, path, key);
}

static void text_field(scn_check *c, const json_t *step, const char *path, const char *key)
{
    char sub[SCN_PATH_MAX];
    field_path(sub, path, key);
    scn_check_text(c, json_object_get(step, key), sub);
}

static void stored_var(scn_check *c, const json_t *step, const char *path)
{
    char sub[SCN_PATH_MAX];
    field_path(sub, path, "var");
    scn_check_stored_var(c, json_object_get(step, "var"), sub);
}

/* {"var": JQ}: each program; its keys stored into when `ours`. */
static void mapping(scn_check *c, const json_t *step, const char *path, const char *key, bool ours)
{
    char sub[SCN_PATH_MAX], leaf[SCN_PATH_MAX];
    field_path(sub, path, key);
    const char *name;
    json_t *prog;
    json_object_foreach(json_object_get(step, key), name, prog)
    {
        scn_path_key(leaf, sub, name);
        scn_add_expression(c, prog, leaf);
        if (ours) {
            json_t *n = json_string(name);
            scn_check_stored_var(c, n, leaf);
            json_decref(n);
        }
    }
}

static void buttons(scn_check *c, const json_t *step, const char *path)
{
    char sub[SCN_PATH_MAX], item[SCN_PATH_MAX], leaf[SCN_PATH_MAX];
    field_path(sub, path, "buttons");
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(step, "buttons"), i, b)
    {
        scn_path_index(item, sub, i);
        scn_path_key(leaf, item, "label");
        scn_check_text(c, json_object_get(b, "label"), leaf);
        scn_path_key(leaf, item, "url");
        scn_check_template(c, json_object_get(b, "url"), leaf);
    }
}

static void attachments(scn_check *c, const json_t *step, const char *path)
{
    char sub[SCN_PATH_MAX], item[SCN_PATH_MAX], leaf[SCN_PATH_MAX];
    field_path(sub, path, "attachments");
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(step, "attachments"), i, a)
    {
        scn_path_index(item, sub, i);
        scn_path_key(leaf, item, "url");
        scn_check_template(c, json_object_get(a, "url"), leaf);
    }
}

/* ---- built-in kinds -------------------------------------------------------------------- */

static void check_say(scn_check *c, const json_t *step, const char *path)
{
    text_field(c, step, path, "text");
    buttons(c, step, path);
    attachments(c, step, path);
}

static void check_bounds(scn_check *c, const json_t *v, const char *path, const char *lo,
                         const char *hi)
{
    const json_t *a = json_object_get(v, lo), *b = json_object_get(v, hi);
    if (json_is_number(a) && json_is_number(b) && json_number_value(a) > json_number_value(b)) {
        char sub[SCN_PATH_MAX];
        field_path(sub, path, hi);
        scn_error(c, sub, "less than %s", lo);
    }
}

static void check_validate(scn_check *c, const json_t *v, const char *path)
{
    if (!json_is_object(v)) return;
    char sub[SCN_PATH_MAX];
    const char *pattern = json_string_value(json_object_get(v, "pattern"));
    if (pattern) {
        regex_t re;
        int rc = regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB);
        if (rc) {
            char why[160];
            regerror(rc, &re, why, sizeof(why));
            field_path(sub, path, "pattern");
            scn_error(c, sub, "not a valid regular expression (POSIX extended): %s", why);
        } else {
            regfree(&re);
        }
    }
    check_bounds(c, v, path, "min_length", "max_length");
    check_bounds(c, v, path, "min", "max");
    const char *type = json_string_value(json_object_get(v, "type"));
    if (type && !strcmp(type, "choice") && !json_object_get(v, "choices")) {
        field_path(sub, path, "choices");
        scn_error(c, sub, "required: a \"choice\" validation lists its choices");
    }
    field_path(sub, path, "condition");
    scn_add_expression(c, json_object_get(v, "condition"), sub);
    field_path(sub, path, "message");
    scn_check_text(c, json_object_get(v, "message"), sub);
    const json_t *llm = json_object_get(v, "llm");
    if (json_is_object(llm)) { /* an LLM judges: llm.chat must be there to call */
        field_path(sub, path, "llm");
        const scenario_plugin_step *ps = declared_kind(c, "llm.chat");
        if (!ps)
            scn_error(c, sub, "an LLM check needs llm.chat: no installed plugin declares it");
        else
            check_instance(c, llm, sub, ps);
        char leaf[SCN_PATH_MAX];
        field_path(leaf, sub, "prompt");
        scn_check_template(c, json_object_get(llm, "prompt"), leaf);
    }
}

static void check_ask(scn_check *c, const json_t *step, const char *path)
{
    char sub[SCN_PATH_MAX];
    text_field(c, step, path, "text");
    text_field(c, step, path, "reprompt");
    stored_var(c, step, path);
    field_path(sub, path, "validate");
    check_validate(c, json_object_get(step, "validate"), sub);
    buttons(c, step, path);
}

static void check_choice(scn_check *c, const json_t *step, const char *path)
{
    char sub[SCN_PATH_MAX], item[SCN_PATH_MAX], leaf[SCN_PATH_MAX];
    text_field(c, step, path, "text");
    text_field(c, step, path, "reprompt");
    stored_var(c, step, path);
    field_path(sub, path, "options");
    const json_t *options = json_object_get(step, "options");
    size_t i;
    json_t *o;
    json_array_foreach(options, i, o)
    {
        scn_path_index(item, sub, i);
        scn_path_key(leaf, item, "label");
        scn_check_text(c, json_object_get(o, "label"), leaf);
        const char *id = json_string_value(json_object_get(o, "id"));
        for (size_t j = 0; id && j < i; j++) {
            const char *before =
                json_string_value(json_object_get(json_array_get(options, j), "id"));
            if (before && !strcmp(before, id)) {
                scn_path_key(leaf, item, "id");
                scn_error(c, leaf, "the same id as options[%zu]", j);
                break;
            }
        }
    }
}

static void check_switch(scn_check *c, const json_t *step, const char *path)
{
    char sub[SCN_PATH_MAX], item[SCN_PATH_MAX], leaf[SCN_PATH_MAX];
    field_path(sub, path, "cases");
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(step, "cases"), i, k)
    {
        scn_path_index(item, sub, i);
        scn_path_key(leaf, item, "if");
        scn_add_expression(c, json_object_get(k, "if"), leaf);
    }
}

static void check_set(scn_check *c, const json_t *step, const char *path)
{
    char sub[SCN_PATH_MAX], leaf[SCN_PATH_MAX];
    field_path(sub, path, "set");
    const char *name;
    json_t *prog;
    json_object_foreach(json_object_get(step, "set"), name, prog)
    {
        scn_path_key(leaf, sub, name);
        scn_check_target_name(c, name, leaf);
        scn_add_expression(c, prog, leaf);
    }
}

static void check_wait(scn_check *c, const json_t *step, const char *path)
{
    char sub[SCN_PATH_MAX];
    const char *what = json_string_value(json_object_get(step, "for"));
    bool duration = json_object_get(step, "duration_ms") != NULL;
    bool until = json_object_get(step, "until") != NULL;
    if (what && !strcmp(what, "duration")) {
        if (!duration && !until) {
            field_path(sub, path, "duration_ms");
            scn_error(c, sub, "required: a wait for a duration has duration_ms or until");
        } else if (duration && until) {
            field_path(sub, path, "until");
            scn_error(c, sub, "a wait for a duration has duration_ms or until, not both");
        }
        static const char *const input_only[] = {"var", "on_timeout", NULL};
        for (size_t i = 0; input_only[i]; i++) {
            if (!json_object_get(step, input_only[i])) continue;
            field_path(sub, path, input_only[i]);
            scn_error(c, sub, "only a wait for input has %s", input_only[i]);
        }
    } else if (what && !strcmp(what, "input")) {
        static const char *const duration_only[] = {"duration_ms", "until", NULL};
        for (size_t i = 0; duration_only[i]; i++) {
            if (!json_object_get(step, duration_only[i])) continue;
            field_path(sub, path, duration_only[i]);
            scn_error(c, sub, "only a wait for a duration has %s", duration_only[i]);
        }
        stored_var(c, step, path);
    }
    field_path(sub, path, "until");
    scn_add_expression(c, json_object_get(step, "until"), sub);
}

static void check_handoff(scn_check *c, const json_t *step, const char *path)
{
    text_field(c, step, path, "text");
}

static void check_trigger(scn_check *c, const json_t *step, const char *path)
{
    char sub[SCN_PATH_MAX];
    bool agent = json_object_get(step, "agent") != NULL;
    bool event = json_object_get(step, "event") != NULL;
    if (agent == event) {
        field_path(sub, path, agent ? "event" : "agent");
        scn_error(c, sub,
                  agent ? "a trigger starts an agent or publishes an event, not both"
                        : "required: a trigger starts an agent or publishes an event (event)");
    }
    mapping(c, step, path, "input", false);
}

static void check_call_agent(scn_check *c, const json_t *step, const char *path)
{
    mapping(c, step, path, "input", false);
    mapping(c, step, path, "output", true);
}

static void check_end(scn_check *c, const json_t *step, const char *path)
{
    text_field(c, step, path, "text");
}

static void check_http(scn_check *c, const json_t *step, const char *path)
{
    char sub[SCN_PATH_MAX], leaf[SCN_PATH_MAX];
    const char *url = json_string_value(json_object_get(step, "url"));
    field_path(sub, path, "url");
    if (url && *url && strncmp(url, "{{", 2) && strncmp(url, "https://", 8) &&
        strncmp(url, "http://", 7))
        scn_error(c, sub, "a URL starts with https:// or http:// (or with a template tag)");
    scn_check_template(c, json_object_get(step, "url"), sub);
    field_path(sub, path, "headers");
    const char *name;
    json_t *v;
    json_object_foreach(json_object_get(step, "headers"), name, v)
    {
        scn_path_key(leaf, sub, name);
        scn_check_template(c, v, leaf);
    }
    field_path(sub, path, "body");
    scn_check_template_leaves(c, json_object_get(step, "body"), sub, 0);
    mapping(c, step, path, "result", true);
}

static void check_continue_in(scn_check *c, const json_t *step, const char *path)
{
    char sub[SCN_PATH_MAX];
    text_field(c, step, path, "text");
    if (json_object_get(step, "button")) text_field(c, step, path, "button");
    const char *ch = json_string_value(json_object_get(step, "channel"));
    bool tg = ch && !strcmp(ch, "telegram"), mail = ch && !strcmp(ch, "email");
    if (tg && !json_object_get(step, "bot")) {
        field_path(sub, path, "bot");
        scn_error(c, sub, "required for channel telegram: the bot's username (the t.me link)");
    }
    if (mail && !json_object_get(step, "to")) {
        field_path(sub, path, "to");
        scn_error(c, sub, "required for channel email: the address to verify");
    }
    if (json_object_get(step, "to")) {
        field_path(sub, path, "to");
        scn_check_template(c, json_object_get(step, "to"), sub);
    }
}

static const kind_def BUILT_IN[] = {
    {"say", "say", check_say},
    {"ask", "ask", check_ask},
    {"choice", "choice", check_choice},
    {"switch", "switch", check_switch},
    {"set", "set", check_set},
    {"goto", "goto", NULL},
    {"wait", "wait", check_wait},
    {"handoff", "handoff", check_handoff},
    {"trigger", "trigger", check_trigger},
    {"call_agent", "call_agent", check_call_agent},
    {"end", "end", check_end},
    {"http.request", "http_request", check_http},
    {"continue_in", "continue_in", check_continue_in},
    {NULL, NULL, NULL},
};

/* ---- plugin steps ------------------------------------------------------------------------- */

static const scenario_plugin_step *declared_kind(const scn_check *c, const char *kind)
{
    for (size_t i = 0; c->env && i < c->env->nsteps; i++)
        if (c->env->steps[i].kind && !strcmp(c->env->steps[i].kind, kind)) return &c->env->steps[i];
    return NULL;
}

static const scenario_instance *instance_of(const scn_check *c, const char *id)
{
    for (size_t i = 0; c->env && i < c->env->ninstances; i++)
        if (c->env->instances[i].id && !strcmp(c->env->instances[i].id, id))
            return &c->env->instances[i];
    return NULL;
}

/* The instances of plugin: how many, and their ids in `names`. */
static size_t instances_of(const scn_check *c, const char *plugin, char *names, size_t n)
{
    size_t count = 0, used = 0;
    names[0] = 0;
    for (size_t i = 0; c->env && i < c->env->ninstances; i++) {
        const scenario_instance *in = &c->env->instances[i];
        if (!in->plugin || strcmp(in->plugin, plugin) || !in->id) continue;
        int w = snprintf(names + used, n - used, "%s%s", count ? ", " : "", in->id);
        if (w > 0 && (size_t)w < n - used) used += (size_t)w;
        count++;
    }
    return count;
}

static bool declares_action(const json_t *actions, const char *name)
{
    size_t i;
    json_t *a;
    json_array_foreach(actions, i, a)
    {
        const char *n = json_string_value(json_object_get(a, "name"));
        if (n && !strcmp(n, name)) return true;
    }
    return false;
}

static void check_instance(scn_check *c, const json_t *step, const char *path,
                           const scenario_plugin_step *ps)
{
    char sub[SCN_PATH_MAX], q[80];
    field_path(sub, path, "instance");
    const json_t *inst = json_object_get(step, "instance");
    if (inst) {
        const char *id = json_string_value(inst);
        if (!id) return; /* the schema's */
        const scenario_instance *in = instance_of(c, id);
        scn_quote(q, sizeof(q), id);
        if (!in)
            scn_error(c, sub, "no instance %s is configured", q);
        else if (!in->plugin || strcmp(in->plugin, ps->plugin))
            scn_error(c, sub, "instance %s runs plugin %s; %s is plugin %s's", q,
                      in->plugin ? in->plugin : "(none)", ps->kind, ps->plugin);
        return;
    }
    char names[200];
    size_t n = instances_of(c, ps->plugin, names, sizeof(names));
    if (n == 0)
        scn_error(c, sub, "required: no instance of plugin %s (which %s calls) is configured",
                  ps->plugin, ps->kind);
    else if (n > 1)
        scn_error(c, sub, "required: plugin %s has %zu instances (%s): name the one to call",
                  ps->plugin, n, names);
}

static void check_tools(scn_check *c, const json_t *step, const char *path)
{
    char sub[SCN_PATH_MAX], item[SCN_PATH_MAX], leaf[SCN_PATH_MAX], q[80];
    field_path(sub, path, "tools");
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(step, "tools"), i, t)
    {
        scn_path_index(item, sub, i);
        const char *id = json_string_value(json_object_get(t, "instance"));
        const char *action = json_string_value(json_object_get(t, "action"));
        if (!id) continue;
        const scenario_instance *in = instance_of(c, id);
        scn_quote(q, sizeof(q), id);
        if (!in) {
            scn_path_key(leaf, item, "instance");
            scn_error(c, leaf, "no instance %s is configured", q);
        } else if (action && in->actions && !declares_action(in->actions, action)) {
            scn_path_key(leaf, item, "action");
            scn_quote(q, sizeof(q), action);
            scn_error(c, leaf, "plugin %s declares no action %s", in->plugin ? in->plugin : "?", q);
        }
    }
}

/* ns.name: lower-case words joined by dots, at least two. */
static bool plugin_kind_form(const char *k)
{
    bool dot = false;
    const char *p = k;
    for (;;) {
        if (!(*p >= 'a' && *p <= 'z')) return false;
        while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')
            p++;
        if (!*p) return dot;
        if (*p != '.') return false;
        dot = true;
        p++;
    }
}

static void check_plugin(scn_check *c, const json_t *step, const char *path, const char *kind)
{
    char sub[SCN_PATH_MAX];
    const scenario_plugin_step *ps = declared_kind(c, kind);
    if (!ps) {
        char q[120];
        scn_quote(q, sizeof(q), kind);
        field_path(sub, path, "kind");
        scn_error(c, sub, "unknown step kind %s: no installed plugin declares it", q);
    } else {
        check_instance(c, step, path, ps);
    }
    field_path(sub, path, "args");
    scn_check_template_leaves(c, json_object_get(step, "args"), sub, 0);
    mapping(c, step, path, "result", true);
    if (!strcmp(kind, "llm.chat")) check_tools(c, step, path);
}

/* ---- a step -------------------------------------------------------------------------------- */

bool scn_step_waits(const json_t *step)
{
    const char *kind = json_string_value(json_object_get(step, "kind"));
    if (!kind) return false;
    if (!strcmp(kind, "ask") || !strcmp(kind, "choice") || !strcmp(kind, "handoff")) return true;
    const char *what = json_string_value(json_object_get(step, "for"));
    return !strcmp(kind, "wait") && what && !strcmp(what, "input");
}

void scn_check_step(scn_check *c, const char *id, const json_t *step)
{
    char path[SCN_PATH_MAX], sub[SCN_PATH_MAX];
    scn_path_key(path, "steps", id);
    if (!json_is_object(step)) {
        char got[64];
        jsonschema_describe(step, got, sizeof(got));
        scn_error(c, path, "expected a step (an object), got %s", got);
        return;
    }
    field_path(sub, path, "kind");
    const json_t *k = json_object_get(step, "kind");
    const char *kind = json_string_value(k);
    if (!kind) {
        scn_error(c, sub, k ? "expected a string" : "required field missing");
        return;
    }
    for (const kind_def *d = BUILT_IN; d->kind; d++) {
        if (strcmp(d->kind, kind)) continue;
        scn_schema_collect(c, scn_schema_def(c, d->def), step, path);
        if (d->check) d->check(c, step, path);
        return;
    }
    if (plugin_kind_form(kind) && strlen(kind) <= 100) {
        const char *def = !strcmp(kind, "llm.chat") ? "llm_chat" : "plugin_step";
        scn_schema_collect(c, scn_schema_def(c, def), step, path);
        check_plugin(c, step, path, kind);
        return;
    }
    char q[120];
    scn_quote(q, sizeof(q), kind);
    scn_error(c, sub,
              "unknown step kind %s: say, ask, choice, switch, set, goto, wait, handoff, trigger, "
              "call_agent, end, http.request, continue_in, or a plugin's (ns.name)",
              q);
}
