/*
 * The data model through the real binary: documents keep their revisions
 * across restarts, a stale If-Match changes nothing, errors name their
 * field, versions never change, an agent in use is archived only when
 * asked, every change is audited (through the API and the command line)
 * and no entry can be changed, a store made by an older host opens and
 * takes documents, and an erased contact's data can be read from no copy:
 * not the store, not a backup taken before the erasure.
 */
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static th_host H;

#define CANARY "Canary-Sokolova-4d1e"

static int setup(void **s)
{
    (void)s;
    if (th_init(&H, "model") || th_config(&H, "{\"expressions\": {\"workers\": 0}}") ||
        th_start(&H, NULL, 15000))
        return -1;
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

static char *post_id(const char *path, const char *body)
{
    json_t *o = NULL;
    int st = th_http(&H, "POST", path, body, NULL, &o);
    if (st != 201) fail_msg("POST %s answered %d", path, st);
    char *id = strdup(json_string_value(json_object_get(o, "id")));
    json_decref(o);
    return id;
}

/* PATCH with headers, answering the status and the error's field. */
static int patch(const char *path, const char *body, const char *if_match, char *field, size_t n)
{
    char auth[256], im[64];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    snprintf(im, sizeof(im), "If-Match: %s", if_match ? if_match : "");
    const char *hs[] = {auth, if_match ? im : NULL, NULL};
    char *rb = NULL;
    int st = th_http_raw(&H, "PATCH", path, "application/merge-patch+json", body, strlen(body), hs,
                         NULL, &rb);
    json_t *o = rb ? json_loads(rb, 0, NULL) : NULL;
    if (field) snprintf(field, n, "%s", json_string_value(th_get(o, "error.field")) ?: "");
    json_decref(o);
    free(rb);
    return st;
}

static void test_a_stale_if_match_is_412_and_changes_nothing(void **s)
{
    (void)s;
    char *id = post_id("/api/v1/agents", "{\"name\": \"Desk\", \"default_language\": \"en\"}");
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/agents/%s", id);
    assert_int_equal(patch(path, "{\"description\": \"first\"}", "\"1\"", NULL, 0), 200);
    /* A second editor still holding revision 1. */
    assert_int_equal(patch(path, "{\"description\": \"second\"}", "\"1\"", NULL, 0), 412);
    assert_int_equal(patch(path, "{\"description\": \"second\"}", "not-an-etag", NULL, 0), 412);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    assert_string_equal(json_string_value(json_object_get(o, "description")), "first");
    assert_int_equal(json_integer_value(json_object_get(o, "revision")), 2);
    json_decref(o);
    free(id);
}

static void test_bad_input_is_refused_naming_the_field_and_changes_nothing(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(
        th_http(&H, "POST", "/api/v1/agents", "{\"name\": \"A\", \"colour\": \"red\"}", NULL, &o),
        422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "colour");
    json_decref(o);
    assert_int_equal(th_http(&H, "POST", "/api/v1/agents",
                             "{\"name\": \"A\", \"languages\": [\"en\", \"English!\"]}", NULL, &o),
                     422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "languages[1]");
    json_decref(o);
    assert_int_equal(th_http(&H, "POST", "/api/v1/agents", "{\"name\": \"desk\"}", NULL, &o), 409);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "name");
    json_decref(o);
    assert_int_equal(
        th_http(&H, "POST", "/api/v1/agents", "{\"id\": \"agt_x\", \"name\": \"B\"}", NULL, &o),
        422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "id");
    json_decref(o);
    assert_int_equal(th_http(&H, "POST", "/api/v1/agents", "{\"name\": ", NULL, &o), 400);
    json_decref(o);
    /* Over the agents' size limit (64 KiB). */
    size_t n = 70000;
    char *big = malloc(n + 64);
    int k = snprintf(big, n + 64, "{\"name\": \"Big\", \"description\": \"");
    memset(big + k, 'x', n - (size_t)k - 3);
    strcpy(big + n - 3, "\"}");
    int st = th_http(&H, "POST", "/api/v1/agents", big, NULL, &o);
    assert_true(st == 413 || st == 422); /* the schema's maxLength may speak first */
    json_decref(o);
    free(big);
    /* None of them made an agent. */
    assert_int_equal(th_http(&H, "GET", "/api/v1/agents?q=big", NULL, NULL, &o), 200);
    assert_int_equal(json_array_size(json_object_get(o, "items")), 0);
    json_decref(o);
    char auth[256];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    const char *hs[] = {auth, NULL};
    assert_int_equal(
        th_http_raw(&H, "POST", "/api/v1/agents", "text/plain", "{}", 2, hs, NULL, NULL), 415);
}

