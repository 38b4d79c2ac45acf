/*
 * instance.c - one process incarnation of a plugin instance: spawning the
 * runner, the IPC channel (strict framing; any violation kills the
 * process), its stderr into logs/plugins/<id>.log, and seccomp violation
 * reports into logs/security.log.
 */
#include "sdk/ipc/chan.h"
#include "sdk/ipc/jsonw.h"
#include "core/log.h"
#include "store/secrets.h"
#include "core/util.h"
#include "storage.h"
#include "storage_backup.h"
#include "supervisor_priv.h"

#include <agenthost/plugin.h>

#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FRAMES_PER_WAKEUP 256

static void log_ctx_of(const instance *inst, log_ctx *c)
{
    c->plugin = inst->m->name;
    c->instance = inst->id;
    c->request_id = NULL;
}

/* request_id: of the API request the line belongs to, or NULL. */
static void plugin_log(instance *inst, log_level lvl, const char *stream, const char *msg,
                       const char *request_id)
{
    char kind[96];
    log_ctx c;
    log_ctx_of(inst, &c);
    c.request_id = request_id;
    snprintf(kind, sizeof(kind), "plugins/%s", inst->id);
    json_t *f = json_pack("{s:s}", "stream", stream);
    log_write(kind, lvl, "plugin", &c, f, "%s", msg);
    json_decref(f);
}

/* ---- handles ------------------------------------------------------------ */

static void on_handle_closed(uv_handle_t *h)
{
    run *r = h->data;
    if (--r->open_handles > 0) return;
    proc_close_fds(&r->proc);
    for (out_frame *f = r->outq, *next; f; f = next) {
        next = f->next;
        free(f);
    }
    ah_asm_free(&r->in);
    free(r->frame);
    free(r);
}

static void close_run_handles(run *r)
{
    uv_handle_t *hs[] = {(uv_handle_t *)&r->ipc_w, (uv_handle_t *)&r->log_w,
                         (uv_handle_t *)&r->viol_w, (uv_handle_t *)&r->pid_w};
    for (size_t i = 0; i < 4; i++)
        if (!uv_is_closing(hs[i])) uv_close(hs[i], on_handle_closed);
}

void run_kill(run *r, const char *reason)
{
    if (r->dead) return;
    if (!r->kill_reason[0] && reason)
        snprintf(r->kill_reason, sizeof(r->kill_reason), "%s", reason);
    if (r->proc.pid > 0) kill(r->proc.pid, SIGKILL);
}

static void violation(run *r, const char *why)
{
    instance *inst = r->inst;
    log_ctx c;
    log_ctx_of(inst, &c);
    json_t *f = json_pack("{s:s,s:s}", "event", "protocol_violation", "reason", why);
    log_write("security", LOG_WARN, "supervisor", &c, f, "instance %s broke the IPC protocol: %s",
              inst->id, why);
    json_decref(f);
    char reason[300];
    snprintf(reason, sizeof(reason), "protocol violation: %s", why);
    run_kill(r, reason);
}

/* ---- sending ------------------------------------------------------------ */

static void on_ipc(uv_poll_t *h, int status, int events);
static void drain_log(run *r);

static void watch(run *r)
{
    int ev = UV_READABLE | (r->outq ? UV_WRITABLE : 0);
    if (!r->dead && !uv_is_closing((uv_handle_t *)&r->ipc_w)) uv_poll_start(&r->ipc_w, ev, on_ipc);
    r->watching_write = r->outq != NULL;
}

static int flush_outq(run *r)
{
    while (r->outq) {
        out_frame *f = r->outq;
        if (ah_chan_send(r->proc.ipc_fd, f->data, f->len, MSG_DONTWAIT) < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            return -1;
        }
        r->outq = f->next;
        if (!r->outq) r->outq_tail = NULL;
        r->outq_bytes -= f->len;
        free(f);
    }
    if ((r->outq != NULL) != r->watching_write) watch(r);
    return 0;
}

