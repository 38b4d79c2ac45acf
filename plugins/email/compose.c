/*
 * Composition (mail.h): a message.out-like object becomes a well-formed
 * MIME message with GMime: UTF-8 text and HTML parts in
 * multipart/alternative, each quoted-printable or base64 (whichever GMime
 * finds shorter for 7-bit transport), the signature after "-- ", encoded
 * words in headers, CRLF line ends, a Message-ID and a Date; a reply gets
 * In-Reply-To, References (the root and the newest) and one "Re:".
 * Outgoing mail says what it is (RFC 3834 Auto-Submitted, Exchange's
 * X-Auto-Response-Suppress), so well-behaved auto-responders do not answer
 * the agent and start a loop.
 *
 * Randomness (the Message-ID, the boundary) comes from getrandom(2):
 * GMime's own generators open /dev/urandom, which the sandbox's second
 * filter forbids.
 */
#include "mail.h"

#include <gmime/gmime.h>
#include <stdio.h>
#include <sys/random.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX (1u << 20)
#define REFS_KEPT 20
#define ADDRS_MAX 100

typedef struct job {
    const json_t *msg;
    char *err;
    size_t errlen;
} job;

static bool fail(job *j, const char *fmt, const char *a)
{
    snprintf(j->err, j->errlen, fmt, a ? a : "");
    return false;
}

/* One address: "Name <a@b>", "a@b" or {address, name}. */
static bool add_one(job *j, GMimeMessage *m, GMimeAddressType t, const json_t *v, const char *key)
{
    InternetAddressList *l = g_mime_message_get_addresses(m, t);
    if (json_is_object(v)) {
        const char *addr = json_string_value(json_object_get(v, "address"));
        const char *name = json_string_value(json_object_get(v, "name"));
        if (!addr || !strchr(addr, '@') || strpbrk(addr, "\r\n <>"))
            return fail(j, "%s: an address needs \"address\" as local@domain", key);
        internet_address_list_add(l, internet_address_mailbox_new(name, addr));
        return true;
    }
    const char *s = json_string_value(v);
    if (!s) return fail(j, "%s: an address is a string or {address, name}", key);
    InternetAddressList *parsed = internet_address_list_parse(NULL, s);
    int n = parsed ? internet_address_list_length(parsed) : 0;
    if (n) internet_address_list_append(l, parsed);
    if (parsed) g_object_unref(parsed);
    return n ? true : fail(j, "%s: no address in the string", key);
}

static bool add_addresses(job *j, GMimeMessage *m, GMimeAddressType t, const char *key,
                          bool required)
{
    const json_t *v = json_object_get(j->msg, key);
    if (!v || json_is_null(v)) return required ? fail(j, "%s: required", key) : true;
    if (!json_is_array(v)) return add_one(j, m, t, v, key);
    if (json_array_size(v) > ADDRS_MAX) return fail(j, "%s: more than 100 addresses", key);
    if (required && !json_array_size(v)) return fail(j, "%s: required", key);
    size_t i;
    const json_t *a;
    json_array_foreach(v, i, a) if (!add_one(j, m, t, a, key)) return false;
    return true;
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* n random bytes as lower-case base32 letters and digits into out (2n+1). */
static void random_token(char *out, size_t n)
{
    unsigned char b[32];
    if (n > sizeof(b)) n = sizeof(b);
    if (getrandom(b, n, 0) != (ssize_t)n) /* never short for <= 256 bytes */
        for (size_t i = 0; i < n; i++)
            b[i] = (unsigned char)g_random_int();
    static const char al[] = "abcdefghijklmnopqrstuvwxyz234567";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = al[b[i] >> 3 & 31];
        out[2 * i + 1] = al[b[i] & 7];
    }
    out[2 * n] = 0;
}

/* ---- bodies ---- */

