/*
 * run_world.h - a scenario turn against a fake outside, for the
 * interpreter's tests (test_run*.c): jq is real (libjq in this process),
 * plugin actions, HTTP and other agents answer from a script, and every
 * callback runs later, as the loop runs them.
 */
#ifndef AH_TEST_RUN_WORLD_H
#define AH_TEST_RUN_WORLD_H

#include "engine/run.h"

#include <jansson.h>
#include <stddef.h>

typedef struct job job; /* a callback waiting to run (run_world.c) */

typedef struct fake {
    job *head, *tail;
    json_t *answers; /* "kind or instance__action", "http", "load:REF" -> [answers] */
    json_t *calls;   /* [{"what", "args"}] */
    json_t *delays;  /* [ms] */
    json_t *missing; /* [path] */
    int done;
    run_stop stop;
    char error[800];
} fake;

typedef struct world {
    fake f;
    run_env env;
    run_turn t;
    json_t *scenario, *conv;
    const json_t *contact; /* the turn's contact (NULL: none) */
} world;

/* JSON written with ' for " (no ' in the texts); fails the test when bad. */
json_t *J(const char *s);

/* A world for scenario (JSON as J reads it), its conversation cnv_1 of
 * agt_1 with con_1, active, in English. */
void w_init(world *w, const char *scenario);
/* w_init with marker in scenario replaced by with. */
void w_init_marked(world *w, const char *scenario, const char *marker, const char *with);
void w_free(world *w);

/* Script the answers (a JSON array as J reads it) for key: "kind",
 * "instance__action", "http" or "load:REF"; each {"result": ...} (with
 * "emits" / "links" true as the runtime does for such steps) or
 * {"error", "message"}. Unscripted calls fail "unavailable". */
void script(world *w, const char *key, const char *answers);

/* One turn, run until it stops; the stop. TEST_RUN_DEBUG=1 prints its path. */
run_stop turn(world *w, run_wake wake, const char *input_json, const char *timer_step);

/* The text of the turn's i-th message. */
const char *text_at(world *w, size_t i);
/* A string field of the conversation. */
const char *conv_str(world *w, const char *k);
/* A variable of the conversation (borrowed). */
json_t *var(world *w, const char *k);
/* The n-th event on a topic other than the conversation's own stream. */
json_t *other_event(world *w, size_t n);
/* How many of the turn's events have body.type type. */
size_t events_of(world *w, const char *type);

#endif
