/* lang.c - picking a text's language, and plural forms. */
#include "engine/lang.h"

#include <agenthost/plugin.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static size_t base_len(const char *tag)
{
    return strcspn(tag, "-_");
}

bool lang_tag_valid(const char *tag)
{
    if (!tag) return false;
    size_t n = 0;
    while (tag[n] >= 'a' && tag[n] <= 'z')
        n++;
    if (n < 2 || n > 3) return false;
    if (!tag[n]) return true;
    const char *r = tag + n;
    return r[0] == '-' && r[1] >= 'A' && r[1] <= 'Z' && r[2] >= 'A' && r[2] <= 'Z' && !r[3];
}

bool lang_base_is(const char *tag, const char *base)
{
    if (!tag || !*tag) tag = "en";
    size_t n = base_len(tag);
    return n == strlen(base) && !strncasecmp(tag, base, n);
}

/* The member of obj for tag: exactly, then tag's base language, then any
 * tag of that base language. */
static const json_t *find(const json_t *obj, const char *tag)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v) if (!strcasecmp(key, tag)) return v;
    size_t n = base_len(tag);
    json_object_foreach((json_t *)obj, key,
                        v) if (strlen(key) == n && !strncasecmp(key, tag, n)) return v;
    json_object_foreach((json_t *)obj, key,
                        v) if (base_len(key) == n && !strncasecmp(key, tag, n)) return v;
    return NULL;
}

int lang_pick(const json_t *text, const char *want, const char *fallback, const char **out,
              size_t *len, bool *fell_back, char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    *fell_back = false;
    if (json_is_string(text)) {
        *out = json_string_value(text);
        *len = json_string_length(text);
        return 0;
    }
    if (!json_is_object(text)) {
        if (err) snprintf(err, errlen, "a text is a string or an object of language -> string");
        return AH_EINVAL;
    }
    bool wanted = want && *want;
    const char *from = want;
    const json_t *v = wanted ? find(text, want) : NULL;
    if (!v && fallback && *fallback) {
        v = find(text, fallback);
        from = fallback;
        *fell_back = wanted && v;
    }
    if (!v) {
        if (err)
            snprintf(err, errlen, "no text in \"%s\" nor in the default language \"%s\"",
                     wanted ? want : "", fallback ? fallback : "");
        return AH_ENOTFOUND;
    }
    if (!json_is_string(v)) {
        if (err) snprintf(err, errlen, "the text for \"%s\" is not a string", from);
        return AH_EINVAL;
    }
    *out = json_string_value(v);
    *len = json_string_length(v);
    return 0;
}

int lang_plural_index(const char *lang, double n)
{
    n = fabs(n);
    bool slavic = lang_base_is(lang, "ru") || lang_base_is(lang, "uk") || lang_base_is(lang, "be");
    if (!slavic) return n == 1 ? 0 : 1;
    if (n != floor(n)) return 1;
    int m100 = (int)fmod(n, 100), m10 = m100 % 10;
    if (m10 == 1 && m100 != 11) return 0;
    if (m10 >= 2 && m10 <= 4 && (m100 < 12 || m100 > 14)) return 1;
    return 2;
}

/* ---- the language of a first message -------------------------------------------------- */

static const char *const cyrillic_langs[] = {"ru", "uk", "be", "bg", "sr", "mk",
                                             "kk", "ky", "tg", "mn", NULL};
/* Written in neither Latin nor Cyrillic letters. */
static const char *const other_script_langs[] = {"zh", "ja", "ko", "ar", "he", "fa", "el", "hi",
                                                 "th", "ka", "hy", "ur", "bn", "ta", NULL};

static bool base_in(const char *tag, const char *const *set)
{
    for (size_t i = 0; set[i]; i++)
        if (lang_base_is(tag, set[i])) return true;
    return false;
}

/* The next code point of a UTF-8 string (0 at its end; a bad byte is
 * skipped as U+FFFD). */
static unsigned next_cp(const unsigned char **p)
{
    const unsigned char *s = *p;
    if (!*s) return 0;
    unsigned c = *s, n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : 3;
    unsigned cp = n == 0 ? c : c & (0x3F >> n);
    size_t i = 1;
    for (; i <= n && (s[i] & 0xC0) == 0x80; i++)
        cp = (cp << 6) | (s[i] & 0x3F);
    *p = s + i;
    return i == n + 1 ? cp : 0xFFFD;
}

const char *lang_detect(const char *text, const json_t *languages)
{
    size_t cyr = 0, lat = 0;
    bool ukrainian = false;
    const unsigned char *p = (const unsigned char *)(text ? text : "");
    for (unsigned cp; (cp = next_cp(&p)) != 0;) {
        if (cp >= 0x400 && cp <= 0x4FF) {
            cyr++;
            /* і ї є ґ (and their capitals): Ukrainian's own */
            ukrainian |= cp == 0x456 || cp == 0x457 || cp == 0x454 || cp == 0x491 || cp == 0x406 ||
                         cp == 0x407 || cp == 0x404 || cp == 0x490;
        } else if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') {
            lat++;
        } else if (cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7) {
            lat++;
        }
    }
    bool is_cyr = cyr >= 3 && cyr >= 2 * lat, is_lat = lat >= 3 && lat >= 2 * cyr;
    if (!is_cyr && !is_lat) return NULL;
    const char *only = NULL, *ru = NULL, *uk = NULL;
    size_t found = 0, i;
    const json_t *l;
    json_array_foreach(languages, i, l)
    {
        const char *tag = json_string_value(l);
        if (!tag) continue;
        bool cyr_lang = base_in(tag, cyrillic_langs);
        if (is_cyr ? !cyr_lang : cyr_lang || base_in(tag, other_script_langs)) continue;
        found++;
        only = tag;
        if (lang_base_is(tag, "ru") && !ru) ru = tag;
        if (lang_base_is(tag, "uk") && !uk) uk = tag;
    }
    if (found == 1) return only;
    if (is_cyr && found > 1) return ukrainian && uk ? uk : ru;
    return NULL;
}
