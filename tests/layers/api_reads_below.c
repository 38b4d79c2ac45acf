/* Compiled as a source of layer api: what lies below it, included either
 * way, and the public headers, are all it needs. The negative control of
 * the other probes: the same build with the same checks succeeds. */
#include "../../host/store/store.h"
#include "core/log.h"
#include "http/router.h"
#include "model/docs.h"
#include "sdk/ipc/frame.h"

#include <agenthost/plugin.h>

int api_reads_below(void);

int api_reads_below(void)
{
    return 0;
}
