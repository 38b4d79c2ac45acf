/*
 * sse.h - a Server-Sent Events parser (the WHATWG event-stream format),
 * fed in arbitrary pieces.
 *
 * Lines end in LF, CRLF or CR (a CR at the end of one piece and an LF at
 * the start of the next are one line end). Lines starting with ':' are
 * comments (OpenRouter's ": OPENROUTER PROCESSING" keep-alives); "data"
 * lines accumulate; "event" names the event; a blank line dispatches it.
 * A UTF-8 byte order mark at the very start is skipped. An event left
 * unfinished at the end of the stream is not dispatched (sse_pending says
 * whether one was). Lines and events are capped; past a cap the parser
 * fails and stays failed.
 */
#ifndef LLM_SSE_H
#define LLM_SSE_H

#include <stdbool.h>
#include <stddef.h>

/* One event. event is "message" unless named; data has its lines joined
 * by '\n' (no trailing one) and is NUL-terminated. Return 0 to go on,
 * anything else to stop parsing (sse_feed returns it). */
typedef int (*sse_event_fn)(void *ud, const char *event, const char *data, size_t len);

typedef struct sse_parser {
    char *line;
    size_t llen, lcap;
    char *data;
    size_t dlen, dcap;
    bool has_data;
    char event[64];
    size_t max;   /* cap on a line and on an event's data */
    bool cr;      /* the last byte seen was a CR */
    unsigned bom; /* bytes of a leading BOM matched so far; 4: past the start */
    bool failed;
    unsigned long comments; /* comment lines seen (keep-alives) */
} sse_parser;

void sse_init(sse_parser *p, size_t max_bytes);
void sse_free(sse_parser *p);

/* Feed bytes. Returns 0, -1 when a cap is exceeded (or memory runs out),
 * or the callback's non-zero value. */
int sse_feed(sse_parser *p, const char *buf, size_t n, sse_event_fn fn, void *ud);

/* True when bytes of an unfinished event are buffered. */
bool sse_pending(const sse_parser *p);

#endif
