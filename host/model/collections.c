/*
 * collections.c - the product's collections: their schemas (docs/schemas/,
 * embedded at build time), indexes, personal fields and rules.
 */
#include "collections.h"

#include "docs_priv.h"
#include "index_key.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

extern const char ah_schema_agent[], ah_schema_agent_group[], ah_schema_scenario[],
    ah_schema_scenario_version[], ah_schema_contact[], ah_schema_conversation[],
    ah_schema_audit_entry[], ah_schema_trigger[], ah_schema_webhook[], ah_schema_webhook_delivery[],
    ah_schema_widget[], ah_schema_user[], ah_schema_credential[], ah_schema_experiment[],
    ah_schema_role[], ah_schema_team[];

/* ---- rules beyond the schema ---------------------------------------------- */

static int check_agent(doc_txn *t, const json_t *doc)
{
    const json_t *def = json_object_get(doc, "default_language");
    const json_t *langs = json_object_get(doc, "languages");
    size_t i;
    const json_t *l;
    json_array_foreach(langs, i, l) if (json_equal(l, def)) return 0;
    return doc_fail(t, AH_EINVAL, "default_language", "%s is not one of the agent's languages",
                    json_string_value(def));
}

/* Contacts are found by identity through keyed hashes: the index holds no
 * Telegram id or e-mail address in the clear. An e-mail address is found
 * whatever its case. */
static int identity_tuples(const docs *d, const json_t *doc, json_t *tuples)
{
    size_t i;
    const json_t *idn;
    json_array_foreach(json_object_get(doc, "identities"), i, idn)
    {
        char hex[65];
        if (contact_identity_hash(d, json_string_value(json_object_get(idn, "channel")),
                                  json_string_value(json_object_get(idn, "id")), hex) < 0)
            return -1;
        json_array_append_new(tuples, json_pack("[s]", hex));
    }
    return 0;
}

int contact_identity_hash(const docs *d, const char *channel, const char *id, char *hex)
{
    if (!channel || !id) return -1;
    size_t n = 0;
    char *folded = !strcmp(channel, "email") ? ikey_fold(id, strlen(id), &n) : NULL;
    crypto_generichash_state st;
    uint8_t h[32];
    crypto_generichash_init(&st, docs_identity_key(d), 32, sizeof(h));
    crypto_generichash_update(&st, (const uint8_t *)channel, strlen(channel) + 1);
    crypto_generichash_update(&st, (const uint8_t *)(folded ? folded : id),
                              folded ? n : strlen(id));
    crypto_generichash_final(&st, h, sizeof(h));
    free(folded);
    sodium_bin2hex(hex, 65, h, sizeof(h));
    return 0;
}

/* ---- the table ---------------------------------------------------------------- */

static const doc_index_def agent_ix[] = {
    {"by_name", {"name", NULL}, DOC_INDEX_UNIQUE | DOC_INDEX_FOLD, NULL},
    {"by_status", {"status", "name", NULL}, DOC_INDEX_FOLD, NULL},
    {"by_group", {"group_id", "name", NULL}, DOC_INDEX_SPARSE | DOC_INDEX_FOLD, NULL},
    {"by_tag", {"tags[]", "name", NULL}, DOC_INDEX_FOLD, NULL},
    {"by_channel", {"channels[].instance", NULL}, DOC_INDEX_UNIQUE, NULL},
    {"by_updated", {"updated_at", NULL}, 0, NULL},
    {"by_created", {"created_at", NULL}, 0, NULL},
    {"by_scenario", {"scenario.scenario_id", NULL}, DOC_INDEX_SPARSE, NULL},
};

static const doc_index_def group_ix[] = {
    {"by_name", {"name", NULL}, DOC_INDEX_UNIQUE | DOC_INDEX_FOLD, NULL},
};

static const doc_index_def scenario_ix[] = {
    {"by_name", {"name", NULL}, DOC_INDEX_UNIQUE | DOC_INDEX_FOLD, NULL},
    {"by_agent", {"agent_id", "updated_at", NULL}, DOC_INDEX_SPARSE, NULL},
    {"by_updated", {"updated_at", NULL}, 0, NULL},
    {"by_tag", {"tags[]", "name", NULL}, DOC_INDEX_FOLD, NULL},
};

static const doc_index_def version_ix[] = {
    {"by_number", {"scenario_id", "number", NULL}, DOC_INDEX_UNIQUE, NULL},
};

