/*
 * events.h - the platform's event catalogue: the event types an outside
 * system may subscribe to (webhooks) and plugins may consume on the bus,
 * each with its topic, ordering key, version and JSON Schema
 * (docs/schemas/events/, docs/schemas/message.json; embedded at build
 * time). Served at GET /api/v1/events/types.
 */
#ifndef AH_WEBHOOKS_EVENTS_H
#define AH_WEBHOOKS_EVENTS_H

#include <jansson.h>
#include <stddef.h>

typedef struct event_type {
    const char *type;    /* "conversation.started" */
    const char *topic;   /* the bus topic it travels on */
    const char *key;     /* the body's field that is its ordering key */
    const char *source;  /* who publishes it */
    const char *summary; /* one line */
    const char *schema;  /* the schema's text (embedded) */
    const char *file;    /* under docs/: "schemas/events/conversation.started.json" */
} event_type;

/* The catalogue: *n types, in a stable order. */
const event_type *events_all(size_t *n);
/* The type named so, or NULL. */
const event_type *events_find(const char *type);
/* The type of a bus event on topic: the body's "type" on platform.*
 * topics, the topic itself for message.in and message.out; NULL when it is
 * none of the catalogue's. */
const event_type *events_of(const char *topic, const json_t *body);
/* A new array: {type, topic, key, version, source, summary, schema_url,
 * schema (the JSON Schema)} per type; NULL when out of memory. */
json_t *events_catalog_json(void);

#endif
