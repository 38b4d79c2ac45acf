/*
 * A message parsed with GMime into JSON (mail.h): headers, addresses, the
 * body's text (the plain part, else the HTML part reduced to text), the new
 * text of a reply, attachments as metadata with their IMAP part numbers,
 * and what GMime found broken.
 */
#include "../rag/html.h"
#include "mail.h"

#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBLEMS_MAX 32
#define REFS_MAX 100

static const char *const fallback_charsets[] = {"UTF-8", "windows-1251", NULL};

void em_init(void)
{
    static gsize once;
    if (g_once_init_enter(&once)) {
        g_mime_init();
        em_charsets_probe();
        /* GLib seeds its generator from /dev/urandom on first use: now. */
        (void)g_random_int();
        g_mime_parser_options_set_fallback_charsets(g_mime_parser_options_get_default(),
                                                    (const char **)fallback_charsets);
        g_once_init_leave(&once, 1);
    }
}

/* ---- problems ---- */

static const char *warning_name(GMimeParserWarning w)
{
    switch (w) {
    case GMIME_WARN_DUPLICATED_HEADER:
        return "duplicated_header";
    case GMIME_WARN_DUPLICATED_PARAMETER:
        return "duplicated_parameter";
    case GMIME_WARN_UNENCODED_8BIT_HEADER:
        return "unencoded_8bit_header";
    case GMIME_WARN_INVALID_CONTENT_TYPE:
        return "invalid_content_type";
    case GMIME_WARN_INVALID_RFC2047_HEADER_VALUE:
        return "invalid_encoded_word";
    case GMIME_WARN_MALFORMED_MULTIPART:
        return "malformed_multipart";
    case GMIME_WARN_TRUNCATED_MESSAGE:
        return "truncated_message";
    case GMIME_WARN_MALFORMED_MESSAGE:
        return "malformed_message";
    case GMIME_CRIT_INVALID_HEADER_NAME:
        return "invalid_header_name";
    case GMIME_CRIT_CONFLICTING_HEADER:
        return "conflicting_header";
    case GMIME_CRIT_CONFLICTING_PARAMETER:
        return "conflicting_parameter";
    case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
        return "multipart_without_boundary";
    case GMIME_CRIT_NESTING_OVERFLOW:
        return "nesting_overflow";
    case GMIME_WARN_PART_WITHOUT_CONTENT:
        return "part_without_content";
    case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
        return "part_without_headers_or_content";
    default:
        return "other";
    }
}

static void add_problem(json_t *problems, const char *code, const char *item, gint64 offset)
{
    if (json_array_size(problems) >= PROBLEMS_MAX) return;
    json_t *p = json_pack("{s:s}", "code", code);
    if (item && *item) {
        char *v = em_to_utf8(item, strnlen(item, 200), NULL, &(const char *){NULL});
        json_object_set_new(p, "item", json_string(v));
        g_free(v);
    }
    if (offset >= 0) json_object_set_new(p, "offset", json_integer(offset));
    json_array_append_new(problems, p);
}

static void on_warning(gint64 offset, GMimeParserWarning code, const gchar *item, gpointer ud)
{
    add_problem(ud, warning_name(code), item, offset);
}

/* ---- headers ---- */

static void put_str(json_t *o, const char *key, const char *v)
{
    if (!v) return;
    const char *problem;
    char *u = em_to_utf8(v, strlen(v), "UTF-8", &problem);
    json_object_set_new(o, key, json_string(u));
    g_free(u);
}

static void add_addresses(json_t *arr, InternetAddressList *l, int depth)
{
    int n = l ? internet_address_list_length(l) : 0;
    for (int i = 0; i < n && json_array_size(arr) < 500; i++) {
        InternetAddress *a = internet_address_list_get_address(l, i);
        if (INTERNET_ADDRESS_IS_GROUP(a)) {
            if (depth < 2)
                add_addresses(arr, internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)),
                              depth + 1);
            continue;
        }
        const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
        if (!addr || !*addr) continue;
        json_t *o = json_object();
        put_str(o, "address", addr);
        const char *name = internet_address_get_name(a);
        if (name && *name) put_str(o, "name", name);
        json_array_append_new(arr, o);
    }
}

static json_t *addresses(InternetAddressList *l)
{
    json_t *arr = json_array();
    add_addresses(arr, l, 0);
    return arr;
}

