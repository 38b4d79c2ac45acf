/*
 * yaml2json - convert a YAML document to JSON (build-time tool).
 *   yaml2json IN.yaml OUT.json [NAME=SCHEMA.json ...]
 * Each NAME=SCHEMA.json (a JSON Schema file) is put at
 * components.schemas.NAME of the output, its own "#/$defs/..." references
 * pointed at its new place, so one file is both the documentation's schema
 * and the OpenAPI document's.
 * Plain scalars follow the YAML 1.2 core schema (null, booleans, integers,
 * floats); quoted scalars are strings; anchors and aliases are expanded.
 */
#include <errno.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_ANCHORS 256

static struct {
    char *name;
    json_t *value;
} anchors[MAX_ANCHORS];
static int nanchors;

static json_t *scalar(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return json_stringn(v, n);
    if (!strcmp(v, "null") || !strcmp(v, "~") || n == 0) return json_null();
    if (!strcmp(v, "true")) return json_true();
    if (!strcmp(v, "false")) return json_false();
    char *end;
    errno = 0;
    long long i = strtoll(v, &end, 10);
    if (*end == 0 && !errno && (v[0] != '0' || n == 1 || (v[0] == '-' && v[1] != '0')))
        return json_integer(i);
    double d = strtod(v, &end);
    if (*end == 0 && !errno && strpbrk(v, ".eE")) return json_real(d);
    return json_stringn(v, n);
}

static void remember(const yaml_char_t *anchor, json_t *v)
{
    if (anchor && nanchors < MAX_ANCHORS) {
        anchors[nanchors].name = strdup((const char *)anchor);
        anchors[nanchors].value = json_incref(v);
        nanchors++;
    }
}

static json_t *parse_node(yaml_parser_t *p, yaml_event_t *ev);

static json_t *next_node(yaml_parser_t *p, int *end_type, yaml_event_type_t end)
{
    yaml_event_t ev;
    if (!yaml_parser_parse(p, &ev)) return NULL;
    if (ev.type == end) {
        *end_type = 1;
        yaml_event_delete(&ev);
        return NULL;
    }
    json_t *v = parse_node(p, &ev);
    yaml_event_delete(&ev);
    return v;
}

static json_t *parse_node(yaml_parser_t *p, yaml_event_t *ev)
{
    int done = 0;
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        json_t *v = scalar(ev);
        remember(ev->data.scalar.anchor, v);
        return v;
    }
    case YAML_ALIAS_EVENT:
        for (int i = 0; i < nanchors; i++)
            if (!strcmp(anchors[i].name, (const char *)ev->data.alias.anchor))
                return json_deep_copy(anchors[i].value);
        fprintf(stderr, "yaml2json: unknown alias %s\n", ev->data.alias.anchor);
        return NULL;
    case YAML_SEQUENCE_START_EVENT: {
        json_t *a = json_array();
        for (;;) {
            json_t *v = next_node(p, &done, YAML_SEQUENCE_END_EVENT);
            if (done) break;
            if (!v) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, v);
        }
        remember(ev->data.sequence_start.anchor, a);
        return a;
    }
    case YAML_MAPPING_START_EVENT: {
        json_t *o = json_object();
        for (;;) {
            json_t *k = next_node(p, &done, YAML_MAPPING_END_EVENT);
            if (done) break;
            json_t *v = k ? next_node(p, &done, YAML_MAPPING_END_EVENT) : NULL;
            if (!k || !v || !json_is_string(k)) {
                fprintf(stderr, "yaml2json: mapping keys must be strings\n");
                json_decref(k);
                json_decref(v);
                json_decref(o);
                return NULL;
            }
            json_object_set_new(o, json_string_value(k), v);
            json_decref(k);
        }
        remember(ev->data.mapping_start.anchor, o);
        return o;
    }
    default:
        return NULL;
    }
}

/* The NAME=FILE arguments, for references from one schema file to another. */
static char **schema_args;
static int nschema_args;

