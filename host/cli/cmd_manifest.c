#include "plugin/manifest.h"
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char usage[] = "usage: agenthost manifest check FILE...\n"
                            "Validate plugin manifests against manifests/schema.json. Prints one\n"
                            "line per file; exits non-zero if any is invalid.\n";

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
        printf("%s: ok (%s %s, ABI %d.%d)\n", pos[i], m->name, m->version, m->abi_major,
               m->abi_minor);
        manifest_free(m);
    }
    return bad ? 1 : 0;
}
