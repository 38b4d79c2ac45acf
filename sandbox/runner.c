/*
 * runner.c - agenthost-runner: the process the host execs for each plugin
 * instance. It confines itself (sandbox.h), loads the plugin library,
 * validates its descriptor by reading it, and hands over to the runtime.
 *
 *   agenthost-runner --library PATH --plugin NAME --instance ID
 *                    [--memory-mb N] [--open-files N] [--cpu-s N]
 *                    [--host-pid PID] [--storage-dir DIR --storage-max-mb N]
 *                    [--no-sandbox] [--debug-unconfined]
 * fd 3 is the IPC socket and fd 4 the violation pipe (see host/plugin/proc.h).
 *
 * --debug-unconfined (every build) runs the plugin with no confinement at
 * all, for a debugger: the host passes it only for the one instance an
 * operator named with `serve --debug-instance` on a host whose config sets
 * supervisor.allow_debug_unconfined (docs/security-model.md). It gives
 * nothing a caller lacks: whoever can exec this program can load the
 * library in a process of their own.
 */
#include "../sdk/runtime/runtime.h"
#include "sandbox.h"

#include <dlfcn.h>
#include <errno.h>
#include <iconv.h>
#include <jansson.h>
#include <limits.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define IPC_FD 3
#define VIOLATION_FD 4

static void usage(void)
{
    fprintf(stderr, "usage: agenthost-runner --library PATH --plugin NAME --instance ID "
                    "[--memory-mb N] [--open-files N] [--cpu-s N] [--host-pid PID]\n"
                    "       [--storage-dir DIR --storage-max-mb N] [--debug-unconfined]\n"
                    "The host starts this program; it is not meant to be run by hand.\n");
}

/* Everything glibc and jansson would read from files later is loaded now,
 * before the minimal root hides the files and the second filter forbids
 * opening any: the time zone, the locale, jansson's hash seed
 * (/dev/urandom) and the iconv modules for common charsets (kept open so
 * that they stay loaded; a plugin's iconv_open of these then needs no
 * file). */
static const char *const preload_charsets[] = {
    "UTF-16",      "UTF-16LE",     "UTF-16BE",     "UTF-32",      "ISO-8859-1",
    "ISO-8859-15", "WINDOWS-1251", "WINDOWS-1252", "KOI8-R",      "CP866",
    "ISO-8859-2",  "ISO-8859-5",   "KOI8-U",       "WINDOWS-1250"};
static iconv_t iconv_kept[sizeof(preload_charsets) / sizeof(preload_charsets[0])];

#ifdef AH_SANITIZE
/* The sanitizer runtime reads /proc (its maps, the executable's name, the
 * environment for its options) lazily, on its first report: have it do so
 * now, while files may still be opened (the hook Chromium's sandbox uses). */
struct sanitizer_sandbox_arguments {
    int coverage_sandboxed;
    intptr_t coverage_fd;
    unsigned coverage_max_block_size;
};
void __sanitizer_sandbox_on_notify(struct sanitizer_sandbox_arguments *args) __attribute__((weak));
void __sanitizer_symbolize_pc(void *pc, const char *fmt, char *out, size_t len)
    __attribute__((weak));
#endif

