/*
 * Fuzz target: the template engine (host/engine/template.h). The input is
 * a template; it is compiled, its paths listed, and, when it compiles,
 * rendered against a fixed context in strict and lenient mode, Russian and
 * English, two time zones and a small output limit. Beyond the sanitizers,
 * it traps when a call breaks its promises: an error without its code or
 * message, an output over the limit, or output that is not UTF-8 (the
 * template and every string of the context are).
 */
#include "engine/template.h"

#include <agenthost/plugin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char CONTEXT[] =
    "{\"contact\": {\"name\": \"Анна\", \"first_name\": \"\", \"vip\": true, \"age\": 31,"
    "  \"tags\": [\"new\", \"опт\", \"vip\"], \"phone\": null},"
    " \"variables\": {\"items\": [{\"title\": \"Чай зелёный\", \"qty\": 2, \"price\": 149.5},"
    "  {\"title\": \"Кофе 😀\", \"qty\": 1, \"price\": 300}, {\"title\": \"x\", \"qty\": 21}],"
    "  \"total\": 599.5, \"when\": \"2026-03-05T21:30:07.250+03:00\", \"day\": \"2026-03-05\","
    "  \"ms\": 1772746207123, \"grid\": [[1, 2, 3], [4, 5, 6], [7, 8, 9]],"
    "  \"long\": \"\\\\_*[]()~`>#+-=|{}.!<>&\\\"' aé😀ж\", \"empty\": [], \"obj\": {}},"
    " \"vars\": {\"x\": \"1.5\", \"n\": -3, \"z\": 0, \"s\": \"  padded  \"},"
    " \"big\": [0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,"
    "  29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,"
    "  58,59,60,61,62,63,64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,"
    "  87,88,89,90,91,92,93,94,95,96,97,98,99]}";

static json_t *g_ctx;

/* Undefined behaviour is a failure here, not a line in the log: the
 * sanitizer's checks are built recoverable, so stop at the first report. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
    return "halt_on_error=1:print_stacktrace=1";
}

static void on_missing(void *ud, const char *path, const tmpl_pos *pos)
{
    if (!path || pos->line < 1 || pos->column < 1) __builtin_trap();
    ++*(int *)ud;
}

static int on_path(void *ud, const char *path, const tmpl_pos *pos)
{
    if (!*path || pos->line < 1) __builtin_trap();
    ++*(int *)ud;
    return 0;
}

static void check_error(int rc, const tmpl_error *err)
{
    if (rc == 0) return;
    if (err->code != rc || !err->message[0]) __builtin_trap();
    if (rc != AH_EINVAL && rc != AH_ETOOBIG && rc != AH_ENOTFOUND && rc != AH_ENOMEM)
        __builtin_trap();
}

static void render(const tmpl *t, const tmpl_opts *o)
{
    char *out = (char *)1;
    size_t len = 1;
    tmpl_error err;
    int rc = tmpl_render(t, g_ctx, o, &out, &len, &err);
    check_error(rc, &err);
    if (rc != 0) {
        if (out || len) __builtin_trap();
        return;
    }
    size_t max = o->max_output ? o->max_output : TMPL_MAX_OUTPUT;
    if (len > max || strlen(out) != len) __builtin_trap();
    json_t *utf8 = json_stringn(out, len); /* NULL when not UTF-8 */
    if (!utf8) __builtin_trap();
    json_decref(utf8);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_ctx && !(g_ctx = json_loads(CONTEXT, 0, NULL))) __builtin_trap();
    tmpl *t = NULL;
    tmpl_error err;
    int rc = tmpl_compile((const char *)data, size, &t, &err);
    check_error(rc, &err);
    if (rc != 0) {
        if (t || (size_t)err.pos.offset > size) __builtin_trap();
        return 0;
    }
    int paths = 0, missing = 0;
    if (tmpl_paths(t, on_path, &paths) != 0) __builtin_trap();
    tmpl_opts lenient = {.lang = "ru", .tz = "+03:00", .on_missing = on_missing, .ud = &missing};
    tmpl_opts strict = {.lang = "en-US", .strict = true, .max_output = 512};
    render(t, &lenient);
    render(t, &strict);
    tmpl_free(t);
    return 0;
}
