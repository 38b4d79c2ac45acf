/*
 * request.h - building Chat Completions and Embeddings requests from an
 * action's arguments and the instance's config, and reading a provider's
 * error into one of the plugin's stable codes.
 */
#ifndef LLM_REQUEST_H
#define LLM_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The request body for `model` (new reference), or NULL with err (the
 * arguments are unusable: invalid_request). */
json_t *llm_chat_body(const json_t *args, const json_t *config, const char *model, bool stream,
                      char *err, size_t errlen);

/* The JSON-mode of a call: 0 none, 1 json_object, 2 json_schema. */
int llm_json_mode(const json_t *args);

/* Request headers ("Name: value", NULL-terminated, malloc'd; free with
 * llm_headers_free). api_key may be NULL (Ollama, vLLM without a key). */
char **llm_headers(const json_t *config, const char *api_key, bool stream);
void llm_headers_free(char **h);

/* base_url + "/" + path (malloc'd). */
char *llm_url(const json_t *config, const char *path);

/* Stable codes: auth, rate_limited, timeout, provider_error, bad_response,
 * circuit_open, refused, invalid_request. */
const char *llm_code_for_status(int status);
const char *llm_code_for_broker(const char *broker_code);
/* The code for an error object that came under HTTP 200 (OpenRouter puts
 * the HTTP status in error.code). */
const char *llm_code_for_error(const json_t *error);
/* The provider's message from an error body or object, into out. */
void llm_error_message(const char *body, size_t len, const json_t *error, char *out, size_t n);

#endif
