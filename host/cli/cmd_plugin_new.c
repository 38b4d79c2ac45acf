/*
 * cmd_plugin_new.c - agenthost plugin new NAME [--dir D]: a plugin's folder
 * made from the template installed with the SDK
 * (PREFIX/share/agenthost/plugin-template; in a build tree,
 * BUILD/share/agenthost/plugin-template), its @NAME@, @CNAME@ and @ABI@
 * replaced.
 */
#include "core/fsutil.h"
#include "core/util.h"
#include "cli.h"

#include <agenthost/plugin.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "usage: agenthost plugin new NAME [--dir DIR]\n"
    "Make a new plugin's folder (DIR, default ./NAME) from the template installed with\n"
    "the SDK: NAME.c, manifest.json, a Makefile and a CMakeLists.txt, events.jsonl for\n"
    "the harness and test_NAME.c, a unit test on agenthost/testing.h. Then, in DIR:\n"
    "`make` builds libNAME.so, `make test` runs the unit test, `make check` runs the\n"
    "plugin confined in the harness. NAME: a-z, 0-9, '-', '_' (at most 40).\n";

/* The template's files and the names they get. */
static const struct {
    const char *from, *to;
} files[] = {{"plugin.c", "@NAME@.c"},
             {"test_plugin.c", "test_@NAME@.c"},
             {"manifest.json", "manifest.json"},
             {"Makefile", "Makefile"},
             {"CMakeLists.txt", "CMakeLists.txt"},
             {"events.jsonl", "events.jsonl"}};

static int find_template(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) return -1;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return -1;
    *slash = 0;
    static const char *const rel[] = {"/../share/agenthost/plugin-template",
                                      "/share/agenthost/plugin-template"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(out, len, "%s%s", exe, rel[i]);
        char probe[PATH_MAX + 32];
        snprintf(probe, sizeof(probe), "%s/plugin.c", out);
        if (access(probe, R_OK) == 0) return 0;
    }
    return -1;
}

/* text with every @NAME@, @CNAME@, @ABI@ replaced (malloc'd). */
static char *expand(const char *text, const char *name, const char *cname)
{
    char abi[16];
    snprintf(abi, sizeof(abi), "%d.%d", AH_ABI_MAJOR, AH_ABI_MINOR);
    const struct {
        const char *tok, *val;
    } subs[] = {{"@NAME@", name}, {"@CNAME@", cname}, {"@ABI@", abi}};
    size_t cap = strlen(text) * 2 + 256, n = 0;
    char *out = malloc(cap);
    for (const char *p = text; out && *p;) {
        const char *val = NULL;
        size_t tl = 0;
        for (size_t i = 0; i < 3 && !val; i++)
            if (!strncmp(p, subs[i].tok, strlen(subs[i].tok))) {
                val = subs[i].val;
                tl = strlen(subs[i].tok);
            }
        size_t add = val ? strlen(val) : 1;
        if (n + add + 1 > cap) {
            char *bigger = realloc(out, cap = (n + add + 1) * 2);
            if (!bigger) {
                free(out);
                return NULL;
            }
            out = bigger;
        }
        if (val) {
            memcpy(out + n, val, add);
            p += tl;
        } else {
            out[n] = *p++;
        }
        n += add;
    }
    if (out) out[n] = 0;
    return out;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wx");
    if (!f) return -1;
    size_t n = strlen(text);
    int rc = fwrite(text, 1, n, f) == n ? 0 : -1;
    return fclose(f) == 0 ? rc : -1;
}

static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 40 || !(name[0] >= 'a' && name[0] <= 'z')) return false;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
              name[i] == '-' || name[i] == '_'))
            return false;
    return true;
}

int cmd_plugin_new(int argc, char **argv)
{
    const char *dir = NULL;
    cli_opt opts[] = {{"--dir", &dir, NULL}, {0}};
    const char *pos[1];
    int npos;
    int rc = cli_parse(argc, argv, opts, pos, 1, &npos, usage);
    if (rc) return rc > 0 ? 0 : 2;
    if (npos != 1) {
        cli_usage_error(usage);
        return 2;
    }
    const char *name = pos[0];
    if (!valid_name(name))
        return cli_fail("plugin name \"%s\": a letter a-z, then a-z, 0-9, '-' or '_' (at most "
                        "40)",
                        name);
    char cname[64];
    snprintf(cname, sizeof(cname), "%s", name);
    for (char *p = cname; *p; p++)
        if (*p == '-') *p = '_';
    char tdir[PATH_MAX + 64], abs[PATH_MAX + 64];
    if (find_template(tdir, sizeof(tdir)) < 0)
        return cli_fail("the plugin template is not installed beside this agenthost "
                        "(PREFIX/share/agenthost/plugin-template): reinstall the SDK");
    if (!dir) dir = name;
    struct stat st;
    if (stat(dir, &st) == 0 && rmdir(dir) < 0 && errno != ENOENT)
        return cli_fail("%s exists and is not empty: choose another --dir", dir);
    if (ah_mkdir_p(dir, 0755) < 0) return cli_fail("%s: %s", dir, strerror(errno));
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char from[PATH_MAX + 128], to[PATH_MAX + 128];
        snprintf(from, sizeof(from), "%s/%s", tdir, files[i].from);
        size_t len;
        char *text = ah_read_file(from, 1u << 20, &len);
        char *target = expand(files[i].to, name, cname);
        char *out = text ? expand(text, name, cname) : NULL;
        if (target) snprintf(to, sizeof(to), "%s/%s", dir, target);
        int w = out && target ? write_file(to, out) : -1;
        free(text);
        free(out);
        free(target);
        if (w < 0) return cli_fail("cannot write %s from %s: %s", dir, from, strerror(errno));
    }
    printf("made plugin %s in %s (from %s)\n"
           "next: cd %s && make && make test && make check\n",
           name, cli_abspath(dir, abs, sizeof(abs)), tdir, dir);
    return 0;
}
