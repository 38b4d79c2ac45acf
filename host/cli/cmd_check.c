#include "bus/bus.h"
#include "store/store_check.h"
#include "cli.h"

#include <agenthost/plugin.h>

#include <stdio.h>

static const char usage[] =
    "usage: agenthost check [--data DIR] [--config FILE]\n"
    "Verify the store in DATA_DIR: the file (its size and meta pages), every page of\n"
    "every database (each is walked record by record), and every record checksum\n"
    "(bus events, documents). One line per database, then a verdict. Exits 0 when\n"
    "the store is intact, 1 when it is damaged or cannot be read. Safe while the\n"
    "host runs (it reads a snapshot); a damaged page cannot crash it (the walks run\n"
    "in child processes).\n";

int cli_check_store(const char *path, const char *env_dir, FILE *out, bool quiet_if_intact,
                    char *err, size_t errlen)
{
    store_check_opts o = {.path = path, .env_dir = env_dir};
    store_check_core(&o);
    bus_store_checks(&o);
    store_check_report r;
    int rc = store_check(&o, &r, err, errlen);
    if (rc) return -1;
    if (r.damaged || !quiet_if_intact) store_check_print(&r, &o, out);
    return r.damaged ? 1 : 0;
}

int cmd_check(int argc, char **argv)
{
    const char *cfgp = NULL, *data = NULL;
    cli_opt opts[] = {{"--config", &cfgp, NULL}, {"--data", &data, NULL}, {0}};
    int npos;
    int rc = cli_parse(argc, argv, opts, NULL, 0, &npos, usage);
    if (rc) return rc > 0 ? 0 : 2;
    config c;
    if (cli_load_config(&c, cfgp, data, NULL)) return 1;
    char path[1200], err[1024];
    snprintf(path, sizeof(path), "%s/data.mdb", c.data_dir);
    rc = cli_check_store(path, c.data_dir, stdout, false, err, sizeof(err));
    if (rc < 0)
        cli_fail("%s", err);
    else if (rc > 0)
        cli_fail("the store in %s is damaged: stop the host and restore a backup "
                 "(agenthost restore --from FILE --force keeps the damaged store aside)",
                 c.data_dir);
    config_free(&c);
    return rc ? 1 : 0;
}
