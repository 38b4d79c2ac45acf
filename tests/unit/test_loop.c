#include "cmocka_pre.h"

#include "core/loop.h"

#include <agenthost/plugin.h>

#include <signal.h>
#include <unistd.h>

static int ticks, timer_fired, tick_after_timer, got_signal;

static void on_tick(void *ud)
{
    (void)ud;
    ticks++;
    if (timer_fired && !tick_after_timer) tick_after_timer = 1;
}

static void on_timer(uv_timer_t *t)
{
    (void)t;
    timer_fired = 1;
}

static void on_sig(int signum, void *ud)
{
    got_signal = signum;
    loop_stop(ud);
}

static void on_kick(uv_timer_t *t)
{
    (void)t;
    kill(getpid(), SIGUSR1);
}

/* Tick hooks run after the callbacks of an iteration, before waiting. */
static void test_tick_hook_follows_callbacks_and_signals_stop_the_loop(void **s)
{
    (void)s;
    ah_loop *l;
    assert_int_equal(loop_new(&l), 0);
    assert_int_equal(loop_on_tick(l, on_tick, NULL), 0);
    assert_int_equal(loop_on_signal(l, SIGUSR1, on_sig, l), 0);
    uv_timer_t t, k;
    uv_timer_init(loop_uv(l), &t);
    uv_timer_start(&t, on_timer, 10, 0);
    uv_timer_init(loop_uv(l), &k);
    uv_timer_start(&k, on_kick, 50, 0);
    loop_run(l);
    assert_true(timer_fired);
    assert_true(tick_after_timer);
    assert_true(ticks >= 2);
    assert_int_equal(got_signal, SIGUSR1);
    uv_close((uv_handle_t *)&t, NULL);
    uv_close((uv_handle_t *)&k, NULL);
    loop_free(l);
}

static void noop_tick(void *ud)
{
    (void)ud;
}

static void noop_signal(int signum, void *ud)
{
    (void)signum;
    (void)ud;
}

/* The errors loop.h lists, as AH_E* codes: a full table of tick hooks,
 * a signal libuv cannot watch. */
static void test_a_seventeenth_hook_and_a_bad_signal_are_refused_with_ah_codes(void **s)
{
    (void)s;
    ah_loop *l;
    assert_int_equal(loop_new(&l), 0);
    for (int i = 0; i < 16; i++)
        assert_int_equal(loop_on_tick(l, noop_tick, NULL), 0);
    assert_int_equal(loop_on_tick(l, noop_tick, NULL), AH_ETOOBIG);
    assert_int_equal(loop_on_signal(l, 0, noop_signal, NULL), AH_EINVAL);
    loop_free(l);
}

static char order[8];
static int norder;

static void mark(void *ud)
{
    if (norder < 7) order[norder++] = *(const char *)ud;
}

static void stop_after(uv_timer_t *t)
{
    loop_stop(t->data);
}

/* Early hooks run before the ordinary ones whenever they were registered
 * (the bus's positions before the store's hand-off), each kind in its
 * registration order; a removed early hook leaves the others' order. */
static void test_early_tick_hooks_run_before_the_ordinary_ones_in_their_order(void **s)
{
    (void)s;
    ah_loop *l;
    assert_int_equal(loop_new(&l), 0);
    static const char a = 'a', b = 'b', x = 'x', y = 'y', z = 'z';
    assert_int_equal(loop_on_tick(l, mark, (void *)&a), 0);
    assert_int_equal(loop_on_tick_early(l, mark, (void *)&x), 0);
    assert_int_equal(loop_on_tick(l, mark, (void *)&b), 0);
    assert_int_equal(loop_on_tick_early(l, mark, (void *)&y), 0);
    assert_int_equal(loop_on_tick_early(l, mark, (void *)&z), 0);
    loop_remove_tick(l, mark, (void *)&y);
    uv_timer_t t;
    uv_timer_init(loop_uv(l), &t);
    t.data = l;
    uv_timer_start(&t, stop_after, 1, 0);
    norder = 0;
    uv_run(loop_uv(l), UV_RUN_ONCE); /* one pass: every hook once */
    order[norder] = 0;
    assert_string_equal(order, "xzab");
    uv_close((uv_handle_t *)&t, NULL);
    loop_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tick_hook_follows_callbacks_and_signals_stop_the_loop),
        cmocka_unit_test(test_a_seventeenth_hook_and_a_bad_signal_are_refused_with_ah_codes),
        cmocka_unit_test(test_early_tick_hooks_run_before_the_ordinary_ones_in_their_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
