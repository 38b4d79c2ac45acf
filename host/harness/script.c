#include "script.h"

#include "core/util.h"
#include "jsonl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void script_free(script *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) {
        json_decref(s->items[i].event);
        json_decref(s->items[i].args);
        free(s->items[i].action);
    }
    free(s->items);
    s->items = NULL;
    s->n = 0;
}

static bool may_receive(const manifest *m, const char *instance_id, const char *topic)
{
    char hooks[128];
    snprintf(hooks, sizeof(hooks), "hooks.%s", instance_id);
    if (json_object_get(m->json, "webhook") && !strcmp(topic, hooks)) return true;
    return manifest_subscribes(m, topic);
}

static int parse_event(const char *path, int line, const json_t *e, const manifest *m,
                       const char *instance_id, uint64_t offset, script_item *it, char *err,
                       size_t errlen)
{
    static const char *const keys[] = {"topic", "body",    "key",     "headers",
                                       "id",    "attempt", "time_ms", NULL};
    const char *bad;
    if (!json_is_object(e)) return jsonl_fail(err, errlen, path, line, "event: expected an object");
    if (!jsonl_only_keys(e, keys, &bad))
        return jsonl_fail(err, errlen, path, line, "event.%s: unknown field", bad);
    const char *topic = json_string_value(json_object_get(e, "topic"));
    if (!topic || !*topic)
        return jsonl_fail(err, errlen, path, line, "event.topic: required (a string)");
    if (!may_receive(m, instance_id, topic))
        return jsonl_fail(
            err, errlen, path, line,
            "event.topic: plugin %s does not subscribe to \"%s\" (manifest: subscribes)", m->name,
            topic);
    const json_t *key = json_object_get(e, "key");
    if (key && !json_is_string(key))
        return jsonl_fail(err, errlen, path, line, "event.key: expected a string");
    const json_t *headers = json_object_get(e, "headers");
    if (headers) {
        if (!json_is_object(headers))
            return jsonl_fail(err, errlen, path, line,
                              "event.headers: expected an object of strings");
        const char *hk;
        const json_t *hv;
        json_object_foreach((json_t *)headers, hk, hv)
        {
            if (!json_is_string(hv))
                return jsonl_fail(err, errlen, path, line, "event.headers.%s: expected a string",
                                  hk);
        }
    }
    const json_t *id = json_object_get(e, "id");
    if (id && !json_is_string(id))
        return jsonl_fail(err, errlen, path, line, "event.id: expected a string");
    const json_t *attempt = json_object_get(e, "attempt");
    if (attempt && (!json_is_integer(attempt) || json_integer_value(attempt) < 1 ||
                    json_integer_value(attempt) > 1000000))
        return jsonl_fail(err, errlen, path, line, "event.attempt: expected an integer >= 1");
    const json_t *tm = json_object_get(e, "time_ms");
    if (tm && !json_is_integer(tm))
        return jsonl_fail(err, errlen, path, line, "event.time_ms: expected an integer");

    char idbuf[32];
    snprintf(idbuf, sizeof(idbuf), "line-%d", line);
    const json_t *body = json_object_get(e, "body");
    json_t *msg = json_pack(
        "{s:s,s:s,s:I,s:I,s:I,s:o,s:O}", "topic", topic, "id", id ? json_string_value(id) : idbuf,
        "offset", (json_int_t)offset, "time_ms", tm ? json_integer_value(tm) : ah_now_ms(),
        "attempt", attempt ? json_integer_value(attempt) : (json_int_t)1, "headers",
        headers ? json_deep_copy(headers) : json_object(), "body", body ? body : json_null());
    if (!msg) return jsonl_fail(err, errlen, path, line, "out of memory");
    if (key) json_object_set(msg, "key", (json_t *)key);
    it->kind = SCRIPT_EVENT;
    it->event = msg;
    return 0;
}

static int parse_call(const char *path, int line, const json_t *c, const manifest *m,
                      script_item *it, char *err, size_t errlen)
{
    static const char *const keys[] = {"action", "args", "timeout_ms", NULL};
    const char *bad;
    if (!json_is_object(c)) return jsonl_fail(err, errlen, path, line, "call: expected an object");
    if (!jsonl_only_keys(c, keys, &bad))
        return jsonl_fail(err, errlen, path, line, "call.%s: unknown field", bad);
    const char *action = json_string_value(json_object_get(c, "action"));
    if (!action) return jsonl_fail(err, errlen, path, line, "call.action: required (a string)");
    if (!manifest_action(m, action))
        return jsonl_fail(err, errlen, path, line,
                          "call.action: \"%s\" is not an action of plugin %s (manifest: actions)",
                          action, m->name);
    const json_t *args = json_object_get(c, "args");
    if (args && !json_is_object(args))
        return jsonl_fail(err, errlen, path, line, "call.args: expected an object");
    const json_t *to = json_object_get(c, "timeout_ms");
    if (to && (!json_is_integer(to) || json_integer_value(to) < 1 ||
               json_integer_value(to) > SCRIPT_MAX_SLEEP_MS))
        return jsonl_fail(err, errlen, path, line, "call.timeout_ms: expected 1..%u",
                          SCRIPT_MAX_SLEEP_MS);
    it->kind = SCRIPT_CALL;
    it->action = strdup(action);
    it->args = args ? json_deep_copy(args) : json_object();
    it->timeout_ms = to ? (uint32_t)json_integer_value(to) : 0;
    if (!it->action || !it->args) return jsonl_fail(err, errlen, path, line, "out of memory");
    return 0;
}

