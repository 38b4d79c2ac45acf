/*
 * events.c - the platform's event catalogue (events.h).
 */
#include "webhooks/events.h"

#include <string.h>

extern const char ah_event_conversation_started[], ah_event_step_completed[],
    ah_event_integration_called[], ah_event_handoff_requested[], ah_event_conversation_ended[],
    ah_event_contact_created[], ah_event_contact_updated[], ah_event_lead_created[],
    ah_event_chat_bot_status_changed[], ah_event_chat_member_changed[], ah_event_message[];

#define EV(t) "schemas/events/" t ".json"

static const event_type catalogue[] = {
    {"conversation.started", "platform.conversation", "conversation_id", "the engine",
     "A conversation began: its channel, scenario version and trigger",
     ah_event_conversation_started, EV("conversation.started")},
    {"step.completed", "platform.conversation", "conversation_id", "the engine",
     "A step finished: its result, next step, attempt and duration", ah_event_step_completed,
     EV("step.completed")},
    {"integration.called", "platform.conversation", "conversation_id", "the engine",
     "A step called a plugin instance's action", ah_event_integration_called,
     EV("integration.called")},
    {"handoff.requested", "platform.conversation", "conversation_id", "the engine",
     "A conversation asks to be taken over by an agent, an operator or a queue",
     ah_event_handoff_requested, EV("handoff.requested")},
    {"conversation.ended", "platform.conversation", "conversation_id", "the engine",
     "A conversation ended: its reason, outcome and counts", ah_event_conversation_ended,
     EV("conversation.ended")},
    {"contact.created", "platform.contact", "contact_id", "the host (contacts)",
     "A contact was made: by a channel's first message, the API or an import",
     ah_event_contact_created, EV("contact.created")},
    {"contact.updated", "platform.contact", "contact_id", "the host (contacts)",
     "A contact's identities, profile, consent or tags changed", ah_event_contact_updated,
     EV("contact.updated")},
    {"lead.created", "platform.lead", "contact_id", "CRM plugins",
     "A CRM plugin made a lead (a deal) for a contact", ah_event_lead_created, EV("lead.created")},
    {"chat.bot_status_changed", "platform.chat", "channel.instance:chat.id", "channel instances",
     "A bot was blocked or unblocked by a person, added to or removed from a group",
     ah_event_chat_bot_status_changed, EV("chat.bot_status_changed")},
    {"chat.member_changed", "platform.chat", "channel.instance:chat.id", "channel instances",
     "Someone joined or left a group or channel a bot administers", ah_event_chat_member_changed,
     EV("chat.member_changed")},
    {"message.in", "message.in", "contact_id", "channel instances",
     "A message from a person, attached to its contact", ah_event_message, "schemas/message.json"},
    {"message.out", "message.out", "conversation_id", "the engine",
     "A message an agent sent, before its channel delivers it", ah_event_message,
     "schemas/message.json"},
};

#define NTYPES (sizeof(catalogue) / sizeof(catalogue[0]))

const event_type *events_all(size_t *n)
{
    *n = NTYPES;
    return catalogue;
}

const event_type *events_find(const char *type)
{
    for (size_t i = 0; type && i < NTYPES; i++)
        if (!strcmp(catalogue[i].type, type)) return &catalogue[i];
    return NULL;
}

const event_type *events_of(const char *topic, const json_t *body)
{
    if (!topic) return NULL;
    if (!strncmp(topic, "platform.", 9)) {
        const event_type *e = events_find(json_string_value(json_object_get(body, "type")));
        return e && !strcmp(e->topic, topic) ? e : NULL;
    }
    if (!strcmp(topic, "message.in") || !strcmp(topic, "message.out")) return events_find(topic);
    return NULL;
}

json_t *events_catalog_json(void)
{
    json_t *out = json_array();
    for (size_t i = 0; out && i < NTYPES; i++) {
        const event_type *e = &catalogue[i];
        json_t *schema = json_loads(e->schema, 0, NULL);
        const json_t *v = json_object_get(
            json_object_get(json_object_get(schema, "properties"), "event_version"), "const");
        json_t *x = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:s+,s:o*}", "type", e->type, "topic",
                              e->topic, "key", e->key, "version", (json_int_t)json_integer_value(v),
                              "source", e->source, "summary", e->summary, "schema_url", "docs/",
                              e->file, "schema", schema);
        if (!x || json_array_append_new(out, x)) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}
