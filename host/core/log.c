#include "log.h"

#include "sdk/ipc/jsonw.h"
#include "redact.h"
#include "utf8.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILES 256
#define LOG_MSG_MAX 4096 /* bytes of a record's msg */

typedef struct log_file {
    char kind[96];
    int fd;
    size_t size;
} log_file;

static struct {
    pthread_mutex_t mu;
    bool ready;
    char dir[2048];
    bool to_stderr, stderr_tty;
    log_level min_level;
    size_t rotate_bytes;
    int keep;
    log_file files[MAX_FILES];
    int nfiles;
    log_tap_fn tap;
    void *tap_ud;
} L = {.mu = PTHREAD_MUTEX_INITIALIZER, .to_stderr = true, .min_level = LOG_INFO};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

bool log_enabled(log_level level)
{
    pthread_mutex_lock(&L.mu);
    bool on = level >= L.min_level;
    pthread_mutex_unlock(&L.mu);
    return on;
}

const char *log_level_name(log_level level)
{
    return level <= LOG_ERROR ? level_names[level] : "info";
}

int log_level_parse(const char *s, log_level *out)
{
    for (int i = 0; i <= LOG_ERROR; i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    return -1;
}

int log_init(const log_opts *o)
{
    pthread_mutex_lock(&L.mu);
    L.to_stderr = o->to_stderr;
    L.stderr_tty = isatty(2);
    L.min_level = o->min_level;
    L.rotate_bytes = o->rotate_bytes ? o->rotate_bytes : 16u << 20;
    L.keep = o->keep > 0 ? o->keep : 5;
    L.dir[0] = 0;
    int rc = 0;
    if (o->dir) {
        char plugins[2100];
        if (ah_fmt(L.dir, sizeof(L.dir), "%s", o->dir) < 0 ||
            ah_fmt(plugins, sizeof(plugins), "%s/plugins", o->dir) < 0) {
            errno = ENAMETOOLONG;
            rc = -1;
        } else if (ah_mkdir_p(L.dir, 0700) < 0 || ah_mkdir_p(plugins, 0700) < 0) {
            rc = -1;
        } else {
            chmod(L.dir, 0700);
        }
    }
    L.ready = rc == 0;
    pthread_mutex_unlock(&L.mu);
    return rc;
}

void log_shutdown(void)
{
    pthread_mutex_lock(&L.mu);
    for (int i = 0; i < L.nfiles; i++)
        if (L.files[i].fd >= 0) close(L.files[i].fd);
    L.nfiles = 0;
    L.dir[0] = 0;
    pthread_mutex_unlock(&L.mu);
}

void log_set_tap(log_tap_fn fn, void *ud)
{
    pthread_mutex_lock(&L.mu);
    L.tap = fn;
    L.tap_ud = ud;
    pthread_mutex_unlock(&L.mu);
}

static bool credential_name(const char *k)
{
    static const char *const words[] = {"authorization", "password", "passwd", "secret",
                                        "token",         "api_key",  "apikey", "cookie"};
    char low[64];
    size_t i = 0;
    for (; k[i] && i < sizeof(low) - 1; i++)
        low[i] = (char)(k[i] >= 'A' && k[i] <= 'Z' ? k[i] + 32 : k[i]);
    low[i] = 0;
    for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++)
        if (strstr(low, words[w])) return true;
    return false;
}

static void rotate_locked(log_file *f)
{
    char from[2300], to[2300];
    close(f->fd);
    f->fd = -1;
    for (int g = L.keep - 1; g >= 1; g--) {
        ah_fmt(from, sizeof(from), "%s/%s.log.%d", L.dir, f->kind, g);
        ah_fmt(to, sizeof(to), "%s/%s.log.%d", L.dir, f->kind, g + 1);
        rename(from, to);
    }
    ah_fmt(from, sizeof(from), "%s/%s.log", L.dir, f->kind);
    ah_fmt(to, sizeof(to), "%s/%s.log.1", L.dir, f->kind);
    rename(from, to);
    ah_fmt(to, sizeof(to), "%s/%s.log.%d", L.dir, f->kind, L.keep + 1);
    unlink(to);
}

static log_file *file_locked(const char *kind)
{
    for (int i = 0; i < L.nfiles; i++)
        if (strcmp(L.files[i].kind, kind) == 0) return &L.files[i];
    if (L.nfiles == MAX_FILES || strlen(kind) >= sizeof(L.files[0].kind)) return NULL;
    log_file *f = &L.files[L.nfiles++];
    snprintf(f->kind, sizeof(f->kind), "%s", kind);
    f->fd = -1;
    f->size = 0;
    return f;
}

