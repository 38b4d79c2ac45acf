/* tmpl_date.c - the date filter: reading times (RFC 3339, Unix ms), time
 * zones as fixed offsets, and strftime-style formats with English and
 * Russian names. Our own calendar arithmetic (proleptic Gregorian, years
 * 0 to 9999): no locale, no TZ environment, nothing global. */
#include "engine/lang.h"
#include "engine/tmpl_priv.h"

#include <agenthost/plugin.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DAY_MS 86400000LL

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool in_range(int64_t ms)
{
    return ms >= days_from_civil(0, 1, 1) * DAY_MS && ms < days_from_civil(10000, 1, 1) * DAY_MS;
}

static unsigned month_days(int64_t y, unsigned m)
{
    static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* ---- time zones ------------------------------------------------------------- */

/* n digits at s as a number, or -1. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* "+03:00", "+0300", "+03" at s (exactly; rest is what may follow). */
static bool offset_parse(const char *s, const char **rest, int *minutes)
{
    if (*s != '+' && *s != '-') return false;
    int sign = *s == '-' ? -1 : 1, h = digits(s + 1, 2), m = 0;
    const char *p = s + 3;
    if (h < 0) return false;
    if (*p == ':') {
        if ((m = digits(p + 1, 2)) < 0) return false;
        p += 3;
    } else if (*p >= '0' && *p <= '9') {
        if ((m = digits(p, 2)) < 0) return false;
        p += 2;
    }
    if (m > 59 || h * 60 + m > 18 * 60) return false;
    *minutes = sign * (h * 60 + m);
    *rest = p;
    return true;
}

bool tz_parse(const char *s, int *minutes)
{
    *minutes = 0;
    if (!s || !*s || !strcasecmp(s, "UTC") || !strcasecmp(s, "Z") || !strcasecmp(s, "GMT"))
        return true;
    const char *rest;
    return offset_parse(s, &rest, minutes) && !*rest;
}

/* ---- reading times ---------------------------------------------------------- */

/* "YYYY-MM-DD" with an optional "THH:MM:SS[.fff](Z|+hh:mm)". */
static bool rfc3339(const char *s, size_t n, int tz_minutes, int64_t *ms)
{
    if (n < 10 || s[4] != '-' || s[7] != '-') return false;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || (unsigned)d > month_days(y, (unsigned)mo))
        return false;
    int64_t day = days_from_civil(y, (unsigned)mo, (unsigned)d);
    if (n == 10) { /* a calendar day: its midnight where the reader is */
        *ms = day * DAY_MS - (int64_t)tz_minutes * 60000;
        return true;
    }
    const char *p = s + 10;
    if ((*p != 'T' && *p != 't' && *p != ' ') || n < 19 || p[3] != ':' || p[6] != ':') return false;
    int h = digits(p + 1, 2), mi = digits(p + 4, 2), sec = digits(p + 7, 2);
    if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60) return false;
    if (sec == 60) sec = 59; /* a leap second reads as the second before it */
    p += 9;
    int frac = 0, nd = 0;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, nd++)
            if (nd < 3) frac = frac * 10 + (*p - '0');
        if (!nd) return false;
        for (; nd < 3; nd++)
            frac *= 10;
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z')
        p++;
    else if (!offset_parse(p, &p, &off) || p[-3] != ':')
        return false;
    if ((size_t)(p - s) != n) return false;
    *ms = day * DAY_MS + ((int64_t)h * 3600 + mi * 60 + sec) * 1000 + frac - (int64_t)off * 60000;
    return true;
}

bool date_value(const json_t *j, int tz_minutes, int64_t *ms)
{
    if (json_is_integer(j))
        *ms = json_integer_value(j);
    else if (json_is_real(j)) {
        double d = json_real_value(j);
        if (!(fabs(d) < 1e15)) return false;
        *ms = (int64_t)floor(d);
    } else if (json_is_string(j)) {
        const char *s = json_string_value(j);
        size_t n = json_string_length(j);
        if (n && strspn(s, "0123456789") == n) {
            char *end;
            errno = 0;
            long long v = strtoll(s, &end, 10);
            if (errno) return false;
            *ms = v;
        } else if (!rfc3339(s, n, tz_minutes, ms))
            return false;
    } else
        return false;
    return in_range(*ms) && in_range(*ms + (int64_t)tz_minutes * 60000);
}

/* ---- formats ---------------------------------------------------------------- */

static const char NUMERIC[] = "YymdeHIMSj";
static const char KNOWN[] = "YymdeHIMSjpFTRzZBbAauws%";

long date_format_check(const char *fmt)
{
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') continue;
        const char *tok = p++;
        if (*p == '-') p++;
        bool ok = *p && strchr(*(p - 1) == '-' ? NUMERIC : KNOWN, *p);
        if (!ok) return tok - fmt;
    }
    return -1;
}

static const char *const MONTHS_EN[] = {"January",   "February", "March",    "April",
                                        "May",       "June",     "July",     "August",
                                        "September", "October",  "November", "December"};
/* Russian months in the genitive, as they stand in a date: "5 марта". */
static const char *const MONTHS_RU[] = {"января",   "февраля", "марта",  "апреля",
                                        "мая",      "июня",    "июля",   "августа",
                                        "сентября", "октября", "ноября", "декабря"};
