/*
 * mail.c - smtp(s) and imap(s) requests: their fields, checked, and the
 * curl options of an attempt. See mail.h.
 */
#include "mail.h"

#include "sdk/ipc/b64.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RCPT_MAX 100
#define ADDR_MAX 320
#define COMMAND_MAX 1000

mail_kind mail_kind_of_url(const char *url)
{
    static const struct {
        const char *prefix;
        mail_kind k;
    } m[] = {{"smtp://", MAIL_SMTP},
             {"smtps://", MAIL_SMTP},
             {"imap://", MAIL_IMAP},
             {"imaps://", MAIL_IMAP}};
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
        if (!strncasecmp(url, m[i].prefix, strlen(m[i].prefix))) return m[i].k;
    return MAIL_NONE;
}

/* No control characters (CR and LF would start another command). */
static bool clean(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return false;
    return true;
}

/* The IMAP commands a request may send: those that neither change the
 * connection's state under curl (LOGIN, AUTHENTICATE, STARTTLS, LOGOUT,
 * SELECT, IDLE) nor need a literal (APPEND is the "APPEND" method). */
static bool imap_command_ok(const char *cmd)
{
    static const char *const verbs[] = {
        "CAPABILITY", "NOOP",     "EXAMINE",   "STATUS",     "LIST",       "LSUB",
        "NAMESPACE",  "SEARCH",   "FETCH",     "STORE",      "COPY",       "MOVE",
        "EXPUNGE",    "CREATE",   "SUBSCRIBE", "CHECK",      "UID SEARCH", "UID FETCH",
        "UID STORE",  "UID COPY", "UID MOVE",  "UID EXPUNGE"};
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        size_t n = strlen(verbs[i]);
        if (!strncasecmp(cmd, verbs[i], n) && (cmd[n] == ' ' || cmd[n] == 0)) return true;
    }
    return false;
}

/* "Authorization: Basic base64(user:password)" into s->user, s->password. */
static const char *take_basic(const char *v, xfer_spec *s)
{
    if (s->user) return "more than one Authorization header";
    if (strncasecmp(v, "Basic ", 6) != 0)
        return "mail credentials must be \"Authorization: Basic base64(user:password)\"";
    size_t n = 0;
    unsigned char *raw = ah_b64_decode(v + 6, &n);
    if (!raw) return "the Authorization header is not base64";
    unsigned char *colon = memchr(raw, ':', n);
    bool ok = colon && colon > raw && memchr(raw, 0, n) == NULL;
    if (ok) {
        s->user = strndup((const char *)raw, (size_t)(colon - raw));
        s->password = strndup((const char *)colon + 1, n - (size_t)(colon - raw) - 1);
    }
    sodium_memzero(raw, n);
    free(raw);
    if (!ok) return "the Authorization header is not base64(user:password)";
    if (!s->user || !s->password) return "out of memory";
    return NULL;
}

static const char *take_header(const char *line, xfer_spec *s, const char **code)
{
    const char *colon = strchr(line, ':');
    if (!colon || !clean(line)) return "a header is not \"Name: value\" without control characters";
    size_t nl = (size_t)(colon - line);
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (nl == 13 && !strncasecmp(line, "Authorization", nl)) return take_basic(v, s);
    if (s->mail != MAIL_SMTP) return "an IMAP request takes no header but Authorization";
    if (strlen(v) > ADDR_MAX) {
        *code = "too_large";
        return "an envelope address is longer than 320 bytes";
    }
    if (nl == 9 && !strncasecmp(line, "Mail-From", nl)) {
        if (s->mail_from) return "more than one Mail-From header";
        s->mail_from = strdup(v);
        return s->mail_from ? NULL : "out of memory";
    }
    if (nl == 7 && !strncasecmp(line, "Rcpt-To", nl)) {
        if (!strchr(v, '@')) return "a Rcpt-To header is not an address";
        if (s->nrcpt == RCPT_MAX) {
            *code = "too_large";
            return "more than 100 recipients";
        }
        char **nv = realloc(s->rcpt, (s->nrcpt + 1) * sizeof(*nv));
        if (!nv) return "out of memory";
        s->rcpt = nv;
        return (s->rcpt[s->nrcpt] = strdup(v)) != NULL && ++s->nrcpt ? NULL : "out of memory";
    }
    return "an SMTP request takes only Mail-From, Rcpt-To and Authorization headers";
}

