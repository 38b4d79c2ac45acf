/*
 * egress_service.h - plugins' HTTP requests (host->http, AH_MSG_HTTP),
 * made by the broker (broker.h).
 *
 * Each instance is an egress client of the broker: its id and plugin name
 * label the logs and metrics, and its allowlist is compiled once, at its
 * first request, from its manifest's "egress" (with ${config.path}
 * references into its config) plus the operator's grants for it. An
 * allowlist that cannot be compiled is logged once and every request of
 * that instance is refused. A request names the call it serves ("call"),
 * whose API request id goes into the logs. The answer, and with
 * AH_HTTP_STREAM the body's chunks as AH_MSG_HTTP_CHUNK frames, go to the
 * process that asked; once it is gone its transfers stop unanswered.
 */
#ifndef AH_EGRESS_SERVICE_H
#define AH_EGRESS_SERVICE_H

#include "broker/broker.h"
#include "plugin/supervisor.h"

typedef struct egress_service egress_service;

/* Register the AH_MSG_HTTP handler: requests of sup's instances go to b.
 * 0, or AH_ENOMEM. */
int egress_service_attach(egress_service **out, supervisor *sup, broker *b);
/* Once the broker is freed (its transfers hold the instances' clients).
 * NULL is fine. */
void egress_service_detach(egress_service *es);

#endif
