/*
 * test_run.c - the interpreter (host/engine/run.h) within the conversation:
 * questions and their checks, choices, branches, the contact's profile, the
 * conversation's language, continue_in codes, loops cut at the bound,
 * handoff, missing texts, hooks and an LLM judging answers. The fake
 * outside (jq real, the rest scripted) is tests/support/run_world.c; the
 * steps that call out are in test_run_calls.c.
 */
#include "cmocka_pre.h"

#include "../support/run_world.h"
#include "engine/run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the tests ------------------------------------------------------------------------ */

static const char *ONBOARD =
    "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en', 'ru'],"
    " 'variables': {'name': {'type': 'string'}, 'age': {'type': 'integer', 'default': 0}},"
    " 'start': 'hello',"
    " 'fallback': {'en': 'Sorry.', 'ru': 'Извините.'},"
    " 'steps': {"
    "  'hello': {'kind': 'say', 'text': {'en': 'Hi!', 'ru': 'Привет!'}, 'next': 'ask_name'},"
    "  'ask_name': {'kind': 'ask', 'text': {'en': 'Name?', 'ru': 'Имя?'}, 'var': 'name',"
    "     'validate': {'type': 'text', 'min_length': 2, 'message': {'en': 'Too short.', 'ru': "
    "'Коротко.'}},"
    "     'retries': 1, 'reprompt': {'en': 'Your name, please.', 'ru': 'Имя, пожалуйста.'},"
    "     'on_invalid': 'bye', 'next': 'ask_age'},"
    "  'ask_age': {'kind': 'ask', 'text': 'Age?', 'var': 'age',"
    "     'validate': {'type': 'integer', 'min': 1, 'max': 150}, 'next': 'greet'},"
    "  'greet': {'kind': 'say', 'text': {'en': 'Nice to meet you, {{ vars.name }} ({{ vars.age "
    "}})!',"
    "     'ru': 'Приятно, {{ vars.name }}!'}, 'next': 'bye'},"
    "  'bye': {'kind': 'end', 'outcome': 'done'}}}";

static void a_conversation_runs_from_start_to_end_through_its_questions(void **state)
{
    (void)state;
    world w;
    w_init(&w, ONBOARD);
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_WAITING);
    assert_int_equal(json_array_size(w.t.messages), 2);
    assert_string_equal(text_at(&w, 0), "Hi!");
    assert_string_equal(text_at(&w, 1), "Name?");
    assert_string_equal(conv_str(&w, "state"), "waiting");
    assert_string_equal(conv_str(&w, "current_step"), "ask_name");
    assert_int_equal(json_integer_value(var(&w, "age")), 0); /* the default */

    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': '  Anna '}", NULL), RUN_WAITING);
    assert_string_equal(json_string_value(var(&w, "name")), "Anna");
    assert_string_equal(text_at(&w, 0), "Age?");

    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': '41'}", NULL), RUN_ENDED);
    assert_int_equal(json_integer_value(var(&w, "age")), 41);
    assert_string_equal(text_at(&w, 0), "Nice to meet you, Anna (41)!");
    assert_string_equal(conv_str(&w, "state"), "ended");
    assert_string_equal(conv_str(&w, "outcome"), "done");
    assert_int_equal(events_of(&w, "conversation.ended"), 1);
    /* The conversation keeps its messages, in and out. */
    json_t *msgs = json_object_get(w.conv, "messages");
    assert_int_equal(json_array_size(msgs), 6);
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 2), "direction")),
                        "in");
    w_free(&w);
}

static void an_invalid_answer_is_reprompted_then_leaves_by_on_invalid(void **state)
{
    (void)state;
    world w;
    w_init(&w, ONBOARD);
    json_object_set_new(w.conv, "language", json_string("ru"));
    turn(&w, RUN_WAKE_START, NULL, NULL);
    assert_string_equal(text_at(&w, 1), "Имя?");
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': 'A'}", NULL), RUN_WAITING);
    assert_int_equal(json_array_size(w.t.messages), 2);
    assert_string_equal(text_at(&w, 0), "Коротко.");
    assert_string_equal(text_at(&w, 1), "Имя, пожалуйста.");
    assert_null(var(&w, "name"));
    /* retries: 1 spent: the next invalid answer leaves by on_invalid. */
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': 'B'}", NULL), RUN_ENDED);
    assert_string_equal(conv_str(&w, "outcome"), "done");
    assert_null(var(&w, "name"));
    w_free(&w);
}

