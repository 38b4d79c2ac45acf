#include "core/util.h"
#include "cli.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: agenthost secret set INSTANCE NAME   (the value is read from stdin)\n"
    "       agenthost secret list [INSTANCE]\n"
    "       agenthost secret delete INSTANCE NAME\n"
    "options: --config FILE  --data DIR  --master-key FILE\n"
    "Secrets are encrypted at rest under the master key; an instance receives only\n"
    "the secrets its manifest names. Restart the instance to pick up a change.\n";

static void on_done(int status, void *ud)
{
    *(int *)ud = status;
}

static int read_stdin(char **out, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) return -1;
    for (;;) {
        if (n == cap) {
            if (cap >= SECRET_MAX_BYTES) {
                sodium_memzero(buf, n);
                free(buf);
                return -2;
            }
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return -1;
            }
            buf = nb;
        }
        ssize_t r = read(0, buf + n, cap - n);
        if (r < 0) {
            free(buf);
            return -1;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    /* One trailing newline (from echo or a terminal) is not part of it. */
    if (n && buf[n - 1] == '\n') n--;
    if (n && buf[n - 1] == '\r') n--;
    *out = buf;
    *len = n;
    return 0;
}

/* The audit entry names the secret, never its value. */
static void audit_secret(const config *c, store *st, const char *action, const char *inst,
                         const char *name)
{
    char id[160];
    snprintf(id, sizeof(id), "%s/%s", inst, name);
    cli_audit(c, st, action, "secrets", id, NULL);
}

int cmd_secret(int argc, char **argv)
{
    const char *cfgp = NULL, *data = NULL, *mkey = NULL;
    cli_opt opts[] = {
        {"--config", &cfgp, NULL}, {"--data", &data, NULL}, {"--master-key", &mkey, NULL}, {0}};
    const char *pos[4];
    int npos;
    int rc = cli_parse(argc, argv, opts, pos, 4, &npos, usage);
    if (rc) return rc > 0 ? 0 : 2;
    if (npos < 1) {
        cli_usage_error(usage);
        return 2;
    }
    const char *verb = pos[0];
    bool is_set = !strcmp(verb, "set"), is_del = !strcmp(verb, "delete"),
         is_list = !strcmp(verb, "list");
    if ((!is_set && !is_del && !is_list) || ((is_set || is_del) && npos != 3) ||
        (is_list && npos > 2)) {
        cli_usage_error(usage);
        return 2;
    }
    if ((is_set || is_del) && (!ah_valid_id(pos[1]) || !ah_valid_id(pos[2])))
        return cli_fail("instance and secret names are 1-64 characters of a-z, 0-9, '-', '_', '.'");
    config c;
    if (cli_load_config(&c, cfgp, data, NULL)) return 1;
    store *st = NULL;
    secrets *sec = NULL;
    rc = 1;
    /* Names are listed and deleted without the key (a lost key's secrets
     * can still be removed); a value is sealed only with the store's key. */
    if (cli_open_store(&c, false, &st) ||
        cli_open_secrets(&c, st, mkey, is_set ? SECRETS_KEY_CREATE : SECRETS_KEY_NONE, &sec))
        goto out;
    if (is_list) {
        json_t *arr = secrets_list(sec, npos == 2 ? pos[1] : NULL);
        size_t i;
        json_t *e;
        json_array_foreach(arr, i, e)
            printf("%s %s\n", json_string_value(json_object_get(e, "instance")),
                   json_string_value(json_object_get(e, "name")));
        json_decref(arr);
        rc = 0;
    } else if (is_set) {
        char *val = NULL;
        size_t len = 0;
        int r = read_stdin(&val, &len);
        if (r == -2) {
            rc = cli_fail("secret larger than %u bytes", SECRET_MAX_BYTES);
            goto out;
        }
        if (r < 0) {
            rc = cli_fail("cannot read the secret from stdin");
            goto out;
        }
        if (len < SECRET_MIN_BYTES) {
            sodium_memzero(val, len);
            free(val);
            rc = cli_fail(len ? "a secret needs at least %u bytes (one this short is guessed "
                                "easily and cannot be told from text in logs); nothing stored"
                              : "empty secret on stdin; nothing stored",
                          SECRET_MIN_BYTES);
            goto out;
        }
        if (memchr(val, 0, len)) {
            sodium_memzero(val, len);
            free(val);
            rc = cli_fail("a secret cannot hold a NUL byte; nothing stored");
            goto out;
        }
        int status = 0;
        r = secrets_set(sec, pos[1], pos[2], val, len, on_done, &status);
        sodium_memzero(val, len);
        free(val);
        if (r || status) {
            rc = cli_fail("cannot store the secret: %s", ah_strerror(r ? r : status));
            goto out;
        }
        fprintf(stderr, "secret %s of instance %s stored\n", pos[2], pos[1]);
        rc = 0;
        audit_secret(&c, st, "secret.set", pos[1], pos[2]);
    } else {
        int status = 0;
        int r = secrets_delete(sec, pos[1], pos[2], on_done, &status);
        if (r || status) {
            rc = cli_fail("%s %s: %s", pos[1], pos[2],
                          (r ? r : status) == AH_ENOTFOUND ? "no such secret"
                                                           : ah_strerror(r ? r : status));
            goto out;
        }
        rc = 0;
        audit_secret(&c, st, "secret.delete", pos[1], pos[2]);
    }
out:
    secrets_close(sec);
    store_close(st);
    config_free(&c);
    return rc;
}
