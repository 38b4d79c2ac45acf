/*
 * Unit tests of @NAME@'s callbacks, in this process, against the fake host
 * of agenthost/testing.h (no host, no sandbox: run it under gdb or
 * valgrind as any program). `make test` builds and runs it. Plain asserts;
 * cmocka or any runner works the same way.
 */
#include <agenthost/testing.h>

#include <assert.h>
#include <stdio.h>
#include <string.h>

extern const ah_plugin agenthost_plugin; /* what AH_PLUGIN defines in @NAME@.c */
size_t count_words(const char *text);

static void test_words_are_runs_of_letters_and_digits(void)
{
    assert(count_words("") == 0);
    assert(count_words("one, two;three  4") == 4);
}

static void test_an_event_adds_its_words_publishes_and_is_acked(void)
{
    aht *t = aht_new(&agenthost_plugin, "@NAME@-test");
    assert(aht_init(t, NULL) == AH_OK);
    json_object_set_new(aht_kv(t), "words", json_integer(10)); /* seeded */
    aht_event(t, "@NAME@.in", "{\"text\": \"one two three\"}", NULL);
    aht_run(t);
    assert(aht_acked(t) == 1 && aht_nacked(t) == 0);
    const json_t *p = json_array_get(aht_published(t), 0);
    assert(!strcmp(json_string_value(json_object_get(p, "topic")), "@NAME@.counted"));
    assert(json_integer_value(json_object_get(json_object_get(p, "body"), "total")) == 13);
    const json_t *r = aht_call(t, "total", "{}");
    assert(json_integer_value(json_object_get(json_object_get(r, "result"), "total")) == 13);
    aht_free(t);
}

static void test_a_refused_publish_nacks_the_event(void)
{
    aht *t = aht_new(&agenthost_plugin, "@NAME@-test");
    assert(aht_init(t, NULL) == AH_OK);
    aht_deny_topics(t, "@NAME@.");
    aht_event(t, "@NAME@.in", "{\"text\": \"x\"}", NULL);
    aht_run(t);
    assert(aht_acked(t) == 0 && aht_nacked(t) == 1);
    aht_free(t);
}

int main(void)
{
    test_words_are_runs_of_letters_and_digits();
    test_an_event_adds_its_words_publishes_and_is_acked();
    test_a_refused_publish_nacks_the_event();
    printf("@NAME@: 3 tests passed\n");
    return 0;
}
