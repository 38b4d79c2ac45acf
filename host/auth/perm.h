/*
 * perm.h - permissions and the built-in roles.
 *
 * A permission is "family:verb" ("agents:read"); every HTTP route names
 * the one it needs in its own row of the route table (host/api/api_*.c:
 * {"GET", "/api/v1/agents", h_list, "agents:read", "List agents"}), or
 * "public" for the few that take no credential (/health, webhooks, login).
 * A route that names no permission, or one not listed here, stops the host
 * from starting and fails tests/unit/test_permissions.c.
 *
 * A role is a set of permissions. The built-in roles (admin, editor,
 * operator, analyst, viewer) are fixed here; tokens and users carry a role
 * by name.
 */
#ifndef AH_AUTH_PERM_H
#define AH_AUTH_PERM_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* X(ENUM, "name", "what it allows"); append new ones at the end. */
#define AUTH_PERMISSIONS(X)                                                                        \
    X(SYSTEM_READ, "system:read", "read the API document and the host's settings")                 \
    X(PLUGINS_READ, "plugins:read", "read plugins, instances and integrations")                    \
    X(PLUGINS_MANAGE, "plugins:manage", "restart, enable, disable instances; read their logs")     \
    X(ACTIONS_CALL, "actions:call", "call a plugin instance's action")                             \
    X(BUS_READ, "bus:read", "read topics, events, consumers and dead letters")                     \
    X(BUS_WRITE, "bus:write", "publish events; requeue or drop dead letters")                      \
    X(AGENTS_READ, "agents:read", "read agents, agent groups and triggers")                        \
    X(AGENTS_WRITE, "agents:write", "create, change and delete agents, groups and triggers")       \
    X(AGENTS_RUN, "agents:run", "send messages to agents, run them, fire triggers")                \
    X(SCENARIOS_READ, "scenarios:read", "read scenarios, versions and diffs")                      \
    X(SCENARIOS_WRITE, "scenarios:write", "create and change scenarios; save, roll back")          \
    X(SCENARIOS_SIMULATE, "scenarios:simulate", "simulate scenarios (dry runs)")                   \
    X(CONTACTS_READ, "contacts:read", "read contacts (personal data)")                             \
    X(CONTACTS_WRITE, "contacts:write", "create, change and link contacts")                        \
    X(CONTACTS_ERASE, "contacts:erase", "erase a contact (crypto-shredding)")                      \
    X(CONVERSATIONS_READ, "conversations:read", "read conversations and their transcripts")        \
    X(CONVERSATIONS_WRITE, "conversations:write", "change a conversation's context; resume it")    \
    X(CONVERSATIONS_REPLY, "conversations:reply", "take over a conversation and reply as a human") \
    X(AUDIT_READ, "audit:read", "read the audit trail")                                            \
    X(USERS_MANAGE, "users:manage", "create, change and deactivate users; invite; reset")          \
    X(ACCOUNT_SELF, "account:self", "one's own sessions: list, end, sign out")                     \
    X(WEBHOOKS_READ, "webhooks:read", "read outgoing webhooks, their deliveries and event types")  \
    X(WEBHOOKS_MANAGE, "webhooks:manage", "create, change, delete webhooks; redeliver")

typedef enum auth_perm {
#define AUTH_PERM_ENUM(e, name, what) PERM_##e,
    AUTH_PERMISSIONS(AUTH_PERM_ENUM)
#undef AUTH_PERM_ENUM
        PERM_COUNT
} auth_perm;

/* The name that routes use for "no credential needed". */
#define AUTH_PUBLIC "public"

typedef uint64_t auth_perms; /* a set: bit (1 << perm) */

/* "agents:read" -> PERM_AGENTS_READ; -1 when unknown (or NULL). */
int auth_perm_parse(const char *name);
const char *auth_perm_name(auth_perm p);
const char *auth_perm_what(auth_perm p);

/* A built-in role's permissions; false when no such role. */
bool auth_role_perms(const char *role, auth_perms *out);
bool auth_role_valid(const char *role);
/* Whether role has perm (false for an unknown role). */
bool auth_role_allows(const char *role, auth_perm perm);
/* "admin, editor, operator, analyst, viewer" */
const char *auth_role_names(void);
/* The roles in order, NULL-terminated. */
const char *const *auth_roles(void);

/* {"roles": {"admin": ["agents:read", ...]}, "permissions": {"agents:read":
 * "what"}} (new reference). */
json_t *auth_roles_json(void);

#endif
