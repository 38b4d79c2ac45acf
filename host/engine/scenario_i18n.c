/*
 * scenario_i18n.c - texts for translators (scenario_i18n.h).
 */
#include "scenario_i18n.h"
#include "lang.h"
#include "scenario.h"

#include <agenthost/plugin.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The scenario's texts: path -> text (an object, in order), or NULL. */
static json_t *texts_by_path(const json_t *content)
{
    json_t *list = json_array(), *by = json_object();
    if (!list || !by || scenario_texts(content, list) != 0) {
        json_decref(list);
        json_decref(by);
        return NULL;
    }
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t)
        json_object_set(by, str_of(t, "path"), json_object_get(t, "text"));
    json_decref(list);
    return by;
}

static const json_t *own_languages(const json_t *content, const json_t *languages)
{
    return languages ? languages : json_object_get(content, "languages");
}

json_t *i18n_table(const json_t *content, const json_t *languages)
{
    const char *def = str_of(content, "default_language");
    json_t *by = texts_by_path(content);
    json_t *langs = json_deep_copy(own_languages(content, languages));
    json_t *rows = json_array();
    json_t *out = json_pack("{s:s?,s:o,s:o}", "default_language", def, "languages",
                            langs ? langs : json_array(), "texts", rows);
    if (!by || !out) {
        json_decref(by);
        json_decref(out);
        return NULL;
    }
    const char *path;
    json_t *text;
    json_object_foreach(by, path, text)
    {
        json_t *row = json_pack("{s:s}", "path", path);
        size_t i;
        json_t *l;
        if (json_is_string(text)) {
            json_object_set_new(row, "shared", json_true());
            if (def) json_object_set(row, def, text);
        } else {
            json_array_foreach(json_object_get(out, "languages"), i, l)
            {
                const json_t *v = json_object_get(text, json_string_value(l));
                json_object_set_new(row, json_string_value(l),
                                    v ? json_incref((json_t *)v) : json_null());
            }
        }
        json_array_append_new(rows, row);
    }
    json_decref(by);
    return out;
}

/* ---- CSV ------------------------------------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t n, cap;
    bool oom;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void put_field(buf *b, const char *s, bool first)
{
    if (!first) put(b, ",", 1);
    if (!s) return;
    if (!strpbrk(s, ",\"\r\n")) {
        put(b, s, strlen(s));
        return;
    }
    put(b, "\"", 1);
    for (const char *q; (q = strchr(s, '"')) != NULL; s = q + 1) {
        put(b, s, (size_t)(q - s));
        put(b, "\"\"", 2);
    }
    put(b, s, strlen(s));
    put(b, "\"", 1);
}

char *i18n_csv(const json_t *table)
{
    buf b = {0};
    const json_t *langs = json_object_get(table, "languages");
    const char *def = str_of(table, "default_language");
    size_t i, j;
    json_t *l, *row;
    put_field(&b, "path", true);
    json_array_foreach(langs, i, l) put_field(&b, json_string_value(l), false);
    put(&b, "\r\n", 2);
    json_array_foreach(json_object_get(table, "texts"), j, row)
    {
        put_field(&b, str_of(row, "path"), true);
        json_array_foreach(langs, i, l)
        {
            const char *lang = json_string_value(l);
            bool shared = json_is_true(json_object_get(row, "shared"));
            put_field(&b, shared && def && strcmp(lang, def) ? NULL : str_of(row, lang), false);
        }
        put(&b, "\r\n", 2);
    }
    if (b.oom || !b.p) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* One CSV record from *pos: its fields appended to rec (strings). 1 when a
 * record was read, 0 at the end, -1 with err. */
