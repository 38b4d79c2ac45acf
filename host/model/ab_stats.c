/*
 * ab_stats.c - an experiment's statistics from its counters (ab_stats.h).
 */
#include "ab_stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ab_ztest ab_ztest_of(uint64_t c1, uint64_t n1, uint64_t c2, uint64_t n2)
{
    ab_ztest r = {.p_value = 1};
    if (c1 > n1) c1 = n1;
    if (c2 > n2) c2 = n2;
    r.p1 = n1 ? (double)c1 / (double)n1 : 0;
    r.p2 = n2 ? (double)c2 / (double)n2 : 0;
    r.diff = r.p2 - r.p1;
    if (!n1 || !n2) return r;
    r.defined = true;
    double pooled = (double)(c1 + c2) / (double)(n1 + n2);
    double se = sqrt(pooled * (1 - pooled) * (1 / (double)n1 + 1 / (double)n2));
    if (se <= 0) return r; /* both at 0% or both at 100%: nothing to tell apart */
    r.z = r.diff / se;
    r.p_value = erfc(fabs(r.z) / sqrt(2.0));
    return r;
}

static uint64_t count_of(const json_t *o, const char *k)
{
    json_int_t v = json_integer_value(json_object_get(o, k));
    return v > 0 ? (uint64_t)v : 0;
}

/* Steps by where conversations stopped, most first, then by name. */
static int by_stopped(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    uint64_t sx = count_of(x, "stopped"), sy = count_of(y, "stopped");
    if (sx != sy) return sx < sy ? 1 : -1;
    return strcmp(json_string_value(json_object_get(x, "step")),
                  json_string_value(json_object_get(y, "step")));
}

static json_t *drop_off(const json_t *steps)
{
    size_t n = json_object_size(steps), i = 0;
    json_t **rows = calloc(n ? n : 1, sizeof(*rows));
    json_t *out = json_array();
    if (!rows) return out;
    const char *id;
    json_t *s;
    json_object_foreach((json_t *)steps, id, s)
    {
        uint64_t reached = count_of(s, "reached"), stopped = count_of(s, "stopped");
        rows[i++] = json_pack("{s:s,s:I,s:I,s:f}", "step", id, "reached", (json_int_t)reached,
                              "stopped", (json_int_t)stopped, "rate",
                              reached ? (double)stopped / (double)reached : 0.0);
    }
    qsort(rows, i, sizeof(*rows), by_stopped);
    for (size_t k = 0; k < i; k++)
        json_array_append_new(out, rows[k]);
    free(rows);
    return out;
}

static json_t *variant_stats(const json_t *split_part, const json_t *v)
{
    uint64_t starts = count_of(v, "starts"), ended = count_of(v, "ended");
    uint64_t completed = count_of(v, "completed");
    json_t *o = json_pack(
        "{s:O,s:O,s:I,s:I,s:I,s:I,s:I}", "version", json_object_get(split_part, "version"),
        "percent", json_object_get(split_part, "percent"), "starts", (json_int_t)starts, "ended",
        (json_int_t)ended, "in_progress", (json_int_t)(starts > ended ? starts - ended : 0),
        "completed", (json_int_t)completed, "errors", (json_int_t)count_of(v, "errors"));
    json_object_set_new(o, "completion_rate",
                        starts ? json_real((double)completed / (double)starts) : json_null());
    double sum = (double)count_of(v, "completion_ms_sum");
    json_object_set_new(o, "mean_completion_ms",
                        completed ? json_real(sum / (double)completed) : json_null());
    const json_t *outcomes = json_object_get(v, "outcomes");
    json_object_set_new(o, "outcomes", outcomes ? json_deep_copy(outcomes) : json_object());
    json_object_set_new(o, "drop_off", drop_off(json_object_get(v, "steps")));
    return o;
}

static json_t *compare(const json_t *a, const json_t *b)
{
    uint64_t n1 = count_of(a, "starts"), c1 = count_of(a, "completed");
    uint64_t n2 = count_of(b, "starts"), c2 = count_of(b, "completed");
    ab_ztest z = ab_ztest_of(c1, n1, c2, n2);
    json_t *o = json_pack(
        "{s:O,s:O,s:I,s:I,s:I,s:I,s:f,s:f,s:f}", "control", json_object_get(a, "version"),
        "variant", json_object_get(b, "version"), "n_control", (json_int_t)n1, "n_variant",
        (json_int_t)n2, "completed_control", (json_int_t)c1, "completed_variant", (json_int_t)c2,
        "rate_control", z.p1, "rate_variant", z.p2, "difference", z.diff, "alpha", AB_ALPHA);
    if (!z.defined) {
        json_object_set_new(o, "z", json_null());
        json_object_set_new(o, "p_value", json_null());
        json_object_set_new(o, "significant", json_false());
        json_object_set_new(o, "note",
                            json_string("no conversations yet in one of the variants: no test"));
        return o;
    }
    json_object_set_new(o, "z", json_real(z.z));
    json_object_set_new(o, "p_value", json_real(z.p_value));
    json_object_set_new(o, "significant", json_boolean(z.p_value < AB_ALPHA));
    if (z.z == 0 && z.p1 == z.p2 && (z.p1 == 0 || z.p1 == 1))
        json_object_set_new(o, "note",
                            json_string(z.p1 == 0 ? "both variants at 0%: no difference"
                                                  : "both variants at 100%: no difference"));
    return o;
}

json_t *ab_stats_report(const json_t *experiment)
{
    const json_t *split = json_object_get(experiment, "split");
    const json_t *variants = json_object_get(experiment, "variants");
    json_t *vs = json_array(), *cmp = json_array();
    size_t i;
    const json_t *part;
    json_array_foreach(split, i, part)
    {
        char key[24];
        snprintf(key, sizeof(key), "%lld",
                 (long long)json_integer_value(json_object_get(part, "version")));
        json_array_append_new(vs, variant_stats(part, json_object_get(variants, key)));
    }
    for (i = 1; i < json_array_size(vs); i++)
        json_array_append_new(cmp, compare(json_array_get(vs, 0), json_array_get(vs, i)));
    const json_t *goal = json_object_get(experiment, "goal");
    return json_pack("{s:s,s:O,s:o,s:o}", "metric", "completion_rate", "goal",
                     goal ? goal : json_null(), "variants", vs, "comparisons", cmp);
}
