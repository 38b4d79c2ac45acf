/*
 * metrics_service.h - metrics that plugins report (host->metric,
 * AH_MSG_METRIC), exported as
 * agenthost_plugin_<name>{plugin=...,instance=...,<their labels>}.
 *
 * Names are [a-z_][a-z0-9_]{0,63}; at most 8 labels a sample, keys
 * [a-z_][a-z0-9_]{0,31}, values up to 128 bytes; at most 1,000 distinct
 * series per instance (further ones are dropped and counted in
 * agenthost_plugin_metrics_dropped_total). Kinds: counter (added), gauge
 * (set), histogram (observed; seconds).
 */
#ifndef AH_METRICS_SERVICE_H
#define AH_METRICS_SERVICE_H

#include "plugin/supervisor.h"

typedef struct metrics_service metrics_service;

/* Register the AH_MSG_METRIC handler. 0, or AH_ENOMEM. */
int metrics_service_attach(metrics_service **out, supervisor *sup);
/* NULL is fine. */
void metrics_service_detach(metrics_service *p);

#endif
