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
    static const cli_verb verbs[] = {{"new", cmd_plugin_new},         {"run", cmd_plugin_run},
                                     {"reload", cmd_plugin_reload},   {"pack", cmd_plugin_pack},
                                     {"install", cmd_plugin_install}, {"list", cmd_plugin_list},
                                     {"remove", cmd_plugin_remove}};
    return cli_verbs(argc, argv, "plugin", verbs, sizeof(verbs) / sizeof(verbs[0]), usage);
}
