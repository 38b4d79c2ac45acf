/*
 * th_sim.h - reading and writing simulations (POST
 * /api/v1/agents/{id}/simulate) in tests: the messages of a run written
 * as short strings, and a turn's path of steps as one string.
 */
#ifndef TH_SIM_H
#define TH_SIM_H

#include <jansson.h>
#include <stddef.h>

/* Messages from texts, NULL-ended: "!advance N" moves the clock N ms on,
 * "!resume" is an operator's resume, anything else a person's text. A new
 * array. */
json_t *th_sim_messages(const char *first, ...);

/* The step ids of turn i's path in a simulation's answer o, joined by
 * spaces ("" when it took none). A static buffer, overwritten by the next
 * call. */
const char *th_sim_path(json_t *o, size_t i);

#endif
