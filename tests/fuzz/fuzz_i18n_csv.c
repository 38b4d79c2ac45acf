/*
 * Fuzz target: translators' CSV files (host/engine/scenario_i18n.h). The
 * input is a file as a translator's spreadsheet might save it. Beyond the
 * sanitizers, it traps when a call breaks its promises: a refusal without
 * a reason, or a table read that does not read back the same once written
 * out again as CSV.
 */
#include "engine/scenario_i18n.h"

#include <agenthost/plugin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    json_t *table = NULL;
    int rc = i18n_from_csv((const char *)data, size, &table, err, sizeof(err));
    if (rc) {
        if (table || (rc != AH_ENOMEM && !err[0])) __builtin_trap();
        return 0;
    }
    char *csv = i18n_csv(table);
    if (!csv) __builtin_trap();
    json_t *again = NULL;
    if (i18n_from_csv(csv, strlen(csv), &again, err, sizeof(err)) != 0 || !json_equal(table, again))
        __builtin_trap();
    free(csv);
    json_decref(table);
    json_decref(again);
    return 0;
}
