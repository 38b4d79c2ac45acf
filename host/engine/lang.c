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
