/*
 * tz.c - TZif files (RFC 8536, version 2 and later: the 64-bit data and
 * the POSIX TZ string of the footer for times after the last transition).
 * See tz.h.
 */
#include "core/tz.h"

#include <agenthost/plugin.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_FILE_MAX (1 << 20)
#define TZ_DIR "/usr/share/zoneinfo"

typedef struct tz_rule { /* Mm.w.d/time */
    int month, week, day;
    int32_t time; /* seconds after local midnight */
} tz_rule;

struct ah_tz {
    char name[128];
    size_t n;     /* transitions */
    int64_t *at;  /* their instants, ascending */
    uint8_t *idx; /* their types */
    size_t ntypes;
    int32_t *off; /* each type's offset */
    /* The footer's rule, for instants after the last transition. */
    bool has_rule, has_dst;
    int32_t std_off, dst_off;
    tz_rule start, end;
};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* ---- the POSIX TZ string of the footer ---------------------------------------------- */

static const char *skip_name(const char *s)
{
    if (*s == '<') {
        const char *e = strchr(s, '>');
        return e ? e + 1 : NULL;
    }
    const char *p = s;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] into *secs; the rest of s, or NULL. */
static const char *parse_hms(const char *s, int32_t *secs)
{
    int sign = 1;
    if (*s == '+' || *s == '-') sign = *s++ == '-' ? -1 : 1;
    if (*s < '0' || *s > '9') return NULL;
    long h = strtol(s, (char **)&s, 10), m = 0, sec = 0;
    if (*s == ':') {
        m = strtol(s + 1, (char **)&s, 10);
        if (*s == ':') sec = strtol(s + 1, (char **)&s, 10);
    }
    if (h > 167 || m > 59 || sec > 59) return NULL;
    *secs = (int32_t)(sign * (h * 3600 + m * 60 + sec));
    return s;
}

static const char *parse_rule(const char *s, tz_rule *r)
{
    if (*s++ != 'M') return NULL; /* Jn and n rules: not in today's tzdata */
    r->month = (int)strtol(s, (char **)&s, 10);
    if (*s++ != '.') return NULL;
    r->week = (int)strtol(s, (char **)&s, 10);
    if (*s++ != '.') return NULL;
    r->day = (int)strtol(s, (char **)&s, 10);
    if (r->month < 1 || r->month > 12 || r->week < 1 || r->week > 5 || r->day < 0 || r->day > 6)
        return NULL;
    r->time = 7200;
    if (*s == '/') s = parse_hms(s + 1, &r->time);
    return s;
}