/* The message ids of a header (In-Reply-To, References), in order. */
static json_t *ids_of(GMimeMessage *m, const char *header)
{
    json_t *arr = json_array();
    const char *v = g_mime_object_get_header(GMIME_OBJECT(m), header);
    if (!v) return arr;
    GMimeReferences *r = g_mime_references_parse(NULL, v);
    int n = r ? g_mime_references_length(r) : 0;
    int from = n > REFS_MAX ? n - REFS_MAX : 0; /* keep the root and the newest */
    for (int i = 0; i < n; i++) {
        if (i && i < from) continue;
        const char *id = g_mime_references_get_message_id(r, i);
        if (!id || !*id) continue;
        json_t *s = json_string(id);
        if (s) json_array_append_new(arr, s);
    }
    if (r) g_mime_references_free(r);
    return arr;
}

static void put_date(json_t *out, GMimeMessage *m)
{
    GDateTime *d = g_mime_message_get_date(m);
    if (!d) return;
    GDateTime *u = g_date_time_to_utc(d);
    if (!u) return;
    char *s = g_date_time_format(u, "%Y-%m-%dT%H:%M:%SZ");
    if (s) json_object_set_new(out, "date", json_string(s));
    g_free(s);
    g_date_time_unref(u);
}

/* A Content-Language value's first tag as message.language wants it:
 * "en", "pt-BR" (the language lower-cased, a 2-letter region upper-cased,
 * a script or anything else dropped); false when it is no such tag. */
static bool language_of(const char *v, char *out, size_t n)
{
    while (v && (*v == ' ' || *v == '\t'))
        v++;
    if (!v || n < 7) return false;
    size_t k = 0;
    while (g_ascii_isalpha(v[k]) && k < 4)
        k++;
    if (k < 2 || k > 3 ||
        (v[k] && v[k] != '-' && v[k] != '_' && v[k] != ',' && v[k] != ' ' && v[k] != ';'))
        return false;
    for (size_t i = 0; i < k; i++)
        out[i] = g_ascii_tolower(v[i]);
    out[k] = 0;
    for (const char *sub = v + k; *sub == '-' || *sub == '_';) {
        size_t j = 1;
        while (g_ascii_isalnum(sub[j]))
            j++;
        if (j == 3 && g_ascii_isalpha(sub[1]) && g_ascii_isalpha(sub[2])) {
            snprintf(out + k, n - k, "-%c%c", g_ascii_toupper(sub[1]), g_ascii_toupper(sub[2]));
            break;
        }
        sub += j;
    }
    return true;
}

#define HEADERS_MAX 100
#define HEADER_VALUE_MAX 2000
#define HEADERS_BYTES_MAX (32u << 10)

/* The message's header fields in order, [[name, value], ...] decoded and
 * unfolded, bounded: at most HEADERS_MAX fields, values cut at
 * HEADER_VALUE_MAX bytes, HEADERS_BYTES_MAX in all ("headers_truncated"). */
static void put_header_list(json_t *out, GMimeMessage *m)
{
    /* GMime keeps the message's Content-* fields with its top part. */
    GMimeObject *top = g_mime_message_get_mime_part(m);
    GMimeHeaderList *lists[2] = {g_mime_object_get_header_list(GMIME_OBJECT(m)),
                                 top ? g_mime_object_get_header_list(top) : NULL};
    json_t *a = json_array();
    size_t total = 0;
    bool cut = false, full = false;
    for (int k = 0, i = 0; k < 2 && !full; k++, i = 0)
        for (int count = lists[k] ? g_mime_header_list_get_count(lists[k]) : 0; i < count && !full;
             i++) {
            GMimeHeader *h = g_mime_header_list_get_header_at(lists[k], i);
            const char *name = h ? g_mime_header_get_name(h) : NULL;
            const char *value = h ? g_mime_header_get_value(h) : NULL;
            if (!name) continue;
            gchar *v = g_utf8_make_valid(value ? value : "", -1);
            if (strlen(v) > HEADER_VALUE_MAX) {
                *g_utf8_find_prev_char(v, v + HEADER_VALUE_MAX + 1) = 0;
                cut = true;
            }
            gchar *nm = g_utf8_make_valid(name, -1);
            size_t sz = strlen(nm) + strlen(v);
            if (json_array_size(a) >= HEADERS_MAX || total + sz > HEADERS_BYTES_MAX) {
                cut = full = true;
                g_free(v);
                g_free(nm);
                continue;
            }
            total += sz;
            json_array_append_new(a, json_pack("[s,s]", nm, v));
            g_free(v);
            g_free(nm);
        }
    json_object_set_new(out, "headers", a);
    if (cut) json_object_set_new(out, "headers_truncated", json_true());
}

