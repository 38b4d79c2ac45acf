/*
 * /api/v1/widgets: web chat channel instances (docs/schemas/widget.json),
 * each bound to one agent, served under /chat/{widget}/ (api_webchat.c).
 * The identity secret is write-only: taken out of the document before it
 * is written and sealed in the secrets store (store/secrets.h) under the
 * widget's id in lower case; the document only says whether it is set.
 */
#include "store/secrets.h"
#include "model/collections.h"
#include "api_docs.h"
#include "api_webchat.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct widgets_ctx {
    secrets *sec;
} widgets_ctx;

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

void webchat_secret_name(const char *widget_id, char *out, size_t n)
{
    snprintf(out, n, "%s", widget_id);
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
}

static void secret_written(int status, void *ud)
{
    (void)ud;
    (void)status; /* the store logs its failures */
}

/* The agent exists; the identity secret goes to the secrets store. */
static int widget_prepare(res_change *c)
{
    widgets_ctx *x = c->ctx;
    json_t *doc = c->doc;
    const char *agent = str_of(doc, "agent_id");
    json_t *a = NULL;
    int rc = agent ? doc_get(c->t, COLL_AGENTS, agent, &a, NULL) : AH_ENOTFOUND;
    json_decref(a);
    if (rc == AH_ENOTFOUND) return doc_fail(c->t, AH_EINVAL, "agent_id", "no agent %s", agent);
    if (rc) return rc;
    json_t *secret = json_object_get(doc, "identity_secret");
    bool touched = secret != NULL || (c->old == NULL);
    if (!touched) return 0;
    char name[80];
    webchat_secret_name(str_of(doc, "id"), name, sizeof(name));
    if (json_is_string(secret)) {
        if (!x || !x->sec)
            return doc_fail(c->t, AH_EINVAL, "identity_secret",
                            "the host has no master key to seal secrets with");
        rc = secrets_set(x->sec, name, "identity_secret", json_string_value(secret),
                         json_string_length(secret), secret_written, NULL);
        if (rc)
            return doc_fail(c->t, AH_EINVAL, "identity_secret", "cannot store it: %s",
                            ah_strerror(rc));
        json_object_set_new(doc, "identity_secret_set", json_true());
    } else if (c->old) { /* null: removed */
        if (x && x->sec) secrets_delete(x->sec, name, "identity_secret", secret_written, NULL);
        json_object_set_new(doc, "identity_secret_set", json_false());
    } else {
        json_object_set_new(doc, "identity_secret_set", json_false());
    }
    json_object_del(doc, "identity_secret");
    if (json_is_true(json_object_get(doc, "identity_required")) &&
        !json_is_true(json_object_get(doc, "identity_secret_set")))
        return doc_fail(c->t, AH_EINVAL, "identity_required",
                        "an identity is required but no identity_secret is set");
    return 0;
}

static int widget_before_delete(res_change *c)
{
    widgets_ctx *x = c->ctx;
    char name[80];
    webchat_secret_name(str_of(c->old, "id"), name, sizeof(name));
    if (x && x->sec && json_is_true(json_object_get(c->old, "identity_secret_set")))
        secrets_delete(x->sec, name, "identity_secret", secret_written, NULL);
    return 0;
}

static const res_filter widget_filters[] = {{"agent_id", "agent_id"}, {NULL, NULL}};
static const res_range widget_ranges[] = {{"created", "created_at"}, {NULL, NULL}};
static const char *const widget_sorts[] = {"created_at", "name", NULL};
static const char *const widget_read_only[] = {"identity_secret_set", NULL};

static const resource widgets_res = {
    .coll = COLL_WIDGETS,
    .noun = "widget",
    .plural = "widgets",
    .base = "/api/v1/widgets",
    .item = "/api/v1/widgets/{id}",
    .filters = widget_filters,
    .ranges = widget_ranges,
    .sorts = widget_sorts,
    .text_field = "name",
    .read_only = widget_read_only,
    .defaults = "{\"enabled\": true, \"allowed_origins\": [], \"lang\": \"en\"}",
    .prepare = widget_prepare,
    .before_delete = widget_before_delete,
};

int api_widgets_routes(api_table *t, const api_deps *deps)
{
    widgets_ctx *x = NULL;
    if (deps) {
        if (!(x = calloc(1, sizeof(*x)))) return AH_ENOMEM;
        x->sec = deps->sec;
        int rc = api_table_own(t, x, free);
        if (rc) return rc;
    }
    return res_register(t, &widgets_res, deps ? deps->docs : NULL, x, "agents:read",
                        "agents:write");
}
