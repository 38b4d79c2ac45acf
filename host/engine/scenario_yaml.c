/*
 * scenario_yaml.c - scenarios in YAML (libyaml's events), to and from the
 * canonical JSON. The one rule both directions share is how a plain
 * scalar reads (resolve_plain): export quotes every string that would
 * read back as something else.
 */
#include "engine/scenario_yaml.h"

#include <agenthost/plugin.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define TAG_PREFIX "tag:yaml.org,2002:"

/* ---- how a plain scalar reads (YAML 1.2 core schema) ------------------------------- */

typedef enum plain_kind { P_STRING, P_NULL, P_BOOL, P_INT, P_FLOAT } plain_kind;

static bool all_of(const char *s, const char *set)
{
    return *s && strspn(s, set) == strlen(s);
}

static bool one_of(const char *s, const char *const *words)
{
    for (size_t i = 0; words[i]; i++)
        if (!strcmp(s, words[i])) return true;
    return false;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool float_form(const char *s)
{
    if (*s == '-' || *s == '+') s++;
    size_t intd = strspn(s, "0123456789");
    s += intd;
    size_t fracd = 0;
    if (*s == '.') {
        s++;
        fracd = strspn(s, "0123456789");
        s += fracd;
    }
    if (!intd && !fracd) return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+') s++;
        size_t expd = strspn(s, "0123456789");
        if (!expd) return false;
        s += expd;
    }
    return !*s;
}

static plain_kind resolve_plain(const char *s, size_t len)
{
    static const char *const nulls[] = {"~", "null", "Null", "NULL", NULL};
    static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE", NULL};
    static const char *const special[] = {".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf",
                                          "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
                                          ".NaN",  ".NAN",  NULL};
    if (len == 0) return P_NULL;
    if (strlen(s) != len) return P_STRING; /* a NUL inside */
    if (one_of(s, nulls)) return P_NULL;
    if (one_of(s, bools)) return P_BOOL;
    const char *d = (*s == '-' || *s == '+') ? s + 1 : s;
    if (all_of(d, "0123456789")) return P_INT;
    if (!strncmp(s, "0o", 2) && all_of(s + 2, "01234567")) return P_INT;
    if (!strncmp(s, "0x", 2) && all_of(s + 2, "0123456789abcdefABCDEF")) return P_INT;
    if (float_form(s) || one_of(s, special)) return P_FLOAT;
    return P_STRING;
}

/* What YAML 1.1 readers (PyYAML, many others) would not read as a string:
 * y/n, yes/no, on/off, and anything starting like a number (1_000, 1:30,
 * 0b101). Quoting these too keeps exported files portable. */
static bool yaml11_special(const char *s)
{
    static const char *const words[] = {"y",   "Y",   "yes", "Yes", "YES", "n",  "N",
                                        "no",  "No",  "NO",  "on",  "On",  "ON", "off",
                                        "Off", "OFF", "<<",  "=",   NULL};
    if (one_of(s, words)) return true;
    const char *d = (*s == '-' || *s == '+') ? s + 1 : s;
    if (*d == '.') d++;
    return *d >= '0' && *d <= '9';
}

/* ---- import -------------------------------------------------------------------------- */

typedef struct anchor {
    char *name;
    json_t *value;
    size_t size;
} anchor;

typedef struct reader {
    yaml_parser_t p;
    anchor *anchors;
    size_t nanchors, cap;
    size_t budget; /* used of SCENARIO_YAML_MAX_EXPANDED */
    int rc;
    char *err;
    size_t errlen;
} reader;

static json_t *fail(reader *r, int rc, const yaml_mark_t *m, const char *fmt, const char *arg)
{
    if (r->rc) return NULL;
    char msg[200];
    snprintf(msg, sizeof(msg), fmt, arg ? arg : "");
    if (m)
        snprintf(r->err, r->errlen, "%zu:%zu: %s", m->line + 1, m->column + 1, msg);
    else
        snprintf(r->err, r->errlen, "%s", msg);
    r->rc = rc;
    return NULL;
}

