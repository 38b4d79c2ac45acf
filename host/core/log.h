/*
 * log.h - the host's structured logger.
 *
 * One JSON object per line: time (RFC 3339 UTC, ms), level, component,
 * msg, then context (plugin, instance, request_id) and extra fields.
 * Each record goes to logs/<kind>.log; records at error level are copied to
 * logs/errors.log; with to_stderr each record is mirrored to stderr (JSON,
 * or a short human form when stderr is a terminal). Files rotate by size.
 *
 * Secrets never reach a file: values registered with redact_add (redact.h)
 * are replaced by "[REDACTED]" in the message, in every field's strings and
 * keys, and in the encoded line; fields whose name looks like a credential
 * (authorization, password, secret, token, api_key) are masked whole. A
 * record that cannot be masked (out of memory) is dropped. Messages are
 * cut at 4 KiB after masking; bytes that are not UTF-8 become U+FFFD.
 * Thread-safe.
 */
#ifndef AH_LOG_H
#define AH_LOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

typedef struct log_opts {
    const char *dir;     /* NULL: no files */
    bool to_stderr;      /* mirror records to stderr */
    log_level min_level; /* records below are dropped */
    size_t rotate_bytes; /* rotate a file past this size (0: 16 MiB) */
    int keep;            /* rotated generations kept (0: 5) */
} log_opts;

typedef struct log_ctx {
    const char *plugin;
    const char *instance;
    const char *request_id;
} log_ctx;

/* Open the logs directory (created 0700 with plugins/). 0 or -1 (errno). */
int log_init(const log_opts *opts);
void log_shutdown(void);

/* Write one record. kind names the file ("host", "security",
 * "plugins/<instance>"); ctx and fields (an object, borrowed) may be NULL. */
void log_write(const char *kind, log_level level, const char *component, const log_ctx *ctx,
               const json_t *fields, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Whether records at level are written (debug logging on: LOG_DEBUG). */
bool log_enabled(log_level level);

/* A tap sees every record written, after redaction: its kind ("host",
 * "plugins/<instance>", ...), level and the JSON line (no newline). It runs
 * under the logger's lock, on whichever thread logged, and must not log.
 * One tap at a time; NULL removes it. For tools that show logs themselves
 * (the plugin harness). */
typedef void (*log_tap_fn)(void *ud, const char *kind, log_level level, const char *line);
void log_set_tap(log_tap_fn fn, void *ud);

const char *log_level_name(log_level level);
/* "debug", "info", "warn" or "error" into *out: 0, or -1 for another word. */
int log_level_parse(const char *s, log_level *out);

#define log_debug(comp, ...) log_write("host", LOG_DEBUG, comp, NULL, NULL, __VA_ARGS__)
#define log_info(comp, ...) log_write("host", LOG_INFO, comp, NULL, NULL, __VA_ARGS__)
#define log_warn(comp, ...) log_write("host", LOG_WARN, comp, NULL, NULL, __VA_ARGS__)
#define log_error(comp, ...) log_write("host", LOG_ERROR, comp, NULL, NULL, __VA_ARGS__)

#endif
