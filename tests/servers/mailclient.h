/*
 * mailclient.h - a mail client for the tests (libcurl straight to the
 * servers of mailserver.h): submit a mail over SMTP as the customer, read
 * a mailbox over IMAP (search, fetch, wait for a mail), read a header of a
 * raw message. The test's cmocka assertions fail on a transport error
 * where the helper says so.
 */
#ifndef AH_TEST_MAILCLIENT_H
#define AH_TEST_MAILCLIENT_H

#include "mailserver.h"

#include "../support/th.h"

#include <stdbool.h>
#include <stddef.h>

/* The customer's mailbox (mailserver.h); the envelope sender of every mail
 * the client submits. */
#define MC_CUSTOMER "customer@example.test"

/* A growing buffer for libcurl: mc_sink appends what a transfer writes
 * (NUL-terminated), mc_source reads p[off..n) for an upload. */
typedef struct mc_buf {
    char *p;
    size_t n, off;
} mc_buf;

size_t mc_sink(char *d, size_t sz, size_t nm, void *ud);
size_t mc_source(char *d, size_t sz, size_t nm, void *ud);
/* A write callback that keeps nothing (for a body the test ignores). */
size_t mc_discard(char *d, size_t sz, size_t nm, void *ud);

/* Submit the whole message msg (CRLF lines) to rcpt (a bare address) over
 * plain SMTP, from MC_CUSTOMER; asserts that the server took it. */
void mc_submit(const mailserver *m, const char *rcpt, const char *msg);
/* Compose a text/plain (UTF-8) mail and submit it to `to` (a bare address):
 * From: from (as given, "Name <addr>"), To: Support <to>, Subject, the
 * Message-ID <mid>, a fixed Date, then extra_headers (each ending in CRLF,
 * or "") and the text. */
void mc_mail(const mailserver *m, const char *from, const char *to, const char *mid,
             const char *subject, const char *extra_headers, const char *text);

/* An IMAP request to who's mailbox (the password is the server's):
 * path "INBOX" or "INBOX;UID=7", command a custom one ("UID SEARCH ALL")
 * or NULL for a fetch of the path. The answer (malloc'd), or NULL when the
 * request failed. */
char *mc_imap(const mailserver *m, const char *who, const char *path, const char *command);
/* The UIDs "UID SEARCH <criteria>" finds in who's folder, the first max into
 * v (v may be NULL when max is 0): how many it found, or -1 when the
 * request failed. */
long mc_search(const mailserver *m, const char *who, const char *folder, const char *criteria,
               long *v, size_t max);
/* The highest UID in who's INBOX (0: empty); asserts the request worked. */
long mc_newest_uid(const mailserver *m, const char *who);
/* Mail uid of who's INBOX, whole (malloc'd); asserts it was fetched. */
char *mc_fetch(const mailserver *m, const char *who, long uid);
/* Once a search of who's INBOX finds at least n mails (fails after
 * timeout_ms): the UIDs found into v (up to max), how many. */
size_t mc_wait_search(const mailserver *m, const char *who, const char *criteria, size_t n, long *v,
                      size_t max, int timeout_ms);

/* The mailbox's login (m->user, m->password) as the secrets user and
 * password of the e-mail instance `instance` of host h (before it
 * starts): 0 or -1. */
int mc_store_login(th_host *h, const char *instance, const mailserver *m);

/* The e-mail instance's poller: the last UID it handled (its status
 * action), or -1 when the action failed. */
long mc_handled_uid(th_host *h, const char *instance);
/* Whether the poller handled uid (or a later one) within timeout_ms. */
bool mc_wait_handled(th_host *h, const char *instance, long uid, int timeout_ms);

/* A header's value in a raw message (a static buffer, unfolded), or "":
 * the name in any case (GMime writes Message-Id). */
const char *mc_header(const char *raw, const char *name);
/* The Message-ID of a raw message without its angle brackets, into out;
 * asserts there is one. */
void mc_message_id(const char *raw, char *out, size_t n);

#endif
