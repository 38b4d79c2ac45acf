/*
 * simulate.c - simulations (simulate.h): an agent's scenario run turn by
 * turn over a conversation held in memory, with a clock of its own, each
 * turn recorded (its input, the steps it took, what it said, the
 * variables after it); and the sessions that keep one between requests.
 * Nothing here writes anything.
 */
#include "runtime/sim_priv.h"

#include "core/util.h"
#include "model/collections.h"
#include "model/ids.h"

#include <agenthost/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SESSIONS_DEFAULT 100
#define IDLE_DEFAULT_MS 1800000
#define ADVANCE_MAX_MS 31622400000LL /* a year and a day */

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- the list of simulations ------------------------------------------------------ */

static void link_sim(runtime *rt, sim *s)
{
    s->next = rt->sims;
    if (rt->sims) rt->sims->prev = s;
    rt->sims = s;
}

static void unlink_sim(sim *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else if (s->rt->sims == s)
        s->rt->sims = s->next;
    if (s->next) s->next->prev = s->prev;
    s->prev = s->next = NULL;
}

static void kick_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Free s now (nothing of it runs any more). */
static void destroy(sim *s)
{
    unlink_sim(s);
    run_turn_clear(&s->turn);
    json_t **all[] = {&s->agent, &s->base,    &s->answers, &s->used,     &s->contact,    &s->conv,
                      &s->turns, &s->tx_at,   &s->calls,   &s->missing,  &s->transcript, &s->queue,
                      &s->input, &s->pending, &s->scn,     &s->last_vars};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        json_decref(*all[i]);
        *all[i] = NULL;
    }
    uv_timer_stop(&s->kick);
    uv_close((uv_handle_t *)&s->kick, kick_closed);
}

void sim_free(sim *s)
{
    if (!s) return;
    if (s->running || s->in_cb) {
        s->doomed = true;
        return;
    }
    destroy(s);
}

const char *sim_id(const sim *s)
{
    return s->id;
}

size_t sim_turn_count(const sim *s)
{
    return json_array_size(s->turns);
}

/* ---- making one --------------------------------------------------------------------- */

typedef struct sim_read {
    sim *s;
    const sim_opts *o;
    char err[300];
    int code;
} sim_read;

static int read_agent(doc_txn *t, void *ud)
{
    sim_read *r = ud;
    int rc = doc_get(t, COLL_AGENTS, r->o->agent_id, &r->s->agent, NULL);
    if (rc) {
        snprintf(r->err, sizeof(r->err), "no agent %s", r->o->agent_id);
        r->code = AH_ENOTFOUND;
    }
    return rc;
}

static int check_answers(const json_t *answers, char *err, size_t errlen)
{
    if (!answers) return 0;
    if (!json_is_object(answers)) {
        snprintf(err, errlen, "answers: expected an object of canned answers by action");
        return AH_EINVAL;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)answers, k, v)
    {
        if (!strcmp(k, "tools")) {
            if (!json_is_object(v)) {
                snprintf(err, errlen, "answers.tools: expected {\"instance.action\": {...}}");
                return AH_EINVAL;
            }
            continue;
        }
        bool ok = json_is_object(v) || json_is_array(v);
        size_t i;
        const json_t *e;
        if (json_is_array(v)) json_array_foreach(v, i, e) ok &= json_is_object(e);
        if (!ok) {
            snprintf(err, errlen, "answers.%s: expected an answer (an object) or a list of them",
                     k);
            return AH_EINVAL;
        }
    }
    return 0;
}