static int read_record(const char *s, size_t len, size_t *pos, json_t *rec, size_t line, char *err,
                       size_t errlen)
{
    size_t i = *pos;
    if (i >= len) return 0;
    buf f = {0};
    for (;;) {
        f.n = 0;
        put(&f, "", 0);
        if (i < len && s[i] == '"') {
            for (i++;; i++) {
                if (i >= len) {
                    snprintf(err, errlen, "line %zu: a quoted field is not closed", line);
                    free(f.p);
                    return -1;
                }
                if (s[i] == '"') {
                    if (i + 1 < len && s[i + 1] == '"') {
                        put(&f, "\"", 1);
                        i++;
                        continue;
                    }
                    i++;
                    break;
                }
                put(&f, s + i, 1);
            }
            if (i < len && s[i] != ',' && s[i] != '\r' && s[i] != '\n') {
                snprintf(err, errlen, "line %zu: text after a closing quote", line);
                free(f.p);
                return -1;
            }
        } else {
            size_t start = i;
            while (i < len && s[i] != ',' && s[i] != '\r' && s[i] != '\n') {
                if (s[i] == '"') {
                    snprintf(err, errlen, "line %zu: a quote inside an unquoted field", line);
                    free(f.p);
                    return -1;
                }
                i++;
            }
            put(&f, s + start, i - start);
        }
        if (f.oom || json_array_append_new(rec, json_string(f.p)) != 0) {
            free(f.p);
            snprintf(err, errlen, "line %zu: not UTF-8, or out of memory", line);
            return -1;
        }
        if (i < len && s[i] == ',') {
            i++;
            continue;
        }
        if (i < len && s[i] == '\r') i++;
        if (i < len && s[i] == '\n') i++;
        break;
    }
    free(f.p);
    *pos = i;
    return 1;
}

int i18n_from_csv(const char *csv, size_t len, json_t **table, char *err, size_t errlen)
{
    *table = NULL;
    if (len > I18N_CSV_MAX_BYTES) {
        snprintf(err, errlen, "the CSV is over %u bytes", I18N_CSV_MAX_BYTES);
        return AH_ETOOBIG;
    }
    size_t pos = len >= 3 && !memcmp(csv, "\xEF\xBB\xBF", 3) ? 3 : 0;
    json_t *head = json_array(), *langs = json_array(), *rows = json_array();
    int rc = AH_EINVAL;
    size_t line = 1;
    if (!head || !langs || !rows) {
        rc = AH_ENOMEM;
        goto out;
    }
    if (read_record(csv, len, &pos, head, line, err, errlen) != 1) {
        if (pos >= len) snprintf(err, errlen, "line 1: no header (path,<language>,...)");
        goto out;
    }
    size_t ncol = json_array_size(head);
    if (strcmp(json_string_value(json_array_get(head, 0)), "path") != 0 || ncol < 2 ||
        ncol > I18N_MAX_LANGUAGES + 1) {
        snprintf(err, errlen, "line 1: the header is path, then 1 to %d language tags",
                 I18N_MAX_LANGUAGES);
        goto out;
    }
    for (size_t c = 1; c < ncol; c++) {
        const char *tag = json_string_value(json_array_get(head, c));
        if (!lang_tag_valid(tag)) {
            snprintf(err, errlen, "line 1: column %zu: \"%.40s\" is not a language tag", c + 1,
                     tag);
            goto out;
        }
        json_array_append_new(langs, json_string(tag));
    }
    for (;;) {
        line++;
        json_t *rec = json_array();
        int r = rec ? read_record(csv, len, &pos, rec, line, err, errlen) : -1;
        if (r <= 0) {
            json_decref(rec);
            if (r < 0) goto out;
            break;
        }
        if (json_array_size(rec) == 1 && !json_string_length(json_array_get(rec, 0))) {
            json_decref(rec); /* a blank line */
            continue;
        }
        if (json_array_size(rec) != ncol) {
            snprintf(err, errlen, "line %zu: %zu fields, the header has %zu", line,
                     json_array_size(rec), ncol);
            json_decref(rec);
            goto out;
        }
        if (json_array_size(rows) >= I18N_MAX_ROWS) {
            json_decref(rec);
            snprintf(err, errlen, "more than %d rows", I18N_MAX_ROWS);
            rc = AH_ETOOBIG;
            goto out;
        }
        json_t *row = json_pack("{s:O}", "path", json_array_get(rec, 0));
        for (size_t c = 1; c < ncol; c++)
            if (json_string_length(json_array_get(rec, c)))
                json_object_set(row, json_string_value(json_array_get(head, c)),
                                json_array_get(rec, c));
        json_array_append_new(rows, row);
        json_decref(rec);
    }
    *table = json_pack("{s:O,s:O}", "languages", langs, "texts", rows);
    rc = *table ? 0 : AH_ENOMEM;
out:
    json_decref(head);
    json_decref(langs);
    json_decref(rows);
    return rc;
}

