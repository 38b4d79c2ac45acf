/*
 * agenthost/testing.h - a fake host for unit tests of a plugin's callbacks,
 * in the test's own process: no host, no sandbox, no socket. Link the
 * plugin's sources into the test and libagenthost-testing (cmocka or any
 * runner, gdb and valgrind work as on any program):
 *
 *   cc -o test_words test_words.c words.c $(pkg-config --cflags --libs agenthost-sdk) \
 *      -lagenthost-testing
 *
 *   extern const ah_plugin agenthost_plugin;        // what AH_PLUGIN defines
 *   aht *t = aht_new(&agenthost_plugin, "words-test");
 *   assert(aht_init(t, "{\"greeting\": \"hi\"}") == AH_OK);
 *   aht_event(t, "words.in", "{\"text\": \"a b\"}", NULL);
 *   aht_run(t);                                      // completions run here
 *   assert(aht_acked(t) == 1);
 *   json_t *r = aht_call(t, "total", "{}");          // runs until the reply
 *   aht_free(t);
 *
 * The fake keeps the host's promises: services never call back inside the
 * call that asked (completions are queued and run by aht_run, aht_call or
 * aht_advance), a borrowed argument is copied, and the KV store, topics
 * and timers behave as the host's do, with these differences: every
 * publish is accepted (aht_deny_topics refuses some), HTTP requests are
 * answered only from canned answers (else AH_ENOTFOUND, "unmatched"), calls
 * to other instances (host->call) by aht_on_call or canned answers (else
 * AH_ENOTFOUND, "not_found"; the manifest's `calls`, the chain and the
 * timeout are the real host's checks, not the fake's), and time moves only
 * with aht_advance (timers, and KV TTLs). A host->commit (ABI 1.6)
 * completes in aht_run: taken, its events are in aht_published and its
 * event counts in aht_acked; refused (a denied topic, more than 1,000
 * events), nothing is published and the event counts in aht_nacked.
 */
#ifndef AGENTHOST_TESTING_H
#define AGENTHOST_TESTING_H

#include <agenthost/plugin.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct aht aht;

/* A fake host for one instance of `plugin`. */
aht *aht_new(const ah_plugin *plugin, const char *instance_id);
void aht_free(aht *t);

/* Before aht_init: a secret the plugin reads with secret(). */
void aht_secret(aht *t, const char *name, const char *value);
/* Call the plugin's init with this config (JSON text, or NULL for {}). */
int aht_init(aht *t, const char *config_json);

/* Deliver an event (body as JSON text; key may be NULL); the plugin's
 * on_event runs now. Returns the event's number (1, 2, ...), or -1. */
int aht_event(aht *t, const char *topic, const char *body_json, const char *key);
/* Run queued completions until none is left. */
void aht_run(aht *t);
/* Call an action (args as JSON text) and run until it is answered; returns
 * the answer (owned by the fake, valid until aht_free): {"result": ...} or
 * {"error": {"code", "message"}}, partials in {"partials": [...]}; NULL if
 * nothing answered it. */
const json_t *aht_call(aht *t, const char *action, const char *args_json);
/* Move the fake clock on by ms, firing the timers due (and what they
 * start), then run the completions. */
void aht_advance(aht *t, uint64_t ms);

/* What the plugin did. */
size_t aht_acked(const aht *t);
size_t aht_nacked(const aht *t);
/* Published events, in order: [{"topic", "body", "key", "idempotency_key"}]. */
const json_t *aht_published(const aht *t);
/* Log lines, in order: [{"level", "msg"}] (log and log_record). */
const json_t *aht_logs(const aht *t);
/* Metrics, in order: [{"name", "kind", "value", "labels"}]. */
const json_t *aht_metrics(const aht *t);
/* The KV store: an object key -> value, to read or to seed (live: the
 * plugin sees what the test puts there). */
json_t *aht_kv(aht *t);

/* HTTP: answer a request of this method (NULL: GET) and exact URL with
 * status and body (text), once, or every time with repeat. */
void aht_http_answer(aht *t, const char *method, const char *url, int status, const char *body,
                     int repeat);
/* Requests the plugin made, in order: [{"method", "url", "body"}]. */
const json_t *aht_http_requests(const aht *t);
/* Calls to other instances (host->call, ABI 1.4). answer_json is what the
 * call gets: {"result": ...} or {"error": {"code", "message"}} (status
 * AH_EIO), once, or every time with repeat. AH_OK, or AH_EINVAL. */
int aht_call_answer(aht *t, const char *instance, const char *action, const char *answer_json,
                    int repeat);
/* Or compute each answer: fn gets the call (args borrowed) and returns a
 * new {"result": ...} or {"error": {...}}, or NULL to fall back to the
 * canned answers. Tried first. */
typedef json_t *(*aht_call_fn)(void *ud, const char *instance, const char *action,
                               const json_t *args);
void aht_on_call(aht *t, aht_call_fn fn, void *ud);
/* Calls the plugin made, in order: [{"instance", "action", "args"}]. */
const json_t *aht_calls_made(const aht *t);
/* Refuse publishes (and commits) to topics starting with prefix (AH_EDENIED). */
void aht_deny_topics(aht *t, const char *prefix);
/* Grant private storage (ABI 1.5): host->storage_dir answers dir, which the
 * test creates and removes; NULL (the default) grants none. Call before
 * aht_init. */
void aht_storage_dir(aht *t, const char *dir);

#ifdef __cplusplus
}
#endif

#endif
