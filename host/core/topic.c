#include "topic.h"

#include <string.h>

static bool token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static bool check(const char *s, bool wildcards, bool allow_reserved)
{
    size_t n = strlen(s);
    if (n == 0 || n > TOPIC_MAX) return false;
    const char *p = s;
    if (*p == '$') {
        if (!allow_reserved) return false;
        p++;
    }
    for (;;) {
        const char *end = strchr(p, '.');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0) return false;
        if (wildcards && len == 1 && (*p == '*' || *p == '>')) {
            if (*p == '>' && end) return false; /* '>' only as the last token */
        } else {
            for (size_t i = 0; i < len; i++)
                if (!token_char(p[i])) return false;
        }
        if (!end) return true;
        p = end + 1;
    }
}

bool topic_valid(const char *topic, bool allow_reserved)
{
    return topic && check(topic, false, allow_reserved);
}

bool topic_pattern_valid(const char *pattern)
{
    return pattern && check(pattern, true, true);
}

bool topic_matches(const char *pattern, const char *topic)
{
    const char *p = pattern, *t = topic;
    for (;;) {
        const char *pe = strchr(p, '.'), *te = strchr(t, '.');
        size_t pl = pe ? (size_t)(pe - p) : strlen(p);
        size_t tl = te ? (size_t)(te - t) : strlen(t);
        if (pl == 1 && *p == '>') return tl > 0;
        if (!(pl == 1 && *p == '*') && (pl != tl || memcmp(p, t, pl) != 0)) return false;
        if (!pe || !te) return !pe && !te;
        p = pe + 1;
        t = te + 1;
    }
}