static int parse_line(const char *path, int line, const char *text, size_t len, const manifest *m,
                      const char *instance_id, uint64_t offset, script_item *it, char *err,
                      size_t errlen)
{
    json_error_t je;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!o)
        return jsonl_fail(err, errlen, path, line, "invalid JSON: column %d: %s", je.column,
                          je.text);
    int rc = -1;
    static const char *const keys[] = {"event", "call", "sleep_ms", "async", NULL};
    const char *bad;
    const json_t *ev = json_object_get(o, "event"), *call = json_object_get(o, "call"),
                 *sl = json_object_get(o, "sleep_ms"), *async = json_object_get(o, "async");
    if (!json_is_object(o)) {
        jsonl_fail(err, errlen, path, line,
                   "expected an object with \"event\", \"call\" or \"sleep_ms\"");
    } else if (!jsonl_only_keys(o, keys, &bad)) {
        jsonl_fail(err, errlen, path, line,
                   "%s: unknown field (expected event, call, sleep_ms, async)", bad);
    } else if (!!ev + !!call + !!sl != 1) {
        jsonl_fail(err, errlen, path, line,
                   "exactly one of \"event\", \"call\", \"sleep_ms\" per line");
    } else if (async && !json_is_boolean(async)) {
        jsonl_fail(err, errlen, path, line, "async: expected true or false");
    } else if (ev) {
        rc = parse_event(path, line, ev, m, instance_id, offset, it, err, errlen);
    } else if (call) {
        rc = parse_call(path, line, call, m, it, err, errlen);
    } else if (!json_is_integer(sl) || json_integer_value(sl) < 0 ||
               json_integer_value(sl) > SCRIPT_MAX_SLEEP_MS) {
        jsonl_fail(err, errlen, path, line, "sleep_ms: expected 0..%u", SCRIPT_MAX_SLEEP_MS);
    } else {
        it->kind = SCRIPT_SLEEP;
        it->sleep_ms = (uint32_t)json_integer_value(sl);
        rc = 0;
    }
    it->line = line;
    it->async = json_is_true(async);
    json_decref(o);
    return rc;
}

int script_parse(const char *path, const char *text, size_t len, const manifest *m,
                 const char *instance_id, script *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (len > SCRIPT_MAX_BYTES)
        return jsonl_fail(err, errlen, path, 0, "larger than %u MiB", SCRIPT_MAX_BYTES >> 20);
    size_t cap = 0;
    uint64_t events = 0;
    int line = 0;
    size_t pos = 0, n;
    for (const char *start; (start = ah_next_line(text, len, &pos, &line, &n));) {
        if (out->n == SCRIPT_MAX_ITEMS) {
            script_free(out);
            return jsonl_fail(err, errlen, path, line, "more than %d items", SCRIPT_MAX_ITEMS);
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 64;
            script_item *nv = realloc(out->items, cap * sizeof(*nv));
            if (!nv) {
                script_free(out);
                return jsonl_fail(err, errlen, path, line, "out of memory");
            }
            out->items = nv;
        }
        script_item *it = &out->items[out->n];
        memset(it, 0, sizeof(*it));
        if (parse_line(path, line, start, n, m, instance_id, events + 1, it, err, errlen) < 0) {
            json_decref(it->event);
            json_decref(it->args);
            free(it->action);
            script_free(out);
            return -1;
        }
        if (it->kind == SCRIPT_EVENT) events++;
        out->n++;
    }
    return 0;
}

int script_load(const char *path, const manifest *m, const char *instance_id, script *out,
                char *err, size_t errlen)
{
    size_t len;
    char *text = ah_read_file(path, SCRIPT_MAX_BYTES, &len);
    if (!text) {
        memset(out, 0, sizeof(*out));
        return jsonl_fail(err, errlen, path, 0, "%s",
                          errno == EFBIG ? "larger than 16 MiB" : strerror(errno));
    }
    int rc = script_parse(path, text, len, m, instance_id, out, err, errlen);
    free(text);
    return rc;
}
