/*
 * The package modules one by one: the path rule, the ELF reader on real
 * libraries and on damaged ones, the signature over the digest list, and
 * key files.
 */
#include "cmocka_pre.h"

#include "package/elfinfo.h"
#include "package/keys.h"
#include "package/pkg_read.h"
#include "package/signature.h"

#include <agenthost/plugin.h>

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUILT TH_BUILD_DIR "/tests/plugins"

static void test_path_rule_accepts_plain_relative_paths(void **state)
{
    (void)state;
    static const char *const ok[] = {"manifest.json", "libx.so.1",     "docs/a/b/c.md",
                                     "LICENSE",       "a+b@c-d_e.txt", "d1/d2/d3/d4/d5/d6/d7/f"};
    char err[200];
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (pkg_check_path(ok[i], err, sizeof(err)) < 0) fail_msg("%s refused: %s", ok[i], err);
}

static void test_path_rule_refuses_escapes_and_oddities(void **state)
{
    (void)state;
    static const struct {
        const char *path, *why;
    } bad[] = {
        {"", "empty path"},
        {"/etc/passwd", "absolute path"},
        {"../x", "leaves the package"},
        {"a/../../x", "leaves the package"},
        {"a/./b", "leaves the package"},
        {"a//b", "empty path component"},
        {"a/", "trailing '/'"},
        {".hidden", "hidden file"},
        {"a/.git/config", "hidden file"},
        {"a b", "character 0x20"},
        {"a\\b", "character 0x5c"},
        {"caf\xc3\xa9", "character 0xc3"},
        {"d1/d2/d3/d4/d5/d6/d7/d8/f", "deeper than 8"},
    };
    char err[200];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (pkg_check_path(bad[i].path, err, sizeof(err)) == 0)
            fail_msg("\"%s\" accepted", bad[i].path);
        if (!strstr(err, bad[i].why))
            fail_msg("\"%s\": \"%s\" does not say \"%s\"", bad[i].path, err, bad[i].why);
    }
    char longp[300];
    memset(longp, 'a', 256);
    longp[256] = 0;
    assert_int_equal(pkg_check_path(longp, err, sizeof(err)), -1);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void test_elf_reader_reads_descriptors_of_real_libraries(void **state)
{
    (void)state;
    elf_plugin_info info;
    char err[300];
    assert_int_equal(elf_read_plugin_file(BUILT "/abi10/libabi10.so", &info, err, sizeof(err)), 0);
    assert_true(info.has_descriptor);
    assert_int_equal(info.machine, elf_host_machine());
    assert_int_equal(info.abi_major, 1);
    assert_int_equal(info.abi_minor, 0);
    assert_int_equal(info.size, 64);
    assert_string_equal(info.name, "abi10");
    assert_string_equal(info.version, "1.0.0");

    assert_int_equal(elf_read_plugin_file(BUILT "/abi2/libabi2.so", &info, err, sizeof(err)), 0);
    assert_true(info.has_descriptor);
    assert_int_equal(info.abi_major, 2);

    assert_int_equal(
        elf_read_plugin_file(BUILT "/newminor/libnewminor.so", &info, err, sizeof(err)), 0);
    assert_int_equal(info.abi_minor, AH_ABI_MINOR + 1);
    assert_int_equal(info.size, sizeof(ah_plugin) + sizeof(void *));
    assert_string_equal(info.name, "newminor");

    assert_int_equal(
        elf_read_plugin_file(BUILT "/pkgtest-foreign/libpkgtest.so", &info, err, sizeof(err)), 0);
    assert_int_not_equal(info.machine, elf_host_machine());
    assert_false(info.has_descriptor);
}

static void test_elf_reader_finds_no_descriptor_in_other_libraries(void **state)
{
    (void)state;
    elf_plugin_info info;
    char err[300];
    /* The SDK runtime is a shared library, but not a plugin. */
    assert_int_equal(
        elf_read_plugin_file(TH_BUILD_DIR "/libagenthost-sdk.so.1", &info, err, sizeof(err)), 0);
    assert_false(info.has_descriptor);
    /* A position-independent executable is ET_DYN too: no descriptor either. */
    assert_int_equal(elf_read_plugin_file(TH_BUILD_DIR "/agenthost", &info, err, sizeof(err)), 0);
    assert_false(info.has_descriptor);
    assert_int_equal(elf_read_plugin_file(TH_SOURCE_DIR "/README.md", &info, err, sizeof(err)), -1);
    assert_string_equal(err, "not an ELF file");
}

static void test_elf_reader_survives_every_truncation_and_header_damage(void **state)
{
    (void)state;
    size_t len;
    uint8_t *lib = slurp(BUILT "/abi10/libabi10.so", &len);
    elf_plugin_info info;
    char err[300];
    /* Every prefix: a clean refusal or a result, never a read out of bounds
     * (ASan watches). */
    for (size_t n = 0; n < len; n += (n < 4096 ? 1 : 97))
        elf_read_plugin(lib, n, &info, err, sizeof(err));
    /* Section headers pointing past the end. */
    uint8_t *copy = malloc(len);
    memcpy(copy, lib, len);
    Elf64_Ehdr *h = (Elf64_Ehdr *)copy;
    h->e_shoff = len - 10;
    assert_int_equal(elf_read_plugin(copy, len, &info, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "out of bounds"));
    /* Another machine in the header: reported, not parsed further. */
    memcpy(copy, lib, len);
    h->e_machine = EM_RISCV == elf_host_machine() ? EM_X86_64 : EM_RISCV;
    assert_int_equal(elf_read_plugin(copy, len, &info, err, sizeof(err)), 0);
    assert_int_equal(info.machine, h->e_machine);
    assert_false(info.has_descriptor);
    free(copy);
    free(lib);
}

