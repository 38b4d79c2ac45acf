#include "core/fsutil.h"
#include "core/master_key.h"
#include "core/util.h"
#include "plugin/storage_backup.h"
#include "store/secrets.h"
#include "store/store_guard.h"
#include "cli.h"

#include <agenthost/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char backup_usage[] =
    "usage: agenthost backup --to FILE [--data DIR] [--config FILE]\n"
    "Write a hot, compacted copy of the store (events, state, secrets, tokens) to FILE,\n"
    "then verify it as `agenthost check` verifies a store (exit 1 if it is damaged).\n"
    "Plugins' private storage (DATA_DIR/plugin-data) is copied to FILE.plugin-data/,\n"
    "each running instance paused (SIGSTOP) while its directory is copied.\n"
    "Safe while the host runs. The master key is NOT in the backup (it says where the\n"
    "key is): keep a copy of DATA_DIR/master.key (or the config's master_key) apart,\n"
    "as safe as the secrets, or the secrets in the backup cannot be opened.\n";

static const char restore_usage[] =
    "usage: agenthost restore --from FILE [--data DIR] [--config FILE] [--force]\n"
    "Put a backup back as the store of DATA_DIR. The host must be stopped. The backup\n"
    "is verified first as `agenthost check` verifies a store, and a damaged one is\n"
    "refused. An existing store is refused unless --force, and then kept as\n"
    "data.mdb.before-restore-TIME. FILE.plugin-data/, if there, becomes\n"
    "DATA_DIR/plugin-data (an existing one, with --force, is kept as\n"
    "plugin-data.before-restore-TIME).\n"
    "Says whether DATA_DIR's master key is the one the backup's secrets were sealed\n"
    "with; without it, `agenthost serve` refuses to start.\n";

/* What the store in c's data directory holds, read-only. 0 or -1. */
static int survey(const config *c, secrets_survey *sv)
{
    store *st = NULL;
    char err[1024];
    store_opts so = {.dir = c->data_dir, .read_only = true};
    int rc = store_open(&st, NULL, &so, err, sizeof(err)) == 0 ? secrets_survey_store(st, sv) : -1;
    if (st) store_close(st);
    return rc ? -1 : 0;
}

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

/* Where the master key is, and that the copy does not hold it. */
static void say_the_key_is_not_in_it(const config *c)
{
    secrets_survey sv;
    char id[40] = "";
    if (survey(c, &sv) < 0) {
        fprintf(stderr,
                "the master key is NOT in this backup: keep a copy of %s apart from it, as safe "
                "as the secrets, or the secrets in the backup cannot be opened\n",
                c->master_key);
        return;
    }
    if (sv.count == 0) {
        fprintf(stderr,
                "the master key is NOT in this backup (%s); the backup holds no secret, so none "
                "depends on it\n",
                c->master_key);
        return;
    }
    if (sv.key_id[0]) snprintf(id, sizeof(id), " (key id %s)", sv.key_id);
    fprintf(stderr,
            "the master key is NOT in this backup: the %zu secret%s in it (instances: %s) open "
            "only with %s%s; copy that file separately and keep it as safe as the secrets "
            "themselves (mode 0600, stored apart from the backups)\n",
            sv.count, plural(sv.count), sv.instances, c->master_key, id);
}

/* Whether the restored store's secrets open with the data directory's key. */
static void say_whether_the_key_matches(const config *c)
{
    secrets_survey sv;
    if (survey(c, &sv) < 0) return;
    if (sv.count == 0) {
        fprintf(stderr, "the backup holds no secret: no master key is needed for it\n");
        return;
    }
    unsigned char key[MASTER_KEY_BYTES];
    char err[1024], id[MASTER_KEY_ID_HEX + 1], was[40] = "";
    if (sv.key_id[0]) snprintf(was, sizeof(was), " (id %s)", sv.key_id);
    int rc = master_key_read(c->master_key, key, err, sizeof(err));
    if (rc == 0) master_key_id(key, id);
    sodium_memzero(key, sizeof(key));
    if (rc == AH_ENOTFOUND)
        fprintf(stderr,
                "warning: the master key %s is missing: the %zu secret%s in this backup "
                "(instances: %s) cannot be opened without the key they were sealed with%s. Copy "
                "that key file to %s (mode 0600) before starting the host: `agenthost serve` "
                "refuses to start without it\n",
                c->master_key, sv.count, plural(sv.count), sv.instances, was, c->master_key);
    else if (rc)
        fprintf(stderr,
                "warning: %s; the %zu secret%s in this backup cannot be opened until it can be "
                "read\n",
                err, sv.count, plural(sv.count));
    else if (!sv.key_id[0])
        fprintf(stderr,
                "the backup records no master key id (an older agenthost made it): `agenthost "
                "serve` checks that %s opens its %zu secret%s when it starts\n",
                c->master_key, sv.count, plural(sv.count));
    else if (strcmp(id, sv.key_id) != 0)
        fprintf(stderr,
                "warning: the master key %s (id %s) is not the key this backup's secrets were "
                "sealed with%s: the %zu secret%s in it (instances: %s) cannot be opened with it. "
                "Put the right key file at %s (mode 0600) before starting the host: `agenthost "
                "serve` refuses to start with this one\n",
                c->master_key, id, was, sv.count, plural(sv.count), sv.instances, c->master_key);
    else
        fprintf(stderr, "the master key %s matches this backup's %zu secret%s (id %s)\n",
                c->master_key, sv.count, plural(sv.count), id);
}

