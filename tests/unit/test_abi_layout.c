/*
 * The ABI's compatibility rule, checked mechanically: every member of the
 * ABI 1.0 structs keeps its offset and size in the current header (a minor
 * bump only appends), every struct is at least as large, the constants
 * keep their values, and the descriptor's symbol keeps its name.
 */
#include <agenthost/plugin.h>

#include "abi_layout.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

static const abi_fact now_members[] = {ABI10_MEMBERS(ABI_MEMBER_FACT)};
static const abi_fact now_structs[] = {ABI10_STRUCTS(ABI_STRUCT_FACT)};
static const abi_fact now_constants[] = {ABI10_CONSTANTS(ABI_CONSTANT_FACT)};

static void test_frozen_headers_are_abi_1_0(void **state)
{
    (void)state;
    assert_int_equal(abi10_frozen_minor, 0);
    assert_int_equal(AH_ABI_MAJOR, 1);
    assert_true(AH_ABI_MINOR >= abi10_frozen_minor);
}

static void test_every_1_0_member_keeps_its_offset_and_size(void **state)
{
    (void)state;
    assert_int_equal(abi10_frozen_nmembers, sizeof(now_members) / sizeof(now_members[0]));
    for (size_t i = 0; i < abi10_frozen_nmembers; i++) {
        const abi_fact *was = &abi10_frozen_members[i], *is = &now_members[i];
        if (was->offset != is->offset || was->size != is->size)
            fail_msg("%s moved: 1.0 had offset %zu size %zu, now offset %zu size %zu", was->what,
                     was->offset, was->size, is->offset, is->size);
    }
}

static void test_structs_only_grow(void **state)
{
    (void)state;
    for (size_t i = 0; i < abi10_frozen_nstructs; i++)
        if (now_structs[i].size < abi10_frozen_structs[i].size)
            fail_msg("%s shrank from %zu to %zu bytes", now_structs[i].what,
                     abi10_frozen_structs[i].size, now_structs[i].size);
}

static void test_constants_and_the_descriptor_symbol_keep_their_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < abi10_frozen_nconstants; i++)
        if (now_constants[i].offset != abi10_frozen_constants[i].offset)
            fail_msg("%s changed from %zd to %zd", now_constants[i].what,
                     (ssize_t)abi10_frozen_constants[i].offset, (ssize_t)now_constants[i].offset);
    assert_string_equal(abi10_frozen_symbol, AH_PLUGIN_SYMBOL);
}

/* ABI 1.6 appended host->commit after 1.5's storage_dir, at the table's end:
 * a plugin built for 1.5 sees its table unchanged, and AH_HOST_HAS(host,
 * commit) is false on a 1.5 host (its table ends before the member). */
static void test_abi_1_6_commit_is_appended_after_storage_dir(void **state)
{
    (void)state;
    assert_true(AH_ABI_MINOR >= 6);
    assert_int_equal(offsetof(ah_host, commit),
                     offsetof(ah_host, storage_dir) + sizeof(((ah_host *)0)->storage_dir));
    assert_int_equal(sizeof(ah_host), offsetof(ah_host, commit) + sizeof(((ah_host *)0)->commit));
    ah_host old15 = {.size = offsetof(ah_host, commit)}, now = {.size = sizeof(ah_host)};
    assert_false(AH_HOST_HAS(&old15, commit));
    assert_true(AH_HOST_HAS(&now, commit));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frozen_headers_are_abi_1_0),
        cmocka_unit_test(test_every_1_0_member_keeps_its_offset_and_size),
        cmocka_unit_test(test_structs_only_grow),
        cmocka_unit_test(test_constants_and_the_descriptor_symbol_keep_their_values),
        cmocka_unit_test(test_abi_1_6_commit_is_appended_after_storage_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