static void answers_are_checked_and_stored_by_type(void **state)
{
    (void)state;
    static const struct {
        const char *validate, *answer, *stored; /* stored: JSON, or NULL: refused */
    } cases[] = {
        {"{'type': 'number'}", "3,5", "3.5"},
        {"{'type': 'number'}", "1 000", "1000"},
        {"{'type': 'number'}", "three", NULL},
        {"{'type': 'integer', 'min': 18}", "17", NULL},
        {"{'type': 'integer', 'max': 10}", "10", "10"},
        {"{'type': 'integer'}", "2.5", NULL},
        {"{'type': 'email'}", "anna@example.com", "'anna@example.com'"},
        {"{'type': 'email'}", "anna@example", NULL},
        {"{'type': 'email'}", "a b@example.com", NULL},
        {"{'type': 'phone'}", "+7 (912) 345-67-89", "'+79123456789'"},
        {"{'type': 'phone'}", "12-34", NULL},
        {"{'type': 'date'}", "05.03.2026", "'2026-03-05'"},
        {"{'type': 'date'}", "2026-02-29", NULL},
        {"{'type': 'date'}", "2024-02-29", "'2024-02-29'"},
        {"{'type': 'choice', 'choices': ['Да', 'Нет']}", "ДА", "'Да'"},
        {"{'type': 'choice', 'choices': ['Да', 'Нет']}", "может", NULL},
        {"{'pattern': '^[0-9]{6}$'}", "123456", "'123456'"},
        {"{'pattern': '^[0-9]{6}$'}", "12345", NULL},
        {"{'max_length': 3}", "абвг", NULL},
        {"{'max_length': 4}", "абвг", "'абвг'"},
        {"{'condition': '.value | test(\\\"^A\\\")'}", "Anna", "'Anna'"},
        {"{'condition': '.value | test(\\\"^A\\\")'}", "Boris", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char sc[1024];
        snprintf(sc, sizeof(sc),
                 "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': "
                 "['en'], 'variables': {'x': {'type': 'string'}}, 'start': 'q', 'steps': {"
                 "'q': {'kind': 'ask', 'text': 'Q?', 'var': 'x', 'validate': %s, 'retries': 0,"
                 " 'on_invalid': 'no', 'next': 'yes'},"
                 "'yes': {'kind': 'end', 'outcome': 'yes'}, 'no': {'kind': 'end', 'outcome': "
                 "'no'}}}",
                 cases[i].validate);
        world w;
        w_init(&w, sc);
        turn(&w, RUN_WAKE_START, NULL, NULL);
        char in[200];
        snprintf(in, sizeof(in), "{'text': '%s'}", cases[i].answer);
        assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, in, NULL), RUN_ENDED);
        if (!cases[i].stored) {
            if (strcmp(conv_str(&w, "outcome"), "no") != 0)
                fail_msg("case %zu (%s): %s was accepted", i, cases[i].validate, cases[i].answer);
        } else {
            json_t *want = J(cases[i].stored);
            if (strcmp(conv_str(&w, "outcome"), "yes") != 0 || !json_equal(var(&w, "x"), want))
                fail_msg("case %zu (%s): %s not stored as %s", i, cases[i].validate,
                         cases[i].answer, cases[i].stored);
            json_decref(want);
        }
        w_free(&w);
    }
}

static const char *CHOOSE =
    "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en', 'ru'],"
    " 'variables': {'plan': {'type': 'string'}}, 'start': 'pick', 'steps': {"
    "  'pick': {'kind': 'choice', 'text': {'en': 'Plan?', 'ru': 'Тариф?'}, 'var': 'plan',"
    "    'layout': 'LAYOUT', 'options': ["
    "      {'id': 'basic', 'label': {'en': 'Basic', 'ru': 'Базовый'}, 'match': ['cheap', "
    "'дешёвый']},"
    "      {'id': 'pro', 'label': {'en': 'Pro', 'ru': 'Профи'}, 'next': 'pro_end'}],"
    "    'retries': 0, 'on_invalid': 'none', 'next': 'basic_end'},"
    "  'basic_end': {'kind': 'end', 'outcome': 'basic'},"
    "  'pro_end': {'kind': 'end', 'outcome': 'pro'},"
    "  'none': {'kind': 'end', 'outcome': 'none'}}}";

