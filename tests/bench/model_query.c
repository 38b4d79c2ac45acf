/* model_query.c - the list queries the scale part measures, each with the
 * index it should be served by, and the RSS probe (a fresh process that
 * opens a store as the host does and runs list queries over it). */
#include "model.h"

#include "model/collections.h"

#include <agenthost/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A value kept alive in vals until the query has run. */
static const json_t *keep(json_t *vals, json_t *v)
{
    json_array_append_new(vals, v);
    return v;
}

static void eq(doc_query *q, json_t *vals, const char *field, json_t *v)
{
    q->eq[q->neq].field = field;
    q->eq[q->neq].value = keep(vals, v);
    q->neq++;
}

static json_t *busy_agent(uint64_t *rng)
{
    char id[64];
    mb_agent_id((long)(mb_rand(rng) % MB_BUSY_AGENTS), id);
    return json_string(id);
}

static void conv_by_agent(const mb_gen *g, long n, uint64_t *rng, doc_query *q, json_t *vals)
{
    (void)g;
    (void)n;
    *q = (doc_query){.coll = COLL_CONVERSATIONS, .sort = "last_activity_at", .desc = true};
    eq(q, vals, "agent_id", busy_agent(rng));
}

static void conv_by_agent_state(const mb_gen *g, long n, uint64_t *rng, doc_query *q, json_t *vals)
{
    conv_by_agent(g, n, rng, q, vals);
    eq(q, vals, "state", json_string("ended"));
}

static void conv_by_state(const mb_gen *g, long n, uint64_t *rng, doc_query *q, json_t *vals)
{
    (void)g;
    (void)n;
    (void)rng;
    *q = (doc_query){.coll = COLL_CONVERSATIONS, .sort = "last_activity_at", .desc = true};
    eq(q, vals, "state", json_string("waiting"));
}

static void conv_by_contact(const mb_gen *g, long n, uint64_t *rng, doc_query *q, json_t *vals)
{
    char id[64];
    mb_contact_id(g, (long)(mb_rand(rng) % (uint64_t)n), id);
    *q = (doc_query){.coll = COLL_CONVERSATIONS, .sort = "last_activity_at", .desc = true};
    eq(q, vals, "contact_id", json_string(id));
}

/* The agent's web widget: the channel instance is a filter the chosen
 * index may not hold. */
static void conv_by_agent_channel(const mb_gen *g, long n, uint64_t *rng, doc_query *q,
                                  json_t *vals)
{
    (void)g;
    (void)n;
    long a = (long)(mb_rand(rng) % MB_BUSY_AGENTS);
    char id[64], inst[32];
    mb_agent_id(a, id);
    snprintf(inst, sizeof(inst), "web-%ld", a);
    *q = (doc_query){.coll = COLL_CONVERSATIONS, .sort = "last_activity_at", .desc = true};
    eq(q, vals, "agent_id", json_string(id));
    eq(q, vals, "channel.instance", json_string(inst));
}

/* A contact's conversations by when they started: no index has
 * started_at after contact_id alone. */
static void conv_by_contact_started(const mb_gen *g, long n, uint64_t *rng, doc_query *q,
                                    json_t *vals)
{
    conv_by_contact(g, n, rng, q, vals);
    q->sort = "started_at";
}

static void contacts_by_channel(const mb_gen *g, long n, uint64_t *rng, doc_query *q, json_t *vals)
{
    (void)g;
    (void)n;
    (void)rng;
    *q = (doc_query){.coll = COLL_CONTACTS, .sort = "last_seen_at", .desc = true};
    eq(q, vals, "channels", json_string("telegram"));
}

static void contacts_by_tag(const mb_gen *g, long n, uint64_t *rng, doc_query *q, json_t *vals)
{
    (void)g;
    (void)n;
    *q = (doc_query){.coll = COLL_CONTACTS, .sort = "last_seen_at", .desc = true};
    eq(q, vals, "tags", json_string(mb_tags[mb_rand(rng) % mb_ntags]));
}

static void contacts_by_last_seen(const mb_gen *g, long n, uint64_t *rng, doc_query *q,
                                  json_t *vals)
{
    (void)g;
    (void)n;
    (void)rng;
    (void)vals;
    *q = (doc_query){.coll = COLL_CONTACTS, .sort = "last_seen_at", .desc = true};
}

static void contacts_by_channel_tag(const mb_gen *g, long n, uint64_t *rng, doc_query *q,
                                    json_t *vals)
{
    (void)g;
    (void)n;
    (void)rng;
    *q = (doc_query){.coll = COLL_CONTACTS, .sort = "last_seen_at", .desc = true};
    eq(q, vals, "channels", json_string("email"));
    eq(q, vals, "tags", json_string("b2b"));
}

