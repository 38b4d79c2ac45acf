/*
 * mailserver.h - real mail servers on loopback for tests: Debian's Dovecot
 * (IMAP) and Postfix (SMTP, delivering to that Dovecot over LMTP), started
 * by tests/servers/mailserver.sh with configurations generated in a fresh
 * temporary directory (no system configuration is read or touched).
 *
 * Two mailboxes, "agent@example.test" (user) and "customer@example.test",
 * both with the same random password; mail to either (or to a plus address
 * of either) lands in its INBOX; other addresses @example.test are bounced,
 * refused@example.test is refused by Postfix at RCPT TO (554 5.7.1). IMAP without TLS on
 * 127.0.0.1:imap_port, SMTP on 127.0.0.1:smtp_port (plain, no auth; the
 * loopback client is a trusted network) and on 127.0.0.1:submission_port
 * (AUTH PLAIN or LOGIN as the mailbox's user required, as a provider's
 * submission server does; no TLS).
 */
#ifndef AH_TEST_MAILSERVER_H
#define AH_TEST_MAILSERVER_H

typedef struct mailserver {
    char dir[256];
    int imap_port, smtp_port, lmtp_port;
    int submission_port; /* SMTP that takes mail only after AUTH as user/password */
    char user[64];
    char password[40];
    char why[200]; /* why start failed */
} mailserver;

/* Start both servers; 0 once both accept connections, or -1 with m->why
 * (not root, a package missing, a server failing: its log went to stderr).
 * source_dir is the repository's root (for the script). */
int mailserver_start(mailserver *m, const char *source_dir);
/* Stop both and wait for them; remove the directory. Safe to call twice. */
void mailserver_stop(mailserver *m);

#endif