static const doc_index_def contact_ix[] = {
    {"by_identity", {"identities[]", NULL}, DOC_INDEX_UNIQUE, identity_tuples},
    {"by_channel", {"channels[]", "last_seen_at", NULL}, 0, NULL},
    {"by_last_seen", {"last_seen_at", NULL}, 0, NULL},
    {"by_tag", {"tags[]", "last_seen_at", NULL}, 0, NULL},
};

static const doc_index_def conversation_ix[] = {
    {"by_agent", {"agent_id", "last_activity_at", NULL}, 0, NULL},
    {"by_contact", {"contact_id", "last_activity_at", NULL}, 0, NULL},
    {"by_agent_contact", {"agent_id", "contact_id", "started_at", NULL}, 0, NULL},
    {"by_state", {"state", "last_activity_at", NULL}, 0, NULL},
    {"by_agent_state", {"agent_id", "state", "last_activity_at", NULL}, 0, NULL},
    {"by_channel", {"channel.instance", "last_activity_at", NULL}, 0, NULL},
    {"by_activity", {"last_activity_at", NULL}, 0, NULL},
    {"by_wake", {"wake_at", NULL}, DOC_INDEX_SPARSE, NULL}, /* the engine's due timers */
};

static const doc_index_def audit_ix[] = {
    {"by_actor", {"actor.id", "at", NULL}, DOC_INDEX_SPARSE, NULL},
    {"by_target", {"target.id", "at", NULL}, DOC_INDEX_SPARSE, NULL},
    {"by_action", {"action", "at", NULL}, 0, NULL},
    {"by_at", {"at", NULL}, 0, NULL},
};

static const doc_index_def trigger_ix[] = {
    {"by_agent", {"agent_id", "created_at", NULL}, 0, NULL},
    {"by_kind", {"kind", "created_at", NULL}, 0, NULL},
    {"by_next_run", {"next_run_at", NULL}, DOC_INDEX_SPARSE, NULL}, /* schedules due */
};

static const doc_index_def widget_ix[] = {
    {"by_agent", {"agent_id", "created_at", NULL}, 0, NULL},
    {"by_created", {"created_at", NULL}, 0, NULL},
};

static const doc_index_def experiment_ix[] = {
    {"by_agent", {"agent_id", "started_at", NULL}, 0, NULL},
    {"by_agent_state", {"agent_id", "state", "started_at", NULL}, 0, NULL},
};

/* A trigger has the part its kind needs. */
static int check_trigger(doc_txn *t, const json_t *doc)
{
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    if (kind && !strcmp(kind, "on_command") && !json_object_get(doc, "command"))
        return doc_fail(t, AH_EINVAL, "command",
                        "required: an on_command trigger names its command");
    if (kind && !strcmp(kind, "on_event") && !json_object_get(doc, "event"))
        return doc_fail(t, AH_EINVAL, "event",
                        "required: an on_event trigger names its topic ({\"topic\": ...})");
    if (kind && !strcmp(kind, "on_schedule")) {
        const json_t *s = json_object_get(doc, "schedule");
        bool cron = json_object_get(s, "cron") != NULL, at = json_object_get(s, "at") != NULL;
        if (cron == at)
            return doc_fail(t, AH_EINVAL, "schedule",
                            "an on_schedule trigger has cron or at, not both");
    }
    return 0;
}

static const doc_index_def webhook_ix[] = {
    {"by_status", {"status", "created_at", NULL}, 0, NULL},
};
static const doc_index_def delivery_ix[] = {
    {"by_webhook", {"webhook_id", "created_at", NULL}, 0, NULL},
    {"by_webhook_status", {"webhook_id", "status", "created_at", NULL}, 0, NULL},
};
static const doc_index_def user_ix[] = {
    {"by_email", {"email", NULL}, DOC_INDEX_UNIQUE | DOC_INDEX_FOLD, NULL},
    {"by_role", {"role", "email", NULL}, DOC_INDEX_FOLD, NULL},
    {"by_status", {"status", "email", NULL}, DOC_INDEX_FOLD, NULL},
};