/* The scenario s runs: the draft, o's version, or the agent's. */
static int pick_scenario(sim *s, const sim_opts *o, char *err, size_t errlen)
{
    const json_t *ref = json_object_get(s->agent, "scenario");
    const char *scn = str_of(ref, "scenario_id");
    if (o->draft) {
        s->draft = true;
        s->base = json_deep_copy(o->draft);
        json_object_set_new(s->conv, "scenario",
                            json_pack("{s:s,s:i}", "scenario_id", SIM_DRAFT_ID, "version", 0));
        return 0;
    }
    if (!scn) {
        snprintf(err, errlen, "agent %s runs no scenario: simulate a draft (scenario)",
                 o->agent_id);
        return AH_ENOTFOUND;
    }
    json_int_t version =
        o->version ? o->version : json_integer_value(json_object_get(ref, "version"));
    const json_t *content = rt_scenario(s->rt, scn, &version, err, errlen);
    if (!content) return AH_ENOTFOUND;
    s->base = json_incref((json_t *)content);
    json_object_set_new(s->conv, "scenario",
                        json_pack("{s:s,s:I}", "scenario_id", scn, "version", version));
    return 0;
}

static void new_conversation(sim *s, const sim_opts *o)
{
    const char *lang = o->language;
    if (!lang) lang = str_of(s->agent, "default_language");
    if (!lang) lang = str_of(s->base, "default_language");
    s->contact = json_pack("{s:s,s:{s:s}}", "id", "con_simulated", "profile", "name", "Simulated");
    if (lang)
        json_object_set_new(json_object_get(s->contact, "profile"), "language", json_string(lang));
    json_object_set_new(s->conv, "id", json_string(s->id));
    json_object_set_new(s->conv, "agent_id", json_string(o->agent_id));
    json_object_set_new(s->conv, "contact_id", json_string("con_simulated"));
    json_object_set_new(s->conv, "state", json_string("active"));
    json_object_set_new(s->conv, "channel",
                        json_pack("{s:s,s:s}", "kind", "simulation", "instance", "simulation"));
    json_object_set_new(s->conv, "variables",
                        o->variables ? json_deep_copy(o->variables) : json_object());
    json_object_set_new(s->conv, "messages", json_array());
    if (lang) json_object_set_new(s->conv, "language", json_string(lang));
}

int sim_new(runtime *rt, const sim_opts *o, sim **out, char *err, size_t errlen)
{
    *out = NULL;
    if (rt->stopped) {
        snprintf(err, errlen, "the engine is stopping");
        return AH_ECLOSED;
    }
    if (!o->agent_id || !id_valid(o->agent_id, "agt")) {
        snprintf(err, errlen, "no agent %s", o->agent_id ? o->agent_id : "");
        return AH_ENOTFOUND;
    }
    if (o->variables && !json_is_object(o->variables)) {
        snprintf(err, errlen, "variables: expected an object");
        return AH_EINVAL;
    }
    int rc = check_answers(o->answers, err, errlen);
    if (rc) return rc;
    sim *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    s->rt = rt;
    s->t0 = s->now = ah_now_ms();
    s->last_used = s->t0;
    id_new("sim", s->t0, s->id, sizeof(s->id));
    s->answers = o->answers ? json_deep_copy(o->answers) : json_object();
    s->used = json_object();
    s->conv = json_object();
    s->transcript = json_array();
    s->turns = json_array();
    s->tx_at = json_array();
    s->calls = json_array();
    s->missing = json_array();
    uv_timer_init(loop_uv(rt->d.loop), &s->kick);
    s->kick.data = s;
    link_sim(rt, s);
    sim_env_init(s);
    sim_read r = {.s = s, .o = o};
    doc_error e;
    rc = docs_read(rt->d.docs, read_agent, &r, &e);
    if (rc) {
        snprintf(err, errlen, "%s", r.err[0] ? r.err : e.message);
        destroy(s);
        return r.code ? r.code : rc;
    }
    rc = pick_scenario(s, o, err, errlen);
    if (rc) {
        destroy(s);
        return rc;
    }
    new_conversation(s, o);
    *out = s;
    return 0;
}

/* ---- the messages ----------------------------------------------------------------------- */

