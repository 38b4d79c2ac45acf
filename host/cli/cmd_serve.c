#include "app/app.h"
#include "core/log.h"
#include "app/options.h"
#include "cli.h"

#include <stdio.h>

static const char usage[] =
    "usage: agenthost serve [--config FILE] [--data DIR] [--logs DIR] [--listen HOST:PORT]\n"
    "                       [--plugins DIR] [--debug-instance ID [--debug-wrapper CMD]]\n"
    "Run the host: the HTTP API, the bus and the plugin instances. Flags override\n"
    "the config file; without one the embedded defaults apply (data in ./var, logs\n"
    "in ./logs, listening on 127.0.0.1:8080). Ctrl-C stops it cleanly.\n"
    "--debug-instance runs that one instance WITHOUT ITS SANDBOX, for a debugger, and\n"
    "--debug-wrapper starts it under CMD (\"valgrind --leak-check=full\", \"gdb -q -batch\n"
    "-ex run -ex bt --args\"); refused unless the config sets\n"
    "supervisor.allow_debug_unconfined (a developer's machine only).\n";

int cmd_serve(int argc, char **argv)
{
    const char *cfgp = NULL, *data = NULL, *logs = NULL, *listen = NULL, *plugins = NULL;
    const char *debug = NULL, *wrapper = NULL;
    cli_opt opts[] = {{"--config", &cfgp, NULL},
                      {"--data", &data, NULL},
                      {"--logs", &logs, NULL},
                      {"--listen", &listen, NULL},
                      {"--plugins", &plugins, NULL},
                      {"--debug-instance", &debug, NULL},
                      {"--debug-wrapper", &wrapper, NULL},
                      {0}};
    int npos;
    int rc = cli_parse(argc, argv, opts, NULL, 0, &npos, usage);
    if (rc) return rc > 0 ? 0 : 2;
    if (wrapper && !debug) return cli_fail("--debug-wrapper needs --debug-instance ID");
    config c;
    host_settings hs;
    char err[1024];
    if (config_load(&c, cfgp, err, sizeof(err)) < 0) return cli_fail("%s", err);
    if (data) config_set(&c, "data_dir", data);
    if (logs) config_set(&c, "logs_dir", logs);
    if (listen) config_set(&c, "listen", listen);
    if (plugins) config_set(&c, "plugins_dir", plugins);
    if (host_config_finalize(&c, &hs, cfgp, err, sizeof(err)) < 0) {
        config_free(&c);
        return cli_fail("%s", err);
    }
    hs.supervisor.debug_instance = debug;
    hs.supervisor.debug_wrapper = wrapper;
    log_opts lo = hs.log;
    lo.dir = c.logs_dir;
    if (log_init(&lo) < 0) {
        config_free(&c);
        return cli_fail("%s: cannot create the logs directory", c.logs_dir);
    }
    rc = app_run(&c, &hs);
    log_shutdown();
    config_free(&c);
    return rc;
}
