/*
 * Signed plugin packages through the real CLI: keygen, trust, pack,
 * install, upgrade, list, remove, and the packages install must refuse
 * (unsigned, untrusted, tampered, path traversal, links, an archive of
 * another shape than ADR 0010's, a decompression bomb, a manifest lying
 * about its library, another architecture, another ABI, a duplicate
 * name), each with one clear line and the plugins directory left byte
 * for byte as it was.
 */
#include "../support/kit.h"
#include "../support/pkgcraft.h"

#include <agenthost/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUILT TH_BUILD_DIR "/tests/plugins"
#define V1 BUILT "/pkgtest-1.0.0"
#define V2 BUILT "/pkgtest-2.0.0"

static char root[512], plugins[600], var[600], work[600];
static char alice_key[700], alice_pub[700], mallory_key[700], v1src[700], v1pkg[700], v2pkg[700];

/* ---- helpers ------------------------------------------------------------ */

static int ah(kit_out *r, const char *const *args)
{
    const char *argv[32];
    int n = 0;
    argv[n++] = KIT_AGENTHOST;
    for (; *args && n < 31; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    return kit_run(r, work, NULL, argv);
}

static int install(kit_out *r, const char *pkg, bool upgrade)
{
    const char *a[] = {"plugin", "install", pkg, "--plugins",
                       plugins,  "--data",  var, upgrade ? "--upgrade" : NULL,
                       NULL};
    return ah(r, a);
}

static void path_in(char *out, size_t len, const char *dir, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

/* The plugins directory's fingerprint and what lies beside it. */
static char *snapshot(void)
{
    char *tree = kit_tree_fingerprint(plugins);
    kit_out r;
    kit_runl(&r, NULL, NULL, "ls", "-A", root, NULL);
    size_t n = strlen(tree) + strlen(r.out) + 16;
    char *s = malloc(n);
    snprintf(s, n, "%s--\n%s", tree, r.out);
    free(tree);
    kit_out_free(&r);
    return s;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Install must refuse pkg with one line containing `why`, changing nothing. */
static void expect_refused(const char *pkg, const char *why)
{
    char *before = snapshot();
    kit_out r;
    install(&r, pkg, true);
    char *after = snapshot();
    if (r.status != 1 || count_lines(r.err) != 1 || !strstr(r.err, why))
        fail_msg("%s: expected one line with \"%s\", got exit %d:\n%s", pkg, why, r.status, r.err);
    if (strcmp(before, after) != 0)
        fail_msg("%s: refused but the plugins directory changed:\n%s\nthen\n%s", pkg, before,
                 after);
    free(before);
    free(after);
    kit_out_free(&r);
}

static const char *file_of(const char *dir, const char *name)
{
    static char buf[4][700];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
    return buf[k];
}

/* A crafted package of pkgtest 1.0.0 plus extra entries, signed by key. */
static void craft(const char *out, const craft_entry *extra, size_t nextra, const char *key)
{
    craft_entry e[16] = {
        {.path = "manifest.json", .from = file_of(V1, "manifest.json")},
        {.path = "libpkgtest.so", .from = file_of(V1, "libpkgtest.so")},
    };
    size_t n = 2;
    for (size_t i = 0; i < nextra && n < 16; i++)
        e[n++] = extra[i];
    craft_opts o = {.key = key};
    assert_int_equal(craft_package(out, e, n, &o), 0);
}

static void read_manifest_version(char *out, size_t len)
{
    char path[700];
    path_in(path, sizeof(path), plugins, "pkgtest/manifest.json");
    json_t *m = json_load_file(path, 0, NULL);
    snprintf(out, len, "%s", json_string_value(json_object_get(m, "version")) ?: "");
    json_decref(m);
}

/* ---- setup -------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    if (kit_tmpdir("pkg", root, sizeof(root)) < 0) return -1;
    path_in(plugins, sizeof(plugins), root, "plugins");
    path_in(var, sizeof(var), root, "var");
    path_in(work, sizeof(work), root, "work");
    path_in(alice_key, sizeof(alice_key), work, "alice.key");
    path_in(alice_pub, sizeof(alice_pub), work, "alice.pub");
    path_in(mallory_key, sizeof(mallory_key), work, "mallory.key");
    path_in(v1src, sizeof(v1src), work, "pkgtest-src");
    path_in(v1pkg, sizeof(v1pkg), work, "pkgtest-1.0.0.ahpkg");
    path_in(v2pkg, sizeof(v2pkg), work, "pkgtest-2.0.0.ahpkg");
    mkdir(plugins, 0755);
    mkdir(work, 0755);
    kit_out r;
    const char *k1[] = {"keygen", "--out", "alice", "--comment", "Alice", NULL};
    const char *k2[] = {"keygen", "--out", "mallory", NULL};
    const char *t[] = {"trust", "add", alice_pub, "--data", var, NULL};
    int rc = ah(&r, k1);
    kit_out_free(&r);
    rc |= ah(&r, k2);
    kit_out_free(&r);
    rc |= ah(&r, t);
    kit_out_free(&r);
    /* A plugin directory with documents, as an author would pack it. */
    rc |= kit_copy_tree(V1, v1src);
    rc |= kit_write(file_of(v1src, "README.md"), "# pkgtest\n");
    rc |= kit_write(file_of(v1src, "docs/usage.md"), "Call version.\n");
    const char *p1[] = {"plugin", "pack", v1src, "--key", alice_key, NULL};
    const char *p2[] = {"plugin", "pack", V2, "--key", alice_key, NULL};
    rc |= ah(&r, p1);
    kit_out_free(&r);
    rc |= ah(&r, p2);
    kit_out_free(&r);
    return rc ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    kit_rmtree(root);
    return 0;
}

/* ---- what works ---------------------------------------------------------- */

static void test_packed_plugin_installs_signed_and_runs(void **state)
{
    (void)state;
    kit_out r;
    install(&r, v1pkg, false);
    if (r.status != 0) fail_msg("install: %s%s", r.out, r.err);
    assert_non_null(strstr(r.out, "installed pkgtest 1.0.0"));
    kit_out_free(&r);
    struct stat st;
    assert_int_equal(stat(file_of(plugins, "pkgtest/README.md"), &st), 0);
    assert_int_equal(stat(file_of(plugins, "pkgtest/docs/usage.md"), &st), 0);
    assert_int_equal(stat(file_of(plugins, "pkgtest/signature.json"), &st), -1);

    const char *l[] = {"plugin", "list", "--json", "--plugins", plugins, NULL};
    assert_int_equal(ah(&r, l), 0);
    json_t *list = json_loads(r.out, 0, NULL);
    json_t *p = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(p, "name")), "pkgtest");
    assert_string_equal(json_string_value(json_object_get(p, "signed_by")), "Alice");
    json_decref(list);
    kit_out_free(&r);

    /* The installed plugin runs. */
    kit_write(file_of(work, "version.jsonl"), "{\"call\": {\"action\": \"version\"}}\n");
    const char *run[] = {"plugin",
                         "run",
                         file_of(plugins, "pkgtest/manifest.json"),
                         "--events",
                         file_of(work, "version.jsonl"),
                         NULL};
    assert_int_equal(ah(&r, run), 0);
    json_t *lines = kit_lines(r.out);
    json_t *reply = kit_find(lines, "reply", "action", "version");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(reply, "result"), "version")), "1.0.0");
    json_decref(lines);
    kit_out_free(&r);
}

