/*
 * runtime.h - the plugin-side runtime, run by the sandbox runner after the
 * plugin is loaded and confined. Internal to agenthost.
 */
#ifndef AH_RUNTIME_H
#define AH_RUNTIME_H

#include <agenthost/plugin.h>

typedef struct ah_runtime_opts {
    int ipc_fd;              /* the socketpair end, SOCK_SEQPACKET */
    const char *library;     /* for the HELLO message */
    void *dl_handle;         /* for typed exports (dlsym), may be NULL */
    const char *confinement; /* JSON object describing the sandbox, for HELLO */
    const char *storage_dir; /* the private storage as the plugin sees it; NULL: none */
} ah_runtime_opts;

/* Send HELLO describing `plugin` (or the reason it is unusable when
 * plugin is NULL and why is set), then serve until SHUTDOWN or until the
 * host goes away. Returns the process exit status. */
int ah_runtime_run(const ah_plugin *plugin, const char *why_unusable, const ah_runtime_opts *o);

/* The ABI facts a plugin descriptor must satisfy on this runtime; NULL
 * when acceptable, else a static reason. Reads only the first 8 bytes
 * unless the major matches. */
const char *ah_runtime_check_descriptor(const ah_plugin *p);

#endif