static int enqueue(run *r, const uint8_t *frame, size_t len)
{
    out_frame *f = malloc(sizeof(*f) + len);
    if (!f) return -1;
    f->next = NULL;
    f->len = len;
    memcpy(f->data, frame, len);
    if (r->outq_tail)
        r->outq_tail->next = f;
    else
        r->outq = f;
    r->outq_tail = f;
    r->outq_bytes += len;
    return 0;
}

int run_send(run *r, uint16_t type, uint64_t id, json_t *body)
{
    if (r->dead) {
        json_decref(body);
        return AH_ECLOSED;
    }
    size_t len = 0;
    char *s = body ? ah_json_dumps(body, &len) : NULL; /* json_dumps's bytes, faster */
    json_decref(body);
    int rc = run_send_text(r, type, id, s, len);
    free(s);
    return rc;
}

int run_send_text(run *r, uint16_t type, uint64_t id, const char *s, size_t len)
{
    if (r->dead) return AH_ECLOSED;
    size_t off = 0;
    if (len > r->in.max) return AH_ETOOBIG;
    /* A small message needs a small frame buffer (most are far below 64 KiB). */
    size_t cap = AH_FRAME_HDR + (len < AH_FRAME_PAYLOAD_MAX ? len : AH_FRAME_PAYLOAD_MAX);
    uint8_t *buf = r->frame ? malloc(cap) : NULL;
    if (!buf) return AH_ENOMEM;
    int rc = 0;
    do {
        size_t n = ah_frame_next(buf, type, id, s, len, &off);
        if (!r->outq && ah_chan_send(r->proc.ipc_fd, buf, n, MSG_DONTWAIT) == 0) continue;
        if (!r->outq && errno != EAGAIN && errno != EWOULDBLOCK) {
            rc = AH_EIO; /* the process is going away; its exit is handled */
            break;
        }
        if (enqueue(r, buf, n) < 0) {
            rc = AH_ENOMEM;
            break;
        }
    } while (off < len);
    free(buf);
    if (r->outq && !r->watching_write) watch(r);
    if (r->outq_bytes > OUTQ_MAX_BYTES)
        run_kill(r, "stalled: not reading its channel (64 MiB queued)");
    return rc;
}

/* ---- receiving ------------------------------------------------------------ */

/* The runner's report comes from a process plugin code has run in: the
 * count of seccomp filters is taken from the kernel instead, before the
 * instance is sent any config or secret. The plugin process holds the
 * host's own filters (inherited), the first and the second. */
static int verify_filters(run *r, json_t *msg)
{
    instance *inst = r->inst;
    json_t *conf = json_copy(json_object_get(msg, "confinement"));
    if (!conf) conf = json_object();
    if (!inst->sup->opts.no_sandbox && !debug_target(inst)) {
        int own = inst->sup->own_filters;
        int have = proc_seccomp_filters_tree(r->proc.pid);
        if (own < 0 || have < own + 2) {
            log_ctx c;
            log_ctx_of(inst, &c);
            json_t *f = json_pack("{s:s,s:i,s:i}", "event", "seccomp_missing", "filters",
                                  have < 0 ? -1 : have - own, "expected", 2);
            log_write("security", LOG_WARN, "sandbox", &c, f,
                      "instance %s killed: the kernel reports %d of its 2 seccomp filters",
                      inst->id, have < 0 || own < 0 ? 0 : have - own);
            json_decref(f);
            json_decref(conf);
            run_kill(r, own < 0 || have < 0
                            ? "sandbox not verified: cannot read the seccomp filters of the process"
                            : "sandbox not in force: the second seccomp filter is missing");
            return -1;
        }
        json_object_set_new(conf, "seccomp_filters", json_integer(have - own));
    }
    json_decref(inst->confinement);
    inst->confinement = conf;
    return 0;
}