static void test_pack_output_is_reproducible(void **state)
{
    (void)state;
    char again[700];
    path_in(again, sizeof(again), work, "again.ahpkg");
    const char *p[] = {"plugin", "pack", v1src, "--key", alice_key, "--out", again, NULL};
    kit_out r;
    assert_int_equal(ah(&r, p), 0);
    kit_out_free(&r);
    kit_runl(&r, NULL, NULL, "cmp", v1pkg, again, NULL);
    if (r.status != 0) fail_msg("two packs of the same tree differ: %s", r.out);
    kit_out_free(&r);
}

static void test_signed_digest_list_checks_with_sha256sum(void **state)
{
    (void)state;
    char dir[700];
    path_in(dir, sizeof(dir), work, "unpacked");
    mkdir(dir, 0755);
    kit_out r;
    assert_int_equal(kit_runl(&r, NULL, NULL, "tar", "xzf", v1pkg, "-C", dir, NULL), 0);
    kit_out_free(&r);
    json_t *sig = json_load_file(file_of(dir, "signature.json"), 0, NULL);
    kit_write(file_of(dir, "SHA256SUMS"), json_string_value(json_object_get(sig, "files")));
    json_decref(sig);
    kit_runl(&r, dir, NULL, "sha256sum", "--strict", "-c", "SHA256SUMS", NULL);
    if (r.status != 0) fail_msg("sha256sum -c: %s%s", r.out, r.err);
    assert_non_null(strstr(r.out, "libpkgtest.so: OK"));
    kit_out_free(&r);
}

