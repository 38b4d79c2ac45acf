/*
 * cli.h - helpers shared by the agenthost subcommands: option parsing,
 * configuration, and opening the store for offline commands.
 */
#ifndef AH_CLI_H
#define AH_CLI_H

#include "app/options.h"
#include "store/secrets.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdio.h>

typedef struct cli_opt {
    const char *name;   /* "--data" */
    const char **value; /* for options taking a value */
    bool *flag;         /* for flags */
} cli_opt;

/* Parse argv[1..]: options from opts, the rest positional. "--help" prints
 * usage and returns 1 (exit 0); errors print a line and return -1 (exit 2). */
int cli_parse(int argc, char **argv, const cli_opt *opts, const char **pos, int maxpos, int *npos,
              const char *usage);

/* Print "agenthost: <message>" to stderr; returns 1 for `return cli_fail(...)`. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Wrong arguments: one line on stderr with the first line of the usage. */
void cli_usage_error(const char *usage);

/* A subcommand's verb ("agenthost config options ..."). */
typedef struct cli_verb {
    const char *verb;
    int (*fn)(int argc, char **argv);
} cli_verb;
/* Run the verb argv[1] names among verbs[0..n) with argv from it on; none
 * is a usage error (exit 2), --help prints usage (exit 0), an unknown one
 * says so, naming the command (exit 2). The exit status. */
int cli_verbs(int argc, char **argv, const char *command, const cli_verb *verbs, size_t n,
              const char *usage);
/* path made absolute (resolved when it exists, else joined to the current
 * directory) into buf, for output that says where a command wrote. */
const char *cli_abspath(const char *path, char *buf, size_t len);

/* Load --config (optional) and apply --data / --logs overrides. 0, or 1
 * after printing the reason. */
int cli_load_config(config *c, const char *config_path, const char *data, const char *logs);

/* Open the store without a loop (commits are synchronous) and, if asked,
 * the secrets (with the master key as mode says: secrets.h). Returns 0 or
 * 1 after printing the reason. */
int cli_open_store(const config *c, bool read_only, store **st);
int cli_open_secrets(const config *c, store *st, const char *master_key, secrets_key_mode mode,
                     secrets **out);

/* Record a change this command made: an audit entry in the store (its own
 * commit, right after the change's) and a line in LOGS_DIR/audit.log, the
 * actor being the command and the system user running it. what (borrowed,
 * may be NULL) says what changed, never a secret. 0, or 1 after printing
 * why (the change itself stands). */
int cli_audit(const config *c, store *st, const char *action, const char *coll, const char *id,
              const json_t *what);

/* Verify the store file at path (store_check.h, with the core's and the
 * bus's record checks): 0 intact, 1 damaged (the report is printed to
 * out), -1 when it could not be checked (err says why: a missing,
 * empty, truncated or unreadable file). env_dir: the data directory, or
 * NULL for a standalone copy. quiet_if_intact: print nothing when intact. */
int cli_check_store(const char *path, const char *env_dir, FILE *out, bool quiet_if_intact,
                    char *err, size_t errlen);

/* The subcommands: each returns the process exit status. */
int cmd_serve(int argc, char **argv);
int cmd_manifest(int argc, char **argv);
int cmd_secret(int argc, char **argv);
int cmd_instance(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_routes(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_plugin(int argc, char **argv);
int cmd_plugin_run(int argc, char **argv);
int cmd_plugin_new(int argc, char **argv);
int cmd_plugin_reload(int argc, char **argv);
int cmd_plugin_pack(int argc, char **argv);
int cmd_plugin_install(int argc, char **argv);
int cmd_plugin_list(int argc, char **argv);
int cmd_plugin_remove(int argc, char **argv);
int cmd_trust(int argc, char **argv);
int cmd_keygen(int argc, char **argv);

#endif
