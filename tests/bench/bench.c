#include "bench.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- mode, figures, failures -------------------------------------------- */

static void usage(const char *name)
{
    fprintf(stderr,
            "usage: bench_%s --smoke | --full\n"
            "  --smoke  a few seconds: proves the benchmark runs (inside `make test`)\n"
            "  --full   the figures for docs/benchmarks.md (`make bench`)\n"
            "Figures go to $BENCH_OUT/%s.json when BENCH_OUT is set.\n",
            name, name);
}

static json_t *machine(void)
{
    struct utsname u;
    uname(&u);
    return json_pack("{s:i,s:s,s:f}", "cpus", bench_cpus(), "kernel", u.release, "load1_start",
                     bench_load1());
}

void bench_init(bench *b, const char *name, int argc, char **argv)
{
    memset(b, 0, sizeof(*b));
    b->name = name;
    if (argc != 2 || (strcmp(argv[1], "--smoke") && strcmp(argv[1], "--full"))) {
        usage(name);
        exit(64);
    }
    b->full = !strcmp(argv[1], "--full");
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    b->figures = json_pack("{s:s,s:s,s:o}", "benchmark", name, "mode", b->full ? "full" : "smoke",
                           "machine", machine());
    printf("bench_%s (%s): %d CPUs, load average %.2f at start\n", name, b->full ? "full" : "smoke",
           bench_cpus(), bench_load1());
    if (!b->full)
        printf("smoke run: proves the benchmark works; its figures are not measurements "
               "(short, and often a sanitizer build): see `make bench`\n");
}

void bench_fail(bench *b, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "bench_%s: BROKEN: %s\n", b->name, msg);
    json_t *list = json_object_get(b->figures, "failures");
    if (!list) {
        list = json_array();
        json_object_set_new(b->figures, "failures", list);
    }
    json_array_append_new(list, json_string(msg));
    b->failures++;
}

int bench_finish(bench *b)
{
    json_object_set_new(json_object_get(b->figures, "machine"), "load1_end",
                        json_real(bench_load1()));
    printf("load average %.2f at the end\n", bench_load1());
    const char *out = getenv("BENCH_OUT");
    if (out && *out) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s.json", out, b->name);
        if (json_dump_file(b->figures, path, JSON_INDENT(2) | JSON_SORT_KEYS) != 0)
            bench_fail(b, "cannot write %s", path);
        else
            printf("figures written to %s\n", path);
    }
    json_decref(b->figures);
    return b->failures ? 1 : 0;
}

bool bench_want(const bench *b, const char *part)
{
    (void)b;
    const char *only = getenv("BENCH_ONLY");
    if (!only || !*only) return true;
    size_t n = strlen(part);
    for (const char *p = only; (p = strstr(p, part)) != NULL; p += n)
        if ((p == only || p[-1] == ',') && (p[n] == 0 || p[n] == ',')) return true;
    return false;
}

/* ---- clocks and samples ---------------------------------------------------- */

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) < 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_cpu_thread_ns(void)
{
    return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

uint64_t bench_cpu_pid_ns(pid_t pid)
{
    clockid_t id;
    return clock_getcpuclockid(pid, &id) == 0 ? clock_ns(id) : 0;
}

double bench_load1(void)
{
    double l[1] = {0};
    return getloadavg(l, 1) == 1 ? l[0] : -1;
}

void bench_lat_add(bench_lat *l, uint64_t ns)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        uint64_t *nv = realloc(l->v, cap * sizeof(*nv));
        if (!nv) return;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

double bench_lat_us(bench_lat *l, double q)
{
    if (!l->n) return 0;
    qsort(l->v, l->n, sizeof(*l->v), cmp_u64);
    size_t i = (size_t)(q * (double)(l->n - 1) + 0.5);
    return (double)l->v[i < l->n ? i : l->n - 1] / 1000.0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(double *v, int n)
{
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void bench_lat_free(bench_lat *l)
{
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* ---- the table --------------------------------------------------------------- */

static json_t *section_obj(bench *b, const char *section)
{
    json_t *s = json_object_get(b->figures, section);
    if (!s) {
        s = json_object();
        json_object_set_new(b->figures, section, s);
    }
    return s;
}

void bench_section(bench *b, const char *section, const char *title)
{
    section_obj(b, section);
    printf("\n%s\n", title);
    printf("  %-44s %14s  %-8s %s\n", "", "value", "unit", "");
}

void bench_row(bench *b, const char *section, const char *key, double value, const char *unit,
               const char *fmt_note, ...)
{
    char note[512] = "";
    if (fmt_note) {
        va_list ap;
        va_start(ap, fmt_note);
        vsnprintf(note, sizeof(note), fmt_note, ap);
        va_end(ap);
    }
    const char *fmt = value >= 100 || value == (double)(long long)value ? "%14.0f" : "%14.2f";
    char v[32];
    snprintf(v, sizeof(v), fmt, value);
    printf("  %-44s %s  %-8s %s\n", key, v, unit, note);
    json_t *row = json_pack("{s:f,s:s}", "value", value, "unit", unit);
    if (note[0]) json_object_set_new(row, "note", json_string(note));
    json_object_set_new(section_obj(b, section), key, row);
}

void bench_set(bench *b, const char *section, const char *key, json_t *value)
{
    json_object_set_new(section_obj(b, section), key, value);
}

/* ---- directories ------------------------------------------------------------- */

int bench_tmpdir(char *out, size_t len, const char *tag)
{
    const char *base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    if ((size_t)snprintf(out, len, "%s/ah-bench-%s-XXXXXX", base, tag) >= len) return -1;
    if (!mkdtemp(out)) return -1;
    chmod(out, 0755); /* plugins run as nobody and must reach what is inside */
    return 0;
}

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[2048];
            snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
                rm_tree(p);
            else
                unlink(p);
        }
        closedir(d);
    }
    rmdir(path);
}

void bench_rmdir(const char *dir)
{
    if (dir && dir[0] && !getenv("BENCH_KEEP")) rm_tree(dir);
}

/* ---- CPUs and memory ---------------------------------------------------------- */

int bench_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
    return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

int bench_pin_self(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set);
}