static void handle_hello(run *r, json_t *msg)
{
    instance *inst = r->inst;
    const manifest *m = inst->m;
    const char *err = json_string_value(json_object_get(msg, "error"));
    int major = (int)json_integer_value(json_object_get(msg, "abi_major"));
    int minor = (int)json_integer_value(json_object_get(msg, "abi_minor"));
    const char *name = json_string_value(json_object_get(msg, "name"));
    char why[400] = "";

    bool abi_differs = major != AH_ABI_MAJOR || minor > AH_ABI_MINOR;
    if (err && json_object_get(msg, "abi_major") && abi_differs)
        snprintf(why, sizeof(why),
                 "plugin %s is built for ABI %d.%d; this host runs ABI %d.%d (%s)", m->name, major,
                 minor, AH_ABI_MAJOR, AH_ABI_MINOR, err);
    else if (err)
        snprintf(why, sizeof(why), "plugin %s cannot be loaded: %s", m->name, err);
    else if (abi_differs)
        snprintf(why, sizeof(why), "plugin %s is built for ABI %d.%d; this host runs ABI %d.%d",
                 m->name, major, minor, AH_ABI_MAJOR, AH_ABI_MINOR);
    else if (!name || strcmp(name, m->name) != 0)
        snprintf(why, sizeof(why), "library %s declares plugin \"%s\" but the manifest says \"%s\"",
                 m->library, name ? name : "", m->name);
    else if (major != m->abi_major || minor != m->abi_minor)
        snprintf(why, sizeof(why),
                 "manifest %s declares ABI %d.%d but the library is built for %d.%d", m->path,
                 m->abi_major, m->abi_minor, major, minor);
    if (why[0]) {
        inst->permanent_failure = true;
        run_kill(r, why);
        return;
    }
    if (verify_filters(r, msg) < 0) return;
    sup_on_hello_ok(inst);
    if (r->kill_reason[0]) return; /* its storage quota could not be applied */

    /* INIT: config, the declared secrets that are set, typed exports. */
    json_t *secrets_obj = json_object();
    size_t i;
    const json_t *sdecl;
    json_array_foreach(manifest_secrets(m), i, sdecl)
    {
        const char *sname = json_string_value(json_object_get(sdecl, "name"));
        char *val = NULL;
        size_t vlen = 0;
        int rc = inst->sup->sec ? secrets_get(inst->sup->sec, inst->id, sname, &val, &vlen)
                                : AH_ENOTFOUND;
        if (rc == 0) {
            json_t *js = json_stringn(val, vlen);
            if (js) json_object_set_new(secrets_obj, sname, js);
            secrets_free_value(val, vlen);
        } else if (rc != AH_ENOTFOUND) {
            /* Never run without a secret that is set but cannot be read. */
            if (rc == AH_EIO)
                snprintf(why, sizeof(why),
                         "secret %s cannot be opened with the master key (damaged or altered in "
                         "the store): set it again (agenthost secret set %s %s) and restart the "
                         "instance",
                         sname, inst->id, sname);
            else
                snprintf(why, sizeof(why), "secret %s cannot be read: %s", sname, ah_strerror(rc));
            inst->permanent_failure = rc == AH_EIO;
            json_decref(secrets_obj);
            run_kill(r, why);
            return;
        }
    }
    json_t *exports = json_array();
    const json_t *a;
    json_array_foreach(manifest_actions(m), i, a)
    {
        const json_t *ex = json_object_get(a, "export");
        if (ex)
            json_array_append_new(exports,
                                  json_pack("{s:O,s:O,s:O}", "name", json_object_get(a, "name"),
                                            "symbol", json_object_get(ex, "symbol"), "signature",
                                            json_object_get(ex, "signature")));
    }
    json_t *init = json_pack("{s:s,s:O,s:o,s:o}", "instance", inst->id, "config", inst->config,
                             "secrets", secrets_obj, "exports", exports);
    r->init_id = ++r->next_id;
    run_send(r, AH_MSG_INIT, r->init_id, init);
}

