/*
 * The document layer: revisions, schemas and rules, unique and multi-entry
 * indexes, list queries with pages and totals, sealed personal data and its
 * erasure, checksums, migrations and audit entries.
 */
#include "cmocka_pre.h"

#include "store/store.h"
#include "model/audit.h"
#include "model/collections.h"
#include "model/docs.h"
#include "model/ids.h"
#include "model/query.h"
#include "model/retention.h"

#include <agenthost/plugin.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static store *st;
static keystore *KS;
static docs *D;
static uint8_t key[32];

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof(dir), "/tmp/ah-docs-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    memset(key, 7, sizeof(key));
    char err[256];
    store_opts o = {.dir = dir};
    if (store_open(&st, NULL, &o, err, sizeof(err))) return -1;
    char kdir[300];
    snprintf(kdir, sizeof(kdir), "%s/keys", dir);
    if (keystore_open(&KS, kdir, err, sizeof(err))) return -1;
    return docs_open(&D, st, KS, key, err, sizeof(err));
}

static int teardown(void **s)
{
    (void)s;
    docs_close(D);
    store_close(st);
    keystore_close(KS);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

/* ---- helpers: one write or read of a document ------------------------------ */

typedef struct put_arg {
    const char *coll;
    json_t *doc;
    uint64_t expect, rev;
} put_arg;

static int do_put(doc_txn *t, void *ud)
{
    put_arg *a = ud;
    return doc_put(t, a->coll, a->doc, a->expect, &a->rev);
}

static int put(const char *coll, json_t *doc, uint64_t expect, uint64_t *rev, doc_error *e)
{
    put_arg a = {coll, doc, expect, 0};
    int rc = docs_write_now(D, do_put, &a, e);
    if (rev) *rev = a.rev;
    return rc;
}

typedef struct get_arg {
    const char *coll, *id;
    json_t *doc;
    uint64_t rev;
} get_arg;

static int do_get(doc_txn *t, void *ud)
{
    get_arg *a = ud;
    return doc_get(t, a->coll, a->id, &a->doc, &a->rev);
}

static json_t *get(const char *coll, const char *id, uint64_t *rev)
{
    get_arg a = {coll, id, NULL, 0};
    if (docs_read(D, do_get, &a, NULL) != 0) return NULL;
    if (rev) *rev = a.rev;
    return a.doc;
}

static json_t *agent(const char *name, const char *status, const char *updated)
{
    char id[ID_MAX];
    id_new("agt", 1700000000000, id, sizeof(id));
    return json_pack("{s:s,s:s,s:s,s:s,s:[s,s],s:s,s:s}", "id", id, "name", name, "status", status,
                     "default_language", "ru", "languages", "ru", "en", "updated_at", updated,
                     "created_at", updated);
}

/* ---- revisions, schema, rules ------------------------------------------------ */

static void test_revisions_refuse_a_stale_write_and_keep_unknown_fields(void **s)
{
    (void)s;
    json_t *a = agent("Support", "active", "2026-01-01T00:00:00.000Z");
    uint64_t rev;
    doc_error e;
    assert_int_equal(put(COLL_AGENTS, a, 0, &rev, &e), 0);
    assert_int_equal(rev, 1);
    /* A field from a newer version: kept, and not checked by this schema. */
    json_object_set_new(a, "future_field", json_string("kept"));
    assert_int_equal(put(COLL_AGENTS, a, 1, &rev, &e), 0);
    assert_int_equal(rev, 2);
    /* Another editor still holding revision 1 loses, and learns why. */
    json_object_set_new(a, "description", json_string("stale"));
    assert_int_equal(put(COLL_AGENTS, a, 1, NULL, &e), AH_ECONFLICT);
    assert_non_null(strstr(e.message, "revision 2"));
    json_t *back = get(COLL_AGENTS, json_string_value(json_object_get(a, "id")), &rev);
    assert_int_equal(rev, 2);
    assert_string_equal(json_string_value(json_object_get(back, "future_field")), "kept");
    assert_null(json_object_get(back, "description"));
    assert_int_equal(json_integer_value(json_object_get(back, "schema_version")), 1);
    json_decref(back);
    json_decref(a);
}

static void test_schema_and_rules_name_the_field(void **s)
{
    (void)s;
    json_t *a = agent("Sales", "active", "2026-01-02T00:00:00.000Z");
    json_array_append_new(json_object_get(a, "languages"), json_string("not a language"));
    doc_error e;
    assert_int_equal(put(COLL_AGENTS, a, 0, NULL, &e), AH_EINVAL);
    assert_string_equal(e.field, "languages[2]");
    json_array_remove(json_object_get(a, "languages"), 2);
    json_object_set_new(a, "default_language", json_string("de"));
    assert_int_equal(put(COLL_AGENTS, a, 0, NULL, &e), AH_EINVAL);
    assert_string_equal(e.field, "default_language");
    json_object_set_new(a, "default_language", json_string("en"));
    /* Over the collection's size limit. */
    char *big = malloc(70000);
    memset(big, 'x', 69999);
    big[69999] = 0;
    json_object_set_new(a, "future_blob", json_string(big));
    free(big);
    assert_int_equal(put(COLL_AGENTS, a, 0, NULL, &e), AH_ETOOBIG);
    json_object_del(a, "future_blob");
    assert_int_equal(put(COLL_AGENTS, a, 0, NULL, &e), 0);
    json_decref(a);
}

/* ---- indexes ------------------------------------------------------------------- */

static void test_unique_names_are_case_insensitive_and_freed_by_a_rename(void **s)
{
    (void)s;
    json_t *a = agent("Привет Бот", "active", "2026-01-03T00:00:00.000Z");
    doc_error e;
    uint64_t rev;
    assert_int_equal(put(COLL_AGENTS, a, 0, &rev, &e), 0);
    json_t *b = agent("ПРИВЕТ бот", "active", "2026-01-03T00:00:01.000Z");
    assert_int_equal(put(COLL_AGENTS, b, 0, NULL, &e), AH_EEXIST);
    assert_string_equal(e.field, "name");
    /* Nothing of the refused write stays: not even its index entries. */
    json_object_set_new(a, "name", json_string("Renamed"));
    assert_int_equal(put(COLL_AGENTS, a, rev, &rev, &e), 0);
    assert_int_equal(put(COLL_AGENTS, b, 0, NULL, &e), 0);
    json_decref(a);
    json_decref(b);
}

/* ---- queries -------------------------------------------------------------------- */

typedef struct list_arg {
    doc_query q;
    doc_page page;
    doc_error *e;
} list_arg;

static int do_list(doc_txn *t, void *ud)
{
    list_arg *a = ud;
    return doc_list(t, &a->q, &a->page);
}

static int list(list_arg *a)
{
    doc_error e;
    return docs_read(D, do_list, a, a->e ? a->e : &e);
}

static void fill_agents(int n)
{
    for (int i = 0; i < n; i++) {
        char name[32], t[40];
        snprintf(name, sizeof(name), "bulk-%03d", i);
        snprintf(t, sizeof(t), "2026-02-01T00:00:%02d.%03dZ", i / 1000, i % 1000);
        json_t *a = agent(name, i % 3 == 0 ? "paused" : "active", t);
        json_object_set_new(a, "tags",
                            i % 2 ? json_pack("[s,s]", "vip", "ru") : json_pack("[s]", "ru"));
        assert_int_equal(put(COLL_AGENTS, a, 0, NULL, NULL), 0);
        json_decref(a);
    }
}

static void test_lists_page_through_an_index_with_totals(void **s)
{
    (void)s;
    fill_agents(120);
    json_t *paused = json_string("paused");
    list_arg a = {.q = {.coll = COLL_AGENTS, .sort = "name", .desc = true, .limit = 15}};
    a.q.eq[0].field = "status";
    a.q.eq[0].value = paused;
    a.q.neq = 1;
    assert_int_equal(list(&a), 0);
    assert_string_equal(a.page.index, "by_status");
    assert_int_equal(json_array_size(a.page.items), 15);
    assert_int_equal(a.page.total, 40);
    assert_int_equal(a.page.examined, 15 + 1); /* an index lookup: a page, and one more */
    /* Every page in order (names descending), none twice, all of them. */
    int seen = 0;
    char last[40] = "~";
    for (;;) {
        size_t i;
        json_t *d;
        json_array_foreach(a.page.items, i, d)
        {
            const char *u = json_string_value(json_object_get(d, "name"));
            assert_string_equal(json_string_value(json_object_get(d, "status")), "paused");
            assert_true(strcmp(u, last) < 0);
            snprintf(last, sizeof(last), "%s", u);
            seen++;
        }
        if (!a.page.next) break;
        char *cur = strdup(a.page.next);
        doc_page_free(&a.page);
        a.q.cursor = cur;
        assert_int_equal(list(&a), 0);
        free(cur);
    }
    doc_page_free(&a.page);
    assert_int_equal(seen, 40);
    json_decref(paused);
}

/* ---- ids under an index ----------------------------------------------------------- */

typedef struct ids_arg {
    const char *tag;
    bool reverse;
    size_t max, idlen;
    json_t *ids;
    char first[ID_MAX];
} ids_arg;

static int do_list_ids(doc_txn *t, void *ud)
{
    ids_arg *a = ud;
    json_t *v = json_pack("[s]", a->tag);
    int rc = doc_list_ids(t, COLL_AGENTS, "by_tag", v, a->reverse, a->max, &a->ids);
    json_decref(v);
    return rc;
}

static int do_first_id(doc_txn *t, void *ud)
{
    ids_arg *a = ud;
    json_t *v = json_pack("[s]", a->tag);
    int rc = doc_first_id(t, COLL_AGENTS, "by_tag", v, a->reverse, a->first, a->idlen);
    json_decref(v);
    return rc;
}

/* The id of the agent named name (by_name). */
static const char *agent_id_named(const char *name, char *id)
{
    json_t *v = json_pack("[s]", name);
    list_arg a = {.q = {.coll = COLL_AGENTS, .limit = 1}};
    a.q.eq[0].field = "name";
    a.q.eq[0].value = json_array_get(v, 0);
    a.q.neq = 1;
    assert_int_equal(list(&a), 0);
    snprintf(id, ID_MAX, "%s",
             json_string_value(json_object_get(json_array_get(a.page.items, 0), "id")));
    doc_page_free(&a.page);
    json_decref(v);
    return id;
}

static void test_ids_under_an_index_come_in_its_order_up_to_a_bound_and_the_first_alone(void **s)
{
    (void)s;
    const char *names[] = {"ids-b", "ids-a", "ids-c"}; /* by_tag orders by name */
    for (size_t i = 0; i < 3; i++) {
        json_t *a = agent(names[i], "active", "2026-03-01T00:00:00.000Z");
        json_object_set_new(a, "tags", json_pack("[s]", "idscan"));
        assert_int_equal(put(COLL_AGENTS, a, 0, NULL, NULL), 0);
        json_decref(a);
    }
    char a_id[ID_MAX], b_id[ID_MAX], c_id[ID_MAX];
    agent_id_named("ids-a", a_id);
    agent_id_named("ids-b", b_id);
    agent_id_named("ids-c", c_id);

    ids_arg l = {.tag = "idscan", .max = SIZE_MAX};
    assert_int_equal(docs_read(D, do_list_ids, &l, NULL), 0);
    assert_int_equal(json_array_size(l.ids), 3);
    assert_string_equal(json_string_value(json_array_get(l.ids, 0)), a_id);
    assert_string_equal(json_string_value(json_array_get(l.ids, 2)), c_id);
    json_decref(l.ids);
    /* Reverse, cut at two: stopping at the bound is no error. */
    l = (ids_arg){.tag = "idscan", .reverse = true, .max = 2};
    assert_int_equal(docs_read(D, do_list_ids, &l, NULL), 0);
    assert_int_equal(json_array_size(l.ids), 2);
    assert_string_equal(json_string_value(json_array_get(l.ids, 0)), c_id);
    assert_string_equal(json_string_value(json_array_get(l.ids, 1)), b_id);
    json_decref(l.ids);
    /* None under the value: an empty array. */
    l = (ids_arg){.tag = "no-such-tag", .max = SIZE_MAX};
    assert_int_equal(docs_read(D, do_list_ids, &l, NULL), 0);
    assert_int_equal(json_array_size(l.ids), 0);
    json_decref(l.ids);

    ids_arg f = {.tag = "idscan", .idlen = ID_MAX};
    assert_int_equal(docs_read(D, do_first_id, &f, NULL), 0);
    assert_string_equal(f.first, a_id);
    f = (ids_arg){.tag = "idscan", .reverse = true, .idlen = ID_MAX};
    assert_int_equal(docs_read(D, do_first_id, &f, NULL), 0);
    assert_string_equal(f.first, c_id);
    f = (ids_arg){.tag = "no-such-tag", .idlen = ID_MAX};
    assert_int_equal(docs_read(D, do_first_id, &f, NULL), AH_ENOTFOUND);
    /* An id that does not fit is refused, not cut short. */
    f = (ids_arg){.tag = "idscan", .idlen = strlen(a_id)};
    assert_int_equal(docs_read(D, do_first_id, &f, NULL), AH_EIO);
}

static void test_filters_outside_the_index_are_checked_within_a_budget(void **s)
{
    (void)s;
    json_t *vip = json_string("vip");
    list_arg a = {.q = {.coll = COLL_AGENTS,
                        .sort = "name",
                        .limit = 10,
                        .text_field = "name",
                        .text = "BULK-01"}};
    a.q.eq[0].field = "tags";
    a.q.eq[0].value = vip;
    a.q.neq = 1;
    assert_int_equal(list(&a), 0);
    assert_string_equal(a.page.index, "by_tag"); /* tags then name: filtered and ordered */
    /* bulk-011, 013, ..., 019: the odd ones (vip) among bulk-010..019. */
    assert_int_equal(json_array_size(a.page.items), 5);
    assert_string_equal(json_string_value(json_object_get(json_array_get(a.page.items, 0), "name")),
                        "bulk-011");
    assert_int_equal(a.page.total, -1); /* a residual filter: not cheap to count */
    doc_page_free(&a.page);
    json_decref(vip);
    /* A cursor from elsewhere, a field no agent has, a page too large. */
    doc_error e;
    list_arg b = {.q = {.coll = COLL_AGENTS, .cursor = "bm9wZQ"}, .e = &e};
    assert_int_equal(list(&b), AH_EINVAL);
    assert_string_equal(e.field, "cursor");
    list_arg c = {.q = {.coll = COLL_AGENTS, .sort = "colour"}, .e = &e};
    assert_int_equal(list(&c), AH_EINVAL);
    assert_string_equal(e.field, "colour");
    list_arg d = {.q = {.coll = COLL_AGENTS, .limit = 100000}, .e = &e};
    assert_int_equal(list(&d), AH_EINVAL);
}

/* ---- personal data --------------------------------------------------------------- */

#define CANARY "Canary-Petrov-7f3a9"

static bool file_holds(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    bool hit = memmem(buf, got, needle, strlen(needle)) != NULL;
    free(buf);
    return hit;
}

typedef struct erase_arg {
    const char *id;
} erase_arg;

static int do_erase(doc_txn *t, void *ud)
{
    erase_arg *a = ud;
    return doc_erase_key(t, a->id);
}

static int do_find(doc_txn *t, void *ud)
{
    char hex[65];
    contact_identity_hash(doc_txn_docs(t), "email", "IVAN@Example.COM", hex);
    json_t *v = json_pack("[s]", hex);
    int rc = doc_find(t, COLL_CONTACTS, "by_identity", v, ud, ID_MAX);
    json_decref(v);
    return rc;
}

static void test_personal_data_is_sealed_at_rest_and_gone_with_its_key(void **s)
{
    (void)s;
    char id[ID_MAX];
    id_new("con", 1700000000000, id, sizeof(id));
    json_t *c = json_pack("{s:s,s:[{s:s,s:s}],s:{s:s},s:s}", "id", id, "identities", "channel",
                          "email", "id", "ivan@example.com", "profile", "name", CANARY,
                          "last_seen_at", "2026-03-01T00:00:00.000Z");
    assert_int_equal(put(COLL_CONTACTS, c, 0, NULL, NULL), 0);
    char path[300];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    assert_false(file_holds(path, CANARY));
    assert_false(file_holds(path, "ivan@example.com"));
    /* Found by identity (an e-mail address in any case), read in the clear. */
    char found[ID_MAX] = "";
    assert_int_equal(docs_read(D, do_find, found, NULL), 0);
    assert_string_equal(found, id);
    json_t *back = get(COLL_CONTACTS, id, NULL);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(back, "profile"), "name")), CANARY);
    json_decref(back);
    /* Erased: the key is gone, and with it what every copy says. */
    erase_arg ea = {id};
    assert_int_equal(docs_write_now(D, do_erase, &ea, NULL), 0);
    back = get(COLL_CONTACTS, id, NULL);
    assert_true(json_is_null(json_object_get(back, "profile")));
    json_decref(back);
    json_decref(c);
}

