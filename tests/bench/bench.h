/*
 * bench.h - what every benchmark shares: the --smoke/--full mode, clocks,
 * latency samples and percentiles, the table on stdout, the JSON figures
 * in $BENCH_OUT/<name>.json, temporary directories, CPU pinning, memory
 * readings, and servers (redis-server, nats-server) started on loopback
 * for the run and stopped at its end.
 *
 * A benchmark fails (bench_fail, exit status 1) only when something is
 * broken: a failed request, a wrong count, a server that would not start.
 * Timing never fails a run.
 */
#ifndef AH_BENCH_H
#define AH_BENCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct bench {
    const char *name; /* "core", "bus": the JSON file's name */
    bool full;        /* --full; else --smoke */
    json_t *figures;  /* written to $BENCH_OUT/<name>.json */
    int failures;
} bench;

/* Parse argv (--smoke, --full); on a bad argument print usage and exit 64.
 * Records the machine (cores, load average) in the figures. */
void bench_init(bench *b, const char *name, int argc, char **argv);
/* Record the load at the end, write the JSON, return the exit status. */
int bench_finish(bench *b);

/* Something is broken: report it, and the run will exit non-zero. */
void bench_fail(bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Whether a part should run: every part, unless $BENCH_ONLY names some
 * (comma-separated, e.g. BENCH_ONLY=calls for profiling under callgrind). */
bool bench_want(const bench *b, const char *part);

/* The number for this mode. */
static inline long bench_pick(const bench *b, long smoke, long full)
{
    return b->full ? full : smoke;
}

uint64_t bench_now_ns(void);
/* CPU time consumed so far, ns: by the calling thread, and by a process. */
uint64_t bench_cpu_thread_ns(void);
uint64_t bench_cpu_pid_ns(pid_t pid);
double bench_load1(void);

/* Latency samples in nanoseconds. */
typedef struct bench_lat {
    uint64_t *v;
    size_t n, cap;
} bench_lat;
void bench_lat_add(bench_lat *l, uint64_t ns);
/* The q-quantile (0..1) in microseconds; sorts the samples. */
double bench_lat_us(bench_lat *l, double q);
void bench_lat_free(bench_lat *l);

/* The median of n values (v is sorted in place), and their range. */
double bench_median(double *v, int n);

/* A section of the table: a heading, then rows of name, value, unit,
 * note. Each row is also stored in the figures under section.key. */
void bench_section(bench *b, const char *section, const char *title);
void bench_row(bench *b, const char *section, const char *key, double value, const char *unit,
               const char *fmt_note, ...) __attribute__((format(printf, 6, 7)));
/* Store any JSON (stolen) under section.key without printing it. */
void bench_set(bench *b, const char *section, const char *key, json_t *value);

/* A temporary directory under $TMPDIR or /tmp (mode 0755). 0 or -1. */
int bench_tmpdir(char *out, size_t len, const char *tag);
void bench_rmdir(const char *dir);

/* Pin the calling thread, or every thread of another process, to a CPU.
 * 0, or -1 if the machine has no such CPU or pinning is refused. */
int bench_pin_self(int cpu);
int bench_pin_pid(pid_t pid, int cpu);
int bench_cpus(void);

/* Resident and proportional set size of a process in bytes (0 if gone). */
uint64_t bench_rss(pid_t pid);
uint64_t bench_pss(pid_t pid);
/* The same over pid and its descendants: a confined instance is the runner
 * the host started, the init of its pid namespace and the plugin process
 * (docs/adr/0009-pid-namespace-relay.md). bench_tree(pid, bench_pss). */
uint64_t bench_tree(pid_t pid, uint64_t (*measure)(pid_t));

/* ---- servers on loopback --------------------------------------------------- */

typedef struct bench_server {
    pid_t pid;
    int port;
    char dir[512]; /* its temporary directory (data, log) */
    char log[600];
} bench_server;

/* A free TCP port on 127.0.0.1. */
int bench_free_port(void);
/* Exec argv (argv[0] found on PATH) with stdout and stderr into dir/log
 * and wait up to timeout_ms for 127.0.0.1:port to accept. 0 or -1 with
 * the server's log tail printed. */
int bench_server_start(bench_server *s, char *const argv[], int timeout_ms);
/* SIGTERM, then SIGKILL after timeout_ms; removes the directory. */
void bench_server_stop(bench_server *s, int timeout_ms);
/* A blocking TCP connection to 127.0.0.1:port with TCP_NODELAY, or -1. */
int bench_connect(int port);
/* Whether a program is on PATH. */
bool bench_have(const char *prog);

#endif
