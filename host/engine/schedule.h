/*
 * schedule.h - when an on_schedule trigger runs next (its "schedule":
 * {"cron", "timezone", "jitter_s"} or {"at"}; docs/schemas/trigger.json).
 * Time zones are loaded from the system's tzdata once and kept.
 */
#ifndef AH_ENGINE_SCHEDULE_H
#define AH_ENGINE_SCHEDULE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The first run strictly after after_ms (Unix ms), jitter added: 0 with
 * *next_ms; 0 with *next_ms = 0 when there is none (a one-off time gone
 * by, a cron never matching within 5 years); AH_EINVAL with err naming the
 * field ("schedule.cron: field 2 (hour): ...", "schedule.timezone: ...").
 */
int schedule_next(const json_t *schedule, int64_t after_ms, int64_t *next_ms, char *err,
                  size_t errlen);

/* The runs a schedule missed from due_ms to now_ms (due_ms itself the
 * first), at most max: each missed run's time into at[] (ascending);
 * their count. A one-off schedule has at most one. */
size_t schedule_missed(const json_t *schedule, int64_t due_ms, int64_t now_ms, int64_t *at,
                       size_t max);

/* Forget the time zones kept (tests, shutdown). */
void schedule_forget_zones(void);

#endif