static volatile int reader_stop;
static int reader_missing, reader_reads;

static void *reader(void *arg)
{
    (void)arg;
    char path[700];
    path_in(path, sizeof(path), plugins, "pkgtest/manifest.json");
    while (!reader_stop) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            reader_missing += errno == ENOENT;
            continue;
        }
        close(fd);
        reader_reads++;
    }
    return NULL;
}

static void test_upgrade_swaps_versions_without_a_moment_missing(void **state)
{
    (void)state;
    pthread_t t;
    reader_stop = 0;
    pthread_create(&t, NULL, reader, NULL);
    kit_out r;
    char v[32];
    for (int i = 0; i < 4; i++) {
        install(&r, v2pkg, true);
        if (r.status != 0) fail_msg("upgrade: %s", r.err);
        assert_non_null(strstr(r.out, "upgraded pkgtest 1.0.0 -> 2.0.0"));
        kit_out_free(&r);
        read_manifest_version(v, sizeof(v));
        assert_string_equal(v, "2.0.0");
        install(&r, v1pkg, true);
        assert_int_equal(r.status, 0);
        kit_out_free(&r);
        read_manifest_version(v, sizeof(v));
        assert_string_equal(v, "1.0.0");
    }
    reader_stop = 1;
    pthread_join(t, NULL);
    assert_true(reader_reads > 0);
    assert_int_equal(reader_missing, 0);
    /* Nothing left beside the plugins directory. */
    kit_runl(&r, NULL, NULL, "ls", "-A", root, NULL);
    assert_string_equal(r.out, "plugins\nvar\nwork\n");
    kit_out_free(&r);
}

static void test_install_without_upgrade_refuses_a_duplicate_name(void **state)
{
    (void)state;
    char *before = snapshot();
    kit_out r;
    install(&r, v2pkg, false);
    assert_int_equal(r.status, 1);
    assert_int_equal(count_lines(r.err), 1);
    assert_non_null(strstr(r.err, "duplicate name: plugin pkgtest 1.0.0 is already installed; "
                                  "use --upgrade"));
    char *after = snapshot();
    assert_string_equal(before, after);
    free(before);
    free(after);
    kit_out_free(&r);
}

static void test_same_plugin_in_another_folder_is_a_duplicate_name(void **state)
{
    (void)state;
    char other[700];
    path_in(other, sizeof(other), plugins, "pkgtest-by-hand");
    assert_int_equal(kit_copy_tree(V1, other), 0);
    expect_refused(v2pkg, "duplicate name: plugin pkgtest is already installed in");
    kit_rmtree(other);
}

/* An author who copied the plugin into a plugins folder by hand, then
 * installs its signed package of the same version: the copy is replaced
 * (no --upgrade needed), and the output says so and where, as an absolute
 * path. Another version still needs --upgrade. */