static void a_choice_is_picked_by_button_number_label_or_match_word(void **state)
{
    (void)state;
    static const struct {
        const char *layout, *input, *outcome;
    } cases[] = {
        {"buttons", "{'payload': 'pro'}", "pro"},    {"list", "{'text': '2'}", "pro"},
        {"list", "{'text': '3'}", "none"},           {"buttons", "{'text': 'ПРОФИ'}", "pro"},
        {"buttons", "{'text': 'Дешёвый'}", "basic"}, {"buttons", "{'text': 'basic'}", "basic"},
        {"buttons", "{'text': 'gold'}", "none"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char sc[2048];
        snprintf(sc, sizeof(sc), "%s", CHOOSE);
        char *at = strstr(sc, "LAYOUT");
        char tail[2048];
        snprintf(tail, sizeof(tail), "%s%s", cases[i].layout, at + 6);
        snprintf(at, sizeof(sc) - (size_t)(at - sc), "%s", tail);
        world w;
        w_init(&w, sc);
        json_object_set_new(w.conv, "language", json_string("ru"));
        turn(&w, RUN_WAKE_START, NULL, NULL);
        if (!strcmp(cases[i].layout, "list")) {
            assert_string_equal(text_at(&w, 0), "Тариф?\n1. Базовый\n2. Профи");
        } else {
            json_t *b = json_object_get(json_array_get(w.t.messages, 0), "buttons");
            assert_int_equal(json_array_size(b), 2);
            assert_string_equal(json_string_value(json_object_get(json_array_get(b, 1), "label")),
                                "Профи");
            assert_string_equal(json_string_value(json_object_get(json_array_get(b, 1), "payload")),
                                "pro");
        }
        assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, cases[i].input, NULL), RUN_ENDED);
        if (strcmp(conv_str(&w, "outcome"), cases[i].outcome) != 0)
            fail_msg("case %zu: %s gave %s, not %s", i, cases[i].input, conv_str(&w, "outcome"),
                     cases[i].outcome);
        if (strcmp(cases[i].outcome, "none") != 0)
            assert_string_equal(json_string_value(var(&w, "plan")), cases[i].outcome);
        w_free(&w);
    }
}

static const char *BRANCH =
    "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
    " 'variables': {'n': {'type': 'integer', 'default': 7}, 'double': {'type': 'integer'}},"
    " 'fallback': 'Sorry, {{ vars.n }}.',"
    " 'start': 'calc', 'steps': {"
    "  'calc': {'kind': 'set', 'set': {'double': '.vars.n * 2', 'n': '.vars.n + 1'}, 'next': "
    "'route'},"
    "  'route': {'kind': 'switch', 'cases': [{'if': '.vars.double > 100', 'next': 'big'},"
    "     {'if': '.vars.double == 14', 'next': 'fourteen'}] DEFAULT},"
    "  'big': {'kind': 'end', 'outcome': 'big'},"
    "  'fourteen': {'kind': 'end', 'outcome': 'fourteen'},"
    "  'other': {'kind': 'end', 'outcome': 'other'}}}";

static world *branch(const char *dflt, const char *n)
{
    world *w = malloc(sizeof(*w));
    w_init_marked(w, BRANCH, "DEFAULT", dflt);
    if (n) json_object_set_new(w->conv, "variables", J(n));
    turn(w, RUN_WAKE_START, NULL, NULL);
    return w;
}

static void set_maps_with_jq_and_switch_takes_the_first_true_case(void **state)
{
    (void)state;
    world *w = branch(", 'default': 'other'", NULL);
    assert_string_equal(conv_str(w, "outcome"), "fourteen");
    /* set's values are all computed from the context before the step. */
    assert_int_equal(json_integer_value(var(w, "double")), 14);
    assert_int_equal(json_integer_value(var(w, "n")), 8);
    w_free(w);
    free(w);
    w = branch(", 'default': 'other'", "{'n': 60}");
    assert_string_equal(conv_str(w, "outcome"), "big");
    w_free(w);
    free(w);
    w = branch(", 'default': 'other'", "{'n': 1}");
    assert_string_equal(conv_str(w, "outcome"), "other");
    w_free(w);
    free(w);
}

