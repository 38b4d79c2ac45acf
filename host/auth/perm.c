#include "perm.h"

#include <stddef.h>
#include <string.h>

static const char *const names[] = {
#define AUTH_PERM_NAME(e, name, what) name,
    AUTH_PERMISSIONS(AUTH_PERM_NAME)
#undef AUTH_PERM_NAME
};

static const char *const whats[] = {
#define AUTH_PERM_WHAT(e, name, what) what,
    AUTH_PERMISSIONS(AUTH_PERM_WHAT)
#undef AUTH_PERM_WHAT
};

_Static_assert(PERM_COUNT <= 64, "auth_perms holds 64 permissions");

#define P(e) ((auth_perms)1 << PERM_##e)

/* What every signed-in person may read. */
#define VIEWER                                                                                     \
    (P(SYSTEM_READ) | P(PLUGINS_READ) | P(AGENTS_READ) | P(SCENARIOS_READ) | P(ACCOUNT_SELF))
/* Reads analytics and conversations; changes nothing. */
#define ANALYST (VIEWER | P(BUS_READ) | P(CONTACTS_READ) | P(CONVERSATIONS_READ) | P(WEBHOOKS_READ))
/* Hands conversations over and replies as a human. */
#define OPERATOR                                                                                   \
    (VIEWER | P(CONTACTS_READ) | P(CONVERSATIONS_READ) | P(CONVERSATIONS_WRITE) |                  \
     P(CONVERSATIONS_REPLY) | P(AGENTS_RUN))
/* Builds agents and scenarios and runs them; no plugins, users, audit or erasure. */
#define EDITOR                                                                                     \
    (ANALYST | OPERATOR | P(AGENTS_WRITE) | P(SCENARIOS_WRITE) | P(SCENARIOS_SIMULATE) |           \
     P(CONTACTS_WRITE) | P(BUS_WRITE) | P(ACTIONS_CALL))
#define ADMIN ((((auth_perms)1 << PERM_COUNT) - 1))

static const struct {
    const char *name;
    auth_perms perms;
} roles[] = {
    {"admin", ADMIN},     {"editor", EDITOR}, {"operator", OPERATOR},
    {"analyst", ANALYST}, {"viewer", VIEWER},
};

#define NROLES (sizeof(roles) / sizeof(roles[0]))

int auth_perm_parse(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < PERM_COUNT; i++)
        if (!strcmp(names[i], name)) return i;
    return -1;
}

const char *auth_perm_name(auth_perm p)
{
    return p < PERM_COUNT ? names[p] : "?";
}

const char *auth_perm_what(auth_perm p)
{
    return p < PERM_COUNT ? whats[p] : "?";
}

bool auth_role_perms(const char *role, auth_perms *out)
{
    for (size_t i = 0; role && i < NROLES; i++)
        if (!strcmp(roles[i].name, role)) {
            *out = roles[i].perms;
            return true;
        }
    return false;
}

bool auth_role_valid(const char *role)
{
    auth_perms p;
    return auth_role_perms(role, &p);
}

bool auth_role_allows(const char *role, auth_perm perm)
{
    auth_perms p;
    return perm < PERM_COUNT && auth_role_perms(role, &p) && (p >> perm & 1);
}

const char *auth_role_names(void)
{
    return "admin, editor, operator, analyst, viewer";
}

const char *const *auth_roles(void)
{
    static const char *const list[NROLES + 1] = {"admin",   "editor", "operator",
                                                 "analyst", "viewer", NULL};
    return list;
}

json_t *auth_roles_json(void)
{
    json_t *r = json_object(), *p = json_object();
    for (size_t i = 0; i < NROLES; i++) {
        json_t *a = json_array();
        for (int k = 0; k < PERM_COUNT; k++)
            if (roles[i].perms >> k & 1) json_array_append_new(a, json_string(names[k]));
        json_object_set_new(r, roles[i].name, a);
    }
    for (int k = 0; k < PERM_COUNT; k++)
        json_object_set_new(p, names[k], json_string(whats[k]));
    return json_pack("{s:o,s:o}", "roles", r, "permissions", p);
}
