/*
 * The new text of a reply (mail.h). Line by line:
 *  - a top-posted reply ends where the quoted mail begins: Outlook's
 *    "-----Original Message-----" (and "Исходное сообщение"), its
 *    underscore rule or header block (From:/Sent:/To:/Subject:, От:/
 *    Отправлено:/Кому:/Тема:), or an attribution line ("On ... wrote:",
 *    "... пишет:", "... написал(а):", Gmail's Russian "..., Name <a@b>:"),
 *    wrapped over two lines or not;
 *  - quoted lines (">") and the attribution just above them are dropped
 *    wherever they are (bottom-posting and inline replies keep the rest);
 *  - the signature goes from its "-- " delimiter (RFC 3676) or a mobile
 *    client's footer ("Sent from my iPhone", "Отправлено с iPhone").
 * When nothing would be left, the text less its quoted lines is kept (or,
 * when it is all quotes, the whole text).
 */
#include "mail.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

typedef struct line {
    const char *s;
    size_t n;
} line;

static bool starts(const line *l, const char *p)
{
    size_t n = strlen(p);
    return l->n >= n && !g_ascii_strncasecmp(l->s, p, n);
}

static bool blank(const line *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->s[i] != ' ' && l->s[i] != '\t' && l->s[i] != '\r') return false;
    return true;
}

static bool quoted(const line *l)
{
    size_t i = 0;
    while (i < l->n && l->s[i] == ' ')
        i++;
    return i < l->n && l->s[i] == '>';
}

/* The line without trailing white space ends with suffix. */
static bool ends(const line *l, const char *suffix)
{
    size_t n = l->n, k = strlen(suffix);
    while (n && (l->s[n - 1] == ' ' || l->s[n - 1] == '\r' || l->s[n - 1] == '\t'))
        n--;
    return n >= k && !g_ascii_strncasecmp(l->s + n - k, suffix, k);
}

static bool has(const line *l, char c)
{
    return memchr(l->s, c, l->n) != NULL;
}

static bool says_wrote(const line *l)
{
    static const char *const words[] = {
        "wrote:",   "writes:",   "пишет:",   "написал:",  "написала:", "написал(а):",
        "schrieb:", "a écrit :", "a écrit:", "escribió:", "scrisse:",  "napisał:"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (ends(l, words[i])) return true;
    /* Gmail in Russian and others: "пн, 13 мая 2024 г. в 10:00, Иван <ivan@example.ru>:" */
    return ends(l, ">:") && has(l, '@');
}

static bool original_rule(const line *l)
{
    static const char *const marks[] = {"Original Message", "Исходное сообщение",
                                        "Ursprüngliche Nachricht", "Message d'origine",
                                        "Оригинальное сообщение"};
    if (!starts(l, "--")) return false;
    for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
        if (g_strstr_len(l->s, (gssize)l->n, marks[i])) return true;
    return false;
}

static bool underscores(const line *l)
{
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++)
        k += l->s[i] == '_';
    return k >= 20 && k + 2 >= l->n;
}

static bool header_line(const line *l, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (starts(l, names[i])) return true;
    return false;
}

/* Outlook's block of the quoted mail's headers, starting at l[0]. */
static bool outlook_block(const line *l, size_t left)
{
    static const char *const from[] = {"From:", "От:", "Von:", "De :", "De:"};
    static const char *const sent[] = {
        "Sent:", "Date:", "Отправлено:", "Дата:", "Gesendet:", "Envoyé :"};
    static const char *const subj[] = {"Subject:", "Тема:", "Betreff:", "Objet :", "To:", "Кому:"};
    if (!header_line(l, from, 5)) return false;
    bool s = false, t = false;
    for (size_t i = 1; i < left && i < 6; i++) {
        s = s || header_line(&l[i], sent, 6);
        t = t || header_line(&l[i], subj, 6);
    }
    return s && t;
}

static bool footer(const line *l)
{
    static const char *const f[] = {"Sent from my ",
                                    "Sent from Mail for Windows",
                                    "Get Outlook for ",
                                    "Отправлено с ",
                                    "Отправлено из ",
                                    "Sent from Yahoo Mail",
                                    "Von meinem iPhone gesendet"};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        if (starts(l, f[i])) return true;
    return false;
}

/* Where the quoted mail of a top-posted reply begins, or n. */
static size_t quote_start(const line *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (quoted(&l[i])) continue;
        if (original_rule(&l[i]) || outlook_block(&l[i], n - i)) return i;
        if (underscores(&l[i]) && i + 1 < n && outlook_block(&l[i + 1], n - i - 1)) return i;
        if (says_wrote(&l[i])) return i;
        /* An attribution wrapped by the client over two lines. */
        if (i + 1 < n && !blank(&l[i]) && says_wrote(&l[i + 1]) && l[i + 1].n < 80) return i;
    }
    return n;
}

static size_t signature_start(const line *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = l[i].n;
        while (k && l[i].s[k - 1] == '\r')
            k--;
        if ((k == 3 && !memcmp(l[i].s, "-- ", 3)) || (k == 2 && !memcmp(l[i].s, "--", 2)) ||
            footer(&l[i]))
            return i;
    }
    return n;
}

static void append(GString *o, const line *l)
{
    size_t k = l->n;
    while (k && (l->s[k - 1] == '\r' || l->s[k - 1] == ' '))
        k--;
    g_string_append_len(o, l->s, (gssize)k);
    g_string_append_c(o, '\n');
}

/* Lines [0, end) without quoted ones nor the attribution above them;
 * leading and trailing blank lines dropped. */
static char *keep(const line *l, size_t end)
{
    GString *o = g_string_new(NULL);
    for (size_t i = 0; i < end; i++) {
        if (quoted(&l[i])) continue;
        size_t j = i + 1;
        while (j < end && blank(&l[j]))
            j++;
        if (j < end && quoted(&l[j]) && (says_wrote(&l[i]) || ends(&l[i], ":"))) continue;
        if (!o->len && blank(&l[i])) continue;
        append(o, &l[i]);
    }
    while (o->len && (o->str[o->len - 1] == '\n' || o->str[o->len - 1] == ' '))
        g_string_truncate(o, o->len - 1);
    char *out = strdup(o->str);
    g_string_free(o, TRUE);
    return out;
}

char *em_trim_reply(const char *text, const char **cut)
{
    *cut = "";
    if (!text) return NULL;
    size_t cap = 64, n = 0;
    line *l = malloc(cap * sizeof(*l));
    if (!l) return NULL;
    for (const char *s = text; *s;) {
        const char *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (n == cap) {
            line *nl = realloc(l, (cap *= 2) * sizeof(*l));
            if (!nl) {
                free(l);
                return NULL;
            }
            l = nl;
        }
        l[n++] = (line){s, len};
        s += len + (e ? 1 : 0);
    }
    size_t q = quote_start(l, n), sig = signature_start(l, q);
    bool any_quoted = false;
    for (size_t i = 0; i < q && !any_quoted; i++)
        any_quoted = quoted(&l[i]);
    char *out = keep(l, sig);
    if (!*out) { /* nothing but quotes and a signature: keep all but the quotes */
        free(out);
        out = keep(l, n);
        sig = q = n;
        any_quoted = false;
    }
    if (!*out) { /* nothing but quotes: the text as it is */
        free(out);
        out = g_strstrip(strdup(text));
    }
    free(l);
    bool quote_cut = q < n || any_quoted, sig_cut = sig < q;
    *cut = quote_cut && sig_cut ? "quote+signature"
           : quote_cut          ? "quote"
           : sig_cut            ? "signature"
                                : "";
    return out;
}
