#include "redact.h"

#include "utf8.h"

#include <agenthost/plugin.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* One value to mask: its raw bytes and, when they differ, the bytes JSON
 * writes for them inside a string. Kept longest first, so a value that
 * holds a shorter one is masked whole. */
typedef struct entry {
    char *raw;
    size_t rawlen;
    char *esc; /* NULL when the same as raw, or not valid UTF-8 */
    size_t esclen;
} entry;

static struct {
    pthread_mutex_t mu;
    entry *v;
    size_t n, cap;
} R = {.mu = PTHREAD_MUTEX_INITIALIZER};

static const size_t red_len = sizeof(REDACTED) - 1;

/* The escaped form jansson writes for raw inside a string, without the
 * quotes; NULL if raw is not UTF-8 or escapes to itself. */
static char *escaped_form(const char *raw, size_t len, size_t *esclen)
{
    json_t *s = json_stringn(raw, len);
    char *d = s ? json_dumps(s, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref(s);
    if (!d) return NULL;
    size_t n = strlen(d);
    if (n < 2 || (n - 2 == len && !memcmp(d + 1, raw, len))) {
        free(d);
        return NULL;
    }
    memmove(d, d + 1, n - 2);
    d[n - 2] = 0;
    *esclen = n - 2;
    return d;
}

static bool known_locked(const char *raw, size_t len)
{
    for (size_t i = 0; i < R.n; i++)
        if (R.v[i].rawlen == len && !memcmp(R.v[i].raw, raw, len)) return true;
    return false;
}

static bool insert_locked(const char *raw, size_t len)
{
    if (!len || known_locked(raw, len)) return true;
    if (R.n == R.cap) {
        size_t cap = R.cap ? R.cap * 2 : 16;
        entry *nv = realloc(R.v, cap * sizeof(*nv));
        if (!nv) return false;
        R.v = nv;
        R.cap = cap;
    }
    entry e = {.raw = malloc(len + 1), .rawlen = len};
    if (!e.raw) return false;
    memcpy(e.raw, raw, len);
    e.raw[len] = 0;
    e.esc = escaped_form(raw, len, &e.esclen);
    size_t at = 0;
    while (at < R.n && R.v[at].rawlen >= len)
        at++;
    memmove(R.v + at + 1, R.v + at, (R.n - at) * sizeof(*R.v));
    R.v[at] = e;
    R.n++;
    return true;
}

bool redact_add(const char *value, size_t len)
{
    if (!value || !len) return true;
    pthread_mutex_lock(&R.mu);
    bool ok = insert_locked(value, len);
    /* A plugin's stderr is logged line by line: mask each line of a value
     * that spans several (pieces too short to be told from text are left). */
    for (size_t i = 0, start = 0; ok && i <= len; i++) {
        if (i < len && value[i] != '\n' && value[i] != '\r') continue;
        if (i - start >= REDACT_LINE_MIN && i - start < len)
            ok = insert_locked(value + start, i - start);
        start = i + 1;
    }
    pthread_mutex_unlock(&R.mu);
    return ok;
}

void redact_clear(void)
{
    pthread_mutex_lock(&R.mu);
    for (size_t i = 0; i < R.n; i++) {
        free(R.v[i].raw);
        free(R.v[i].esc);
    }
    free(R.v);
    R.v = NULL;
    R.n = R.cap = 0;
    pthread_mutex_unlock(&R.mu);
}

bool redact_active(void)
{
    pthread_mutex_lock(&R.mu);
    bool any = R.n > 0;
    pthread_mutex_unlock(&R.mu);
    return any;
}

/* Replace every occurrence of pat in *s (length *n) by REDACTED. Returns
 * false when out of memory (*s is then freed and NULL). */
static bool replace_all(char **s, size_t *n, const char *pat, size_t plen)
{
    size_t from = 0;
    char *hit;
    while (from < *n && (hit = memmem(*s + from, *n - from, pat, plen)) != NULL) {
        size_t pre = (size_t)(hit - *s), rest = *n - pre - plen;
        char *nb = malloc(pre + red_len + rest + 1);
        if (!nb) {
            free(*s);
            *s = NULL;
            return false;
        }
        memcpy(nb, *s, pre);
        memcpy(nb + pre, REDACTED, red_len);
        memcpy(nb + pre + red_len, hit + plen, rest);
        nb[pre + red_len + rest] = 0;
        free(*s);
        *s = nb;
        *n = pre + red_len + rest;
        from = pre + red_len;
    }
    return true;
}

static char *dup_n(const char *s, size_t len)
{
    char *c = malloc(len + 1);
    if (!c) return NULL;
    memcpy(c, s, len);
    c[len] = 0;
    return c;
}

char *redact_str(const char *s, size_t len, size_t *outlen)
{
    char *out = dup_n(s, len);
    size_t n = len;
    pthread_mutex_lock(&R.mu);
    for (size_t i = 0; out && i < R.n; i++)
        replace_all(&out, &n, R.v[i].raw, R.v[i].rawlen);
    pthread_mutex_unlock(&R.mu);
    if (out && outlen) *outlen = n;
    return out;
}

char *redact_line(const char *line)
{
    size_t n = strlen(line);
    char *out = dup_n(line, n);
    pthread_mutex_lock(&R.mu);
    for (size_t i = 0; out && i < R.n; i++) {
        if (R.v[i].rawlen < REDACT_LINE_MIN) continue;
        if (replace_all(&out, &n, R.v[i].raw, R.v[i].rawlen) && R.v[i].esc)
            replace_all(&out, &n, R.v[i].esc, R.v[i].esclen);
    }
    pthread_mutex_unlock(&R.mu);
    return out;
}

/* A masked copy of s[0..len) as a JSON string, or NULL when nothing
 * matched (*failed on out of memory). Masking can cut a multi-byte
 * character; what is left of it becomes U+FFFD. */
static json_t *masked(const char *s, size_t len, bool *failed)
{
    size_t n;
    char *r = redact_str(s, len, &n);
    if (!r) {
        *failed = true;
        return NULL;
    }
    json_t *out = NULL;
    if (n != len || memcmp(r, s, len)) {
        char *clean = utf8_lossy(r, n);
        out = clean ? json_string(clean) : NULL;
        free(clean);
        if (!out) *failed = true;
    }
    free(r);
    return out;
}

/* Values first; then keys, renamed once the walk is over. */
static int redact_object(json_t *o)
{
    const char *k;
    json_t *v, *renames = json_array();
    bool failed = !renames;
    json_object_foreach(o, k, v)
    {
        if (failed || redact_json(v) < 0) {
            failed = true;
            break;
        }
        json_t *mk = masked(k, strlen(k), &failed);
        if (mk)
            failed = json_array_append_new(renames, json_pack("{s:s,s:o}", "from", k, "to", mk));
    }
    size_t i;
    json_t *r;
    json_array_foreach(renames, i, r)
    {
        if (failed) break;
        const char *from = json_string_value(json_object_get(r, "from"));
        v = json_incref(json_object_get(o, from));
        json_object_del(o, from);
        failed = json_object_set_new(o, json_string_value(json_object_get(r, "to")), v) != 0;
    }
    json_decref(renames);
    return failed ? AH_ENOMEM : 0;
}

int redact_json(json_t *v)
{
    bool failed = false;
    if (json_is_string(v)) {
        json_t *m = masked(json_string_value(v), json_string_length(v), &failed);
        if (m) {
            failed = json_string_setn(v, json_string_value(m), json_string_length(m)) != 0;
            json_decref(m);
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; !failed && i < json_array_size(v); i++)
            failed = redact_json(json_array_get(v, i)) < 0;
    } else if (json_is_object(v)) {
        failed = redact_object(v) < 0;
    }
    return failed ? AH_ENOMEM : 0;
}
