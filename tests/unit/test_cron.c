/*
 * Cron schedules, time zones, trigger schedules and commands (engine/cron.h,
 * core/tz.h, engine/schedule.h, engine/command.h), against the
 * system's tzdata: parsing with every error named, next runs in UTC and in
 * zones with daylight saving time (a job in the hour the clock skips runs
 * once at the jump; one in the hour it repeats runs once, the first time),
 * offsets past the zone's last listed transition from its TZ rule, and
 * zone names that are not names or not zones.
 */
#include "core/tz.h"
#include "engine/command.h"
#include "engine/cron.h"
#include "engine/schedule.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <agenthost/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Unix seconds of a UTC time "YYYY-MM-DD HH:MM". */
static int64_t utc(const char *s)
{
    struct tm tm = {0};
    assert_non_null(strptime(s, "%Y-%m-%d %H:%M", &tm));
    return (int64_t)timegm(&tm);
}

static ah_tz *zone(const char *name)
{
    ah_tz *z = NULL;
    char err[200];
    if (tz_load(&z, name, NULL, err, sizeof(err)) != 0) fail_msg("%s: %s", name, err);
    return z;
}

static int64_t next_of(const char *expr, const ah_tz *z, int64_t after)
{
    cron c;
    char err[200];
    if (cron_parse(&c, expr, err, sizeof(err)) != 0) fail_msg("%s: %s", expr, err);
    int64_t n = 0;
    assert_int_equal(cron_next(&c, z, after, &n), 0);
    return n;
}

static void refused(const char *expr, const char *why)
{
    cron c;
    char err[200] = "";
    assert_int_equal(cron_parse(&c, expr, err, sizeof(err)), AH_EINVAL);
    if (!strstr(err, why)) fail_msg("%s: \"%s\" does not say \"%s\"", expr, err, why);
}

static void bad_expressions_are_refused_naming_the_field_and_why(void **s)
{
    (void)s;
    refused("* * * *", "expected 5 fields");
    refused("* * * * * *", "expected 5 fields");
    refused("60 * * * *", "field 1 (minute): 60 is out of 0-59");
    refused("0 24 * * *", "field 2 (hour): 24 is out of 0-23");
    refused("0 0 0 * *", "field 3 (day of month): 0 is out of 1-31");
    refused("0 0 * 13 *", "field 4 (month): 13 is out of 1-12");
    refused("0 0 * * 8", "field 5 (day of week): 8 is out of 0-7");
    refused("0 0 * * FRI-MON", "runs backwards");
    refused("*/0 * * * *", "field 1 (minute)");
    refused("1,,2 * * * *", "field 1 (minute)");
    refused("0 0 * JANUARY *", "field 4 (month)");
    refused("@fortnightly", "not one of");
    refused("", "expected 5 fields");
}

static void next_runs_in_utc_with_lists_ranges_steps_and_names(void **s)
{
    (void)s;
    ah_tz *z = zone("UTC");
    int64_t t = utc("2026-12-06 17:28");
    assert_int_equal(next_of("*/15 * * * *", z, t), utc("2026-12-06 17:30"));
    assert_int_equal(next_of("0 9-17/4 * * MON-FRI", z, t), utc("2026-12-07 09:00"));
    assert_int_equal(next_of("30 8 1,15 * *", z, t), utc("2026-12-15 08:30"));
    assert_int_equal(next_of("0 0 29 FEB *", z, t), utc("2028-02-29 00:00"));
    assert_int_equal(next_of("@yearly", z, t), utc("2027-01-01 00:00"));
    assert_int_equal(next_of("@hourly", z, t), utc("2026-12-06 18:00"));
    assert_int_equal(next_of("0 12 * * 7", z, t), utc("2026-12-06 12:00") + 7 * 86400);
    /* Both day fields restricted: either matches (the 13th, or a Friday). */
    assert_int_equal(next_of("0 0 13 * 5", z, t), utc("2026-12-11 00:00"));
    /* Strictly after: a run at `after` itself is the next one's. */
    assert_int_equal(next_of("28 17 * * *", z, t), utc("2026-12-07 17:28"));
    cron c;
    char err[200];
    assert_int_equal(cron_parse(&c, "0 0 30 2 *", err, sizeof(err)), 0);
    int64_t n;
    assert_int_equal(cron_next(&c, z, t, &n), AH_ENOTFOUND);
    tz_free(z);
}