static GMimePart *text_part(const char *subtype, const char *text)
{
    GMimePart *p = g_mime_part_new_with_type("text", subtype);
    g_mime_object_set_content_type_parameter(GMIME_OBJECT(p), "charset", "utf-8");
    GMimeStream *s = g_mime_stream_mem_new_with_buffer(text, strlen(text));
    GMimeDataWrapper *w = g_mime_data_wrapper_new_with_stream(s, GMIME_CONTENT_ENCODING_DEFAULT);
    g_mime_part_set_content(p, w);
    g_object_unref(w);
    g_object_unref(s);
    g_mime_part_set_content_encoding(
        p, g_mime_part_get_best_content_encoding(p, GMIME_ENCODING_CONSTRAINT_7BIT));
    return p;
}

static void escape_html(GString *o, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            g_string_append(o, "&amp;");
            break;
        case '<':
            g_string_append(o, "&lt;");
            break;
        case '>':
            g_string_append(o, "&gt;");
            break;
        case '"':
            g_string_append(o, "&quot;");
            break;
        case '\r':
            break;
        case '\n':
            g_string_append(o, "<br>\n");
            break;
        default:
            g_string_append_c(o, *s);
        }
    }
}

static char *html_body(const char *html, const char *text, const char *sig)
{
    GString *o =
        g_string_new("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n");
    if (html) {
        g_string_append(o, html);
    } else {
        g_string_append(o, "<div>");
        escape_html(o, text);
        g_string_append(o, "</div>");
    }
    if (sig) {
        g_string_append(o, "\n<div class=\"signature\">--<br>\n");
        escape_html(o, sig);
        g_string_append(o, "</div>");
    }
    g_string_append(o, "\n</body></html>\n");
    return g_string_free(o, FALSE);
}

static bool set_body(job *j, GMimeMessage *m)
{
    const char *text = str(j->msg, "text"), *html = str(j->msg, "html"),
               *sig = str(j->msg, "signature");
    if (!text) return fail(j, "text: required (the plain text of the message)", NULL);
    if (strlen(text) > BODY_MAX || (html && strlen(html) > BODY_MAX))
        return fail(j, "text or html: over 1 MiB", NULL);
    if (sig && !*sig) sig = NULL;
    char *plain = sig ? g_strdup_printf("%s\n\n-- \n%s", text, sig) : g_strdup(text);
    char *h = html_body(html, text, sig);
    /* As g_mime_multipart_new_with_subtype, less its random boundary. */
    GMimeMultipart *alt = g_object_new(GMIME_TYPE_MULTIPART, NULL);
    GMimeContentType *ct = g_mime_content_type_new("multipart", "alternative");
    g_mime_object_set_content_type(GMIME_OBJECT(alt), ct);
    g_object_unref(ct);
    char rnd[33], boundary[40];
    random_token(rnd, 16);
    snprintf(boundary, sizeof(boundary), "=-%s", rnd);
    g_mime_multipart_set_boundary(alt, boundary);
    GMimePart *tp = text_part("plain", plain), *hp = text_part("html", h);
    g_mime_multipart_add(alt, GMIME_OBJECT(tp));
    g_mime_multipart_add(alt, GMIME_OBJECT(hp));
    g_object_unref(tp);
    g_object_unref(hp);
    g_mime_message_set_mime_part(m, GMIME_OBJECT(alt));
    g_object_unref(alt);
    g_free(plain);
    g_free(h);
    return true;
}

/* ---- threading headers ---- */

typedef struct reply {
    const char *parent;  /* the message answered */
    const json_t *refs;  /* its References */
    const char *subject; /* its subject */
} reply;

static void read_parent(const json_t *msg, reply *r)
{
    const json_t *p = json_object_get(msg, "in_reply_to");
    if (json_is_string(p)) r->parent = json_string_value(p);
    if (!json_is_object(p)) return;
    r->parent = str(p, "message_id");
    r->refs = json_object_get(p, "references");
    r->subject = str(p, "subject");
}

static char *bracket(const char *id)
{
    while (*id == '<' || *id == ' ')
        id++;
    size_t n = strcspn(id, "> \r\n");
    return g_strdup_printf("<%.*s>", (int)n, id);
}