static bool spend(reader *r, size_t n, const yaml_mark_t *m)
{
    if (n > SCENARIO_YAML_MAX_EXPANDED - r->budget) {
        fail(r, AH_ETOOBIG, m, "the document expands past %s (values and string bytes)", "8 MiB");
        return false;
    }
    r->budget += n;
    return true;
}

static json_t *typed_scalar(reader *r, const yaml_event_t *ev, plain_kind want)
{
    const char *s = (const char *)ev->data.scalar.value;
    const yaml_mark_t *m = &ev->start_mark;
    char *end;
    errno = 0;
    switch (want) {
    case P_NULL:
        return json_null();
    case P_BOOL:
        return json_boolean(s[0] == 't' || s[0] == 'T');
    case P_INT: {
        long long v;
        if (!strncmp(s, "0o", 2))
            v = strtoll(s + 2, &end, 8);
        else if (!strncmp(s, "0x", 2))
            v = strtoll(s + 2, &end, 16);
        else
            v = strtoll(s, &end, 10);
        if (errno || *end) return fail(r, AH_EINVAL, m, "integer %s is out of range", s);
        return json_integer(v);
    }
    case P_FLOAT: {
        double d = strtod(s, &end);
        if (*end || !isfinite(d) || errno == ERANGE)
            return fail(r, AH_EINVAL, m, "%s: JSON has no such number", s);
        return json_real(d);
    }
    default:
        return NULL;
    }
}

static json_t *scalar(reader *r, const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    const yaml_mark_t *m = &ev->start_mark;
    if (!spend(r, len + 1, m)) return NULL;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    plain_kind k = P_STRING;
    if (tag && strcmp(tag, "!")) {
        static const char *const names[] = {"str", "null", "bool", "int", "float"};
        bool known = false;
        for (int i = 0; i < 5; i++) {
            if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) ||
                strcmp(tag + strlen(TAG_PREFIX), names[i]))
                continue;
            k = (plain_kind)i;
            known = true;
        }
        if (!known) return fail(r, AH_EINVAL, m, "unsupported tag %s", tag);
        if (k != P_STRING && resolve_plain(s, len) != k &&
            !(k == P_FLOAT && resolve_plain(s, len) == P_INT))
            return fail(r, AH_EINVAL, m, "%s does not read as its tag says", s);
    } else if (plain && !tag) {
        k = resolve_plain(s, len);
    }
    if (k == P_STRING) {
        if (memchr(s, 0, len)) return fail(r, AH_EINVAL, m, "a string holds a NUL character%s", "");
        json_t *v = json_stringn(s, len);
        return v ? v : fail(r, AH_EINVAL, m, "a string is not UTF-8%s", "");
    }
    json_t *v = typed_scalar(r, ev, k);
    if (v && json_is_integer(v) && k == P_FLOAT) {
        json_t *d = json_real((double)json_integer_value(v));
        json_decref(v);
        v = d;
    }
    return v;
}

static bool remember(reader *r, const yaml_char_t *name, const json_t *v, size_t size)
{
    if (!name) return true;
    if (r->nanchors == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        anchor *a = realloc(r->anchors, cap * sizeof(*a));
        if (!a) {
            fail(r, AH_ENOMEM, NULL, "out of memory%s", "");
            return false;
        }
        r->anchors = a;
        r->cap = cap;
    }
    char *n = strdup((const char *)name);
    if (!n) {
        fail(r, AH_ENOMEM, NULL, "out of memory%s", "");
        return false;
    }
    /* A later anchor of the same name hides an earlier one. */
    r->anchors[r->nanchors++] = (anchor){n, json_incref((json_t *)v), size};
    return true;
}

