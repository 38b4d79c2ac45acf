/*
 * experiments.c - A/B tests as documents, kept in step with the agent's
 * split and counted turn by turn (experiments.h).
 */
#include "experiments.h"

#include "collections.h"
#include "core/util.h"
#include "ids.h"

#include <agenthost/plugin.h>
#include <stdio.h>
#include <string.h>

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void stamp(json_t *doc, const char *by, int64_t now, bool created)
{
    if (created) {
        ah_json_set_time(doc, "created_at", now);
        json_object_set_new(doc, "created_by", json_string(by));
    }
    ah_json_set_time(doc, "updated_at", now);
    json_object_set_new(doc, "updated_by", json_string(by));
}

/* ---- the split ---------------------------------------------------------------------- */

static int check_split(doc_txn *t, const json_t *split, const char *scenario_id)
{
    if (json_array_size(split) < 2)
        return doc_fail(t, AH_EINVAL, "scenario.split",
                        "an A/B split needs at least two versions (none: no test)");
    json_t *s = NULL;
    int rc = scenario_id ? doc_get(t, COLL_SCENARIOS, scenario_id, &s, NULL) : AH_ENOTFOUND;
    if (rc == AH_ENOTFOUND)
        return doc_fail(t, AH_EINVAL, "scenario.scenario_id", "a split needs the scenario");
    if (rc) return rc;
    json_int_t latest = json_integer_value(json_object_get(s, "latest_version"));
    json_decref(s);
    json_int_t sum = 0;
    size_t i, k;
    const json_t *part;
    json_array_foreach(split, i, part)
    {
        json_int_t v = json_integer_value(json_object_get(part, "version"));
        sum += json_integer_value(json_object_get(part, "percent"));
        char field[64];
        snprintf(field, sizeof(field), "scenario.split[%zu].version", i);
        if (v > latest)
            return doc_fail(t, AH_EINVAL, field, "scenario %s has no version %lld", scenario_id,
                            (long long)v);
        for (k = 0; k < i; k++)
            if (json_integer_value(json_object_get(json_array_get(split, k), "version")) == v)
                return doc_fail(t, AH_EINVAL, field, "version %lld is in the split twice",
                                (long long)v);
    }
    if (sum != 100)
        return doc_fail(t, AH_EINVAL, "scenario.split", "the split's percents sum to %lld, not 100",
                        (long long)sum);
    return 0;
}

/* ---- the running experiment --------------------------------------------------------- */

int experiment_running(doc_txn *t, const char *agent_id, char *id, size_t idlen)
{
    json_t *v = json_pack("[s,s]", agent_id, "running");
    int rc = doc_first_id(t, COLL_EXPERIMENTS, "by_agent_state", v, true, id, idlen);
    json_decref(v);
    return rc;
}

static json_t *goal_of(const json_t *scenario)
{
    const json_t *g = json_object_get(scenario, "goal");
    return json_array_size(g) ? json_deep_copy(g) : json_pack("[s]", "completed");
}

/* End experiment id (state), in t. */
static int end_experiment(doc_txn *t, const char *id, const char *state, const char *by,
                          json_int_t chosen, json_t **out)
{
    json_t *e = NULL;
    uint64_t rev = 0;
    int rc = doc_get(t, COLL_EXPERIMENTS, id, &e, &rev);
    if (rc) return rc;
    int64_t now = doc_txn_now(t);
    json_object_set_new(e, "state", json_string(state));
    ah_json_set_time(e, "ended_at", now);
    json_object_set_new(e, "ended_by", json_string(by));
    if (chosen) json_object_set_new(e, "chosen_version", json_integer(chosen));
    stamp(e, by, now, false);
    rc = doc_put(t, COLL_EXPERIMENTS, e, rev, NULL);
    if (!rc && out)
        *out = e;
    else
        json_decref(e);
    return rc;
}

static int start_experiment(doc_txn *t, const char *agent_id, const json_t *scenario,
                            const char *by)
{
    int64_t now = doc_txn_now(t);
    char id[ID_MAX];
    id_new("exp", now, id, sizeof(id));
    json_t *variants = json_object();
    size_t i;
    const json_t *part;
    json_t *split = json_array();
    json_array_foreach(json_object_get(scenario, "split"), i, part)
    {
        char key[24];
        snprintf(key, sizeof(key), "%lld",
                 (long long)json_integer_value(json_object_get(part, "version")));
        json_object_set_new(variants, key,
                            json_pack("{s:i,s:i,s:i,s:i,s:i,s:{},s:{}}", "starts", 0, "ended", 0,
                                      "completed", 0, "completion_ms_sum", 0, "errors", 0,
                                      "outcomes", "steps"));
        json_array_append_new(split,
                              json_pack("{s:O,s:O}", "version", json_object_get(part, "version"),
                                        "percent", json_object_get(part, "percent")));
    }
    json_t *e =
        json_pack("{s:s,s:s,s:O,s:s,s:o,s:o,s:o}", "id", id, "agent_id", agent_id, "scenario_id",
                  json_object_get(scenario, "scenario_id"), "state", "running", "split", split,
                  "goal", goal_of(scenario), "variants", variants);
    ah_json_set_time(e, "started_at", now);
    json_object_set_new(e, "ended_at", json_null());
    stamp(e, by, now, true);
    int rc = doc_put(t, COLL_EXPERIMENTS, e, 0, NULL);
    json_decref(e);
    return rc;
}

