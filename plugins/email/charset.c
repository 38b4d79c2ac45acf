/*
 * Which charsets iconv can convert here without loading anything (mail.h).
 *
 * glibc's iconv dlopens a gconv module the first time a charset is used.
 * In the sandbox (docs/security-model.md) the runner loads the modules of
 * common charsets before the minimal root and the second filter, and keeps
 * them loaded (sandbox/runner.c); after lockdown, an iconv_open that would
 * load another one is an openat the filter kills the process for. So:
 *  - em_charsets_probe, run from the plugin's constructor (before
 *    lockdown, where a missing module simply fails to load), opens a
 *    converter for each charset mail commonly names and keeps those that
 *    opened (held open, so that glibc never unloads their modules);
 *  - text is converted only from those (em_charset_usable);
 *  - the charsets named inside a message where GMime itself converts
 *    (encoded words, RFC 2231 parameters) are checked before GMime parses
 *    it: an unusable one is overwritten in a copy with a name iconv does
 *    not know (which fails without loading anything), so GMime falls back
 *    to the fallback charsets, and the name is reported.
 */
#include "mail.h"

#include <gmime/gmime.h>
#include <iconv.h>
#include <string.h>

#define NAME_MAX_LEN 40

static const char *const candidates[] = {
    "UTF-8",        "US-ASCII",     "ISO-8859-1",   "ISO-8859-2",   "ISO-8859-3",   "ISO-8859-4",
    "ISO-8859-5",   "ISO-8859-6",   "ISO-8859-7",   "ISO-8859-8",   "ISO-8859-9",   "ISO-8859-10",
    "ISO-8859-13",  "ISO-8859-14",  "ISO-8859-15",  "ISO-8859-16",  "KOI8-R",       "KOI8-U",
    "windows-1250", "windows-1251", "windows-1252", "windows-1253", "windows-1254", "windows-1255",
    "windows-1256", "windows-1257", "windows-1258", "CP866",        "UTF-16",       "UTF-16LE",
    "UTF-16BE",     "UTF-32",       "UTF-7",        "GB2312",       "GBK",          "GB18030",
    "Big5",         "Shift_JIS",    "EUC-JP",       "ISO-2022-JP",  "EUC-KR",       "TIS-620"};
#define N_CANDIDATES (sizeof(candidates) / sizeof(candidates[0]))

static const char *usable[N_CANDIDATES];              /* iconv names (GMime's spelling) */
static char keys[N_CANDIDATES * 2][NAME_MAX_LEN + 1]; /* both spellings, normalised */
static iconv_t held[N_CANDIDATES];
static size_t n_usable, n_keys;

/* Lower-case letters and digits only, "cp125x" as "windows125x":
 * "ISO_8859-5", "iso-8859-5" and "ISO8859-5" are one key. Names are
 * compared this way rather than through g_mime_charset_iconv_name, which
 * remembers every name it is given (a hostile stream of names would grow
 * its table without end). */
static void normalise(const char *name, char *out)
{
    size_t n = 0;
    if (!g_ascii_strncasecmp(name, "x-", 2)) name += 2;
    if (!g_ascii_strncasecmp(name, "cp125", 5)) {
        memcpy(out, "windows", 7);
        n = 7;
        name += 2;
    }
    for (; *name && n < NAME_MAX_LEN; name++)
        if (g_ascii_isalnum(*name)) out[n++] = g_ascii_tolower(*name);
    out[n] = 0;
}

static void add_key(const char *name)
{
    if (n_keys < sizeof(keys) / sizeof(keys[0])) normalise(name, keys[n_keys++]);
}

void em_charsets_probe(void)
{
    /* GLib reads its charset aliases once, lazily: now, while it may. */
    (void)g_get_charset(NULL);
    for (size_t i = 0; i < N_CANDIDATES; i++) {
        const char *name = g_mime_charset_iconv_name(candidates[i]);
        if (!name) continue;
        iconv_t cd = iconv_open("UTF-8", name);
        if (cd == (iconv_t)-1) continue;
        held[n_usable] = cd;
        usable[n_usable++] = name;
        add_key(candidates[i]);
        add_key(name);
    }
}

bool em_charset_usable(const char *charset)
{
    if (!charset || !*charset || strlen(charset) > NAME_MAX_LEN) return false;
    char key[NAME_MAX_LEN + 1];
    normalise(charset, key);
    for (size_t i = 0; i < n_keys; i++)
        if (!strcmp(key, keys[i])) return true;
    return false;
}

size_t em_charsets_usable(const char **names, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < n_usable && n < max; i++)
        names[n++] = usable[i];
    return n;
}

static bool name_char(char c)
{
    return g_ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':' || c == '+' ||
           c == '(' || c == ')';
}

/* The charset name at s (up to a delimiter), its length or 0. */
static size_t name_at(const char *s, const char *end, char delim)
{
    size_t n = 0;
    while (s + n < end && n <= NAME_MAX_LEN && name_char(s[n]))
        n++;
    if (!n || n > NAME_MAX_LEN || s + n >= end) return 0;
    /* An encoded word's charset may carry a language: =?utf-8*en?B?...?= */
    if (s[n] == '*' && delim == '?') return n;
    return s[n] == delim ? n : 0;
}

/* Checks the name at raw[off, off+n); an unusable one is recorded in
 * `bad` and overwritten in *copy (made on the first). */
static void check(const char *raw, size_t len, size_t off, size_t n, char **copy, json_t *bad)
{
    char name[NAME_MAX_LEN + 1];
    memcpy(name, raw + off, n);
    name[n] = 0;
    if (em_charset_usable(name)) return;
    if (!*copy) {
        *copy = g_malloc(len);
        memcpy(*copy, raw, len);
    }
    memset(*copy + off, 'x', n); /* "xxxxxxxx": no charset iconv knows */
    if (json_array_size(bad) < 8) {
        const char *problem;
        char *u = em_to_utf8(name, n, "UTF-8", &problem);
        json_array_append_new(bad, json_string(u));
        g_free(u);
    }
}

char *em_guard_charsets(const char *raw, size_t len, json_t *bad)
{
    char *copy = NULL;
    const char *end = raw + len;
    /* Encoded words: =?charset?B?...?= and =?charset?Q?...?= */
    for (const char *p = raw; (p = memchr(p, '=', (size_t)(end - p))) && p + 2 < end; p++) {
        if (p[1] != '?') continue;
        size_t n = name_at(p + 2, end, '?');
        if (n) check(raw, len, (size_t)(p + 2 - raw), n, &copy, bad);
    }
    /* RFC 2231 parameters: name*=charset'lang'value, name*0*=charset''... */
    for (const char *p = raw; (p = memchr(p, '*', (size_t)(end - p))) && p + 2 < end; p++) {
        if (p[1] != '=') continue;
        const char *v = p + 2;
        if (v < end && *v == '"') v++;
        size_t n = name_at(v, end, '\'');
        if (n) check(raw, len, (size_t)(v - raw), n, &copy, bad);
    }
    return copy;
}