static void a_zone_without_dst_runs_at_its_fixed_offset(void **s)
{
    (void)s;
    ah_tz *z = zone("Europe/Moscow");
    assert_int_equal(tz_offset(z, utc("2026-07-01 00:00")), 3 * 3600);
    assert_int_equal(next_of("0 9 * * *", z, utc("2026-12-06 17:28")), utc("2026-12-07 06:00"));
    tz_free(z);
}

static void the_skipped_hour_runs_once_at_the_jump_and_the_repeated_hour_once_first(void **s)
{
    (void)s;
    ah_tz *ny = zone("America/New_York");
    /* 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC). */
    int64_t run = next_of("30 2 * * *", ny, utc("2026-03-08 05:00"));
    assert_int_equal(run, utc("2026-03-08 07:00"));
    assert_int_equal(next_of("30 2 * * *", ny, run), utc("2026-03-09 06:30")); /* once */
    /* 2026-11-01: 02:00 EDT goes back to 01:00 EST; 01:30 happens twice. */
    run = next_of("30 1 * * *", ny, utc("2026-11-01 04:00"));
    assert_int_equal(run, utc("2026-11-01 05:30")); /* 01:30 EDT, the first */
    assert_int_equal(next_of("30 1 * * *", ny, run),
                     utc("2026-11-02 06:30")); /* not 06:30 that day */
    int kind;
    assert_int_equal(tz_instant(ny, utc("2026-11-01 01:30"), &kind), utc("2026-11-01 05:30"));
    assert_int_equal(kind, 2);
    assert_int_equal(tz_instant(ny, utc("2026-03-08 02:30"), &kind), utc("2026-03-08 07:00"));
    assert_int_equal(kind, 1);
    assert_int_equal(tz_instant(ny, utc("2026-06-01 12:00"), &kind), utc("2026-06-01 16:00"));
    assert_int_equal(kind, 0);
    tz_free(ny);

    ah_tz *berlin = zone("Europe/Berlin");
    run = next_of("30 2 * * *", berlin, utc("2026-03-28 23:00"));
    assert_int_equal(run, utc("2026-03-29 01:00")); /* 03:00 CEST, the jump */
    run = next_of("30 2 * * *", berlin, utc("2026-10-24 23:00"));
    assert_int_equal(run, utc("2026-10-25 00:30")); /* 02:30 CEST, the first */
    assert_int_equal(next_of("30 2 * * *", berlin, run), utc("2026-10-26 01:30"));
    tz_free(berlin);
}

static void offsets_past_the_listed_transitions_follow_the_zones_rule(void **s)
{
    (void)s;
    ah_tz *z = zone("Europe/Berlin");
    assert_int_equal(tz_offset(z, utc("2045-07-01 12:00")), 7200);
    assert_int_equal(tz_offset(z, utc("2045-01-15 12:00")), 3600);
    /* The last Sunday of March 2045 is the 26th: 01:00 UTC. */
    assert_int_equal(tz_offset(z, utc("2045-03-26 00:59")), 3600);
    assert_int_equal(tz_offset(z, utc("2045-03-26 01:00")), 7200);
    tz_free(z);
    ah_tz *sy = zone("Australia/Sydney"); /* south: daylight time over the new year */
    assert_int_equal(tz_offset(sy, utc("2045-01-15 00:00")), 11 * 3600);
    assert_int_equal(tz_offset(sy, utc("2045-07-15 00:00")), 10 * 3600);
    tz_free(sy);
}

