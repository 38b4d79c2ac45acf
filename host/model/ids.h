/*
 * ids.h - document ids: a short type prefix and a ULID-like body, 26
 * Crockford base-32 characters of 48 bits of Unix milliseconds and 80
 * random bits ("agt_01JEXAMPLE..."). Ids of one collection sort by
 * creation time, so the primary key order is creation order.
 */
#ifndef AH_MODEL_IDS_H
#define AH_MODEL_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ID_BODY_LEN 26
#define ID_MAX 48 /* prefix (up to 8), '_', body, NUL: with room */

/* A new id "<prefix>_<body>" for time ms into out (>= ID_MAX bytes). */
void id_new(const char *prefix, int64_t ms, char *out, size_t outlen);

/* Whether s is an id of that prefix (or any prefix when NULL). */
bool id_valid(const char *s, const char *prefix);

/* The creation time of an id, in Unix ms, or -1. */
int64_t id_time_ms(const char *s);

#endif