static void handle_result(run *r, uint64_t id, json_t *msg)
{
    instance *inst = r->inst;
    if (id && id == r->init_id) {
        r->init_id = 0;
        const json_t *err = json_object_get(msg, "error");
        if (err) {
            char why[400];
            snprintf(why, sizeof(why), "init failed: %s",
                     json_string_value(json_object_get(err, "message")) ?: "unknown error");
            run_kill(r, why);
            return;
        }
        sup_on_ready(inst);
        return;
    }
    if (id && id == r->ping_id) {
        r->ping_id = 0;
        if (!json_is_true(json_object_get(msg, "healthy")))
            snprintf(inst->last_error, sizeof(inst->last_error), "health check failed (%d)",
                     (int)json_integer_value(json_object_get(msg, "code")));
        return;
    }
    if (!ah_idmap_get(&inst->calls, id)) {
        violation(r, "result for a request the host never made");
        return;
    }
    sup_on_call_result(inst, id, msg);
}

#define LOG_FIELDS_MAX 16384

/* Channels a plugin may write into besides its own log: llm.log,
 * crm_integration.log (the amoCRM plugin's calls, issue 19) and
 * rag_integration.log (the rag plugin's queries, issue 18). */
static bool shared_channel(const char *ch)
{
    return ch &&
           (!strcmp(ch, "llm") || !strcmp(ch, "crm_integration") || !strcmp(ch, "rag_integration"));
}

static void handle_log(run *r, json_t *msg)
{
    const char *text = json_string_value(json_object_get(msg, "msg"));
    int level = (int)json_integer_value(json_object_get(msg, "level"));
    const char *channel = json_string_value(json_object_get(msg, "channel"));
    json_t *fields = json_object_get(msg, "fields");
    if (!text) return;
    /* A line logged while serving a call carries the call's id. */
    const char *rid =
        instance_request_id_of(r->inst, (uint64_t)json_integer_value(json_object_get(msg, "call")));
    log_level lv = level <= 0   ? LOG_DEBUG
                   : level == 1 ? LOG_INFO
                   : level == 2 ? LOG_WARN
                                : LOG_ERROR;
    if (!shared_channel(channel)) {
        plugin_log(r->inst, lv, "sdk", text, rid);
        return;
    }
    /* The host's context fields win over the plugin's; fields are capped. */
    json_t *f = json_is_object(fields) ? json_deep_copy(fields) : json_object();
    char *dump = json_dumps(f, JSON_COMPACT);
    if (dump && strlen(dump) > LOG_FIELDS_MAX) {
        json_decref(f);
        f = json_pack("{s:b}", "fields_truncated", 1);
    }
    free(dump);
    static const char *const reserved[] = {"time",   "level",    "component", "msg",
                                           "plugin", "instance", "request_id"};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        json_object_del(f, reserved[i]);
    log_ctx c;
    log_ctx_of(r->inst, &c);
    c.request_id = rid;
    log_write(channel, lv, "plugin", &c, f, "%s", text);
    json_decref(f);
}

static void on_message(run *r, const ah_msg *m)
{
    json_error_t je;
    json_t *msg = m->len ? json_loadb((const char *)m->body, m->len, JSON_REJECT_DUPLICATES, &je)
                         : json_object();
    if (!msg || !json_is_object(msg)) {
        json_decref(msg);
        violation(r, "message body is not a JSON object");
        return;
    }
    instance *inst = r->inst;
    bool hello_done = r->hello_seen;
    switch (m->type) {
    case AH_MSG_HELLO:
        /* Once per process. An instance stopped while starting gets its
         * first HELLO after the SHUTDOWN was sent: not a violation. */
        if (r->hello_seen)
            violation(r, "second hello");
        else if ((r->hello_seen = true) && inst->state == INST_STARTING)
            handle_hello(r, msg);
        break;
    case AH_MSG_RESULT:
        handle_result(r, m->id, msg);
        break;
    case AH_MSG_LOG:
        handle_log(r, msg);
        break;
    case AH_MSG_PARTIAL:
        if (!hello_done)
            violation(r, "partial before hello");
        else
            sup_on_call_partial(inst, m->id, msg);
        break;
    case AH_MSG_PUBLISH:
    case AH_MSG_KV_GET:
    case AH_MSG_KV_PUT:
    case AH_MSG_KV_DEL:
    case AH_MSG_KV_SCAN:
    case AH_MSG_KV_INCR:
    case AH_MSG_KV_MANY:
    case AH_MSG_HTTP:
    case AH_MSG_CALL_OUT:
    case AH_MSG_COMMIT:
    case AH_MSG_ACK:
    case AH_MSG_NACK:
    case AH_MSG_METRIC:
        if (!hello_done)
            violation(r, "request before hello");
        else
            sup_dispatch_request(inst, r, m->type, m->id, msg);
        break;
    default:
        violation(r, "message type a plugin may not send");
        break;
    }
    json_decref(msg);
}