static void put_headers(json_t *out, GMimeMessage *m)
{
    char lang[16];
    const char *cl = g_mime_object_get_header(GMIME_OBJECT(m), "Content-Language");
    GMimeObject *body = g_mime_message_get_mime_part(m); /* GMime files Content-* there */
    if (!cl && body) cl = g_mime_object_get_header(body, "Content-Language");
    if (cl && language_of(cl, lang, sizeof(lang))) put_str(out, "language", lang);
    put_header_list(out, m);
    put_str(out, "message_id", g_mime_message_get_message_id(m));
    json_t *irt = ids_of(m, "In-Reply-To");
    if (json_array_size(irt)) json_object_set(out, "in_reply_to", json_array_get(irt, 0));
    json_decref(irt);
    json_object_set_new(out, "references", ids_of(m, "References"));
    put_str(out, "subject", g_mime_message_get_subject(m));
    json_object_set_new(out, "from", addresses(g_mime_message_get_from(m)));
    json_object_set_new(out, "to", addresses(g_mime_message_get_to(m)));
    json_object_set_new(out, "cc", addresses(g_mime_message_get_cc(m)));
    json_object_set_new(out, "reply_to", addresses(g_mime_message_get_reply_to(m)));
    /* Where the mail was delivered (for the plus-address token). */
    json_t *dto = json_array();
    static const char *const delivered[] = {"Delivered-To", "X-Original-To", "Envelope-To"};
    for (size_t i = 0; i < sizeof(delivered) / sizeof(delivered[0]); i++) {
        const char *v = g_mime_object_get_header(GMIME_OBJECT(m), delivered[i]);
        if (!v) continue;
        InternetAddressList *l = internet_address_list_parse(NULL, v);
        add_addresses(dto, l, 0);
        if (l) g_object_unref(l);
    }
    json_object_set_new(out, "delivered_to", dto);
    put_date(out, m);
}

/* ---- the walk over the parts ---- */

typedef struct walk {
    json_t *attachments;
    json_t *problems;
    GMimePart *plain, *html;
    int skipped; /* parts past EM_PARTS_MAX */
} walk;

static bool is_body_candidate(GMimePart *p)
{
    GMimeContentType *ct = g_mime_object_get_content_type(GMIME_OBJECT(p));
    if (!g_mime_content_type_is_type(ct, "text", "plain") &&
        !g_mime_content_type_is_type(ct, "text", "html"))
        return false;
    return !g_mime_part_is_attachment(p) && !g_mime_part_get_filename(p);
}

/* The decoded size of a part, counted by a stream that keeps nothing. */
static gint64 decoded_size(GMimePart *p)
{
    GMimeDataWrapper *w = g_mime_part_get_content(p);
    if (!w) return 0;
    GMimeStream *null = g_mime_stream_null_new();
    ssize_t n = g_mime_data_wrapper_write_to_stream(w, null);
    g_object_unref(null);
    return n < 0 ? 0 : n;
}

static void add_attachment(walk *w, GMimeObject *o, const char *path, gint64 size)
{
    if (json_array_size(w->attachments) >= EM_PARTS_MAX) {
        w->skipped++;
        return;
    }
    GMimeContentType *ct = g_mime_object_get_content_type(o);
    char *type = g_mime_content_type_get_mime_type(ct);
    json_t *a =
        json_pack("{s:s,s:s,s:I}", "part", path, "content_type", type, "size", (json_int_t)size);
    g_free(type);
    const char *name = GMIME_IS_PART(o) ? g_mime_part_get_filename(GMIME_PART(o)) : NULL;
    if (!name && GMIME_IS_MESSAGE_PART(o)) {
        GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
        if (inner) put_str(a, "subject", g_mime_message_get_subject(inner));
    }
    put_str(a, "filename", name);
    const char *disp = g_mime_object_get_disposition(o);
    json_object_set_new(
        a, "disposition",
        json_string(disp && !g_ascii_strcasecmp(disp, "inline") ? "inline" : "attachment"));
    if (GMIME_IS_PART(o)) put_str(a, "content_id", g_mime_part_get_content_id(GMIME_PART(o)));
    json_array_append_new(w->attachments, a);
}

