#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: agenthost plugin new NAME [--dir DIR]                     scaffold a new plugin\n"
    "       agenthost plugin run MANIFEST --events FILE.jsonl [...]   run one instance (harness)\n"
    "       agenthost plugin reload NAME --from DIR                   reload a running plugin\n"
    "       agenthost plugin pack DIR --key KEY [--out FILE]          build a signed package\n"
    "       agenthost plugin install FILE [--upgrade]                 verify and install a "
    "package\n"
    "       agenthost plugin list                                     the installed plugins\n"
    "       agenthost plugin remove NAME                              uninstall a plugin\n"
    "`agenthost plugin VERB --help` describes one verb.\n";

int cmd_plugin(int argc, char **argv)
{
    static const struct {
        const char *verb;
        int (*fn)(int, char **);
    } verbs[] = {{"new", cmd_plugin_new},         {"run", cmd_plugin_run},
                 {"reload", cmd_plugin_reload},   {"pack", cmd_plugin_pack},
                 {"install", cmd_plugin_install}, {"list", cmd_plugin_list},
                 {"remove", cmd_plugin_remove}};
    if (argc < 2) {
        cli_usage_error(usage);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (!strcmp(argv[1], verbs[i].verb)) return verbs[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "agenthost: plugin: unknown verb \"%s\" (--help lists them)\n", argv[1]);
    return 2;
}
