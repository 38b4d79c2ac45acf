/*
 * egress_log.c - integration and security logs, egress metrics. See egress_log.h.
 */
#include "egress_log.h"

#include "core/log.h"
#include "core/metrics.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#define PATH_LOG_MAX 512

void egress_log_init(void)
{
    metrics_describe("agenthost_egress_requests_total", METRIC_COUNTER,
                     "Egress requests by instance, host and outcome (status class or error code)");
    metrics_describe("agenthost_egress_request_duration_seconds", METRIC_HISTOGRAM,
                     "Egress request latency, retries included");
    metrics_describe("agenthost_egress_response_bytes_total", METRIC_COUNTER,
                     "Response bytes received through the broker");
    metrics_describe("agenthost_egress_request_bytes_total", METRIC_COUNTER,
                     "Request body bytes sent through the broker");
    metrics_describe("agenthost_egress_retries_total", METRIC_COUNTER,
                     "Retries made by the broker");
    metrics_describe("agenthost_egress_refused_total", METRIC_COUNTER,
                     "Requests refused by the egress policy");
    metrics_describe("agenthost_egress_in_flight", METRIC_GAUGE,
                     "Egress requests in flight per instance");
    metrics_describe("agenthost_egress_breaker_state", METRIC_GAUGE,
                     "Circuit breaker per destination: 0 closed, 1 half-open, 2 open");
    metrics_describe("agenthost_egress_breaker_opened_total", METRIC_COUNTER,
                     "Times a destination's breaker opened");
}

void egress_log_path(const char *url, char *out, size_t len)
{
    snprintf(out, len, "/");
    CURLU *u = curl_url();
    char *path = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && path)
        snprintf(out, len, "%.*s", PATH_LOG_MAX, path);
    curl_free(path);
    curl_url_cleanup(u);
}

static void status_class(int status, const char *err, char *out, size_t len)
{
    if (err)
        snprintf(out, len, "%s", err);
    else if (status)
        snprintf(out, len, "%dxx", status / 100);
    else
        snprintf(out, len, "ok"); /* IMAP: no status (ADR 0034) */
}

void egress_log_request(const egress_report *r)
{
    log_ctx c = {.plugin = r->plugin, .instance = r->instance, .request_id = r->request_id};
    json_t *f =
        json_pack("{s:s,s:s,s:s,s:i,s:s,s:i,s:I,s:I,s:f,s:i,s:i,s:b}", "event", "egress", "method",
                  r->method, "host", r->host, "port", r->port, "path", r->path, "status", r->status,
                  "bytes_in", (json_int_t)r->bytes_in, "bytes_out", (json_int_t)r->bytes_out,
                  "latency_ms", (double)((long long)(r->latency_ms * 1000)) / 1000.0, "retries",
                  (int)r->retries, "redirects", (int)r->redirects, "stream", r->stream);
    if (f && r->error_code) {
        json_object_set_new(f, "error", json_string(r->error_code));
        if (r->error_message)
            json_object_set_new(f, "error_message", json_string(r->error_message));
    }
    log_level lvl = r->error_code || r->status >= 500 ? LOG_WARN : LOG_INFO;
    log_write("integration", lvl, "broker", &c, f, "%s %s://%s:%d%s -> %d%s%s", r->method,
              r->scheme, r->host, r->port, r->path, r->status, r->error_code ? " " : "",
              r->error_code ? r->error_code : "");
    json_decref(f);

    char labels[512], outcome[48];
    status_class(r->status, r->error_code, outcome, sizeof(outcome));
    metrics_labels(labels, sizeof(labels), "instance", r->instance, "host", r->host, "outcome",
                   outcome, NULL);
    metrics_counter_add("agenthost_egress_requests_total", labels, 1);
    metrics_labels(labels, sizeof(labels), "instance", r->instance, "host", r->host, NULL);
    metrics_observe("agenthost_egress_request_duration_seconds", labels, r->latency_ms / 1000.0);
    metrics_counter_add("agenthost_egress_response_bytes_total", labels, (double)r->bytes_in);
    metrics_counter_add("agenthost_egress_request_bytes_total", labels, (double)r->bytes_out);
}

void egress_log_refused(const char *plugin, const char *instance, const char *method,
                        const char *scheme, const char *host, int port, const char *path,
                        const char *reason, const char *address)
{
    log_ctx c = {.plugin = plugin, .instance = instance};
    json_t *f =
        json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:s}", "event", "egress_refused", "method", method,
                  "scheme", scheme, "host", host, "port", port, "path", path, "reason", reason);
    if (f && address) json_object_set_new(f, "address", json_string(address));
    log_write("security", LOG_WARN, "broker", &c, f, "egress refused for %s: %s://%s:%d%s: %s",
              instance, scheme, host, port, path, reason);
    json_decref(f);
    char labels[256];
    metrics_labels(labels, sizeof(labels), "instance", instance, NULL);
    metrics_counter_add("agenthost_egress_refused_total", labels, 1);
}

void egress_log_breaker(const char *key, breaker_state from, breaker_state to, uint32_t failures)
{
    json_t *f = json_pack("{s:s,s:s,s:s,s:s,s:i}", "event", "breaker", "destination", key, "from",
                          breaker_state_name(from), "to", breaker_state_name(to), "failures",
                          (int)failures);
    log_write("integration", to == BREAKER_OPEN ? LOG_WARN : LOG_INFO, "broker", NULL, f,
              "circuit breaker for %s: %s -> %s after %u consecutive failures", key,
              breaker_state_name(from), breaker_state_name(to), failures);
    json_decref(f);
    char labels[320];
    metrics_labels(labels, sizeof(labels), "destination", key, NULL);
    metrics_gauge_set("agenthost_egress_breaker_state", labels, (double)to);
    if (to == BREAKER_OPEN) metrics_counter_add("agenthost_egress_breaker_opened_total", labels, 1);
}

void egress_log_in_flight(const char *instance, long n)
{
    char labels[256];
    metrics_labels(labels, sizeof(labels), "instance", instance, NULL);
    metrics_gauge_set("agenthost_egress_in_flight", labels, (double)n);
}

void egress_log_retry(const char *instance, const char *host, uint32_t attempt, uint32_t delay_ms,
                      const char *why)
{
    char labels[320];
    metrics_labels(labels, sizeof(labels), "instance", instance, "host", host, NULL);
    metrics_counter_add("agenthost_egress_retries_total", labels, 1);
    log_ctx c = {.instance = instance};
    json_t *f = json_pack("{s:s,s:s,s:i,s:i,s:s}", "event", "egress_retry", "host", host, "attempt",
                          (int)attempt, "delay_ms", (int)delay_ms, "reason", why);
    log_write("integration", LOG_DEBUG, "broker", &c, f, "retry %u to %s in %u ms (%s)", attempt,
              host, delay_ms, why);
    json_decref(f);
}
