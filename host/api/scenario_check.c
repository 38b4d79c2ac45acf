/*
 * scenario_check.c - the check before a scenario version is saved:
 * validation, then its jq programs through the expression pool.
 */
#include "scenario_check.h"
#include "http/server.h"

#include "core/utf8.h"
#include "engine/scenario.h"
#include "expr/expr.h"
#include "plugin/registry.h"
#include "plugin/supervisor.h"

#include <agenthost/plugin.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One distinct program: where it is written, and what its check said. */
typedef struct program {
    const char *text;    /* borrowed from job->programs */
    const json_t *paths; /* borrowed: its paths */
    bool content;        /* a problem of the content (else not checked, when message) */
    char *message;       /* NULL: it compiles */
} program;

typedef struct job {
    json_t *errors;
    json_t *programs; /* text -> [paths], in the content's order */
    program *list;
    size_t n, next, running, finished;
    expr_pool *pool;
    scn_checked_fn done;
    void *ud;
} job;

/* ---- what is installed ------------------------------------------------------------ */

static void env_free(scenario_check_env *env)
{
    free((void *)env->steps);
    free((void *)env->instances);
}

static int env_build(scenario_check_env *env, const registry *reg, supervisor *sup)
{
    memset(env, 0, sizeof(*env));
    size_t nsteps = 0, nplugins = reg ? registry_count(reg) : 0;
    for (size_t i = 0; i < nplugins; i++)
        nsteps += json_array_size(json_object_get(registry_at(reg, i)->json, "steps"));
    size_t ninst = sup ? supervisor_count(sup) : 0;
    scenario_plugin_step *steps = calloc(nsteps + 1, sizeof(*steps));
    scenario_instance *insts = calloc(ninst + 1, sizeof(*insts));
    if (!steps || !insts) {
        free(steps);
        free(insts);
        return AH_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < nplugins; i++) {
        const manifest *m = registry_at(reg, i);
        size_t j;
        json_t *st;
        json_array_foreach(json_object_get(m->json, "steps"), j, st)
        {
            steps[k++] =
                (scenario_plugin_step){json_string_value(json_object_get(st, "kind")), m->name,
                                       json_string_value(json_object_get(st, "action"))};
        }
    }
    for (size_t i = 0; i < ninst; i++) {
        instance *in = supervisor_at(sup, i);
        const manifest *m = instance_manifest(in);
        insts[i] = (scenario_instance){instance_id(in), m ? m->name : NULL,
                                       m ? manifest_actions(m) : NULL};
    }
    *env = (scenario_check_env){steps, k, insts, ninst};
    return 0;
}

/* ---- expressions ------------------------------------------------------------------- */

static void job_free(job *j)
{
    for (size_t i = 0; i < j->n; i++)
        free(j->list[i].message);
    free(j->list);
    json_decref(j->programs);
    json_decref(j->errors);
    free(j);
}

static void add_problem(json_t *errors, const char *path, const char *message)
{
    if (json_array_size(errors) > SCENARIO_MAX_ERRORS) return;
    if (json_array_size(errors) == SCENARIO_MAX_ERRORS) {
        path = "";
        message = "more problems not listed";
    }
    json_t *m = utf8_json_string(message);
    if (m) json_array_append_new(errors, json_pack("{s:s,s:o}", "path", path, "message", m));
}

/* Every program's problems at each of its paths, in order; then done. */
static void finish(job *j)
{
    bool content = json_array_size(j->errors) > 0, unchecked = false;
    for (size_t i = 0; i < j->n; i++) {
        program *p = &j->list[i];
        if (!p->message) continue;
        if (p->content)
            content = true;
        else
            unchecked = true;
        size_t k;
        json_t *path;
        json_array_foreach(p->paths, k, path)
            add_problem(j->errors, json_string_value(path), p->message);
    }
    j->done(j->ud, content ? SCN_INVALID : unchecked ? SCN_UNCHECKED : SCN_VALID, j->errors);
    job_free(j);
}

static void set_message(program *p, bool content, const char *fmt, const char *a, const char *b)
{
    char buf[2048];
    snprintf(buf, sizeof(buf), fmt, a ? a : "", b ? b : "");
    free(p->message);
    p->message = strdup(buf);
    p->content = content;
}

static void submit(job *j);

typedef struct call {
    job *j;
    size_t i;
} call;

