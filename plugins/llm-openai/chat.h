/*
 * chat.h - reading Chat Completions answers: a streamed one, chunk by
 * chunk (text deltas, tool-call argument fragments, finish_reason, the
 * usage chunk, [DONE], an error arriving under HTTP 200), or a whole one.
 * Both end as the same result object:
 *
 *   {"id", "model", "content": str|null, "tool_calls": [{"id", "name",
 *    "arguments": str, "arguments_json": value|null}], "finish_reason",
 *    "usage": {...}|null}
 *
 * Caps: content and each tool call's arguments at CHAT_TEXT_MAX bytes, at
 * most CHAT_TOOLS_MAX tool calls.
 */
#ifndef LLM_CHAT_H
#define LLM_CHAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CHAT_TEXT_MAX (4u << 20)
#define CHAT_TOOLS_MAX 128

/* A delta for the caller: {"delta": "text"} or {"tool_call": {"index",
 * "id"?, "name"?, "arguments": "fragment"}} (borrowed). */
typedef void (*chat_delta_fn)(void *ud, const json_t *partial);

typedef struct chat_acc {
    char *content;
    size_t clen, ccap;
    bool has_content;
    json_t *tools; /* array of {id, name, arguments} */
    char finish[32];
    json_t *usage;
    char id[128], model[128];
    bool done;     /* [DONE] seen */
    bool any;      /* at least one chunk */
    json_t *error; /* the provider's error object, when one came mid-stream */
    char why[200]; /* what was wrong with the stream (bad_response) */
} chat_acc;

void chat_acc_init(chat_acc *a);
void chat_acc_free(chat_acc *a);

/* One SSE event's data. 0, or -1 (why says it: not JSON, over a cap),
 * or 1 when the event carried an error (a->error is set). */
int chat_acc_event(chat_acc *a, const char *data, size_t len, chat_delta_fn fn, void *ud);

/* The result of a finished stream (new reference), or NULL with why set
 * when the stream holds no answer. */
json_t *chat_acc_result(chat_acc *a);

/* A whole (non-streamed) answer: the result (new reference), or NULL with
 * why (bad_response), or NULL with *error set (a new reference to the
 * provider's error object, for "error" bodies under HTTP 200). */
json_t *chat_parse(const char *body, size_t len, json_t **error, char *why, size_t whylen);

#endif
