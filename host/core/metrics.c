#include "metrics.h"

#include <dirent.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BUCKETS 20
#define MAX_COLLECTORS 32

static const double default_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};

typedef struct series {
    struct series *next;
    char *labels;
    double value; /* counter/gauge value; histogram sum */
    unsigned long long count;
    unsigned long long buckets[MAX_BUCKETS];
} series;

typedef struct family {
    struct family *next;
    char *name;
    char *help;
    metric_type type;
    bool typed;
    double bounds[MAX_BUCKETS];
    int nbounds;
    series *series;
} family;

static struct {
    pthread_mutex_t mu;
    family *families;
    struct {
        metrics_collector fn;
        void *ud;
    } collectors[MAX_COLLECTORS];
    int ncollectors;
} M = {.mu = PTHREAD_MUTEX_INITIALIZER};

static family *find_family(const char *name, metric_type type, bool create)
{
    family **tail = &M.families;
    for (family *f = M.families; f; f = f->next) {
        if (!strcmp(f->name, name)) return f;
        tail = &f->next;
    }
    if (!create) return NULL;
    family *f = calloc(1, sizeof(*f));
    if (!f) return NULL;
    f->name = strdup(name);
    f->type = type;
    memcpy(f->bounds, default_bounds, sizeof(default_bounds));
    f->nbounds = (int)(sizeof(default_bounds) / sizeof(default_bounds[0]));
    *tail = f;
    return f;
}

static series *find_series(family *f, const char *labels)
{
    const char *l = labels ? labels : "";
    series **tail = &f->series;
    for (series *s = f->series; s; s = s->next) {
        if (!strcmp(s->labels, l)) return s;
        tail = &s->next;
    }
    series *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->labels = strdup(l);
    *tail = s;
    return s;
}

void metrics_describe(const char *name, metric_type type, const char *help)
{
    pthread_mutex_lock(&M.mu);
    family *f = find_family(name, type, true);
    if (f) {
        f->type = type;
        f->typed = true;
        free(f->help);
        f->help = strdup(help ? help : "");
    }
    pthread_mutex_unlock(&M.mu);
}

void metrics_buckets(const char *name, const double *bounds, int n)
{
    pthread_mutex_lock(&M.mu);
    family *f = find_family(name, METRIC_HISTOGRAM, true);
    if (f && n > 0 && n <= MAX_BUCKETS) {
        memcpy(f->bounds, bounds, (size_t)n * sizeof(double));
        f->nbounds = n;
    }
    pthread_mutex_unlock(&M.mu);
}

void metrics_counter_add(const char *name, const char *labels, double v)
{
    pthread_mutex_lock(&M.mu);
    family *f = find_family(name, METRIC_COUNTER, true);
    series *s = f ? find_series(f, labels) : NULL;
    if (s) s->value += v;
    pthread_mutex_unlock(&M.mu);
}

void metrics_gauge_set(const char *name, const char *labels, double v)
{
    pthread_mutex_lock(&M.mu);
    family *f = find_family(name, METRIC_GAUGE, true);
    series *s = f ? find_series(f, labels) : NULL;
    if (s) s->value = v;
    pthread_mutex_unlock(&M.mu);
}

void metrics_observe(const char *name, const char *labels, double v)
{
    pthread_mutex_lock(&M.mu);
    family *f = find_family(name, METRIC_HISTOGRAM, true);
    series *s = f ? find_series(f, labels) : NULL;
    if (s) {
        s->value += v;
        s->count++;
        for (int i = 0; i < f->nbounds; i++)
            if (v <= f->bounds[i]) s->buckets[i]++;
    }
    pthread_mutex_unlock(&M.mu);
}

void metrics_forget(const char *name, const char *match)
{
    pthread_mutex_lock(&M.mu);
    family *f = find_family(name, METRIC_GAUGE, false);
    if (f) {
        series **pp = &f->series;
        while (*pp) {
            series *s = *pp;
            if (strstr(s->labels, match)) {
                *pp = s->next;
                free(s->labels);
                free(s);
            } else {
                pp = &s->next;
            }
        }
    }
    pthread_mutex_unlock(&M.mu);
}

const char *metrics_labels(char *buf, size_t len, ...)
{
    va_list ap;
    va_start(ap, len);
    size_t used = 0;
    buf[0] = 0;
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k) break;
        const char *v = va_arg(ap, const char *);
        if (!v) v = "";
        if (used + strlen(k) + 4 >= len) break;
        used += (size_t)snprintf(buf + used, len - used, "%s%s=\"", used ? "," : "", k);
        for (const char *p = v; *p && used + 3 < len; p++) {
            if (*p == '"' || *p == '\\') {
                buf[used++] = '\\';
                buf[used++] = *p;
            } else if (*p == '\n') {
                buf[used++] = '\\';
                buf[used++] = 'n';
            } else {
                buf[used++] = *p;
            }
        }
        if (used + 2 < len) buf[used++] = '"';
        buf[used] = 0;
    }
    va_end(ap);
    return buf;
}