static void preload(void)
{
#ifdef AH_SANITIZE
    struct sanitizer_sandbox_arguments sa = {0};
    if (__sanitizer_sandbox_on_notify) __sanitizer_sandbox_on_notify(&sa);
    if (__sanitizer_symbolize_pc) {
        char where[128];
        __sanitizer_symbolize_pc(__builtin_return_address(0), "%p %m", where, sizeof(where));
    }
#endif
    tzset();
    setlocale(LC_ALL, "C.UTF-8");
    /* strerror looks its message catalog up once (and remembers the miss). */
    (void)strerror(ENOENT);
    json_object_seed(0);
    for (size_t i = 0; i < sizeof(preload_charsets) / sizeof(preload_charsets[0]); i++)
        iconv_kept[i] = iconv_open(preload_charsets[i], "UTF-8");
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > UINT32_MAX) return -1;
    *out = (uint32_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    const char *library = NULL, *plugin = NULL, *instance = NULL;
    uint32_t host_pid = 0;
    bool debug = false;
    sandbox_opts so = {
        .memory_mb = 256, .open_files = 64, .ipc_fd = IPC_FD, .violation_fd = VIOLATION_FD};
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(a, "--debug-unconfined")) {
            so.disabled = debug = true;
            i--; /* a flag without a value */
            continue;
        }
        if (!strcmp(a, "--no-sandbox")) {
#ifdef AH_TEST_NO_SANDBOX
            so.disabled = true;
            i--; /* a flag without a value */
            continue;
#else
            fprintf(stderr, "agenthost-runner: --no-sandbox exists only in test builds\n");
            return 64;
#endif
        }
        if (!v) {
            usage();
            return 64;
        }
        if (!strcmp(a, "--library"))
            library = v;
        else if (!strcmp(a, "--plugin"))
            plugin = v;
        else if (!strcmp(a, "--instance"))
            instance = v;
        else if (!strcmp(a, "--memory-mb"))
            bad = parse_u32(v, &so.memory_mb);
        else if (!strcmp(a, "--open-files"))
            bad = parse_u32(v, &so.open_files);
        else if (!strcmp(a, "--cpu-s"))
            bad = parse_u32(v, &so.cpu_s);
        else if (!strcmp(a, "--host-pid"))
            bad = parse_u32(v, &host_pid);
        else if (!strcmp(a, "--storage-dir"))
            bad = v[0] != '/'; /* absolute, made by the host */
        else if (!strcmp(a, "--storage-max-mb"))
            bad = parse_u32(v, &so.storage_max_mb) || !so.storage_max_mb;
        else {
            usage();
            return 64;
        }
        if (bad) {
            fprintf(stderr, "agenthost-runner: bad value for %s\n", a);
            return 64;
        }
        if (!strcmp(a, "--storage-dir")) so.storage_dir = v;
    }
    if (so.storage_dir && !so.storage_max_mb) {
        fprintf(stderr, "agenthost-runner: --storage-dir needs --storage-max-mb\n");
        return 64;
    }
    if (!library || !plugin || !instance) {
        usage();
        return 64;
    }
    /* Die with the host; and if it is already gone, do not start. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (host_pid && (uint32_t)getppid() != host_pid) return 70;
    struct stat st;
    if (fstat(IPC_FD, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        fprintf(stderr, "agenthost-runner: fd %d is not the host's socket\n", IPC_FD);
        return 64;
    }
    if (fstat(VIOLATION_FD, &st) < 0 || !S_ISFIFO(st.st_mode)) {
        fprintf(stderr, "agenthost-runner: fd %d is not the violation pipe\n", VIOLATION_FD);
        return 64;
    }
    char resolved[PATH_MAX];
    if (!realpath(library, resolved)) {
        fprintf(stderr, "agenthost-runner: %s: %s\n", library, strerror(errno));
        return 66;
    }
    so.library = resolved;
    so.parent_pid = (pid_t)host_pid;
    preload();

    sandbox_report rep;
    const char *why = NULL;
    if (sandbox_prepare(&so, &rep, &why) < 0) {
        fprintf(stderr, "agenthost-runner: %s: sandbox: %s\n", instance, why);
        return 71; /* fail closed */
    }
    if (debug) {
        /* Any process of this user may attach (gdb -p), whatever the
         * kernel's Yama ptrace scope says about non-descendants. */
        prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
        snprintf(rep.json, sizeof(rep.json),
                 "{\"sandbox\":false,\"debug_unconfined\":true,\"uid\":%u,\"pid\":%d}",
                 (unsigned)geteuid(), (int)getpid());
        fprintf(stderr,
                "agenthost-runner: %s: DEBUG: RUNNING UNCONFINED (pid %d, uid %u): no seccomp, no "
                "Landlock, no namespaces, no resource limits, no uid drop\n",
                instance, (int)getpid(), (unsigned)geteuid());
    }
    /* What this incarnation got, before any plugin code runs: the record
     * of confinement even for a plugin that dies in its constructor. */
    fprintf(stderr, "agenthost-runner: confinement before loading the plugin: %s\n", rep.json);

    void *dl = dlopen(resolved, RTLD_NOW | RTLD_LOCAL);
    const ah_plugin *p = NULL;
    char dlwhy[512] = "";
    if (!dl) {
        snprintf(dlwhy, sizeof(dlwhy), "dlopen: %s", dlerror());
    } else {
        p = dlsym(dl, AH_PLUGIN_SYMBOL);
        const char *bad = ah_runtime_check_descriptor(p);
        if (bad)
            snprintf(dlwhy, sizeof(dlwhy), "%s", bad);
        else if (strcmp(p->name, plugin) != 0)
            snprintf(dlwhy, sizeof(dlwhy), "library declares plugin \"%s\", expected \"%s\"",
                     p->name, plugin);
    }

    if (sandbox_lockdown(&so, &rep, &why) < 0) {
        fprintf(stderr, "agenthost-runner: %s: sandbox: %s\n", instance, why);
        return 71;
    }
    ah_runtime_opts ro = {.ipc_fd = IPC_FD,
                          .library = library,
                          .dl_handle = dl,
                          .confinement = rep.json,
                          .storage_dir = rep.storage[0] ? rep.storage : NULL};
    return ah_runtime_run(dlwhy[0] ? (dl ? p : NULL) : p, dlwhy[0] ? dlwhy : NULL, &ro);
}