static void on_checked(void *ud, const expr_result *r)
{
    call *c = ud;
    job *j = c->j;
    program *p = &j->list[c->i];
    free(c);
    if (!r->error) {
        /* compiles */
    } else if (!strcmp(r->error, "compile")) {
        set_message(p, true, "jq: %s%s", r->message, NULL);
    } else if (!strcmp(r->error, "busy") || !strcmp(r->error, "unavailable")) {
        set_message(p, false, "not checked: %s%s", r->message, NULL);
    } else {
        set_message(p, true, "jq could not compile it: %s: %s", r->error, r->message);
    }
    j->running--;
    j->finished++;
    submit(j);
}

/* Start checks while fewer than SCN_CHECK_WINDOW run; finish after the last. */
static void submit(job *j)
{
    while (j->next < j->n && j->running < SCN_CHECK_WINDOW) {
        size_t i = j->next;
        program *p = &j->list[i];
        call *c = malloc(sizeof(*c));
        char err[256] = "out of memory";
        int rc = AH_ENOMEM;
        if (c) {
            *c = (call){j, i};
            rc = j->pool ? expr_check(j->pool, p->text, NULL, on_checked, c, err, sizeof(err))
                         : AH_ECLOSED;
            if (!j->pool) snprintf(err, sizeof(err), "the host has no expression pool");
        }
        if (rc == AH_EBUSY && j->running > 0) {
            free(c); /* the queue is full: again when one of ours is answered */
            return;
        }
        j->next++;
        if (rc == 0) {
            j->running++;
            continue;
        }
        free(c);
        j->finished++;
        if (rc == AH_EINVAL)
            set_message(p, true, "%s%s", err, NULL);
        else
            set_message(p, false, "not checked: %s%s", err, NULL);
    }
    if (j->finished == j->n && j->running == 0) finish(j);
}

/* Distinct programs, in the order they are first written. */
static int gather(job *j, const json_t *expressions)
{
    size_t i;
    json_t *e;
    json_array_foreach(expressions, i, e)
    {
        const char *text = json_string_value(json_object_get(e, "program"));
        json_t *paths = json_object_get(j->programs, text);
        if (!paths) {
            if (json_object_set_new(j->programs, text, paths = json_array())) return AH_ENOMEM;
        }
        if (json_array_append(paths, json_object_get(e, "path"))) return AH_ENOMEM;
    }
    j->n = json_object_size(j->programs);
    j->list = calloc(j->n + 1, sizeof(*j->list));
    if (!j->list) return AH_ENOMEM;
    size_t k = 0;
    const char *text;
    json_t *paths;
    json_object_foreach(j->programs, text, paths) j->list[k++] =
        (program){text, paths, false, NULL};
    return 0;
}

int scenario_check(const json_t *content, const registry *reg, supervisor *sup, expr_pool *pool,
                   scn_checked_fn done, void *ud)
{
    scenario_check_env env;
    if (env_build(&env, reg, sup)) return AH_ENOMEM;
    job *j = calloc(1, sizeof(*j));
    json_t *expressions = json_array();
    int rc = AH_ENOMEM;
    if (!j || !expressions || !(j->errors = json_array()) || !(j->programs = json_object()))
        goto out;
    if ((rc = scenario_validate(content, &env, j->errors, expressions)) != 0) goto out;
    if ((rc = gather(j, expressions)) != 0) goto out;
    j->pool = pool;
    j->done = done;
    j->ud = ud;
    json_decref(expressions);
    env_free(&env);
    submit(j); /* finishes at once when there is nothing to check */
    return 0;
out:
    if (j) job_free(j);
    json_decref(expressions);
    env_free(&env);
    return rc;
}

/* {"error": {"code", "message": "N problems", "errors": [...]}}. */
void scenario_respond_problems(http_req *req, scn_outcome outcome, const json_t *errors)
{
    size_t n = json_array_size(errors);
    char msg[160];
    if (outcome == SCN_INVALID)
        snprintf(msg, sizeof(msg), "%zu problem%s", n, n == 1 ? "" : "s");
    else
        snprintf(msg, sizeof(msg),
                 "%zu expression%s could not be checked: the scenario is saved once they are", n,
                 n == 1 ? "" : "s");
    json_t *body =
        json_pack("{s:{s:s,s:s,s:O}}", "error", "code",
                  outcome == SCN_INVALID ? "invalid_scenario" : "expressions_unavailable",
                  "message", msg, "errors", errors);
    if (!body) {
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return;
    }
    if (outcome == SCN_INVALID) {
        http_respond_json(req, 422, body);
        return;
    }
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    const char *hs[] = {"Retry-After: 5", NULL};
    if (text)
        http_respond(req, 503, "application/json", text, strlen(text), hs);
    else
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
    free(text);
}
