/*
 * cmd_plugin_reload.c - agenthost plugin reload NAME --from DIR: the
 * author's edit, build, reload loop against a running host. The new
 * library is checked (as install checks it), copied beside the installed
 * one, synced, and renamed over it (atomic: a running process keeps the
 * file it mapped, never a half-written one); then the host is asked to
 * restart the plugin's instances (POST /api/v1/plugins/NAME/reload), whose
 * new processes load the new file.
 */
#include "core/fsutil.h"
#include "package/plugincheck.h"
#include "plugin/manifest.h"
#include "cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: agenthost plugin reload NAME --from DIR [--plugins DIR] [--url URL]\n"
    "Replace the library of the installed plugin NAME with DIR's build (same manifest),\n"
    "by a staged copy and an atomic rename, then have the running host restart NAME's\n"
    "instances on it (events they had not settled are delivered again).\n"
    "  --from DIR      the plugin's build folder (its manifest.json and library)\n"
    "  --plugins DIR   the host's plugins directory (default: as `serve`)\n"
    "  --url URL       the host (default http://127.0.0.1:8080); the admin token is\n"
    "                  read from the TOKEN environment variable\n"
    "A changed manifest is refused: install the plugin with --upgrade and restart the host.\n";

static size_t sink(char *p, size_t n, size_t m, void *ud)
{
    char *buf = ud;
    size_t have = strlen(buf), add = n * m;
    if (have + add < 2048) {
        memcpy(buf + have, p, add);
        buf[have + add] = 0;
    }
    return n * m;
}

/* POST URL/api/v1/plugins/NAME/reload; the HTTP status (0: no answer). */
static long ask_host(const char *url, const char *name, const char *token, char *body)
{
    char target[1024], auth[600];
    snprintf(target, sizeof(target), "%s/api/v1/plugins/%s/reload", url, name);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    CURL *c = curl_easy_init();
    if (!c) return 0;
    struct curl_slist *h = curl_slist_append(NULL, auth);
    long status = 0;
    body[0] = 0;
    curl_easy_setopt(c, CURLOPT_URL, target);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

/* Check the build, then stage and rename its library over the installed one. */
static int replace_library(const manifest *old, const manifest *fresh)
{
    char err[1500], staged[PATH_MAX + 32];
    if (!json_equal(old->json, fresh->json))
        return cli_fail("%s differs from the installed %s: a reload replaces the library only; "
                        "install with --upgrade and restart the host",
                        fresh->path, old->path);
    if (plugin_check(fresh, err, sizeof(err)) < 0) return cli_fail("%s", err);
    snprintf(staged, sizeof(staged), "%s.staged", old->library);
    if (fs_copy_file(fresh->library, staged, 0755) < 0)
        return cli_fail("cannot stage %s: %s", staged, strerror(errno));
    if (rename(staged, old->library) < 0) {
        int e = errno;
        unlink(staged);
        return cli_fail("cannot rename %s over %s: %s", staged, old->library, strerror(e));
    }
    return 0;
}

int cmd_plugin_reload(int argc, char **argv)
{
    const char *from = NULL, *plugins = NULL, *url = NULL, *cfgp = NULL, *data = NULL;
    cli_opt opts[] = {{"--from", &from, NULL}, {"--plugins", &plugins, NULL},
                      {"--url", &url, NULL},   {"--config", &cfgp, NULL},
                      {"--data", &data, NULL}, {0}};
    const char *pos[1];
    int npos;
    int rc = cli_parse(argc, argv, opts, pos, 1, &npos, usage);
    if (rc) return rc > 0 ? 0 : 2;
    if (npos != 1 || !from) {
        cli_usage_error(usage);
        return 2;
    }
    const char *token = getenv("TOKEN");
    if (!token || !*token)
        return cli_fail("set TOKEN to the host's admin token (it printed it on its first start)");
    config c;
    char err[1500], path[PATH_MAX + 64], abs[PATH_MAX];
    if (config_load(&c, cfgp, err, sizeof(err)) < 0) return cli_fail("%s", err);
    if (data) config_set(&c, "data_dir", data);
    if (plugins) config_set(&c, "plugins_dir", plugins);
    if (host_config_finalize(&c, NULL, cfgp, err, sizeof(err)) < 0) {
        config_free(&c);
        return cli_fail("%s", err);
    }
    manifest *old = NULL, *fresh = NULL;
    snprintf(path, sizeof(path), "%s/%s/manifest.json", c.plugins_dir, pos[0]);
    if (manifest_load(path, false, &old, err, sizeof(err)) < 0)
        rc = cli_fail("plugin %s is not installed in %s: %s", pos[0],
                      cli_abspath(c.plugins_dir, abs, sizeof(abs)), err);
    snprintf(path, sizeof(path), "%s/manifest.json", from);
    if (!rc && manifest_load(path, true, &fresh, err, sizeof(err)) < 0) rc = cli_fail("%s", err);
    if (!rc) rc = replace_library(old, fresh);
    if (!rc) {
        printf("replaced %s\n", cli_abspath(old->library, abs, sizeof(abs)));
        char body[2048];
        long st = ask_host(url ? url : "http://127.0.0.1:8080", pos[0], token, body);
        if (st == 202)
            printf("%s\n", body);
        else
            rc = cli_fail("the host did not restart the instances (HTTP %ld): %s; restart them "
                          "with POST /api/v1/instances/ID/restart",
                          st, st ? body : "no answer");
    }
    manifest_free(old);
    manifest_free(fresh);
    config_free(&c);
    return rc ? 1 : 0;
}
