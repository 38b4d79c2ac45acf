/*
 * sandbox.c - the order of the confinement steps (sandbox.h) and the
 * report of what was applied.
 */
#include "policy.h"
#include "sandbox_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAX_FALLBACKS 8

static struct {
    bool enabled, uid_drop;
    unsigned uid, gid;
    uint32_t as_mb, nofile, cpu_s;
    bool ns_user, ns_pid, ns_net, ns_ipc, ns_mount;
    int landlock;
    bool storage; /* private storage granted */
    char storage_path[4096];
    uint32_t storage_max_mb;
    int filters;
    int viol_fd;
    uint64_t cookie;
    int own_pid;
    const void *second; /* the sealed program of the second filter */
    char fallbacks[MAX_FALLBACKS][200];
    int nfallbacks;
} S;

/* ---- paths ---------------------------------------------------------------- */

int sb_paths_add(sb_paths *p, const char *path, bool is_dir)
{
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->v[i], path)) return 0;
    if (p->n == SB_MAX_PATHS || !(p->v[p->n] = strdup(path))) return -1;
    p->is_dir[p->n++] = is_dir;
    return 0;
}

void sb_paths_free(sb_paths *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i]);
    p->n = 0;
}

/* ---- report ----------------------------------------------------------------- */

static void fallback(const char *why)
{
    if (S.nfallbacks < MAX_FALLBACKS)
        snprintf(S.fallbacks[S.nfallbacks++], sizeof(S.fallbacks[0]), "%s", why);
}

/* Append s as a JSON string (quoted, escaped). */
static size_t json_str(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    if (n < cap) out[n++] = '"';
    for (; *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c < 0x20 ? c : '?');
        } else {
            out[n++] = (char)c;
        }
    }
    if (n < cap) out[n++] = '"';
    return n;
}

static const char *yes(bool b)
{
    return b ? "true" : "false";
}

static void report(sandbox_report *rep)
{
    if (!S.enabled) {
        snprintf(rep->json, sizeof(rep->json), "{\"sandbox\":false}");
        return;
    }
    char fb[MAX_FALLBACKS * 220] = "";
    size_t n = 0;
    for (int i = 0; i < S.nfallbacks; i++) {
        if (i) fb[n++] = ',';
        n += json_str(fb + n, sizeof(fb) - n - 1, S.fallbacks[i]);
    }
    fb[n] = 0;
    char st[4200] = "false";
    if (S.storage) {
        size_t k = (size_t)snprintf(st, sizeof(st), "{\"path\":");
        k += json_str(st + k, sizeof(st) - k - 40, S.storage_path);
        snprintf(st + k, sizeof(st) - k, ",\"max_mb\":%u}", S.storage_max_mb);
    }
    snprintf(rep->storage, sizeof(rep->storage), "%s", S.storage ? S.storage_path : "");
    snprintf(rep->json, sizeof(rep->json),
             "{\"sandbox\":true,\"uid\":%u,\"gid\":%u,\"uid_drop\":%s,\"no_new_privs\":true,"
             "\"rlimits\":{\"as_mb\":%u,\"nofile\":%u,\"core\":0,\"cpu_s\":%u,\"nproc\":0},"
             "\"seccomp_filters\":%d,\"namespaces\":{\"user\":%s,\"pid\":%s,\"net\":%s,"
             "\"ipc\":%s,\"mount\":%s},\"landlock\":%d,\"storage\":%s,\"fallbacks\":[%s]}",
             S.uid, S.gid, yes(S.uid_drop), S.as_mb, S.nofile, S.cpu_s, S.filters, yes(S.ns_user),
             yes(S.ns_pid), yes(S.ns_net), yes(S.ns_ipc), yes(S.ns_mount), S.landlock, st, fb);
}

/* ---- the steps ---------------------------------------------------------------- */

#define MANDATORY(cond, what)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            *why = (what);                                                                         \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

/* The namespaces the user namespace makes possible, and the minimal root
 * (planned already when the runner started as root). */
static void enter_namespaces(const sb_paths *paths, const char *storage, bool want_root,
                             bool planned)
{
    char e[200];
    if (!(S.ns_net = ns_unshare(CLONE_NEWNET, e, sizeof(e)) == 0)) fallback(e);
    if (!(S.ns_ipc = ns_unshare(CLONE_NEWIPC, e, sizeof(e)) == 0)) fallback(e);
    if (ns_unshare(CLONE_NEWNS, e, sizeof(e)) < 0) {
        fallback(e);
        rootfs_discard();
    } else if (want_root && !planned && rootfs_plan(paths, storage, e, sizeof(e)) < 0)
        fallback(e);
    else if (want_root && rootfs_enter(e, sizeof(e)) < 0)
        fallback(e);
    else
        S.ns_mount = want_root;
}

