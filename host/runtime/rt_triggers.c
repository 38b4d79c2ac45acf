/*
 * rt_triggers.c - schedules that start agents (on_schedule triggers,
 * docs/schemas/trigger.json). Every scan (engine.timer_scan_ms) reads the
 * triggers whose next_run_at is due (the sparse index by_next_run, in time
 * order) and fires each in ONE bus_commit: an engine.start event per run
 * and the trigger written with its next run, so a crash never fires a run
 * twice nor loses one. Runs missed while the host was down follow the
 * schedule's "missed" policy: skip, once (the default), or each (up to
 * max_missed).
 */
#include "runtime/rt_priv.h"

#include "core/log.h"
#include "core/util.h"
#include "engine/schedule.h"
#include "model/collections.h"

#include <agenthost/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRIGGERS_PER_SCAN 64
#define ON_TIME_MS 60000 /* a run this late is a run on time, not a missed one */
#define MISSED_MAX 100

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- finding the due ones ------------------------------------------------------------- */

typedef struct due {
    doc_txn *t;
    int64_t now;
    json_t *docs; /* [{trigger, revision}] */
} due;

static int due_one(void *ud, const char *id)
{
    due *s = ud;
    json_t *doc = NULL;
    uint64_t rev;
    if (doc_get(s->t, COLL_TRIGGERS, id, &doc, &rev) != 0) return 0;
    const json_t *at = json_object_get(doc, "next_run_at");
    if (!json_is_integer(at) || json_integer_value(at) > s->now) {
        json_decref(doc);
        return 1; /* in time order: the rest are later */
    }
    json_array_append_new(s->docs, json_pack("{s:o,s:I}", "doc", doc, "rev", (json_int_t)rev));
    return json_array_size(s->docs) >= TRIGGERS_PER_SCAN ? 1 : 0;
}

static int scan_txn(doc_txn *t, void *ud)
{
    due *s = ud;
    s->t = t;
    json_t *none = json_array();
    int rc = doc_scan_ids(t, COLL_TRIGGERS, "by_next_run", none, false, due_one, s);
    json_decref(none);
    return rc < 0 ? rc : 0;
}

/* ---- firing one ------------------------------------------------------------------------ */

typedef struct firing {
    runtime *rt;
    json_t *doc; /* the trigger as it will be written */
    uint64_t rev;
    doc_op *op;
    size_t runs;
} firing;

static int write_trigger(doc_txn *t, void *ud)
{
    firing *f = ud;
    return doc_put(t, COLL_TRIGGERS, f->doc, f->rev, NULL);
}

static void fired(void *ud, int status, const uint64_t *offsets, const bool *dup, size_t n)
{
    (void)offsets, (void)dup, (void)n;
    firing *f = ud;
    doc_error e = {0};
    docs_op_finish(f->op, status, &e);
    const char *id = str_of(f->doc, "id");
    json_t *fields = json_pack("{s:s?,s:s?,s:I,s:O?}", "trigger", id, "agent_id",
                               str_of(f->doc, "agent_id"), "runs", (json_int_t)f->runs,
                               "next_run_at", json_object_get(f->doc, "next_run_at"));
    if (status)
        log_write("errors", LOG_ERROR, "engine", NULL, fields, "a schedule's run was not started");
    else if (f->runs)
        log_write("agent_launch", LOG_INFO, "engine", NULL, fields, "schedule fired");
    json_decref(fields);
    free(strmap_del(&f->rt->firing, id)); /* scannable again */
    json_decref(f->doc);
    free(f);
}