static void test_versions_never_change_and_an_agent_in_use_is_only_archived(void **s)
{
    (void)s;
    char *scn = post_id("/api/v1/scenarios", "{\"name\": \"Survey\"}");
    char path[300];
    snprintf(path, sizeof(path), "/api/v1/scenarios/%s/versions", scn);
    json_t *o = NULL;
    static const char version[] =
        "{\"content\": {\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\","
        " \"languages\": [\"en\"], \"start\": \"a\", \"steps\": {\"a\": {\"kind\": \"end\"}}}}";
    assert_int_equal(th_http(&H, "POST", path, version, NULL, &o), 201);
    assert_int_equal(json_integer_value(json_object_get(o, "number")), 1);
    json_decref(o);
    /* The same content: no new version. */
    assert_int_equal(th_http(&H, "POST", path, version, NULL, &o), 200);
    assert_int_equal(json_integer_value(json_object_get(o, "number")), 1);
    json_decref(o);
    snprintf(path, sizeof(path), "/api/v1/scenarios/%s/versions/1", scn);
    assert_int_equal(th_http(&H, "DELETE", path, NULL, NULL, &o), 409);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "immutable");
    json_decref(o);
    char body[400];
    snprintf(body, sizeof(body),
             "{\"name\": \"Surveyor\", \"scenario\": {\"scenario_id\": \"%s\", \"version\": 1}}",
             scn);
    char *agent = post_id("/api/v1/agents", body);
    char *contact = post_id("/api/v1/contacts", "{\"profile\": {\"name\": \"X\"}}");
    snprintf(body, sizeof(body), "{\"agent_id\": \"%s\", \"contact_id\": \"%s\"}", agent, contact);
    char *conv = post_id("/api/v1/conversations", body);
    /* The scenario runs: not deleted. The agent is used: 409 naming the
     * conversation, then archived on request, its conversation kept. */
    snprintf(path, sizeof(path), "/api/v1/scenarios/%s", scn);
    assert_int_equal(th_http(&H, "DELETE", path, NULL, NULL, &o), 409);
    json_decref(o);
    snprintf(path, sizeof(path), "/api/v1/agents/%s", agent);
    assert_int_equal(th_http(&H, "DELETE", path, NULL, NULL, &o), 409);
    assert_non_null(strstr(json_string_value(th_get(o, "error.message")), conv));
    json_decref(o);
    snprintf(path, sizeof(path), "/api/v1/agents/%s?force=true", agent);
    assert_int_equal(th_http(&H, "DELETE", path, NULL, NULL, &o), 200);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "archived");
    json_decref(o);
    snprintf(path, sizeof(path), "/api/v1/conversations/%s", conv);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, NULL), 200);
    free(scn);
    free(agent);
    free(contact);
    free(conv);
}

static bool file_holds(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    bool hit = memmem(buf, got, needle, strlen(needle)) != NULL;
    free(buf);
    return hit;
}

static int cli(th_host *h, char *out, size_t n, const char *a, const char *b, const char *c,
               const char *d)
{
    return th_cli(h, NULL, out, n, a, b, c, d, NULL);
}

/* The contact's profile, conversation variables and messages never reach
 * the disk in the clear; erased, they can be read from no copy, not even
 * a backup of the store taken before (the keys are kept apart from the
 * store); only a keys backup from before the erasure would open them,
 * which is why those are kept short-lived. */
