/*
 * tz.h - IANA time zones from the system's tzdata (/usr/share/zoneinfo,
 * TZif files, RFC 8536): the UTC offset at an instant, and the instant of
 * a local time, with the two hard cases of daylight saving time answered
 * one way: a local time that does not exist (the clock jumped over it) is
 * the instant the jump happened; a local time that occurs twice (the clock
 * went back) is its first occurrence.
 *
 * Thread-safe once loaded (a tz is read-only); no use of the TZ
 * environment variable, which other threads may read.
 */
#ifndef AH_CORE_TZ_H
#define AH_CORE_TZ_H

#include <stddef.h>
#include <stdint.h>

typedef struct ah_tz ah_tz;

/* Load zone name ("Europe/Moscow", "UTC") from dir (NULL: the system's
 * /usr/share/zoneinfo). 0, or AH_EINVAL (not a zone name: err says why),
 * AH_ENOTFOUND (no such zone), AH_EIO (not a TZif file), AH_ENOMEM. */
int tz_load(ah_tz **out, const char *name, const char *dir, char *err, size_t errlen);
void tz_free(ah_tz *tz);
const char *tz_name(const ah_tz *tz);

/* The offset from UTC in seconds (east positive) at instant t (Unix
 * seconds). */
int32_t tz_offset(const ah_tz *tz, int64_t t);

/* The instant of local time `local` (Unix seconds as if the local clock
 * were UTC). *kind: 0 one instant, 1 the clock jumped over it (the instant
 * of the jump is returned), 2 it occurs twice (the first is returned). */
int64_t tz_instant(const ah_tz *tz, int64_t local, int *kind);

#endif
