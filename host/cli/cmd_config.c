/*
 * cmd_config.c - `agenthost config`: the configuration file's options as
 * the host declares them (options, schema), and checking a file (check).
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: agenthost config options [--markdown | --json]   every option: type, default, range\n"
    "       agenthost config schema                          the file's whole JSON Schema\n"
    "       agenthost config check FILE                      validate a configuration file\n"
    "The options come from the declarations the host validates its file against\n"
    "(host/app/options.c); docs/operations.md holds the --markdown table (make docs).\n";

static int print_json(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    json_decref(j);
    if (!s) return cli_fail("out of memory");
    printf("%s\n", s);
    free(s);
    return 0;
}

static int config_options_cmd(int argc, char **argv)
{
    bool markdown = false, as_json = false;
    cli_opt opts[] = {{"--markdown", NULL, &markdown}, {"--json", NULL, &as_json}, {0}};
    int npos;
    int rc = cli_parse(argc, argv, opts, NULL, 0, &npos, usage);
    if (rc) return rc > 0 ? 0 : 2;
    if (markdown && as_json) {
        cli_usage_error(usage);
        return 2;
    }
    if (as_json) return print_json(optmap_json(host_option_tables));
    char *s = markdown ? optmap_markdown(host_option_tables) : optmap_text(host_option_tables);
    if (!s) return cli_fail("out of memory");
    fputs(s, stdout);
    free(s);
    return 0;
}

static int config_schema_cmd(int argc, char **argv)
{
    int npos;
    int rc = cli_parse(argc, argv, NULL, NULL, 0, &npos, usage);
    if (rc) return rc > 0 ? 0 : 2;
    return print_json(config_schema_new(host_options));
}

static int config_check_cmd(int argc, char **argv)
{
    const char *pos[1];
    int npos;
    int rc = cli_parse(argc, argv, NULL, pos, 1, &npos, usage);
    if (rc) return rc > 0 ? 0 : 2;
    if (npos != 1) {
        cli_usage_error(usage);
        return 2;
    }
    config c;
    char err[1024];
    if (config_load(&c, pos[0], err, sizeof(err)) < 0) return cli_fail("%s", err);
    rc = host_config_finalize(&c, NULL, pos[0], err, sizeof(err));
    config_free(&c);
    if (rc < 0) return cli_fail("%s", err);
    printf("%s: ok\n", pos[0]);
    return 0;
}

int cmd_config(int argc, char **argv)
{
    static const cli_verb verbs[] = {{"options", config_options_cmd},
                                     {"schema", config_schema_cmd},
                                     {"check", config_check_cmd}};
    return cli_verbs(argc, argv, "config", verbs, sizeof(verbs) / sizeof(verbs[0]), usage);
}