/* Size of an embedded message: the bytes it takes in the input. */
static gint64 message_part_size(GMimeMessagePart *mp)
{
    GMimeMessage *inner = g_mime_message_part_get_message(mp);
    if (!inner) return 0;
    GMimeStream *null = g_mime_stream_null_new();
    ssize_t n = g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, null);
    g_object_unref(null);
    return n < 0 ? 0 : n;
}

static void walk_part(walk *w, GMimeObject *o, const char *path, int depth)
{
    char child[256];
    if (GMIME_IS_MULTIPART(o)) {
        if (depth > 32) return; /* GMime caps nesting itself; this is the walk's own guard */
        int n = g_mime_multipart_get_count(GMIME_MULTIPART(o));
        if (n == 0) add_problem(w->problems, "empty_multipart", path, -1);
        for (int i = 0; i < n; i++) {
            snprintf(child, sizeof(child), "%s%s%d", path, *path ? "." : "", i + 1);
            walk_part(w, g_mime_multipart_get_part(GMIME_MULTIPART(o), i), child, depth + 1);
        }
        return;
    }
    const char *p = *path ? path : "1";
    if (GMIME_IS_MESSAGE_PART(o)) {
        add_attachment(w, o, p, message_part_size(GMIME_MESSAGE_PART(o)));
        return;
    }
    if (!GMIME_IS_PART(o)) return;
    GMimePart *part = GMIME_PART(o);
    if (is_body_candidate(part)) {
        GMimeContentType *ct = g_mime_object_get_content_type(o);
        bool html = g_mime_content_type_is_type(ct, "text", "html");
        if (html && !w->html) {
            w->html = part;
            return;
        }
        if (!html && !w->plain) {
            w->plain = part;
            return;
        }
    }
    add_attachment(w, o, p, decoded_size(part));
}

/* ---- the body's text ---- */

char *em_content(void *obj, size_t *len)
{
    GMimeObject *o = obj;
    GByteArray *b = g_byte_array_new();
    GMimeStream *mem = g_mime_stream_mem_new_with_byte_array(b);
    g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
    if (GMIME_IS_PART(o)) {
        GMimeDataWrapper *dw = g_mime_part_get_content(GMIME_PART(o));
        if (dw) g_mime_data_wrapper_write_to_stream(dw, mem);
    } else if (o) {
        g_mime_object_write_to_stream(o, NULL, mem);
    }
    g_object_unref(mem);
    *len = b->len;
    g_byte_array_append(b, (const guint8 *)"", 1);
    return (char *)g_byte_array_free(b, FALSE);
}

/* The decoded bytes of a part, at most max of them, converted to UTF-8. */
static char *part_text(GMimePart *p, size_t max, json_t *problems, const char **charset_out)
{
    size_t len;
    char *bytes = em_content(p, &len);
    const char *cs = g_mime_object_get_content_type_parameter(GMIME_OBJECT(p), "charset");
    *charset_out = cs;
    const char *problem;
    char *t = em_to_utf8(bytes, len < max ? len : max, cs, &problem);
    if (problem) add_problem(problems, problem, cs, -1);
    if (len > max) add_problem(problems, "text_truncated", NULL, -1);
    g_free(bytes);
    return t;
}

/* No text part survived broken MIME (a multipart without its boundary):
 * the body as it stands, so the sender's words are not lost. */
static void put_raw_body(json_t *out, const char *raw, size_t len, size_t max)
{
    const char *b = g_strstr_len(raw, (gssize)len, "\n\n"),
               *crlf = g_strstr_len(raw, (gssize)len, "\r\n\r\n");
    if (crlf && (!b || crlf < b)) b = crlf + 2;
    size_t off = b ? (size_t)(b + 2 - raw) : len, n = len - off < max ? len - off : max;
    const char *problem;
    char *t = em_to_utf8(raw + off, n, NULL, &problem);
    g_strstrip(t);
    json_object_set_new(out, "text", json_string(t));
    json_object_set_new(out, "new_text", json_string(t));
    json_object_set_new(out, "text_from", json_string(*t ? "raw" : "none"));
    g_free(t);
}

/* The HTML part made safe to show (safe_html.c) as "html", at most
 * EM_TEXT_MAX bytes (over that: left out, the problem html_too_long). */