/* The runner the host started, once it has cloned the namespaces' init:
 * as unprivileged as the plugin, then a relay of its exit status. */
static _Noreturn void become_relay(const sandbox_opts *o, bool root, pid_t init, int sock)
{
    bool ok = (!root || confine_set_ids(S.uid, S.gid) == 0) &&
              prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 && confine_parent_death(o->parent_pid) == 0 &&
              prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && confine_drop_capabilities() == 0;
    if (!ok) {
        fprintf(stderr, "agenthost-runner: sandbox: confining the relay failed (%s)\n",
                strerror(errno));
        kill(init, SIGKILL);
        _exit(SANDBOX_EXIT_SETUP);
    }
    pidns_relay(init, sock);
}

static int load(scmp_filter_ctx f)
{
    if (!f) return -1;
    int rc = seccomp_load(f);
    seccomp_release(f);
    return rc;
}

int sandbox_prepare(const sandbox_opts *o, sandbox_report *rep, const char **why)
{
    memset(&S, 0, sizeof(S));
    S.viol_fd = o->violation_fd;
    MANDATORY(confine_close_fds(o->ipc_fd, o->violation_fd) == 0,
              "closing inherited file descriptors failed");
    if (o->disabled) {
        report(rep);
        /* Unconfined: the plugin writes to the real directory. No size
         * limit of its own, but the host's quota (ADR 0055) may lower it:
         * a write then fails with EFBIG rather than a signal. */
        snprintf(rep->storage, sizeof(rep->storage), "%s", o->storage_dir ? o->storage_dir : "");
        MANDATORY(!o->storage_dir || signal(SIGXFSZ, SIG_IGN) != SIG_ERR,
                  "ignoring SIGXFSZ for the private storage failed");
        return 0;
    }
    S.enabled = true;
    S.as_mb = o->memory_mb;
    S.nofile = o->open_files;
    S.cpu_s = o->cpu_s;
    MANDATORY(confine_limits(o) == 0, "setting resource limits failed");
    if (o->storage_dir) {
        S.storage_max_mb = o->storage_max_mb;
        /* Past the limit a write fails with EFBIG rather than a signal. */
        struct rlimit fsize = {.rlim_cur = (rlim_t)o->storage_max_mb << 20,
                               .rlim_max = (rlim_t)o->storage_max_mb << 20};
        MANDATORY(o->storage_max_mb > 0 && signal(SIGXFSZ, SIG_IGN) != SIG_ERR &&
                      setrlimit(RLIMIT_FSIZE, &fsize) == 0,
                  "setting the private storage's size limit (RLIMIT_FSIZE) failed");
    }
    MANDATORY(confine_move_fd_to_top(o->violation_fd, o->open_files, &S.viol_fd) == 0,
              "moving the violation pipe to the last descriptor failed");

    bool root = geteuid() == 0 || getuid() == 0;
    S.uid = root ? SANDBOX_UNPRIVILEGED_ID : (unsigned)geteuid();
    S.gid = root ? SANDBOX_UNPRIVILEGED_ID : (unsigned)getegid();
    MANDATORY(!root || confine_clear_groups() == 0, "dropping supplementary groups failed");

    /* What the plugin may read, found in the real tree before any mount. */
    char e[200];
    sb_paths paths = {0};
    bool have_paths = libdeps_collect(o->library, &paths, e, sizeof(e)) == 0;
    if (!have_paths) fallback(e);
    /* Root plans the minimal root now, while it can reach every path. */
    bool planned = false;
    if (root && have_paths && !(planned = rootfs_plan(&paths, o->storage_dir, e, sizeof(e)) == 0))
        fallback(e);

    /* New user and pid namespaces, together: the runner stays outside as a
     * relay and goes on here as pid 1, its identity mapped one to one; as
     * root it switches to the unprivileged one inside, keeping the new
     * namespace's capabilities for the steps below. */
    int sock = -1;
    int child = ns_clone(S.uid, S.gid, root, &sock, e, sizeof(e));
    if (child > 0) {
        rootfs_discard();
        become_relay(o, root, child, sock);
    }
    S.ns_user = S.ns_pid = child == 0;
    if (!S.ns_user) fallback(e);
    if (root) {
        MANDATORY(confine_set_ids(S.uid, S.gid) == 0, "dropping to an unprivileged user failed");
        S.uid_drop = true;
    }
    MANDATORY(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0, "PR_SET_DUMPABLE failed");
    /* The parent is the host, or the relay (outside this pid namespace). */
    MANDATORY(S.ns_pid ? prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == 0 && pidns_peer_alive(sock)
                       : confine_parent_death(o->parent_pid) == 0,
              "the host is gone (parent-death signal)");
    MANDATORY(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "PR_SET_NO_NEW_PRIVS failed");

    if (S.ns_user)
        enter_namespaces(&paths, o->storage_dir, have_paths && (planned || !root), planned);
    else {
        fallback("network, ipc and mount namespaces: no user namespace");
        rootfs_discard();
    }
    MANDATORY(confine_drop_capabilities() == 0, "dropping capabilities failed");
    MANDATORY(!root || setresuid(0, 0, 0) < 0, "root could be regained");

    /* The private storage: at /data in the minimal root, else where it is. */
    if (o->storage_dir)
        snprintf(S.storage_path, sizeof(S.storage_path), "%s",
                 S.ns_mount ? SANDBOX_STORAGE_PATH : o->storage_dir);
    if (have_paths && landlock_apply(&paths, o->storage_dir ? S.storage_path : NULL, &S.landlock, e,
                                     sizeof(e)) < 0)
        fallback(e);
    else if (!have_paths)
        fallback("landlock: no list of files to allow");
    sb_paths_free(&paths);
    /* Writing files needs a confinement of the paths: the read-only root
     * or Landlock. Without either, an instance with storage does not
     * start (docs/adr/0051-plugin-private-storage.md). */
    MANDATORY(!o->storage_dir || S.ns_mount || S.landlock > 0,
              "private storage needs the mount namespace or Landlock, and neither was applied");
    S.storage = o->storage_dir != NULL;

    /* pid 1 forks the plugin process (pid 2) and stays as init. */
    if (S.ns_pid && pidns_fork_plugin(sock, e, sizeof(e)) < 0) {
        static char msg[220];
        snprintf(msg, sizeof(msg), "%s", e);
        *why = msg;
        return -1;
    }
    S.own_pid = getpid();
    MANDATORY(confine_nproc_zero() == 0, "setting RLIMIT_NPROC failed");
    MANDATORY(getrandom(&S.cookie, sizeof(S.cookie), 0) == (ssize_t)sizeof(S.cookie),
              "getrandom failed");
    MANDATORY(violation_handler_install(S.viol_fd, S.cookie) == 0,
              "installing the SIGSYS handler failed");
    policy_params p = {
        .own_pid = S.own_pid, .ipc_fd = o->ipc_fd, .violation_fd = S.viol_fd, .cookie = S.cookie};
    p.private_storage = S.storage;
#ifdef AH_SANITIZE
    p.sanitizer_runtime = true;
#endif
    /* The second filter, compiled now: the descriptors held now are the
     * only ones I/O may use after lockdown (any a constructor opens are
     * not). */
    for (int fd = 0; fd < S.viol_fd; fd++) {
        if (fcntl(fd, F_GETFD) < 0) continue;
        MANDATORY(p.n_held < POLICY_MAX_FDS, "more than 64 descriptors open before loading");
        p.held_fds[p.n_held++] = fd;
    }
    bool sealed;
    static char sealerr[200];
    MANDATORY(
        sealed_filter_make(policy_postload(&p), &S.second, &sealed, sealerr, sizeof(sealerr)) == 0,
        sealerr);
    if (!sealed) fallback(sealerr);
    p.second_filter = (uint64_t)(uintptr_t)S.second;
    MANDATORY(load(policy_preload(&p)) == 0, "loading the first seccomp filter failed");
    S.filters = 1;
    report(rep);
    return 0;
}

int sandbox_lockdown(const sandbox_opts *o, sandbox_report *rep, const char **why)
{
    if (o->disabled || !S.enabled) return 0;
    MANDATORY(sealed_filter_load(S.second) == 0, "loading the second seccomp filter failed");
    S.filters = 2;
    report(rep);
    return 0;
}