static void test_an_erased_contact_cannot_be_read_from_a_backup_taken_before(void **s)
{
    (void)s;
    char *contact = post_id("/api/v1/contacts", "{\"identities\": [{\"channel\": \"telegram\", "
                                                "\"id\": \"9001\"}], \"profile\": {\"name\": "
                                                "\"" CANARY "\"}}");
    char *agent = post_id("/api/v1/agents", "{\"name\": \"Shredder\"}");
    char body[600], path[300], out[4096], backup[700], keys_before[700], keys_after[700];
    snprintf(body, sizeof(body),
             "{\"agent_id\": \"%s\", \"contact_id\": \"%s\", \"variables\": {\"name\": \"" CANARY
             "\"}, \"messages\": [{\"direction\": \"in\", \"text\": \"I am " CANARY
             "\", \"at\": \"2026-12-01T10:00:00Z\"}]}",
             agent, contact);
    char *conv = post_id("/api/v1/conversations", body);
    snprintf(backup, sizeof(backup), "%s/before.mdb", H.dir);
    snprintf(keys_before, sizeof(keys_before), "%s/keys-before.mdb", H.dir);
    snprintf(keys_after, sizeof(keys_after), "%s/keys-after.mdb", H.dir);
    assert_int_equal(cli(&H, out, sizeof(out), "backup", "--to", backup, NULL), 0);
    assert_int_equal(cli(&H, out, sizeof(out), "keys", "backup", "--to", keys_before), 0);
    char data[700];
    snprintf(data, sizeof(data), "%s/data.mdb", H.data);
    assert_false(file_holds(data, CANARY));
    assert_false(file_holds(backup, CANARY));
    assert_false(file_holds(data, "9001")); /* identities too, and their index */
    /* Erase (admin). */
    snprintf(path, sizeof(path), "/api/v1/contacts/%s", contact);
    assert_int_equal(th_http(&H, "DELETE", path, NULL, NULL, NULL), 204);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, NULL), 404);
    assert_int_equal(cli(&H, out, sizeof(out), "keys", "backup", "--to", keys_after), 0);
    /* The old backup, restored with the keys as they are now: the contact
     * comes back, its data does not. */
    th_host R;
    assert_int_equal(th_init(&R, "model-restored"), 0);
    assert_int_equal(th_config(&R, "{\"expressions\": {\"workers\": 0}}"), 0);
    assert_int_equal(cli(&R, out, sizeof(out), "restore", "--from", backup, NULL), 0);
    assert_int_equal(cli(&R, out, sizeof(out), "keys", "restore", "--from", keys_after), 0);
    char cmd[2000];
    snprintf(cmd, sizeof(cmd), "cp %s/master.key %s/master.key", H.data, R.data);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(th_make_token(&R), 0);
    assert_int_equal(th_start(&R, NULL, 15000), 0);
    json_t *o = NULL;
    assert_int_equal(th_http(&R, "GET", path, NULL, NULL, &o), 200);
    assert_true(json_is_null(json_object_get(o, "profile")));
    assert_true(json_is_null(json_object_get(o, "identities")));
    json_decref(o);
    snprintf(path, sizeof(path), "/api/v1/conversations/%s", conv);
    assert_int_equal(th_http(&R, "GET", path, NULL, NULL, &o), 200);
    assert_true(json_is_null(json_object_get(o, "variables")));
    assert_true(json_is_null(json_object_get(o, "messages")));
    json_decref(o);
    assert_int_equal(th_stop_clean(&R, 10000), 0);
    /* With the keys from before the erasure it would open: the key alone
     * decides (this is the copy that must not outlive an erasure). */
    assert_int_equal(cli(&R, out, sizeof(out), "keys", "restore", "--from", keys_before), 1);
    assert_int_equal(th_cli(&R, NULL, out, sizeof(out), "keys", "restore", "--from", keys_before,
                            "--force", NULL),
                     0);
    assert_int_equal(th_start(&R, NULL, 15000), 0);
    snprintf(path, sizeof(path), "/api/v1/contacts/%s", contact);
    assert_int_equal(th_http(&R, "GET", path, NULL, NULL, &o), 200);
    assert_string_equal(json_string_value(th_get(o, "profile.name")), CANARY);
    json_decref(o);
    assert_int_equal(th_stop_clean(&R, 10000), 0);
    th_cleanup(&R);
    free(contact);
    free(agent);
    free(conv);
}