static void test_install_replaces_the_same_version_copied_by_hand(void **state)
{
    (void)state;
    char hand[700], copy[760];
    path_in(hand, sizeof(hand), work, "hand-plugins");
    path_in(copy, sizeof(copy), hand, "pkgtest");
    mkdir(hand, 0755);
    assert_int_equal(kit_copy_tree(V1, copy), 0);
    kit_out r;
    const char *a[] = {
        "plugin", "install", "pkgtest-1.0.0.ahpkg", "--plugins", "hand-plugins", "--data",
        var,      NULL};
    ah(&r, a);
    if (r.status != 0) fail_msg("exit %d: %s", r.status, r.err);
    assert_non_null(strstr(r.out, "replacing a copy made by hand"));
    char want[800];
    snprintf(want, sizeof(want), " in %s/pkgtest (", hand);
    if (!strstr(r.out, want)) fail_msg("\"%s\" does not say \"%s\"", r.out, want);
    kit_out_free(&r);
    assert_int_equal(access(file_of(copy, ".agenthost-package.json"), F_OK), 0);
    const char *b[] = {
        "plugin", "install", "pkgtest-2.0.0.ahpkg", "--plugins", "hand-plugins", "--data",
        var,      NULL};
    ah(&r, b);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "use --upgrade"));
    kit_out_free(&r);
    kit_rmtree(hand);
}

/* trust add says where the key went (absolute), and warns when it had to
 * create the data directory (a command run in the wrong folder). */
static void test_trust_add_says_where_the_key_went(void **state)
{
    (void)state;
    kit_out r;
    const char *a[] = {"trust", "add", "alice.pub", "--data", "fresh-var", NULL};
    ah(&r, a);
    assert_int_equal(r.status, 0);
    char want[800];
    snprintf(want, sizeof(want), "  in %s/fresh-var/trusted-keys/", work);
    if (!strstr(r.out, want)) fail_msg("\"%s\" does not say \"%s\"", r.out, want);
    assert_non_null(strstr(r.err, "created the data directory"));
    kit_out_free(&r);
    ah(&r, a);
    assert_null(strstr(r.err, "created the data directory"));
    kit_out_free(&r);
    char fresh[700];
    path_in(fresh, sizeof(fresh), work, "fresh-var");
    kit_rmtree(fresh);
}

static void test_remove_uninstalls_and_says_when_nothing_is_there(void **state)
{
    (void)state;
    kit_out r;
    const char *rm[] = {"plugin", "remove", "pkgtest", "--plugins", plugins, NULL};
    assert_int_equal(ah(&r, rm), 0);
    assert_non_null(strstr(r.out, "removed pkgtest 1.0.0"));
    kit_out_free(&r);
    struct stat st;
    assert_int_equal(stat(file_of(plugins, "pkgtest"), &st), -1);
    assert_int_equal(ah(&r, rm), 1);
    assert_non_null(strstr(r.err, "plugin pkgtest is not installed"));
    kit_out_free(&r);
    /* Back for the refusals below, which run against an installed plugin. */
    install(&r, v1pkg, false);
    assert_int_equal(r.status, 0);
    kit_out_free(&r);
}

/* ---- what install refuses -------------------------------------------------- */

static void test_unsigned_package_is_refused(void **state)
{
    (void)state;
    char p[700];
    path_in(p, sizeof(p), work, "unsigned.ahpkg");
    craft(p, NULL, 0, NULL);
    expect_refused(p, "unsigned package");
}

static void test_package_signed_by_an_untrusted_key_is_refused(void **state)
{
    (void)state;
    char p[700];
    path_in(p, sizeof(p), work, "mallory.ahpkg");
    craft(p, NULL, 0, mallory_key);
    expect_refused(p, "which is not trusted here");
}

