/*
 * Loops and noise (mail.h): mail the agent must record and never answer.
 * In order: the agent's own address in From; a delivery status
 * notification (RFC 3464 multipart/report, or a mailer daemon's notice);
 * auto-replies (RFC 3834 Auto-Submitted, Precedence, X-Autoreply and
 * X-Autorespond, Exchange's X-Auto-Response-Suppress, a null Return-Path,
 * an out-of-office subject); mailing lists (List-Id, Precedence: list).
 */
#include "mail.h"

#include <gmime/gmime.h>
#include <stdio.h>
#include <string.h>

typedef struct verdict {
    const char *kind;
    char reason[200];
} verdict;

static bool set(verdict *v, const char *kind, const char *fmt, const char *a, const char *b)
{
    v->kind = kind;
    snprintf(v->reason, sizeof(v->reason), fmt, a ? a : "", b ? b : "");
    return true;
}

static const char *header(GMimeMessage *m, const char *name)
{
    return g_mime_object_get_header(GMIME_OBJECT(m), name);
}

/* The value's first word, lower-cased, into buf. */
static const char *word(const char *v, char *buf, size_t n)
{
    size_t i = 0;
    while (*v == ' ' || *v == '\t')
        v++;
    while (*v && *v != ';' && *v != ' ' && *v != '\t' && *v != '\r' && *v != '\n' && i + 1 < n)
        buf[i++] = (char)g_ascii_tolower(*v++);
    buf[i] = 0;
    return buf;
}

bool em_own_address(const char *addr, const em_parse_opts *o)
{
    if (!addr || !o || !o->own) return false;
    for (size_t i = 0; i < o->own_n; i++)
        if (o->own[i] && !g_ascii_strcasecmp(addr, o->own[i])) return true;
    /* support+anything@example.com is ours when support@example.com is. */
    const char *plus = strchr(addr, '+'), *at = strrchr(addr, '@');
    if (!plus || !at || plus > at) return false;
    for (size_t i = 0; i < o->own_n; i++) {
        const char *own = o->own[i], *oat = own ? strrchr(own, '@') : NULL;
        if (!oat || (size_t)(oat - own) != (size_t)(plus - addr)) continue;
        if (!g_ascii_strncasecmp(addr, own, (size_t)(plus - addr)) && !g_ascii_strcasecmp(at, oat))
            return true;
    }
    return false;
}

static bool from_self(GMimeMessage *m, const em_parse_opts *o, verdict *v)
{
    InternetAddressList *l = g_mime_message_get_from(m);
    int n = l ? internet_address_list_length(l) : 0;
    for (int i = 0; i < n; i++) {
        InternetAddress *a = internet_address_list_get_address(l, i);
        if (!INTERNET_ADDRESS_IS_MAILBOX(a)) continue;
        const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
        if (em_own_address(addr, o))
            return set(v, "self", "From: %s is the agent's own address", addr, NULL);
    }
    return false;
}

/* ---- delivery status notifications ---- */

static GMimeObject *find_type(GMimeObject *o, const char *type, const char *sub, int depth)
{
    if (!o || depth > 8) return NULL;
    if (GMIME_IS_MULTIPART(o)) {
        int n = g_mime_multipart_get_count(GMIME_MULTIPART(o));
        for (int i = 0; i < n; i++) {
            GMimeObject *f =
                find_type(g_mime_multipart_get_part(GMIME_MULTIPART(o), i), type, sub, depth + 1);
            if (f) return f;
        }
        return NULL;
    }
    GMimeContentType *ct = g_mime_object_get_content_type(o);
    return ct && g_mime_content_type_is_type(ct, type, sub) ? o : NULL;
}

static char *part_bytes(GMimeObject *o, size_t max)
{
    size_t len;
    char *b = em_content(o, &len);
    if (len > max) b[max] = 0;
    return b;
}

