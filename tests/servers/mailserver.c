/*
 * mailserver.c - Dovecot and Postfix on loopback for tests. See
 * mailserver.h; the servers' configuration is in mailserver.sh.
 */
#include "mailserver.h"

#include "../support/th.h"

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char script[512];

/* Run the script with argv; its exit status, or -1. */
static int run(char *const argv[])
{
    pid_t pid;
    if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0) return -1;
    int st;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int mailserver_start(mailserver *m, const char *source_dir)
{
    memset(m, 0, sizeof(*m));
    snprintf(script, sizeof(script), "%s/tests/servers/mailserver.sh", source_dir);
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(m->dir, sizeof(m->dir), "%s/ah-mail-XXXXXX", base);
    if (!mkdtemp(m->dir)) {
        snprintf(m->why, sizeof(m->why), "cannot make a temporary directory");
        m->dir[0] = 0;
        return -1;
    }
    snprintf(m->user, sizeof(m->user), "agent@example.test");
    unsigned char r[12];
    FILE *u = fopen("/dev/urandom", "rb");
    if (!u || fread(r, 1, sizeof(r), u) != sizeof(r)) {
        if (u) fclose(u);
        snprintf(m->why, sizeof(m->why), "cannot read /dev/urandom");
        return -1;
    }
    fclose(u);
    for (size_t i = 0; i < sizeof(r); i++)
        snprintf(m->password + 2 * i, 3, "%02x", r[i]);
    m->imap_port = th_free_port();
    m->smtp_port = th_free_port();
    m->lmtp_port = th_free_port();
    m->submission_port = th_free_port();
    char ip[16], sp[16], lp[16], up[16];
    snprintf(ip, sizeof(ip), "%d", m->imap_port);
    snprintf(sp, sizeof(sp), "%d", m->smtp_port);
    snprintf(lp, sizeof(lp), "%d", m->lmtp_port);
    snprintf(up, sizeof(up), "%d", m->submission_port);
    char *argv[] = {script, "start", m->dir, ip, sp, up, lp, m->user, m->password, NULL};
    if (run(argv) != 0) {
        snprintf(m->why, sizeof(m->why), "%s start failed (see its message above)", script);
        mailserver_stop(m);
        return -1;
    }
    return 0;
}

void mailserver_stop(mailserver *m)
{
    if (!m->dir[0]) return;
    char *argv[] = {script, "stop", m->dir, NULL};
    run(argv);
    char *rm[] = {"/bin/rm", "-rf", m->dir, NULL};
    pid_t pid;
    if (posix_spawn(&pid, rm[0], NULL, NULL, rm, environ) == 0) waitpid(pid, NULL, 0);
    m->dir[0] = 0;
}
