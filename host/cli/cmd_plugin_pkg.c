/* cmd_plugin_pkg.c - agenthost plugin pack|install|list|remove. */
#include "package/install.h"
#include "package/pack.h"
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char usage_pack[] =
    "usage: agenthost plugin pack DIR --key KEY [--out FILE] [--include PATH]...\n"
    "Build a signed package of the plugin in DIR (manifest.json, its library, README*,\n"
    "LICENSE*, CHANGELOG*, docs/, files the manifest refers to, and --include paths).\n"
    "The plugin is checked first as install will check it. KEY is a secret key from\n"
    "`agenthost keygen`. Default output: NAME-VERSION.ahpkg in the current directory.\n";

static const char usage_install[] =
    "usage: agenthost plugin install FILE [--upgrade] [--config FILE] [--data DIR]\n"
    "                                [--plugins DIR] [--trusted-keys DIR]\n"
    "Verify a package's signature against the trusted keys (`agenthost trust`), check\n"
    "its manifest and library, and install it into the plugins directory atomically.\n"
    "--upgrade replaces an installed version (kept in use until the new one is ready).\n"
    "The host loads the change when it (re)starts.\n";

static const char usage_list[] =
    "usage: agenthost plugin list [--json] [--config FILE] [--plugins DIR]\n"
    "The installed plugins, their versions and who signed them.\n";

static const char usage_remove[] =
    "usage: agenthost plugin remove NAME [--config FILE] [--plugins DIR]\n"
    "Uninstall a plugin (its folder disappears at once). Restart the host to stop it.\n";

typedef struct where {
    const char *config, *data, *plugins, *trusted;
} where;

/* The plugins and trusted keys directories from the config and flags. */
static int resolve(const where *w, config *c)
{
    char err[1024];
    if (config_load(c, w->config, err, sizeof(err)) < 0) return cli_fail("%s", err);
    if (w->data) config_set(c, "data_dir", w->data);
    if (w->plugins) config_set(c, "plugins_dir", w->plugins);
    if (w->trusted) config_set(c, "trusted_keys_dir", w->trusted);
    if (host_config_finalize(c, NULL, w->config, err, sizeof(err)) < 0) {
        config_free(c);
        return cli_fail("%s", err);
    }
    return 0;
}

int cmd_plugin_pack(int argc, char **argv)
{
    const char *key = NULL, *out = NULL, *inc = NULL;
    cli_opt opts[] = {{"--key", &key, NULL}, {"--out", &out, NULL}, {"--include", &inc, NULL}, {0}};
    /* --include may repeat: collect its values by hand. */
    const char *includes[64];
    size_t ninc = 0;
    char *rest[128];
    int nrest = 0;
    for (int i = 0; i < argc && nrest < 127; i++) {
        if (!strcmp(argv[i], "--include") && i + 1 < argc) {
            if (ninc == 64) return cli_fail("at most 64 --include paths"), 2;
            includes[ninc++] = argv[++i];
        } else if (!strncmp(argv[i], "--include=", 10)) {
            if (ninc == 64) return cli_fail("at most 64 --include paths"), 2;
            includes[ninc++] = argv[i] + 10;
        } else {
            rest[nrest++] = argv[i];
        }
    }
    rest[nrest] = NULL;
    const char *pos[1];
    int npos;
    int rc = cli_parse(nrest, rest, opts, pos, 1, &npos, usage_pack);
    if (rc) return rc > 0 ? 0 : 2;
    if (npos != 1 || !key) {
        fputs(usage_pack, stderr);
        return 2;
    }
    pkg_pack_opts po = {
        .dir = pos[0], .key = key, .out = out, .include = includes, .ninclude = ninc};
    pkg_packed res;
    char err[1500];
    if (pkg_pack(&po, &res, err, sizeof(err)) < 0) return cli_fail("%s", err);
    printf("%s: %s %s, %zu files, %llu bytes, signed by key %s\n", res.path, res.name, res.version,
           res.files, res.bytes, res.key_id);
    return 0;
}

