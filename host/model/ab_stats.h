/*
 * ab_stats.h - the statistics of an A/B test, from the counters an
 * experiment keeps (experiments.h): per variant the completion rate, mean
 * time to completion, errors and drop-off per step; between variants the
 * two-proportion z-test on the completion rate. Pure functions.
 */
#ifndef AH_MODEL_AB_STATS_H
#define AH_MODEL_AB_STATS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define AB_ALPHA 0.05 /* the significance level reported against */

/* A two-proportion z-test: c1 of n1 against c2 of n2, pooled. */
typedef struct ab_ztest {
    bool defined;   /* false: a variant has no samples (z and p are meaningless) */
    double p1, p2;  /* the rates (0 with no samples) */
    double diff;    /* p2 - p1 */
    double z;       /* (p2 - p1) / pooled standard error; 0 when both rates are equal */
    double p_value; /* two-sided: erfc(|z| / sqrt 2); 1 when both rates are equal */
} ab_ztest;

/* The test of c1/n1 against c2/n2. Counts past their sample (c > n) are
 * taken as n. With a zero sample, defined is false. When the pooled rate
 * is 0 or 1 (both variants at 0% or both at 100%), the standard error is 0
 * and no difference can be shown: z 0, p_value 1. */
ab_ztest ab_ztest_of(uint64_t c1, uint64_t n1, uint64_t c2, uint64_t n2);

/* The statistics of an experiment document (borrowed): a new object
 * {"variants": [{"version", "percent", "starts", "ended", "completed",
 * "completion_rate", "mean_completion_ms", "errors", "outcomes",
 * "in_progress", "drop_off": [{"step", "reached", "stopped", "rate"}]}],
 * "comparisons": [{"control", "variant", "n_control", "n_variant",
 * "completed_control", "completed_variant", "rate_control",
 * "rate_variant", "difference", "z", "p_value", "significant", "alpha",
 * "note"?}], "metric": "completion_rate", "goal"}. Each variant is
 * compared with the first (the control). */
json_t *ab_stats_report(const json_t *experiment);

#endif