static void test_key_no_longer_trusted_is_refused(void **state)
{
    (void)state;
    kit_out r;
    json_t *pub = json_load_file(alice_pub, 0, NULL);
    const char *id = json_string_value(json_object_get(pub, "key_id"));
    const char *rm[] = {"trust", "remove", id, "--data", var, NULL};
    assert_int_equal(ah(&r, rm), 0);
    kit_out_free(&r);
    expect_refused(v2pkg, "no key is trusted here yet");
    const char *add[] = {"trust", "add", alice_pub, "--data", var, NULL};
    assert_int_equal(ah(&r, add), 0);
    kit_out_free(&r);
    assert_int_equal(ah(&r, add), 0);
    assert_non_null(strstr(r.out, "already trusted"));
    kit_out_free(&r);
    const char *ls[] = {"trust", "list", "--data", var, NULL};
    assert_int_equal(ah(&r, ls), 0);
    assert_non_null(strstr(r.out, id));
    kit_out_free(&r);
    json_decref(pub);
}

static void test_package_tampered_after_signing_is_refused(void **state)
{
    (void)state;
    /* Unpacked, edited and packed again with tar, as anyone could. */
    char dir[700], p[700];
    path_in(dir, sizeof(dir), work, "tamper");
    path_in(p, sizeof(p), work, "tampered.ahpkg");
    mkdir(dir, 0755);
    kit_out r;
    assert_int_equal(kit_runl(&r, NULL, NULL, "tar", "xzf", v1pkg, "-C", dir, NULL), 0);
    kit_out_free(&r);
    kit_write(file_of(dir, "README.md"), "# pkgtest, now with a backdoor\n");
    assert_int_equal(kit_runl(&r, dir, NULL, "tar", "--format=ustar", "-czf", p, "signature.json",
                              "manifest.json", "libpkgtest.so", "README.md", "docs", NULL),
                     0);
    kit_out_free(&r);
    expect_refused(p, "tampered after signing: README.md differs from what was signed");

    /* A file slipped in, the signature left as it was. */
    craft_entry good[] = {{.path = "manifest.json", .from = file_of(V1, "manifest.json")},
                          {.path = "libpkgtest.so", .from = file_of(V1, "libpkgtest.so")},
                          {.path = "extra.txt", .data = "hello"}};
    craft_opts o = {.key = alice_key, .signed_entries = good, .nsigned = 2};
    assert_int_equal(craft_package(p, good, 3, &o), 0);
    expect_refused(p, "tampered after signing: extra.txt was added");

    /* The library swapped for another build. */
    craft_entry swapped[] = {{.path = "manifest.json", .from = file_of(V1, "manifest.json")},
                             {.path = "libpkgtest.so", .from = file_of(V2, "libpkgtest.so")}};
    o = (craft_opts){.key = alice_key, .signed_entries = good, .nsigned = 2};
    assert_int_equal(craft_package(p, swapped, 2, &o), 0);
    expect_refused(p, "tampered after signing: libpkgtest.so differs from what was signed");

    /* The signature itself altered. */
    o = (craft_opts){.key = alice_key, .corrupt_signature = true};
    assert_int_equal(craft_package(p, good, 2, &o), 0);
    expect_refused(p, "does not verify");
}