int cmd_plugin_install(int argc, char **argv)
{
    where w = {0};
    bool upgrade = false;
    cli_opt opts[] = {{"--upgrade", NULL, &upgrade},
                      {"--config", &w.config, NULL},
                      {"--data", &w.data, NULL},
                      {"--plugins", &w.plugins, NULL},
                      {"--trusted-keys", &w.trusted, NULL},
                      {0}};
    const char *pos[1];
    int npos;
    int rc = cli_parse(argc, argv, opts, pos, 1, &npos, usage_install);
    if (rc) return rc > 0 ? 0 : 2;
    if (npos != 1) {
        fputs(usage_install, stderr);
        return 2;
    }
    config c;
    if (resolve(&w, &c)) return 1;
    pkg_install_opts io = {
        .plugins_dir = c.plugins_dir, .trust_dir = c.trusted_keys_dir, .upgrade = upgrade};
    pkg_installed res;
    char err[1500];
    rc = pkg_install(pos[0], &io, &res, err, sizeof(err));
    if (rc < 0) {
        cli_fail("%s: %s", pos[0], err);
    } else {
        if (res.previous[0] && res.replaced_by_hand && !strcmp(res.previous, res.version))
            printf("installed %s %s from its signed package, replacing a copy made by hand",
                   res.name, res.version);
        else if (res.previous[0])
            printf("upgraded %s %s -> %s", res.name, res.previous, res.version);
        else
            printf("installed %s %s", res.name, res.version);
        char abs[4096];
        printf(" in %s/%s (%zu files, signed by key %s%s%s%s)\n",
               cli_abspath(c.plugins_dir, abs, sizeof(abs)), res.name, res.files, res.key_id,
               res.signer[0] ? " \"" : "", res.signer, res.signer[0] ? "\"" : "");
        printf("restart the host (or its instances of %s) to load it\n", res.name);
    }
    config_free(&c);
    return rc < 0 ? 1 : 0;
}

int cmd_plugin_list(int argc, char **argv)
{
    where w = {0};
    bool as_json = false;
    cli_opt opts[] = {{"--json", NULL, &as_json},
                      {"--config", &w.config, NULL},
                      {"--data", &w.data, NULL},
                      {"--plugins", &w.plugins, NULL},
                      {0}};
    int npos;
    int rc = cli_parse(argc, argv, opts, NULL, 0, &npos, usage_list);
    if (rc) return rc > 0 ? 0 : 2;
    config c;
    if (resolve(&w, &c)) return 1;
    char err[1500];
    json_t *list = pkg_list(c.plugins_dir, err, sizeof(err));
    config_free(&c);
    if (!list) return cli_fail("%s", err);
    if (as_json) {
        char *s = json_dumps(list, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(s ? s : "[]");
        free(s);
    } else {
        size_t i;
        json_t *p;
        json_array_foreach(list, i, p)
        {
            const char *e = json_string_value(json_object_get(p, "error"));
            if (e) {
                printf("%-24s (broken) %s\n", json_string_value(json_object_get(p, "folder")), e);
                continue;
            }
            const char *id = json_string_value(json_object_get(p, "key_id"));
            const char *by = json_string_value(json_object_get(p, "signed_by"));
            printf("%-24s %-12s ABI %-5s %s%s%s%s\n", json_string_value(json_object_get(p, "name")),
                   json_string_value(json_object_get(p, "version")),
                   json_string_value(json_object_get(p, "abi")),
                   id ? "signed by key " : "not installed from a package", id ? id : "",
                   by && *by ? " " : "", by ? by : "");
        }
    }
    json_decref(list);
    return 0;
}

int cmd_plugin_remove(int argc, char **argv)
{
    where w = {0};
    cli_opt opts[] = {{"--config", &w.config, NULL},
                      {"--data", &w.data, NULL},
                      {"--plugins", &w.plugins, NULL},
                      {0}};
    const char *pos[1];
    int npos;
    int rc = cli_parse(argc, argv, opts, pos, 1, &npos, usage_remove);
    if (rc) return rc > 0 ? 0 : 2;
    if (npos != 1) {
        fputs(usage_remove, stderr);
        return 2;
    }
    config c;
    if (resolve(&w, &c)) return 1;
    char err[1500], version[72];
    rc = pkg_remove(c.plugins_dir, pos[0], version, sizeof(version), err, sizeof(err));
    if (rc < 0)
        cli_fail("%s", err);
    else
        printf("removed %s%s%s from %s\n", pos[0], version[0] ? " " : "", version, c.plugins_dir);
    config_free(&c);
    return rc < 0 ? 1 : 0;
}