static int check_message(const json_t *m, size_t i, char *err, size_t errlen)
{
    if (!json_is_object(m)) {
        snprintf(err, errlen,
                 "messages[%zu]: expected an object: {\"text\"}, {\"payload\"}, "
                 "{\"advance_ms\"}, {\"timer\": true} or {\"resume\": true}",
                 i);
        return AH_EINVAL;
    }
    int kinds = 0;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)m, k, v)
    {
        if (!strcmp(k, "text") || !strcmp(k, "payload")) {
            if (!json_is_string(v) || json_string_length(v) > SIM_MAX_TEXT) {
                snprintf(err, errlen, "messages[%zu].%s: a string of at most %d bytes", i, k,
                         SIM_MAX_TEXT);
                return AH_EINVAL;
            }
            kinds |= 1;
        } else if (!strcmp(k, "advance_ms")) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > ADVANCE_MAX_MS) {
                snprintf(err, errlen, "messages[%zu].advance_ms: an integer from 0 to %lld", i,
                         (long long)ADVANCE_MAX_MS);
                return AH_EINVAL;
            }
            kinds |= 2;
        } else if (!strcmp(k, "timer") || !strcmp(k, "resume")) {
            if (!json_is_true(v)) {
                snprintf(err, errlen, "messages[%zu].%s: true", i, k);
                return AH_EINVAL;
            }
            kinds |= !strcmp(k, "timer") ? 4 : 8;
        } else {
            snprintf(err, errlen, "messages[%zu].%s: unknown field", i, k);
            return AH_EINVAL;
        }
    }
    if (kinds != 1 && kinds != 2 && kinds != 4 && kinds != 8) {
        snprintf(err, errlen,
                 "messages[%zu]: one of text (with payload), advance_ms, timer or resume", i);
        return AH_EINVAL;
    }
    return 0;
}

/* ---- one turn ------------------------------------------------------------------------------- */

static void kick_fired(uv_timer_t *h);

static void kick(sim *s)
{
    uv_timer_start(&s->kick, kick_fired, 0, 0);
}

static const json_t *timer_of(const sim *s)
{
    return json_object_get(json_object_get(s->conv, "engine"), "timer");
}

/* The scenario the conversation runs now: a called agent's, or its own. */
static json_t *active_scenario(sim *s, char *err, size_t errlen)
{
    const json_t *active = json_object_get(json_object_get(s->conv, "engine"), "active");
    const json_t *ref = json_object_get(active, "scenario");
    const char *id = str_of(ref, "scenario_id");
    if (!active || !id || (s->draft && !strcmp(id, SIM_DRAFT_ID))) return json_incref(s->base);
    json_int_t version = json_integer_value(json_object_get(ref, "version"));
    const json_t *c = rt_scenario(s->rt, id, &version, err, errlen);
    return c ? json_incref((json_t *)c) : NULL;
}

static void record(sim *s, const char *note);

static void turn_done(run_turn *t, run_stop stop, const char *error)
{
    sim *s = t->ud;
    if (s->rt->stopped) return; /* freed with the runtime */
    static const char *const stops[] = {"waiting", "ended", "idle"};
    json_t *r = json_array_get(s->turns, json_array_size(s->turns) - 1);
    json_object_set_new(r, "stop", json_string(stops[stop]));
    if (error) json_object_set_new(r, "error", json_string(error));
    size_t i;
    const json_t *m;
    json_array_foreach(t->messages, i, m)
    {
        json_t *e = json_pack("{s:s}", "from", "agent");
        json_object_update(e, (json_t *)m);
        json_array_append_new(s->transcript, e);
    }
    json_object_set(r, "path", t->path);
    json_object_set(r, "events", t->events);
    json_object_set(r, "messages", t->messages);
    if (t->profile) { /* the simulated contact keeps what the scenario set */
        json_object_set(r, "profile_set", t->profile);
        run_profile_apply(json_object_get(s->contact, "profile"), t->profile);
    }
    record(s, NULL);
    json_decref(s->scn);
    s->scn = NULL;
    kick(s);
}

