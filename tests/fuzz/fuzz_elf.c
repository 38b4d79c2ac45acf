/* Fuzz target: reading a plugin library's ELF headers, symbols,
 * relocations and descriptor strings from hostile bytes. */
#include "package/elfinfo.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    elf_plugin_info info;
    char err[512];
    if (elf_read_plugin(data, size, &info, err, sizeof(err)) == 0 && info.has_descriptor) {
        /* Strings come back bounded and terminated. */
        if (strlen(info.name) >= sizeof(info.name) || strlen(info.version) >= sizeof(info.version))
            __builtin_trap();
    }
    return 0;
}
