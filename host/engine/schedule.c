/*
 * schedule.c - the next run of a trigger's schedule (schedule.h).
 */
#include "engine/schedule.h"

#include "core/tz.h"
#include "core/util.h"
#include "engine/cron.h"

#include <agenthost/plugin.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZONES_KEPT 64

static struct {
    pthread_mutex_t mu;
    ah_tz *zones[ZONES_KEPT];
    size_t n;
} Z = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The zone named (kept for the process; loaded zones never change). */
static const ah_tz *zone(const char *name, char *err, size_t errlen)
{
    pthread_mutex_lock(&Z.mu);
    for (size_t i = 0; i < Z.n; i++)
        if (!strcmp(tz_name(Z.zones[i]), name)) {
            pthread_mutex_unlock(&Z.mu);
            return Z.zones[i];
        }
    ah_tz *z = NULL;
    if (tz_load(&z, name, NULL, err, errlen) == 0 && Z.n < ZONES_KEPT) Z.zones[Z.n++] = z;
    pthread_mutex_unlock(&Z.mu);
    return z; /* past ZONES_KEPT distinct zones: not kept (freed by the caller's next load) */
}

void schedule_forget_zones(void)
{
    pthread_mutex_lock(&Z.mu);
    for (size_t i = 0; i < Z.n; i++)
        tz_free(Z.zones[i]);
    Z.n = 0;
    pthread_mutex_unlock(&Z.mu);
}

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The next run without jitter (0: none). */
static int next_plain(const json_t *s, int64_t after_ms, int64_t *next, char *err, size_t errlen)
{
    *next = 0;
    const char *at = str_of(s, "at");
    if (at) {
        int64_t ms;
        if (!ah_parse_time(at, &ms)) {
            snprintf(err, errlen, "schedule.at: not an RFC 3339 time (2026-12-31T09:00:00+03:00)");
            return AH_EINVAL;
        }
        if (ms > after_ms) *next = ms;
        return 0;
    }
    const char *zone_name = str_of(s, "timezone");
    char why[200];
    const ah_tz *z = zone(zone_name ? zone_name : "UTC", why, sizeof(why));
    if (!z) {
        snprintf(err, errlen, "schedule.timezone: %s", why);
        return AH_EINVAL;
    }
    cron c;
    int rc = cron_parse(&c, str_of(s, "cron"), why, sizeof(why));
    int64_t t = 0;
    if (!rc && cron_next(&c, z, after_ms / 1000, &t) == 0) *next = t * 1000;
    if (Z.n == ZONES_KEPT && zone_name) { /* not kept: free it unless it is */
        bool kept = false;
        for (size_t i = 0; i < Z.n; i++)
            kept |= Z.zones[i] == z;
        if (!kept) tz_free((ah_tz *)z);
    }
    if (rc) {
        snprintf(err, errlen, "schedule.cron: %s", why);
        return AH_EINVAL;
    }
    return 0;
}

int schedule_next(const json_t *s, int64_t after_ms, int64_t *next_ms, char *err, size_t errlen)
{
    int rc = next_plain(s, after_ms, next_ms, err, errlen);
    json_int_t jitter = json_integer_value(json_object_get(s, "jitter_s"));
    if (!rc && *next_ms && jitter > 0)
        *next_ms += (int64_t)(arc4random_uniform((uint32_t)jitter * 1000u + 1u));
    return rc;
}

size_t schedule_missed(const json_t *s, int64_t due_ms, int64_t now_ms, int64_t *at, size_t max)
{
    size_t n = 0;
    char err[200];
    for (int64_t t = due_ms; t && t <= now_ms && n < max;) {
        at[n++] = t;
        if (next_plain(s, t, &t, err, sizeof(err)) != 0) break;
    }
    return n;
}