/* The component a sibling file ("scenario-content.json") became, or NULL. */
static const char *component_of(const char *file)
{
    for (int i = 0; i < nschema_args; i++) {
        const char *eq = strchr(schema_args[i], '=');
        const char *base = eq ? strrchr(eq + 1, '/') : NULL;
        base = base ? base + 1 : eq ? eq + 1 : NULL;
        if (base && !strcmp(base, file)) {
            static char name[128];
            snprintf(name, sizeof(name), "%.*s", (int)(eq - schema_args[i]), schema_args[i]);
            return name;
        }
    }
    return NULL;
}

/* Point a schema's "#/$defs/X" references at "#/components/schemas/NAME/$defs/X",
 * and a reference to another schema's file at that schema's component. */
static void rebase_refs(json_t *v, const char *name)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) rebase_refs(e, name);
        return;
    }
    if (!json_is_object(v)) return;
    const char *k;
    json_t *e;
    json_object_foreach(v, k, e)
    {
        const char *ref = json_string_value(e);
        if (!strcmp(k, "$ref") && ref && !strncmp(ref, "#/$defs/", 8)) {
            char buf[512];
            snprintf(buf, sizeof(buf), "#/components/schemas/%s/$defs/%s", name, ref + 8);
            json_object_set_new(v, k, json_string(buf));
        } else if (!strcmp(k, "$ref") && ref && ref[0] != '#' && component_of(ref)) {
            char buf[512];
            snprintf(buf, sizeof(buf), "#/components/schemas/%s", component_of(ref));
            json_object_set_new(v, k, json_string(buf));
        } else if (!strcmp(k, "$ref") && ref && ref[0] != '#') {
            fprintf(stderr, "yaml2json: %s references %s, which is not among the schemas given\n",
                    name, ref);
            exit(1);
        } else {
            rebase_refs(e, name);
        }
    }
}

static int add_schema(json_t *root, const char *spec)
{
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec) {
        fprintf(stderr, "yaml2json: %s: expected NAME=FILE\n", spec);
        return -1;
    }
    char name[128];
    snprintf(name, sizeof(name), "%.*s", (int)(eq - spec), spec);
    json_error_t je;
    json_t *schema = json_load_file(eq + 1, JSON_REJECT_DUPLICATES, &je);
    if (!schema) {
        fprintf(stderr, "%s:%d:%d: %s\n", eq + 1, je.line, je.column, je.text);
        return -1;
    }
    json_object_del(schema, "$schema");
    rebase_refs(schema, name);
    json_t *comps = json_object_get(root, "components");
    if (!comps) json_object_set_new(root, "components", comps = json_object());
    json_t *schemas = json_object_get(comps, "schemas");
    if (!schemas) json_object_set_new(comps, "schemas", schemas = json_object());
    if (json_object_get(schemas, name)) {
        fprintf(stderr, "yaml2json: components.schemas.%s is defined twice\n", name);
        json_decref(schema);
        return -1;
    }
    json_object_set_new(schemas, name, schema);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: yaml2json IN.yaml OUT.json [NAME=SCHEMA.json ...]\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    if (!in) {
        perror(argv[1]);
        return 1;
    }
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, in);
    yaml_event_t ev;
    json_t *root = NULL;
    while (yaml_parser_parse(&p, &ev)) {
        yaml_event_type_t t = ev.type;
        if (t == YAML_SCALAR_EVENT || t == YAML_SEQUENCE_START_EVENT ||
            t == YAML_MAPPING_START_EVENT) {
            root = parse_node(&p, &ev);
            yaml_event_delete(&ev);
            break;
        }
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT) break;
    }
    if (p.error != YAML_NO_ERROR || !root) {
        fprintf(stderr, "%s:%zu:%zu: %s\n", argv[1], p.problem_mark.line + 1,
                p.problem_mark.column + 1, p.problem ? p.problem : "not a YAML document");
        return 1;
    }
    yaml_parser_delete(&p);
    fclose(in);
    schema_args = argv + 3;
    nschema_args = argc - 3;
    for (int i = 3; i < argc; i++)
        if (add_schema(root, argv[i]) < 0) return 1;
    if (json_dump_file(root, argv[2], JSON_COMPACT) != 0) {
        fprintf(stderr, "yaml2json: cannot write %s\n", argv[2]);
        return 1;
    }
    json_decref(root);
    return 0;
}