static void read_frames(run *r)
{
    for (int i = 0; i < FRAMES_PER_WAKEUP && !r->dead && !r->kill_reason[0]; i++) {
        const char *why = NULL;
        ssize_t n = ah_chan_recv(r->proc.ipc_fd, r->frame, &why);
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n == 0 || n == -1) {
            /* The plugin closed its end or the socket failed: it is exiting;
             * the pidfd reports the exit. Stop reading. */
            uv_poll_stop(&r->ipc_w);
            return;
        }
        ah_frame_hdr h;
        ah_msg m;
        if (n == -2 || ah_frame_parse(r->frame, (size_t)n, &h, &why) < 0) {
            violation(r, why);
            return;
        }
        int rc = ah_asm_feed(&r->in, &h, r->frame, &m, &why);
        if (rc < 0) {
            violation(r, why);
            return;
        }
        if (rc == 1) on_message(r, &m);
    }
}

static void on_ipc(uv_poll_t *h, int status, int events)
{
    run *r = h->data;
    if (status < 0) {
        uv_poll_stop(h);
        return;
    }
    if (events & UV_WRITABLE) {
        if (flush_outq(r) < 0) run_kill(r, NULL);
    }
    if (events & UV_READABLE) {
        /* What the plugin wrote to stderr before sending a frame is in the
         * pipe already: log it first, so its log keeps the plugin's order. */
        drain_log(r);
        read_frames(r);
    }
}

/* ---- logs and violations ------------------------------------------------- */

static void flush_log_line(run *r)
{
    if (!r->loglen) return;
    r->logbuf[r->loglen] = 0;
    /* The logger masks secrets on these raw bytes, then makes them UTF-8
     * (secret values hold no NUL: secrets_set refuses them). */
    for (size_t i = 0; i < r->loglen; i++)
        if (!r->logbuf[i]) r->logbuf[i] = '?';
    plugin_log(r->inst, LOG_INFO, "stderr", r->logbuf, NULL);
    r->loglen = 0;
}

static void drain_log(run *r)
{
    char buf[4096];
    for (int rounds = 0; rounds < 64; rounds++) {
        ssize_t n = read(r->proc.log_fd, buf, sizeof(buf));
        if (n <= 0) return;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                flush_log_line(r);
                continue;
            }
            r->logbuf[r->loglen++] = buf[i];
            if (r->loglen == LOG_LINE_MAX - 1) flush_log_line(r);
        }
    }
}

static void on_log(uv_poll_t *h, int status, int events)
{
    (void)events;
    run *r = h->data;
    if (status < 0) {
        uv_poll_stop(h);
        return;
    }
    drain_log(r);
}

/* One line in logs/security.log: the instance, the call by name, the time
 * (every log line has it); and the reason the run is killed. */
static void log_violation(run *r, int32_t nr, uint32_t arch, const char *note)
{
    char *name = nr >= 0 ? seccomp_syscall_resolve_num_arch(arch, nr) : NULL;
    const char *shown = name ? name : "unknown";
    instance *inst = r->inst;
    log_ctx c;
    log_ctx_of(inst, &c);
    json_t *f = json_pack("{s:s,s:s,s:i,s:I}", "event", "seccomp_violation", "syscall", shown, "nr",
                          nr, "arch", (json_int_t)arch);
    if (note) json_object_set_new(f, "note", json_string(note));
    log_write("security", LOG_WARN, "sandbox", &c, f,
              "instance %s killed: forbidden system call %s", inst->id, shown);
    json_decref(f);
    snprintf(r->kill_reason, sizeof(r->kill_reason), "seccomp violation: %s%s%s", shown,
             note ? "; " : "", note ? note : "");
    free(name);
}

