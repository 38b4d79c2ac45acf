/*
 * The e-mail channel survives SIGKILL: the real binary, real Dovecot and
 * Postfix on loopback, the fake OpenAI server. Mails arrive in waves; in
 * each wave the host is killed (SIGKILL, no shutdown) as soon as the first
 * answer of that wave is in the customer's mailbox, so that the others are
 * still being fetched, published or answered, then started again. In the
 * end every mail has exactly one answer: none lost (the poller's place is
 * committed with the published mails), none answered twice (the send
 * records of outbound.c).
 */
#include "../fakes/fake_proc.h"
#include "../servers/mailclient.h"
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_LLM TH_BUILD_DIR "/tests/fakes/fake_openai"
#define API_KEY "sk-test-Zq8vN3kLpW5xR2mT7yB4"
#define CUSTOMER MC_CUSTOMER
#define WAVES 3
#define PER_WAVE 4

static th_host H;
static mailserver M;
static fake_proc LLM;
static char AGENT[64];

/* Mail number i, from its own plus address of the customer (each sender
 * under the rate limit; the answers land in the customer's INBOX). */
static void mail_in(int i)
{
    char from[100], mid[100], subject[40], text[40];
    snprintf(from, sizeof(from), "Customer <customer+%d@example.test>", i);
    snprintf(mid, sizeof(mid), "kill-%d@example.test", i);
    snprintf(subject, sizeof(subject), "Question %d", i);
    snprintf(text, sizeof(text), "Question number %d?", i);
    mc_mail(&M, from, M.user, mid, subject, "", text);
}

/* The UIDs of the mails in the customer's INBOX answering mail i
 * (In-Reply-To) into v (up to max); how many there are. */
static long answers_of(int i, long *v, long max)
{
    char crit[200];
    snprintf(crit, sizeof(crit), "HEADER In-Reply-To \"<kill-%d@example.test>\"", i);
    long n = mc_search(&M, CUSTOMER, "INBOX", crit, v, (size_t)max);
    assert_true(n >= 0);
    return n;
}

static long answers_to(int i)
{
    return answers_of(i, NULL, 0);
}

/* The Message-ID of the customer's mail uid (malloc'd), or "". */
static char *message_id_of(long uid)
{
    char *raw = mc_fetch(&M, CUSTOMER, uid);
    char *out = strdup(mc_header(raw, "Message-ID"));
    free(raw);
    return out;
}

static int start_host(void)
{
    return th_start(&H, NULL, 15000) || !th_wait_state(&H, "mail", "ready", 15000) ||
                   !th_wait_state(&H, "llm", "ready", 15000)
               ? -1
               : 0;
}

static int setup(void **s)
{
    (void)s;
    if (mailserver_start(&M, TH_SOURCE_DIR) < 0) {
        fprintf(stderr, "mail servers: %s\n", M.why);
        return -1;
    }
    if (fake_start(&LLM, FAKE_LLM, 5000)) return -1;
    int port = th_free_port();
    if (port < 0) return -1;
    char *cfg = NULL;
    if (asprintf(&cfg,
                 "{\"listen\": \"127.0.0.1:%d\", \"bus\": {\"backoff_ms\": 50}, \"instances\": ["
                 " {\"id\": \"mail\", \"plugin\": \"email\", \"config\": {"
                 "  \"imap_url\": \"imap://127.0.0.1:%d\", \"smtp_url\": \"smtp://127.0.0.1:%d\","
                 "  \"address\": \"%s\", \"poll_interval_s\": 1, \"max_per_poll\": 2},"
                 "  \"egress\": [{\"scheme\": \"imap\", \"host\": \"127.0.0.1\", \"port\": %d, "
                 "   \"private\": true}, {\"scheme\": \"smtp\", \"host\": \"127.0.0.1\", "
                 "   \"port\": %d, \"private\": true}]},"
                 " {\"id\": \"llm\", \"plugin\": \"llm-openai\","
                 "  \"config\": {\"base_url\": \"http://127.0.0.1:%d/v1\", \"model\": \"gpt-4o\"},"
                 "  \"egress\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": %d,"
                 "   \"private\": true}]}]}",
                 port, M.imap_port, M.submission_port, M.user, M.imap_port, M.submission_port,
                 LLM.port, LLM.port) < 0)
        return -1;
    /* An answer to a question: the model's text, then wait for the next mail. */
    char *scenario = th_read_source("tests/fixtures/scenarios/mail-llm-answer-en.json");
    int rc = !scenario || th_init(&H, "email-crash") || th_install_plugin(&H, "jq") ||
             th_install_plugin(&H, "email") || th_install_plugin(&H, "llm-openai") ||
             th_config(&H, cfg) ||
             th_cli(&H, API_KEY "\n", NULL, 0, "secret", "set", "llm", "api_key", NULL) ||
             mc_store_login(&H, "mail", &M) || start_host() ||
             !th_wait_file(&H, "logs/plugins/mail.log", "watching INBOX", 20000) ||
             th_make_agent(&H, "Mail FAQ", scenario, "\"channels\": [{\"instance\": \"mail\"}]",
                           AGENT, sizeof(AGENT));
    free(cfg);
    free(scenario);
    return rc ? -1 : 0;
}

static int teardown(void **s)
{
    (void)s;
    th_kill(&H); /* killed hosts leave nothing to stop cleanly */
    th_cleanup(&H);
    fake_stop(&LLM);
    mailserver_stop(&M);
    return 0;
}

static void test_a_host_killed_while_answering_mail_loses_none_and_answers_none_twice(void **s)
{
    (void)s;
    for (int w = 0; w < WAVES; w++) {
        int first = w * PER_WAVE;
        for (int i = first; i < first + PER_WAVE; i++)
            mail_in(i);
        long long deadline = th_now_ms() + 60000;
        while (!answers_to(first)) { /* the wave is under way: kill it there */
            if (th_now_ms() > deadline) fail_msg("no answer to mail %d after 60 s", first);
            th_sleep_ms(20);
        }
        th_kill(&H);
        int done = 0;
        for (int i = first; i < first + PER_WAVE; i++)
            done += answers_to(i) > 0;
        fprintf(stderr, "wave %d: killed with %d of %d mails answered\n", w, done, PER_WAVE);
        assert_int_equal(start_host(), 0);
    }
    long long deadline = th_now_ms() + 120000;
    for (int i = 0; i < WAVES * PER_WAVE; i++)
        while (!answers_to(i)) {
            if (th_now_ms() > deadline) fail_msg("mail %d was never answered", i);
            th_sleep_ms(50);
        }
    /* Another round of polls, so that a repeat would have happened by now. */
    th_sleep_ms(3000);
    long repeated = 0;
    for (int i = 0; i < WAVES * PER_WAVE; i++) {
        long v[8];
        long n = answers_of(i, v, 8);
        assert_true(n >= 1 && n <= 8);
        /* One answer. A send cut by the kill after the server took the mail and
         * before its record was written is sent again with the same Message-ID
         * (outbound.c: a possible duplicate, logged; mail clients show one); a
         * second answer with another Message-ID would be a second turn. */
        char *first = message_id_of(v[0]);
        assert_true(first[0]);
        for (long k = 1; k < n; k++) {
            char *other = message_id_of(v[k]);
            if (strcmp(first, other) != 0)
                fail_msg("mail %d answered twice: %s and %s", i, first, other);
            free(other);
            repeated++;
        }
        free(first);
    }
    fprintf(stderr, "answers re-sent with the same Message-ID after a kill: %ld\n", repeated);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_host_killed_while_answering_mail_loses_none_and_answers_none_twice),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
