/*
 * engine_host.c - the host of bench_engine inside one process, assembled
 * from the host's own modules the way host/app/app.c does (without the
 * HTTP API and the data-directory lock): the store, the personal-data
 * keys and the documents, the bus, the supervisor with the egress broker
 * and the plugin services, the jq pool (expressions), one llm-openai
 * instance against the fake OpenAI server, and the runtime consuming
 * message.in. Before the bus and plugins start, the store is filled with
 * generated conversations (model_gen.c) and the bench agent is written:
 * a scenario ask -> llm.chat -> say -> ask, bound to the channel instance
 * EB_INSTANCE.
 */
#include "engine.h"
#include "model.h"

#include "app/options.h"
#include "core/log.h"
#include "core/util.h"
#include "model/collections.h"
#include "model/ids.h"
#include "plugin/manifest.h"
#include "store/store_keys.h"

#include <agenthost/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 20000 /* documents per docs_write: fewer rewrites of the same index pages */

/* ---- running the loop ------------------------------------------------------------- */

static bool g_deadline;

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    g_deadline = true;
}

bool eb_run_until(eb_host *h, bool (*cond)(void *), void *arg, int timeout_ms)
{
    uv_timer_t t;
    uv_timer_init(loop_uv(h->loop), &t);
    g_deadline = false;
    uv_timer_start(&t, on_deadline, (uint64_t)timeout_ms, 0);
    while (!cond(arg) && !g_deadline)
        uv_run(loop_uv(h->loop), UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop_uv(h->loop), UV_RUN_NOWAIT);
    return cond(arg);
}

/* ---- the stored conversations ---------------------------------------------------- */

typedef struct filler {
    docs *d;
    mb_gen g;
    long next, end, contacts;
    bool conv;
    int inflight, errors;
    long done;
} filler;

typedef struct fbatch {
    filler *f;
    json_t *docs;
} fbatch;

static int put_batch(doc_txn *t, void *ud)
{
    fbatch *k = ud;
    size_t i;
    json_t *doc;
    json_array_foreach(k->docs, i, doc)
    {
        int rc = doc_put(t, k->f->conv ? COLL_CONVERSATIONS : COLL_CONTACTS, doc, 0, NULL);
        if (rc) return rc;
    }
    return 0;
}

static void fill_issue(filler *f);

static void batch_done(int status, const doc_error *e, void *ud)
{
    fbatch *k = ud;
    filler *f = k->f;
    f->inflight--;
    if (status) {
        if (f->errors++ == 0)
            fprintf(stderr, "bench_engine: loading: %s\n", e && e->message[0] ? e->message : "");
    } else {
        f->done += (long)json_array_size(k->docs);
    }
    json_decref(k->docs);
    free(k);
    fill_issue(f);
}

static void fill_issue(filler *f)
{
    if (f->errors || f->next >= f->end) return;
    fbatch *k = malloc(sizeof(*k));
    k->f = f;
    k->docs = json_array();
    long end = f->next + BATCH < f->end ? f->next + BATCH : f->end;
    for (long i = f->next; i < end; i++)
        json_array_append_new(k->docs, f->conv ? mb_conversation(&f->g, i, f->contacts)
                                               : mb_contact(&f->g, i));
    f->next = end;
    if (docs_write(f->d, put_batch, k, batch_done) != 0) {
        f->errors++;
        json_decref(k->docs);
        free(k);
        return;
    }
    f->inflight++;
}

static bool filled(void *arg)
{
    filler *f = arg;
    return f->inflight == 0 && (f->errors || f->next >= f->end);
}

/* Documents [0, n) of one collection, two batches in flight (one
 * committing while the next is made). */
static int fill(eb_host *h, bool conv, long n, long contacts, long nmax)
{
    filler f = {.d = h->d, .g = {.nmax = nmax}, .end = n, .contacts = contacts, .conv = conv};
    fill_issue(&f);
    uv_run(loop_uv(h->loop), UV_RUN_NOWAIT);
    fill_issue(&f);
    if (!eb_run_until(h, filled, &f, 3600 * 1000) || f.errors || f.done != n) {
        fprintf(stderr, "bench_engine: loading %s: %ld of %ld\n",
                conv ? "conversations" : "contacts", f.done, n);
        return -1;
    }
    return 0;
}

/* ---- the bench agent --------------------------------------------------------------- */

static const char SCENARIO[] =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": [\"en\"],"
    " \"variables\": {\"question\": {\"type\": \"string\"}}, \"start\": \"ask\", \"steps\": {"
    "  \"ask\": {\"kind\": \"ask\", \"text\": \"" EB_ASK_TEXT "\", \"var\": \"question\","
    "            \"next\": \"think\"},"
    "  \"think\": {\"kind\": \"llm.chat\", \"instance\": \"llm\", \"say\": false,"
    "              \"args\": {\"messages\": [{\"role\": \"user\", \"content\": \"{{ vars.question "
    "}}\"}]},"
    "              \"next\": \"reply\"},"
    "  \"reply\": {\"kind\": \"say\", \"text\": \"{{ result.content }}\", \"next\": \"ask\"}}}";

