/*
 * api_priv.h - what the handler files share. Not a public header.
 */
#ifndef AH_API_PRIV_H
#define AH_API_PRIV_H

#include "../app.h"
#include "../core/throttle.h"
#include "../core/tokens.h"
#include "api.h"

#include <jansson.h>

/* The webhook ingress publishes each request to "hooks.<instance>"; these
 * topics take no event from anywhere else (the topics API refuses them). */
#define API_HOOK_TOPIC_PREFIX "hooks."
/* Wrong webhook secrets: this many from one address for one instance
 * within the window, and that address waits (429) for that instance. */
#define API_HOOK_FAIL_LIMIT 10
#define API_HOOK_FAIL_WINDOW_MS 60000u

struct api {
    app *app;
    http_server *srv;
    throttle *auth_fails; /* by client address */
    throttle *hook_fails; /* by client address and instance */
};

/* Parse the request body as JSON. On failure the request is answered (400
 * with line and column, or 415 when a body comes without a Content-Type of
 * application/json) and -1 returned. An empty body gives `empty` (a new
 * reference) when not NULL, else 400; it needs no Content-Type. */
int api_body_json(http_req *req, json_t **out, json_t *empty);
/* True when a Content-Type is exactly application/json (any case, with or
 * without parameters such as "; charset=utf-8"). */
bool api_is_json_type(const char *content_type);
/* 429 too_many_requests with Retry-After: wait_s. */
void api_respond_throttled(http_req *req, unsigned wait_s, const char *message);

/* 404 for an unknown instance; returns NULL after answering. */
instance *api_instance(api *x, http_req *req, const route_params *p);

/* Answer 422 from a validator message "path: message". */
void api_respond_invalid(http_req *req, const char *code, const char *verr);

void api_metrics_start(app *a);
void api_metrics_stop(app *a);

/* Handlers. */
void h_health(void *ctx, http_req *req, const route_params *p);
void h_ready(void *ctx, http_req *req, const route_params *p);
void h_metrics(void *ctx, http_req *req, const route_params *p);
void h_openapi(void *ctx, http_req *req, const route_params *p);
void h_plugins(void *ctx, http_req *req, const route_params *p);
void h_plugin(void *ctx, http_req *req, const route_params *p);
void h_instances(void *ctx, http_req *req, const route_params *p);
void h_instance(void *ctx, http_req *req, const route_params *p);
void h_instance_restart(void *ctx, http_req *req, const route_params *p);
void h_instance_enable(void *ctx, http_req *req, const route_params *p);
void h_instance_disable(void *ctx, http_req *req, const route_params *p);
void h_instance_log(void *ctx, http_req *req, const route_params *p);
void h_instance_call(void *ctx, http_req *req, const route_params *p);
void h_topics(void *ctx, http_req *req, const route_params *p);
void h_topic(void *ctx, http_req *req, const route_params *p);
void h_topic_events(void *ctx, http_req *req, const route_params *p);
void h_topic_publish(void *ctx, http_req *req, const route_params *p);
void h_consumers(void *ctx, http_req *req, const route_params *p);
void h_dlq(void *ctx, http_req *req, const route_params *p);
void h_dlq_requeue(void *ctx, http_req *req, const route_params *p);
void h_dlq_drop(void *ctx, http_req *req, const route_params *p);
void h_hook(void *ctx, http_req *req, const route_params *p);

#endif