/* DATA_DIR/plugin-data into TO.plugin-data/. 0 or -1 (said). */
static int backup_plugin_data(const config *c, const char *to)
{
    char dir[4200], err[1024];
    plugin_storage_copied cp;
    snprintf(dir, sizeof(dir), "%s.plugin-data", to);
    if (plugin_storage_backup(c->data_dir, dir, &cp, err, sizeof(err)) < 0) {
        cli_fail("copying the plugins' private storage failed: %s", err);
        return -1;
    }
    if (cp.instances)
        fprintf(stderr,
                "private storage of %zu instance%s copied to %s (%llu bytes; %zu running, "
                "paused while copied)%s\n",
                cp.instances, plural(cp.instances), dir, (unsigned long long)cp.bytes, cp.paused,
                cp.skipped ? "; entries neither files nor directories were left out" : "");
    return 0;
}

int cmd_backup(int argc, char **argv)
{
    const char *cfgp = NULL, *data = NULL, *to = NULL;
    cli_opt opts[] = {{"--config", &cfgp, NULL}, {"--data", &data, NULL}, {"--to", &to, NULL}, {0}};
    int npos;
    int rc = cli_parse(argc, argv, opts, NULL, 0, &npos, backup_usage);
    if (rc) return rc > 0 ? 0 : 2;
    if (!to) {
        cli_usage_error(backup_usage);
        return 2;
    }
    config c;
    if (cli_load_config(&c, cfgp, data, NULL)) return 1;
    char err[1024];
    uint64_t bytes = 0;
    store_guard_install(c.data_dir);
    rc = store_backup(c.data_dir, to, &bytes, err, sizeof(err));
    if (rc) {
        config_free(&c);
        return cli_fail("%s", err);
    }
    /* A copy holds the records as they are: a damaged one is damaged in it. */
    int damaged = cli_check_store(to, NULL, stderr, true, err, sizeof(err));
    if (damaged)
        cli_fail("backup written to %s, but %s: the store it was taken from is damaged; run "
                 "`agenthost check --data %s`",
                 to, damaged < 0 ? err : "it is damaged", c.data_dir);
    else
        fprintf(stderr, "backup written and verified: %s (%llu bytes)\n", to,
                (unsigned long long)bytes);
    if (!damaged && backup_plugin_data(&c, to) < 0) damaged = 1;
    say_the_key_is_not_in_it(&c);
    fprintf(stderr,
            "the keys of personal data are NOT in this backup either (%s/keys): back them up "
            "with `agenthost keys backup --to FILE`, and keep only the latest such copy, so "
            "that an erased contact's data can be read from no backup\n",
            c.data_dir);
    config_free(&c);
    return damaged ? 1 : 0;
}

/* FROM.plugin-data/ back as DATA_DIR/plugin-data. 0 or -1 (said). */
static int restore_plugin_data(const config *c, const char *from)
{
    char aside[4200], err[1024];
    plugin_storage_copied cp;
    if (plugin_storage_restore(from, c->data_dir, aside, sizeof(aside), &cp, err, sizeof(err)) <
        0) {
        cli_fail("the store is restored, but the plugins' private storage is not: %s", err);
        return -1;
    }
    if (aside[0]) fprintf(stderr, "the previous private storage is kept as %s\n", aside);
    fprintf(stderr, "restored the private storage of %zu instance%s from %s\n", cp.instances,
            plural(cp.instances), from);
    return 0;
}

