/*
 * event_json.h - the JSON shape of an event published over HTTP:
 *   {"body": any, "key"?: string, "headers"?: {string: string},
 *    "idempotency_key"?: string}
 * Pure (no I/O), so it is fuzzed on its own (tests/fuzz/fuzz_http.c).
 */
#ifndef AH_EVENT_JSON_H
#define AH_EVENT_JSON_H

#include "bus/bus.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Fill m from e (the i-th of a batch when array). Strings in m point into
 * e. 0, or -1 with the offending field path ("[3].key", "body"; "" for the
 * whole value) and a static message. */
int api_event_from_json(const json_t *e, size_t i, bool array, const char *topic, bus_msg *m,
                        char *field, size_t fieldlen, const char **message);

#endif
