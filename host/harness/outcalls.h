/*
 * outcalls.h - the harness's answers to the plugin's calls to other
 * instances (host->call, ABI 1.4; ADR 0047), from a JSON Lines file
 * (--calls), one object a line:
 *
 *   {"instance": "llm", "plugin": "llm-openai", "action": "embed",
 *    "result": {...} | "error": {"code": "...", "message": "..."}, "repeat": true}
 *
 * A call is checked against the manifest's `calls` (the line's plugin
 * and the action), as the host does, then answered by the first line of
 * that instance and action not yet used (or marked repeat). Internal to
 * the harness.
 */
#ifndef AH_HARNESS_OUTCALLS_H
#define AH_HARNESS_OUTCALLS_H

#include <jansson.h>
#include <stddef.h>

typedef struct outcalls outcalls;

/* 0, or -1 with "PATH:LINE: FIELD: MESSAGE" in err. */
int outcalls_load(const char *path, outcalls **out, char *err, size_t errlen);
void outcalls_free(outcalls *c); /* NULL is fine */

/* The index of the line answering (instance, action), marked used; or -1. */
int outcalls_match(outcalls *c, const char *instance, const char *action);
/* Line i's plugin, its answer ({"result"} or {"error"}, borrowed), its line number. */
const char *outcalls_plugin(const outcalls *c, int i);
const json_t *outcalls_answer(const outcalls *c, int i);
int outcalls_line(const outcalls *c, int i);

#endif
