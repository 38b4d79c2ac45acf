/*
 * em.h - the e-mail plugin's shared state and its parts (internal): the
 * mailbox's requests through the broker (transport.c), the IMAP poller
 * (inbound.c) and SMTP sending (outbound.c). The mail core is mail.h.
 */
#ifndef EMAIL_EM_H
#define EMAIL_EM_H

#include "mail.h"

#include <agenthost/plugin.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define EM_OWN_MAX 16

typedef struct email {
    const ah_host *host;
    ah_ctx *ctx;
    const json_t *config;
    char instance[128];
    const char *own[EM_OWN_MAX + 1];
    size_t own_n;
    size_t max_text;
    /* The transport; imap_url[0] == 0: none (the actions only). */
    char imap_url[512]; /* scheme://host[:port], no trailing slash */
    char mailbox[128];
    char smtp_url[512];
    char move_to[128]; /* "": handled mail stays, marked \Seen */
    const char *user, *password, *smtp_user, *smtp_password; /* secrets; never logged */
    bool smtp_auth;
    uint32_t poll_ms, max_per_poll;
    bool first_all; /* first_start "all": every mail there; else only new mail */
    uint32_t rate_max, rate_window_s;
    json_t *rate; /* sender -> [window start (s), count] */
    /* The poller's place. */
    uint32_t uidvalidity, last_uid;
    bool have_state, stopping;
    uint32_t backoff_ms;
} email;

int64_t em_now_ms(void);

/* ---- transport.c ---- */

typedef void (*em_http_cb)(email *e, const ah_http_response *r, void *ud);
/* A mail request through the broker: method (an IMAP command, "GET" or
 * "SEND"), url, body, extra headers (NULL-terminated, or NULL); the
 * mailbox's login as Authorization (smtp: the SMTP login, none when
 * config.smtp_auth is false). Nonzero: not sent, cb not called. */
int em_request(email *e, const char *method, const char *url, const char *body, size_t len,
               const char *const *extra, bool smtp, uint32_t flags, em_http_cb cb, void *ud);
/* "imap://host/INBOX" (the mailbox URL-encoded as RFC 5092 wants), into out. */
void em_mailbox_url(const email *e, char *out, size_t n);
/* The conversation id of a thread key: "t_" and 24 hex digits. */
void em_chat_of(const char *thread_key, char *out, size_t n);
/* Is s a conversation id em_chat_of makes? */
bool em_is_chat(const char *s);
/* Is s a chat named by an address (a thread the agent started: message.out
 * to a contact's address, e.g. after a failover or a continue_in offer)?
 * One '@', no spaces, controls or "<>", under 64 bytes. */
bool em_is_address_chat(const char *s);

/* ---- inbound.c ---- */

void em_inbound_start(email *e);
/* The action status: the poller's place. */
json_t *em_inbound_status(const email *e);

/* ---- attach.c ---- */

/* The action attachment.fetch: {ref, max_bytes} to the part's bytes. */
void em_attachment_action(email *e, ah_call *call, const json_t *args);

/* ---- outbound.c ---- */

/* A message.out delivery: ours is sent idempotently, another's acked. */
void em_on_out(email *e, const ah_event *ev);
/* The action send (the step email.send). */
void em_send_action(email *e, ah_call *call, const json_t *args);

#endif