static const doc_index_def role_ix[] = {
    {"by_name", {"name", NULL}, DOC_INDEX_UNIQUE, NULL},
};
static const doc_index_def team_ix[] = {
    {"by_name", {"name", NULL}, DOC_INDEX_UNIQUE | DOC_INDEX_FOLD, NULL},
    {"by_member", {"members[]", "name", NULL}, 0, NULL},
    {"by_role", {"roles[]", "name", NULL}, 0, NULL},
};
static const char *const contact_sealed[] = {"identities", "profile", NULL};
static const char *const conversation_sealed[] = {"variables", "messages", "engine", NULL};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const doc_collection all[] = {
    {.name = COLL_AGENTS,
     .id_prefix = "agt",
     .schema_json = ah_schema_agent,
     .version = 1,
     .max_bytes = 64u << 10,
     .indexes = agent_ix,
     .nindexes = N(agent_ix),
     .check = check_agent},
    {.name = COLL_AGENT_GROUPS,
     .id_prefix = "grp",
     .schema_json = ah_schema_agent_group,
     .version = 1,
     .max_bytes = 16u << 10,
     .indexes = group_ix,
     .nindexes = N(group_ix)},
    {.name = COLL_SCENARIOS,
     .id_prefix = "scn",
     .schema_json = ah_schema_scenario,
     .version = 1,
     .max_bytes = 16u << 10,
     .indexes = scenario_ix,
     .nindexes = N(scenario_ix)},
    {.name = COLL_SCENARIO_VERSIONS,
     .id_prefix = "scv",
     .schema_json = ah_schema_scenario_version,
     .version = 1,
     .max_bytes = 2u << 20,
     .indexes = version_ix,
     .nindexes = N(version_ix)},
    {.name = COLL_CONTACTS,
     .id_prefix = "con",
     .schema_json = ah_schema_contact,
     .version = 1,
     .max_bytes = 64u << 10,
     .indexes = contact_ix,
     .nindexes = N(contact_ix),
     .sealed = contact_sealed,
     .contact_field = "id"},
    {.name = COLL_CONVERSATIONS,
     .id_prefix = "cnv",
     .schema_json = ah_schema_conversation,
     .version = 1,
     .max_bytes = 256u << 10,
     .indexes = conversation_ix,
     .nindexes = N(conversation_ix),
     .sealed = conversation_sealed,
     .contact_field = "contact_id"},
    {.name = COLL_TRIGGERS,
     .id_prefix = "trg",
     .schema_json = ah_schema_trigger,
     .version = 1,
     .max_bytes = 64u << 10,
     .indexes = trigger_ix,
     .nindexes = N(trigger_ix),
     .check = check_trigger},
    {.name = COLL_WEBHOOKS,
     .id_prefix = "whk",
     .schema_json = ah_schema_webhook,
     .version = 1,
     .max_bytes = 16u << 10,
     .indexes = webhook_ix,
     .nindexes = N(webhook_ix)},
    {.name = COLL_WEBHOOK_DELIVERIES,
     .id_prefix = "dlv",
     .schema_json = ah_schema_webhook_delivery,
     .version = 1,
     .max_bytes = 256u << 10,
     .indexes = delivery_ix,
     .nindexes = N(delivery_ix)},
    {.name = COLL_WIDGETS,
     .id_prefix = "wdg",
     .schema_json = ah_schema_widget,
     .version = 1,
     .max_bytes = 64u << 10,
     .indexes = widget_ix,
     .nindexes = N(widget_ix)},
    {.name = COLL_USERS,
     .id_prefix = "usr",
     .schema_json = ah_schema_user,
     .version = 1,
     .max_bytes = 16u << 10,
     .indexes = user_ix,
     .nindexes = N(user_ix)},
    {.name = COLL_EXPERIMENTS,
     .id_prefix = "exp",
     .schema_json = ah_schema_experiment,
     .version = 1,
     .max_bytes = 256u << 10,
     .indexes = experiment_ix,
     .nindexes = N(experiment_ix)},
    {.name = COLL_ROLES,
     .id_prefix = "rol",
     .schema_json = ah_schema_role,
     .version = 1,
     .max_bytes = 16u << 10,
     .indexes = role_ix,
     .nindexes = N(role_ix)},
    {.name = COLL_TEAMS,
     .id_prefix = "team",
     .schema_json = ah_schema_team,
     .version = 1,
     .max_bytes = 64u << 10,
     .indexes = team_ix,
     .nindexes = N(team_ix)},
    {.name = COLL_CREDENTIALS,
     .id_prefix = "crd",
     .schema_json = ah_schema_credential,
     .version = 1,
     .max_bytes = 4u << 10},
    {.name = COLL_AUDIT,
     .id_prefix = "aud",
     .schema_json = ah_schema_audit_entry,
     .version = 1,
     .max_bytes = 256u << 10,
     .indexes = audit_ix,
     .nindexes = N(audit_ix)},
};

const doc_collection *collections_all(size_t *n)
{
    *n = N(all);
    return all;
}