/* Whether experiment id runs the agent's split and goal as they are. */
static int same_test(doc_txn *t, const char *id, const json_t *scenario, bool *same)
{
    json_t *e = NULL;
    int rc = doc_get(t, COLL_EXPERIMENTS, id, &e, NULL);
    if (rc) return rc;
    json_t *goal = goal_of(scenario);
    const json_t *split = json_object_get(scenario, "split");
    *same = json_equal(json_object_get(e, "goal"), goal) &&
            json_equal(json_object_get(e, "scenario_id"), json_object_get(scenario, "scenario_id"));
    for (size_t i = 0; *same && i < json_array_size(split); i++) {
        const json_t *a = json_array_get(split, i),
                     *b = json_array_get(json_object_get(e, "split"), i);
        *same = json_equal(json_object_get(a, "version"), json_object_get(b, "version")) &&
                json_equal(json_object_get(a, "percent"), json_object_get(b, "percent"));
    }
    *same = *same && json_array_size(split) == json_array_size(json_object_get(e, "split"));
    json_decref(goal);
    json_decref(e);
    return 0;
}

int experiment_agent_saved(doc_txn *t, const json_t *agent)
{
    const char *agent_id = str_of(agent, "id");
    const json_t *scenario = json_object_get(agent, "scenario");
    const json_t *split = json_object_get(scenario, "split");
    bool testing = json_array_size(split) > 0;
    int rc = testing ? check_split(t, split, str_of(scenario, "scenario_id")) : 0;
    if (rc) return rc;
    char id[ID_MAX];
    rc = experiment_running(t, agent_id, id, sizeof(id));
    if (rc && rc != AH_ENOTFOUND) return rc;
    bool running = rc == 0, same = false;
    if (running && testing && (rc = same_test(t, id, scenario, &same)) != 0) return rc;
    if (running && same) return 0;
    if (running && (rc = end_experiment(t, id, testing ? "replaced" : "removed", "agent.update", 0,
                                        NULL)) != 0)
        return rc;
    return testing ? start_experiment(t, agent_id, scenario, "agent.update") : 0;
}

/* ---- counting --------------------------------------------------------------------------- */

static void bump(json_t *o, const char *k, json_int_t by)
{
    json_int_t v = json_integer_value(json_object_get(o, k)) + by;
    json_object_set_new(o, k, json_integer(v < 0 ? 0 : v));
}

static json_t *step_of(json_t *variant, const char *step)
{
    json_t *steps = json_object_get(variant, "steps");
    if (!steps) json_object_set_new(variant, "steps", steps = json_object());
    json_t *s = json_object_get(steps, step);
    if (!s)
        json_object_set_new(steps, step, s = json_pack("{s:i,s:i}", "reached", 0, "stopped", 0));
    return s;
}

static bool in_goal(const json_t *goal, const char *outcome)
{
    size_t i;
    const json_t *g;
    json_array_foreach(goal, i, g) if (outcome && json_string_value(g) &&
                                       !strcmp(json_string_value(g), outcome)) return true;
    return false;
}

static bool seen_has(const json_t *seen, const char *step)
{
    size_t i;
    const json_t *s;
    json_array_foreach(seen, i, s) if (!strcmp(json_string_value(s), step)) return true;
    return false;
}

/* The turn's steps: reached (once per conversation) and errors. */
static void count_steps(json_t *variant, json_t *mark, const json_t *path)
{
    json_t *seen = json_object_get(mark, "seen");
    if (!json_is_array(seen)) json_object_set_new(mark, "seen", seen = json_array());
    size_t i;
    const json_t *e;
    json_array_foreach(path, i, e)
    {
        const char *step = str_of(e, "step");
        if (!step) continue;
        if (json_object_get(e, "error")) bump(variant, "errors", 1);
        if (seen_has(seen, step) || json_array_size(seen) >= EXP_SEEN_MAX) continue;
        json_array_append_new(seen, json_string(step));
        bump(step_of(variant, step), "reached", 1);
    }
}

/* Where the conversation stands now (NULL: it completed). */
static const char *standing_at(const json_t *conv, const json_t *path, bool completed)
{
    if (completed) return NULL;
    const char *cur = str_of(conv, "current_step");
    if (cur) return cur;
    const json_t *last = json_array_get(path, json_array_size(path) - 1);
    return last ? str_of(last, "step") : NULL;
}