/* Fill the newest turn's record with the conversation as it is now. */
static void record(sim *s, const char *note)
{
    json_t *r = json_array_get(s->turns, json_array_size(s->turns) - 1);
    json_object_set_new(r, "variables", json_deep_copy(json_object_get(s->conv, "variables")));
    json_object_set(r, "state", json_object_get(s->conv, "state"));
    const json_t *step = json_object_get(s->conv, "current_step");
    json_object_set_new(r, "step", step ? json_incref((json_t *)step) : json_null());
    json_object_set(r, "calls", s->calls);
    json_decref(s->calls);
    s->calls = json_array();
    if (json_array_size(s->missing)) json_object_set(r, "missing_texts", s->missing);
    json_decref(s->missing);
    s->missing = json_array();
    const json_t *timer = timer_of(s);
    if (timer) {
        json_int_t due = json_integer_value(json_object_get(timer, "due_ms"));
        json_object_set_new(r, "timer",
                            json_pack("{s:O?,s:O?,s:I}", "step", json_object_get(timer, "step"),
                                      "kind", json_object_get(timer, "kind"), "due_in_ms",
                                      (json_int_t)(due - s->now)));
    }
    json_object_set_new(r, "clock_ms", json_integer(s->now - s->t0));
    if (note) json_object_set_new(r, "note", json_string(note));
    if (!json_object_get(r, "path")) json_object_set_new(r, "path", json_array());
    if (!json_object_get(r, "events")) json_object_set_new(r, "events", json_array());
}

/* A new turn's record: what woke it. */
static void open_record(sim *s, const char *wake, const json_t *input)
{
    json_array_append_new(s->tx_at, json_integer((json_int_t)json_array_size(s->transcript)));
    json_array_append_new(s->turns, json_pack("{s:O?,s:s}", "input", input, "wake", wake));
    if (input && (json_object_get(input, "text") || json_object_get(input, "payload"))) {
        json_t *e = json_pack("{s:s}", "from", "user");
        json_object_update(e, (json_t *)input);
        json_array_append_new(s->transcript, e);
    }
}

static void run(sim *s, run_wake wake, const json_t *msg)
{
    static const char *const names[] = {"start", "message", "timer", "resume"};
    open_record(s, names[wake], msg);
    char err[300] = "";
    json_t *scn = active_scenario(s, err, sizeof(err));
    if (!scn) {
        json_t *r = json_array_get(s->turns, json_array_size(s->turns) - 1);
        json_object_set_new(r, "error", json_string(err));
        json_object_set_new(r, "stop", json_string("idle"));
        record(s, NULL);
        kick(s);
        return;
    }
    run_turn *t = &s->turn;
    run_turn_clear(t);
    json_decref(s->scn);
    s->scn = scn;
    json_decref(s->last_vars);
    s->last_vars = json_deep_copy(json_object_get(s->conv, "variables"));
    json_decref(s->input);
    s->input = NULL;
    if (wake == RUN_WAKE_MESSAGE) {
        s->input = json_object();
        if (json_object_get(msg, "text"))
            json_object_set(s->input, "text", json_object_get(msg, "text"));
        if (json_object_get(msg, "payload"))
            json_object_set(s->input, "payload", json_object_get(msg, "payload"));
    }
    *t = (run_turn){.scenario = scn,
                    .conv = s->conv,
                    .contact = s->contact,
                    .agent = s->agent,
                    .wake = wake,
                    .input = s->input,
                    .timer_step = str_of(timer_of(s), "step"),
                    .now_ms = s->now,
                    .env = &s->env,
                    .done = turn_done,
                    .ud = s};
    run_turn_start(t);
}

