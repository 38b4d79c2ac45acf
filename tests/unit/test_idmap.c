#include "cmocka_pre.h"

#include "../../sdk/ipc/idmap.h"

#include <stdlib.h>

/* Random puts and takes agree with a plain array. */
static void test_idmap_matches_a_reference_under_random_operations(void **s)
{
    (void)s;
    enum { N = 4096 };
    static void *ref[N];
    ah_idmap m;
    ah_idmap_init(&m);
    srand(7);
    size_t live = 0;
    for (int i = 0; i < 200000; i++) {
        uint64_t id = (uint64_t)(rand() % (N - 1)) + 1;
        if (rand() % 3) {
            void *v = (void *)(uintptr_t)(i + 1);
            if (!ref[id]) live++;
            ref[id] = v;
            assert_int_equal(ah_idmap_put(&m, id, v), 0);
        } else {
            void *got = ah_idmap_take(&m, id);
            assert_ptr_equal(got, ref[id]);
            if (ref[id]) live--;
            ref[id] = NULL;
        }
        if (i % 1000 == 0)
            for (uint64_t k = 1; k < N; k++)
                assert_ptr_equal(ah_idmap_get(&m, k), ref[k]);
    }
    assert_int_equal(m.n, live);
    size_t pos = 0, seen = 0;
    uint64_t id;
    void *v;
    while (ah_idmap_next(&m, &pos, &id, &v)) {
        assert_ptr_equal(ref[id], v);
        seen++;
    }
    assert_int_equal(seen, live);
    ah_idmap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idmap_matches_a_reference_under_random_operations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
