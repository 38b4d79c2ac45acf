/*
 * Fuzz target: what the HTTP layer does with a request it did not write:
 * the path made fit for JSON (bytes that are not UTF-8 replaced, as the
 * server does: the result must be a JSON string, and valid text must come
 * out unchanged), the router (path checks and matching against the real
 * route table), the time parameter, and JSON bodies of published events.
 * Input: "METHOD\nPATH\nTIME\nBODY".
 */
#include "../../sdk/ipc/b64.h"
#include "api/api.h"
#include "api/event_json.h"
#include "core/topic.h"
#include "core/utf8.h"
#include "core/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The OpenAPI document is embedded at build time; this target does not
 * serve it. */
const char ah_embed_openapi[] = "{}";
const size_t ah_embed_openapi_len = 2;

static const char *line(const uint8_t **p, const uint8_t *end, char *buf, size_t cap)
{
    size_t n = 0;
    while (*p < end && **p != '\n' && n < cap - 1)
        buf[n++] = (char)*(*p)++;
    if (*p < end && **p == '\n') (*p)++;
    buf[n] = 0;
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    char method[16], path[4096], when[64];
    line(&p, end, method, sizeof(method));
    line(&p, end, path, sizeof(path));
    line(&p, end, when, sizeof(when));
    char *clean = utf8_lossy(path, strlen(path));
    if (!clean) return 0;
    json_t *quoted = json_string(clean);
    if (!quoted) abort(); /* not fit for JSON after all */
    json_decref(quoted);
    if (ah_utf8_valid(path, strlen(path)) && strcmp(clean, path) != 0) abort(); /* valid, changed */
    snprintf(path, sizeof(path), "%s", clean);
    free(clean);
    size_t n;
    char rerr[256];
    const route *routes = api_routes(&n, rerr, sizeof(rerr));
    const route *rt;
    route_params params;
    char allow[128];
    if (router_match(routes, n, method, path, &rt, &params, allow, sizeof(allow)) == ROUTER_MATCH) {
        const char *topic = route_param(&params, "topic");
        if (topic) topic_valid(topic, true);
    }
    int64_t ms;
    ah_parse_time(when, &ms);
    json_error_t je;
    json_t *body = json_loadb((const char *)p, (size_t)(end - p),
                              JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (body) {
        bool array = json_is_array(body);
        size_t count = array ? json_array_size(body) : 1;
        for (size_t i = 0; i < count && i < 1000; i++) {
            bus_msg m;
            char field[64];
            const char *msg;
            api_event_from_json(array ? json_array_get(body, i) : body, i, array, "t.t", &m, field,
                                sizeof(field), &msg);
        }
        json_decref(body);
    }
    return 0;
}
