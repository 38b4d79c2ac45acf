#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t ah_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t ah_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ah_mono_ms(void)
{
    return ah_mono_ns() / 1000000u;
}

void ah_rfc3339_ms(int64_t ms, char *buf, size_t len)
{
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

void ah_json_set_time(json_t *o, const char *k, int64_t ms)
{
    char buf[40];
    ah_rfc3339_ms(ms, buf, sizeof(buf));
    json_object_set_new(o, k, json_string(buf));
}

int ah_mkdir_p(const char *path, unsigned mode)
{
    char tmp[4096];
    if (ah_fmt(tmp, sizeof(tmp), "%s", path) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, mode) < 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST) return -1;
    struct stat st;
    if (stat(tmp, &st) < 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

char *ah_read_file(const char *path, size_t max, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) goto fail;
    for (;;) {
        if (n == cap) {
            if (cap >= max + 1) {
                errno = EFBIG;
                goto fail;
            }
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) goto fail;
            buf = nb;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            goto fail;
        }
        if (r == 0) break;
        n += (size_t)r;
        if (n > max) {
            errno = EFBIG;
            goto fail;
        }
    }
    close(fd);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
fail : {
    int e = errno;
    free(buf);
    close(fd);
    errno = e;
    return NULL;
}
}

const char *ah_next_line(const char *text, size_t len, size_t *pos, int *line, size_t *n)
{
    while (*pos < len) {
        const char *start = text + *pos;
        const char *nl = memchr(start, '\n', len - *pos);
        size_t k = nl ? (size_t)(nl - start) : len - *pos;
        *pos += k + (nl ? 1 : 0);
        (*line)++;
        for (size_t i = 0; i < k; i++)
            if (start[i] != ' ' && start[i] != '\t' && start[i] != '\r') {
                *n = k;
                return start;
            }
    }
    return NULL;
}

int ah_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    char tmp[4096];
    if (ah_fmt(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return -1;
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fchmod(fd, mode) < 0 || fsync(fd) < 0) goto fail;
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0) goto fail;
    return 0;
fail : {
    int e = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    errno = e;
    return -1;
}
}

bool ah_valid_id(const char *s)
{
    if (!s || !*s) return false;
    size_t n = 0;
    for (const char *p = s; *p; p++, n++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  (p != s && (c == '-' || c == '_' || c == '.'));
        if (!ok || n >= 64) return false;
    }
    return strstr(s, "..") == NULL;
}

int ah_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return (n < 0 || (size_t)n >= len) ? -1 : n;
}

int ah_exe_dir(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n < 0) return -1;
    buf[n] = 0;
    char *slash = strrchr(buf, '/');
    if (slash) *slash = 0;
    return 0;
}

bool ah_parse_time(const char *s, int64_t *ms)
{
    char *end;
    errno = 0;
    if (*s >= '0' && *s <= '9') {
        unsigned long long v = strtoull(s, &end, 10);
        if (!*end && !errno && v <= (unsigned long long)INT64_MAX) {
            *ms = (int64_t)v;
            return true;
        }
    }
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest) return false;
    int frac = 0;
    if (*rest == '.') {
        rest++;
        int digits = 0;
        while (*rest >= '0' && *rest <= '9') {
            if (digits < 3) frac = frac * 10 + (*rest - '0');
            digits++;
            rest++;
        }
        while (digits++ < 3)
            frac *= 10;
    }
    int64_t offset = 0; /* seconds east of UTC */
    if ((rest[0] == '+' || rest[0] == '-') && rest[1] >= '0' && rest[1] <= '2' && rest[2] >= '0' &&
        rest[2] <= '9' && rest[3] == ':' && rest[4] >= '0' && rest[4] <= '5' && rest[5] >= '0' &&
        rest[5] <= '9' && !rest[6]) {
        offset = ((rest[1] - '0') * 10 + (rest[2] - '0')) * 3600 +
                 ((rest[4] - '0') * 10 + (rest[5] - '0')) * 60;
        if (rest[0] == '-') offset = -offset;
    } else if (strcmp(rest, "Z") != 0) {
        return false;
    }
    *ms = ((int64_t)timegm(&tm) - offset) * 1000 + frac;
    return true;
}

void ah_pct_append(char *out, size_t cap, const char *s)
{
    size_t o = strlen(out);
    for (; *s && o + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~", c))
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", c);
    }
    out[o] = 0;
}
