/*
 * debug_run.c - the one instance an operator may run without its sandbox,
 * for a debugger (supervisor_opts.debug_instance): the check that the
 * host's config allows it, the wrapper command it is started under, and
 * the loud record of every start (docs/security-model.md, ADR 0032).
 */
#include "core/log.h"
#include "supervisor_priv.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WHAT_IS_OFF "no seccomp, no Landlock, no namespaces, no resource limits, no uid drop"

bool debug_target(const instance *inst)
{
    const supervisor_opts *o = &inst->sup->opts;
    return o->allow_debug_unconfined && o->debug_instance && !strcmp(o->debug_instance, inst->id);
}

/* name as a shell finds it: as given when it holds a '/', else in PATH. */
static int find_program(const char *name, char *out, size_t len)
{
    if (strchr(name, '/')) {
        snprintf(out, len, "%s", name);
        return access(out, X_OK);
    }
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        if (n && (size_t)snprintf(out, len, "%.*s/%s", (int)n, p, name) < len &&
            access(out, X_OK) == 0)
            return 0;
        p += n + (p[n] == ':');
    }
    return -1;
}

int debug_wrapper_parse(const char *line, debug_cmd *d, char *err, size_t errlen)
{
    d->argc = 0;
    if (!line) return 0;
    if (strlen(line) >= sizeof(d->words)) {
        snprintf(err, errlen, "--debug-wrapper: longer than %zu bytes", sizeof(d->words) - 1);
        return AH_EINVAL;
    }
    snprintf(d->words, sizeof(d->words), "%s", line);
    char *save = NULL;
    for (char *w = strtok_r(d->words, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        if (d->argc == DEBUG_WRAPPER_MAX) {
            snprintf(err, errlen, "--debug-wrapper: more than %d words", DEBUG_WRAPPER_MAX);
            return AH_EINVAL;
        }
        d->argv[d->argc++] = w;
    }
    if (!d->argc) return 0;
    if (find_program(d->argv[0], d->program, sizeof(d->program)) != 0) {
        snprintf(err, errlen, "--debug-wrapper: %s: no such program (or not executable)",
                 d->argv[0]);
        return AH_ENOTFOUND;
    }
    d->argv[0] = d->program;
    return 0;
}

static void record(const char *plugin, const char *id, const char *event, const json_t *more,
                   const char *msg)
{
    log_ctx c = {.plugin = plugin, .instance = id};
    json_t *f = json_pack("{s:s,s:i}", "event", event, "uid", (int)geteuid());
    if (more) json_object_update(f, (json_t *)more);
    log_write("security", LOG_WARN, "sandbox", &c, f, "%s", msg);
    log_write("host", LOG_WARN, "supervisor", &c, f, "%s", msg);
    json_decref(f);
}

int supervisor_check_debug(supervisor *s, char *err, size_t errlen)
{
    const supervisor_opts *o = &s->opts;
    const char *id = o->debug_instance;
    if (!id) return 0;
    if (!o->allow_debug_unconfined) {
        snprintf(err, errlen,
                 "--debug-instance %s refused: this host's config does not allow an instance to "
                 "run without its sandbox (set \"supervisor\": {\"allow_debug_unconfined\": true} "
                 "in the config file, on a developer's machine only)",
                 id);
        record(NULL, id, "debug_unconfined_refused", NULL, err);
        return AH_EDENIED;
    }
    if (!supervisor_find(s, id)) {
        snprintf(err, errlen, "--debug-instance %s: no such instance", id);
        return AH_ENOTFOUND;
    }
    debug_cmd d;
    int rc = debug_wrapper_parse(o->debug_wrapper, &d, err, errlen);
    if (rc) return rc;
    char msg[700];
    snprintf(msg, sizeof(msg),
             "DEBUG: instance %s will run UNCONFINED at every start (%s; it runs as uid %u and "
             "gets its secrets)%s%s: allowed by supervisor.allow_debug_unconfined, for a "
             "developer's machine only",
             id, WHAT_IS_OFF, (unsigned)geteuid(), o->debug_wrapper ? ", under " : "",
             o->debug_wrapper ? o->debug_wrapper : "");
    json_t *more = json_pack("{s:s*}", "wrapper", o->debug_wrapper);
    record(NULL, id, "debug_unconfined_allowed", more, msg);
    json_decref(more);
    return 0;
}

void debug_log_start(const instance *inst, int pid)
{
    const char *wrapper = inst->sup->opts.debug_wrapper;
    char msg[700];
    snprintf(msg, sizeof(msg), "instance %s started UNCONFINED for debugging (pid %d%s%s): %s",
             inst->id, pid, wrapper ? ", under " : "", wrapper ? wrapper : "", WHAT_IS_OFF);
    json_t *more = json_pack("{s:i,s:s*}", "pid", pid, "wrapper", wrapper);
    record(inst->m->name, inst->id, "debug_unconfined", more, msg);
    json_decref(more);
}
