/*
 * account_mail.h - invitation and password reset mails (auth.mail_instance,
 * http.public_url; docs/security-model.md). The link
 * PUBLIC_URL/admin/set-password#token=TOKEN goes to the person through the
 * send action of the e-mail instance named (plugins/email: SMTP through
 * the broker), in English or Russian after the user's language. The token
 * is in the mail only: never in a log line, nor in the idempotency key.
 */
#ifndef AH_API_ACCOUNT_MAIL_H
#define AH_API_ACCOUNT_MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct supervisor supervisor;
typedef struct account_mail account_mail;

/* The options together: 0 (both unset, or a usable pair), or -1 with the
 * field named in err. */
int account_mail_check(const char *inst_id, const char *public_url, char *err, size_t errlen);

/* NULL when instance is NULL (no mail: tokens are answered) or out of
 * memory (*failed set). sup is borrowed. */
account_mail *account_mail_new(supervisor *sup, const char *inst_id, const char *public_url,
                               bool *failed);
void account_mail_free(account_mail *m);

typedef struct account_mail_msg {
    bool invite;         /* an invitation, else a password reset */
    const char *user_id; /* for the logs and the idempotency key */
    const char *to;      /* the address */
    const char *name;    /* may be NULL or "" */
    const char *role;    /* an invitation's role; may be NULL */
    const char *language;
    const char *token;
    int64_t expires_ms; /* the token's end (Unix ms) */
} account_mail_msg;

/* Runs once: sent, or not with the reason (one line, no token in it). */
typedef void (*account_mail_cb)(void *ud, bool sent, const char *reason);

/* Send msg (copied as needed); cb runs later, or now when the call cannot
 * be made (no such instance, not ready). */
void account_mail_send(account_mail *m, const account_mail_msg *msg, account_mail_cb cb, void *ud);

#endif
