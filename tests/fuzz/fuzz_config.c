/* Fuzz target: a configuration file through the declared options: the
 * unknown-key walk (with its nearest-key suggestion), the schema, the
 * values written into the host's settings and the paths resolved. */
#include "app/options.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    config c;
    host_settings hs;
    char err[1024];
    if (json_is_object(j) && config_load(&c, NULL, err, sizeof(err)) == 0) {
        json_object_update(c.json, j);
        host_config_finalize(&c, &hs, "fuzz/config.json", err, sizeof(err));
        config_free(&c);
    }
    json_decref(j);
    return 0;
}