/* The value of "Name:" in a block of header-like lines, first occurrence,
 * as a valid UTF-8 JSON string (or NULL). */
static json_t *field(const char *block, const char *name)
{
    size_t nl = strlen(name);
    for (const char *l = block; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (g_ascii_strncasecmp(l, name, nl) || l[nl] != ':') continue;
        const char *s = l + nl + 1, *e = s;
        while (*e && *e != '\n' && *e != '\r')
            e++;
        char *v = g_strstrip(g_strndup(s, (gsize)(e - s)));
        const char *problem;
        char *u = em_to_utf8(v, strlen(v), "UTF-8", &problem);
        json_t *j = json_string(u);
        g_free(u);
        g_free(v);
        return j;
    }
    return NULL;
}

/* "rfc822; user@example.com" -> "user@example.com" */
static void strip_type(json_t *s)
{
    const char *v = json_string_value(s);
    const char *semi = v ? strchr(v, ';') : NULL;
    if (!semi) return;
    semi++;
    while (*semi == ' ')
        semi++;
    char *copy = g_strdup(semi);
    json_string_set(s, copy);
    g_free(copy);
}

static json_t *dsn_fields(GMimeMessage *m)
{
    json_t *b = json_object();
    GMimeObject *root = g_mime_message_get_mime_part(m);
    GMimeObject *st = find_type(root, "message", "delivery-status", 0);
    if (st) {
        char *block = part_bytes(st, 64 << 10);
        static const char *const names[][2] = {{"Action", "action"},
                                               {"Status", "status"},
                                               {"Final-Recipient", "recipient"},
                                               {"Diagnostic-Code", "diagnostic"},
                                               {"Reporting-MTA", "reporting_mta"}};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            json_t *f = field(block, names[i][0]);
            if (!f) continue;
            if (i == 2 || i == 4) strip_type(f);
            json_object_set_new(b, names[i][1], f);
        }
        g_free(block);
    }
    GMimeObject *orig = find_type(root, "message", "rfc822", 0);
    if (orig && GMIME_IS_MESSAGE_PART(orig)) {
        GMimeMessage *om = g_mime_message_part_get_message(GMIME_MESSAGE_PART(orig));
        const char *id = om ? g_mime_message_get_message_id(om) : NULL;
        if (id) json_object_set_new(b, "original_message_id", json_string(id));
    } else if ((orig = find_type(root, "text", "rfc822-headers", 0))) {
        char *block = part_bytes(orig, 64 << 10);
        json_t *id = field(block, "Message-ID");
        const char *s = json_string_value(id);
        if (s) {
            char *t = g_strdup(s + (*s == '<'));
            char *gt = strchr(t, '>');
            if (gt) *gt = 0;
            json_object_set_new(b, "original_message_id", json_string(t));
            g_free(t);
        }
        json_decref(id);
        g_free(block);
    }
    return b;
}

static bool is_daemon(GMimeMessage *m)
{
    InternetAddressList *l = g_mime_message_get_from(m);
    if (!l || internet_address_list_length(l) < 1) return false;
    InternetAddress *a = internet_address_list_get_address(l, 0);
    if (!INTERNET_ADDRESS_IS_MAILBOX(a)) return false;
    const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
    return addr && (!g_ascii_strncasecmp(addr, "mailer-daemon@", 14) ||
                    !g_ascii_strncasecmp(addr, "postmaster@", 11));
}

