/*
 * cron.h - cron schedules: five fields (minute hour day-of-month month
 * day-of-week) with lists, ranges, steps and names (JAN-DEC, SUN-SAT; 0 and
 * 7 are Sunday), or @hourly, @daily (@midnight), @weekly, @monthly,
 * @yearly (@annually). As in Vixie cron, when both day fields are
 * restricted a day matching either runs.
 *
 * The next run is found in a time zone's local time (core/tz.h): a local
 * time the clock jumps over (02:30 on a spring-forward day) runs once, at
 * the jump; one the clock passes twice (01:30 on a fall-back day) runs
 * once, at its first occurrence.
 */
#ifndef AH_ENGINE_CRON_H
#define AH_ENGINE_CRON_H

#include "core/tz.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cron {
    uint64_t minutes; /* bit m: minute m */
    uint32_t hours;
    uint32_t days;             /* bit d: day of month d (1-31) */
    uint16_t months;           /* bit m: month m (1-12) */
    uint8_t weekdays;          /* bit d: day of week d (0 Sunday - 6) */
    bool any_day, any_weekday; /* the field was "*" */
} cron;

/* Parse expr (at most 200 bytes). 0, or AH_EINVAL with err naming the
 * field and why ("field 2 (hour): 24 is out of 0-23"). */
int cron_parse(cron *c, const char *expr, char *err, size_t errlen);

/* The first run strictly after instant `after` (Unix seconds), in tz: 0
 * with *next, or AH_ENOTFOUND when none comes within 5 years (February
 * 30th). */
int cron_next(const cron *c, const ah_tz *tz, int64_t after, int64_t *next);

#endif