static void test_every_change_is_audited_and_no_entry_can_be_changed(void **s)
{
    (void)s;
    char out[4096];
    assert_int_equal(th_cli(&H, NULL, out, sizeof(out), "token", "create", "--name", "auditor",
                            "--role", "viewer", NULL),
                     0);
    assert_int_equal(th_cli(&H, "a-long-enough-secret", out, sizeof(out), "secret", "set", "echo",
                            "token", NULL),
                     0);
    json_t *o = NULL;
    /* Newest first: this test's token (the harness made one before). */
    assert_int_equal(th_http(&H, "GET", "/api/v1/audit?action=token.create", NULL, NULL, &o), 200);
    assert_string_equal(json_string_value(th_get(o, "items.0.diff.name.to")), "auditor");
    assert_string_equal(json_string_value(th_get(o, "items.0.actor.kind")), "cli");
    json_decref(o);
    assert_int_equal(th_http(&H, "GET", "/api/v1/audit?action=secret.set", NULL, NULL, &o), 200);
    assert_string_equal(json_string_value(th_get(o, "items.0.target.id")), "echo/token");
    json_decref(o);
    assert_false(th_logs_contain(&H, "a-long-enough-secret"));
    assert_true(th_wait_file(&H, "logs/audit.log", "token.create", 3000));
    /* An API change: its entry names the token and the request. */
    char *g = post_id("/api/v1/agent-groups", "{\"name\": \"Audited\"}");
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/audit?target=%s", g);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    assert_string_equal(json_string_value(th_get(o, "items.0.action")), "agent_group.create");
    assert_string_equal(json_string_value(th_get(o, "items.0.actor.kind")), "token");
    assert_non_null(th_get(o, "items.0.request_id"));
    const char *entry = json_string_value(th_get(o, "items.0.id"));
    snprintf(path, sizeof(path), "/api/v1/audit/%s", entry);
    json_decref(o);
    assert_int_equal(th_http(&H, "DELETE", path, NULL, NULL, NULL), 405);
    assert_int_equal(th_http(&H, "PATCH", path, "{}", NULL, NULL), 405);
    assert_int_equal(th_http(&H, "GET", "/api/v1/audit?format=xml", NULL, NULL, NULL), 422);
    free(g);
}

/* The audit's entries of action on target, newest first. */
static json_t *audit_of(const char *action, const char *target)
{
    char path[300];
    snprintf(path, sizeof(path), "/api/v1/audit?action=%s&target=%s", action, target);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    return o;
}

/* Reading personal data is an access the audit keeps (issue 17): a
 * contact's profile (by id, by identity, a page of the list) and a
 * conversation's transcript and context, each with who read it, never
 * with what was read. */
static void
test_reads_of_profiles_and_transcripts_are_audited_with_who_and_no_personal_data(void **s)
{
    (void)s;
    char out[4096];
    assert_int_equal(th_cli(&H, NULL, out, sizeof(out), "token", "create", "--name", "reader",
                            "--role", "analyst", NULL),
                     0);
    out[strcspn(out, "\n")] = 0;
    char *contact = post_id("/api/v1/contacts", "{\"identities\": [{\"channel\": \"telegram\", "
                                                "\"id\": \"7007\"}], \"profile\": {\"name\": "
                                                "\"" CANARY "\"}}");
    char *agent = post_id("/api/v1/agents", "{\"name\": \"Read audit\"}");
    char body[600], path[300];
    snprintf(body, sizeof(body),
             "{\"agent_id\": \"%s\", \"contact_id\": \"%s\", \"messages\": [{\"direction\": "
             "\"in\", \"text\": \"I am " CANARY "\", \"at\": \"2026-12-01T10:00:00Z\"}]}",
             agent, contact);
    char *conv = post_id("/api/v1/conversations", body);
    snprintf(path, sizeof(path), "/api/v1/contacts/%s", contact);
    assert_int_equal(th_http(&H, "GET", path, NULL, out, NULL), 200);
    assert_int_equal(
        th_http(&H, "GET", "/api/v1/contacts/lookup?channel=telegram&id=7007", NULL, out, NULL),
        200);
    assert_int_equal(th_http(&H, "GET", "/api/v1/contacts?limit=5", NULL, out, NULL), 200);
    snprintf(path, sizeof(path), "/api/v1/conversations/%s", conv);
    assert_int_equal(th_http(&H, "GET", path, NULL, out, NULL), 200);
    snprintf(path, sizeof(path), "/api/v1/conversations/%s/context", conv);
    assert_int_equal(th_http(&H, "GET", path, NULL, out, NULL), 200);

    const char *const reads[][2] = {{"contact.read", contact},
                                    {"contact.list", "-"},
                                    {"conversation.read", conv},
                                    {"conversation.context_read", conv}};
    for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
        json_t *o = NULL;
        bool seen = false;
        /* Written with the next commit: wait for it, bounded. */
        for (int k = 0; k < 100 && !seen; k++) {
            o = audit_of(reads[i][0], reads[i][1]);
            seen = json_array_size(json_object_get(o, "items")) > 0;
            if (!seen) {
                json_decref(o);
                th_sleep_ms(50);
            }
        }
        if (!seen) fail_msg("no audit entry %s of %s", reads[i][0], reads[i][1]);
        assert_string_equal(json_string_value(th_get(o, "items.0.actor.name")), "reader");
        assert_string_equal(json_string_value(th_get(o, "items.0.actor.role")), "analyst");
        char *text = json_dumps(o, 0);
        assert_null(strstr(text, CANARY));
        assert_null(strstr(text, "7007"));
        free(text);
        json_decref(o);
    }
    /* The lookup by identity is a read of that contact too. */
    json_t *o = audit_of("contact.read", contact);
    assert_true(json_array_size(json_object_get(o, "items")) >= 2);
    json_decref(o);
    free(contact);
    free(agent);
    free(conv);
}

