/*
 * bench_util.h - the pieces of bench_egress: a curl-multi load generator
 * (all at once, or a closed loop for a duration), percentiles, peak RSS,
 * and the two measured phases that run in fresh processes.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct lg_opts {
    const char *url;
    const char *body;
    const char *const *headers;
    int total;       /* requests to make; 0: as many as fit in duration_ms */
    int concurrency; /* in flight at once (a closed loop), when ramp_ms is 0 */
    int duration_ms;
    int ramp_ms; /* open loop: request i starts at i * ramp_ms / total */
} lg_opts;

typedef struct lg_result {
    double *lat_ms; /* per completed request */
    size_t n, cap;
    int ok, failed;
    double wall_ms;
    int peak_in_flight;
} lg_result;

void loadgen(const lg_opts *o, lg_result *r);
void lg_free(lg_result *r);
/* Percentile p (0-100) of r's latencies (sorts them). */
double pct(lg_result *r, double p);
double pct_of(double *v, size_t n, double p);

/* A "Name:" line of /proc/<pid>/status, in kB (0 if unknown). */
double rss_kb(pid_t pid, const char *field);
double now_ms(void);
/* User + system CPU time of a process so far, in ms (0 if unknown). */
double cpu_ms(pid_t pid);

/* Run phase "direct" or "host" and print its JSON result on stdout. */
int bench_phase(const char *phase, int calls, int delay_ms, int ramp_ms, int port);
int bench_host_phase(int calls, int delay_ms, int ramp_ms, int port);

#endif