/* ---- damage ------------------------------------------------------------------------- */

static void test_a_damaged_document_is_refused_not_served(void **s)
{
    (void)s;
    json_t *g = json_pack("{s:s,s:s}", "name", "Damage-Marker-Group-XYZ", "description",
                          "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz");
    char id[ID_MAX];
    id_new("grp", 1700000000000, id, sizeof(id));
    json_object_set_new(g, "id", json_string(id));
    assert_int_equal(put(COLL_AGENT_GROUPS, g, 0, NULL, NULL), 0);
    json_decref(g);
    store_close(st);
    /* One byte of the document changed on disk, as a bad sector would. */
    char path[300];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    int fd = open(path, O_RDWR);
    struct stat sb;
    fstat(fd, &sb);
    char *buf = malloc((size_t)sb.st_size);
    assert_int_equal(pread(fd, buf, (size_t)sb.st_size, 0), sb.st_size);
    char *hit = memmem(buf, (size_t)sb.st_size, "zzzzzzzz", 8);
    assert_non_null(hit);
    assert_int_equal(pwrite(fd, "Y", 1, hit - buf), 1);
    free(buf);
    close(fd);
    char err[256];
    store_opts o = {.dir = dir};
    assert_int_equal(store_open(&st, NULL, &o, err, sizeof(err)), 0);
    docs_close(D);
    assert_int_equal(docs_open(&D, st, KS, key, err, sizeof(err)), 0);
    get_arg a = {COLL_AGENT_GROUPS, id, NULL, 0};
    doc_error e;
    assert_int_equal(docs_read(D, do_get, &a, &e), AH_EIO);
    assert_non_null(strstr(e.message, "damaged"));
}