/* A store written by the host before documents existed opens, migrates
 * and takes documents, its events and tokens intact. */
static void test_a_store_from_before_documents_opens_and_takes_them(void **s)
{
    (void)s;
    th_host O;
    char out[4096], from[1200];
    assert_int_equal(th_init(&O, "model-v1"), 0);
    assert_int_equal(th_config(&O, "{\"expressions\": {\"workers\": 0}}"), 0);
    snprintf(from, sizeof(from), "%s/tests/fixtures/store-v1/store.mdb", TH_SOURCE_DIR);
    assert_int_equal(cli(&O, out, sizeof(out), "restore", "--from", from, NULL), 0);
    assert_int_equal(th_make_token(&O), 0);
    assert_int_equal(th_start(&O, NULL, 15000), 0);
    json_t *o = NULL;
    assert_int_equal(th_http(&O, "POST", "/api/v1/agents", "{\"name\": \"New\"}", NULL, &o), 201);
    json_decref(o);
    assert_int_equal(th_http(&O, "GET", "/api/v1/agents", NULL, NULL, &o), 200);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 1);
    json_decref(o);
    assert_int_equal(th_http(&O, "GET", "/api/v1/topics/legacy.events", NULL, NULL, &o), 200);
    assert_int_equal(json_integer_value(json_object_get(o, "depth")), 12);
    json_decref(o);
    assert_int_equal(th_stop_clean(&O, 10000), 0);
    /* And again, with nothing left to migrate. */
    assert_int_equal(th_start(&O, NULL, 15000), 0);
    assert_int_equal(th_http(&O, "GET", "/api/v1/agents?q=new", NULL, NULL, &o), 200);
    assert_int_equal(json_array_size(json_object_get(o, "items")), 1);
    json_decref(o);
    assert_int_equal(th_stop_clean(&O, 10000), 0);
    th_cleanup(&O);
}

static void test_documents_keep_their_revisions_across_a_restart(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", "/api/v1/agents?q=desk", NULL, NULL, &o), 200);
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/agents/%s", json_string_value(th_get(o, "items.0.id")));
    json_decref(o);
    assert_int_equal(th_stop_clean(&H, 10000), 0);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    char auth[256];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    const char *hs[] = {auth, "If-None-Match: \"2\"", NULL};
    assert_int_equal(th_http_raw(&H, "GET", path, NULL, NULL, 0, hs, NULL, NULL), 304);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_stale_if_match_is_412_and_changes_nothing),
        cmocka_unit_test(test_bad_input_is_refused_naming_the_field_and_changes_nothing),
        cmocka_unit_test(test_versions_never_change_and_an_agent_in_use_is_only_archived),
        cmocka_unit_test(test_an_erased_contact_cannot_be_read_from_a_backup_taken_before),
        cmocka_unit_test(test_every_change_is_audited_and_no_entry_can_be_changed),
        cmocka_unit_test(
            test_reads_of_profiles_and_transcripts_are_audited_with_who_and_no_personal_data),
        cmocka_unit_test(test_a_store_from_before_documents_opens_and_takes_them),
        cmocka_unit_test(test_documents_keep_their_revisions_across_a_restart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
