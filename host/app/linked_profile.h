/*
 * linked_profile.h - the profile a linked instance is handed with
 * contact.updated. The event on the bus names the contact's links (ids)
 * and never its profile; when it is delivered to an instance the contact
 * is linked to (contact.links, made by that instance's own links_contact
 * step or by an admin), the host adds the contact's current profile,
 * opened from the contact document. Every other consumer gets the event
 * as stored. See docs/plugins/amocrm.md#sync and ADR 0039.
 */
#ifndef AH_APP_LINKED_PROFILE_H
#define AH_APP_LINKED_PROFILE_H

#include <jansson.h>

typedef struct docs docs;

/* The one topic linked_profile_enrich adds to. */
#define LINKED_PROFILE_TOPIC "platform.contact"

/* A bus_service_enrich_fn; ud is the docs. A new body with "profile"
 * (the contact's current profile, {} when it has none), or NULL: another
 * topic or type, an instance the event does not name, or a contact that
 * is gone (erased: nothing of it is handed out). */
json_t *linked_profile_enrich(void *ud, const char *instance, const char *topic,
                              const json_t *body);

#endif