static void parse_footer(ah_tz *z, const char *s)
{
    int32_t std, dst;
    if (!(s = skip_name(s)) || !(s = parse_hms(s, &std))) return;
    z->std_off = -std; /* POSIX counts west */
    z->has_rule = true;
    if (!*s) return;
    const char *d = skip_name(s);
    if (!d) {
        z->has_rule = false;
        return;
    }
    s = d;
    dst = std - 3600;
    if (*s && *s != ',' && !(s = parse_hms(s, &dst))) {
        z->has_rule = false;
        return;
    }
    z->dst_off = -dst;
    if (*s++ != ',' || !(s = parse_rule(s, &z->start)) || *s++ != ',' ||
        !(s = parse_rule(s, &z->end))) {
        z->has_rule = false;
        return;
    }
    z->has_dst = true;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int year_of(int64_t days)
{
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    return (int)(yoe + era * 400 + (m <= 2));
}

static int days_in(int y, int m)
{
    static const int n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : n[m - 1];
}

/* The local (naive) second a rule names in year y. */
static int64_t rule_local(const tz_rule *r, int y)
{
    int64_t first = days_from_civil(y, r->month, 1);
    int dow = (int)(((first % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
    int day = 1 + (r->day - dow + 7) % 7 + (r->week - 1) * 7;
    while (day > days_in(y, r->month))
        day -= 7;
    return (first + day - 1) * 86400 + r->time;
}

static int32_t rule_offset(const ah_tz *z, int64_t t)
{
    if (!z->has_dst) return z->std_off;
    int y = year_of((t + z->std_off) / 86400 - ((t + z->std_off) % 86400 < 0));
    int64_t start = rule_local(&z->start, y) - z->std_off; /* start: in standard time */
    int64_t end = rule_local(&z->end, y) - z->dst_off;     /* end: in daylight time */
    bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? z->dst_off : z->std_off;
}

/* ---- loading ------------------------------------------------------------------------- */

static bool name_ok(const char *s)
{
    if (!*s || strlen(s) >= 128 || *s == '/' || strstr(s, "..")) return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '/' || *p == '_' || *p == '-' || *p == '+'))
            return false;
    return true;
}

static int parse(ah_tz *z, const uint8_t *b, size_t len)
{
    if (len < 44 || memcmp(b, "TZif", 4) != 0 || b[4] < '2') return AH_EIO;
    /* Skip the 32-bit block: its counts are in the first header. */
    uint32_t c[6];
    for (int i = 0; i < 6; i++)
        c[i] = be32(b + 20 + 4 * i);
    size_t v1 = (size_t)c[3] * 5 + (size_t)c[4] * 6 + c[5] + (size_t)c[2] * 8 + c[1] + c[0];
    if (44 + v1 + 44 > len) return AH_EIO;
    const uint8_t *h = b + 44 + v1;
    if (memcmp(h, "TZif", 4) != 0) return AH_EIO;
    for (int i = 0; i < 6; i++)
        c[i] = be32(h + 20 + 4 * i);
    uint32_t isut = c[0], isstd = c[1], leap = c[2], timecnt = c[3], typecnt = c[4], charcnt = c[5];
    if (typecnt == 0 || typecnt > 256 || timecnt > 100000) return AH_EIO;
    size_t need =
        (size_t)timecnt * 9 + (size_t)typecnt * 6 + charcnt + (size_t)leap * 12 + isstd + isut;
    const uint8_t *p = h + 44;
    if ((size_t)(p - b) + need > len) return AH_EIO;
    z->n = timecnt;
    z->ntypes = typecnt;
    z->at = calloc(timecnt ? timecnt : 1, sizeof(*z->at));
    z->idx = calloc(timecnt ? timecnt : 1, 1);
    z->off = calloc(typecnt, sizeof(*z->off));
    if (!z->at || !z->idx || !z->off) return AH_ENOMEM;
    for (uint32_t i = 0; i < timecnt; i++)
        z->at[i] = be64(p + 8 * i);
    p += (size_t)timecnt * 8;
    for (uint32_t i = 0; i < timecnt; i++)
        if ((z->idx[i] = p[i]) >= typecnt) return AH_EIO;
    p += timecnt;
    for (uint32_t i = 0; i < typecnt; i++)
        z->off[i] = (int32_t)be32(p + 6 * i);
    p += need - (size_t)timecnt * 9;
    /* The footer: "\nTZ string\n". */
    if ((size_t)(p - b) < len && *p == '\n') {
        const uint8_t *e = memchr(p + 1, '\n', len - (size_t)(p - b) - 1);
        if (e && e - p - 1 < 128) {
            char footer[128];
            memcpy(footer, p + 1, (size_t)(e - p - 1));
            footer[e - p - 1] = 0;
            parse_footer(z, footer);
        }
    }
    return 0;
}

int tz_load(ah_tz **out, const char *name, const char *dir, char *err, size_t errlen)
{
    *out = NULL;
    if (!name_ok(name)) {
        snprintf(err, errlen, "not a time zone name: an IANA name such as Europe/Moscow");
        return AH_EINVAL;
    }
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : TZ_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "no time zone %s in the system's tzdata", name);
        return AH_ENOTFOUND;
    }
    uint8_t *buf = malloc(TZ_FILE_MAX);
    size_t len = buf ? fread(buf, 1, TZ_FILE_MAX, f) : 0;
    fclose(f);
    ah_tz *z = calloc(1, sizeof(*z));
    int rc = !buf || !z ? AH_ENOMEM : parse(z, buf, len);
    free(buf);
    if (rc) {
        tz_free(z);
        snprintf(err, errlen, rc == AH_ENOMEM ? "out of memory" : "%s is not a TZif file", path);
        return rc;
    }
    snprintf(z->name, sizeof(z->name), "%s", name);
    *out = z;
    return 0;
}

void tz_free(ah_tz *tz)
{
    if (!tz) return;
    free(tz->at);
    free(tz->idx);
    free(tz->off);
    free(tz);
}

const char *tz_name(const ah_tz *tz)
{
    return tz->name;
}

/* ---- offsets and instants ------------------------------------------------------------- */

int32_t tz_offset(const ah_tz *z, int64_t t)
{
    if (z->n == 0 || t < z->at[0]) return z->n == 0 && z->has_rule ? rule_offset(z, t) : z->off[0];
    if (t >= z->at[z->n - 1] && z->has_rule) return rule_offset(z, t);
    size_t lo = 0, hi = z->n; /* the last transition at or before t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->at[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->off[z->idx[lo]];
}

int64_t tz_instant(const ah_tz *z, int64_t local, int *kind)
{
    int32_t before = tz_offset(z, local - 86400), after = tz_offset(z, local + 86400);
    int64_t u1 = local - before, u2 = local - after;
    bool v1 = u1 + tz_offset(z, u1) == local, v2 = u2 + tz_offset(z, u2) == local;
    *kind = 0;
    if (v1 && v2 && u1 != u2) {
        *kind = 2;
        return u1 < u2 ? u1 : u2;
    }
    if (v1) return u1;
    if (v2) return u2;
    /* In a gap: the instant the offset changed, between the two. */
    *kind = 1;
    int64_t lo = u1 < u2 ? u1 : u2, hi = u1 < u2 ? u2 : u1;
    int32_t first = tz_offset(z, lo);
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (tz_offset(z, mid) == first)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}
