/*
 * mail.h - smtp(s) and imap(s) requests through the broker (docs/adr/
 * 0034-mail-through-the-broker.md): the request's mail fields, checked,
 * and the curl options of an attempt. Everything else (allowlist, address
 * checks, deadline, retries, breaker, logs) is the transfer's, as for
 * HTTP. Not a public header.
 *
 * A mail request is the HTTP request's shape with a mail URL:
 *  - smtp://host[:port] or smtps://...: method "SEND", headers
 *    "Mail-From: <a@b>" (one; "<>" for a bounce) and "Rcpt-To: <c@d>" (1 to
 *    100), the message (RFC 5322 bytes, CRLF lines) as the body;
 *  - imap://host[:port]/MAILBOX[;UID=n][?SEARCH] or imaps://...: method
 *    "GET" does what the URL says (curl's IMAP URLs, RFC 5092: fetch a
 *    message by UID, list, search), "APPEND" stores the body as a message
 *    in MAILBOX, and any other method is an IMAP command line sent after
 *    login (and SELECT of the URL's mailbox, if it names one): "UID SEARCH
 *    UNSEEN", "UID STORE 5 +FLAGS (\\Seen)", "UID MOVE 5 Done", "EXAMINE
 *    INBOX" (UIDVALIDITY); the server's untagged answers are the body;
 *  - credentials only as "Authorization: Basic base64(user:password)",
 *    never in the URL; no other header.
 * "kind" ("smtp", "imap", or the s forms), when given, must agree with the
 * URL's scheme.
 */
#ifndef AH_BROKER_MAIL_H
#define AH_BROKER_MAIL_H

#include "broker_priv.h"

#include <curl/curl.h>
#include <jansson.h>

/* The mail kind of url's scheme, or MAIL_NONE (http, https, anything else). */
mail_kind mail_kind_of_url(const char *url);

/* Fill s's method and mail fields from the request (its url is set).
 * NULL, or the reason it is invalid (with *code "invalid" or "too_large"). */
const char *mail_parse_head(const json_t *request, xfer_spec *s, const char **code);
/* After body and flags are parsed: NULL, or why the request is invalid.
 * Drops AH_HTTP_IDEMPOTENT from SMTP (a message is never sent twice on a
 * guess). */
const char *mail_check(xfer_spec *s);

/* One attempt's state for curl's read callback and its recipient list. */
typedef struct mail_io {
    struct curl_slist *rcpt;
    const char *data;
    size_t len, pos;
} mail_io;

/* Set the mail options of an attempt on e (after the common ones).
 * plain_ok: the destination's entry is private (an operator's grant), so
 * smtp:// and imap:// may stay plain text when the server offers no
 * STARTTLS; otherwise STARTTLS is required. */
void mail_setup(CURL *e, const xfer_spec *s, const char *scheme, bool plain_ok, mail_io *io);
void mail_io_free(mail_io *io);

#endif
