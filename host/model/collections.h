/*
 * collections.h - the names of the product's collections, and what other
 * modules need of their rules.
 */
#ifndef AH_MODEL_COLLECTIONS_H
#define AH_MODEL_COLLECTIONS_H

#include "docs.h"

#define COLL_AGENTS "agents"
#define COLL_AGENT_GROUPS "agent_groups"
#define COLL_SCENARIOS "scenarios"
#define COLL_SCENARIO_VERSIONS "scenario_versions"
#define COLL_CONTACTS "contacts"
#define COLL_CONVERSATIONS "conversations"
#define COLL_AUDIT "audit"
#define COLL_TRIGGERS "triggers"
#define COLL_WEBHOOKS "webhooks"
#define COLL_WEBHOOK_DELIVERIES "webhook_deliveries"
#define COLL_WIDGETS "widgets"
#define COLL_USERS "users"
#define COLL_EXPERIMENTS "experiments"
#define COLL_ROLES "roles" /* custom roles: host/auth/roles.h */
#define COLL_TEAMS "teams"
#define COLL_CREDENTIALS "credentials" /* internal: never served over REST */

/* The product's collections (collections.c): *n of them. */
const doc_collection *collections_all(size_t *n);

/* The keyed hash a contact's identity is found by (the by_identity index):
 * 64 hex digits and a NUL into hex. E-mail addresses are folded to lower
 * case first. 0, or -1 for a missing channel or id. */
int contact_identity_hash(const docs *d, const char *channel, const char *id, char *hex);

#endif
