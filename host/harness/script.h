/*
 * script.h - the events file of `agenthost plugin run`: what the harness
 * feeds a plugin, one JSON object per line (JSON Lines):
 *
 *   {"event": {"topic": "greetings.requested", "body": {...}, "key": "k",
 *              "headers": {"h": "v"}, "id": "e1", "attempt": 1}}
 *   {"call": {"action": "greet", "args": {...}, "timeout_ms": 5000}}
 *   {"sleep_ms": 200}
 *
 * An item may carry "async": true: the harness then feeds the next line
 * without waiting for this one to be settled or answered. Blank lines are
 * skipped. Every item is checked against the manifest before anything
 * runs: an event's topic must be one the plugin subscribes to (or its
 * webhook topic "hooks.<instance>"), a call's action one it declares.
 * Errors are one line: "FILE:LINE: FIELD: MESSAGE".
 */
#ifndef AH_HARNESS_SCRIPT_H
#define AH_HARNESS_SCRIPT_H

#include "plugin/manifest.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCRIPT_MAX_BYTES (16u << 20)
#define SCRIPT_MAX_ITEMS 100000
#define SCRIPT_MAX_SLEEP_MS 600000u

typedef enum script_kind { SCRIPT_EVENT, SCRIPT_CALL, SCRIPT_SLEEP } script_kind;

typedef struct script_item {
    script_kind kind;
    int line;   /* 1-based line in the file */
    bool async; /* do not wait for it before the next line */
    /* SCRIPT_EVENT: the delivery as the plugin receives it (topic, id,
     * offset, time_ms, attempt, headers, body, key); owned. */
    json_t *event;
    /* SCRIPT_CALL */
    char *action;
    json_t *args;        /* owned; an object */
    uint32_t timeout_ms; /* 0: the instance's stall_ms */
    /* SCRIPT_SLEEP */
    uint32_t sleep_ms;
} script_item;

typedef struct script {
    script_item *items;
    size_t n;
} script;

/* Parse text (named path in messages) against manifest m for an instance
 * named instance_id. 0, or -1 with a one-line error. */
int script_parse(const char *path, const char *text, size_t len, const manifest *m,
                 const char *instance_id, script *out, char *err, size_t errlen);
/* The same, from the file at path (-1 with "FILE: reason" when it cannot be
 * read). */
int script_load(const char *path, const manifest *m, const char *instance_id, script *out,
                char *err, size_t errlen);
void script_free(script *s);

#endif
