/*
 * cron.c - cron expressions and their next run in a time zone (cron.h).
 */
#include "engine/cron.h"

#include <agenthost/plugin.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct field_def {
    const char *name;
    int lo, hi;
    const char *const *names; /* names for lo, lo+1, ... (NULL: none) */
} field_def;

static const char *const MONTHS[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                     "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const WEEKDAYS[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static const field_def FIELDS[5] = {{"minute", 0, 59, NULL},
                                    {"hour", 0, 23, NULL},
                                    {"day of month", 1, 31, NULL},
                                    {"month", 1, 12, MONTHS},
                                    {"day of week", 0, 7, WEEKDAYS}};

/* A number or a name of field f at *s: 0 with *v, or -1. */
static int value(const field_def *f, const char **s, int *v)
{
    const char *p = *s;
    if (isdigit((unsigned char)*p)) {
        long n = 0;
        while (isdigit((unsigned char)*p) && n < 1000)
            n = n * 10 + (*p++ - '0');
        *v = (int)n;
        *s = p;
        return 0;
    }
    for (int i = 0; f->names && i <= f->hi - f->lo && i < 12; i++) {
        if (f == &FIELDS[4] && i > 6) break;
        if (!strncasecmp(p, f->names[i], 3) && !isalpha((unsigned char)p[3])) {
            *v = f->lo + i;
            *s = p + 3;
            return 0;
        }
    }
    return -1;
}

/* One field (text between blanks) into bits. */
static int field(int k, const char *text, uint64_t *bits, bool *any, char *err, size_t errlen)
{
    const field_def *f = &FIELDS[k];
    *bits = 0;
    *any = !strcmp(text, "*");
    const char *s = text;
    for (;;) {
        int a, b, step = 1;
        if (*s == '*') {
            a = f->lo, b = f->hi, s++;
        } else {
            if (value(f, &s, &a) != 0) goto bad;
            b = a;
            if (*s == '-') {
                s++;
                if (value(f, &s, &b) != 0) goto bad;
            }
        }
        if (*s == '/') {
            s++;
            if (value(&FIELDS[0], &s, &step) != 0 || step < 1 || step > f->hi) goto bad;
            if (b == a && text[0] != '*') b = f->hi; /* "5/15": from 5 on */
        }
        if (a < f->lo || a > f->hi || b < f->lo || b > f->hi) {
            snprintf(err, errlen, "field %d (%s): %d is out of %d-%d", k + 1, f->name,
                     a < f->lo || a > f->hi ? a : b, f->lo, f->hi);
            return AH_EINVAL;
        }
        if (a > b) {
            snprintf(err, errlen, "field %d (%s): the range %d-%d runs backwards", k + 1, f->name,
                     a, b);
            return AH_EINVAL;
        }
        for (int v = a; v <= b; v += step)
            *bits |= 1ull << (k == 4 && v == 7 ? 0 : v);
        if (!*s) return 0;
        if (*s++ != ',') goto bad;
    }
bad:
    snprintf(err, errlen, "field %d (%s): \"%s\" is not a value, range, step or list of them",
             k + 1, f->name, text);
    return AH_EINVAL;
}

int cron_parse(cron *c, const char *expr, char *err, size_t errlen)
{
    static const struct {
        const char *name, *expr;
    } MACROS[] = {{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
                  {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
                  {"@hourly", "0 * * * *"}};
    memset(c, 0, sizeof(*c));
    if (!expr || strlen(expr) > 200) {
        snprintf(err, errlen, "a cron expression is 1 to 200 characters");
        return AH_EINVAL;
    }
    while (isspace((unsigned char)*expr))
        expr++;
    if (*expr == '@') {
        for (size_t i = 0; i < sizeof(MACROS) / sizeof(MACROS[0]); i++)
            if (!strcasecmp(expr, MACROS[i].name))
                return cron_parse(c, MACROS[i].expr, err, errlen);
        snprintf(err, errlen, "%s: not one of @yearly, @monthly, @weekly, @daily, @hourly", expr);
        return AH_EINVAL;
    }
    char buf[201], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", expr);
    char *parts[6];
    int n = 0;
    for (char *t = strtok_r(buf, " \t", &save); t && n < 6; t = strtok_r(NULL, " \t", &save))
        parts[n++] = t;
    if (n != 5) {
        snprintf(err, errlen,
                 "expected 5 fields (minute hour day-of-month month day-of-week), got %d", n);
        return AH_EINVAL;
    }
    uint64_t bits[5];
    bool any[5];
    for (int k = 0; k < 5; k++) {
        int rc = field(k, parts[k], &bits[k], &any[k], err, errlen);
        if (rc) return rc;
    }
    c->minutes = bits[0];
    c->hours = (uint32_t)bits[1];
    c->days = (uint32_t)bits[2];
    c->months = (uint16_t)bits[3];
    c->weekdays = (uint8_t)bits[4];
    c->any_day = any[2];
    c->any_weekday = any[4];
    return 0;
}

/* ---- the next run ----------------------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static void civil(int64_t days, int *y, int *m, int *d)
{
    int64_t z = days + 719468, era = floor_div(z, 146097);
    int64_t doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int64_t days_of(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400), yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static bool day_ok(const cron *c, int d, int dow)
{
    bool dom = c->days >> d & 1, wd = c->weekdays >> dow & 1;
    return c->any_day || c->any_weekday ? dom && wd : dom || wd;
}

int cron_next(const cron *c, const ah_tz *tz, int64_t after, int64_t *next)
{
    int64_t local = (floor_div(after + tz_offset(tz, after), 60) + 1) * 60;
    int y0, m, d;
    civil(floor_div(local, 86400), &y0, &m, &d);
    for (int guard = 0; guard < 1000000; guard++) {
        int64_t days = floor_div(local, 86400), sec = local - days * 86400;
        int y;
        civil(days, &y, &m, &d);
        if (y > y0 + 5) break;
        int h = (int)(sec / 3600), mi = (int)(sec % 3600 / 60);
        int dow = (int)((days % 7 + 11) % 7); /* 1970-01-01: Thursday */
        if (!(c->months >> m & 1)) {
            local = days_of(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) * 86400;
        } else if (!day_ok(c, d, dow)) {
            local = (days + 1) * 86400;
        } else if (!(c->hours >> h & 1)) {
            local = days * 86400 + (int64_t)(h + 1) * 3600;
        } else if (!(c->minutes >> mi & 1)) {
            local += 60;
        } else {
            int kind;
            int64_t u = tz_instant(tz, local, &kind);
            if (u > after) {
                *next = u;
                return 0;
            }
            local += 60;
        }
    }
    return AH_ENOTFOUND;
}