void metrics_add_collector(metrics_collector fn, void *ud)
{
    pthread_mutex_lock(&M.mu);
    if (M.ncollectors < MAX_COLLECTORS) {
        M.collectors[M.ncollectors].fn = fn;
        M.collectors[M.ncollectors].ud = ud;
        M.ncollectors++;
    }
    pthread_mutex_unlock(&M.mu);
}

void metrics_remove_collector(metrics_collector fn, void *ud)
{
    pthread_mutex_lock(&M.mu);
    for (int i = 0; i < M.ncollectors; i++)
        if (M.collectors[i].fn == fn && M.collectors[i].ud == ud) {
            M.collectors[i] = M.collectors[--M.ncollectors];
            break;
        }
    pthread_mutex_unlock(&M.mu);
}

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (w < 0) return;
        if (b->p && b->n + (size_t)w < b->cap) {
            b->n += (size_t)w;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 8192;
        while (cap < b->n + (size_t)w + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) return;
        b->p = np;
        b->cap = cap;
    }
}

static const char *type_name(metric_type t)
{
    return t == METRIC_COUNTER ? "counter" : t == METRIC_GAUGE ? "gauge" : "histogram";
}

char *metrics_render(size_t *len)
{
    /* Collectors run unlocked: they call the setters. */
    pthread_mutex_lock(&M.mu);
    int nc = M.ncollectors;
    struct {
        metrics_collector fn;
        void *ud;
    } cs[MAX_COLLECTORS];
    memcpy(cs, M.collectors, sizeof(cs[0]) * (size_t)nc);
    pthread_mutex_unlock(&M.mu);
    for (int i = 0; i < nc; i++)
        cs[i].fn(cs[i].ud);

    sbuf b = {0};
    sb_printf(&b, "%s", "");
    pthread_mutex_lock(&M.mu);
    for (family *f = M.families; f; f = f->next) {
        if (!f->series) continue;
        if (f->help) sb_printf(&b, "# HELP %s %s\n", f->name, f->help);
        sb_printf(&b, "# TYPE %s %s\n", f->name, type_name(f->type));
        for (series *s = f->series; s; s = s->next) {
            const char *l = s->labels;
            if (f->type != METRIC_HISTOGRAM) {
                sb_printf(&b, "%s%s%s%s %.17g\n", f->name, *l ? "{" : "", l, *l ? "}" : "",
                          s->value);
                continue;
            }
            for (int i = 0; i < f->nbounds; i++)
                sb_printf(&b, "%s_bucket{%s%sle=\"%g\"} %llu\n", f->name, l, *l ? "," : "",
                          f->bounds[i], s->buckets[i]);
            sb_printf(&b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", f->name, l, *l ? "," : "", s->count);
            sb_printf(&b, "%s_sum%s%s%s %.17g\n", f->name, *l ? "{" : "", l, *l ? "}" : "",
                      s->value);
            sb_printf(&b, "%s_count%s%s%s %llu\n", f->name, *l ? "{" : "", l, *l ? "}" : "",
                      s->count);
        }
    }
    pthread_mutex_unlock(&M.mu);
    if (len) *len = b.n;
    return b.p;
}

void metrics_reset(void)
{
    pthread_mutex_lock(&M.mu);
    for (family *f = M.families, *nf; f; f = nf) {
        nf = f->next;
        for (series *s = f->series, *ns; s; s = ns) {
            ns = s->next;
            free(s->labels);
            free(s);
        }
        free(f->name);
        free(f->help);
        free(f);
    }
    M.families = NULL;
    M.ncollectors = 0;
    pthread_mutex_unlock(&M.mu);
}

void metrics_process_collector(void *ud)
{
    (void)ud;
    static bool described;
    if (!described) {
        metrics_describe("process_cpu_seconds_total", METRIC_COUNTER,
                         "User and system CPU time of the host process");
        metrics_describe("process_resident_memory_bytes", METRIC_GAUGE,
                         "Resident memory of the host process");
        metrics_describe("process_open_fds", METRIC_GAUGE, "Open file descriptors of the host");
        metrics_describe("process_max_fds", METRIC_GAUGE, "The host's file descriptor limit");
        described = true;
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        pthread_mutex_lock(&M.mu);
        family *f = find_family("process_cpu_seconds_total", METRIC_COUNTER, true);
        series *s = f ? find_series(f, NULL) : NULL;
        if (s) s->value = cpu;
        pthread_mutex_unlock(&M.mu);
    }
    FILE *fp = fopen("/proc/self/statm", "re");
    if (fp) {
        unsigned long long size, rss;
        if (fscanf(fp, "%llu %llu", &size, &rss) == 2)
            metrics_gauge_set("process_resident_memory_bytes", NULL,
                              (double)rss * (double)sysconf(_SC_PAGESIZE));
        fclose(fp);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        int n = 0;
        while (readdir(d))
            n++;
        closedir(d);
        metrics_gauge_set("process_open_fds", NULL, n - 3); /* ., .. and the dir's own fd */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        metrics_gauge_set("process_max_fds", NULL, (double)rl.rlim_cur);
}