/* The engine.start events of due's runs (their times in at[]). */
static json_t *starts(const json_t *doc, const int64_t *at, size_t n)
{
    json_t *all = json_array();
    for (size_t i = 0; i < n; i++) {
        char when[40], idem[120];
        ah_rfc3339_ms(at[i], when, sizeof(when));
        snprintf(idem, sizeof(idem), "trg:%s:%lld", str_of(doc, "id"), (long long)at[i]);
        json_t *input = json_deep_copy(json_object_get(doc, "variables"));
        json_t *body =
            json_pack("{s:s,s:o,s:{s:s,s:s,s:s?,s:s}}", "agent", str_of(doc, "agent_id"), "input",
                      input ? input : json_object(), "trigger", "id", str_of(doc, "id"), "kind",
                      "on_schedule", "name", str_of(doc, "name"), "due_at", when);
        if (str_of(doc, "contact_id"))
            json_object_set(body, "contact_id", json_object_get(doc, "contact_id"));
        json_array_append_new(all, json_pack("{s:s,s:o}", "idem", idem, "body", body));
    }
    return all;
}

static void fire(runtime *rt, json_t *doc, uint64_t rev, int64_t now)
{
    const char *id = str_of(doc, "id");
    const json_t *s = json_object_get(doc, "schedule");
    int64_t due_at = json_integer_value(json_object_get(doc, "next_run_at"));
    int64_t at[MISSED_MAX];
    size_t n = 0;
    const char *policy = str_of(s, "missed");
    if (now - due_at <= ON_TIME_MS) {
        at[n++] = due_at;
    } else if (!policy || !strcmp(policy, "once")) {
        at[n++] = due_at;
    } else if (!strcmp(policy, "each")) {
        json_int_t max = json_integer_value(json_object_get(s, "max_missed"));
        n = schedule_missed(s, due_at, now, at, max > 0 && max <= MISSED_MAX ? (size_t)max : 10);
    } /* skip: none */
    int64_t next = 0;
    char err[300];
    if (schedule_next(s, now, &next, err, sizeof(err)) != 0) next = 0; /* changed under us */
    char last[40];
    ah_rfc3339_ms(now, last, sizeof(last));
    firing *f = calloc(1, sizeof(*f));
    if (!f || strmap_put(&rt->firing, id, strdup(id)) != 0) {
        free(f);
        return;
    }
    *f = (firing){.rt = rt, .doc = json_incref(doc), .rev = rev, .runs = n};
    json_object_set_new(doc, "next_run_at", next ? json_integer((json_int_t)next) : json_null());
    if (n) {
        json_object_set_new(doc, "last_run_at", json_string(last));
        json_object_set_new(
            doc, "runs",
            json_integer(json_integer_value(json_object_get(doc, "runs")) + (json_int_t)n));
    }
    json_t *ev = starts(doc, at, n);
    bus_msg msgs[MISSED_MAX];
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(ev, i);
        msgs[i] = (bus_msg){.topic = "engine.start",
                            .key = str_of(doc, "agent_id"),
                            .idempotency_key = str_of(x, "idem"),
                            .body = json_object_get(x, "body")};
    }
    f->op = docs_op_new(rt->d.docs, write_trigger, f);
    bus_commit_req req = {.msgs = msgs, .n = n, .apply = docs_op_apply, .apply_arg = f->op};
    int rc = f->op ? bus_commit(rt->d.bus, &req, fired, f, err, sizeof(err)) : AH_ENOMEM;
    json_decref(ev);
    if (rc) { /* nothing written: the next scan tries again */
        if (f->op) docs_op_finish(f->op, rc, NULL);
        free(strmap_del(&rt->firing, id));
        json_decref(f->doc);
        free(f);
    }
}

void rt_triggers_scan(runtime *rt)
{
    due s = {.now = ah_now_ms(), .docs = json_array()};
    if (docs_read(rt->d.docs, scan_txn, &s, NULL) == 0) {
        size_t i;
        json_t *d;
        json_array_foreach(s.docs, i, d)
        {
            json_t *doc = json_object_get(d, "doc");
            if (strmap_get(&rt->firing, str_of(doc, "id"))) continue; /* its commit is under way */
            if (json_is_false(json_object_get(doc, "enabled"))) continue;
            fire(rt, doc, (uint64_t)json_integer_value(json_object_get(d, "rev")), s.now);
        }
    }
    json_decref(s.docs);
}