/* ---- applying translations ------------------------------------------------------------- */

/* The slot of path in content ("steps.ask.buttons[0].label"): its parent
 * and key or index. false when the path leads nowhere. */
static bool slot(json_t *content, const char *path, json_t **parent, char *key, size_t keylen,
                 size_t *index)
{
    json_t *cur = content;
    *parent = NULL;
    const char *p = path;
    while (*p) {
        size_t n = strcspn(p, ".[");
        if (n) {
            if (n >= keylen || !json_is_object(cur)) return false;
            memcpy(key, p, n);
            key[n] = 0;
            *parent = cur;
            cur = json_object_get(cur, key);
            p += n;
        }
        while (*p == '[') {
            char *end;
            unsigned long long i = strtoull(p + 1, &end, 10);
            if (end == p + 1 || *end != ']' || !json_is_array(cur)) return false;
            *parent = cur;
            *index = (size_t)i;
            key[0] = 0;
            cur = json_array_get(cur, (size_t)i);
            p = end + 1;
        }
        if (!cur) return false;
        if (*p == '.') p++;
    }
    return *parent != NULL;
}

static void set_slot(json_t *parent, const char *key, size_t index, json_t *v)
{
    if (json_is_object(parent))
        json_object_set_new(parent, key, v);
    else
        json_array_set_new(parent, index, v);
}

int i18n_apply(json_t *content, const json_t *table, char *field, size_t fieldlen, char *err,
               size_t errlen)
{
    json_t *by = texts_by_path(content);
    if (!by) return AH_ENOMEM;
    json_t *own = json_object_get(content, "languages");
    int rc = 0;
    size_t i;
    json_t *l, *row;
    if (json_object_get(table, "languages") &&
        !json_is_array(json_object_get(table, "languages"))) {
        snprintf(field, fieldlen, "languages");
        snprintf(err, errlen, "an array of language tags");
        rc = AH_EINVAL;
        goto out;
    }
    json_array_foreach(json_object_get(table, "languages"), i, l)
    {
        if (!lang_tag_valid(json_string_value(l))) {
            snprintf(field, fieldlen, "languages[%zu]", i);
            snprintf(err, errlen, "not a language tag");
            rc = AH_EINVAL;
            goto out;
        }
        bool have = false;
        size_t k;
        json_t *o;
        json_array_foreach(own, k, o) have =
            have || !strcmp(json_string_value(o), json_string_value(l));
        if (!have && json_is_array(own)) json_array_append(own, l);
    }
    if (!json_is_array(json_object_get(table, "texts"))) {
        snprintf(field, fieldlen, "texts");
        snprintf(err, errlen, "required: an array of {\"path\", \"<language>\": text}");
        rc = AH_EINVAL;
        goto out;
    }
    json_array_foreach(json_object_get(table, "texts"), i, row)
    {
        const char *path = str_of(row, "path");
        json_t *parent;
        char key[128];
        size_t index = 0;
        if (!path || !json_object_get(by, path) ||
            !slot(content, path, &parent, key, sizeof(key), &index)) {
            snprintf(field, fieldlen, "texts[%zu].path", i);
            snprintf(err, errlen, "%s%.200s%s", path ? "no text at " : "required", path ? path : "",
                     path ? " in this scenario" : "");
            rc = AH_EINVAL;
            goto out;
        }
        /* A shared text holds its string in every language until a row
         * gives one language another. */
        const json_t *old = json_object_get(by, path);
        json_t *text = json_is_object(old) ? json_deep_copy(old) : json_object();
        size_t k;
        json_t *o;
        if (json_is_string(old))
            json_array_foreach(own, k, o)
                json_object_set(text, json_string_value(o), (json_t *)old);
        const char *lang;
        json_t *v;
        json_object_foreach(row, lang, v)
        {
            if (!strcmp(lang, "path") || !strcmp(lang, "shared") || json_is_null(v)) continue;
            if (!json_is_string(v) || !lang_tag_valid(lang)) {
                snprintf(field, fieldlen, "texts[%zu].%.40s", i, lang);
                snprintf(err, errlen, "%s",
                         json_is_string(v) ? "not a language tag" : "a text is a string");
                json_decref(text);
                rc = AH_EINVAL;
                goto out;
            }
            json_object_set(text, lang, v);
        }
        bool same = json_is_string(old);
        const char *lk;
        json_t *lv;
        json_object_foreach(text, lk, lv) same = same && json_equal(lv, (json_t *)old);
        if (same)
            json_decref(text); /* still shared */
        else
            set_slot(parent, key, index, text);
    }
out:
    json_decref(by);
    return rc;
}

