#include "cmocka_pre.h"

#include "core/randpool.h"

#include <stdlib.h>
#include <string.h>

static int cmp16(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

/* Three pools' worth of 16-byte ids (two refills): every id differs, and
 * the pool is not all zeros (it was drawn). */
static void test_ids_stay_distinct_across_refills(void **s)
{
    (void)s;
    enum { N = 3 * 4096 / 16 };
    static uint8_t ids[N][16];
    ah_randpool p = {0};
    for (size_t i = 0; i < N; i++)
        ah_randpool_take(&p, ids[i], 16);
    qsort(ids, N, 16, cmp16);
    for (size_t i = 1; i < N; i++)
        assert_true(memcmp(ids[i - 1], ids[i], 16) != 0);
    static const uint8_t zero[16];
    assert_true(memcmp(ids[N - 1], zero, 16) != 0);
}

/* A take that does not fit what is left draws a fresh pool: no byte is
 * read past the pool's start (ASan), none handed out twice. */
static void test_a_take_larger_than_what_is_left_refills(void **s)
{
    (void)s;
    ah_randpool p = {0};
    uint8_t a[4000], b[200], c[4096];
    ah_randpool_take(&p, a, sizeof(a));
    assert_int_equal(p.left, 96);
    ah_randpool_take(&p, b, sizeof(b)); /* 96 left: refilled */
    assert_int_equal(p.left, 4096 - 200);
    ah_randpool_take(&p, c, sizeof(c)); /* a whole pool */
    assert_int_equal(p.left, 0);
    assert_true(memcmp(a + 3800, b, 200) != 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_stay_distinct_across_refills),
        cmocka_unit_test(test_a_take_larger_than_what_is_left_refills),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
