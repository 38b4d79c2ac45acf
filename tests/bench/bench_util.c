/*
 * bench_util.c - load generation and measurement for bench_egress.
 */
#include "bench_util.h"

#include "broker/driver.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double pct_of(double *v, size_t n, double p)
{
    if (!n) return 0;
    qsort(v, n, sizeof(double), cmp_double);
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

double pct(lg_result *r, double p)
{
    return pct_of(r->lat_ms, r->n, p);
}

void lg_free(lg_result *r)
{
    free(r->lat_ms);
    memset(r, 0, sizeof(*r));
}

double rss_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    double kb = 0;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, field, strlen(field))) kb = atof(line + strlen(field));
    fclose(f);
    return kb;
}

double cpu_ms(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command may hold spaces */
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

typedef struct slot {
    CURL *e;
    double start;
    char buf[64]; /* the start of the body, for nothing but draining */
} slot;

static size_t drain(char *d, size_t s, size_t n, void *ud)
{
    (void)d;
    (void)ud;
    return s * n;
}

static void add_latency(lg_result *r, double ms)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 1024;
        r->lat_ms = realloc(r->lat_ms, r->cap * sizeof(double));
    }
    r->lat_ms[r->n++] = ms;
}

static CURL *new_handle(const lg_opts *o, struct curl_slist *hl, slot *sl)
{
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, o->url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, o->body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, drain);
    curl_easy_setopt(e, CURLOPT_PRIVATE, sl);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 300L);
    return e;
}

/* Closed loop (concurrency slots, each starting its next request when one
 * ends) or open loop (ramp_ms: request i is due at i * ramp_ms / total,
 * and its latency counts from then, so falling behind shows). */
void loadgen(const lg_opts *o, lg_result *r)
{
    CURLM *m = curl_multi_init();
    struct curl_slist *hl = NULL;
    for (const char *const *h = o->headers; h && *h; h++)
        hl = curl_slist_append(hl, *h);
    hl = curl_slist_append(hl, "Expect:");
    bool open_loop = o->ramp_ms > 0 && o->total > 0;
    int slots = open_loop ? o->total : o->concurrency;
    slot *s = calloc((size_t)slots, sizeof(*s));
    double t0 = now_ms(), end = o->duration_ms ? t0 + o->duration_ms : 0;
    int started = 0, running = 0;
    for (int i = 0; i < slots; i++)
        s[i].e = new_handle(o, hl, &s[i]);
    for (;;) {
        double t = now_ms();
        /* Start what is due. */
        while (started < slots && (open_loop ? t0 + (double)started * o->ramp_ms / o->total <= t
                                             : (!o->total || started < o->total))) {
            slot *sl = &s[started];
            sl->start = open_loop ? t0 + (double)started * o->ramp_ms / o->total : t;
            curl_multi_add_handle(m, sl->e);
            started++;
            running++;
        }
        if (running > r->peak_in_flight) r->peak_in_flight = running;
        if (!running && (open_loop ? started == slots : true)) break;
        int still;
        curl_multi_perform(m, &still);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            slot *sl;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&sl);
            long code = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            double done = now_ms();
            if (msg->data.result == CURLE_OK && code >= 200 && code < 300) {
                r->ok++;
                add_latency(r, done - sl->start);
            } else {
                r->failed++;
                if (r->failed <= 3)
                    fprintf(stderr, "loadgen: %s -> %s, HTTP %ld\n", o->url,
                            curl_easy_strerror(msg->data.result), code);
            }
            curl_multi_remove_handle(m, sl->e);
            running--;
            if (!open_loop && (o->total ? started < o->total : done < end)) {
                sl->start = now_ms();
                curl_multi_add_handle(m, sl->e);
                started++;
                running++;
            }
        }
        if (running > 0 || started < slots)
            curl_multi_poll(m, NULL, 0, open_loop && started < slots ? 1 : 100, NULL);
    }
    r->wall_ms = now_ms() - t0;
    for (int i = 0; i < slots; i++)
        curl_easy_cleanup(s[i].e);
    free(s);
    curl_slist_free_all(hl);
    curl_multi_cleanup(m);
}

/* The floor: the same requests straight from curl multi, driven the
 * efficient way (socket events on libuv, curl_multi_socket_action), open
 * loop like the host phase. */
typedef struct direct_run {
    lg_result *r;
    slot *s;
    int calls, started, running;
    double t0;
    int ramp_ms;
    driver *drv;
} direct_run;