/* References: the parent's References and the parent, the root and the
 * newest REFS_KEPT kept (RFC 5322 3.6.4). */
static char *references(const reply *r, json_t *out)
{
    json_t *all = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(r->refs, i, v) if (json_is_string(v)) json_array_append(all, v);
    json_array_append_new(all, json_string(r->parent));
    size_t n = json_array_size(all), from = n > REFS_KEPT ? n - REFS_KEPT + 1 : 0;
    GString *o = g_string_new(NULL);
    json_t *kept = json_array();
    for (i = 0; i < n; i++) {
        if (i && i < from) continue;
        char *b = bracket(json_string_value(json_array_get(all, i)));
        g_string_append_printf(o, "%s%s", o->len ? " " : "", b);
        json_array_append_new(kept, json_stringn(b + 1, strlen(b) - 2));
        g_free(b);
    }
    json_object_set_new(out, "references", kept);
    json_decref(all);
    return g_string_free(o, FALSE);
}

static void set_thread(GMimeMessage *m, const reply *r, json_t *out)
{
    if (!r->parent) return;
    char *irt = bracket(r->parent);
    g_mime_object_set_header(GMIME_OBJECT(m), "In-Reply-To", irt, NULL);
    json_object_set_new(out, "in_reply_to", json_stringn(irt + 1, strlen(irt) - 2));
    g_free(irt);
    char *refs = references(r, out);
    g_mime_object_set_header(GMIME_OBJECT(m), "References", refs, NULL);
    g_free(refs);
}

/* ---- identity: Message-ID, Date, Reply-To with a token ---- */

static const char *domain_of(GMimeMessage *m)
{
    InternetAddressList *l = g_mime_message_get_from(m);
    InternetAddress *a = internet_address_list_get_address(l, 0);
    const char *addr = INTERNET_ADDRESS_IS_MAILBOX(a)
                           ? internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a))
                           : NULL;
    const char *at = addr ? strrchr(addr, '@') : NULL;
    return at && at[1] ? at + 1 : "localhost";
}

static bool set_reply_token(job *j, GMimeMessage *m)
{
    const char *token = str(j->msg, "reply_token");
    if (!token) return true;
    for (const char *c = token; *c; c++)
        if (!g_ascii_isalnum(*c) && !strchr("-_.=", *c))
            return fail(j, "reply_token: letters, digits and -_.= only", NULL);
    if (!*token || strlen(token) > 64) return fail(j, "reply_token: 1 to 64 characters", NULL);
    InternetAddressList *l = g_mime_message_get_from(m);
    InternetAddress *a = internet_address_list_get_address(l, 0);
    const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
    const char *at = strrchr(addr, '@');
    const char *plus = strchr(addr, '+');
    size_t local = (size_t)((plus && plus < at ? plus : at) - addr);
    char *tokened = g_strdup_printf("%.*s+%s%s", (int)local, addr, token, at);
    g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_REPLY_TO, internet_address_get_name(a),
                               tokened);
    g_free(tokened);
    return true;
}

static void set_identity(job *j, GMimeMessage *m, json_t *out)
{
    const char *id = str(j->msg, "message_id");
    char rnd[33];
    random_token(rnd, 16);
    char *made = id ? NULL : g_strdup_printf("%s@%s", rnd, domain_of(m));
    char *b = bracket(id ? id : made);
    json_object_set_new(out, "message_id", json_stringn(b + 1, strlen(b) - 2));
    g_mime_message_set_message_id(m, json_string_value(json_object_get(out, "message_id")));
    g_free(b);
    g_free(made);
    const json_t *date = json_object_get(j->msg, "date");
    GDateTime *d = json_is_integer(date) ? g_date_time_new_from_unix_utc(json_integer_value(date))
                                         : g_date_time_new_now_utc();
    if (!d) d = g_date_time_new_now_utc();
    g_mime_message_set_date(m, d);
    g_date_time_unref(d);
}

/* The envelope's recipients: every mailbox of l (groups opened), bare,
 * appended to rcpt; at most ADDRS_MAX in all (the broker's limit). */