static void test_path_traversal_and_links_are_refused(void **state)
{
    (void)state;
    char p[700], abs_target[700], escaped[700];
    path_in(p, sizeof(p), work, "evil.ahpkg");
    snprintf(abs_target, sizeof(abs_target), "%s/absolute-evil", root);
    path_in(escaped, sizeof(escaped), root, "evil");
    struct {
        craft_entry e;
        const char *why;
    } cases[] = {
        {{.path = "../evil", .data = "x"}, "path leaves the package"},
        {{.path = "docs/../../evil", .data = "x"}, "path leaves the package"},
        {{.path = abs_target, .data = "x"}, "absolute path"},
        {{.path = "docs/passwd", .type = CRAFT_SYMLINK, .target = "/etc/passwd"},
         "symbolic links are not allowed"},
        {{.path = "docs", .type = CRAFT_SYMLINK, .target = ".."}, "symbolic links are not allowed"},
        {{.path = "copy", .type = CRAFT_HARDLINK, .target = "../../../etc/passwd"},
         "hard links are not allowed"},
        {{.path = "null", .type = CRAFT_CHARDEV}, "special files are not allowed"},
        {{.path = ".hidden", .data = "x"}, "hidden file"},
        {{.path = "manifest.json", .data = "{}"}, "appears twice"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        craft(p, &cases[i].e, 1, alice_key);
        expect_refused(p, cases[i].why);
    }
    struct stat st;
    assert_int_equal(stat(abs_target, &st), -1);
    assert_int_equal(stat(escaped, &st), -1);
}

/* Genuinely signed content in an archive of another shape than ADR 0010's:
 * refused for the shape, before its signature is looked at. */
static void test_packages_of_another_shape_are_refused_though_signed(void **state)
{
    (void)state;
    char p[700];
    path_in(p, sizeof(p), work, "shape.ahpkg");
    craft_entry e[] = {{.path = "manifest.json", .from = file_of(V1, "manifest.json")},
                       {.path = "libpkgtest.so", .from = file_of(V1, "libpkgtest.so")}};
    struct {
        craft_opts o;
        const char *why;
    } cases[] = {
        {{.key = alice_key, .signature_after = 1},
         "entry \"manifest.json\": the first entry must be signature.json"},
        {{.key = alice_key, .signature_after = 2},
         "entry \"manifest.json\": the first entry must be signature.json"},
        {{.key = alice_key, .container = CRAFT_PLAIN_TAR},
         "not a valid package archive: a plain tar archive; a package is gzip-compressed"},
        {{.key = alice_key, .container = CRAFT_GZIP_TWICE},
         "not a valid package archive: compressed twice (gzip inside gzip)"},
        {{.key = alice_key, .container = CRAFT_GNU_TAR_GZ},
         "not a valid package archive: GNU tar format"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(craft_package(p, e, 2, &cases[i].o), 0);
        expect_refused(p, cases[i].why);
    }
    /* The same content in the specified shape installs. */
    craft_opts o = {.key = alice_key};
    assert_int_equal(craft_package(p, e, 2, &o), 0);
    kit_out r;
    install(&r, p, true);
    assert_int_equal(r.status, 0);
    kit_out_free(&r);
}

static void test_decompression_bomb_is_refused_early(void **state)
{
    (void)state;
    char p[700];
    path_in(p, sizeof(p), work, "bomb.ahpkg");
    craft_entry bomb = {.path = "docs/zeros.bin", .zeros = 100ull << 20};
    craft(p, &bomb, 1, alice_key);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true(st.st_size < (2 << 20)); /* 100 MiB in well under 2 MiB */
    expect_refused(p, "decompression bomb");
}

static void test_manifest_lying_about_its_library_is_refused(void **state)
{
    (void)state;
    char p[700];
    path_in(p, sizeof(p), work, "liar.ahpkg");
    struct {
        const char *manifest;
        const char *why;
    } cases[] = {
        {"{\"name\": \"liar\", \"version\": \"1.0.0\", \"abi\": \"1.0\", \"library\": "
         "\"libpkgtest.so\", \"description\": \"lies\"}",
         "libpkgtest.so declares plugin \"pkgtest\" but the manifest says \"liar\""},
        {"{\"name\": \"pkgtest\", \"version\": \"9.9.9\", \"abi\": \"1.0\", \"library\": "
         "\"libpkgtest.so\", \"description\": \"lies\"}",
         "libpkgtest.so declares version \"1.0.0\" but the manifest says \"9.9.9\""},
        {"{\"name\": \"pkgtest\", \"version\": \"1.0.0\", \"abi\": \"1.0\", \"library\": "
         "\"libnothere.so\", \"description\": \"lies\"}",
         "manifest.json: library: No such file or directory"},
        {"{\"name\": \"pkgtest\", \"version\": \"1.0.0\", \"abi\": \"1.0\", \"library\": "
         "\"README.so\", \"description\": \"lies\"}",
         "README.so: not an ELF file"},
        {"{\"name\": \"pkgtest\"}", "manifest.json: "},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        craft_entry e[] = {{.path = "manifest.json", .data = cases[i].manifest},
                           {.path = "libpkgtest.so", .from = file_of(V1, "libpkgtest.so")},
                           {.path = "README.so", .data = "not a library"}};
        craft_opts o = {.key = alice_key};
        assert_int_equal(craft_package(p, e, 3, &o), 0);
        expect_refused(p, cases[i].why);
    }
}

static void test_library_for_another_architecture_is_refused(void **state)
{
    (void)state;
    char p[700], want[200];
    path_in(p, sizeof(p), work, "foreign.ahpkg");
    craft_entry e[] = {{.path = "manifest.json", .from = file_of(V1, "manifest.json")},
                       {.path = "libpkgtest.so", .from = BUILT "/pkgtest-foreign/libpkgtest.so"}};
    craft_opts o = {.key = alice_key};
    assert_int_equal(craft_package(p, e, 2, &o), 0);
    snprintf(want, sizeof(want), "libpkgtest.so is built for %s (64-bit); this host runs %s",
#if defined(__aarch64__)
             "x86_64", "aarch64"
#else
             "aarch64", "x86_64"
#endif
    );
    expect_refused(p, want);
}

static void test_other_abi_is_refused_naming_both_versions(void **state)
{
    (void)state;
    char p[700], want[200];
    path_in(p, sizeof(p), work, "abi.ahpkg");
    craft_entry e2[] = {{.path = "manifest.json", .from = BUILT "/abi2/manifest.json"},
                        {.path = "libabi2.so", .from = BUILT "/abi2/libabi2.so"}};
    craft_opts o = {.key = alice_key};
    assert_int_equal(craft_package(p, e2, 2, &o), 0);
    snprintf(want, sizeof(want), "plugin abi2 is built for ABI 2.0; this host runs ABI %d.%d",
             AH_ABI_MAJOR, AH_ABI_MINOR);
    expect_refused(p, want);
    craft_entry en[] = {{.path = "manifest.json", .from = BUILT "/newminor/manifest.json"},
                        {.path = "libnewminor.so", .from = BUILT "/newminor/libnewminor.so"}};
    assert_int_equal(craft_package(p, en, 2, &o), 0);
    snprintf(want, sizeof(want), "plugin newminor is built for ABI %d.%d; this host runs ABI %d.%d",
             AH_ABI_MAJOR, AH_ABI_MINOR + 1, AH_ABI_MAJOR, AH_ABI_MINOR);
    expect_refused(p, want);
    craft_entry et[] = {{.path = "manifest.json", .from = BUILT "/tinydesc/manifest.json"},
                        {.path = "libtinydesc.so", .from = BUILT "/tinydesc/libtinydesc.so"}};
    assert_int_equal(craft_package(p, et, 2, &o), 0);
    expect_refused(p, "libtinydesc.so: its descriptor is 16 bytes, smaller than ABI 1.0's");
}

static void test_files_that_are_not_packages_are_refused(void **state)
{
    (void)state;
    char p[700];
    path_in(p, sizeof(p), work, "garbage.ahpkg");
    kit_write(p, "this is not an archive at all, just text\n");
    expect_refused(p, "not a valid package archive");
    craft_entry only_lib[] = {{.path = "libpkgtest.so", .from = file_of(V1, "libpkgtest.so")}};
    craft_opts o = {.key = alice_key};
    assert_int_equal(craft_package(p, only_lib, 1, &o), 0);
    expect_refused(p, "no manifest.json at the top of the package");
}

/* ---- what pack refuses ------------------------------------------------------ */

static void test_pack_refuses_broken_plugins_and_open_keys(void **state)
{
    (void)state;
    kit_out r;
    const char *abi2[] = {"plugin", "pack", BUILT "/abi2", "--key", alice_key, NULL};
    assert_int_equal(ah(&r, abi2), 1);
    assert_non_null(strstr(r.err, "plugin abi2 is built for ABI 2.0"));
    kit_out_free(&r);

    char open_key[700];
    path_in(open_key, sizeof(open_key), work, "open.key");
    kit_runl(&r, NULL, NULL, "cp", alice_key, open_key, NULL);
    kit_out_free(&r);
    chmod(open_key, 0644);
    const char *k[] = {"plugin", "pack", v1src, "--key", open_key, "--out", "x.ahpkg", NULL};
    assert_int_equal(ah(&r, k), 1);
    assert_non_null(strstr(r.err, "permissions 0644 let others read the secret key"));
    kit_out_free(&r);

    const char *pubkey[] = {"plugin", "pack", v1src, "--key", alice_pub, NULL};
    assert_int_equal(ah(&r, pubkey), 1);
    assert_non_null(strstr(r.err, "this is a public key"));
    kit_out_free(&r);

    assert_int_equal(symlink("/etc/passwd", file_of(v1src, "docs/passwd")), 0);
    const char *lnk[] = {"plugin", "pack", v1src, "--key", alice_key, "--out", "y.ahpkg", NULL};
    assert_int_equal(ah(&r, lnk), 1);
    assert_non_null(strstr(r.err, "docs/passwd: symbolic links cannot be packed"));
    kit_out_free(&r);
    unlink(file_of(v1src, "docs/passwd"));

    /* A time a ustar header cannot hold would need a pax "mtime" record,
     * which install refuses: pack says so first. */
    const char *sde[] = {KIT_AGENTHOST, "plugin", "pack",    v1src, "--key",
                         alice_key,     "--out",  "z.ahpkg", NULL};
    const char *neg[] = {"SOURCE_DATE_EPOCH=-5", NULL},
               *far[] = {"SOURCE_DATE_EPOCH=9999999999", NULL};
    assert_int_equal(kit_run(&r, work, neg, sde), 1);
    assert_non_null(strstr(r.err, "SOURCE_DATE_EPOCH=-5: not a whole number of seconds from 0 to"));
    kit_out_free(&r);
    assert_int_equal(kit_run(&r, work, far, sde), 1);
    kit_out_free(&r);
    const char *ok[] = {"SOURCE_DATE_EPOCH=1700000000", NULL};
    const char *a0[] = {KIT_AGENTHOST, "plugin", "pack",    v1src, "--key",
                        alice_key,     "--out",  "z.ahpkg", NULL};
    assert_int_equal(kit_run(&r, work, ok, a0), 0);
    kit_out_free(&r);

    const char *again[] = {"keygen", "--out", "alice", NULL};
    assert_int_equal(ah(&r, again), 1);
    assert_non_null(strstr(r.err, "already exists"));
    kit_out_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packed_plugin_installs_signed_and_runs),
        cmocka_unit_test(test_pack_output_is_reproducible),
        cmocka_unit_test(test_signed_digest_list_checks_with_sha256sum),
        cmocka_unit_test(test_upgrade_swaps_versions_without_a_moment_missing),
        cmocka_unit_test(test_install_without_upgrade_refuses_a_duplicate_name),
        cmocka_unit_test(test_same_plugin_in_another_folder_is_a_duplicate_name),
        cmocka_unit_test(test_install_replaces_the_same_version_copied_by_hand),
        cmocka_unit_test(test_trust_add_says_where_the_key_went),
        cmocka_unit_test(test_remove_uninstalls_and_says_when_nothing_is_there),
        cmocka_unit_test(test_unsigned_package_is_refused),
        cmocka_unit_test(test_package_signed_by_an_untrusted_key_is_refused),
        cmocka_unit_test(test_key_no_longer_trusted_is_refused),
        cmocka_unit_test(test_package_tampered_after_signing_is_refused),
        cmocka_unit_test(test_path_traversal_and_links_are_refused),
        cmocka_unit_test(test_packages_of_another_shape_are_refused_though_signed),
        cmocka_unit_test(test_decompression_bomb_is_refused_early),
        cmocka_unit_test(test_manifest_lying_about_its_library_is_refused),
        cmocka_unit_test(test_library_for_another_architecture_is_refused),
        cmocka_unit_test(test_other_abi_is_refused_naming_both_versions),
        cmocka_unit_test(test_files_that_are_not_packages_are_refused),
        cmocka_unit_test(test_pack_refuses_broken_plugins_and_open_keys),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
