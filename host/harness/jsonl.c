/* jsonl.c - see jsonl.h. */
#include "jsonl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int jsonl_fail(char *err, size_t errlen, const char *path, int line, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(err, errlen, "%s:%d: %s", path, line, msg);
    else
        snprintf(err, errlen, "%s: %s", path, msg);
    return -1;
}

bool jsonl_only_keys(const json_t *o, const char *const *keys, const char **bad)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        bool ok = false;
        for (const char *const *p = keys; *p && !ok; p++)
            ok = !strcmp(*p, k);
        if (!ok) {
            *bad = k;
            return false;
        }
    }
    return true;
}
