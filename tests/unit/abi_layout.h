/*
 * abi_layout.h - the members and constants of ABI 1.0, listed once and
 * measured twice: by abi_layout_frozen.c against the frozen 1.0 headers
 * and by test_abi_layout.c against the current ones.
 */
#ifndef ABI_LAYOUT_H
#define ABI_LAYOUT_H

#include <stddef.h>

typedef struct abi_fact {
    const char *what;
    size_t offset; /* or the constant's value */
    size_t size;
} abi_fact;

/* One entry per line; clang-format cannot keep X-macro lists stable. */
// clang-format off
#define ABI10_MEMBERS(M) \
    M(ah_event, size) \
    M(ah_event, topic) \
    M(ah_event, key) \
    M(ah_event, id) \
    M(ah_event, offset) \
    M(ah_event, time_ms) \
    M(ah_event, attempt) \
    M(ah_event, headers) \
    M(ah_event, body) \
    M(ah_publish_opts, size) \
    M(ah_publish_opts, key) \
    M(ah_publish_opts, idempotency_key) \
    M(ah_publish_opts, headers) \
    M(ah_http_request, size) \
    M(ah_http_request, method) \
    M(ah_http_request, url) \
    M(ah_http_request, headers) \
    M(ah_http_request, body) \
    M(ah_http_request, body_len) \
    M(ah_http_request, timeout_ms) \
    M(ah_http_request, flags) \
    M(ah_http_request, on_chunk) \
    M(ah_http_response, size) \
    M(ah_http_response, status) \
    M(ah_http_response, error) \
    M(ah_http_response, error_code) \
    M(ah_http_response, error_message) \
    M(ah_http_response, headers) \
    M(ah_http_response, body) \
    M(ah_http_response, body_len) \
    M(ah_http_response, retries) \
    M(ah_kv_item, key) \
    M(ah_kv_item, value) \
    M(ah_host, size) \
    M(ah_host, abi_major) \
    M(ah_host, abi_minor) \
    M(ah_host, instance_id) \
    M(ah_host, set_userdata) \
    M(ah_host, userdata) \
    M(ah_host, log) \
    M(ah_host, secret) \
    M(ah_host, publish) \
    M(ah_host, reply) \
    M(ah_host, reply_error) \
    M(ah_host, ack) \
    M(ah_host, nack) \
    M(ah_host, kv_get) \
    M(ah_host, kv_put) \
    M(ah_host, kv_delete) \
    M(ah_host, kv_scan) \
    M(ah_host, http) \
    M(ah_host, metric) \
    M(ah_host, timer_start) \
    M(ah_host, timer_stop) \
    M(ah_plugin, abi_major) \
    M(ah_plugin, abi_minor) \
    M(ah_plugin, size) \
    M(ah_plugin, name) \
    M(ah_plugin, version) \
    M(ah_plugin, init) \
    M(ah_plugin, on_event) \
    M(ah_plugin, call) \
    M(ah_plugin, health) \
    M(ah_plugin, shutdown)

#define ABI10_STRUCTS(S) \
    S(ah_event) \
    S(ah_publish_opts) \
    S(ah_http_request) \
    S(ah_http_response) \
    S(ah_kv_item) \
    S(ah_host) \
    S(ah_plugin)

#define ABI10_CONSTANTS(C) \
    C(AH_ABI_MAJOR) \
    C(AH_OK) \
    C(AH_EINVAL) \
    C(AH_ENOMEM) \
    C(AH_ENOTFOUND) \
    C(AH_EDENIED) \
    C(AH_ETOOBIG) \
    C(AH_ETIMEDOUT) \
    C(AH_EIO) \
    C(AH_EBUSY) \
    C(AH_ENOSPC) \
    C(AH_ECLOSED) \
    C(AH_EPROTO) \
    C(AH_EUNSUPPORTED) \
    C(AH_LOG_DEBUG) \
    C(AH_LOG_INFO) \
    C(AH_LOG_WARN) \
    C(AH_LOG_ERROR) \
    C(AH_METRIC_COUNTER) \
    C(AH_METRIC_GAUGE) \
    C(AH_HTTP_IDEMPOTENT) \
    C(AH_HTTP_STREAM)

// clang-format on

#define ABI_MEMBER_FACT(s, m) {#s "." #m, offsetof(s, m), sizeof(((s *)0)->m)},
#define ABI_STRUCT_FACT(s) {#s, 0, sizeof(s)},
#define ABI_CONSTANT_FACT(c) {#c, (size_t)(c), 0},

extern const abi_fact abi10_frozen_members[], abi10_frozen_structs[], abi10_frozen_constants[];
extern const size_t abi10_frozen_nmembers, abi10_frozen_nstructs, abi10_frozen_nconstants;
extern const char abi10_frozen_symbol[];
extern const int abi10_frozen_minor;

#endif