static bool bounce(GMimeMessage *m, verdict *v)
{
    GMimeObject *root = g_mime_message_get_mime_part(m);
    GMimeContentType *ct = root ? g_mime_object_get_content_type(root) : NULL;
    if (ct && g_mime_content_type_is_type(ct, "multipart", "report")) {
        const char *rt = g_mime_content_type_get_parameter(ct, "report-type");
        if (rt && !g_ascii_strcasecmp(rt, "delivery-status"))
            return set(v, "bounce", "Content-Type: multipart/report; report-type=delivery-status",
                       NULL, NULL);
        if (rt && !g_ascii_strcasecmp(rt, "disposition-notification"))
            return set(v, "auto_reply", "a read receipt (multipart/report; report-type=%s)", rt,
                       NULL);
    }
    if (is_daemon(m) && find_type(root, "message", "delivery-status", 0))
        return set(v, "bounce", "a message/delivery-status part from a mailer daemon", NULL, NULL);
    const char *subject = g_mime_message_get_subject(m);
    if (is_daemon(m) && subject &&
        (g_strrstr(subject, "Undeliver") || g_strrstr(subject, "Delivery Status Notification") ||
         g_strrstr(subject, "Mail delivery failed") || g_strrstr(subject, "Недоставлен")))
        return set(v, "bounce", "From a mailer daemon, Subject: %s", subject, NULL);
    return false;
}

/* ---- auto-replies and lists ---- */

static bool subject_says_auto(const char *s)
{
    static const char *const prefixes[] = {
        "Automatic reply:",   "Auto-Reply:",          "Autoreply:", "Auto:",
        "Out of Office",      "Автоматический ответ", "Автоответ",  "Abwesenheitsnotiz",
        "Réponse automatique"};
    for (size_t i = 0; s && i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (!g_ascii_strncasecmp(s, prefixes[i], strlen(prefixes[i]))) return true;
    return false;
}

static bool automatic(GMimeMessage *m, verdict *v)
{
    char w[64];
    const char *h = header(m, "Auto-Submitted");
    if (h && strcmp(word(h, w, sizeof(w)), "no") != 0)
        return set(v, "auto_reply", "Auto-Submitted: %s", w, NULL);
    static const char *const flags[] = {"X-Autoreply", "X-Autorespond", "X-Autoresponse",
                                        "X-Autogenerated"};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        if ((h = header(m, flags[i]))) return set(v, "auto_reply", "%s: %s", flags[i], h);
    if ((h = header(m, "Precedence"))) {
        word(h, w, sizeof(w));
        if (!strcmp(w, "bulk") || !strcmp(w, "auto_reply") || !strcmp(w, "junk"))
            return set(v, "auto_reply", "Precedence: %s", w, NULL);
        if (!strcmp(w, "list")) return set(v, "list", "Precedence: list", NULL, NULL);
    }
    if ((h = header(m, "X-Auto-Response-Suppress"))) {
        if (strstr(h, "All") || strstr(h, "OOF") || strstr(h, "AutoReply"))
            return set(v, "auto_reply", "X-Auto-Response-Suppress: %s", h, NULL);
    }
    if ((h = header(m, "Return-Path")) && strstr(h, "<>"))
        return set(v, "auto_reply", "Return-Path: <> (a null sender)", NULL, NULL);
    const char *subject = g_mime_message_get_subject(m);
    if (subject_says_auto(subject)) return set(v, "auto_reply", "Subject: %s", subject, NULL);
    if ((h = header(m, "List-Id"))) return set(v, "list", "List-Id: %s", h, NULL);
    if (header(m, "List-Unsubscribe")) return set(v, "list", "List-Unsubscribe", NULL, NULL);
    return false;
}

void em_classify(void *msg, const em_parse_opts *o, json_t *out)
{
    GMimeMessage *m = msg;
    verdict v = {.kind = "normal"};
    if (!from_self(m, o, &v) && bounce(m, &v))
        json_object_set_new(out, "bounce", dsn_fields(m));
    else if (!strcmp(v.kind, "normal"))
        automatic(m, &v);
    const char *problem;
    char *reason = em_to_utf8(v.reason, strlen(v.reason), "UTF-8", &problem);
    json_object_set_new(out, "classification",
                        json_pack("{s:s,s:s,s:b}", "kind", v.kind, "reason", reason, "answer",
                                  !strcmp(v.kind, "normal")));
    g_free(reason);
}