int bench_pin_pid(pid_t pid, int cpu)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d) return -1;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (sched_setaffinity((pid_t)atoi(e->d_name), sizeof(set), &set) < 0) rc = -1;
    }
    closedir(d);
    return rc;
}

static uint64_t kb_field(const char *path, const char *field)
{
    FILE *f = fopen(path, "re");
    if (!f) return 0;
    char line[256];
    size_t flen = strlen(field);
    uint64_t kb = 0;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, field, flen) && line[flen] == ':') {
            kb = strtoull(line + flen + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb * 1024;
}

uint64_t bench_rss(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    return kb_field(path, "VmRSS");
}

uint64_t bench_pss(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
    return kb_field(path, "Pss");
}

/* Children of pid, from every /proc/N/stat (no /proc/P/task/T/children
 * on every kernel). Returns how many were stored in out. */
static size_t children_of(pid_t pid, pid_t *out, size_t cap)
{
    size_t n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && n < cap && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        char path[64], buf[512];
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "re");
        if (!f) continue;
        size_t k = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[k] = 0;
        char *p = strrchr(buf, ')');
        int ppid = 0;
        if (p && sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == pid) out[n++] = atoi(e->d_name);
    }
    if (d) closedir(d);
    return n;
}

uint64_t bench_tree(pid_t pid, uint64_t (*measure)(pid_t))
{
    pid_t tree[16];
    size_t n = 0;
    tree[n++] = pid;
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += measure(tree[i]);
        n += children_of(tree[i], tree + n, sizeof(tree) / sizeof(tree[0]) - n);
    }
    return sum;
}

/* ---- servers ----------------------------------------------------------------- */

int bench_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int bench_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

bool bench_have(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *dir = strtok_r(buf, ":", &save); dir;
         dir = strtok_r(NULL, ":", &save)) {
        char p[4200];
        snprintf(p, sizeof(p), "%s/%s", dir, prog);
        if (access(p, X_OK) == 0) return true;
    }
    return false;
}

static void print_tail(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f) return;
    char buf[2048];
    size_t n = 0;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0, SEEK_SET);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    fprintf(stderr, "--- %s (tail) ---\n%s\n---\n", path, buf);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int bench_server_start(bench_server *s, char *const argv[], int timeout_ms)
{
    snprintf(s->log, sizeof(s->log), "%s/server.log", s->dir);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int null = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (null >= 0) dup2(null, 0);
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive a benchmark that dies */
        /* Debian installs nats-server in /usr/sbin. */
        const char *path = getenv("PATH");
        char p[4096];
        snprintf(p, sizeof(p), "%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");
        setenv("PATH", p, 1);
        execvp(argv[0], argv);
        _exit(127);
    }
    s->pid = pid;
    uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
    while (bench_now_ns() < deadline) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = -1;
            fprintf(stderr, "%s exited during start\n", argv[0]);
            print_tail(s->log);
            return -1;
        }
        int fd = bench_connect(s->port);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        sleep_ms(20);
    }
    fprintf(stderr, "%s did not accept on port %d within %d ms\n", argv[0], s->port, timeout_ms);
    print_tail(s->log);
    bench_server_stop(s, 1000);
    return -1;
}

void bench_server_stop(bench_server *s, int timeout_ms)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
        int st;
        bool gone = false;
        while (!gone && bench_now_ns() < deadline) {
            gone = waitpid(s->pid, &st, WNOHANG) == s->pid;
            if (!gone) sleep_ms(10);
        }
        if (!gone) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
        }
        s->pid = -1;
    }
    bench_rmdir(s->dir);
    s->dir[0] = 0;
}