static json_t *alias(reader *r, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    for (size_t i = r->nanchors; i-- > 0;) {
        if (strcmp(r->anchors[i].name, name)) continue;
        if (!spend(r, r->anchors[i].size, &ev->start_mark)) return NULL;
        json_t *v = json_deep_copy(r->anchors[i].value);
        return v ? v : fail(r, AH_ENOMEM, NULL, "out of memory%s", "");
    }
    return fail(r, AH_EINVAL, &ev->start_mark, "unknown alias *%s", name);
}

static json_t *node(reader *r, yaml_event_t *ev, int depth);

/* The next event into ev: false (with the error) when the parser fails. */
static bool next_event(reader *r, yaml_event_t *ev)
{
    if (yaml_parser_parse(&r->p, ev)) return true;
    fail(r, r->p.error == YAML_MEMORY_ERROR ? AH_ENOMEM : AH_EINVAL, &r->p.problem_mark, "%s",
         r->p.problem ? r->p.problem : "not YAML");
    return false;
}

static json_t *sequence(reader *r, const yaml_event_t *start, int depth)
{
    json_t *a = json_array();
    if (!a) return fail(r, AH_ENOMEM, NULL, "out of memory%s", "");
    size_t before = r->budget;
    for (;;) {
        yaml_event_t ev;
        if (!next_event(r, &ev)) break;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            if (!remember(r, start->data.sequence_start.anchor, a, r->budget - before + 1)) break;
            return a;
        }
        json_t *v = node(r, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (!v || json_array_append_new(a, v)) {
            if (v) fail(r, AH_ENOMEM, NULL, "out of memory%s", "");
            break;
        }
    }
    json_decref(a);
    return NULL;
}

static json_t *mapping(reader *r, const yaml_event_t *start, int depth)
{
    json_t *o = json_object();
    if (!o) return fail(r, AH_ENOMEM, NULL, "out of memory%s", "");
    size_t before = r->budget;
    for (;;) {
        yaml_event_t ev;
        if (!next_event(r, &ev)) break;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            if (!remember(r, start->data.mapping_start.anchor, o, r->budget - before + 1)) break;
            return o;
        }
        if (ev.type != YAML_SCALAR_EVENT) {
            fail(r, AH_EINVAL, &ev.start_mark, "a key is a string%s",
                 ev.type == YAML_ALIAS_EVENT ? " (not an alias)" : "");
            yaml_event_delete(&ev);
            break;
        }
        const char *key = (const char *)ev.data.scalar.value;
        json_t *k = NULL;
        if (strlen(key) != ev.data.scalar.length)
            fail(r, AH_EINVAL, &ev.start_mark, "a key holds a NUL character%s", "");
        else if (!(k = json_stringn(key, ev.data.scalar.length)))
            fail(r, AH_EINVAL, &ev.start_mark, "a key is not UTF-8%s", "");
        else if (json_object_get(o, key))
            fail(r, AH_EINVAL, &ev.start_mark, "duplicate key \"%s\"", key);
        else
            spend(r, ev.data.scalar.length + 1, &ev.start_mark);
        yaml_event_delete(&ev);
        json_t *v = NULL;
        if (!r->rc && next_event(r, &ev)) {
            v = node(r, &ev, depth + 1);
            yaml_event_delete(&ev);
        }
        if (!v || json_object_set_new(o, json_string_value(k), v)) {
            if (v) fail(r, AH_ENOMEM, NULL, "out of memory%s", "");
            json_decref(k);
            break;
        }
        json_decref(k);
    }
    json_decref(o);
    return NULL;
}

