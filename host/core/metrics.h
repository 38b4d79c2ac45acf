/*
 * metrics.h - the process-wide metrics registry, rendered in Prometheus
 * text format at GET /metrics. Counters, gauges and histograms keyed by
 * name and a label set; collectors refresh gauges just before rendering.
 * Thread-safe (a mutex), cheap enough for per-request use.
 */
#ifndef AH_METRICS_H
#define AH_METRICS_H

#include <stddef.h>

typedef enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type;

/* Declare a family (optional; undeclared families are untyped-help). */
void metrics_describe(const char *name, metric_type type, const char *help);

/* labels: a preformatted label set `k="v",k2="v2"` (see metrics_labels), or NULL. */
void metrics_counter_add(const char *name, const char *labels, double v);
void metrics_gauge_set(const char *name, const char *labels, double v);
/* Histogram of seconds (default buckets 0.5 ms .. 10 s), or any unit
 * when declared with metrics_buckets first. */
void metrics_observe(const char *name, const char *labels, double v);
void metrics_buckets(const char *name, const double *bounds, int n);
/* Remove every series of a family whose labels contain `match` (e.g. an
 * instance that went away). */
void metrics_forget(const char *name, const char *match);

/* Format labels from pairs (NULL-terminated): metrics_labels(buf, n,
 * "route", r, "status", "200", NULL). Values are escaped. */
const char *metrics_labels(char *buf, size_t len, ...);

typedef void (*metrics_collector)(void *ud);
void metrics_add_collector(metrics_collector fn, void *ud);
void metrics_remove_collector(metrics_collector fn, void *ud);

/* A collector of process_* metrics (CPU, resident memory, open fds, start time). */
void metrics_process_collector(void *ud);

/* Render everything (malloc'd, NUL-terminated). */
char *metrics_render(size_t *len);
/* Drop everything (tests). */
void metrics_reset(void);

#endif
