/* /api/v1/plugins and /api/v1/instances */
#include "core/log.h"
#include "core/util.h"
#include "plugin/instances_def.h"
#include "plugin/registry.h"
#include "plugin/supervisor.h"
#include "api_priv.h"

#include <agenthost/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_TAIL_MAX_LINES 10000
#define LOG_TAIL_MAX_BYTES (4u << 20)

/* What this family uses. */
typedef struct inst_ctx {
    registry *reg;
    supervisor *sup;
    store *st;
    secrets *sec;
    char logs_dir[1024];
} inst_ctx;

/* 404 for an unknown instance; returns NULL after answering. */
static instance *find_instance(inst_ctx *x, http_req *req, const route_params *p)
{
    const char *id = route_param(p, "id");
    instance *inst = id ? supervisor_find(x->sup, id) : NULL;
    if (!inst) api_respond_not_found(req, "instance", id);
    return inst;
}

static json_t *plugin_json(const manifest *m)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "name", m->name, "version", m->version,
                          "description", m->description, "path", m->dir);
    json_object_set_new(o, "manifest", json_deep_copy(m->json));
    return o;
}

static void h_plugins(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    inst_ctx *x = ctx;
    json_t *arr = json_array();
    for (size_t i = 0; i < registry_count(x->reg); i++)
        json_array_append_new(arr, plugin_json(registry_at(x->reg, i)));
    http_respond_json(req, 200,
                      json_pack("{s:o,s:O}", "plugins", arr, "errors", registry_errors(x->reg)));
}

static void h_plugin(void *ctx, http_req *req, const route_params *p)
{
    inst_ctx *x = ctx;
    const manifest *m = registry_find(x->reg, route_param(p, "name"));
    if (!m) {
        http_respond_error(req, 404, "not_found", "no such plugin", NULL);
        return;
    }
    http_respond_json(req, 200, plugin_json(m));
}

/* Reload a plugin's library: every instance of it restarts (gracefully:
 * events it has not settled are delivered again to the new process), and
 * the new process loads the file now at the library's path (replaced by
 * rename, as `agenthost plugin reload` does). The manifest is not
 * reloaded: one that changed on disk is refused (restart the host). */
static void h_plugin_reload(void *ctx, http_req *req, const route_params *p)
{
    inst_ctx *x = ctx;
    const char *name = route_param(p, "name");
    const manifest *m = registry_find(x->reg, name);
    if (!m) {
        api_respond_not_found(req, "plugin", name);
        return;
    }
    manifest *now;
    char err[600];
    if (manifest_load(m->path, true, &now, err, sizeof(err)) < 0) {
        http_respond_error(req, 409, "conflict", err, NULL);
        return;
    }
    bool same = json_equal(now->json, m->json);
    manifest_free(now);
    if (!same) {
        http_respond_error(req, 409, "manifest_changed",
                           "the manifest changed on disk since the host loaded it: restart the "
                           "host to load it (a reload replaces the library only)",
                           NULL);
        return;
    }
    json_t *done = json_array(), *failed = json_object();
    for (size_t i = 0; i < supervisor_count(x->sup); i++) {
        instance *inst = supervisor_at(x->sup, i);
        if (instance_manifest(inst) != m) continue;
        if (instance_restart(inst, err, sizeof(err)) < 0)
            json_object_set_new(failed, instance_id(inst), json_string(err));
        else
            json_array_append_new(done, json_string(instance_id(inst)));
    }
    log_info("api", "plugin %s reloaded: %zu instances restarted", m->name, json_array_size(done));
    http_respond_json(req, 202,
                      json_pack("{s:s,s:s,s:o,s:o}", "plugin", m->name, "library", m->library,
                                "restarted", done, "failed", failed));
}

static void h_instances(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    inst_ctx *x = ctx;
    json_t *arr = json_array();
    for (size_t i = 0; i < supervisor_count(x->sup); i++)
        json_array_append_new(arr, instance_status(supervisor_at(x->sup, i)));
    http_respond_json(req, 200, json_pack("{s:o}", "instances", arr));
}

static void h_instance(void *ctx, http_req *req, const route_params *p)
{
    instance *inst = find_instance(ctx, req, p);
    if (inst) http_respond_json(req, 200, instance_status(inst));
}

typedef int (*inst_op)(instance *, char *, size_t);

static void operate(void *ctx, http_req *req, const route_params *p, inst_op op)
{
    instance *inst = find_instance(ctx, req, p);
    if (!inst) return;
    char err[300];
    if (op(inst, err, sizeof(err)) < 0) {
        http_respond_error(req, 409, "conflict", err, NULL);
        return;
    }
    http_respond_json(req, 202, instance_status(inst));
}

static void h_instance_restart(void *ctx, http_req *req, const route_params *p)
{
    operate(ctx, req, p, instance_restart);
}

static void h_instance_enable(void *ctx, http_req *req, const route_params *p)
{
    operate(ctx, req, p, instance_enable);
}

static void h_instance_disable(void *ctx, http_req *req, const route_params *p)
{
    operate(ctx, req, p, instance_disable);
}

