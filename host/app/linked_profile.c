/*
 * linked_profile.c - contact.updated with the profile, for the instances
 * the contact is linked to. See linked_profile.h.
 */
#include "app/linked_profile.h"

#include "model/collections.h"
#include "model/docs.h"

#include <stdbool.h>
#include <string.h>

typedef struct read_arg {
    const char *id;
    json_t *doc;
} read_arg;

static int read_contact(doc_txn *t, void *ud)
{
    read_arg *r = ud;
    return doc_get(t, COLL_CONTACTS, r->id, &r->doc, NULL);
}

static bool names(const json_t *links, const char *instance)
{
    size_t i;
    const json_t *l;
    json_array_foreach(links, i, l)
    {
        const char *in = json_string_value(json_object_get(l, "instance"));
        if (in && !strcmp(in, instance)) return true;
    }
    return false;
}

json_t *linked_profile_enrich(void *ud, const char *instance, const char *topic, const json_t *body)
{
    docs *d = ud;
    const char *type = json_string_value(json_object_get(body, "type"));
    const char *id = json_string_value(json_object_get(body, "contact_id"));
    if (!d || !instance || strcmp(topic, LINKED_PROFILE_TOPIC) != 0 || !type ||
        strcmp(type, "contact.updated") != 0 || !id ||
        !names(json_object_get(body, "links"), instance))
        return NULL;
    read_arg r = {.id = id};
    doc_error err;
    if (docs_read(d, read_contact, &r, &err) != 0 || !r.doc) {
        json_decref(r.doc);
        return NULL;
    }
    /* The link must still hold: one removed since is not honoured. */
    json_t *out = NULL;
    if (names(json_object_get(r.doc, "links"), instance)) {
        out = json_deep_copy(body);
        const json_t *p = json_object_get(r.doc, "profile");
        json_object_set_new(out, "profile", json_is_object(p) ? json_deep_copy(p) : json_object());
    }
    json_decref(r.doc);
    return out;
}