static void drain_violations(run *r)
{
    struct {
        int32_t nr;
        uint32_t arch;
    } rec;
    for (int i = 0; i < 16; i++) {
        ssize_t n = read(r->proc.viol_fd, &rec, sizeof(rec));
        if (n != (ssize_t)sizeof(rec)) return;
        r->violation_reported = true;
        log_violation(r, rec.nr, rec.arch, NULL);
    }
}

static void on_viol(uv_poll_t *h, int status, int events)
{
    (void)events;
    run *r = h->data;
    if (status < 0) {
        uv_poll_stop(h);
        return;
    }
    drain_violations(r);
    if (r->kill_reason[0]) run_kill(r, NULL);
    uv_poll_stop(h); /* one report is all a runner sends before exiting */
}

static void on_pid(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    run *r = h->data;
    int wstatus = 0;
    if (proc_reap(&r->proc, &wstatus) == 0) return; /* spurious */
    r->dead = true;
    drain_violations(r);
    /* A plugin that blocked SIGSYS is killed by it without a report. */
    if (!r->violation_reported && WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGSYS)
        log_violation(r, -1, 0, "killed by SIGSYS without a report (SIGSYS blocked or reset)");
    drain_log(r);
    flush_log_line(r);
    instance *inst = r->inst;
    char reason[300];
    snprintf(reason, sizeof(reason), "%s", r->kill_reason);
    close_run_handles(r);
    if (inst->cur == r) inst->cur = NULL;
    if (inst->m->storage_max_mb) plugin_storage_forget_pid(inst->sup->opts.data_dir, inst->id);
    sup_on_exit(inst, wstatus, reason[0] ? reason : NULL);
}

/* ---- starting ------------------------------------------------------------ */

