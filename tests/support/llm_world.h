/*
 * llm_world.h - the world of the llm-openai tests (test_llm*.c): fake
 * OpenAI servers, an HTTPS peer and the agenthost under test, started once
 * per test program (llm_world_setup as the group setup), and what the
 * tests read of them.
 */
#ifndef AH_TEST_LLM_WORLD_H
#define AH_TEST_LLM_WORLD_H

#include "../fakes/fake_proc.h"
#include "th.h"

#include <jansson.h>

/* The provider key every keyed instance holds (secret api_key). */
#define API_KEY "sk-test-Zq8vN3kLpW5xR2mT7yB4"

/* The host under test; its instances: llm (system prompt, OpenRouter
 * headers, temperature 0.2, stream idle 400 ms), llm-fb (a fallback
 * answer), llm-local (aimed at "localhost", no grant), llm-b (fake B),
 * llm-one (in_flight 1), llm-self (aimed at the host's own port under a
 * broad grant), llm-tls and llm-tls-ca (T, without and with its CA). */
extern th_host H;
/* Another agenthost serving HTTPS with a throwaway CA. */
extern th_host T;
/* The fake providers: A serves all but the breaker tests, B those alone. */
extern fake_proc A, B;
/* H's own listen port, fixed so an instance can aim at it. */
extern int host_port;

/* GET (or another method) on a fake's control API: its JSON, or NULL. */
json_t *fake_api(const fake_proc *f, const char *method, const char *path);
/* How many requests the fake saw for model. */
long fake_count(const fake_proc *f, const char *model);
/* The last request the fake saw for model. */
json_t *fake_last(const fake_proc *f, const char *model);
/* An action of an instance of H: the HTTP status, the answer in *out. */
int call(const char *inst, const char *action, const char *args, json_t **out);
/* The error.code of an answer. */
const char *err_code(json_t *o);
/* A streamed call: the SSE body of the answer (asserts 200). */
char *call_sse(const char *inst, const char *action, const char *args);
/* The events of an SSE body as [{"event": name, "data": json}]. */
json_t *sse_parse(const char *body);

/* cmocka group setup and teardown: start and stop all of it. */
int llm_world_setup(void **state);
int llm_world_teardown(void **state);

/* No log file of H holds the key, its tail, or a bearer header with it. */
void llm_world_expect_no_secret_in_logs(void);

#endif