static void no_true_case_without_a_default_fails_to_the_fallback(void **state)
{
    (void)state;
    world *w = branch("", "{'n': 1}");
    assert_int_equal(w->f.stop, RUN_ENDED);
    assert_string_equal(conv_str(w, "outcome"), "error");
    assert_string_equal(text_at(w, 0), "Sorry, 2.");
    assert_non_null(strstr(w->f.error, "no_case"));
    w_free(w);
    free(w);
}

static const char *PROFILE =
    "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
    " 'fallback': 'Sorry.', 'start': 'ask_phone', 'steps': {"
    "  'ask_phone': {'kind': 'ask', 'text': 'Phone?', 'var': 'contact.phone',"
    "     'validate': {'type': 'phone'}, 'next': 'tag'},"
    "  'tag': {'kind': 'set', 'set': {'contact.attributes.source': '\\\"bot\\\"',"
    "     'contact.email': 'EMAIL | ascii_downcase', 'contact.name': '42'}, 'next': 'thanks'},"
    "  'thanks': {'kind': 'say', 'text': 'Saved {{ contact.phone }}, {{ contact.email }},"
    " {{ contact.attributes.source }}, {{ contact.name }}', 'next': 'done'},"
    "  'done': {'kind': 'end'}}}";

static void profile_world(world *w, const char *email)
{
    w_init_marked(w, PROFILE, "EMAIL", email);
}

/* contact.* targets write the contact's profile: the turn's profile output
 * (for the commit), seen by the same turn's templates at once; a value the
 * contact's schema refuses fails the step with the field's name. */
static void contact_targets_set_the_profile_and_a_bad_value_fails_naming_the_field(void **state)
{
    (void)state;
    world w;
    profile_world(&w, "\\\"Olga@Example.ORG\\\"");
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_WAITING);
    assert_null(w.t.profile);
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': 'call me'}", NULL), RUN_WAITING);
    assert_null(w.t.profile); /* not a phone: asked again, nothing set */
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': '+7 912 345 67 89'}", NULL), RUN_ENDED);
    assert_null(var(&w, "contact.phone")); /* not a variable */
    assert_string_equal(text_at(&w, 0), "Saved +79123456789, olga@example.org, bot, 42");
    json_t *want = J("{'phone': '+79123456789', 'email': 'olga@example.org', 'name': '42',"
                     " 'attributes': {'source': 'bot'}}");
    assert_true(json_equal(w.t.profile, want));
    json_decref(want);
    w_free(&w);

    /* The e-mail check refuses it: the step fails, naming contact.email. */
    profile_world(&w, "\\\"no address\\\"");
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_WAITING);
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': '+7 912 345 67 89'}", NULL), RUN_ENDED);
    assert_non_null(strstr(w.f.error, "contact.email: not an e-mail address"));
    assert_string_equal(text_at(&w, 0), "Sorry.");
    w_free(&w);

    /* Applying changes merges attributes and removes what is set to null. */
    json_t *profile = J("{'name': 'Old', 'phone': '+1', 'attributes': {'keep': 1, 'source': 'x'}}");
    json_t *changes = J("{'name': 'New', 'phone': null, 'attributes': {'source': 'bot'}}");
    run_profile_apply(profile, changes);
    want = J("{'name': 'New', 'attributes': {'keep': 1, 'source': 'bot'}}");
    assert_true(json_equal(profile, want));
    json_decref(want);
    json_decref(profile);
    json_decref(changes);
}

/* A language menu: choice into conversation.language switches the texts
 * from the next one on; a value that is no language tag fails the step. */
