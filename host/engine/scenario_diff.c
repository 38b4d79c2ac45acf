/*
 * scenario_diff.c - the changes between two scenario versions
 * (scenario_diff.h).
 */
#include "engine/scenario_diff.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static int by_text(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

/* arr sorted (its strings), in place. */
static json_t *sorted(json_t *arr)
{
    size_t n = json_array_size(arr);
    if (n < 2) return arr;
    json_t **v = malloc(n * sizeof(*v));
    if (!v) return arr;
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(arr, i));
    qsort(v, n, sizeof(*v), by_text);
    json_array_clear(arr);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, v[i]);
    free(v);
    return arr;
}

/* A text: an object whose values are all strings (language -> text). */
static bool is_text(const json_t *v)
{
    if (!json_is_object(v) || !json_object_size(v)) return false;
    const char *k;
    json_t *s;
    json_object_foreach((json_t *)v, k, s) if (!json_is_string(s)) return false;
    return true;
}

/* The keys of a and b whose values differ (for texts: the languages). */
static json_t *changed_keys(const json_t *a, const json_t *b)
{
    json_t *out = json_array();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)a, k, v) if (!json_equal(v, json_object_get(b, k)))
        json_array_append_new(out, json_string(k));
    json_object_foreach((json_t *)b, k, v) if (!json_object_get(a, k))
        json_array_append_new(out, json_string(k));
    return sorted(out);
}

static json_t *step_change(const json_t *a, const json_t *b)
{
    json_t *fields = changed_keys(a, b), *texts = json_object();
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f)
    {
        const char *k = json_string_value(f);
        const json_t *va = json_object_get(a, k), *vb = json_object_get(b, k);
        if ((!va || is_text(va)) && (!vb || is_text(vb)))
            json_object_set_new(texts, k, changed_keys(va, vb));
    }
    json_t *out = json_pack("{s:o}", "fields", fields);
    if (json_object_size(texts))
        json_object_set_new(out, "texts", texts);
    else
        json_decref(texts);
    return out;
}

json_t *scenario_diff(const json_t *a, const json_t *b)
{
    json_t *top_a = json_deep_copy(a), *top_b = json_deep_copy(b);
    json_object_del(top_a, "steps");
    json_object_del(top_b, "steps");
    json_t *fields = changed_keys(top_a, top_b);
    json_decref(top_a);
    json_decref(top_b);
    const json_t *sa = json_object_get(a, "steps"), *sb = json_object_get(b, "steps");
    json_t *added = json_array(), *removed = json_array(), *changed = json_object();
    const char *id;
    json_t *step;
    json_object_foreach((json_t *)sa, id, step)
    {
        const json_t *other = json_object_get(sb, id);
        if (!other)
            json_array_append_new(removed, json_string(id));
        else if (!json_equal(step, other))
            json_object_set_new(changed, id, step_change(step, other));
    }
    json_object_foreach((json_t *)sb, id, step) if (!json_object_get(sa, id))
        json_array_append_new(added, json_string(id));
    bool same = !json_array_size(fields) && !json_array_size(added) && !json_array_size(removed) &&
                !json_object_size(changed);
    return json_pack("{s:o,s:{s:o,s:o,s:o},s:b}", "fields", fields, "steps", "added", sorted(added),
                     "removed", sorted(removed), "changed", changed, "same", same);
}