int cmd_restore(int argc, char **argv)
{
    const char *cfgp = NULL, *data = NULL, *from = NULL;
    bool force = false;
    cli_opt opts[] = {{"--config", &cfgp, NULL},
                      {"--data", &data, NULL},
                      {"--from", &from, NULL},
                      {"--force", NULL, &force},
                      {0}};
    int npos;
    int rc = cli_parse(argc, argv, opts, NULL, 0, &npos, restore_usage);
    if (rc) return rc > 0 ? 0 : 2;
    if (!from) {
        cli_usage_error(restore_usage);
        return 2;
    }
    config c;
    if (cli_load_config(&c, cfgp, data, NULL)) return 1;
    char err[1024], path[1200], tmp[1300], lock[1200];
    rc = 1;
    int lfd = -1;
    if (store_check_file(from, err, sizeof(err)) != 0) {
        cli_fail("%s", err);
        goto done;
    }
    int damaged = cli_check_store(from, NULL, stderr, true, err, sizeof(err));
    if (damaged) {
        cli_fail("%s%s: refusing to restore it; nothing was changed", damaged < 0 ? err : from,
                 damaged < 0 ? "" : " is damaged");
        goto done;
    }
    if (ah_mkdir_p(c.data_dir, 0700) < 0) {
        cli_fail("%s: %s", c.data_dir, strerror(errno));
        goto done;
    }
    snprintf(lock, sizeof(lock), "%s/agenthost.lock", c.data_dir);
    lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) < 0) {
        cli_fail("a host is serving %s: stop it before restoring", c.data_dir);
        goto done;
    }
    snprintf(path, sizeof(path), "%s/data.mdb", c.data_dir);
    struct stat st;
    bool exists = stat(path, &st) == 0;
    if (exists && !force) {
        cli_fail("%s already holds a store; add --force to replace it", c.data_dir);
        goto done;
    }
    char pfrom[4200];
    struct stat pst;
    if ((size_t)snprintf(pfrom, sizeof(pfrom), "%s.plugin-data", from) >= sizeof(pfrom)) {
        cli_fail("%s: the path is too long", from);
        goto done;
    }
    bool with_storage = lstat(pfrom, &pst) == 0 && S_ISDIR(pst.st_mode);
    bool storage_here = plugin_storage_present(c.data_dir);
    if (with_storage && !force && storage_here) {
        cli_fail("%s/plugin-data already holds private storage; add --force to replace it",
                 c.data_dir);
        goto done;
    }
    /* A backup without private storage (taken before ADR 0055, or copied
     * without it) beside files of another time: the instances would find
     * an index or state that the restored store does not describe. */
    if (!with_storage && storage_here) {
        if (!force) {
            cli_fail("%s holds no private storage (no %s), but %s/plugin-data does: the "
                     "instances' files would not match the restored store; add --force to "
                     "restore the store alone and keep them",
                     from, pfrom, c.data_dir);
            goto done;
        }
        fprintf(stderr,
                "%s holds no private storage: %s/plugin-data is kept as it is and may not match "
                "the restored store\n",
                from, c.data_dir);
    }
    snprintf(tmp, sizeof(tmp), "%s/data.mdb.restoring", c.data_dir);
    if (fs_copy_file(from, tmp, 0600) < 0) {
        cli_fail("copying %s: %s", from, strerror(errno));
        goto done;
    }
    if (exists) {
        char keep[1300];
        snprintf(keep, sizeof(keep), "%s/data.mdb.before-restore-%lld", c.data_dir,
                 (long long)time(NULL));
        if (rename(path, keep) < 0) {
            cli_fail("cannot set aside %s: %s", path, strerror(errno));
            unlink(tmp);
            goto done;
        }
        fprintf(stderr, "the previous store is kept as %s\n", keep);
    }
    if (rename(tmp, path) < 0) {
        cli_fail("cannot install %s: %s", path, strerror(errno));
        goto done;
    }
    snprintf(tmp, sizeof(tmp), "%s/lock.mdb", c.data_dir);
    unlink(tmp); /* its reader table described the old file */
    fprintf(stderr, "restored %s into %s\n", from, c.data_dir);
    if (with_storage && restore_plugin_data(&c, pfrom) < 0) goto done;
    say_whether_the_key_matches(&c);
    rc = 0;
done:
    if (lfd >= 0) close(lfd);
    config_free(&c);
    return rc;
}
