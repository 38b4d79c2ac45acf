/*
 * Access events in the audit (issue 17): logins, failed logins, lockouts,
 * permission denials and password changes become audit entries beside
 * their security.log lines, searchable with GET /api/v1/audit?action=...;
 * so do reads of personal data (a contact's profile, a conversation's
 * transcript: api_audit_read).
 * Written asynchronously with the store's next group commit; a failure
 * to write is logged, never answered (the request was answered already).
 */
#include "core/log.h"
#include "model/audit.h"
#include "api_priv.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct access_arg {
    char action[48], kind[8], id[64], name[80], role[16], request_id[80];
    char coll[32], target[64]; /* what was read; "" for an access event */
    json_t *what;
} access_arg;

static int run_access(doc_txn *t, void *ud)
{
    access_arg *a = ud;
    audit_actor who = {.kind = a->kind,
                       .id = a->id[0] ? a->id : NULL,
                       .name = a->name[0] ? a->name : NULL,
                       .role = a->role[0] ? a->role : NULL};
    if (a->coll[0])
        return audit_record(t, &who, a->request_id, a->action, a->coll, a->target, NULL, a->what);
    return audit_record(t, &who, a->request_id, a->action, "access", a->id[0] ? a->id : "-", NULL,
                        a->what);
}

static void access_done(int status, const doc_error *err, void *ud)
{
    access_arg *a = ud;
    if (status)
        log_warn("api", "cannot record the audit entry %s: %s", a->action, err ? err->message : "");
    json_decref(a->what);
    free(a);
}

void api_audit_access(docs *d, http_req *req, const char *action, const principal *who,
                      const char *email, json_t *what)
{
    access_arg *a = d ? calloc(1, sizeof(*a)) : NULL;
    if (!a) {
        json_decref(what);
        return;
    }
    snprintf(a->action, sizeof(a->action), "%s", action);
    snprintf(a->kind, sizeof(a->kind), "%s", who ? who->kind : "user");
    snprintf(a->id, sizeof(a->id), "%s", who ? who->id : "");
    snprintf(a->name, sizeof(a->name), "%s", who ? who->name : email ? email : "");
    snprintf(a->role, sizeof(a->role), "%s", who ? who->role : "");
    snprintf(a->request_id, sizeof(a->request_id), "%s", http_req_id(req));
    a->what = what ? what : json_object();
    json_object_set_new(a->what, "client_ip", json_string(http_req_client_ip(req)));
    if (docs_write(d, run_access, a, access_done) != 0) access_done(AH_ENOMEM, NULL, a);
}

void api_audit_read(docs *d, http_req *req, const char *action, const char *coll,
                    const char *target, json_t *what)
{
    access_arg *a = d ? calloc(1, sizeof(*a)) : NULL;
    if (!a) {
        json_decref(what);
        return;
    }
    const principal *who = http_req_user(req);
    snprintf(a->action, sizeof(a->action), "%s", action);
    snprintf(a->kind, sizeof(a->kind), "%s", who ? who->kind : "host");
    snprintf(a->id, sizeof(a->id), "%s", who ? who->id : "");
    snprintf(a->name, sizeof(a->name), "%s", who ? who->name : "");
    snprintf(a->role, sizeof(a->role), "%s", who ? who->role : "");
    snprintf(a->request_id, sizeof(a->request_id), "%s", http_req_id(req));
    snprintf(a->coll, sizeof(a->coll), "%s", coll);
    snprintf(a->target, sizeof(a->target), "%s", target && *target ? target : "-");
    a->what = what ? what : json_object();
    json_object_set_new(a->what, "client_ip", json_string(http_req_client_ip(req)));
    if (docs_write(d, run_access, a, access_done) != 0) access_done(AH_ENOMEM, NULL, a);
}

void api_security_log(http_req *req, int level, const char *event, const char *user,
                      const char *msg)
{
    log_ctx lc = {.request_id = http_req_id(req)};
    json_t *f = json_pack("{s:s,s:s,s:s}", "event", event, "client_ip", http_req_client_ip(req),
                          "user", user ? user : "");
    log_write("security", level, "auth", &lc, f, "%s", msg);
    json_decref(f);
}