static void conversation_language_switches_the_texts_mid_conversation(void **state)
{
    (void)state;
    const char *menu =
        "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en', 'ru'],"
        " 'fallback': {'en': 'Sorry.', 'ru': 'Извините.'}, 'start': 'pick', 'steps': {"
        "  'pick': {'kind': 'choice', 'text': {'en': 'Language?', 'ru': 'Язык?'},"
        "     'var': 'conversation.language', 'options': ["
        "       {'id': 'ru', 'label': 'Русский'}, {'id': 'en', 'label': 'English'}], 'next': 'hi'},"
        "  'hi': {'kind': 'say', 'text': {'en': 'Hello!', 'ru': 'Здравствуйте!'}, 'next': 'bad'},"
        "  'bad': {'kind': 'set', 'set': {'conversation.language': '\\\"Russian\\\"'}, 'next': "
        "'e'},"
        "  'e': {'kind': 'end'}}}";
    world w;
    w_init(&w, menu);
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_WAITING);
    assert_string_equal(text_at(&w, 0), "Language?");
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': 'Русский'}", NULL), RUN_ENDED);
    assert_string_equal(conv_str(&w, "language"), "ru");
    assert_string_equal(text_at(&w, 0), "Здравствуйте!");
    assert_non_null(strstr(w.f.error, "conversation.language: not a language tag"));
    assert_string_equal(text_at(&w, 1), "Извините."); /* the fallback, in the new language */
    w_free(&w);
}

/* continue_in offers a Telegram deep link: a button to t.me/BOT?start=CODE
 * (49 characters naming the contact), only the code's hash in the turn's
 * link_codes with its instance and expiry; the code found again in a
 * "/start CODE" text hashes the same. By e-mail: the code goes to the
 * address as a message on the mail instance, its subject carrying it. */
static void continue_in_offers_a_single_use_code_keeping_only_its_hash(void **state)
{
    (void)state;
    world w;
    w_init(&w, "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
               " 'start': 'offer', 'variables': {'email': {'type': 'string', 'default': "
               "'ann@example.org'}},"
               " 'steps': {'offer': {'kind': 'continue_in', 'channel': 'telegram', 'instance': "
               "'tg-main', 'bot': 'acme_bot', 'text': 'Go on in Telegram', 'ttl_s': 60,"
               " 'next': 'mail'},"
               "  'mail': {'kind': 'continue_in', 'channel': 'email', 'instance': 'mail-1',"
               "   'to': '{{ vars.email }}', 'text': 'Sent you a code', 'next': 'wait'},"
               "  'wait': {'kind': 'wait', 'for': 'input', 'next': 'offer'}}}");
    json_t *contact = J("{'id': 'con_01KKNS5VK8E1250R9F87ZRTZHZ', 'profile': {}}");
    w.contact = contact;
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_WAITING);
    const char *url = json_string_value(json_object_get(
        json_array_get(json_object_get(json_array_get(w.t.messages, 0), "buttons"), 0), "url"));
    assert_non_null(url);
    assert_true(!strncmp(url, "https://t.me/acme_bot?start=L01KKNS5VK8E1250R9F87ZRTZHZ", 55));
    char code[RUN_LINK_CODE_LEN + 1], text[100], hex[33];
    snprintf(text, sizeof(text), "/start %s", strstr(url, "=") + 1);
    assert_true(run_link_code_find(text, code));
    assert_int_equal(strlen(code), RUN_LINK_CODE_LEN);
    run_link_code_hash(code, hex);
    assert_int_equal(json_array_size(w.t.link_codes), 2);
    const json_t *lc = json_array_get(w.t.link_codes, 0);
    assert_string_equal(json_string_value(json_object_get(lc, "hash")), hex);
    assert_string_equal(json_string_value(json_object_get(lc, "instance")), "tg-main");
    assert_int_equal(json_integer_value(json_object_get(lc, "expires_ms")), 1772700000000 + 60000);
    /* The code itself is in no variable (the history keeps the button:
     * the web chat shows it). */
    char *conv = json_dumps(json_object_get(w.conv, "variables"), 0);
    assert_null(strstr(conv, code));
    free(conv);
    /* The mail: to the address, on the mail instance, the code in its subject. */
    const json_t *m = json_array_get(w.t.messages, 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(m, "channel"), "chat_id")),
        "ann@example.org");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(m, "channel"), "instance")), "mail-1");
    assert_true(run_link_code_find(
        json_string_value(json_object_get(json_object_get(m, "email"), "subject")), code));
    assert_string_equal(text_at(&w, 2), "Sent you a code");
    /* Not a code: too short, or not a contact id's letters. */
    assert_false(run_link_code_find("/start L01KKNS5VK8E", code));
    assert_false(run_link_code_find("hello there", code));
    w_free(&w);
    json_decref(contact);
    /* A simulation's contact (no document): offered all the same, with a
     * code that names no contact. */
    w_init(&w, "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
               " 'start': 'offer', 'steps': {'offer': {'kind': 'continue_in', 'channel': "
               "'telegram', 'instance': 'tg', 'bot': 'acme_bot', 'text': 'Go on', 'next': 'w'},"
               "  'w': {'kind': 'wait', 'for': 'input', 'next': 'offer'}}}");
    contact = J("{'id': 'con_simulated'}");
    w.contact = contact;
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_WAITING);
    url = json_string_value(json_object_get(
        json_array_get(json_object_get(json_array_get(w.t.messages, 0), "buttons"), 0), "url"));
    assert_non_null(strstr(url, "?start=L00000000000000000000000000"));
    w_free(&w);
    json_decref(contact);
}