static void write_file_locked(const char *kind, const char *line, size_t len)
{
    if (!L.dir[0]) return;
    log_file *f = file_locked(kind);
    if (!f) return;
    if (f->fd >= 0 && f->size + len > L.rotate_bytes) rotate_locked(f);
    if (f->fd < 0) {
        char path[2300];
        if (ah_fmt(path, sizeof(path), "%s/%s.log", L.dir, kind) < 0) return;
        f->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (f->fd < 0) return;
        struct stat st;
        f->size = fstat(f->fd, &st) == 0 ? (size_t)st.st_size : 0;
    }
    ssize_t w = write(f->fd, line, len);
    if (w > 0) f->size += (size_t)w;
}

static void write_stderr_locked(log_level level, const char *component, const char *msg,
                                const char *line, size_t len)
{
    if (!L.to_stderr) return;
    if (!L.stderr_tty) {
        ssize_t w = write(2, line, len);
        (void)w;
        return;
    }
    char t[40];
    ah_rfc3339_ms(ah_now_ms(), t, sizeof(t));
    /* No control byte reaches a terminal (a plugin could move its cursor). */
    char *m = strdup(msg);
    for (char *p = m; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    dprintf(2, "%s %-5s %s: %s\n", t + 11, log_level_name(level), component, m ? m : "");
    free(m);
}

/* The record as one JSON object: masked, every string valid UTF-8. NULL
 * when out of memory (nothing is written then: a record that could not be
 * masked must not reach a file). */
static json_t *record(log_level level, const char *component, const log_ctx *ctx,
                      const json_t *fields, const char *msg, size_t n, bool mask)
{
    char t[40];
    ah_rfc3339_ms(ah_now_ms(), t, sizeof(t));
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "time", json_string(t));
    json_object_set_new(o, "level", json_string(log_level_name(level)));
    json_object_set_new(o, "component", json_string(component ? component : "host"));
    json_object_set_new(o, "msg", json_null()); /* its place in the line; set below */
    if (ctx) {
        if (ctx->plugin) json_object_set_new(o, "plugin", json_string(ctx->plugin));
        if (ctx->instance) json_object_set_new(o, "instance", json_string(ctx->instance));
        if (ctx->request_id) json_object_set_new(o, "request_id", json_string(ctx->request_id));
    }
    if (json_is_object(fields)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)fields, k, v)
        {
            if (json_object_get(o, k)) continue;
            if (credential_name(k) && !json_is_null(v) && !json_is_boolean(v))
                json_object_set_new(o, k, json_string(REDACTED));
            else /* masking works in place: never on the caller's values */
                json_object_set_new(o, k, mask ? json_deep_copy(v) : json_incref(v));
        }
    }
    if (mask && redact_json(o) < 0) {
        json_decref(o);
        return NULL;
    }
    /* The message is masked on its raw bytes, before anything escapes them,
     * and only then cut to its limit (a cut value is no longer found). */
    char *m = mask ? redact_str(msg, n, &n) : strndup(msg, n);
    if (!m) {
        json_decref(o);
        return NULL;
    }
    if (n > LOG_MSG_MAX) n = LOG_MSG_MAX;
    char *clean = utf8_lossy(m, n); /* a cut character, or bytes not UTF-8: U+FFFD */
    free(m);
    if (!clean) {
        json_decref(o);
        return NULL;
    }
    json_object_set_new(o, "msg", json_string(clean));
    free(clean);
    return o;
}

void log_write(const char *kind, log_level level, const char *component, const log_ctx *ctx,
               const json_t *fields, const char *fmt, ...)
{
    if (level < L.min_level) return;
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int mn = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (mn < 0) return;

    bool mask = redact_active();
    json_t *o = record(level, component, ctx, fields, msg, (size_t)mn, mask);
    free(msg);
    if (!o) return;
    char *line = ah_json_dumps(o, NULL); /* json_dumps's bytes, faster */
    if (!line) {
        json_decref(o);
        return;
    }

    /* A value could still be spelled out across fields: search the line. */
    char *clean = mask ? redact_line(line) : line;
    const char *shown = json_string_value(json_object_get(o, "msg"));
    pthread_mutex_lock(&L.mu);
    if (clean) {
        size_t len = strlen(clean);
        char *out = malloc(len + 2);
        if (out) {
            memcpy(out, clean, len);
            out[len] = '\n';
            out[len + 1] = 0;
            write_file_locked(kind, out, len + 1);
            if (L.tap) L.tap(L.tap_ud, kind, level, clean);
            if (level >= LOG_ERROR && strcmp(kind, "errors") != 0)
                write_file_locked("errors", out, len + 1);
            write_stderr_locked(level, component ? component : "host", shown, out, len + 1);
            free(out);
        }
        if (clean != line) free(clean);
    }
    pthread_mutex_unlock(&L.mu);
    json_decref(o);
    free(line);
}
