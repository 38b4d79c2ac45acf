#include "package/plugincheck.h"
#include "plugin/manifest.h"
#include "cli.h"

#include <agenthost/plugin.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: agenthost manifest check FILE...\n"
    "Validate plugin manifests against manifests/schema.json, check that this\n"
    "host runs their ABI and, when the library is built, that it declares\n"
    "the same name, version and ABI and defines the typed exports (read\n"
    "from the file; no plugin code runs). Prints one line per file; exits\n"
    "non-zero if any is invalid.\n";

int cmd_manifest(int argc, char **argv)
{
    const char *pos[256];
    int npos;
    int rc = cli_parse(argc, argv, NULL, pos, 256, &npos, usage);
    if (rc) return rc > 0 ? 0 : 2;
    if (npos < 2 || strcmp(pos[0], "check") != 0) {
        cli_usage_error(usage);
        return 2;
    }
    int bad = 0;
    for (int i = 1; i < npos; i++) {
        manifest *m;
        char err[1024];
        if (manifest_load(pos[i], true, &m, err, sizeof(err)) < 0) {
            fprintf(stderr, "%s\n", err);
            bad++;
            continue;
        }
        if (m->abi_major != AH_ABI_MAJOR || m->abi_minor > AH_ABI_MINOR) {
            fprintf(stderr, "%s: abi: %d.%d is not run by this host (ABI %d.%d): %s\n", pos[i],
                    m->abi_major, m->abi_minor, AH_ABI_MAJOR, AH_ABI_MINOR,
                    m->abi_major != AH_ABI_MAJOR ? "another major"
                                                 : "a newer minor; build against these headers");
            manifest_free(m);
            bad++;
            continue;
        }
        bool built = access(m->library, F_OK) == 0;
        if (built && plugin_check(m, err, sizeof(err)) < 0) {
            fprintf(stderr, "%s: %s\n", pos[i], err);
            manifest_free(m);
            bad++;
            continue;
        }
        printf("%s: ok (%s %s, ABI %d.%d%s)\n", pos[i], m->name, m->version, m->abi_major,
               m->abi_minor, built ? ", library checked" : "; library not built yet, not checked");
        manifest_free(m);
    }
    return bad ? 1 : 0;
}