/* ---- migrations ------------------------------------------------------------------------ */

static const char note_schema[] = "{\"type\":\"object\",\"properties\":{\"id\":{},"
                                  "\"schema_version\":{},\"text\":{\"type\":\"string\"},"
                                  "\"words\":{\"type\":\"integer\"}}}";

static int count_words(json_t *doc)
{
    const char *t = json_string_value(json_object_get(doc, "text"));
    int n = 0;
    for (const char *p = t; p && *p; p++)
        n += (p == t || p[-1] == ' ') && *p != ' ';
    return json_object_set_new(doc, "words", json_integer(n)) ? AH_ENOMEM : 0;
}

static const doc_migrate_fn note_migrations[] = {count_words};

static void test_documents_of_an_older_version_are_migrated_once(void **s)
{
    (void)s;
    doc_collection v1 = {.name = "notes",
                         .id_prefix = "not",
                         .schema_json = note_schema,
                         .version = 1,
                         .max_bytes = 4096};
    doc_collection v2 = v1;
    v2.version = 2;
    v2.migrations = note_migrations;
    char err[256];
    docs *old;
    assert_int_equal(docs_open_with(&old, st, KS, key, &v1, 1, err, sizeof(err)), 0);
    docs *saved = D;
    D = old;
    for (int i = 0; i < 1200; i++) { /* more than one batch */
        char id[ID_MAX];
        id_new("not", 1700000000000 + i, id, sizeof(id));
        json_t *n = json_pack("{s:s,s:s}", "id", id, "text", "three little words");
        assert_int_equal(put("notes", n, 0, NULL, NULL), 0);
        json_decref(n);
    }
    docs_close(old);
    docs *now;
    assert_int_equal(docs_open_with(&now, st, KS, key, &v2, 1, err, sizeof(err)), 0);
    size_t migrated = 0;
    assert_int_equal(docs_migrate(now, &migrated, err, sizeof(err)), 0);
    assert_int_equal(migrated, 1200);
    assert_int_equal(docs_migrate(now, &migrated, err, sizeof(err)), 0);
    assert_int_equal(migrated, 0); /* recorded as done: nothing read again */
    D = now;
    list_arg a = {.q = {.coll = "notes", .limit = 5}};
    assert_int_equal(list(&a), 0);
    json_t *d = json_array_get(a.page.items, 0);
    assert_int_equal(json_integer_value(json_object_get(d, "words")), 3);
    assert_int_equal(json_integer_value(json_object_get(d, "schema_version")), 2);
    assert_int_equal(a.page.total, 1200);
    doc_page_free(&a.page);
    docs_close(now);
    D = saved;
}

