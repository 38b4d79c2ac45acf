/* util.h - small helpers shared by the host's modules. */
#ifndef AH_UTIL_H
#define AH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wall clock, Unix milliseconds. */
int64_t ah_now_ms(void);
/* Monotonic clock, milliseconds and nanoseconds. */
uint64_t ah_mono_ms(void);
uint64_t ah_mono_ns(void);

/* Format Unix ms as RFC 3339 UTC with milliseconds into buf (>= 32 bytes). */
void ah_rfc3339_ms(int64_t ms, char *buf, size_t len);
/* Set o's member k (a jansson object) to ms formatted so, as a string. */
struct json_t;
void ah_json_set_time(struct json_t *o, const char *k, int64_t ms);
/* Append s to the string out (cap bytes), percent-encoded (RFC 3986: the
 * unreserved characters kept), as a URL query or a form body takes it;
 * cut short when out is full. */
void ah_pct_append(char *out, size_t cap, const char *s);

/* Parse "2026-11-23T12:00:00Z" or "...+03:00" (optionally with .mmm) or Unix ms. */
bool ah_parse_time(const char *s, int64_t *ms);

/* mkdir -p with mode for every created component. Returns 0 or -1 (errno). */
int ah_mkdir_p(const char *path, unsigned mode);

/* Read a whole file (at most max bytes; EFBIG beyond). NUL-terminated.
 * Returns a malloc'd buffer or NULL with errno set. */
char *ah_read_file(const char *path, size_t max, size_t *len);

/* The next line of text[0..len) holding more than blanks, from *pos on
 * (JSON Lines files). Advances *pos past it and *line by every line read.
 * Returns the line's start with its length in *n (no newline), or NULL at
 * the end of the text. */
const char *ah_next_line(const char *text, size_t len, size_t *pos, int *line, size_t *n);

/* Write a file atomically (tmp + fsync + rename) with mode. 0, or -1 with
 * errno. */
int ah_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);

/* Identifiers (instance ids, plugin names, secret names): 1-64 chars of
 * [a-z0-9_-], starting with a letter or digit. Safe in paths and keys. */
bool ah_valid_id(const char *s);

/* snprintf into a fixed buffer: the length written, or -1 when it was cut
 * short (or vsnprintf failed). */
int ah_fmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Directory of the running executable (for finding the runner and plugins).
 * 0, or -1 with errno. */
int ah_exe_dir(char *buf, size_t len);

#endif
