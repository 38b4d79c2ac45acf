/*
 * Fuzz target: cron expressions (host/engine/cron.h). The input is an
 * expression; when it parses, its next runs are found in UTC and in a zone
 * with daylight saving time, from a few instants. Beyond the sanitizers,
 * it traps when a call breaks its promises: a refusal without a reason, a
 * next run not strictly after its start, or a parse that is not the same
 * twice.
 */
#include "core/tz.h"
#include "engine/cron.h"

#include <agenthost/plugin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static ah_tz *g_utc, *g_ny;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    if (!g_utc) {
        if (tz_load(&g_utc, "UTC", NULL, err, sizeof(err)) ||
            tz_load(&g_ny, "America/New_York", NULL, err, sizeof(err)))
            __builtin_trap();
    }
    if (size > 300) return 0;
    char expr[301];
    memcpy(expr, data, size);
    expr[size] = 0;
    cron a, b;
    err[0] = 0;
    int rc = cron_parse(&a, expr, err, sizeof(err));
    if (rc) {
        if (rc != AH_EINVAL || !err[0]) __builtin_trap();
        return 0;
    }
    if (cron_parse(&b, expr, err, sizeof(err)) != 0 || memcmp(&a, &b, sizeof(a)) != 0)
        __builtin_trap();
    static const int64_t starts[] = {1796578950, 1772935200 /* 2026-03-08 */,
                                     1793498400 /* 2026-11-01 */, 0};
    for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
        int64_t n;
        if (cron_next(&a, g_utc, starts[i], &n) == 0 && n <= starts[i]) __builtin_trap();
        if (cron_next(&a, g_ny, starts[i], &n) == 0 && n <= starts[i]) __builtin_trap();
    }
    return 0;
}
