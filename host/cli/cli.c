#include "cli.h"

#include "core/log.h"
#include "model/audit.h"
#include "model/docs.h"
#include "store/store_guard.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("agenthost: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

void cli_usage_error(const char *usage)
{
    const char *u = strncmp(usage, "usage: ", 7) ? usage : usage + 7;
    fprintf(stderr, "agenthost: wrong arguments; usage: %.*s (--help for more)\n",
            (int)strcspn(u, "\n"), u);
}

int cli_verbs(int argc, char **argv, const char *command, const cli_verb *verbs, size_t n,
              const char *usage)
{
    if (argc < 2) {
        cli_usage_error(usage);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, stdout);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (!strcmp(argv[1], verbs[i].verb)) return verbs[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "agenthost: %s: unknown verb \"%s\" (--help lists them)\n", command, argv[1]);
    return 2;
}

int cli_parse(int argc, char **argv, const cli_opt *opts, const char **pos, int maxpos, int *npos,
              const char *usage)
{
    *npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 1;
        }
        if (a[0] == '-' && a[1] == '-' && a[2]) {
            const char *eq = strchr(a, '=');
            size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
            const cli_opt *o = NULL;
            for (const cli_opt *p = opts; p && p->name; p++)
                if (strlen(p->name) == nlen && !strncmp(p->name, a, nlen)) o = p;
            if (!o) {
                fprintf(stderr, "agenthost: unknown option %.*s (--help lists them)\n", (int)nlen,
                        a);
                return -1;
            }
            if (o->flag) {
                *o->flag = true;
                continue;
            }
            if (eq) {
                *o->value = eq + 1;
            } else if (i + 1 < argc) {
                *o->value = argv[++i];
            } else {
                fprintf(stderr, "agenthost: %s needs a value\n", o->name);
                return -1;
            }
            continue;
        }
        if (*npos == maxpos) {
            fprintf(stderr, "agenthost: unexpected argument \"%s\" (--help shows the usage)\n", a);
            return -1;
        }
        pos[(*npos)++] = a;
    }
    return 0;
}

int cli_load_config(config *c, const char *config_path, const char *data, const char *logs)
{
    char err[1024];
    if (config_load(c, config_path, err, sizeof(err)) < 0) return cli_fail("%s", err);
    if (data) config_set(c, "data_dir", data);
    if (logs) config_set(c, "logs_dir", logs);
    if (host_config_finalize(c, NULL, config_path, err, sizeof(err)) < 0) {
        config_free(c);
        return cli_fail("%s", err);
    }
    return 0;
}

int cli_open_store(const config *c, bool read_only, store **st)
{
    char err[1024];
    store_opts so = {.dir = c->data_dir, .read_only = read_only};
    if (store_open(st, NULL, &so, err, sizeof(err)) != 0) return cli_fail("%s", err);
    store_guard_install(c->data_dir);
    return 0;
}

int cli_open_secrets(const config *c, store *st, const char *master_key, secrets_key_mode mode,
                     secrets **out)
{
    char err[1024];
    if (secrets_open(out, st, master_key ? master_key : c->master_key, mode, err, sizeof(err)) != 0)
        return cli_fail("%s", err);
    return 0;
}

typedef struct audit_arg {
    const char *action, *coll, *id;
    const json_t *what;
} audit_arg;

static int run_audit(doc_txn *t, void *ud)
{
    audit_arg *a = ud;
    char user[96];
    const char *name = getenv("SUDO_USER") ? getenv("SUDO_USER") : getenv("USER");
    if (!name) {
        snprintf(user, sizeof(user), "uid %u", (unsigned)getuid());
        name = user;
    }
    audit_actor who = {.kind = "cli", .name = name};
    return audit_record(t, &who, NULL, a->action, a->coll, a->id, NULL, a->what);
}

int cli_audit(const config *c, store *st, const char *action, const char *coll, const char *id,
              const json_t *what)
{
    char err[512];
    docs *d = NULL;
    if (docs_open(&d, st, NULL, NULL, err, sizeof(err)) != 0)
        return cli_fail("cannot record the audit entry: %s", err);
    log_opts lo = {.dir = c->logs_dir, .to_stderr = false, .min_level = LOG_INFO};
    log_init(&lo);
    audit_arg a = {action, coll, id, what};
    doc_error e;
    int rc = docs_write_now(d, run_audit, &a, &e);
    log_shutdown();
    docs_close(d);
    if (rc)
        return cli_fail("the change is made, but its audit entry was not recorded: %s", e.message);
    return 0;
}

const char *cli_abspath(const char *path, char *buf, size_t len)
{
    char real[PATH_MAX], cwd[PATH_MAX];
    if (realpath(path, real))
        snprintf(buf, len, "%s", real);
    else if (path[0] != '/' && getcwd(cwd, sizeof(cwd)))
        snprintf(buf, len, "%s/%s", cwd, path[0] == '.' && path[1] == '/' ? path + 2 : path);
    else
        snprintf(buf, len, "%s", path);
    return buf;
}