static int put_agent(doc_txn *t, void *ud)
{
    eb_host *h = ud;
    char scn[64], ver[64], at[40];
    int64_t now = ah_now_ms();
    id_new("scn", now, scn, sizeof(scn));
    id_new("scv", now, ver, sizeof(ver));
    id_new("agt", now, h->agent_id, sizeof(h->agent_id));
    ah_rfc3339_ms(now, at, sizeof(at));
    json_t *content = json_loads(SCENARIO, 0, NULL);
    if (!content) return AH_EINVAL;
    json_t *s = json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:s}", "id", scn, "name", "Engine bench",
                          "latest_version", 1, "created_at", at, "created_by", "bench",
                          "updated_at", at, "updated_by", "bench");
    json_t *v = json_pack("{s:s,s:s,s:i,s:o,s:s,s:i,s:s,s:s}", "id", ver, "scenario_id", scn,
                          "number", 1, "content", content, "content_hash",
                          "0000000000000000000000000000000000000000000000000000000000000000",
                          "size", (int)strlen(SCENARIO), "created_at", at, "created_by", "bench");
    json_t *a = json_pack(
        "{s:s,s:s,s:s,s:s,s:[s],s:[{s:s,s:s}],s:{s:s},s:s,s:s,s:s,s:s}", "id", h->agent_id, "name",
        "Engine bench", "status", "active", "default_language", "en", "languages", "en", "channels",
        "instance", EB_INSTANCE, "kind", "telegram", "scenario", "scenario_id", scn, "created_at",
        at, "created_by", "bench", "updated_at", at, "updated_by", "bench");
    int rc = doc_put(t, COLL_SCENARIOS, s, 0, NULL);
    if (!rc) rc = doc_put(t, COLL_SCENARIO_VERSIONS, v, 0, NULL);
    if (!rc) rc = doc_put(t, COLL_AGENTS, a, 0, NULL);
    json_decref(s);
    json_decref(v);
    json_decref(a);
    return rc;
}

/* ---- the plugins --------------------------------------------------------------------- */

static manifest *g_llm_manifest, *g_jq_manifest;

static int add_llm(eb_host *h, int port, char *err, size_t errlen)
{
    if (manifest_load(BENCH_BUILD_DIR "/plugins/llm-openai/manifest.json", true, &g_llm_manifest,
                      err, errlen) < 0)
        return -1;
    char text[600];
    snprintf(text, sizeof(text),
             "{\"base_url\":\"http://127.0.0.1:%d/v1\",\"model\":\"gpt-4o\",\"timeout_ms\":300000}",
             port);
    json_t *conf = json_loads(text, 0, NULL);
    /* The operator's grant for a loopback endpoint, and room for 10,000
     * calls at once (the manifest's default is 1,024 in flight). */
    snprintf(text, sizeof(text),
             "{\"egress\":[{\"scheme\":\"http\",\"host\":\"127.0.0.1\",\"port\":%d,"
             "\"private\":true}],\"limits\":{\"in_flight\":20000,\"memory_mb\":1024,"
             "\"stall_ms\":600000}}",
             port);
    json_t *over = json_loads(text, 0, NULL);
    int rc = supervisor_add(h->sup, "llm", g_llm_manifest, conf, over, true, err, errlen);
    json_decref(conf);
    json_decref(over);
    return rc;
}

static bool all_ready(void *arg)
{
    eb_host *h = arg;
    for (size_t i = 0; i < supervisor_count(h->sup); i++)
        if (instance_get_state(supervisor_at(h->sup, i)) != INST_READY) return false;
    return true;
}

