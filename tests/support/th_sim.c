/*
 * th_sim.c - simulations in tests (th_sim.h).
 */
#include "th_sim.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

json_t *th_sim_messages(const char *first, ...)
{
    json_t *a = json_array();
    va_list ap;
    va_start(ap, first);
    for (const char *m = first; m; m = va_arg(ap, const char *)) {
        if (!strncmp(m, "!advance ", 9))
            json_array_append_new(a, json_pack("{s:I}", "advance_ms", atoll(m + 9)));
        else if (!strcmp(m, "!resume"))
            json_array_append_new(a, json_pack("{s:b}", "resume", 1));
        else
            json_array_append_new(a, json_pack("{s:s}", "text", m));
    }
    va_end(ap);
    return a;
}

const char *th_sim_path(json_t *o, size_t i)
{
    static char buf[1000];
    buf[0] = 0;
    size_t k;
    json_t *e;
    json_array_foreach(json_object_get(json_array_get(json_object_get(o, "turns"), i), "path"), k,
                       e)
    {
        if (buf[0]) strncat(buf, " ", sizeof(buf) - strlen(buf) - 1);
        strncat(buf, json_string_value(json_object_get(e, "step")), sizeof(buf) - strlen(buf) - 1);
    }
    return buf;
}