static void put_safe_html(json_t *out, walk *w, size_t max)
{
    if (!w->html) return;
    json_t *scratch = json_array(); /* the text's problems are reported once */
    const char *cs = NULL;
    char *h = part_text(w->html, max, scratch, &cs);
    json_decref(scratch);
    char *safe = h ? em_safe_html(h, strlen(h)) : NULL;
    g_free(h);
    if (!safe) {
        add_problem(w->problems, "html_unreadable", NULL, -1);
    } else if (strlen(safe) > EM_TEXT_MAX) {
        add_problem(w->problems, "html_too_long", NULL, -1);
    } else if (*safe) {
        json_object_set_new(out, "html", json_string(safe));
    }
    g_free(safe);
}

static void put_body(json_t *out, walk *w, size_t max, const char *raw, size_t len)
{
    GMimePart *src = w->plain ? w->plain : w->html;
    json_object_set_new(out, "has_html", json_boolean(w->html != NULL));
    if (!src) {
        if (json_array_size(w->problems) && !json_array_size(w->attachments))
            put_raw_body(out, raw, len, max);
        else {
            json_object_set_new(out, "text", json_string(""));
            json_object_set_new(out, "new_text", json_string(""));
            json_object_set_new(out, "text_from", json_string("none"));
        }
        return;
    }
    const char *cs = NULL;
    char *t = part_text(src, max, w->problems, &cs);
    if (!w->plain) {
        char *reduced = NULL;
        size_t rn = 0;
        if (rag_html_to_text(t, strlen(t), &reduced, &rn) == 0) {
            g_free(t);
            t = g_strndup(reduced, rn);
            free(reduced);
        } else {
            add_problem(w->problems, "html_unreadable", NULL, -1);
        }
    }
    json_object_set_new(out, "text_from", json_string(w->plain ? "plain" : "html"));
    if (cs) put_str(out, "charset", cs);
    json_object_set_new(out, "text", json_string(t));
    const char *cut = "";
    char *fresh = em_trim_reply(t, &cut);
    json_object_set_new(out, "new_text", json_string(fresh ? fresh : t));
    json_object_set_new(out, "trimmed", json_string(cut));
    free(fresh);
    g_free(t);
    put_safe_html(out, w, max);
}

/* ---- entry points ---- */

/* Frees the array without its data (the caller's buffer). */
static void drop_view(GByteArray *view)
{
    guint8 *callers = g_byte_array_steal(view, NULL);
    (void)callers;
    g_byte_array_unref(view);
}

static GMimeMessage *construct(const char *raw, size_t len, GMimeParserOptions *opts)
{
    GMimeStream *s = g_mime_stream_mem_new();
    /* A non-owning view of the caller's buffer: nothing is copied. */
    GByteArray *view = g_byte_array_new_take((guint8 *)raw, len);
    g_mime_stream_mem_set_byte_array(GMIME_STREAM_MEM(s), view);
    g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(s), FALSE);
    GMimeParser *p = g_mime_parser_new_with_stream(s);
    g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
    g_mime_parser_set_persist_stream(p, TRUE);
    GMimeMessage *m = g_mime_parser_construct_message(p, opts);
    g_object_unref(p);
    g_object_unref(s);
    /* The view must outlive the message's substreams: the caller frees it. */
    if (m)
        g_object_set_data(G_OBJECT(m), "em-view", view);
    else
        drop_view(view);
    return m;
}

static void release(GMimeMessage *m)
{
    GByteArray *view = g_object_get_data(G_OBJECT(m), "em-view");
    char *guarded = g_object_get_data(G_OBJECT(m), "em-guarded");
    g_object_unref(m);
    if (view) drop_view(view);
    g_free(guarded); /* the copy the view was of, when there was one */
}

static bool looks_like_headers(const char *raw, size_t len)
{
    /* A first line of "Name:" (or an mbox "From " line GMime skips). */
    size_t i = 0;
    while (i < len && i < 1000 && raw[i] > 32 && raw[i] < 127 && raw[i] != ':')
        i++;
    return i > 0 && i < len && raw[i] == ':';
}

