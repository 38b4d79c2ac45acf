/*
 * bus_plugins.h - plugin instances on the bus. Each instance whose
 * manifest subscribes to topics gets a durable consumer named
 * "instance:<id>", attached while the instance is ready; its deliveries
 * arrive as EVENT frames and are settled by the plugin's ACK / NACK
 * (accepted only from the instance they were delivered to). A plugin may
 * publish only to topics its manifest declares; anything else is refused
 * and logged to security.log.
 */
#ifndef AH_BUS_PLUGINS_H
#define AH_BUS_PLUGINS_H

#include "../plugin/supervisor.h"
#include "bus.h"

typedef struct bus_plugins bus_plugins;

/* instances: the config's "instances" array (per-instance "consumer"
 * options: start, max_in_flight, ack_timeout_ms, max_attempts), or NULL. */
int bus_plugins_attach(bus_plugins **out, bus *b, supervisor *sup, const json_t *instances,
                       char *err, size_t errlen);
void bus_plugins_detach(bus_plugins *bp);

#endif