static void direct_done(void *ud, CURL *easy, CURLcode rc)
{
    direct_run *d = ud;
    slot *sl;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&sl);
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    d->running--;
    if (rc == CURLE_OK && code == 200) {
        d->r->ok++;
        add_latency(d->r, now_ms() - sl->start);
    } else {
        d->r->failed++;
        if (d->r->failed <= 3)
            fprintf(stderr, "direct: %s, HTTP %ld\n", curl_easy_strerror(rc), code);
    }
}

static void direct_fire(uv_timer_t *t)
{
    direct_run *d = t->data;
    double now = now_ms();
    while (d->started < d->calls && d->t0 + (double)d->started * d->ramp_ms / d->calls <= now) {
        slot *sl = &d->s[d->started++];
        sl->start = d->t0 + (double)(d->started - 1) * d->ramp_ms / d->calls;
        driver_add(d->drv, sl->e);
        if (++d->running > d->r->peak_in_flight) d->r->peak_in_flight = d->running;
    }
    if (d->started == d->calls) uv_timer_stop(t);
}

static json_t *round_json(lg_result *r)
{
    return json_pack("{s:i,s:i,s:f,s:f,s:f,s:i}", "ok", r->ok, "failed", r->failed, "wall_ms",
                     r->wall_ms, "median_ms", pct(r, 50), "p99_ms", pct(r, 99), "peak_in_flight",
                     r->peak_in_flight);
}

static int direct_phase(int calls, int delay_ms, int ramp_ms, int port)
{
    char url[200], body[300];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/chat/completions", port);
    snprintf(body, sizeof(body),
             "{\"model\":\"slow:%d\",\"messages\":[{\"role\":\"user\",\"content\":\"What is the "
             "capital of England?\"}]}",
             delay_ms);
    const char *h[] = {"Content-Type: application/json", "Accept: application/json", NULL};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    lg_opts o = {.url = url, .body = body, .headers = h};
    struct curl_slist *hl = NULL;
    for (const char *const *p = h; *p; p++)
        hl = curl_slist_append(hl, *p);
    hl = curl_slist_append(hl, "Expect:");
    uv_loop_t uv;
    uv_loop_init(&uv);
    direct_run d = {.calls = calls, .ramp_ms = ramp_ms > 0 ? ramp_ms : 1};
    d.s = calloc((size_t)calls, sizeof(slot));
    for (int i = 0; i < calls; i++)
        d.s[i].e = new_handle(&o, hl, &d.s[i]);
    driver_new(&d.drv, &uv, direct_done, &d);
    curl_multi_setopt(driver_multi(d.drv), CURLMOPT_MAXCONNECTS, (long)calls + 100);
    json_t *out = json_object();
    int failed = 0;
    double cpu0 = cpu_ms(getpid());
    /* Round 1 opens every connection (cold); round 2 reuses them (warm). */
    for (int round = 0; round < 2; round++) {
        lg_result r = {0};
        d.r = &r;
        d.started = d.running = 0;
        uv_timer_t fire;
        uv_timer_init(&uv, &fire);
        fire.data = &d;
        d.t0 = now_ms();
        uv_timer_start(&fire, direct_fire, 0, 1);
        while (d.started < calls || d.running > 0)
            uv_run(&uv, UV_RUN_ONCE);
        r.wall_ms = now_ms() - d.t0;
        uv_close((uv_handle_t *)&fire, NULL);
        uv_run(&uv, UV_RUN_NOWAIT);
        json_object_set_new(out, round ? "warm" : "cold", round_json(&r));
        failed += r.failed;
        lg_free(&r);
    }
    json_object_set_new(out, "failed", json_integer(failed));
    json_object_set_new(out, "rss_mb", json_real(rss_kb(getpid(), "VmHWM:") / 1024.0));
    json_object_set_new(out, "cpu_us_per_call",
                        json_real((cpu_ms(getpid()) - cpu0) * 1000 / (2.0 * calls)));
    char *txt = json_dumps(out, JSON_COMPACT);
    printf("%s\n", txt);
    fflush(stdout);
    free(txt);
    json_decref(out);
    _exit(failed ? 1 : 0);
}

int bench_phase(const char *phase, int calls, int delay_ms, int ramp_ms, int port)
{
    if (!strcmp(phase, "direct")) return direct_phase(calls, delay_ms, ramp_ms, port);
    if (!strcmp(phase, "host")) return bench_host_phase(calls, delay_ms, ramp_ms, port);
    return 2;
}