/* ---- completeness ---------------------------------------------------------------------- */

/* The version (index into history) in which each path's text in each
 * language last changed: {"path": {"lang": index}}. */
static json_t *last_changes(const json_t *history)
{
    json_t *last = json_object(), *prev = NULL;
    size_t v;
    json_t *content;
    json_array_foreach(history, v, content)
    {
        json_t *by = texts_by_path(content);
        if (!by) break;
        const char *path;
        json_t *text;
        json_object_foreach(by, path, text)
        {
            json_t *per = json_object_get(last, path);
            if (!per) json_object_set_new(last, path, per = json_object());
            const json_t *before = prev ? json_object_get(prev, path) : NULL;
            const char *lang;
            json_t *s;
            json_object_foreach(text, lang, s)
            {
                const json_t *b = json_is_object(before) ? json_object_get(before, lang) : NULL;
                if (!b || !json_equal((json_t *)b, s))
                    json_object_set_new(per, lang, json_integer((json_int_t)v));
            }
        }
        json_decref(prev);
        prev = by;
    }
    json_decref(prev);
    return last;
}

json_t *i18n_report(const json_t *content, const json_t *history, const json_t *languages)
{
    const char *def = str_of(content, "default_language");
    json_t *by = texts_by_path(content);
    json_t *last = history ? last_changes(history) : json_object();
    json_t *per = json_object();
    json_t *out = json_pack("{s:s?,s:I,s:o}", "default_language", def, "total",
                            (json_int_t)(by ? json_object_size(by) : 0), "languages", per);
    if (!by || !last || !out) {
        json_decref(by);
        json_decref(last);
        json_decref(out);
        return NULL;
    }
    size_t i;
    json_t *l;
    json_array_foreach(own_languages(content, languages), i, l)
    {
        const char *lang = json_string_value(l);
        if (!lang) continue;
        json_t *missing = json_array(), *same = json_array(), *stale = json_array();
        json_int_t done = 0;
        const char *path;
        json_t *text;
        json_object_foreach(by, path, text)
        {
            if (json_is_string(text)) {
                done++;
                continue;
            }
            const json_t *mine = json_object_get(text, lang);
            const json_t *src = def ? json_object_get(text, def) : NULL;
            if (!mine) {
                json_array_append_new(missing, json_string(path));
                continue;
            }
            done++;
            if (!def || !strcmp(lang, def)) continue;
            if (src && json_equal((json_t *)src, (json_t *)mine))
                json_array_append_new(same, json_string(path));
            const json_t *changes = json_object_get(last, path);
            json_int_t at_src = json_integer_value(json_object_get(changes, def));
            json_int_t at_mine = json_integer_value(json_object_get(changes, lang));
            if (json_object_get(changes, def) && at_src > at_mine)
                json_array_append_new(stale, json_string(path));
        }
        bool complete =
            !json_array_size(missing) && !json_array_size(same) && !json_array_size(stale);
        json_object_set_new(per, lang,
                            json_pack("{s:I,s:o,s:o,s:o,s:b}", "translated", done, "missing",
                                      missing, "untranslated", same, "stale", stale, "complete",
                                      complete));
    }
    json_decref(by);
    json_decref(last);
    return out;
}
