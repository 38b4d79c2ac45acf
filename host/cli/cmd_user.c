#include "auth/password.h"
#include "auth/perm.h"
#include "auth/users.h"
#include "model/docs.h"
#include "cli.h"

#include <agenthost/plugin.h>

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static const char usage[] =
    "usage: agenthost user create --email EMAIL --role ROLE [--name NAME]\n"
    "options: --config FILE  --data DIR\n"
    "Create a person who signs in to the admin (the first admin: --role admin).\n"
    "The password is read from standard input (asked twice, unechoed, on a\n"
    "terminal): at least 12 characters, not a common one. There is no default.\n";

/* One line from stdin into buf, without echo on a terminal. 0, or -1. */
static int read_secret(const char *prompt, char *buf, size_t len)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios old, quiet;
    if (tty) {
        fprintf(stderr, "%s", prompt);
        tcgetattr(STDIN_FILENO, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *got = fgets(buf, (int)len, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    if (!got) return -1;
    size_t n = strcspn(buf, "\r\n");
    if (buf[n] == 0 && n == len - 1) return -1; /* longer than the buffer */
    buf[n] = 0;
    return 0;
}

typedef struct create_arg {
    const char *email, *name, *role, *hash, *actor;
    char id[32];
} create_arg;

static int run_create(doc_txn *t, void *ud)
{
    create_arg *a = ud;
    return users_create(t, a->email, a->name, a->role, a->hash, a->actor, a->id);
}

static int create_user(const config *c, store *st, create_arg *a)
{
    char err[512];
    docs *d = NULL;
    if (docs_open(&d, st, NULL, NULL, err, sizeof(err)) != 0)
        return cli_fail("cannot open the documents: %s", err);
    doc_error e;
    int rc = docs_write_now(d, run_create, a, &e);
    docs_close(d);
    if (rc == AH_EEXIST) return cli_fail("a user with the e-mail %s exists already", a->email);
    if (rc)
        return cli_fail("cannot create the user: %s%s%s", e.field, e.field[0] ? ": " : "",
                        e.message);
    printf("%s\n", a->id);
    json_t *what = json_pack("{s:s,s:s}", "email", a->email, "role", a->role);
    cli_audit(c, st, "user.create", "users", a->id, what);
    json_decref(what);
    return 0;
}

int cmd_user(int argc, char **argv)
{
    const char *cfgp = NULL, *data = NULL, *email = NULL, *name = NULL, *role = NULL;
    cli_opt opts[] = {{"--config", &cfgp, NULL}, {"--data", &data, NULL}, {"--email", &email, NULL},
                      {"--name", &name, NULL},   {"--role", &role, NULL}, {0}};
    const char *pos[2];
    int npos;
    int rc = cli_parse(argc, argv, opts, pos, 2, &npos, usage);
    if (rc) return rc > 0 ? 0 : 2;
    if (npos != 1 || strcmp(pos[0], "create") || !email || !role) {
        cli_usage_error(usage);
        return 2;
    }
    if (!auth_role_valid(role)) return cli_fail("role must be one of %s", auth_role_names());
    char pw[AUTH_PW_MAX + 2], again[AUTH_PW_MAX + 2], why[160];
    if (read_secret("Password: ", pw, sizeof(pw)))
        return cli_fail("no password on standard input (or over %d bytes)", AUTH_PW_MAX);
    if (auth_password_policy(pw, email, name, why, sizeof(why)))
        return sodium_memzero(pw, sizeof(pw)), cli_fail("%s", why);
    if (isatty(STDIN_FILENO) &&
        (read_secret("Again: ", again, sizeof(again)) || strcmp(pw, again) != 0))
        return sodium_memzero(pw, sizeof(pw)), cli_fail("the passwords differ");
    char hash[AUTH_PW_HASH_MAX];
    rc = auth_password_hash(pw, hash);
    sodium_memzero(pw, sizeof(pw));
    sodium_memzero(again, sizeof(again));
    if (rc) return cli_fail("cannot hash the password (out of memory?)");
    config c;
    if (cli_load_config(&c, cfgp, data, NULL)) return 1;
    store *st;
    if (cli_open_store(&c, false, &st)) {
        config_free(&c);
        return 1;
    }
    const char *who = getenv("USER") ? getenv("USER") : "cli";
    char actor[96];
    snprintf(actor, sizeof(actor), "cli:%.80s", who);
    create_arg a = {.email = email, .name = name, .role = role, .hash = hash, .actor = actor};
    rc = create_user(&c, st, &a);
    store_close(st);
    config_free(&c);
    return rc;
}