static bool envelope(job *j, InternetAddressList *l, json_t *rcpt)
{
    for (int i = 0; l && i < internet_address_list_length(l); i++) {
        InternetAddress *a = internet_address_list_get_address(l, i);
        if (INTERNET_ADDRESS_IS_GROUP(a)) {
            if (!envelope(j, internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)), rcpt))
                return false;
            continue;
        }
        const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
        if (!addr || !strchr(addr, '@') || strpbrk(addr, "\r\n <>"))
            return fail(j, "to, cc, bcc: \"%s\" is not an address as local@domain", addr);
        if (json_array_size(rcpt) >= ADDRS_MAX)
            return fail(j, "to, cc, bcc: more than 100 recipients in all%s", NULL);
        json_array_append_new(rcpt, json_string(addr));
    }
    return true;
}

static bool build(job *j, GMimeMessage *m, json_t *out)
{
    if (!add_addresses(j, m, GMIME_ADDRESS_TYPE_FROM, "from", true) ||
        !add_addresses(j, m, GMIME_ADDRESS_TYPE_TO, "to", true) ||
        !add_addresses(j, m, GMIME_ADDRESS_TYPE_CC, "cc", false) ||
        !add_addresses(j, m, GMIME_ADDRESS_TYPE_BCC, "bcc", false) || !set_reply_token(j, m))
        return false;
    json_t *rcpt = json_array();
    json_object_set_new(out, "rcpt", rcpt);
    static const GMimeAddressType kinds[] = {GMIME_ADDRESS_TYPE_TO, GMIME_ADDRESS_TYPE_CC,
                                             GMIME_ADDRESS_TYPE_BCC};
    for (size_t k = 0; k < 3; k++)
        if (!envelope(j, g_mime_message_get_addresses(m, kinds[k]), rcpt)) return false;
    /* Bcc is the envelope's only: no recipient sees it in the headers. */
    internet_address_list_clear(g_mime_message_get_addresses(m, GMIME_ADDRESS_TYPE_BCC));
    g_mime_object_remove_header(GMIME_OBJECT(m), "Bcc");
    InternetAddress *from = internet_address_list_get_address(g_mime_message_get_from(m), 0);
    if (!INTERNET_ADDRESS_IS_MAILBOX(from))
        return fail(j, "from: a single mailbox, not a group", NULL);
    reply r = {0};
    read_parent(j->msg, &r);
    const char *subject = str(j->msg, "subject");
    char *subj = r.parent ? em_reply_subject(subject ? subject : r.subject)
                          : g_strdup(subject ? subject : "");
    g_mime_message_set_subject(m, subj, "utf-8");
    json_object_set_new(out, "subject", json_string(subj));
    free(subj);
    set_thread(m, &r, out);
    set_identity(j, m, out);
    GMimeObject *o = GMIME_OBJECT(m);
    if (!json_is_false(json_object_get(j->msg, "auto_submitted"))) {
        g_mime_object_set_header(o, "Auto-Submitted", r.parent ? "auto-replied" : "auto-generated",
                                 NULL);
        g_mime_object_set_header(o, "X-Auto-Response-Suppress", "All", NULL);
    }
    return set_body(j, m);
}

json_t *em_compose(const json_t *msg, char *err, size_t errlen)
{
    if (!json_is_object(msg)) {
        snprintf(err, errlen, "the message is an object");
        return NULL;
    }
    em_init();
    job j = {.msg = msg, .err = err, .errlen = errlen};
    GMimeMessage *m = g_mime_message_new(TRUE);
    json_t *out = json_object();
    if (!build(&j, m, out)) {
        g_object_unref(m);
        json_decref(out);
        return NULL;
    }
    GMimeFormatOptions *fo = g_mime_format_options_new();
    g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
    char *raw = g_mime_object_to_string(GMIME_OBJECT(m), fo);
    g_mime_format_options_free(fo);
    g_object_unref(m);
    json_object_set_new(out, "raw", json_string(raw));
    g_free(raw);
    return out;
}