int run_start(instance *inst, char *err, size_t errlen)
{
    supervisor *s = inst->sup;
    const manifest *m = inst->m;
    char mem[16], files[16], cpu[16], hostpid[16], smax[16], sdir[4096];
    snprintf(mem, sizeof(mem), "%u", inst->limits.memory_mb);
    snprintf(files, sizeof(files), "%u", inst->limits.open_files);
    snprintf(cpu, sizeof(cpu), "%u", inst->limits.cpu_s);
    snprintf(hostpid, sizeof(hostpid), "%d", (int)getpid());
    bool debug = debug_target(inst);
    debug_cmd wrap = {.argc = 0};
    if (debug && debug_wrapper_parse(s->opts.debug_wrapper, &wrap, err, errlen) != 0) return AH_EIO;
    const char *argv[32 + DEBUG_WRAPPER_MAX];
    int a = 0;
    for (int i = 0; i < wrap.argc; i++)
        argv[a++] = wrap.argv[i];
    argv[a++] = s->opts.runner;
    argv[a++] = "--library";
    argv[a++] = m->library;
    argv[a++] = "--plugin";
    argv[a++] = m->name;
    argv[a++] = "--instance";
    argv[a++] = inst->id;
    argv[a++] = "--memory-mb";
    argv[a++] = mem;
    argv[a++] = "--open-files";
    argv[a++] = files;
    argv[a++] = "--cpu-s";
    argv[a++] = cpu;
    if (!wrap.argc) { /* under a debugger the runner's parent is the debugger */
        argv[a++] = "--host-pid";
        argv[a++] = hostpid;
    }
    if (m->storage_max_mb) {
        if (plugin_storage_prepare(s->opts.data_dir, inst->id, sdir, sizeof(sdir), err, errlen) < 0)
            return AH_EIO;
        snprintf(smax, sizeof(smax), "%u", m->storage_max_mb);
        argv[a++] = "--storage-dir";
        argv[a++] = sdir;
        argv[a++] = "--storage-max-mb";
        argv[a++] = smax;
    }
    if (s->opts.no_sandbox) argv[a++] = "--no-sandbox";
    if (debug) argv[a++] = "--debug-unconfined";
    argv[a] = NULL;

    char tz[128] = "TZ=UTC";
    const char *htz = getenv("TZ");
    if (htz && strlen(htz) < 100) snprintf(tz, sizeof(tz), "TZ=%s", htz);
    const char *envp[] = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", tz,
#ifdef AH_SANITIZE
                          "UBSAN_OPTIONS=print_stacktrace=0:halt_on_error=1:symbolize=0",
#endif
                          NULL};
    proc_spec spec = {
        .runner = wrap.argc ? wrap.program : s->opts.runner, .argv = argv, .envp = envp};

    run *r = calloc(1, sizeof(*r));
    uint8_t *frame = malloc(AH_FRAME_MAX);
    if (!r || !frame) {
        free(r);
        free(frame);
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    r->frame = frame;
    if (proc_spawn(&spec, &r->proc) < 0) {
        snprintf(err, errlen, "cannot start %s: %s", s->opts.runner, strerror(errno));
        free(frame);
        free(r);
        return AH_EIO;
    }
    r->inst = inst;
    r->gen = ++inst->gen;
    ah_asm_init(&r->in, AH_MSG_MAX_DEFAULT);
    uint64_t now = ah_mono_ms();
    uint32_t hs = inst->limits.stall_ms < 2000 ? 2000 : inst->limits.stall_ms;
    r->handshake_deadline_ms = now + hs;
    uv_loop_t *uv = loop_uv(s->loop);
    uv_poll_t *ws[] = {&r->ipc_w, &r->log_w, &r->viol_w, &r->pid_w};
    int fds[] = {r->proc.ipc_fd, r->proc.log_fd, r->proc.viol_fd, r->proc.pidfd};
    uv_poll_cb cbs[] = {on_ipc, on_log, on_viol, on_pid};
    for (int i = 0; i < 4; i++) {
        uv_poll_init(uv, ws[i], fds[i]);
        ws[i]->data = r;
        r->open_handles++;
        uv_poll_start(ws[i], UV_READABLE, cbs[i]);
    }
    inst->cur = r;
    inst->pid = r->proc.pid;
    inst->started_at_ms = ah_now_ms();
    /* Where `agenthost backup` finds the processes to pause (ADR 0055). */
    if (m->storage_max_mb && plugin_storage_note_pid(s->opts.data_dir, inst->id, inst->pid) < 0)
        log_error("host", "instance %s: writing its pid file for backups failed: %s", inst->id,
                  strerror(errno));
    if (debug) debug_log_start(inst, r->proc.pid);
    return 0;
}

void run_check_deadlines(run *r, uint64_t now)
{
    instance *inst = r->inst;
    char why[200];
    if (r->dead || r->kill_reason[0]) return;
    if (debug_target(inst)) return; /* a debugger may hold it at a breakpoint */
    if (inst->state == INST_STARTING && now > r->handshake_deadline_ms) {
        run_kill(r, "stalled: handshake not completed in time");
        return;
    }
    if (inst->state != INST_READY) return;
    if (r->ping_id && now > r->ping_deadline_ms) {
        snprintf(why, sizeof(why), "stalled: ping unanswered after %u ms", inst->limits.stall_ms);
        run_kill(r, why);
        return;
    }
    if (!r->ping_id && now >= r->next_ping_ms) {
        r->ping_id = ++r->next_id;
        r->ping_deadline_ms = now + inst->limits.stall_ms;
        uint32_t every = inst->sup->opts.ping_interval_ms;
        r->next_ping_ms = now + every;
        run_send(r, AH_MSG_PING, r->ping_id, NULL);
    }
    size_t pos = 0;
    uint64_t id;
    void *v;
    while (ah_idmap_next(&inst->calls, &pos, &id, &v)) {
        pending_call *pc = v;
        if (now > pc->deadline_ms) {
            snprintf(why, sizeof(why), "stalled: call %s unanswered after %u ms", pc->action,
                     pc->timeout_ms);
            run_kill(r, why);
            return;
        }
    }
}
