/*
 * run_profile.c - a scenario writing the contact's profile: a variable
 * target `contact.name`, `contact.phone`, `contact.email`,
 * `contact.language` or `contact.attributes.KEY` (in set, ask's var and
 * result/output mappings) changes the profile, checked against the
 * contact's schema here so the turn's commit never fails on it. The
 * changes are the turn's `profile` output (committed with the turn,
 * announced as contact.updated) and the context shows them at once.
 */
#include "engine/run_priv.h"
#include "engine/scenario.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ATTRS_MAX 100
#define ATTR_BYTES 4096

static bool language_ok(const char *s)
{
    size_t n = 0;
    while (s[n] >= 'a' && s[n] <= 'z')
        n++;
    if (n < 2 || n > 3) return false;
    if (!s[n]) return true;
    return s[n] == '-' && isupper((unsigned char)s[n + 1]) && isupper((unsigned char)s[n + 2]) &&
           !s[n + 3];
}

/* A string field's value: a string (a number becomes one) within max, or
 * NULL with why. */
static json_t *text_value(const char *field, json_t *v, size_t max, char *why, size_t n)
{
    if (json_is_integer(v) || json_is_real(v)) {
        char b[64];
        if (json_is_integer(v))
            snprintf(b, sizeof(b), "%lld", (long long)json_integer_value(v));
        else
            snprintf(b, sizeof(b), "%g", json_real_value(v));
        return json_string(b);
    }
    if (!json_is_string(v)) {
        snprintf(why, n, "contact.%s: a text is needed, not %s", field,
                 json_is_object(v)  ? "an object"
                 : json_is_array(v) ? "an array"
                                    : "this value");
        return NULL;
    }
    if (json_string_length(v) > max) {
        snprintf(why, n, "contact.%s: longer than %zu characters", field, max);
        return NULL;
    }
    if (!strcmp(field, "email") && !strchr(json_string_value(v), '@')) {
        snprintf(why, n, "contact.email: not an e-mail address");
        return NULL;
    }
    if (!strcmp(field, "language") && !language_ok(json_string_value(v))) {
        snprintf(why, n, "contact.language: not a language tag (ru, en, pt-BR)");
        return NULL;
    }
    return json_incref(v);
}

int run_profile_set(run_turn *t, const char *name, json_t *value, char *why, size_t n)
{
    if (!scenario_profile_target(name)) {
        json_decref(value);
        snprintf(why, n, "%s: not a field of the contact's profile", name);
        return -1;
    }
    const char *field = name + 8;
    if (!t->profile) t->profile = json_object();
    if (!strncmp(field, "attributes.", 11)) {
        json_t *attrs = json_object_get(t->profile, "attributes");
        if (!attrs) json_object_set_new(t->profile, "attributes", attrs = json_object());
        char *s = json_dumps(value ? value : json_null(), JSON_ENCODE_ANY | JSON_COMPACT);
        size_t len = s ? strlen(s) : 0;
        free(s);
        if (len > ATTR_BYTES || json_object_size(attrs) >= ATTRS_MAX) {
            json_decref(value);
            snprintf(why, n, "%s: over %s", name,
                     len > ATTR_BYTES ? "4096 bytes" : "100 attributes in one turn");
            return -1;
        }
        json_object_set_new(attrs, field + 11, value ? value : json_null()); /* null: removed */
        return 0;
    }
    if (!value || json_is_null(value)) {
        json_decref(value);
        json_object_set_new(t->profile, field, json_null());
        return 0;
    }
    static const char *const fields[] = {"name", "phone", "email", "language"};
    static const size_t max[] = {200, 32, 254, 16};
    size_t i = 0;
    while (strcmp(fields[i], field) != 0)
        i++;
    json_t *v = text_value(field, value, max[i], why, n);
    json_decref(value);
    if (!v) return -1;
    json_object_set_new(t->profile, field, v);
    return 0;
}

void run_profile_apply(json_t *profile, const json_t *changes)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)changes, k, v)
    {
        if (!strcmp(k, "attributes")) {
            json_t *attrs = json_object_get(profile, "attributes");
            if (!json_is_object(attrs))
                json_object_set_new(profile, "attributes", attrs = json_object());
            const char *a;
            json_t *av;
            json_object_foreach(v, a, av)
            {
                if (json_is_null(av))
                    json_object_del(attrs, a);
                else
                    json_object_set(attrs, a, av);
            }
            if (!json_object_size(attrs)) json_object_del(profile, "attributes");
        } else if (json_is_null(v)) {
            json_object_del(profile, k);
        } else {
            json_object_set(profile, k, v);
        }
    }
}

/* ---- links to outside records (manifest steps[].links_contact) ------------------- */

void run_turn_link(run_turn *t, const char *plugin, const char *instance, const char *field,
                   const json_t *result)
{
    struct run_state *s = t->st;
    if (!s || s->stopped || !plugin || !instance || !field || !t->contact) return;
    json_t *id = run_id_string(json_object_get(result, field));
    if (!id) return;
    if (!t->links) t->links = json_array();
    json_array_append_new(
        t->links, json_pack("{s:s,s:s,s:o}", "plugin", plugin, "instance", instance, "id", id));
}

bool run_links_apply(json_t *contact, const json_t *links)
{
    if (!json_array_size(links)) return false;
    json_t *have = json_object_get(contact, "links");
    json_t *before = json_deep_copy(have);
    if (!json_is_array(have)) json_object_set_new(contact, "links", have = json_array());
    size_t i, k;
    const json_t *l;
    json_array_foreach(links, i, l)
    {
        const char *inst = json_string_value(json_object_get(l, "instance"));
        bool replaced = false;
        json_t *h;
        json_array_foreach(have, k, h)
        {
            if (!inst || strcmp(json_string_value(json_object_get(h, "instance")) ?: "", inst))
                continue;
            json_array_set(have, k, (json_t *)l);
            replaced = true;
            break;
        }
        if (!replaced) json_array_append(have, (json_t *)l);
    }
    bool changed = !json_equal(before, have);
    json_decref(before);
    return changed;
}