/* ---- instances made and removed over the API (instances_def.h) ------------------------ */

static int status_of(int rc)
{
    switch (rc) {
    case AH_EINVAL:
        return 422;
    case AH_EEXIST:
        return 409;
    case AH_ENOTFOUND:
        return 404;
    case AH_EDENIED:
        return 409;
    default:
        return 503;
    }
}

static const char *code_of(int rc)
{
    switch (rc) {
    case AH_EINVAL:
        return "invalid";
    case AH_EEXIST:
        return "exists";
    case AH_ENOTFOUND:
        return "not_found";
    case AH_EDENIED:
        return "conflict";
    default:
        return "unavailable";
    }
}

static void created(void *ud, int status, const char *field, const char *message, instance *inst)
{
    http_req *req = ud;
    if (status) {
        http_respond_error(req, status_of(status), code_of(status), message, field);
        return;
    }
    http_respond_json(req, 201, instance_status(inst));
}

/* Create and start an instance of an installed plugin; its secrets are
 * sealed in the secrets store and never answered back. */
static void h_instance_create(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    inst_ctx *x = ctx;
    json_t *body;
    if (api_body_json(req, &body, NULL) < 0) return;
    char field[160], err[700];
    int rc = instances_def_create(x->sup, x->st, x->sec, x->reg, body, created, req, field,
                                  sizeof(field), err, sizeof(err));
    json_decref(body);
    if (rc) http_respond_error(req, status_of(rc), code_of(rc), err, field[0] ? field : NULL);
}

static void removed(void *ud, int status, const char *field, const char *message, instance *inst)
{
    (void)inst;
    http_req *req = ud;
    if (status)
        http_respond_error(req, status_of(status), code_of(status), message, field);
    else
        http_respond(req, 204, NULL, "", 0, NULL);
}

/* Stop and remove an instance made over the API, with its KV and secrets. */
static void h_instance_delete(void *ctx, http_req *req, const route_params *p)
{
    inst_ctx *x = ctx;
    const char *id = route_param(p, "id");
    char err[300];
    int rc = instances_def_remove(x->sup, x->st, id, removed, req, err, sizeof(err));
    if (rc == AH_ENOTFOUND)
        api_respond_not_found(req, "instance", id);
    else if (rc)
        http_respond_error(req, status_of(rc), code_of(rc), err, NULL);
}

static void h_instance_log(void *ctx, http_req *req, const route_params *p)
{
    inst_ctx *x = ctx;
    instance *inst = find_instance(ctx, req, p);
    if (!inst) return;
    long lines = 100;
    const char *q = http_req_query(req, "lines");
    if (q) {
        char *end;
        lines = strtol(q, &end, 10);
        if (*end || lines < 1 || lines > LOG_TAIL_MAX_LINES) {
            http_respond_error(req, 422, "invalid_query", "lines must be 1 to 10000", "lines");
            return;
        }
    }
    char path[1200];
    snprintf(path, sizeof(path), "%s/plugins/%s.log", x->logs_dir, instance_id(inst));
    json_t *out = json_array();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        struct stat st;
        fstat(fd, &st);
        size_t want =
            st.st_size > (off_t)LOG_TAIL_MAX_BYTES ? LOG_TAIL_MAX_BYTES : (size_t)st.st_size;
        char *buf = malloc(want + 1);
        ssize_t n = buf ? pread(fd, buf, want, st.st_size - (off_t)want) : -1;
        close(fd);
        if (n > 0) {
            buf[n] = 0;
            /* Walk back `lines` newlines from the end. */
            char *end = buf + n;
            if (end > buf && end[-1] == '\n') *--end = 0;
            char *start = end;
            long count = 0;
            while (start > buf && count < lines) {
                start--;
                if (*start == '\n') {
                    count++;
                    if (count == lines) {
                        start++;
                        break;
                    }
                }
            }
            for (char *line = start; line && *line;) {
                char *nl = strchr(line, '\n');
                if (nl) *nl = 0;
                json_t *rec = json_loads(line, 0, NULL);
                json_array_append_new(out, rec ? rec : json_pack("{s:s}", "msg", line));
                line = nl ? nl + 1 : NULL;
            }
        }
        free(buf);
    }
    http_respond_json(req, 200,
                      json_pack("{s:s,s:o}", "instance", instance_id(inst), "lines", out));
}

typedef struct call_ctx {
    http_req *req;
    bool sse; /* answering as Server-Sent Events */
} call_ctx;

/* One SSE event: "event: NAME\ndata: JSON\n\n" (o stolen). */
static void sse_send(http_req *req, const char *event, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(o);
    char *frame = NULL;
    int n = asprintf(&frame, "event: %s\ndata: %s\n\n", event, s ? s : "null");
    if (n > 0) http_stream_write(req, frame, (size_t)n);
    free(frame);
    free(s);
}

static void call_partial(void *ud, const json_t *partial)
{
    call_ctx *c = ud;
    sse_send(c->req, "partial", json_incref((json_t *)partial));
}