int experiment_count_turn(doc_txn *t, const json_t *base, json_t *conv, bool started,
                          const json_t *path)
{
    const char *id = str_of(base, "id");
    if (!id) return 0;
    json_t *mark = json_deep_copy(base);
    json_object_set_new(conv, "experiment", mark);
    json_t *e = NULL;
    uint64_t rev = 0;
    int rc = doc_get(t, COLL_EXPERIMENTS, id, &e, &rev);
    if (rc == AH_ENOTFOUND) return 0; /* deleted with its agent: nothing to count into */
    if (rc) return rc;
    char key[24];
    snprintf(key, sizeof(key), "%lld",
             (long long)json_integer_value(json_object_get(mark, "version")));
    json_t *variants = json_object_get(e, "variants");
    json_t *v = json_object_get(variants, key);
    if (!v) json_object_set_new(variants, key, v = json_object());
    if (started) bump(v, "starts", 1);
    count_steps(v, mark, path);
    const char *state = str_of(conv, "state"), *outcome = str_of(conv, "outcome");
    bool ended = state && !strcmp(state, "ended") && !json_is_true(json_object_get(mark, "ended"));
    if (ended) json_object_set_new(mark, "ended", json_true());
    bool completed = ended && in_goal(json_object_get(e, "goal"), outcome);
    if (ended) {
        bump(v, "ended", 1);
        json_t *outcomes = json_object_get(v, "outcomes");
        if (!outcomes) json_object_set_new(v, "outcomes", outcomes = json_object());
        bump(outcomes, outcome ? outcome : "none", 1);
    }
    int64_t begun = 0, now = doc_txn_now(t);
    if (completed) {
        bump(v, "completed", 1);
        if (ah_parse_time(str_of(conv, "started_at"), &begun) && now > begun)
            bump(v, "completion_ms_sum", now - begun);
    }
    const char *was = str_of(mark, "at"), *at = standing_at(conv, path, completed);
    if (!at && !completed) at = was;
    if (!(was && at && !strcmp(was, at))) {
        if (was) bump(step_of(v, was), "stopped", -1);
        if (at) bump(step_of(v, at), "stopped", 1);
        json_object_set_new(mark, "at", at ? json_string(at) : json_null());
    }
    stamp(e, "engine", now, false);
    rc = doc_put(t, COLL_EXPERIMENTS, e, rev, NULL);
    json_decref(e);
    return rc;
}

/* ---- stopping --------------------------------------------------------------------------- */

static bool has_variant(const json_t *e, json_int_t version)
{
    size_t i;
    const json_t *p;
    json_array_foreach(json_object_get(e, "split"), i,
                       p) if (json_integer_value(json_object_get(p, "version")) ==
                              version) return true;
    return false;
}

static int choose(doc_txn *t, const char *agent_id, json_int_t version, const audit_actor *who,
                  const char *request_id)
{
    json_t *a = NULL;
    uint64_t rev = 0;
    int rc = doc_get(t, COLL_AGENTS, agent_id, &a, &rev);
    if (rc) return rc;
    json_t *before = json_deep_copy(a);
    json_t *sc = json_object_get(a, "scenario");
    json_object_del(sc, "split");
    json_object_set_new(sc, "version", json_integer(version));
    stamp(a, who->id ? who->id : who->kind, doc_txn_now(t), false);
    rc = doc_put(t, COLL_AGENTS, a, rev, NULL);
    if (!rc)
        rc = audit_record(t, who, request_id, "agent.update", COLL_AGENTS, agent_id, before, a);
    json_decref(before);
    json_decref(a);
    return rc;
}

int experiment_stop(doc_txn *t, const char *agent_id, const char *id, json_int_t version,
                    const audit_actor *who, const char *request_id, json_t **exp_out)
{
    json_t *e = NULL;
    int rc = doc_get(t, COLL_EXPERIMENTS, id, &e, NULL);
    if (rc == AH_ENOTFOUND || (!rc && strcmp(str_of(e, "agent_id"), agent_id) != 0)) {
        json_decref(e);
        return doc_fail(t, AH_ENOTFOUND, NULL, "agent %s has no experiment %s", agent_id, id);
    }
    if (rc) return rc;
    const char *state = str_of(e, "state");
    if (strcmp(state, "running") != 0)
        rc = doc_fail(t, AH_EEXIST, NULL, "experiment %s is %s already", id, state);
    else if (!has_variant(e, version))
        rc =
            doc_fail(t, AH_EINVAL, "version", "version %lld is not one of experiment %s's variants",
                     (long long)version, id);
    json_t *before = e;
    e = NULL;
    if (!rc) rc = end_experiment(t, id, "stopped", who->id ? who->id : who->kind, version, &e);
    if (!rc) rc = choose(t, agent_id, version, who, request_id);
    if (!rc)
        rc = audit_record(t, who, request_id, "experiment.stop", COLL_EXPERIMENTS, id, before, e);
    json_decref(before);
    if (!rc && exp_out)
        *exp_out = e;
    else
        json_decref(e);
    return rc;
}