/* ---- audit ---------------------------------------------------------------------------- */

static void test_audit_diffs_name_changes_and_never_copy_personal_data(void **s)
{
    (void)s;
    static const char *const sealed[] = {"profile", NULL};
    json_t *before = json_pack("{s:s,s:s,s:{s:s},s:i}", "name", "a", "status", "active", "profile",
                               "name", CANARY, "revision", 1);
    json_t *after = json_pack("{s:s,s:s,s:{s:s},s:i}", "name", "b", "status", "active", "profile",
                              "name", "Other", "revision", 2);
    json_t *d = audit_diff(before, after, sealed);
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "name"), "to")), "b");
    assert_null(json_object_get(d, "status"));
    assert_null(json_object_get(d, "revision"));
    assert_true(json_is_true(json_object_get(json_object_get(d, "profile"), "changed")));
    char *text = json_dumps(d, 0);
    assert_null(strstr(text, CANARY));
    free(text);
    json_decref(d);
    json_decref(before);
    json_decref(after);
}

static void count_swept(void *ud, int status, size_t deleted)
{
    assert_int_equal(status, 0);
    *(size_t *)ud = deleted;
}

/* Retention: entries older than the cutoff go, oldest first, a batch at a
 * time; newer ones stay. */
static void test_audit_retention_removes_only_entries_past_the_cutoff(void **s)
{
    (void)s;
    int64_t day = 24 * 3600 * 1000LL, now = 1800000000000LL;
    for (int i = 0; i < 30; i++) {
        char id[ID_MAX], at[40];
        int64_t t = now - (30 - i) * day; /* 30 days ago .. yesterday */
        id_new("aud", t, id, sizeof(id));
        snprintf(at, sizeof(at), "%s", "2027-01-01T00:00:00.000Z");
        json_t *e = json_pack("{s:s,s:s,s:{s:s},s:s,s:{s:s}}", "id", id, "at", at, "actor", "kind",
                              "host", "action", "test.age", "target", "collection", "tests");
        assert_int_equal(put(COLL_AUDIT, e, 0, NULL, NULL), 0);
        json_decref(e);
    }
    size_t deleted = 99;
    /* Older than 10 days: 20 of them, in batches of 8. */
    assert_int_equal(doc_sweep_older(D, COLL_AUDIT, now - 10 * day - 1, 8, count_swept, &deleted),
                     0);
    assert_int_equal(deleted, 8);
    assert_int_equal(doc_sweep_older(D, COLL_AUDIT, now - 10 * day - 1, 100, count_swept, &deleted),
                     0);
    assert_int_equal(deleted, 12);
    assert_int_equal(doc_sweep_older(D, COLL_AUDIT, now - 10 * day - 1, 100, count_swept, &deleted),
                     0);
    assert_int_equal(deleted, 0);
    list_arg a = {.q = {.coll = COLL_AUDIT, .limit = 100}};
    a.q.eq[0].field = "action";
    json_t *act = json_string("test.age");
    a.q.eq[0].value = act;
    a.q.neq = 1;
    assert_int_equal(list(&a), 0);
    assert_int_equal(json_array_size(a.page.items), 10);
    doc_page_free(&a.page);
    json_decref(act);
}