static void a_loop_that_never_waits_is_cut_and_ends_with_the_fallback(void **state)
{
    (void)state;
    world w;
    w_init(&w, "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
               " 'fallback': 'Oops.', 'settings': {'max_steps_per_turn': 20},"
               " 'start': 'a', 'steps': {'a': {'kind': 'goto', 'next': 'b', 'on_error': 'a'},"
               " 'b': {'kind': 'goto', 'next': 'a'}}}");
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_ENDED);
    assert_int_equal(json_array_size(w.t.path), 20);
    assert_string_equal(text_at(&w, 0), "Oops.");
    assert_non_null(strstr(w.f.error, "loop"));
    w_free(&w);
}

static void a_handed_off_conversation_stays_silent_until_resumed(void **state)
{
    (void)state;
    world w;
    w_init(&w, "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
               " 'start': 'h', 'steps': {'h': {'kind': 'handoff', 'text': 'A person will answer.',"
               " 'queue': 'l2', 'next': 'back'}, 'back': {'kind': 'say', 'text': 'I am back.'}}}");
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_WAITING);
    assert_string_equal(conv_str(&w, "state"), "handed_off");
    assert_int_equal(events_of(&w, "handoff.requested"), 1);
    json_t *ev = json_object_get(json_array_get(w.t.events, 0), "body");
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "target"), "queue")),
                        "l2");
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': 'hello?'}", NULL), RUN_IDLE);
    assert_int_equal(json_array_size(w.t.messages), 0);
    assert_string_equal(conv_str(&w, "state"), "handed_off");
    assert_int_equal(turn(&w, RUN_WAKE_RESUME, NULL, NULL), RUN_ENDED);
    assert_string_equal(text_at(&w, 0), "I am back.");
    /* A resume of a conversation not handed off does nothing. */
    assert_int_equal(turn(&w, RUN_WAKE_RESUME, NULL, NULL), RUN_IDLE);
    w_free(&w);
}

static void a_text_missing_in_the_conversations_language_falls_back_and_is_told(void **state)
{
    (void)state;
    world w;
    w_init(&w, "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
               " 'start': 's', 'steps': {'s': {'kind': 'say', 'text': {'en': 'Hello'}}}}");
    json_object_set_new(w.conv, "language", json_string("ru"));
    turn(&w, RUN_WAKE_START, NULL, NULL);
    assert_string_equal(text_at(&w, 0), "Hello");
    assert_int_equal(json_array_size(w.f.missing), 1);
    assert_string_equal(json_string_value(json_array_get(w.f.missing, 0)), "steps.s.text@ru");
    w_free(&w);
}

/* ---- hooks ------------------------------------------------------------------------------ */

static const json_t *call_args(world *w, size_t i, const char *what)
{
    json_t *c = json_array_get(w->f.calls, i);
    if (!c) fail_msg("no call %zu (wanted %s)", i, what);
    assert_string_equal(json_string_value(json_object_get(c, "what")), what);
    return json_object_get(c, "args");
}

