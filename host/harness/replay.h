/*
 * replay.h - recorded HTTP responses for `agenthost plugin run --http FILE`:
 * the harness answers a plugin's egress requests from them instead of the
 * network. One JSON object per line (JSON Lines):
 *
 *   {"request":  {"method": "GET", "url": "https://api.example.com/v1/x",
 *                 "headers": {"Authorization": "Bearer k"},   (optional subset)
 *                 "body": "exact text" | "json": {...}},       (optional)
 *    "response": {"status": 200, "headers": {"Content-Type": "application/json"},
 *                 "body": "text" | "json": {...} | "body_b64": "...",
 *                 "chunks": ["data: a\n\n", "data: b\n\n"]},   (a streamed body)
 *    "repeat": false, "delay_ms": 0}
 *
 * or, for a transport failure, "error": {"code": "timeout", "message": "..."}
 * instead of "response". A request matches the first entry, in file
 * order, with the same method and exact URL whose optional constraints
 * hold (listed headers present with equal values, names compared without
 * case; body text equal; body JSON equal). An entry answers once unless
 * "repeat" is true. Nothing here talks to the network.
 */
#ifndef AH_HARNESS_REPLAY_H
#define AH_HARNESS_REPLAY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REPLAY_MAX_BYTES (64u << 20)
#define REPLAY_MAX_ENTRIES 10000

typedef struct replay replay;

/* 0, or -1 with "FILE:LINE: FIELD: MESSAGE". An empty file is valid. */
int replay_parse(const char *path, const char *text, size_t len, replay **out, char *err,
                 size_t errlen);
/* The same, from the file at path (-1 with "FILE: reason" when it cannot be
 * read). */
int replay_load(const char *path, replay **out, char *err, size_t errlen);
void replay_free(replay *r);

/* The entry answering `request` (the plugin's AH_MSG_HTTP body: method,
 * url, headers ["Name: value"], body or body_b64), marked used: its index,
 * or -1 when none matches. */
int replay_match(replay *r, const json_t *request);

/* The RESULT body for entry i (a new object). With stream and a 2xx
 * status, a recorded body is moved into *chunks (a new array of
 * AH_MSG_HTTP_CHUNK bodies, {"data"} or {"data_b64"}); otherwise chunks are
 * joined into the body and *chunks is NULL (the broker streams only 2xx
 * bodies). */
json_t *replay_answer(const replay *r, int i, bool stream, json_t **chunks);

/* The RESULT body for a request no entry matches. */
json_t *replay_unmatched(const json_t *request);

uint32_t replay_delay_ms(const replay *r, int i);
int replay_line(const replay *r, int i); /* the line entry i was read from */
/* Lines of entries (not "repeat") never used: a new array of integers. */
json_t *replay_unused(const replay *r);

#endif