static int start_host(eb_host *h, const host_settings *hs, int port, uint32_t max_in_flight)
{
    char err[1024] = "out of memory";
    if (bus_open(&h->bus, h->loop, h->st, &hs->bus, err, sizeof(err)) != 0) goto fail;
    supervisor_opts so = hs->supervisor;
    so.runner = BENCH_BUILD_DIR "/agenthost-runner";
    so.no_sandbox = getenv("BENCH_NO_SANDBOX") && !strcmp(getenv("BENCH_NO_SANDBOX"), "1");
    if (supervisor_new(&h->sup, h->loop, h->st, NULL, &so) != 0 ||
        metrics_service_attach(&h->metrics_svc, h->sup) != 0)
        goto fail;
    broker_opts bo = hs->broker;
    bo.max_idle_connections = 20000;
    if (broker_new(&h->egress, h->loop, &bo, err, sizeof(err)) != 0 ||
        egress_service_attach(&h->egress_svc, h->sup, h->egress) != 0)
        goto fail;
    if (add_llm(h, port, err, sizeof(err)) < 0) goto fail;
    if (manifest_load(BENCH_BUILD_DIR "/plugins/jq/manifest.json", true, &g_jq_manifest, err,
                      sizeof(err)) < 0)
        goto fail;
    if (expr_pool_attach(&h->expr, h->loop, h->sup, g_jq_manifest, &hs->expr) != 0) goto fail;
    runtime_deps rd = {.loop = h->loop,
                       .bus = h->bus,
                       .docs = h->d,
                       .sup = h->sup,
                       .expr = h->expr,
                       .egress = h->egress};
    runtime_opts ro = hs->engine;
    ro.max_in_flight = max_in_flight;
    ro.flood_per_minute = 1000000; /* one chat sends hundreds a second here */
    if (runtime_new(&h->rt, &rd, &ro, err, sizeof(err)) != 0 ||
        runtime_start(h->rt, err, sizeof(err)) != 0)
        goto fail;
    supervisor_start_all(h->sup);
    if (!eb_run_until(h, all_ready, h, 30000)) {
        snprintf(err, sizeof(err), "the plugin instances did not become ready in 30 s");
        goto fail;
    }
    h->llm = supervisor_find(h->sup, "llm");
    return 0;
fail:
    fprintf(stderr, "bench_engine: starting the host: %s\n", err);
    return -1;
}

int eb_host_open(eb_host *h, long stored, int fake_port, uint32_t max_in_flight)
{
    memset(h, 0, sizeof(*h));
    host_settings hs;
    char err[1024] = "";
    if (host_settings_defaults(&hs, err, sizeof(err)) != 0 ||
        bench_tmpdir(h->dir, sizeof(h->dir), "engine") < 0) {
        fprintf(stderr, "bench_engine: %s\n", err[0] ? err : "no temporary directory");
        return -1;
    }
    char data[700], keys[700], logs[700];
    snprintf(data, sizeof(data), "%s/var", h->dir);
    snprintf(keys, sizeof(keys), "%s/keys", h->dir);
    snprintf(logs, sizeof(logs), "%s/logs", h->dir);
    /* The host's log files (events.log per step, agent_launch.log) are
     * part of a turn's cost: written as the host writes them. */
    log_opts lo = hs.log;
    lo.dir = logs;
    lo.to_stderr = false;
    if (log_init(&lo) < 0) {
        fprintf(stderr, "bench_engine: cannot open the logs in %s\n", logs);
        return -1;
    }
    store_opts so = hs.store;
    so.dir = data;
    size_t migrated = 0;
    if (loop_new(&h->loop) < 0 || store_open(&h->st, h->loop, &so, err, sizeof(err)) != 0 ||
        keystore_open(&h->keys, keys, err, sizeof(err)) != 0 ||
        docs_open(&h->d, h->st, h->keys, mb_key, err, sizeof(err)) != 0 ||
        docs_migrate(h->d, &migrated, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_engine: opening the store: %s\n", err);
        return -1;
    }
    uint64_t t0 = bench_now_ns();
    long contacts = stored / 4 > 0 ? stored / 4 : 1;
    if (fill(h, false, contacts, 0, stored) < 0 || fill(h, true, stored, contacts, stored) < 0)
        return -1;
    h->load_s = (double)(bench_now_ns() - t0) / 1e9;
    doc_error de = {0};
    if (docs_write_now(h->d, put_agent, h, &de) != 0) {
        fprintf(stderr, "bench_engine: writing the agent: %s\n", de.message);
        return -1;
    }
    return start_host(h, &hs, fake_port, max_in_flight);
}

static bool stopped(void *arg)
{
    return *(bool *)arg;
}

static void on_stopped(void *ud)
{
    *(bool *)ud = true;
}

void eb_host_close(eb_host *h)
{
    if (h->rt) runtime_stop(h->rt);
    if (h->sup) {
        bool done = false;
        supervisor_stop_all(h->sup, on_stopped, &done);
        eb_run_until(h, stopped, &done, 10000);
    }
    broker_free(h->egress);
    egress_service_detach(h->egress_svc);
    if (h->bus) bus_close(h->bus);
    if (h->st) store_close(h->st);
    bus_free(h->bus);
    if (h->sup) supervisor_free(h->sup);
    expr_pool_detach(h->expr);
    runtime_free(h->rt);
    metrics_service_detach(h->metrics_svc);
    if (h->d) docs_close(h->d);
    if (h->keys) keystore_close(h->keys);
    if (h->loop) loop_free(h->loop);
    log_shutdown();
    if (!getenv("BENCH_KEEP")) bench_rmdir(h->dir);
}
