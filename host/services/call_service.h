/*
 * call_service.h - one plugin calling another instance's action
 * (host->call, ABI 1.4, AH_MSG_CALL_OUT; ADR 0047).
 *
 * A call is allowed when the caller's manifest declares, in `calls`, the
 * target instance's plugin and the action; the target must not already be
 * in the call's chain (the instances it came through, the caller last: no
 * cycle) and the chain at most CALL_DEPTH_MAX instances long. Arguments up
 * to CALL_ARGS_MAX bytes, the answer up to CALL_RESULT_MAX. The target's
 * action runs as an API client's would (its schema checks the arguments,
 * its stall limit bounds it); the caller's deadline is kept by its own
 * runtime. Refusals are logged to the caller's plugin log.
 */
#ifndef AH_CALL_SERVICE_H
#define AH_CALL_SERVICE_H

#include "plugin/supervisor.h"

#define CALL_DEPTH_MAX 4
#define CALL_ARGS_MAX (1u << 20)
#define CALL_RESULT_MAX (8u << 20)

typedef struct call_service call_service;

/* Register the AH_MSG_CALL_OUT handler. 0, or AH_ENOMEM. */
int call_service_attach(call_service **out, supervisor *sup);
/* NULL is fine. Calls in flight answer into nothing (their ud is their own). */
void call_service_detach(call_service *p);

#endif
