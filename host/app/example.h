/*
 * example.h - the example agent a first start offers: the onboarding
 * survey of docs/examples/scenarios/ (built in), as the scenario
 * "Onboarding survey (example)" and the active agent "Onboarding" running
 * it, so a newcomer can talk to an agent over the REST channel at once
 * (README, First look), and the web chat widget "Onboarding (example)"
 * bound to it, whose demo page (/chat/<widget>/demo) is the same agent in
 * a browser. Made only on a first start and only when the option
 * engine.example_agent is on.
 */
#ifndef AH_APP_EXAMPLE_H
#define AH_APP_EXAMPLE_H

#include "model/docs.h"

#include <stddef.h>

#define EXAMPLE_AGENT_NAME "Onboarding"

/* Create the example scenario, its version, its agent and its widget in
 * one write, audited as done by the host: 0 with the agent's id in
 * agent_id and the widget's in widget_id (>= 48 bytes each), or
 * docs_write_now's code with err. */
int example_agent_create(docs *d, char *agent_id, char *widget_id, char *err, size_t errlen);

#endif
