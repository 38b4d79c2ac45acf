/*
 * pmetrics.h - metrics that plugins report (host->metric), exported as
 * agenthost_plugin_<name>{plugin=...,instance=...,<their labels>}.
 *
 * Names are [a-z_][a-z0-9_]{0,63}; at most 8 labels a sample, keys
 * [a-z_][a-z0-9_]{0,31}, values up to 128 bytes; at most 1,000 distinct
 * series per instance (further ones are dropped and counted in
 * agenthost_plugin_metrics_dropped_total). Kinds: counter (added), gauge
 * (set), histogram (observed; seconds).
 */
#ifndef AH_PMETRICS_H
#define AH_PMETRICS_H

#include "supervisor.h"

typedef struct pmetrics pmetrics;

/* Register the AH_MSG_METRIC handler. 0 or -1. */
int pmetrics_attach(pmetrics **out, supervisor *sup);
void pmetrics_detach(pmetrics *p);

#endif