static void names_that_are_not_zones_are_refused(void **s)
{
    (void)s;
    ah_tz *z = NULL;
    char err[200];
    assert_int_equal(tz_load(&z, "../../etc/passwd", NULL, err, sizeof(err)), AH_EINVAL);
    assert_int_equal(tz_load(&z, "/etc/localtime", NULL, err, sizeof(err)), AH_EINVAL);
    assert_int_equal(tz_load(&z, "Europe/Atlantis", NULL, err, sizeof(err)), AH_ENOTFOUND);
    assert_non_null(strstr(err, "Europe/Atlantis"));
    assert_int_equal(tz_load(&z, "", NULL, err, sizeof(err)), AH_EINVAL);
    /* A file that is not TZif, and one cut short. */
    char dir[] = "/tmp/ah-tz-XXXXXX", path[200];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/Bad", dir);
    FILE *f = fopen(path, "wb");
    fputs("not a zone", f);
    fclose(f);
    assert_int_equal(tz_load(&z, "Bad", dir, err, sizeof(err)), AH_EIO);
    FILE *src = fopen("/usr/share/zoneinfo/Europe/Berlin", "rb");
    assert_non_null(src);
    char buf[300];
    size_t n = fread(buf, 1, sizeof(buf), src);
    fclose(src);
    snprintf(path, sizeof(path), "%s/Cut", dir);
    f = fopen(path, "wb");
    fwrite(buf, 1, n, f);
    fclose(f);
    assert_int_equal(tz_load(&z, "Cut", dir, err, sizeof(err)), AH_EIO);
    assert_null(z);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void a_schedule_knows_its_next_run_its_jitter_and_the_runs_it_missed(void **s)
{
    (void)s;
    char err[300];
    int64_t next = 0, t = utc("2026-12-06 17:28") * 1000;
    json_t *daily = json_pack("{s:s,s:s}", "cron", "0 9 * * *", "timezone", "Europe/Moscow");
    assert_int_equal(schedule_next(daily, t, &next, err, sizeof(err)), 0);
    assert_int_equal(next, utc("2026-12-07 06:00") * 1000);
    /* Three days down: the runs missed, in order, at most as many as asked. */
    int64_t at[10];
    size_t n = schedule_missed(daily, utc("2026-12-07 06:00") * 1000,
                               utc("2026-12-09 12:00") * 1000, at, 10);
    assert_int_equal(n, 3);
    assert_int_equal(at[2], utc("2026-12-09 06:00") * 1000);
    assert_int_equal(schedule_missed(daily, utc("2026-12-07 06:00") * 1000,
                                     utc("2026-12-09 12:00") * 1000, at, 2),
                     2);
    json_object_set_new(daily, "jitter_s", json_integer(30));
    for (int i = 0; i < 50; i++) {
        assert_int_equal(schedule_next(daily, t, &next, err, sizeof(err)), 0);
        assert_true(next >= utc("2026-12-07 06:00") * 1000);
        assert_true(next <= utc("2026-12-07 06:00") * 1000 + 30000);
    }
    json_decref(daily);
    json_t *once = json_pack("{s:s}", "at", "2026-12-31T23:59:00+03:00");
    assert_int_equal(schedule_next(once, t, &next, err, sizeof(err)), 0);
    assert_int_equal(next, utc("2026-12-31 20:59") * 1000);
    assert_int_equal(schedule_next(once, next, &next, err, sizeof(err)), 0);
    assert_int_equal(next, 0); /* gone by */
    json_decref(once);
    json_t *bad = json_pack("{s:s,s:s}", "cron", "0 9 * * *", "timezone", "Nowhere/Special");
    assert_int_equal(schedule_next(bad, t, &next, err, sizeof(err)), AH_EINVAL);
    assert_non_null(strstr(err, "schedule.timezone: no time zone Nowhere/Special"));
    json_decref(bad);
    schedule_forget_zones();
}

static void commands_are_parsed_once_for_every_channel(void **s)
{
    (void)s;
    json_t *c = command_parse("/Start@Foo_bot   ref_42  ");
    assert_string_equal(json_string_value(json_object_get(c, "name")), "start");
    assert_string_equal(json_string_value(json_object_get(c, "bot")), "Foo_bot");
    assert_string_equal(json_string_value(json_object_get(c, "args")), "ref_42");
    json_decref(c);
    c = command_parse("/help");
    assert_string_equal(json_string_value(json_object_get(c, "name")), "help");
    assert_null(json_object_get(c, "args"));
    json_decref(c);
    assert_null(command_parse("/etc/hosts"));
    assert_null(command_parse("hello /start"));
    assert_null(command_parse("/"));
    assert_null(command_parse("/start@"));
    assert_null(command_parse("/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 33 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_expressions_are_refused_naming_the_field_and_why),
        cmocka_unit_test(next_runs_in_utc_with_lists_ranges_steps_and_names),
        cmocka_unit_test(a_zone_without_dst_runs_at_its_fixed_offset),
        cmocka_unit_test(the_skipped_hour_runs_once_at_the_jump_and_the_repeated_hour_once_first),
        cmocka_unit_test(offsets_past_the_listed_transitions_follow_the_zones_rule),
        cmocka_unit_test(names_that_are_not_zones_are_refused),
        cmocka_unit_test(a_schedule_knows_its_next_run_its_jitter_and_the_runs_it_missed),
        cmocka_unit_test(commands_are_parsed_once_for_every_channel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