static const char *const MON_RU[] = {"янв", "фев", "мар", "апр", "мая", "июн",
                                     "июл", "авг", "сен", "окт", "ноя", "дек"};
static const char *const DAYS_EN[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                      "Thursday", "Friday", "Saturday"};
static const char *const DAYS_RU[] = {"воскресенье", "понедельник", "вторник", "среда",
                                      "четверг",     "пятница",     "суббота"};
static const char *const DY_RU[] = {"вс", "пн", "вт", "ср", "чт", "пт", "сб"};

typedef struct when {
    int64_t year, unix_ms;
    unsigned mon, mday, hour, min, sec, wday, yday;
    int tz;
} when;

static int put_num(sbuf *b, int64_t v, int width, char pad, bool no_pad)
{
    char buf[32];
    if (no_pad)
        snprintf(buf, sizeof(buf), "%lld", (long long)v);
    else if (pad == ' ')
        snprintf(buf, sizeof(buf), "%*lld", width, (long long)v);
    else
        snprintf(buf, sizeof(buf), "%0*lld", width, (long long)v);
    return sbuf_add(b, buf, strlen(buf));
}

static int put_str(sbuf *b, const char *s)
{
    return sbuf_add(b, s, strlen(s));
}

static int put_offset(sbuf *b, int tz, bool colon)
{
    char buf[16];
    int a = tz < 0 ? -tz : tz;
    snprintf(buf, sizeof(buf), "%c%02d%s%02d", tz < 0 ? '-' : '+', a / 60, colon ? ":" : "",
             a % 60);
    return put_str(b, buf);
}

static int put_token(sbuf *b, char c, bool np, const when *w, bool ru)
{
    char abbr[4];
    switch (c) {
    case 'Y':
        return put_num(b, w->year, 4, '0', np);
    case 'y':
        return put_num(b, w->year % 100, 2, '0', np);
    case 'm':
        return put_num(b, w->mon, 2, '0', np);
    case 'd':
        return put_num(b, w->mday, 2, '0', np);
    case 'e':
        return put_num(b, w->mday, 2, ' ', np);
    case 'H':
        return put_num(b, w->hour, 2, '0', np);
    case 'I':
        return put_num(b, w->hour % 12 ? w->hour % 12 : 12, 2, '0', np);
    case 'M':
        return put_num(b, w->min, 2, '0', np);
    case 'S':
        return put_num(b, w->sec, 2, '0', np);
    case 'j':
        return put_num(b, w->yday, 3, '0', np);
    case 'p':
        return put_str(b, w->hour < 12 ? "AM" : "PM");
    case 'z':
        return put_offset(b, w->tz, false);
    case 'Z':
        return w->tz ? put_offset(b, w->tz, true) : put_str(b, "UTC");
    case 'B':
        return put_str(b, (ru ? MONTHS_RU : MONTHS_EN)[w->mon - 1]);
    case 'b':
        if (ru) return put_str(b, MON_RU[w->mon - 1]);
        snprintf(abbr, sizeof(abbr), "%.3s", MONTHS_EN[w->mon - 1]);
        return put_str(b, abbr);
    case 'A':
        return put_str(b, (ru ? DAYS_RU : DAYS_EN)[w->wday]);
    case 'a':
        if (ru) return put_str(b, DY_RU[w->wday]);
        snprintf(abbr, sizeof(abbr), "%.3s", DAYS_EN[w->wday]);
        return put_str(b, abbr);
    case 'u':
        return put_num(b, w->wday ? w->wday : 7, 1, '0', false);
    case 'w':
        return put_num(b, w->wday, 1, '0', false);
    case 's':
        return put_num(b, (w->unix_ms - (((w->unix_ms % 1000) + 1000) % 1000)) / 1000, 1, '0',
                       false);
    default:
        return put_str(b, "%");
    }
}

static int run(sbuf *b, const char *fmt, const when *w, bool ru)
{
    const char *from = fmt;
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') continue;
        int rc = sbuf_add(b, from, (size_t)(p - from));
        bool np = p[1] == '-';
        p += np ? 2 : 1;
        const char *composite = *p == 'F'   ? "%Y-%m-%d"
                                : *p == 'T' ? "%H:%M:%S"
                                : *p == 'R' ? "%H:%M"
                                            : NULL;
        if (!rc) rc = composite ? run(b, composite, w, ru) : put_token(b, *p, np, w, ru);
        if (rc < 0) return rc;
        from = p + 1;
    }
    return sbuf_add(b, from, strlen(from));
}

int date_format(sbuf *b, const char *fmt, int64_t ms, int tz_minutes, const char *lang)
{
    when w = {.unix_ms = ms, .tz = tz_minutes};
    int64_t local = ms + (int64_t)tz_minutes * 60000;
    int64_t days = local >= 0 ? local / DAY_MS : -((-local + DAY_MS - 1) / DAY_MS);
    int64_t in_day = local - days * DAY_MS;
    civil_from_days(days, &w.year, &w.mon, &w.mday);
    w.hour = (unsigned)(in_day / 3600000);
    w.min = (unsigned)(in_day / 60000 % 60);
    w.sec = (unsigned)(in_day / 1000 % 60);
    w.wday = (unsigned)(((days + 4) % 7 + 7) % 7);
    w.yday = (unsigned)(days - days_from_civil(w.year, 1, 1) + 1);
    return run(b, fmt, &w, lang_base_is(lang, "ru"));
}
