/*
 * jsonl.h - what the harness's two JSON Lines inputs (the script, the
 * recorded responses) share: one error format and one check of an
 * object's keys. Internal to the harness.
 */
#ifndef AH_HARNESS_JSONL_H
#define AH_HARNESS_JSONL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* "PATH:LINE: MESSAGE" ("PATH: MESSAGE" for line 0) into err; returns -1. */
int jsonl_fail(char *err, size_t errlen, const char *path, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* True when every key of o is in keys (NULL-terminated); else false with
 * *bad the first other one. */
bool jsonl_only_keys(const json_t *o, const char *const *keys, const char **bad);

#endif