static const char *point_of(world *w, size_t i)
{
    return json_string_value(
        json_object_get(json_object_get(json_array_get(w->f.calls, i), "args"), "point"));
}

static void hooks_are_told_each_step_in_order_and_may_change_the_input_and_variables(void **s)
{
    (void)s;
    world w;
    w_init(&w, ONBOARD);
    json_t *agent = J("{'id': 'agt_1', 'hooks': ["
                      " {'instance': 'guard', 'action': 'redact', 'points': ['on_message'], "
                      "  'modify': true},"
                      " {'instance': 'audit', 'points': ['before_step', 'after_step']}]}");
    w.t.agent = agent;
    /* The start: hello (say) runs, ask_name asks and waits. */
    script(&w, "audit__hook", "[{'result': {}}, {'result': {}}, {'result': {}}, {'result': {}}]");
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_WAITING);
    assert_int_equal(json_array_size(w.f.calls), 4);
    assert_string_equal(point_of(&w, 0), "before_step");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(call_args(&w, 0, "audit__hook"), "step"), "id")),
                        "hello");
    assert_string_equal(point_of(&w, 1), "after_step");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(call_args(&w, 1, "audit__hook"), "step"), "id")),
                        "hello");
    assert_string_equal(point_of(&w, 2), "before_step");
    assert_string_equal(point_of(&w, 3), "after_step"); /* ask_name waits: its entry closed */
    assert_string_equal(
        json_string_value(json_object_get(call_args(&w, 3, "audit__hook"), "conversation_id")),
        "cnv_1");

    /* The answer: the on_message hook changes it before anything reads it. */
    json_array_clear(w.f.calls);
    script(&w, "guard__redact",
           "[{'result': {'input': {'text': 'Anna ***'}, 'vars': {'redactions': 1}}}]");
    script(&w, "audit__hook",
           "[{'result': {}}, {'result': {}}, {'result': {}}, {'result': {}},"
           " {'result': {}}, {'result': {}}]");
    turn(&w, RUN_WAKE_MESSAGE, "{'text': 'Anna 4111111111111111'}", NULL);
    assert_string_equal(point_of(&w, 0), "on_message");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(call_args(&w, 0, "guard__redact"), "input"), "text")),
                        "Anna 4111111111111111");
    assert_string_equal(json_string_value(var(&w, "name")), "Anna ***");
    assert_int_equal(json_integer_value(var(&w, "redactions")), 1);
    /* What is kept of the conversation is what the hook left. */
    const json_t *msgs = json_object_get(w.conv, "messages");
    bool kept_clear = false;
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m)
    {
        const char *t = json_string_value(json_object_get(m, "text"));
        kept_clear |= t && strstr(t, "4111") != NULL;
    }
    assert_false(kept_clear);
    json_decref(agent);
    w_free(&w);
}

static void a_failing_or_garbage_hook_is_skipped_and_the_conversation_goes_on(void **s)
{
    (void)s;
    world w;
    w_init(&w, ONBOARD);
    json_t *agent = J("{'id': 'agt_1', 'hooks': ["
                      " {'instance': 'slow', 'points': ['on_message', 'before_step'], "
                      "  'timeout_ms': 50},"
                      " {'instance': 'bad', 'points': ['on_message'], 'modify': true}]}");
    w.t.agent = agent;
    script(&w, "slow__hook",
           "[{'error': 'timeout', 'message': 'no answer in 50 ms'},"
           " {'error': 'crashed', 'message': 'the plugin crashed'},"
           " {'error': 'timeout', 'message': 'no answer'}]");
    script(&w, "bad__hook", "[{'result': {'vars': 'not an object'}}]");
    assert_int_equal(turn(&w, RUN_WAKE_START, "{'text': 'hi'}", NULL), RUN_WAITING);
    assert_string_equal(text_at(&w, 0), "Hi!");
    assert_string_equal(text_at(&w, 1), "Name?");
    assert_string_equal(conv_str(&w, "state"), "waiting");
    assert_null(var(&w, "name"));
    json_decref(agent);
    w_free(&w);
}

