/*
 * sim_priv.h - a simulation's internals, shared by simulate.c (its turns,
 * sessions, report) and sim_env.c (what its steps reach). See simulate.h.
 */
#ifndef AH_RUNTIME_SIM_PRIV_H
#define AH_RUNTIME_SIM_PRIV_H

#include "runtime/rt_priv.h"
#include "runtime/simulate.h"

struct sim {
    struct sim *prev, *next; /* runtime.sims */
    runtime *rt;
    char id[48];
    char owner[16]; /* a session's token id; "" when not a session */
    bool session;
    run_env env;

    json_t *agent; /* the agent document */
    json_t *base;  /* the scenario it runs (a version's content, or the draft) */
    bool draft;
    json_t *answers; /* canned answers: an object */
    json_t *used;    /* answers' lists: how many of each were taken */
    json_t *contact; /* {"id", "profile"} */
    json_t *conv;    /* the conversation, in memory */

    json_t *transcript; /* [{"from", "text", ...}] */
    json_t *turns;      /* one record a turn */
    json_t *tx_at;      /* each turn's first transcript index */
    json_t *calls;      /* the current turn's calls out: [{"kind", "key", "args", ...}] */
    json_t *missing;    /* the current turn's texts sent in the default language */
    int64_t t0, now;    /* the simulated clock */
    int64_t last_used;  /* real ms: a session's idle time */
    bool started;

    /* A send in progress. */
    bool running, in_cb, doomed, stopped;
    json_t *queue; /* its messages */
    size_t qi;
    json_t *input;   /* the turn's: {text, payload} */
    json_t *pending; /* the turn's message as given */
    const char *wake;
    int64_t deadline; /* real ms */
    char incomplete[200];
    sim_cb cb;
    void *cb_ud;
    json_t *scn;       /* the turn's scenario (a reference of ours) */
    json_t *last_vars; /* the variables before the step running */
    run_turn turn;
    uv_timer_t kick; /* the next turn, or the end, from the loop */
};

/* ---- sim_env.c ---- */

void sim_env_init(sim *s);

#endif