static json_t *node(reader *r, yaml_event_t *ev, int depth)
{
    if (r->rc) return NULL;
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        json_t *v = scalar(r, ev);
        if (v && !remember(r, ev->data.scalar.anchor, v, ev->data.scalar.length + 1)) {
            json_decref(v);
            return NULL;
        }
        return v;
    }
    case YAML_ALIAS_EVENT:
        return alias(r, ev);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        const char *tag =
            (const char *)(ev->type == YAML_SEQUENCE_START_EVENT ? ev->data.sequence_start.tag
                                                                 : ev->data.mapping_start.tag);
        const char *want =
            ev->type == YAML_SEQUENCE_START_EVENT ? TAG_PREFIX "seq" : TAG_PREFIX "map";
        if (tag && strcmp(tag, "!") && strcmp(tag, want))
            return fail(r, AH_EINVAL, &ev->start_mark, "unsupported tag %s", tag);
        if (depth >= SCENARIO_YAML_MAX_DEPTH)
            return fail(r, AH_ETOOBIG, &ev->start_mark, "nested deeper than %s levels", "128");
        if (!spend(r, 1, &ev->start_mark)) return NULL;
        return ev->type == YAML_SEQUENCE_START_EVENT ? sequence(r, ev, depth)
                                                     : mapping(r, ev, depth);
    }
    default:
        return fail(r, AH_EINVAL, &ev->start_mark, "unexpected YAML%s", "");
    }
}

/* Stream start, document start, the node, document end, stream end. */
static json_t *document(reader *r)
{
    yaml_event_t ev;
    json_t *root = NULL;
    int docs = 0;
    while (!r->rc && next_event(r, &ev)) {
        yaml_event_type_t t = ev.type;
        if (t == YAML_DOCUMENT_START_EVENT && ++docs > 1)
            fail(r, AH_EINVAL, &ev.start_mark, "more than one YAML document%s", "");
        else if (t == YAML_SCALAR_EVENT || t == YAML_SEQUENCE_START_EVENT ||
                 t == YAML_MAPPING_START_EVENT || t == YAML_ALIAS_EVENT)
            root = node(r, &ev, 0);
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT) break;
    }
    if (!r->rc && !root) fail(r, AH_EINVAL, NULL, "no YAML document%s", "");
    if (r->rc) {
        json_decref(root);
        return NULL;
    }
    return root;
}

int scenario_yaml_import(const char *text, size_t len, json_t **out, char *err, size_t errlen)
{
    char dummy[8];
    reader r = {.err = err ? err : dummy, .errlen = err ? errlen : sizeof(dummy)};
    r.err[0] = 0;
    *out = NULL;
    if (!yaml_parser_initialize(&r.p)) return AH_ENOMEM;
    yaml_parser_set_input_string(&r.p, (const unsigned char *)text, len);
    *out = document(&r);
    yaml_parser_delete(&r.p);
    for (size_t i = 0; i < r.nanchors; i++) {
        free(r.anchors[i].name);
        json_decref(r.anchors[i].value);
    }
    free(r.anchors);
    return r.rc;
}

/* ---- export -------------------------------------------------------------------------- */

typedef struct writer {
    yaml_emitter_t e;
    char *buf;
    size_t len, cap;
    bool nomem;
} writer;

static int on_write(void *ud, unsigned char *data, size_t n)
{
    writer *w = ud;
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (w->len + n + 1 > cap)
            cap *= 2;
        char *b = realloc(w->buf, cap);
        if (!b) {
            w->nomem = true;
            return 0;
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, data, n);
    w->len += n;
    w->buf[w->len] = 0;
    return 1;
}

static int emit(writer *w, yaml_event_t *ev, int ok)
{
    if (!ok) return AH_ENOMEM;
    return yaml_emitter_emit(&w->e, ev) ? 0 : w->nomem ? AH_ENOMEM : AH_EINVAL;
}

static int emit_plain(writer *w, const char *text)
{
    yaml_event_t ev;
    return emit(w, &ev,
                yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text,
                                             (int)strlen(text), 1, 0, YAML_PLAIN_SCALAR_STYLE));
}

/* Line breaks other than \n (\r, U+0085, U+2028, U+2029) read back as \n
 * in a block or a plain scalar: only a double-quoted one keeps them. */
static bool other_breaks(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r') return true;
        if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] == 0x85) return true;
        if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
            ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9))
            return true;
    }
    return false;
}

