/*
 * attach.c - an attachment's bytes on demand (the action attachment.fetch;
 * docs/channels/email.md, "Attachments on demand"). message.in lists a
 * mail's attachments as metadata with ref "email:<MESSAGE-ID>/PART" (PART
 * the IMAP section number); this finds the mail by its Message-ID in the
 * polled folder (then in handled.move_to), fetches that one part through the
 * broker, its MIME header (BODY[PART.MIME]) and its body (BODY[PART], at
 * most a bound's worth: the URL's PARTIAL), and decodes it (em_part): the
 * rest of the mail is never fetched.
 */
#include "em.h"

#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ATT_MAX_DEFAULT (10u << 20)
#define ATT_MAX_LIMIT (32u << 20)

typedef struct att_op {
    email *e;
    ah_call *call;
    char ref[400];
    char mid[300];
    char part[64];
    size_t max;
    int folder; /* 0: the polled mailbox, 1: handled.move_to */
    uint32_t uid;
    char url[900]; /* the folder's URL with the mail's UID */
    char *mime;    /* the part's MIME header */
    size_t mime_len;
} att_op;

static void op_done(att_op *op, json_t *out, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void op_done(att_op *op, json_t *out, const char *code, const char *fmt, ...)
{
    if (out) {
        op->e->host->reply(op->call, out);
    } else {
        char msg[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        op->e->host->reply_error(op->call, code, msg);
    }
    free(op->mime);
    free(op);
}

/* "imap://host/FOLDER", the folder percent-encoded as RFC 5092 wants. */
static void folder_url(const email *e, const char *folder, char *out, size_t n)
{
    char enc[400];
    size_t k = 0;
    for (const unsigned char *c = (const unsigned char *)folder; *c && k + 4 < sizeof(enc); c++) {
        if (g_ascii_isalnum(*c) || strchr("-._~!$'()*+,=:@&", *c))
            enc[k++] = (char)*c;
        else
            k += (size_t)snprintf(enc + k, sizeof(enc) - k, "%%%02X", *c);
    }
    enc[k] = 0;
    snprintf(out, n, "%s/%s", e->imap_url, enc);
}

/* The broker's failure, or the server's refusal, as the call's error. */
static void op_failed(att_op *op, const char *what, const ah_http_response *r)
{
    bool refused = r->error_code && !strcmp(r->error_code, "rejected");
    op_done(op, NULL, refused ? "not_found" : "unavailable", "%s: %s", what,
            r->error_message ? r->error_message
            : r->error_code  ? r->error_code
                             : "failed");
}

static void search_folder(att_op *op);

static void got_body(email *e, const ah_http_response *r, void *ud)
{
    att_op *op = ud;
    (void)e;
    if (r->error_code) {
        op_failed(op, "fetching the part's body", r);
        return;
    }
    /* Encoded bytes bound the decoded ones from above by at most 3 (quoted-printable's
     * worst); the fetch asked for one byte more than that. */
    if (r->body_len > op->max * 3 + 8192) {
        op_done(op, NULL, "too_large", "part %s is larger than max_bytes (%zu)", op->part, op->max);
        return;
    }
    size_t n = op->mime_len + r->body_len;
    char *msg = malloc(n + 1);
    if (!msg) {
        op_done(op, NULL, "unavailable", "out of memory");
        return;
    }
    memcpy(msg, op->mime, op->mime_len);
    memcpy(msg + op->mime_len, r->body, r->body_len);
    msg[n] = 0;
    char err[256];
    json_t *p = em_part(msg, n, "1", op->max, err, sizeof(err));
    free(msg);
    if (!p) {
        bool big = strstr(err, "over the") != NULL;
        op_done(op, NULL, big ? "too_large" : "not_found", "part %s: %s", op->part,
                big ? "larger than max_bytes" : "not a single part (a multipart has no bytes)");
        return;
    }
    json_t *out =
        json_pack("{s:s,s:s,s:O,s:O,s:I,s:O}", "ref", op->ref, "part", op->part, "mime_type",
                  json_object_get(p, "content_type"), "size", json_object_get(p, "size"), "uid",
                  (json_int_t)op->uid, "content_base64", json_object_get(p, "content_base64"));
    if (json_object_get(p, "filename"))
        json_object_set(out, "name", json_object_get(p, "filename"));
    json_decref(p);
    op_done(op, out, NULL, NULL);
}

static void got_mime(email *e, const ah_http_response *r, void *ud)
{
    att_op *op = ud;
    if (r->error_code) {
        op_failed(op, "fetching the part's header", r);
        return;
    }
    if (!r->body_len) { /* Dovecot answers an absent section with nothing */
        op_done(op, NULL, "not_found", "the mail has no part %s", op->part);
        return;
    }
    static const char mv[] = "MIME-Version: 1.0\r\n";
    op->mime = malloc(sizeof(mv) - 1 + r->body_len);
    if (!op->mime) {
        op_done(op, NULL, "unavailable", "out of memory");
        return;
    }
    memcpy(op->mime, mv, sizeof(mv) - 1);
    memcpy(op->mime + sizeof(mv) - 1, r->body, r->body_len);
    op->mime_len = sizeof(mv) - 1 + r->body_len;
    char url[1000];
    snprintf(url, sizeof(url), "%s/;SECTION=%s/;PARTIAL=0.%zu", op->url, op->part,
             op->max * 3 + 8193);
    if (em_request(e, "GET", url, NULL, 0, NULL, false, AH_HTTP_IDEMPOTENT, got_body, op))
        op_done(op, NULL, "unavailable", "the host refused the request");
}

static void searched(email *e, const ah_http_response *r, void *ud)
{
    att_op *op = ud;
    if (r->error_code) {
        op_failed(op, "searching for the mail", r);
        return;
    }
    const char *s = r->body ? g_strstr_len(r->body, (gssize)r->body_len, "* SEARCH") : NULL;
    uint32_t uid = 0;
    if (s) { /* the last (newest) of the UIDs listed */
        const char *end = (const char *)r->body + r->body_len;
        for (const char *c = s + 8; c < end;) {
            char *stop;
            unsigned long v = strtoul(c, &stop, 10);
            if (stop == c) break;
            uid = (uint32_t)v;
            c = stop;
        }
    }
    if (!uid) {
        op->folder++;
        search_folder(op);
        return;
    }
    op->uid = uid;
    char furl[700];
    const char *folder = op->folder ? e->move_to : e->mailbox;
    folder_url(e, folder, furl, sizeof(furl));
    if (!op->folder && e->have_state) /* the server checks that UIDs still mean the same */
        snprintf(op->url, sizeof(op->url), "%s;UIDVALIDITY=%u/;UID=%u", furl, e->uidvalidity, uid);
    else
        snprintf(op->url, sizeof(op->url), "%s;UID=%u", furl, uid);
    char url[1000];
    snprintf(url, sizeof(url), "%s/;SECTION=%s.MIME", op->url, op->part);
    if (em_request(e, "GET", url, NULL, 0, NULL, false, AH_HTTP_IDEMPOTENT, got_mime, op))
        op_done(op, NULL, "unavailable", "the host refused the request");
}

static void search_folder(att_op *op)
{
    email *e = op->e;
    const char *folder = op->folder == 0 ? e->mailbox : op->folder == 1 ? e->move_to : "";
    if (!folder[0]) {
        op_done(op, NULL, "not_found", "no mail with Message-ID <%s> in %s%s%s", op->mid,
                e->mailbox, e->move_to[0] ? " or " : "", e->move_to);
        return;
    }
    char url[700], cmd[400];
    folder_url(e, folder, url, sizeof(url));
    snprintf(cmd, sizeof(cmd), "UID SEARCH HEADER Message-ID \"<%s>\"", op->mid);
    if (em_request(e, cmd, url, NULL, 0, NULL, false, AH_HTTP_IDEMPOTENT, searched, op))
        op_done(op, NULL, "unavailable", "the host refused the request");
}

/* ref "email:<MID>/PART" into mid and part; false when it is not one. */
static bool ref_parse(const char *ref, char *mid, size_t midn, char *part, size_t partn)
{
    if (!ref || strncmp(ref, "email:<", 7) != 0) return false;
    const char *close = strrchr(ref, '>');
    if (!close || close[1] != '/' || !close[2]) return false;
    size_t ml = (size_t)(close - (ref + 7));
    if (!ml || ml >= midn) return false;
    for (const char *c = ref + 7; c < close; c++) /* printable ASCII, nothing IMAP quotes */
        if (*c <= ' ' || *c > '~' || *c == '"' || *c == '\\' || *c == '<' || *c == '>')
            return false;
    const char *p = close + 2;
    if (strlen(p) >= partn) return false;
    for (const char *c = p; *c; c++) /* "2", "1.2.3" */
        if (!g_ascii_isdigit(*c) && !(*c == '.' && c > p && c[1] && c[-1] != '.')) return false;
    memcpy(mid, ref + 7, ml);
    mid[ml] = 0;
    strcpy(part, p);
    return true;
}

void em_attachment_action(email *e, ah_call *call, const json_t *args)
{
    const char *ref = json_string_value(json_object_get(args, "ref"));
    const json_t *mx = json_object_get(args, "max_bytes");
    if (!e->imap_url[0]) {
        e->host->reply_error(call, "unavailable",
                             "this instance has no imap_url: attachments are fetched from it");
        return;
    }
    att_op *op = calloc(1, sizeof(*op));
    if (!op) {
        e->host->reply_error(call, "unavailable", "out of memory");
        return;
    }
    *op = (att_op){.e = e, .call = call, .max = ATT_MAX_DEFAULT};
    if (!ref || strlen(ref) >= sizeof(op->ref) ||
        !ref_parse(ref, op->mid, sizeof(op->mid), op->part, sizeof(op->part))) {
        op_done(op, NULL, "invalid",
                "ref: an attachment's ref from message.in, \"email:<MESSAGE-ID>/PART\"");
        return;
    }
    if (mx && (!json_is_integer(mx) || json_integer_value(mx) < 1 ||
               json_integer_value(mx) > ATT_MAX_LIMIT)) {
        op_done(op, NULL, "invalid", "max_bytes: an integer from 1 to %u", ATT_MAX_LIMIT);
        return;
    }
    if (mx) op->max = (size_t)json_integer_value(mx);
    snprintf(op->ref, sizeof(op->ref), "%s", ref);
    search_folder(op);
}
