/* Fuzz target: manifest parsing and validation (schema and semantics). */
#include "plugin/manifest.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    manifest *m = NULL;
    char err[1024];
    if (manifest_parse("fuzz/manifest.json", (const char *)data, size, false, &m, err,
                       sizeof(err)) == 0)
        manifest_free(m);
    return 0;
}