const mb_query_kind mb_queries[] = {
    {"conv_by_agent", "conversations of an agent, newest first", "by_agent", true, conv_by_agent},
    {"conv_by_agent_state", "ended conversations of an agent, newest first", "by_agent_state", true,
     conv_by_agent_state},
    {"conv_by_state", "waiting conversations, newest first", "by_state", true, conv_by_state},
    {"conv_by_contact", "conversations of a contact, newest first", "by_contact", true,
     conv_by_contact},
    {"conv_by_agent_channel", "conversations of an agent on its web widget, newest first",
     "by_channel", false, conv_by_agent_channel},
    {"conv_by_contact_started", "conversations of a contact, by start", "(none)", false,
     conv_by_contact_started},
    {"contacts_by_channel", "contacts on telegram, last seen first", "by_channel", true,
     contacts_by_channel},
    {"contacts_by_tag", "contacts with a tag, last seen first", "by_tag", true, contacts_by_tag},
    {"contacts_by_last_seen", "all contacts, last seen first", "by_last_seen", true,
     contacts_by_last_seen},
    {"contacts_by_channel_tag", "contacts on e-mail with tag b2b, last seen first", "(none)", false,
     contacts_by_channel_tag},
};
const size_t mb_nqueries = sizeof(mb_queries) / sizeof(mb_queries[0]);

/* ---- running one ------------------------------------------------------------------ */

typedef struct list_arg {
    const doc_query *q;
    doc_page *page;
} list_arg;

static int do_list(doc_txn *t, void *ud)
{
    list_arg *a = ud;
    return doc_list(t, a->q, a->page);
}

int mb_list(docs *d, const doc_query *q, doc_page *page, uint64_t *ns, doc_error *err)
{
    list_arg a = {q, page};
    uint64_t t0 = bench_now_ns();
    int rc = docs_read(d, do_list, &a, err);
    *ns = bench_now_ns() - t0;
    return rc;
}

/* ---- the RSS probe ------------------------------------------------------------------- */

static uint64_t status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f) return 0;
    char line[256];
    size_t n = strlen(field);
    uint64_t kb = 0;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, field, n) && line[n] == ':') kb = strtoull(line + n + 1, NULL, 10);
    fclose(f);
    return kb;
}

int mb_probe_rss(const char *dir, long n, long nmax, long queries)
{
    char err[512] = "";
    store *st = NULL;
    keystore *keys = NULL;
    docs *d = NULL;
    store_opts so = {.dir = dir, .read_only = true};
    size_t migrated = 0;
    uint64_t t0 = bench_now_ns();
    if (n <= 0 || nmax < n || store_open(&st, NULL, &so, err, sizeof(err)) != 0 ||
        mb_keys_open(&keys, dir, err, sizeof(err)) != 0 ||
        docs_open(&d, st, keys, mb_key, err, sizeof(err)) != 0 ||
        docs_migrate(d, &migrated, err, sizeof(err)) != 0) {
        fprintf(stderr, "probe: cannot open the store in %s: %s\n", dir, err);
        if (d) docs_close(d);
        if (st) store_close(st);
        if (keys) keystore_close(keys);
        return 1;
    }
    uint64_t opened = bench_now_ns();
    uint64_t rss_open = status_kb("VmRSS"), anon_open = status_kb("RssAnon");
    mb_gen g = {.nmax = nmax};
    uint64_t rng = 12345, examined = 0;
    int status = 0;
    for (long i = 0, j = 0; i < queries && !status; j++) {
        /* The queries an index serves: a walk (below) maps pages of the
         * whole collection into the process, and says nothing of its heap. */
        const mb_query_kind *k = &mb_queries[(size_t)j % mb_nqueries];
        if (!k->covered) continue;
        i++;
        doc_query q;
        json_t *vals = json_array();
        k->fill(&g, n, &rng, &q, vals);
        doc_page page;
        doc_error e;
        uint64_t ns;
        if (mb_list(d, &q, &page, &ns, &e) != 0) {
            fprintf(stderr, "probe: %s: %s\n", k->key, e.message);
            status = 1;
        } else {
            examined += page.examined;
            doc_page_free(&page);
        }
        json_decref(vals);
    }
    uint64_t done = bench_now_ns();
    printf("{\"rss_kb\":%llu,\"anon_kb\":%llu,\"file_kb\":%llu,\"hwm_kb\":%llu,"
           "\"rss_open_kb\":%llu,\"anon_open_kb\":%llu,\"open_ms\":%.2f,\"queries_ms\":%.1f,"
           "\"examined\":%llu}\n",
           (unsigned long long)status_kb("VmRSS"), (unsigned long long)status_kb("RssAnon"),
           (unsigned long long)status_kb("RssFile"), (unsigned long long)status_kb("VmHWM"),
           (unsigned long long)rss_open, (unsigned long long)anon_open, (double)(opened - t0) / 1e6,
           (double)(done - opened) / 1e6, (unsigned long long)examined);
    fflush(stdout);
    docs_close(d);
    store_close(st);
    keystore_close(keys);
    return status;
}