static int emit_string(writer *w, const char *s, size_t n, bool key)
{
    yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;
    if (other_breaks(s, n))
        style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    else if (memchr(s, '\n', n))
        style = key ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_LITERAL_SCALAR_STYLE;
    /* Plain only when it reads back as this string, in YAML 1.1 too. */
    int plain = resolve_plain(s, n) == P_STRING && !yaml11_special(s);
    yaml_event_t ev;
    return emit(
        w, &ev,
        yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)n, plain, 1, style));
}

/* The fewest digits that read back as d, with a "." or an exponent. */
static void format_real(double d, char *out, size_t n)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, d);
        if (strtod(out, NULL) == d) break;
    }
    if (!strpbrk(out, ".eE")) strncat(out, ".0", n - strlen(out) - 1);
}

static int emit_value(writer *w, const json_t *v, int depth);

static int emit_container(writer *w, const json_t *v, int depth)
{
    if (depth >= SCENARIO_YAML_MAX_DEPTH) return AH_ETOOBIG;
    yaml_event_t ev;
    int rc;
    bool obj = json_is_object(v);
    bool empty = obj ? json_object_size(v) == 0 : json_array_size(v) == 0;
    if (obj)
        rc = emit(w, &ev,
                  yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                      empty ? YAML_FLOW_MAPPING_STYLE
                                                            : YAML_BLOCK_MAPPING_STYLE));
    else
        rc = emit(w, &ev,
                  yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                       empty ? YAML_FLOW_SEQUENCE_STYLE
                                                             : YAML_BLOCK_SEQUENCE_STYLE));
    if (obj) {
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            if (!rc) rc = emit_string(w, k, strlen(k), true);
            if (!rc) rc = emit_value(w, m, depth + 1);
        }
    } else {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m) if (!rc) rc = emit_value(w, m, depth + 1);
    }
    if (rc) return rc;
    return obj ? emit(w, &ev, yaml_mapping_end_event_initialize(&ev))
               : emit(w, &ev, yaml_sequence_end_event_initialize(&ev));
}

static int emit_value(writer *w, const json_t *v, int depth)
{
    char num[40];
    switch (json_typeof(v)) {
    case JSON_OBJECT:
    case JSON_ARRAY:
        return emit_container(w, v, depth);
    case JSON_STRING:
        return emit_string(w, json_string_value(v), json_string_length(v), false);
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        return emit_plain(w, num);
    case JSON_REAL:
        format_real(json_real_value(v), num, sizeof(num));
        return emit_plain(w, num);
    case JSON_TRUE:
        return emit_plain(w, "true");
    case JSON_FALSE:
        return emit_plain(w, "false");
    default:
        return emit_plain(w, "null");
    }
}

int scenario_yaml_export(const json_t *v, char **out, size_t *len)
{
    *out = NULL;
    if (len) *len = 0;
    if (!v) return AH_EINVAL;
    writer w = {0};
    if (!yaml_emitter_initialize(&w.e)) return AH_ENOMEM;
    yaml_emitter_set_output(&w.e, on_write, &w);
    yaml_emitter_set_unicode(&w.e, 1);
    yaml_emitter_set_width(&w.e, -1);
    yaml_emitter_set_indent(&w.e, 2);
    yaml_emitter_set_break(&w.e, YAML_LN_BREAK);
    yaml_event_t ev;
    int rc = emit(&w, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    if (!rc) rc = emit(&w, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
    if (!rc) rc = emit_value(&w, v, 0);
    if (!rc) rc = emit(&w, &ev, yaml_document_end_event_initialize(&ev, 1));
    if (!rc) rc = emit(&w, &ev, yaml_stream_end_event_initialize(&ev));
    if (!rc && !yaml_emitter_flush(&w.e)) rc = w.nomem ? AH_ENOMEM : AH_EINVAL;
    yaml_emitter_delete(&w.e);
    if (!rc && !w.buf) rc = AH_ENOMEM;
    if (rc) {
        free(w.buf);
        return rc;
    }
    *out = w.buf;
    if (len) *len = w.len;
    return 0;
}
