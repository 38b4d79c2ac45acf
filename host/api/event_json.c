#include "event_json.h"

#include <stdio.h>
#include <string.h>

int api_event_from_json(const json_t *e, size_t i, bool array, const char *topic, bus_msg *m,
                        char *field, size_t fieldlen, const char **message)
{
    field[0] = 0;
    if (!json_is_object(e)) {
        if (array) snprintf(field, fieldlen, "[%zu]", i);
        *message = "an event is an object: {\"body\": ..., \"key\": ..., \"headers\": {...}}";
        return -1;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)e, k, v)
    {
        bool is_str = !strcmp(k, "key") || !strcmp(k, "idempotency_key");
        bool known = is_str || !strcmp(k, "body") || !strcmp(k, "headers");
        bool typed = (!is_str || json_is_string(v)) && (strcmp(k, "headers") || json_is_object(v));
        if (!known || !typed) {
            if (array)
                snprintf(field, fieldlen, "[%zu].%.40s", i, k);
            else
                snprintf(field, fieldlen, "%.40s", k);
            *message = known ? "wrong type" : "unknown field (body, key, headers, idempotency_key)";
            return -1;
        }
    }
    if (!json_object_get(e, "body")) {
        snprintf(field, fieldlen, array ? "[%zu].body" : "body", i);
        *message = "required field missing";
        return -1;
    }
    m->topic = topic;
    m->body = json_object_get(e, "body");
    m->key = json_string_value(json_object_get(e, "key"));
    m->headers = json_object_get(e, "headers");
    m->idempotency_key = json_string_value(json_object_get(e, "idempotency_key"));
    return 0;
}
