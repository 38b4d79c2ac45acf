/*
 * metrics_service.c - plugin-reported metrics. See metrics_service.h.
 */
#include "metrics_service.h"

#include "sdk/ipc/frame.h"
#include "core/metrics.h"

#include <agenthost/plugin.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 8
#define MAX_SERIES_PER_INSTANCE 1000
#define LABEL_VALUE_MAX 128

typedef struct seen {
    const instance *inst;
    uint64_t *hashes; /* open addressing, 0 = empty */
    size_t n, cap;
} seen;

struct metrics_service {
    seen *v;
    size_t n;
};

static bool valid_name(const char *s, size_t max)
{
    if (!s || !*s || strlen(s) > max || !((*s >= 'a' && *s <= 'z') || *s == '_')) return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) return false;
    return true;
}

static uint64_t fnv1a(const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *s = a; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (const char *s = b; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h ? h : 1;
}

static seen *seen_of(metrics_service *p, const instance *inst)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].inst == inst) return &p->v[i];
    seen *nv = realloc(p->v, (p->n + 1) * sizeof(*nv));
    if (!nv) return NULL;
    p->v = nv;
    seen *s = &p->v[p->n++];
    memset(s, 0, sizeof(*s));
    s->inst = inst;
    return s;
}

/* True if the series is known or could be added under the cap. */
static bool admit(seen *s, uint64_t h)
{
    if (!s->cap) {
        s->cap = 2048;
        s->hashes = calloc(s->cap, sizeof(uint64_t));
        if (!s->hashes) {
            s->cap = 0;
            return false;
        }
    }
    size_t i = h & (s->cap - 1);
    while (s->hashes[i]) {
        if (s->hashes[i] == h) return true;
        i = (i + 1) & (s->cap - 1);
    }
    if (s->n >= MAX_SERIES_PER_INSTANCE) return false;
    s->hashes[i] = h;
    s->n++;
    return true;
}

/* "k=v,k=v" -> label pairs appended after plugin and instance. */
static int build_labels(const char *plugin, const char *inst, const char *spec, char *out,
                        size_t len)
{
    const char *kv[2 * (MAX_LABELS + 2) + 1];
    char keys[MAX_LABELS][32], vals[MAX_LABELS][LABEL_VALUE_MAX + 1];
    int n = 0, k = 0;
    kv[n++] = "plugin";
    kv[n++] = plugin;
    kv[n++] = "instance";
    kv[n++] = inst;
    for (const char *p = spec; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t seg = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', seg);
        if (!eq || k == MAX_LABELS) return -1;
        size_t kl = (size_t)(eq - p), vl = seg - kl - 1;
        if (kl == 0 || kl >= sizeof(keys[0]) || vl > LABEL_VALUE_MAX) return -1;
        memcpy(keys[k], p, kl);
        keys[k][kl] = 0;
        memcpy(vals[k], eq + 1, vl);
        vals[k][vl] = 0;
        if (!valid_name(keys[k], 31) || !strcmp(keys[k], "plugin") || !strcmp(keys[k], "instance"))
            return -1;
        kv[n++] = keys[k];
        kv[n++] = vals[k];
        k++;
        p = comma ? comma + 1 : NULL;
    }
    kv[n] = NULL;
    /* metrics_labels takes varargs; pass up to 10 pairs explicitly. */
    const char *a[21] = {0};
    for (int i = 0; i < n; i++)
        a[i] = kv[i];
    metrics_labels(out, len, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10],
                   a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], NULL);
    return 0;
}

static void dropped(const char *inst, const char *why)
{
    char labels[256];
    metrics_labels(labels, sizeof(labels), "instance", inst, "reason", why, NULL);
    metrics_counter_add("agenthost_plugin_metrics_dropped_total", labels, 1);
}

static void on_metric(void *ud, inst_req req, json_t *body)
{
    metrics_service *p = ud;
    const char *inst = instance_id(req.inst);
    const char *name = json_string_value(json_object_get(body, "name"));
    const json_t *kind = json_object_get(body, "kind");
    const json_t *value = json_object_get(body, "value");
    const char *spec = json_string_value(json_object_get(body, "labels"));
    if (!valid_name(name, 64) || !json_is_integer(kind) || !json_is_number(value)) {
        dropped(inst, "invalid");
        return;
    }
    char full[96], labels[2048];
    snprintf(full, sizeof(full), "agenthost_plugin_%s", name);
    if (build_labels(instance_manifest(req.inst)->name, inst, spec, labels, sizeof(labels)) < 0) {
        dropped(inst, "invalid_labels");
        return;
    }
    seen *s = seen_of(p, req.inst);
    if (!s || !admit(s, fnv1a(full, labels))) {
        dropped(inst, "too_many_series");
        return;
    }
    double v = json_number_value(value);
    switch (json_integer_value(kind)) {
    case AH_METRIC_COUNTER:
        if (v >= 0) metrics_counter_add(full, labels, v);
        break;
    case AH_METRIC_GAUGE:
        metrics_gauge_set(full, labels, v);
        break;
    case AH_METRIC_HISTOGRAM:
        metrics_observe(full, labels, v);
        break;
    default:
        dropped(inst, "invalid");
        break;
    }
}

int metrics_service_attach(metrics_service **out, supervisor *sup)
{
    metrics_service *p = calloc(1, sizeof(*p));
    if (!p) return AH_ENOMEM;
    metrics_describe("agenthost_plugin_metrics_dropped_total", METRIC_COUNTER,
                     "Plugin metric samples dropped (invalid, or over the series cap)");
    supervisor_set_handler(sup, AH_MSG_METRIC, on_metric, p);
    *out = p;
    return 0;
}

void metrics_service_detach(metrics_service *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i].hashes);
    free(p->v);
    free(p);
}