/* A clock message: the timer fires when it is due (or asked for). */
static void clock_turn(sim *s, const json_t *msg)
{
    const json_t *timer = timer_of(s);
    json_int_t due = json_integer_value(json_object_get(timer, "due_ms"));
    const json_t *adv = json_object_get(msg, "advance_ms");
    if (adv) s->now += json_integer_value(adv);
    if (timer && !adv && due > s->now) s->now = due;
    if (timer && due <= s->now) {
        run(s, RUN_WAKE_TIMER, msg);
        return;
    }
    open_record(s, "clock", msg);
    record(s, timer ? "no timer is due yet" : "no timer is set");
    kick(s);
}

/* ---- a send ------------------------------------------------------------------------------- */

static void end_send(sim *s, int status, const char *code, const char *message)
{
    s->running = false;
    sim_cb cb = s->cb;
    s->cb = NULL;
    if (cb) {
        s->in_cb = true;
        cb(s->cb_ud, s, status, code, message);
        s->in_cb = false;
    }
    if (s->doomed) destroy(s);
}

static void kick_fired(uv_timer_t *h)
{
    sim *s = h->data;
    if (s->rt->stopped || !s->running) return;
    if (!s->started) {
        s->started = true;
        run(s, RUN_WAKE_START, NULL);
        return;
    }
    size_t n = json_array_size(s->queue);
    if (s->qi >= n) {
        end_send(s, 0, NULL, NULL);
        return;
    }
    if (ah_now_ms() > s->deadline || json_array_size(s->turns) >= SIM_MAX_TURNS) {
        snprintf(
            s->incomplete, sizeof(s->incomplete),
            json_array_size(s->turns) >= SIM_MAX_TURNS
                ? "the simulation has run %d turns, its most: messages from %zu on were not run"
                : "the simulation's deadline (%d ms) passed: messages from %zu on were not run",
            json_array_size(s->turns) >= SIM_MAX_TURNS ? SIM_MAX_TURNS : SIM_DEADLINE_MS, s->qi);
        end_send(s, 0, NULL, NULL);
        return;
    }
    const json_t *m = json_array_get(s->queue, s->qi++);
    if (json_object_get(m, "advance_ms") || json_object_get(m, "timer"))
        clock_turn(s, m);
    else if (json_object_get(m, "resume"))
        run(s, RUN_WAKE_RESUME, m);
    else
        run(s, RUN_WAKE_MESSAGE, m);
}

int sim_send(sim *s, const json_t *messages, sim_cb cb, void *ud, char *err, size_t errlen)
{
    if (s->rt->stopped || s->doomed) {
        snprintf(err, errlen, "the engine is stopping");
        return AH_ECLOSED;
    }
    if (s->running) {
        snprintf(err, errlen, "the simulation is running a turn: send when it answers");
        return AH_EBUSY;
    }
    if (messages && !json_is_array(messages)) {
        snprintf(err, errlen, "messages: expected a list");
        return AH_EINVAL;
    }
    size_t n = json_array_size(messages);
    if (n > SIM_MAX_MESSAGES) {
        snprintf(err, errlen, "messages: at most %d at once", SIM_MAX_MESSAGES);
        return AH_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = check_message(json_array_get(messages, i), i, err, errlen);
        if (rc) return rc;
    }
    if (json_array_size(s->turns) + n > SIM_MAX_TURNS) {
        snprintf(err, errlen, "a simulation runs at most %d turns: start another", SIM_MAX_TURNS);
        return AH_ETOOBIG;
    }
    json_decref(s->queue);
    s->queue = messages ? json_deep_copy(messages) : json_array();
    s->qi = 0;
    s->incomplete[0] = '\0';
    s->deadline = ah_now_ms() + SIM_DEADLINE_MS;
    s->cb = cb;
    s->cb_ud = ud;
    s->running = true;
    kick(s);
    return 0;
}

/* ---- the report ------------------------------------------------------------------------------ */

static json_t *slice(const json_t *a, size_t from)
{
    json_t *out = json_array();
    for (size_t i = from; i < json_array_size(a); i++)
        json_array_append(out, json_array_get(a, i));
    return out;
}