static void an_llm_judges_an_answer_and_its_reason_is_said_before_asking_again(void **s)
{
    (void)s;
    world w;
    w_init(&w,
           "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
           " 'variables': {'city': {'type': 'string'}}, 'start': 'ask',"
           " 'steps': {'ask': {'kind': 'ask', 'text': {'en': 'Where do you live?'}, 'var': 'city',"
           "   'validate': {'type': 'text', 'llm': {'prompt': 'the name of a city'}},"
           "   'on_error': 'oops', 'next': 'bye'},"
           "  'oops': {'kind': 'end', 'outcome': 'judge_failed'},"
           "  'bye': {'kind': 'end', 'outcome': 'done'}}}");
    assert_int_equal(turn(&w, RUN_WAKE_START, NULL, NULL), RUN_WAITING);
    script(&w, "llm.chat",
           "[{'result': {'content': 'Verdict: {\\'valid\\': false, \\'reason\\': \\'That is not a "
           "city.\\'}'}},"
           " {'result': {'content': '```json\\n{\\'valid\\': true}\\n```'}},"
           " {'result': {'content': 'I cannot tell.'}}]");
    json_array_clear(w.f.calls);
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': 'blue'}", NULL), RUN_WAITING);
    assert_string_equal(text_at(&w, 0), "That is not a city.");
    assert_string_equal(text_at(&w, 1), "Where do you live?");
    const json_t *msgs = json_object_get(call_args(&w, 0, "llm.chat"), "messages");
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(msgs, 0), "content")),
                           "The question: Where do you live?\nA valid answer: the name of a city"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 1), "content")),
                        "blue");
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': 'Kazan'}", NULL), RUN_ENDED);
    assert_string_equal(json_string_value(var(&w, "city")), "Kazan");
    assert_string_equal(conv_str(&w, "outcome"), "done");
    w_free(&w);

    /* A model that gives no verdict fails the step: its on_error follows. */
    w_init(&w, "{'format': 'agenthost.scenario/1', 'default_language': 'en', 'languages': ['en'],"
               " 'variables': {'city': {'type': 'string'}}, 'start': 'ask',"
               " 'steps': {'ask': {'kind': 'ask', 'text': {'en': 'Where?'}, 'var': 'city',"
               "   'validate': {'llm': {'prompt': 'a city'}}, 'on_error': 'oops', 'next': 'bye'},"
               "  'oops': {'kind': 'end', 'outcome': 'judge_failed'},"
               "  'bye': {'kind': 'end', 'outcome': 'done'}}}");
    turn(&w, RUN_WAKE_START, NULL, NULL);
    script(&w, "llm.chat", "[{'result': {'content': 'I cannot tell.'}}]");
    assert_int_equal(turn(&w, RUN_WAKE_MESSAGE, "{'text': 'Kazan'}", NULL), RUN_ENDED);
    assert_string_equal(conv_str(&w, "outcome"), "judge_failed");
    w_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_conversation_runs_from_start_to_end_through_its_questions),
        cmocka_unit_test(an_invalid_answer_is_reprompted_then_leaves_by_on_invalid),
        cmocka_unit_test(answers_are_checked_and_stored_by_type),
        cmocka_unit_test(a_choice_is_picked_by_button_number_label_or_match_word),
        cmocka_unit_test(set_maps_with_jq_and_switch_takes_the_first_true_case),
        cmocka_unit_test(no_true_case_without_a_default_fails_to_the_fallback),
        cmocka_unit_test(contact_targets_set_the_profile_and_a_bad_value_fails_naming_the_field),
        cmocka_unit_test(continue_in_offers_a_single_use_code_keeping_only_its_hash),
        cmocka_unit_test(conversation_language_switches_the_texts_mid_conversation),
        cmocka_unit_test(a_loop_that_never_waits_is_cut_and_ends_with_the_fallback),
        cmocka_unit_test(a_handed_off_conversation_stays_silent_until_resumed),
        cmocka_unit_test(a_text_missing_in_the_conversations_language_falls_back_and_is_told),
        cmocka_unit_test(hooks_are_told_each_step_in_order_and_may_change_the_input_and_variables),
        cmocka_unit_test(a_failing_or_garbage_hook_is_skipped_and_the_conversation_goes_on),
        cmocka_unit_test(an_llm_judges_an_answer_and_its_reason_is_said_before_asking_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