static pkg_file file(const char *path, const char *content)
{
    pkg_file f = {.path = (char *)path, .size = strlen(content)};
    crypto_hash_sha256(f.sha256, (const uint8_t *)content, strlen(content));
    return f;
}

static void test_digest_list_is_sorted_sha256sum_lines(void **state)
{
    (void)state;
    pkg_file files[] = {file("b.txt", "b"), file("a.txt", "a")};
    char *list = pkg_digest_list(files, 2);
    assert_string_equal(
        list, "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb  a.txt\n"
              "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d  b.txt\n");
    free(list);
}

static void test_signature_verifies_only_the_exact_signed_list_by_a_trusted_key(void **state)
{
    (void)state;
    pkg_seckey *k = key_generate("unit");
    pkg_seckey *other = key_generate("other");
    pkg_file files[] = {file("manifest.json", "{}"), file("lib.so", "ELF")};
    char *list = pkg_digest_list(files, 2);
    char *text = pkg_signature_make(list, k);
    pkg_signature s;
    char err[400];
    assert_int_equal(pkg_signature_parse(text, strlen(text), &s, err, sizeof(err)), 0);
    const pkg_pubkey *signer;
    assert_int_equal(pkg_signature_verify(&s, &k->pub, 1, list, &signer, err, sizeof(err)), 0);
    assert_ptr_equal(signer, &k->pub);
    /* Another key with the same id would not do: the signature is checked. */
    pkg_pubkey impostor = other->pub;
    memcpy(impostor.id, k->pub.id, sizeof(impostor.id));
    assert_int_equal(pkg_signature_verify(&s, &impostor, 1, list, &signer, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "does not verify"));
    /* Untrusted. */
    assert_int_equal(pkg_signature_verify(&s, &other->pub, 1, list, &signer, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not trusted"));
    /* One changed file, one missing, one added. */
    pkg_file changed[] = {file("manifest.json", "{ }"), file("lib.so", "ELF")};
    char *l2 = pkg_digest_list(changed, 2);
    assert_int_equal(pkg_signature_verify(&s, &k->pub, 1, l2, &signer, err, sizeof(err)), -1);
    assert_string_equal(err, "tampered after signing: manifest.json differs from what was signed");
    free(l2);
    l2 = pkg_digest_list(files, 1);
    assert_int_equal(pkg_signature_verify(&s, &k->pub, 1, l2, &signer, err, sizeof(err)), -1);
    assert_string_equal(err, "tampered after signing: lib.so was signed but is missing");
    free(l2);
    pkg_file more[] = {files[0], files[1], file("z.txt", "z")};
    l2 = pkg_digest_list(more, 3);
    assert_int_equal(pkg_signature_verify(&s, &k->pub, 1, l2, &signer, err, sizeof(err)), -1);
    assert_string_equal(err, "tampered after signing: z.txt was added");
    free(l2);
    pkg_signature_free(&s);
    /* The signed list edited inside signature.json. */
    char *edited = strdup(text);
    char *digit = strstr(edited, "\"files\": \"") + 10;
    *digit = *digit == '0' ? '1' : '0';
    assert_int_equal(pkg_signature_parse(edited, strlen(edited), &s, err, sizeof(err)), 0);
    assert_int_equal(pkg_signature_verify(&s, &k->pub, 1, s.files, &signer, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "does not verify"));
    pkg_signature_free(&s);
    free(edited);
    free(text);
    free(list);
    key_secret_free(k);
    key_secret_free(other);
}

static void test_key_files_are_checked(void **state)
{
    (void)state;
    pkg_seckey *k = key_generate("c");
    char *text = key_public_text(&k->pub);
    pkg_pubkey p;
    char err[400];
    assert_int_equal(key_parse_public("k.pub", text, strlen(text), &p, err, sizeof(err)), 0);
    assert_memory_equal(p.pk, k->pub.pk, sizeof(p.pk));
    /* A key id that does not match the key. */
    char *bad = strdup(text);
    char *id = strstr(bad, "\"key_id\": \"") + 11;
    id[0] = id[0] == 'a' ? 'b' : 'a';
    assert_int_equal(key_parse_public("k.pub", bad, strlen(bad), &p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "does not match the key"));
    free(bad);
    static const char secret[] = "{\"kind\": \"agenthost-secret-key\"}";
    assert_int_equal(key_parse_public("k.pub", secret, strlen(secret), &p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "this is a secret key"));
    assert_int_equal(key_parse_public("k.pub", "ssh-ed25519 AAAA", 16, &p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not an agenthost key file"));
    free(text);
    key_secret_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_rule_accepts_plain_relative_paths),
        cmocka_unit_test(test_path_rule_refuses_escapes_and_oddities),
        cmocka_unit_test(test_elf_reader_reads_descriptors_of_real_libraries),
        cmocka_unit_test(test_elf_reader_finds_no_descriptor_in_other_libraries),
        cmocka_unit_test(test_elf_reader_survives_every_truncation_and_header_damage),
        cmocka_unit_test(test_digest_list_is_sorted_sha256sum_lines),
        cmocka_unit_test(test_signature_verifies_only_the_exact_signed_list_by_a_trusted_key),
        cmocka_unit_test(test_key_files_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