static GMimeMessage *open_message(const char *raw, size_t len, json_t *problems, char *err,
                                  size_t errlen)
{
    if (!raw || len == 0) {
        snprintf(err, errlen, "empty input: not a message");
        return NULL;
    }
    if (len > EM_RAW_MAX) {
        snprintf(err, errlen, "message of %zu bytes is over the %u-byte limit", len, EM_RAW_MAX);
        return NULL;
    }
    if (!looks_like_headers(raw, len)) {
        snprintf(err, errlen, "not a message: the input does not start with a header field");
        return NULL;
    }
    em_init();
    json_t *bad = json_array();
    char *guarded = em_guard_charsets(raw, len, bad);
    size_t i;
    json_t *name;
    json_array_foreach(bad, i, name)
        add_problem(problems, "charset_unsupported", json_string_value(name), -1);
    json_decref(bad);
    GMimeParserOptions *opts = g_mime_parser_options_new();
    g_mime_parser_options_set_fallback_charsets(opts, (const char **)fallback_charsets);
    g_mime_parser_options_set_warning_callback(opts, on_warning, problems);
    GMimeMessage *m = construct(guarded ? guarded : raw, len, opts);
    g_mime_parser_options_free(opts);
    if (!m) {
        g_free(guarded);
        snprintf(err, errlen, "not a message: GMime found no header block");
    } else if (guarded) {
        g_object_set_data(G_OBJECT(m), "em-guarded", guarded);
    }
    return m;
}

json_t *em_parse(const char *raw, size_t len, const em_parse_opts *o, char *err, size_t errlen)
{
    json_t *problems = json_array();
    GMimeMessage *m = open_message(raw, len, problems, err, errlen);
    if (!m) {
        json_decref(problems);
        return NULL;
    }
    em_parse_opts none = {0};
    if (!o) o = &none;
    json_t *out = json_object();
    put_headers(out, m);
    walk w = {.attachments = json_array(), .problems = problems};
    GMimeObject *body = g_mime_message_get_mime_part(m);
    if (body)
        walk_part(&w, body, "", 0);
    else
        add_problem(problems, "no_body", NULL, -1);
    put_body(out, &w, o->max_text ? o->max_text : EM_TEXT_MAX, raw, len);
    json_object_set_new(out, "attachments", w.attachments);
    if (w.skipped) json_object_set_new(out, "attachments_skipped", json_integer(w.skipped));
    json_object_set_new(out, "size", json_integer((json_int_t)len));
    em_classify(m, o, out);
    em_thread(out, o);
    json_object_set_new(out, "problems", problems);
    release(m);
    return out;
}

/* The object at an IMAP part number, or NULL. */
static GMimeObject *at_path(GMimeMessage *m, const char *path)
{
    GMimeObject *o = g_mime_message_get_mime_part(m);
    const char *s = path;
    while (o && *s) {
        char *end;
        long k = strtol(s, &end, 10);
        if (end == s || k < 1 || (*end && *end != '.')) return NULL;
        if (GMIME_IS_MULTIPART(o)) {
            if (k > g_mime_multipart_get_count(GMIME_MULTIPART(o))) return NULL;
            o = g_mime_multipart_get_part(GMIME_MULTIPART(o), (int)k - 1);
        } else if (k != 1 || s != path) {
            return NULL; /* a single part is "1", with nothing below it */
        }
        s = *end ? end + 1 : end;
    }
    return s == path ? NULL : o;
}

json_t *em_part(const char *raw, size_t len, const char *path, size_t max, char *err, size_t errlen)
{
    json_t *problems = json_array();
    GMimeMessage *m = open_message(raw, len, problems, err, errlen);
    json_decref(problems);
    if (!m) return NULL;
    json_t *out = NULL;
    GMimeObject *o = path ? at_path(m, path) : NULL;
    if (!o || GMIME_IS_MULTIPART(o)) {
        snprintf(err, errlen, "no part %s: parse the message to list its parts", path ? path : "");
        goto out;
    }
    size_t n;
    char *bytes = em_content(o, &n);
    if (n > max) {
        snprintf(err, errlen, "part %s has %zu bytes, over the %zu asked for", path, n, max);
    } else {
        gchar *b64 = g_base64_encode((const guchar *)bytes, n);
        GMimeContentType *ct = g_mime_object_get_content_type(o);
        char *type = g_mime_content_type_get_mime_type(ct);
        out = json_pack("{s:s,s:s,s:I,s:s}", "part", path, "content_type", type, "size",
                        (json_int_t)n, "content_base64", b64);
        g_free(type);
        g_free(b64);
        if (GMIME_IS_PART(o)) put_str(out, "filename", g_mime_part_get_filename(GMIME_PART(o)));
    }
    g_free(bytes);
out:
    release(m);
    return out;
}
