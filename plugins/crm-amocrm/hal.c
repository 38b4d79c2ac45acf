/*
 * hal.c - the plugin's readers of outside input, pure functions of their
 * arguments (unit-tested in tests/unit/test_amocrm_hal.c and fuzzed by
 * tests/fuzz/fuzz_amocrm.c): phone numbers to E.164, amoCRM's HAL bodies
 * and problem+json errors, and webhook forms with bracketed keys.
 */
#include "amo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORM_MAX_PAIRS 4000
#define FORM_MAX_DEPTH 8
#define FORM_MAX_KEY 256

/* ---- phones -------------------------------------------------------------------------- */

static bool separator(char ch)
{
    return ch == ' ' || ch == '-' || ch == '.' || ch == '(' || ch == ')' || ch == '/' || ch == '\t';
}

int amo_phone_e164(const char *in, const char *country, char *out, size_t n)
{
    char d[32];
    size_t k = 0;
    bool plus = false;
    if (!in || n < 17) return -1;
    const char *p = in;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '+') plus = true, p++;
    for (; *p; p++) {
        if (*p >= '0' && *p <= '9') {
            if (k + 1 >= sizeof(d)) return -1;
            d[k++] = *p;
        } else if (!separator(*p)) {
            return -1;
        }
    }
    d[k] = 0;
    const char *digits = d;
    char full[40];
    if (!plus && !strncmp(d, "00", 2)) {
        digits = d + 2;
    } else if (!plus && country && !strcmp(country, "7") && k == 11 && d[0] == '8') {
        snprintf(full, sizeof(full), "7%s", d + 1);
        digits = full;
    } else if (!plus && country && *country && d[0] == '0') {
        snprintf(full, sizeof(full), "%s%s", country, d + 1); /* a trunk prefix */
        digits = full;
    } else if (!plus && country && *country && k <= 10) {
        snprintf(full, sizeof(full), "%s%s", country, d);
        digits = full;
    }
    size_t len = strlen(digits);
    if (len < 8 || len > 15 || digits[0] == '0') return -1;
    snprintf(out, n, "+%s", digits);
    return 0;
}

/* ---- HAL ------------------------------------------------------------------------------ */

const json_t *amo_hal_items(const json_t *body, const char *key)
{
    const json_t *v = json_object_get(json_object_get(body, "_embedded"), key);
    return json_is_array(v) ? v : NULL;
}

const char *amo_hal_next(const json_t *body)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(body, "_links"), "next"), "href"));
}

void amo_problem_text(const json_t *body, char *out, size_t n)
{
    const json_t *ve = json_array_get(json_object_get(body, "validation-errors"), 0);
    const json_t *e = json_array_get(json_object_get(ve, "errors"), 0);
    const char *path = json_string_value(json_object_get(e, "path"));
    const char *detail = json_string_value(json_object_get(e, "detail"));
    if (path && detail) {
        snprintf(out, n, "%s: %s", path, detail);
        return;
    }
    const char *hint = json_string_value(json_object_get(body, "hint"));
    detail = json_string_value(json_object_get(body, "detail"));
    const char *title = json_string_value(json_object_get(body, "title"));
    snprintf(out, n, "%s", hint ? hint : detail ? detail : title ? title : "no details");
}

/* ---- forms ------------------------------------------------------------------------------ */

static int hexv(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..len) (plus is a space); NULL when over cap. */
static char *decode(const char *s, size_t len, size_t cap)
{
    if (len > cap) return NULL;
    char *o = malloc(len + 1);
    size_t k = 0;
    if (!o) return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
            o[k++] = (char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
            i += 2;
        } else {
            o[k++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    o[k] = 0;
    return o;
}

/* Split "a[b][c]" into segments; -1 when malformed or too deep. */
static int segments(char *key, char **seg, int max)
{
    int n = 0;
    char *br = strchr(key, '[');
    seg[n++] = key;
    if (!br) return *key ? n : -1;
    if (br == key) return -1;
    for (char *p = br; *p;) {
        if (*p != '[' || n >= max) return -1;
        char *end = strchr(p, ']');
        if (!end) return -1;
        *end = 0;
        seg[n++] = p + 1;
        p = end + 1;
    }
    *br = 0; /* ends the first segment */
    return n;
}

static bool put_value(json_t *root, char **seg, int n, const char *value)
{
    json_t *o = root;
    for (int i = 0; i < n - 1; i++) {
        json_t *next = json_object_get(o, seg[i]);
        if (!next) {
            next = json_object();
            if (json_object_set_new(o, seg[i], next)) return false;
        }
        if (!json_is_object(next)) return false; /* a value where a group was */
        o = next;
    }
    if (json_is_object(json_object_get(o, seg[n - 1]))) return false;
    json_t *v = json_string(value); /* NULL when not UTF-8 */
    return v && json_object_set_new(o, seg[n - 1], v) == 0;
}

json_t *amo_form_parse(const char *body, size_t len)
{
    json_t *root = json_object();
    size_t pairs = 0, i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && body[j] != '&')
            j++;
        size_t eq = i;
        while (eq < j && body[eq] != '=')
            eq++;
        if (j > i) {
            char *key = decode(body + i, eq - i, FORM_MAX_KEY);
            char *val = eq < j ? decode(body + eq + 1, j - eq - 1, len) : strdup("");
            char *seg[FORM_MAX_DEPTH];
            int ns = key ? segments(key, seg, FORM_MAX_DEPTH) : -1;
            bool ok = ns > 0 && val && ++pairs <= FORM_MAX_PAIRS && put_value(root, seg, ns, val);
            free(key);
            free(val);
            if (!ok) {
                json_decref(root);
                return NULL;
            }
        }
        i = j + 1;
    }
    return root;
}
