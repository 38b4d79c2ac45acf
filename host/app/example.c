/*
 * example.c - the example agent of a first start (example.h).
 */
#include "app/example.h"

#include "core/util.h"
#include "model/audit.h"
#include "model/collections.h"
#include "model/ids.h"
#include "model/scenarios.h"

#include <agenthost/plugin.h>
#include <stdio.h>
#include <string.h>

extern const char ah_example_onboarding[]; /* docs/examples/scenarios/onboarding-survey.json */

typedef struct example {
    json_t *content;
    char agent[ID_MAX];
    char widget[ID_MAX];
} example;

/* A new document of coll stamped as made by the host now: put and audited. */
static int create(doc_txn *t, const char *coll, const char *action, json_t *doc)
{
    char at[40];
    ah_rfc3339_ms(doc_txn_now(t), at, sizeof(at));
    json_object_set_new(doc, "created_at", json_string(at));
    json_object_set_new(doc, "created_by", json_string("host"));
    json_object_set_new(doc, "updated_at", json_string(at));
    json_object_set_new(doc, "updated_by", json_string("host"));
    int rc = doc_put(t, coll, doc, 0, NULL);
    audit_actor host = {.kind = "host"};
    if (!rc)
        rc = audit_record(t, &host, NULL, action, coll,
                          json_string_value(json_object_get(doc, "id")), NULL, doc);
    return rc;
}

static int write_example(doc_txn *t, void *ud)
{
    example *e = ud;
    char scn[ID_MAX];
    id_new("scn", doc_txn_now(t), scn, sizeof(scn));
    id_new("agt", doc_txn_now(t), e->agent, sizeof(e->agent));
    json_t *version = NULL;
    json_t *s = json_pack("{s:s,s:s,s:s,s:[s],s:I}", "id", scn, "name",
                          "Onboarding survey (example)", "description",
                          "Asks a newcomer's name, e-mail, role and team size, then offers a demo "
                          "(docs/examples/scenarios/onboarding-survey.json)",
                          "tags", "example", "latest_version", (json_int_t)1);
    json_t *a = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:[s,s],s:[s],s:{s:s}}", "id", e->agent, "name", EXAMPLE_AGENT_NAME,
        "description", "The example agent: talk to it over the REST channel (README, First look)",
        "status", "active", "default_language", "en", "languages", "en", "ru", "tags", "example",
        "scenario", "scenario_id", scn);
    /* A web chat widget for it: its demo page on the host needs no origin. */
    id_new("wdg", doc_txn_now(t), e->widget, sizeof(e->widget));
    json_t *w = json_pack("{s:s,s:s,s:s,s:b,s:[],s:s,s:b,s:{s:s}}", "id", e->widget, "name",
                          EXAMPLE_AGENT_NAME " (example)", "agent_id", e->agent, "enabled", 1,
                          "allowed_origins", "lang", "en", "identity_secret_set", 0, "theme",
                          "title", EXAMPLE_AGENT_NAME);
    int rc = s && a && w ? 0 : AH_ENOMEM;
    if (!rc) rc = create(t, COLL_SCENARIOS, "scenario.create", s);
    if (!rc)
        rc = scenario_version_put(t, scn, 1, e->content, "The example of a first start", "host",
                                  &version, NULL);
    if (!rc) rc = create(t, COLL_AGENTS, "agent.create", a);
    if (!rc) rc = create(t, COLL_WIDGETS, "widget.create", w);
    json_decref(w);
    json_decref(version);
    json_decref(s);
    json_decref(a);
    return rc;
}

int example_agent_create(docs *d, char *agent_id, char *widget_id, char *err, size_t errlen)
{
    json_error_t je;
    example e = {.content = json_loads(ah_example_onboarding, 0, &je)};
    if (!e.content) { /* the build embeds a file a test checks: not expected */
        snprintf(err, errlen, "the built-in example does not parse: %s", je.text);
        return AH_EINVAL;
    }
    doc_error de;
    int rc = docs_write_now(d, write_example, &e, &de);
    json_decref(e.content);
    if (rc)
        snprintf(err, errlen, "%s", de.message);
    else {
        snprintf(agent_id, ID_MAX, "%s", e.agent);
        snprintf(widget_id, ID_MAX, "%s", e.widget);
    }
    return rc;
}
