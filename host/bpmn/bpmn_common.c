/*
 * bpmn_common.c - the step kinds' BPMN elements and a step's targets, the
 * same for export and import.
 */
#include "bpmn_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *bpmn_element_of(const char *kind)
{
    static const struct {
        const char *kind, *element;
    } map[] = {
        {"say", "sendTask"},
        {"ask", "userTask"},
        {"choice", "userTask"},
        {"handoff", "manualTask"},
        {"set", "scriptTask"},
        {"switch", "exclusiveGateway"},
        {"wait", "intermediateCatchEvent"},
        {"goto", "intermediateThrowEvent"},
        {"trigger", "intermediateThrowEvent"},
        {"call_agent", "callActivity"},
        {"end", "endEvent"},
    };
    for (size_t i = 0; kind && i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcmp(kind, map[i].kind)) return map[i].element;
    return "serviceTask"; /* http.request and every plugin step */
}

static const char *const plain_targets[] = {"next", "default", "on_invalid", "on_timeout",
                                            "on_error"};

static void add(bpmn_target *t, size_t max, size_t *n, const char *field, const json_t *to)
{
    if (*n >= max || !json_is_string(to)) return;
    snprintf(t[*n].field, sizeof(t[*n].field), "%s", field);
    t[*n].to = json_string_value(to);
    (*n)++;
}

static void add_list(const json_t *step, const char *list, bpmn_target *t, size_t max, size_t *n)
{
    const json_t *a = json_object_get(step, list);
    for (size_t i = 0; json_is_array(a) && i < json_array_size(a); i++) {
        char field[40];
        snprintf(field, sizeof(field), "%s[%zu].next", list, i);
        add(t, max, n, field, json_object_get(json_array_get(a, i), "next"));
    }
}

size_t bpmn_step_targets(const json_t *step, bpmn_target *t, size_t max)
{
    size_t n = 0;
    add(t, max, &n, "next", json_object_get(step, "next"));
    add_list(step, "options", t, max, &n);
    add_list(step, "cases", t, max, &n);
    for (size_t i = 1; i < sizeof(plain_targets) / sizeof(plain_targets[0]); i++)
        add(t, max, &n, plain_targets[i], json_object_get(step, plain_targets[i]));
    return n;
}

bool bpmn_set_target(json_t *step, const char *field, const char *to)
{
    for (size_t i = 0; i < sizeof(plain_targets) / sizeof(plain_targets[0]); i++)
        if (!strcmp(field, plain_targets[i]))
            return json_is_string(json_object_get(step, field)) &&
                   !json_object_set_new(step, field, json_string(to));
    const char *lists[] = {"options", "cases"};
    for (size_t l = 0; l < 2; l++) {
        size_t len = strlen(lists[l]), i;
        int used = 0;
        if (strncmp(field, lists[l], len) || sscanf(field + len, "[%zu].next%n", &i, &used) != 1 ||
            field[len + (size_t)used] || field[len + 1] == '+' || field[len + 1] == '-')
            continue;
        json_t *item = json_array_get(json_object_get(step, lists[l]), i);
        return json_is_string(json_object_get(item, "next")) &&
               !json_object_set_new(item, "next", json_string(to));
    }
    return false;
}

char *bpmn_json_text(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) return NULL;
    size_t extra = 0, len = strlen(s);
    for (size_t i = 0; i + 2 < len; i++)
        if ((unsigned char)s[i] == 0xEF && (unsigned char)s[i + 1] == 0xBF &&
            ((unsigned char)s[i + 2] == 0xBE || (unsigned char)s[i + 2] == 0xBF))
            extra += 3; /* three bytes become \uFFFx, six */
    if (!extra) return s;
    char *o = malloc(len + extra + 1), *w = o;
    if (!o) {
        free(s);
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        if (i + 2 < len && (unsigned char)s[i] == 0xEF && (unsigned char)s[i + 1] == 0xBF &&
            ((unsigned char)s[i + 2] == 0xBE || (unsigned char)s[i + 2] == 0xBF)) {
            w += sprintf(w, "\\uFFF%c", (unsigned char)s[i + 2] == 0xBE ? 'E' : 'F');
            i += 2;
        } else {
            *w++ = s[i];
        }
    }
    *w = 0;
    free(s);
    return o;
}