/* The verb (one or two words) of an IMAP command, for the logs. */
static void verb_of(const char *cmd, char *out, size_t len)
{
    size_t n = strcspn(cmd, " ");
    if (!strncasecmp(cmd, "UID ", 4)) n = 4 + strcspn(cmd + 4, " ");
    snprintf(out, len, "%.*s", (int)n, cmd);
    for (char *p = out; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
}

const char *mail_parse_head(const json_t *request, xfer_spec *s, const char **code)
{
    *code = "invalid";
    s->mail = mail_kind_of_url(s->url);
    CURLU *u = curl_url();
    char *userinfo = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, s->url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK)
        curl_url_get(u, CURLUPART_USER, &userinfo, 0);
    bool has_user = userinfo != NULL;
    curl_free(userinfo);
    curl_url_cleanup(u);
    if (has_user) return "credentials go in an Authorization header, never in a mail URL";
    const char *method = json_string_value(json_object_get(request, "method"));
    if (!method) return "a mail request needs a method";
    if (s->mail == MAIL_SMTP) {
        if (strcmp(method, "SEND") != 0) return "an SMTP request's method is SEND";
        snprintf(s->method, sizeof(s->method), "SEND");
    } else if (!strcmp(method, "GET") || !strcmp(method, "APPEND")) {
        snprintf(s->method, sizeof(s->method), "%s", method);
    } else {
        if (strlen(method) > COMMAND_MAX) {
            *code = "too_large";
            return "an IMAP command is longer than 1000 bytes";
        }
        if (!clean(method)) return "an IMAP command has a control character (CR, LF, ...)";
        if (!imap_command_ok(method))
            return "not an IMAP command a request may send (LOGIN, SELECT, IDLE, APPEND as a "
                   "command, ... are the broker's)";
        if (!(s->command = strdup(method))) return "out of memory";
        verb_of(method, s->method, sizeof(s->method));
    }
    const json_t *hs = json_object_get(request, "headers");
    if (hs && !json_is_array(hs)) return "headers must be an array of \"Name: value\" strings";
    size_t i;
    const json_t *h;
    json_array_foreach(hs, i, h)
    {
        const char *line = json_string_value(h);
        if (!line || strlen(line) != json_string_length(h))
            return "headers must be strings without NUL";
        const char *why = take_header(line, s, code);
        if (why) return why;
    }
    return NULL;
}

const char *mail_check(xfer_spec *s)
{
    if (s->flags & AH_HTTP_STREAM) return "mail requests are not streamed";
    if (s->mail == MAIL_SMTP) {
        s->flags &= ~AH_HTTP_IDEMPOTENT;
        if (!s->mail_from) return "an SMTP request needs a Mail-From header";
        if (!s->nrcpt) return "an SMTP request needs at least one Rcpt-To header";
        if (!s->body_len) return "an SMTP request's body is the message, and it is empty";
        return NULL;
    }
    if (!strcmp(s->method, "APPEND") && !s->body_len)
        return "an IMAP APPEND's body is the message, and it is empty";
    if (strcmp(s->method, "APPEND") != 0 && s->body_len) return "only an IMAP APPEND has a body";
    return NULL;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    mail_io *io = ud;
    size_t want = size * n, left = io->len - io->pos;
    if (want > left) want = left;
    memcpy(buf, io->data + io->pos, want);
    io->pos += want;
    return want;
}

void mail_setup(CURL *e, const xfer_spec *s, const char *scheme, bool plain_ok, mail_io *io)
{
    mail_io_free(io);
    io->data = s->body ? s->body : "";
    io->len = s->body_len;
    if (s->user) {
        curl_easy_setopt(e, CURLOPT_USERNAME, s->user);
        curl_easy_setopt(e, CURLOPT_PASSWORD, s->password);
    }
    if (scheme[strlen(scheme) - 1] != 's') /* smtp, imap: STARTTLS */
        curl_easy_setopt(e, CURLOPT_USE_SSL, (long)(plain_ok ? CURLUSESSL_TRY : CURLUSESSL_ALL));
    bool upload = s->mail == MAIL_SMTP || !strcmp(s->method, "APPEND");
    if (s->mail == MAIL_SMTP) {
        curl_easy_setopt(e, CURLOPT_MAIL_FROM, s->mail_from);
        for (size_t i = 0; i < s->nrcpt; i++)
            io->rcpt = curl_slist_append(io->rcpt, s->rcpt[i]);
        curl_easy_setopt(e, CURLOPT_MAIL_RCPT, io->rcpt);
    } else if (s->command) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, s->command);
        /* EXAMINE opens a mailbox read-only behind curl's back: curl would
         * take the connection for the one it SELECTed and skip the next
         * SELECT, so the connection is not reused. */
        if (!strncasecmp(s->command, "EXAMINE", 7)) curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    }
    if (upload) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, io);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)s->body_len);
    }
}

void mail_io_free(mail_io *io)
{
    curl_slist_free_all(io->rcpt);
    memset(io, 0, sizeof(*io));
}
