/*
 * agenthost keys backup|restore: the key store of personal data
 * (DATA_DIR/keys), kept apart from the store's backups so that erasing a
 * contact makes its data unreadable in every backup of the store.
 */
#include "core/fsutil.h"
#include "store/store_keys.h"
#include "core/util.h"
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "usage: agenthost keys backup --to FILE [--data DIR] [--config FILE]\n"
    "       agenthost keys restore --from FILE [--data DIR] [--config FILE] [--force]\n"
    "The keys that seal contacts' personal data live in DATA_DIR/keys, apart from the\n"
    "store, so no backup of the store holds them. Back them up on their own and keep\n"
    "only the latest copy: an erased contact's key is then gone from every copy once\n"
    "the copy taken before the erasure is replaced. Restore needs the host stopped.\n";

static int backup_keys(const config *c, const char *to)
{
    char dir[1100], err[1024];
    snprintf(dir, sizeof(dir), "%s/keys", c->data_dir);
    keystore *k = NULL;
    int rc = keystore_open(&k, dir, err, sizeof(err));
    if (!rc) rc = keystore_backup(k, to, err, sizeof(err));
    keystore_close(k);
    if (rc) return cli_fail("%s", err);
    fprintf(stderr, "keys backup written: %s; keep only the latest (it holds no erased key)\n", to);
    return 0;
}

static int restore_keys(const config *c, const char *from, bool force)
{
    char dir[1100], path[1200], tmp[1300], lock[1200];
    snprintf(dir, sizeof(dir), "%s/keys", c->data_dir);
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    snprintf(lock, sizeof(lock), "%s/agenthost.lock", c->data_dir);
    int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) < 0) {
        if (lfd >= 0) close(lfd);
        return cli_fail("a host is serving %s: stop it before restoring keys", c->data_dir);
    }
    int rc = 1;
    struct stat st;
    if (stat(path, &st) == 0 && !force) {
        cli_fail("%s already holds keys; add --force to replace them (keys made since that "
                 "backup are lost)",
                 dir);
    } else if (ah_mkdir_p(dir, 0700) < 0) {
        cli_fail("%s: %s", dir, strerror(errno));
    } else {
        snprintf(tmp, sizeof(tmp), "%s/data.mdb.restoring", dir);
        if (fs_copy_file(from, tmp, 0600) < 0 || rename(tmp, path) < 0) {
            cli_fail("restoring %s: %s", from, strerror(errno));
            unlink(tmp);
        } else {
            snprintf(tmp, sizeof(tmp), "%s/lock.mdb", dir);
            unlink(tmp);
            fprintf(stderr, "restored the keys of %s into %s\n", from, dir);
            rc = 0;
        }
    }
    close(lfd);
    return rc;
}

int cmd_keys(int argc, char **argv)
{
    const char *cfgp = NULL, *data = NULL, *to = NULL, *from = NULL;
    bool force = false;
    cli_opt opts[] = {{"--config", &cfgp, NULL}, {"--data", &data, NULL},   {"--to", &to, NULL},
                      {"--from", &from, NULL},   {"--force", NULL, &force}, {0}};
    const char *pos[2];
    int npos;
    int rc = cli_parse(argc, argv, opts, pos, 2, &npos, usage);
    if (rc) return rc > 0 ? 0 : 2;
    bool is_backup = npos == 1 && !strcmp(pos[0], "backup") && to && !from;
    bool is_restore = npos == 1 && !strcmp(pos[0], "restore") && from && !to;
    if (!is_backup && !is_restore) {
        cli_usage_error(usage);
        return 2;
    }
    config c;
    if (cli_load_config(&c, cfgp, data, NULL)) return 1;
    rc = is_backup ? backup_keys(&c, to) : restore_keys(&c, from, force);
    config_free(&c);
    return rc;
}
