/*
 * kit.h - helpers for the plugin author kit's tests: running the real
 * agenthost binary (and make, cmake, pkg-config) as a subprocess, reading
 * its JSON-lines output, and fingerprinting directory trees to prove that
 * a refused install changed nothing.
 */
#ifndef KIT_H
#define KIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#ifndef TH_BUILD_DIR
#error "TH_BUILD_DIR must be defined by the build"
#endif

#define KIT_AGENTHOST TH_BUILD_DIR "/agenthost"

typedef struct kit_out {
    int status; /* exit status, or 128 + signal */
    char *out;  /* stdout, NUL-terminated (malloc'd) */
    char *err;  /* stderr */
} kit_out;

/* Run argv (NULL-terminated; argv[0] a path or a name found in PATH) in
 * cwd (NULL: the current one), with extra "K=V" environment entries (NULL
 * or NULL-terminated) on top of this process's. Returns the exit status
 * (also in r->status), or -1 when it could not start. */
int kit_run(kit_out *r, const char *cwd, const char *const *env, const char *const *argv);
/* The same with the arguments inline: kit_runl(&r, NULL, NULL, "make", "-C", dir, NULL). */
int kit_runl(kit_out *r, const char *cwd, const char *const *env, const char *arg0, ...);
void kit_out_free(kit_out *r);

/* A new temporary directory (mode 0755 so sandboxed plugins can reach
 * files in it); into buf. 0 or -1. */
int kit_tmpdir(const char *name, char *buf, size_t len);
/* rm -rf, unless KIT_KEEP is set in the environment. */
void kit_rmtree(const char *path);
/* Write a text file (creating parent directories). 0 or -1. */
int kit_write(const char *path, const char *text);
int kit_copy_tree(const char *from, const char *to);

/* Every line of text that parses as a JSON object, in order (a new array). */
json_t *kit_lines(const char *text);
/* The first record of `type` whose field `key` equals the string `value`
 * (key NULL: any record of that type); borrowed from lines, or NULL. */
json_t *kit_find(json_t *lines, const char *type, const char *key, const char *value);
/* How many records of `type` there are. */
size_t kit_count(json_t *lines, const char *type);

/* Run a plugin as the host runs it, confined (both seccomp filters, the
 * minimal root): `agenthost plugin run <manifest>` with each of events (a
 * JSON array) one line of <dir>/events.jsonl and config_json written to
 * <dir>/config.json. The output's records (kit_lines: a new array); the run
 * into r (the caller frees it). */
json_t *kit_plugin_run(kit_out *r, const char *dir, const char *manifest, const json_t *events,
                       const char *config_json);
/* The reply record to the event on line n (1-based) of such a run, borrowed
 * from lines, or NULL. */
json_t *kit_reply(json_t *lines, int n);
/* Bytes as base64 (the standard alphabet, padded; malloc'd). */
char *kit_b64(const void *bytes, size_t n);
/* The bytes of the file dir/name as base64 (malloc'd), or NULL when it
 * cannot be read. */
char *kit_b64_file(const char *dir, const char *name);

/* A fingerprint of a directory tree: every entry's relative path, type,
 * mode, size, and content digest (or link target), sorted; malloc'd. Two
 * equal fingerprints mean the trees are byte for byte the same. */
char *kit_tree_fingerprint(const char *dir);

#endif
