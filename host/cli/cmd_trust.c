/* cmd_trust.c - agenthost trust add|list|remove, and agenthost keygen. */
#include "package/keys.h"
#include "package/trust.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_trust[] =
    "usage: agenthost trust add FILE.pub     trust a key to sign plugin packages\n"
    "       agenthost trust list             the trusted keys\n"
    "       agenthost trust remove KEY_ID    stop trusting a key\n"
    "options: --config FILE  --data DIR  --trusted-keys DIR\n"
    "Trusted keys live in trusted_keys_dir (default DATA_DIR/trusted-keys), one\n"
    "KEY_ID.pub file each. `agenthost plugin install` accepts only packages signed by\n"
    "one of them.\n";

static const char usage_keygen[] =
    "usage: agenthost keygen --out PREFIX [--comment TEXT]\n"
    "Make an Ed25519 key pair for signing plugin packages: PREFIX.key (secret, mode\n"
    "0600: keep it safe) and PREFIX.pub (give it to operators for `agenthost trust add`).\n";

int cmd_trust(int argc, char **argv)
{
    const char *cfgp = NULL, *data = NULL, *dir = NULL;
    cli_opt opts[] = {
        {"--config", &cfgp, NULL}, {"--data", &data, NULL}, {"--trusted-keys", &dir, NULL}, {0}};
    const char *pos[2];
    int npos;
    int rc = cli_parse(argc, argv, opts, pos, 2, &npos, usage_trust);
    if (rc) return rc > 0 ? 0 : 2;
    bool add = npos == 2 && !strcmp(pos[0], "add"), rm = npos == 2 && !strcmp(pos[0], "remove"),
         list = npos == 1 && !strcmp(pos[0], "list");
    if (!add && !rm && !list) {
        fputs(usage_trust, stderr);
        return 2;
    }
    config c;
    char err[1500];
    if (config_load(&c, cfgp, err, sizeof(err)) < 0) return cli_fail("%s", err);
    if (data) config_set(&c, "data_dir", data);
    if (dir) config_set(&c, "trusted_keys_dir", dir);
    if (host_config_finalize(&c, NULL, cfgp, err, sizeof(err)) < 0) {
        config_free(&c);
        return cli_fail("%s", err);
    }
    const char *tdir = c.trusted_keys_dir;
    pkg_pubkey k;
    rc = 0;
    if (add) {
        bool already, fresh = access(c.data_dir, F_OK) != 0;
        char abs[4096], absdata[4096];
        if (trust_add(tdir, pos[1], &k, &already, err, sizeof(err)) < 0) {
            rc = cli_fail("%s", err);
        } else {
            printf("%s key %s%s%s%s\n  in %s/%s.pub\n", already ? "already trusted:" : "trusted",
                   k.id, k.comment[0] ? " (" : "", k.comment, k.comment[0] ? ")" : "",
                   cli_abspath(tdir, abs, sizeof(abs)), k.id);
            /* A data directory made just now is one no host has used yet:
             * most likely the command ran in the wrong folder. */
            if (fresh && !dir)
                fprintf(stderr,
                        "agenthost: note: created the data directory %s; a host reads these "
                        "keys only when it runs with --data %s (or the same --config)\n",
                        cli_abspath(c.data_dir, absdata, sizeof(absdata)), absdata);
        }
    } else if (rm) {
        if (trust_remove(tdir, pos[1], &k, err, sizeof(err)) < 0)
            rc = cli_fail("%s", err);
        else
            printf("no longer trusted: key %s%s%s%s\n", k.id, k.comment[0] ? " (" : "", k.comment,
                   k.comment[0] ? ")" : "");
    } else {
        pkg_pubkey *keys;
        size_t n;
        json_t *problems = json_array();
        if (trust_load(tdir, &keys, &n, problems, err, sizeof(err)) < 0) {
            rc = cli_fail("%s", err);
        } else {
            for (size_t i = 0; i < n; i++)
                printf("%s  %s\n", keys[i].id, keys[i].comment);
            if (!n) fprintf(stderr, "agenthost: no trusted keys in %s\n", tdir);
            size_t i;
            json_t *p;
            json_array_foreach(problems, i, p)
                fprintf(stderr, "agenthost: %s\n", json_string_value(p));
            free(keys);
        }
        json_decref(problems);
    }
    config_free(&c);
    return rc;
}

int cmd_keygen(int argc, char **argv)
{
    const char *out = NULL, *comment = NULL;
    cli_opt opts[] = {{"--out", &out, NULL}, {"--comment", &comment, NULL}, {0}};
    int npos;
    int rc = cli_parse(argc, argv, opts, NULL, 0, &npos, usage_keygen);
    if (rc) return rc > 0 ? 0 : 2;
    if (!out || !*out) {
        fputs(usage_keygen, stderr);
        return 2;
    }
    char def[200], host[100] = "";
    if (!comment) {
        gethostname(host, sizeof(host) - 1);
        const char *user = getenv("USER");
        snprintf(def, sizeof(def), "%s@%s", user && *user ? user : "agenthost",
                 host[0] ? host : "localhost");
        comment = def;
    }
    char sk_path[4096], pk_path[4096], err[1500];
    snprintf(sk_path, sizeof(sk_path), "%s.key", out);
    snprintf(pk_path, sizeof(pk_path), "%s.pub", out);
    if (access(sk_path, F_OK) == 0 || access(pk_path, F_OK) == 0)
        return cli_fail("%s.key or %s.pub already exists; not replacing a key", out, out);
    pkg_seckey *k = key_generate(comment);
    if (!k) return cli_fail("cannot generate a key (libsodium)");
    if (key_write_secret(sk_path, k, err, sizeof(err)) < 0 ||
        key_write_public(pk_path, &k->pub, err, sizeof(err)) < 0) {
        unlink(sk_path);
        key_secret_free(k);
        return cli_fail("%s", err);
    }
    printf("key %s (%s)\n  secret: %s (keep it private)\n  public: %s (for `agenthost trust "
           "add`)\n",
           k->pub.id, k->pub.comment, sk_path, pk_path);
    key_secret_free(k);
    return 0;
}
