/*
 * bus_service.h - plugin instances on the bus. Each instance whose
 * manifest subscribes to topics gets a durable consumer named
 * "instance:<id>", attached while the instance is ready; its deliveries
 * arrive as EVENT frames and are settled by the plugin's ACK / NACK
 * (accepted only from the instance they were delivered to). A plugin's
 * PUBLISH may name only topics its manifest declares; anything else is
 * refused and logged to security.log.
 */
#ifndef AH_BUS_SERVICE_H
#define AH_BUS_SERVICE_H

#include "bus/bus.h"
#include "plugin/supervisor.h"

typedef struct bus_service bus_service;

/* Open a consumer for each of sup's instances that subscribes (one that
 * cannot be opened is logged and skipped), register the PUBLISH, ACK and
 * NACK handlers and the lifecycle listener. instances: the config's
 * "instances" array (per-instance "consumer" options: start,
 * max_in_flight, ack_timeout_ms, max_attempts), or NULL. 0, or AH_ENOMEM
 * with err. */
int bus_service_attach(bus_service **out, bus *b, supervisor *sup, const json_t *instances,
                       char *err, size_t errlen);
/* Once the bus is freed (its consumers hold the service). NULL is fine. */
void bus_service_detach(bus_service *bs);

/* What an instance is handed with a delivery, beyond the event as stored:
 * a new body for this instance (the event's body and more), or NULL for
 * the event as it is. The host adds personal data here that the bus never
 * holds in clear (a linked contact's profile, docs/plugins/amocrm.md).
 * Only events of `topic` are parsed and offered to fn; every other event
 * goes to the instance as stored, its JSON text spliced unparsed. */
typedef json_t *(*bus_service_enrich_fn)(void *ud, const char *instance, const char *topic,
                                         const json_t *body);
void bus_service_set_enrich(bus_service *bs, const char *topic, bus_service_enrich_fn fn, void *ud);

/* A plugin's PUBLISH message (shared with the harness): one event
 * {"topic", "body", "key", "idempotency_key", "headers"} or, from ABI 1.2,
 * a batch {"events": [...]} of 1 to 1,000. */
size_t bus_service_publish_count(const json_t *body); /* 0 if malformed */
/* Fill msgs[0..count) (pointing into body) and check every topic against
 * the manifest. 0, or AH_EDENIED with *denied the first undeclared topic,
 * or AH_EINVAL; err says why. */
int bus_service_publish_parse(const manifest *m, const json_t *body, bus_msg *msgs, size_t count,
                              const char **denied, char *err, size_t errlen);
/* The answer: {"offset", "duplicate"}, or for a batch {"offsets",
 * "duplicates"}. */
json_t *bus_service_publish_answer(const json_t *request, const uint64_t *offsets, const bool *dup,
                                   size_t n);

#endif
