/*
 * outcalls.c - recorded answers to the plugin's calls to other instances.
 * See outcalls.h.
 */
#include "outcalls.h"

#include "jsonl.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    json_t *o;
    int line;
    bool used, repeat;
} entry;

struct outcalls {
    entry *v;
    size_t n;
};

static int entry_check(const json_t *o, const char *path, int line, char *err, size_t errlen)
{
    static const char *const keys[] = {"instance", "plugin", "action", "result",
                                       "error",    "repeat", NULL};
    const char *bad = NULL;
    if (!json_is_object(o)) return jsonl_fail(err, errlen, path, line, "expected a JSON object");
    if (!jsonl_only_keys(o, keys, &bad))
        return jsonl_fail(err, errlen, path, line, "%s: unknown field", bad);
    static const char *const need[] = {"instance", "plugin", "action"};
    for (size_t i = 0; i < 3; i++)
        if (!json_is_string(json_object_get(o, need[i])))
            return jsonl_fail(err, errlen, path, line, "%s: expected a string", need[i]);
    const json_t *e = json_object_get(o, "error");
    if (!json_object_get(o, "result") == !e)
        return jsonl_fail(err, errlen, path, line, "result or error: exactly one is needed");
    if (e && !json_is_string(json_object_get(e, "code")))
        return jsonl_fail(err, errlen, path, line, "error.code: expected a string");
    return 0;
}

int outcalls_load(const char *path, outcalls **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) return jsonl_fail(err, errlen, path, 0, "cannot open it");
    outcalls *c = calloc(1, sizeof(*c));
    char *buf = NULL;
    size_t cap = 0;
    int line = 0, rc = c ? 0 : jsonl_fail(err, errlen, path, 0, "out of memory");
    while (rc == 0 && getline(&buf, &cap, f) > 0) {
        line++;
        if (strspn(buf, " \t\r\n") == strlen(buf)) continue;
        json_error_t je;
        json_t *o = json_loads(buf, 0, &je);
        if (!o) {
            rc = jsonl_fail(err, errlen, path, line, "not JSON: %s", je.text);
        } else if ((rc = entry_check(o, path, line, err, errlen)) == 0) {
            entry *nv = realloc(c->v, (c->n + 1) * sizeof(*nv));
            if (!nv) {
                rc = jsonl_fail(err, errlen, path, line, "out of memory");
                json_decref(o);
                break;
            }
            c->v = nv;
            c->v[c->n++] =
                (entry){.o = o, .line = line, .repeat = json_is_true(json_object_get(o, "repeat"))};
            continue;
        }
        json_decref(o);
    }
    free(buf);
    fclose(f);
    if (rc) {
        outcalls_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void outcalls_free(outcalls *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n; i++)
        json_decref(c->v[i].o);
    free(c->v);
    free(c);
}

int outcalls_match(outcalls *c, const char *instance, const char *action)
{
    for (size_t i = 0; c && i < c->n; i++) {
        entry *e = &c->v[i];
        if ((e->used && !e->repeat) ||
            strcmp(json_string_value(json_object_get(e->o, "instance")), instance) ||
            strcmp(json_string_value(json_object_get(e->o, "action")), action))
            continue;
        e->used = true;
        return (int)i;
    }
    return -1;
}

const char *outcalls_plugin(const outcalls *c, int i)
{
    return json_string_value(json_object_get(c->v[i].o, "plugin"));
}

const json_t *outcalls_answer(const outcalls *c, int i)
{
    return c->v[i].o;
}

int outcalls_line(const outcalls *c, int i)
{
    return c->v[i].line;
}