static void call_done(void *ud, const json_t *result, const char *err_code, const char *message)
{
    call_ctx *c = ud;
    if (c->sse) {
        if (!err_code)
            sse_send(c->req, "result", json_pack("{s:O}", "result", result));
        else
            sse_send(c->req, "error",
                     json_pack("{s:{s:s,s:s}}", "error", "code", err_code, "message",
                               message ? message : ""));
        http_stream_end(c->req);
        free(c);
        return;
    }
    if (!err_code) {
        http_respond_json(c->req, 200, json_pack("{s:O}", "result", result));
    } else {
        int status = !strcmp(err_code, "instance_crashed") || !strcmp(err_code, "instance_stopped")
                         ? 503
                         : 502;
        http_respond_error(c->req, status, err_code, message, NULL);
    }
    free(c);
}

static void h_instance_call(void *ctx, http_req *req, const route_params *p)
{
    instance *inst = find_instance(ctx, req, p);
    if (!inst) return;
    json_t *args;
    if (api_body_json(req, &args, json_object()) < 0) return;
    uint32_t timeout = 0;
    const char *q = http_req_query(req, "timeout_ms");
    if (q) {
        char *end;
        long t = strtol(q, &end, 10);
        if (*end || t < 1 || t > 3600000) {
            json_decref(args);
            http_respond_error(req, 422, "invalid_query", "timeout_ms must be 1 to 3600000",
                               "timeout_ms");
            return;
        }
        timeout = (uint32_t)t;
    }
    call_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        json_decref(args);
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return;
    }
    c->req = req;
    /* Accept: text/event-stream: partial results (streamed tokens) as
     * "partial" events as they come, then one "result" or "error" event. */
    const char *accept = http_req_header(req, "Accept");
    c->sse = accept && strstr(accept, "text/event-stream");
    char err[600];
    if (instance_call_streamed(inst, route_param(p, "action"), args, timeout, http_req_id(req),
                               c->sse ? call_partial : NULL, call_done, c, err, sizeof(err)) < 0) {
        free(c);
        json_decref(args);
        char *colon = strchr(err, ':');
        const char *msg = colon ? colon + 2 : err;
        if (colon) *colon = 0;
        if (!strcmp(err, "invalid_args"))
            api_respond_invalid(req, "invalid_args", msg);
        else if (!strcmp(err, "unknown_action"))
            http_respond_error(req, 404, "unknown_action", msg, NULL);
        else if (!strcmp(err, "not_ready"))
            http_respond_error(req, 503, "not_ready", msg, NULL);
        else if (!strcmp(err, "too_large"))
            http_respond_error(req, 413, "payload_too_large", msg, NULL);
        else
            http_respond_error(req, 503, err, msg, NULL);
        return;
    }
    json_decref(args);
    if (c->sse) http_respond_stream(req, 200, "text/event-stream; charset=utf-8", NULL);
}

static const route routes[] = {
    {"GET", "/api/v1/plugins", h_plugins, "plugins:read", "Installed plugins with manifests"},
    {"GET", "/api/v1/plugins/{name}", h_plugin, "plugins:read", "One installed plugin"},
    {"POST", "/api/v1/plugins/{name}/reload", h_plugin_reload, "plugins:manage",
     "Restart a plugin's instances on its replaced library"},
    {"GET", "/api/v1/instances", h_instances, "plugins:read", "Plugin instances and their state"},
    {"POST", "/api/v1/instances", h_instance_create, "plugins:manage",
     "Create and start an instance of an installed plugin"},
    {"GET", "/api/v1/instances/{id}", h_instance, "plugins:read", "One instance"},
    {"DELETE", "/api/v1/instances/{id}", h_instance_delete, "plugins:manage",
     "Stop and remove an instance made over the API (its KV and secrets too)"},
    {"POST", "/api/v1/instances/{id}/restart", h_instance_restart, "plugins:manage",
     "Restart an instance"},
    {"POST", "/api/v1/instances/{id}/enable", h_instance_enable, "plugins:manage",
     "Enable (and start) an instance"},
    {"POST", "/api/v1/instances/{id}/disable", h_instance_disable, "plugins:manage",
     "Disable (and stop) an instance"},
    {"GET", "/api/v1/instances/{id}/log", h_instance_log, "plugins:manage",
     "The tail of the instance's log"},
    {"POST", "/api/v1/instances/{id}/actions/{action}", h_instance_call, "actions:call",
     "Call one of the instance's actions"},
};

int api_instances_routes(api_table *t, const api_deps *deps)
{
    inst_ctx *c = NULL;
    if (deps) {
        if (!(c = calloc(1, sizeof(*c)))) return AH_ENOMEM;
        *c = (inst_ctx){.reg = deps->reg, .sup = deps->sup, .st = deps->st, .sec = deps->sec};
        snprintf(c->logs_dir, sizeof(c->logs_dir), "%s", deps->logs_dir ? deps->logs_dir : ".");
        int rc = api_table_own(t, c, free);
        if (rc) return rc;
    }
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), c);
}
