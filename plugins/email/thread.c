/*
 * Threading (mail.h): a conversation per thread, keyed by the thread's
 * first message (References' root, else In-Reply-To), with a token in a
 * plus address of the agent's own as the fallback for clients that drop
 * both; subjects for replies with one "Re:", never stacked.
 */
#include "mail.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MAX 64

/* Prefixes of a reply (and, with forwards, of a forward) in the languages
 * of the clients seen most: "Re:", "RE[2]:", "AW:", "SV:", "Ответ:". */
static const char *const reply_prefixes[] = {"re",    "aw",    "sv",  "vs",  "antw", "odp", "Ответ",
                                             "ОТВЕТ", "ответ", "Отв", "ОТВ", "отв",  "На",  "НА"};
static const char *const forward_prefixes[] = {"fwd", "fw",     "wg",     "tr",
                                               "rv",  "Пересл", "ПЕРЕСЛ", "пересл"};

/* Length of a prefix from `list` at s ("Re:", "Re[3]:", "Re(2):", "RE :"),
 * 0 if none. */
static size_t prefix_len(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(list[i]);
        /* ASCII letters in any case; Cyrillic ones as listed. */
        if (g_ascii_strncasecmp(s, list[i], l)) continue;
        const char *p = s + l;
        if (*p == '[' || *p == '(') {
            char close = *p == '[' ? ']' : ')';
            p++;
            while (*p >= '0' && *p <= '9')
                p++;
            if (*p != close) continue;
            p++;
        }
        while (*p == ' ')
            p++;
        if (*p == ':') return (size_t)(p + 1 - s);
    }
    return 0;
}

static const char *skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static char *strip(const char *subject, bool forwards, bool tags)
{
    const char *s = skip_space(subject ? subject : "");
    for (int guard = 0; guard < 64; guard++) {
        size_t n =
            prefix_len(s, reply_prefixes, sizeof(reply_prefixes) / sizeof(reply_prefixes[0]));
        if (!n && forwards)
            n = prefix_len(s, forward_prefixes,
                           sizeof(forward_prefixes) / sizeof(forward_prefixes[0]));
        if (!n && tags && *s == '[') {
            const char *close = strchr(s, ']');
            if (close && close - s < 64) n = (size_t)(close + 1 - s);
        }
        if (!n) break;
        s = skip_space(s + n);
    }
    char *out = strdup(s);
    size_t len = strlen(out);
    while (len && (out[len - 1] == ' ' || out[len - 1] == '\t'))
        out[--len] = 0;
    return out;
}

char *em_subject_base(const char *subject)
{
    return strip(subject, true, true);
}

char *em_reply_subject(const char *subject)
{
    char *base = strip(subject, false, false);
    size_t n = strlen(base) + 5;
    char *out = malloc(n);
    if (out) snprintf(out, n, "%s%s", *base ? "Re: " : "Re:", base);
    free(base);
    return out;
}

static bool token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '=';
}

char *em_plus_token(const json_t *addrs, const em_parse_opts *o)
{
    size_t i;
    json_t *a;
    json_array_foreach(addrs, i, a)
    {
        const char *addr = json_string_value(json_object_get(a, "address"));
        const char *plus = addr ? strchr(addr, '+') : NULL, *at = addr ? strrchr(addr, '@') : NULL;
        if (!plus || !at || plus > at || !em_own_address(addr, o)) continue;
        size_t n = (size_t)(at - plus - 1);
        if (n == 0 || n > TOKEN_MAX) continue;
        bool ok = true;
        for (size_t k = 0; k < n; k++)
            ok = ok && token_char(plus[1 + k]);
        if (ok) return strndup(plus + 1, n);
    }
    return NULL;
}

static char *token_of(json_t *out, const em_parse_opts *o)
{
    static const char *const fields[] = {"to", "cc", "delivered_to"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        char *t = em_plus_token(json_object_get(out, fields[i]), o);
        if (t) return t;
    }
    return NULL;
}

void em_thread(json_t *out, const em_parse_opts *o)
{
    json_t *refs = json_object_get(out, "references");
    json_t *irt = json_object_get(out, "in_reply_to");
    json_t *mid = json_object_get(out, "message_id");
    json_t *t = json_object();
    json_t *root = json_array_size(refs) ? json_array_get(refs, 0) : irt;
    json_t *parent =
        irt ? irt
            : (json_array_size(refs) ? json_array_get(refs, json_array_size(refs) - 1) : NULL);
    if (root) json_object_set(t, "root", root);
    if (parent) json_object_set(t, "parent", parent);
    char *token = token_of(out, o);
    if (token) json_object_set_new(t, "token", json_string(token));
    const char *by = json_array_size(refs) ? "references"
                     : irt                 ? "in_reply_to"
                     : token               ? "token"
                     : mid                 ? "message_id"
                                           : "none";
    json_object_set_new(t, "by", json_string(by));
    if (root)
        json_object_set(t, "key", root);
    else if (token)
        json_object_set_new(t, "key", json_sprintf("token:%s", token));
    else if (mid)
        json_object_set(t, "key", mid);
    free(token);
    json_t *subject = json_object_get(out, "subject");
    char *base = em_subject_base(json_string_value(subject));
    json_object_set_new(t, "subject_base", json_string(base));
    free(base);
    json_object_set_new(out, "thread", t);
}
