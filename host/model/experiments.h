/*
 * experiments.h - A/B tests: an agent's scenario.split among versions of
 * its scenario is an experiment document (collection "experiments"), and
 * what each variant's conversations did is counted into it by the engine,
 * in the same transaction as the turn that did it (ADR 0021): no scan of
 * conversations is ever needed to answer, and a restart loses nothing.
 *
 * A conversation in an experiment carries "experiment": {"id", "version"
 * (its variant), "seen" (the steps it reached), "at" (the step it stands
 * at, null once it completed)}. Per variant the experiment keeps:
 *   starts              conversations started
 *   ended               conversations ended (any outcome)
 *   completed           ended with an outcome of the experiment's goal
 *   completion_ms_sum   their start-to-end times, summed
 *   errors              steps that failed
 *   outcomes            {outcome: conversations ended with it}
 *   steps               {step: {"reached": conversations that ran it,
 *                               "stopped": conversations standing there
 *                               without having completed (drop-off)}}
 * The statistics are computed from these (ab_stats.h).
 */
#ifndef AH_MODEL_EXPERIMENTS_H
#define AH_MODEL_EXPERIMENTS_H

#include "audit.h"
#include "docs.h"

#include <stdbool.h>

#define EXP_SEEN_MAX 500 /* steps a conversation's "seen" remembers */

/* An agent is being saved (inside the save's transaction; agent borrowed,
 * its "id" set): check its split (at least two parts, distinct versions
 * of its scenario, percents summing to 100) and keep its experiment in
 * step: a split with no running experiment, or another split or goal than
 * the running one's, starts one (the old one "replaced"); no split ends the
 * running one ("removed"). 0, or doc_fail's code naming the field
 * ("scenario.split", "scenario.split[1].version"), or a store code. */
int experiment_agent_saved(doc_txn *t, const json_t *agent);

/* The running experiment of agent_id: 0 with id; AH_ENOTFOUND; a store
 * code. */
int experiment_running(doc_txn *t, const char *agent_id, char *id, size_t idlen);

/* Count one turn of conv, in the turn's transaction: base is its
 * "experiment" field as it was before the turn (borrowed; NULL or not an
 * object: in no experiment, nothing counted), set again in conv with the
 * turn's seen and at; started (the turn started it), path (the steps run:
 * run.h's [{step, error?}]). From the same base the same counts, so a
 * transaction run again counts once. 0, or doc_get's or doc_put's code. */
int experiment_count_turn(doc_txn *t, const json_t *base, json_t *conv, bool started,
                          const json_t *path);

/* Stop experiment id of agent_id choosing version: the experiment ends
 * ("stopped", chosen_version) and the agent runs that version (its split
 * removed, its goal kept), both audited. *exp_out: the experiment as
 * written (a new reference). 0; AH_ENOTFOUND; AH_EINVAL (version not one
 * of its variants: doc_fail names "version"); AH_EEXIST (it is not
 * running: 409 conflict); a store code. */
int experiment_stop(doc_txn *t, const char *agent_id, const char *id, json_int_t version,
                    const audit_actor *who, const char *request_id, json_t **exp_out);

#endif
