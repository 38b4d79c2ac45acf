/*
 * main.c - the agenthost command: one binary for the daemon and its tools.
 */
#include "cli/cli.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <string.h>

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("agenthost %s (plugin ABI %d.%d)\n", AH_VERSION, AH_ABI_MAJOR, AH_ABI_MINOR);
    return 0;
}

static const struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    {"serve", cmd_serve, "run the host (HTTP API, bus, plugin instances)"},
    {"version", cmd_version, "print the version and plugin ABI"},
    {"manifest", cmd_manifest, "check plugin manifests: manifest check FILE..."},
    {"secret", cmd_secret, "manage instance secrets: secret set|list|delete"},
    {"instance", cmd_instance, "list instances and their last known state"},
    {"token", cmd_token, "manage API tokens: token create|list|revoke"},
    {"user", cmd_user, "admin accounts: user create --email E --role R (password on stdin)"},
    {"routes", cmd_routes, "print the HTTP API's routes and permissions (--json, --markdown)"},
    {"config", cmd_config, "the config file's options (--markdown, --json), schema; check FILE"},
    {"backup", cmd_backup, "hot, compacted copy of the store: backup --to FILE"},
    {"restore", cmd_restore, "put a backup back: restore --from FILE (host stopped)"},
    {"keys", cmd_keys, "the keys of personal data: keys backup --to FILE / restore --from FILE"},
    {"check", cmd_check, "verify the store: every page, record and checksum"},
    {"plugin", cmd_plugin, "run a plugin in the harness; pack, install, list, remove packages"},
    {"trust", cmd_trust, "keys trusted to sign packages: trust add|list|remove"},
    {"keygen", cmd_keygen, "make an Ed25519 key pair for signing packages"},
};

static void usage(FILE *to)
{
    fprintf(to, "usage: agenthost COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(to, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(to, "\n`agenthost COMMAND --help` describes one command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) return cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "agenthost: unknown command \"%s\" (agenthost --help lists them)\n", argv[1]);
    return 2;
}
