#include "plugincheck.h"

#include "elfinfo.h"

#include <agenthost/plugin.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int plugin_check(const manifest *m, char *err, size_t errlen)
{
    const char *lib = json_string_value(json_object_get(m->json, "library"));
    elf_plugin_info info;
    char why[300], a[32], b[32];
    /* The typed exports' symbols (actions[].export.symbol) must be defined. */
    const char *syms[64];
    size_t nsyms = 0, i;
    bool found[64];
    const json_t *act;
    json_array_foreach(manifest_actions(m), i, act)
    {
        const char *sym =
            json_string_value(json_object_get(json_object_get(act, "export"), "symbol"));
        if (sym && nsyms < 64) syms[nsyms++] = sym;
    }
    if (elf_read_plugin_file_exports(m->library, &info, syms, found, nsyms, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "%s: %s", lib, why);
        return -1;
    }
    int host = elf_host_machine();
    if (info.elf_class != 2 || !info.little_endian || info.machine != host) {
        snprintf(err, errlen, "%s is built for %s (%s-bit%s); this host runs %s (64-bit)", lib,
                 elf_machine_name(info.machine, a, sizeof(a)), info.elf_class == 2 ? "64" : "32",
                 info.little_endian ? "" : ", big-endian", elf_machine_name(host, b, sizeof(b)));
        return -1;
    }
    if (!info.has_descriptor) {
        snprintf(err, errlen,
                 "%s exports no " AH_PLUGIN_SYMBOL " descriptor: not an agenthost plugin "
                 "(define one with AH_PLUGIN and build with the SDK's flags)",
                 lib);
        return -1;
    }
    if (info.abi_major != AH_ABI_MAJOR || info.abi_minor > AH_ABI_MINOR) {
        snprintf(err, errlen, "plugin %s is built for ABI %u.%u; this host runs ABI %d.%d", m->name,
                 info.abi_major, info.abi_minor, AH_ABI_MAJOR, AH_ABI_MINOR);
        return -1;
    }
    size_t min = offsetof(ah_plugin, shutdown) + sizeof(((ah_plugin *)0)->shutdown);
    if (info.size < min) {
        snprintf(err, errlen, "%s: its descriptor is %u bytes, smaller than ABI 1.0's %zu", lib,
                 info.size, min);
        return -1;
    }
    if (strcmp(info.name, m->name) != 0) {
        snprintf(err, errlen, "%s declares plugin \"%s\" but the manifest says \"%s\"", lib,
                 info.name, m->name);
        return -1;
    }
    if (strcmp(info.version, m->version) != 0) {
        snprintf(err, errlen, "%s declares version \"%s\" but the manifest says \"%s\"", lib,
                 info.version, m->version);
        return -1;
    }
    if (info.abi_major != m->abi_major || info.abi_minor != m->abi_minor) {
        snprintf(err, errlen, "the manifest declares ABI %d.%d but %s is built for %u.%u",
                 m->abi_major, m->abi_minor, lib, info.abi_major, info.abi_minor);
        return -1;
    }
    for (size_t k = 0; k < nsyms; k++)
        if (!found[k]) {
            snprintf(err, errlen,
                     "%s exports no function %s (the manifest's typed export; mark it "
                     "AH_EXPORT)",
                     lib, syms[k]);
            return -1;
        }
    return 0;
}