/* The webhooks' delivery log: entries older than the cutoff go, newer stay. */
static void test_delivery_log_retention_removes_only_entries_past_the_cutoff(void **s)
{
    (void)s;
    int64_t day = 24 * 3600 * 1000LL, now = 1800000000000LL;
    char whk[ID_MAX];
    id_new("whk", now - 7 * day, whk, sizeof(whk));
    for (int i = 0; i < 6; i++) {
        char id[ID_MAX];
        id_new("dlv", now - (6 - i) * day, id, sizeof(id)); /* 6 days ago .. yesterday */
        json_t *e =
            json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:n,s:i,s:s,s:s,s:s}", "id", id, "webhook_id", whk,
                      "event_id", "0123456789abcdef0123456789abcdef", "event_type",
                      "conversation.started", "topic", "platform.conversation", "offset",
                      (json_int_t)i + 1, "key", "attempts", 1, "status", "delivered", "created_at",
                      "2027-01-01T00:00:00.000Z", "updated_at", "2027-01-01T00:00:00.000Z");
        assert_int_equal(put(COLL_WEBHOOK_DELIVERIES, e, 0, NULL, NULL), 0);
        json_decref(e);
    }
    size_t deleted = 99;
    assert_int_equal(
        doc_sweep_older(D, COLL_WEBHOOK_DELIVERIES, now - 3 * day - 1, 100, count_swept, &deleted),
        0);
    assert_int_equal(deleted, 3);
    assert_int_equal(
        doc_sweep_older(D, COLL_WEBHOOK_DELIVERIES, now - 3 * day - 1, 100, count_swept, &deleted),
        0);
    assert_int_equal(deleted, 0);
    list_arg a = {.q = {.coll = COLL_WEBHOOK_DELIVERIES, .limit = 100}};
    assert_int_equal(list(&a), 0);
    assert_int_equal(json_array_size(a.page.items), 3);
    doc_page_free(&a.page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_revisions_refuse_a_stale_write_and_keep_unknown_fields),
        cmocka_unit_test(test_schema_and_rules_name_the_field),
        cmocka_unit_test(test_unique_names_are_case_insensitive_and_freed_by_a_rename),
        cmocka_unit_test(test_lists_page_through_an_index_with_totals),
        cmocka_unit_test(test_filters_outside_the_index_are_checked_within_a_budget),
        cmocka_unit_test(
            test_ids_under_an_index_come_in_its_order_up_to_a_bound_and_the_first_alone),
        cmocka_unit_test(test_personal_data_is_sealed_at_rest_and_gone_with_its_key),
        cmocka_unit_test(test_audit_diffs_name_changes_and_never_copy_personal_data),
        cmocka_unit_test(test_audit_retention_removes_only_entries_past_the_cutoff),
        cmocka_unit_test(test_delivery_log_retention_removes_only_entries_past_the_cutoff),
        cmocka_unit_test(test_documents_of_an_older_version_are_migrated_once),
        cmocka_unit_test(test_a_damaged_document_is_refused_not_served),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