json_t *sim_report(const sim *s, size_t from)
{
    size_t tx = from < json_array_size(s->tx_at)
                    ? (size_t)json_integer_value(json_array_get(s->tx_at, from))
                    : json_array_size(s->transcript);
    json_t *turns = slice(s->turns, from), *events = json_array();
    size_t i;
    const json_t *r;
    json_array_foreach(turns, i, r) json_array_extend(events, json_object_get(r, "events"));
    json_t *o = json_pack(
        "{s:s,s:O,s:o,s:o,s:o,s:O?,s:O?,s:O?,s:O?,s:I,s:I}", "id", s->id, "scenario",
        json_object_get(s->conv, "scenario"), "transcript", slice(s->transcript, tx), "turns",
        turns, "events", events, "state", json_object_get(s->conv, "state"), "step",
        json_object_get(s->conv, "current_step"), "outcome", json_object_get(s->conv, "outcome"),
        "variables", json_object_get(s->conv, "variables"), "clock_ms",
        (json_int_t)(s->now - s->t0), "turn_count", (json_int_t)json_array_size(s->turns));
    if (s->draft) json_object_set_new(o, "draft", json_true());
    if (s->incomplete[0]) json_object_set_new(o, "incomplete", json_string(s->incomplete));
    return o;
}

/* ---- sessions ------------------------------------------------------------------------------- */

static uint32_t idle_ms(const runtime *rt)
{
    return rt->o.sim_idle_ms ? rt->o.sim_idle_ms : IDLE_DEFAULT_MS;
}

/* Sessions unused past the idle bound are gone. */
static void sweep(runtime *rt)
{
    int64_t now = ah_now_ms();
    for (sim *s = rt->sims, *next; s; s = next) {
        next = s->next;
        if (!s->session || s->running || now - s->last_used < (int64_t)idle_ms(rt)) continue;
        strmap_del(&rt->sessions, s->id);
        s->session = false;
        sim_free(s);
    }
}

int sim_session_add(runtime *rt, sim *s, const char *owner, char *err, size_t errlen)
{
    sweep(rt);
    uint32_t max = rt->o.sim_sessions ? rt->o.sim_sessions : SESSIONS_DEFAULT;
    if (rt->sessions.n >= max) {
        snprintf(err, errlen,
                 "%u simulation sessions are open (engine.simulation_sessions): end one, or wait "
                 "for one to expire",
                 (unsigned)max);
        return AH_EBUSY;
    }
    if (strmap_put(&rt->sessions, s->id, s) != 0) {
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    snprintf(s->owner, sizeof(s->owner), "%s", owner ? owner : "");
    s->session = true;
    s->last_used = ah_now_ms();
    return 0;
}

sim *sim_session_get(runtime *rt, const char *id, const char *owner)
{
    sweep(rt);
    sim *s = id ? strmap_get(&rt->sessions, id) : NULL;
    if (!s || strcmp(s->owner, owner ? owner : "") != 0) return NULL;
    s->last_used = ah_now_ms();
    return s;
}

int sim_session_del(runtime *rt, const char *id, const char *owner)
{
    sim *s = sim_session_get(rt, id, owner);
    if (!s) return AH_ENOTFOUND;
    strmap_del(&rt->sessions, s->id);
    s->session = false;
    sim_free(s);
    return 0;
}

/* ---- the runtime stopping -------------------------------------------------------------------- */

void rt_sims_stop(runtime *rt)
{
    for (sim *s = rt->sims, *next; s; s = next) {
        next = s->next;
        if (!s->running || !s->cb) continue;
        sim_cb cb = s->cb;
        s->cb = NULL;
        s->in_cb = true;
        cb(s->cb_ud, s, AH_ECLOSED, "unavailable", "the engine is stopping");
        s->in_cb = false;
    }
}

void rt_sims_free(runtime *rt)
{
    while (rt->sims)
        destroy(rt->sims);
    strmap_free(&rt->sessions);
}
