#include "topic.h"

#include <string.h>

/* One pass over the name (it is checked on every publish): tokens of
 * [A-Za-z0-9_-] between dots; with wildcards, a token may be '*' alone or,
 * last, '>' alone. */
static bool check(const char *s, bool wildcards, bool allow_reserved)
{
    static const unsigned char tok[256] = {
        ['-'] = 1, ['_'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
        ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1,
        ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
        ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
        ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1,
        ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
        ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
        ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
    };
    const unsigned char *p = (const unsigned char *)s;
    if (*p == '$') {
        if (!allow_reserved) return false;
        p++;
    }
    size_t toklen = 0; /* of the token being read */
    for (;; p++) {
        if ((size_t)((const char *)p - s) > TOPIC_MAX) return false;
        unsigned char c = *p;
        if (tok[c]) {
            toklen++;
        } else if (c == '.' || c == 0) {
            if (toklen == 0) return false;
            if (c == 0) return true;
            toklen = 0;
        } else if (wildcards && (c == '*' || c == '>') && toklen == 0 &&
                   (p[1] == '.' || p[1] == 0)) {
            if (c == '>' && p[1]) return false; /* '>' only as the last token */
            toklen = 1;
        } else {
            return false;
        }
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
