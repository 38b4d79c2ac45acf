/*
 * agenthost/plugin.h - the plugin ABI of agenthost.
 *
 * A plugin is a shared library that exports exactly one descriptor,
 * `agenthost_plugin`, defined with AH_PLUGIN(...). The sandbox runner reads
 * the descriptor as data (it never calls plugin code to learn the ABI), then
 * calls `init` with a const table of host services. Everything the plugin
 * does outside its own memory goes through that table.
 *
 * Compatibility rules (see docs/plugin-guide.md):
 *  - AH_ABI_MAJOR changes break the ABI; the host refuses another major.
 *  - A minor bump only appends members to the structs below; the host
 *    accepts plugins of its major with a minor <= its own.
 *  - Every struct that may grow starts with its size. A plugin checks
 *    AH_HOST_HAS(host, member) before using a member newer than 1.0.
 *
 * Threading: the runtime is single-threaded. Every callback runs on the
 * plugin process's one loop; no callback may block. Services never call back
 * synchronously: a completion callback always runs later, from the loop.
 *
 * Ownership follows jansson: `const json_t *` arguments are borrowed and
 * valid only for the duration of the callback unless stated otherwise;
 * functions that take a `json_t *` and say "steals" take over the caller's
 * reference.
 */
#ifndef AGENTHOST_PLUGIN_H
#define AGENTHOST_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AH_ABI_MAJOR 1
#define AH_ABI_MINOR 6

/* jansson's type, forward-declared so this header does not include jansson. */
typedef struct json_t json_t;

/* Opaque handles. */
typedef struct ah_ctx ah_ctx;     /* the running instance */
typedef struct ah_call ah_call;   /* an incoming call awaiting its reply */
typedef struct ah_timer ah_timer; /* a timer started with timer_start */

/* Error codes: 0 is success, failures are negative. ah_strerror() names them. */
enum {
    AH_OK = 0,
    AH_EINVAL = -1,        /* invalid argument */
    AH_ENOMEM = -2,        /* out of memory */
    AH_ENOTFOUND = -3,     /* no such key, topic, action */
    AH_EDENIED = -4,       /* refused by the host's policy (manifest, allowlist) */
    AH_ETOOBIG = -5,       /* over a size limit */
    AH_ETIMEDOUT = -6,     /* deadline passed */
    AH_EIO = -7,           /* the host or the store failed */
    AH_EBUSY = -8,         /* too many requests in flight */
    AH_ENOSPC = -9,        /* the store is full */
    AH_ECLOSED = -10,      /* the instance is shutting down */
    AH_EPROTO = -11,       /* protocol error */
    AH_EUNSUPPORTED = -12, /* the host does not offer this service */
    AH_ECONFLICT = -13,    /* changed meanwhile: the revision given is not the current one */
    AH_EEXIST = -14,       /* already exists */
};

typedef enum ah_log_level {
    AH_LOG_DEBUG = 0,
    AH_LOG_INFO = 1,
    AH_LOG_WARN = 2,
    AH_LOG_ERROR = 3,
} ah_log_level;

typedef enum ah_metric_kind {
    AH_METRIC_COUNTER = 0,   /* value is added to the counter */
    AH_METRIC_GAUGE = 1,     /* value replaces the gauge */
    AH_METRIC_HISTOGRAM = 2, /* ABI 1.1: value is one observation (seconds) */
} ah_metric_kind;

/* An event delivered from the bus. Owned by the runtime; valid until the
 * plugin acks or nacks it (which may be long after on_event returns). */
typedef struct ah_event {
    uint32_t size;         /* sizeof(ah_event) as built by the runtime */
    const char *topic;     /* e.g. "message.in" */
    const char *key;       /* ordering key (a conversation id), or NULL */
    const char *id;        /* the event's id, stable across redeliveries */
    uint64_t offset;       /* position in its topic */
    int64_t time_ms;       /* publish time, Unix milliseconds */
    uint32_t attempt;      /* 1 on first delivery */
    const json_t *headers; /* object, borrowed */
    const json_t *body;    /* any JSON value, borrowed */
} ah_event;

/* Options for publish; NULL means all defaults. */
typedef struct ah_publish_opts {
    uint32_t size;               /* sizeof(ah_publish_opts) */
    const char *key;             /* ordering key, or NULL */
    const char *idempotency_key; /* a repeat returns the first offset, or NULL */
    const json_t *headers;       /* object of strings, borrowed, or NULL */
} ah_publish_opts;

/* ABI 1.2: one event of publish_batch. */
typedef struct ah_publish_item {
    const char *topic;           /* declared in the manifest's publishes */
    const json_t *body;          /* borrowed */
    const ah_publish_opts *opts; /* NULL means all defaults */
} ah_publish_item;

/* An HTTP request made through the host's egress broker.
 *
 * The broker checks the URL against the manifest's egress allowlist (and
 * every redirect, and the address the name resolves to), applies the
 * host's timeouts and size caps, retries where it is safe, and fails fast
 * while a destination's circuit breaker is open. Redirects are followed by
 * the broker (credentials are dropped when one leaves the origin).
 *
 * Retries: requests flagged AH_HTTP_IDEMPOTENT are retried after network
 * errors, timeouts and 408/429/500/502/503/504; any request is retried
 * after a failure to connect and after 429/503 (the server did not process
 * it), honouring Retry-After. A stream is never retried once a chunk went
 * to on_chunk. ah_http_response.retries says how many were made.
 *
 * Mail takes the same call (docs/plugin-guide.md, ADR 0034): with an
 * smtp(s):// URL, method "SEND", headers "Mail-From: <a@b>" and "Rcpt-To:
 * <c@d>", the RFC 5322 message as body; with an imap(s):// URL, method
 * "GET" (imap://host/INBOX;UID=5 fetches a message), "APPEND", or an IMAP
 * command line ("UID SEARCH UNSEEN", "UID STORE 5 +FLAGS (\Seen)") whose
 * untagged answers are the body. Credentials only as "Authorization: Basic
 * base64(user:password)". */
typedef struct ah_http_request {
    uint32_t size;              /* sizeof(ah_http_request) */
    const char *method;         /* "GET", "POST", ... */
    const char *url;            /* must match the manifest's egress allowlist */
    const char *const *headers; /* NULL-terminated "Name: value" strings, or NULL */
    const void *body;           /* request body, or NULL */
    size_t body_len;
    uint32_t timeout_ms; /* total deadline, retries included; 0: the host default */
    uint32_t flags;      /* AH_HTTP_* */
    /* Streaming: called for each chunk of a 2xx response body as it
     * arrives, before the completion callback. A non-2xx response's body is
     * not streamed: it arrives whole in the completion. May be NULL. */
    void (*on_chunk)(ah_ctx *ctx, const void *data, size_t len, void *ud);
    /* ABI 1.1: streams fail with "timeout" when no byte arrives for this
     * long; 0: the host default. */
    uint32_t idle_timeout_ms;
} ah_http_request;

#define AH_HTTP_IDEMPOTENT 0x1u /* the broker may retry it */
#define AH_HTTP_STREAM 0x2u     /* deliver the body through on_chunk */

/* error_code, when the broker failed the request: "refused" (policy:
 * allowlist, address, redirect), "timeout", "too_large" (a size cap),
 * "circuit_open", "busy" (in-flight cap), "connect", "network" (reset or
 * cut mid-response: status may be set and chunks may have arrived), "tls",
 * "invalid" (a malformed request), "redirects" (too many), "unsupported",
 * "rejected" (mail: the server refused a login, mailbox, command, sender or
 * recipient). */
typedef struct ah_http_response {
    uint32_t size;             /* sizeof(ah_http_response) */
    int status;                /* HTTP status, or 0 if no response */
    int error;                 /* 0, or an AH_E* code */
    const char *error_code;    /* stable code ("refused", "timeout", ...), or NULL */
    const char *error_message; /* human-readable, or NULL */
    const json_t *headers;     /* object: lower-case name -> string */
    const void *body;          /* whole body unless streamed */
    size_t body_len;
    uint32_t retries; /* how many retries the broker made */
} ah_http_response;

/* One item of a kv_scan page. */
typedef struct ah_kv_item {
    const char *key;
    const json_t *value;
} ah_kv_item;

/* ABI 1.3: one entry of kv_get_many's answer, or of kv_put_many's input. */
typedef struct ah_kv_entry {
    const char *key;
    const json_t *value; /* get_many: NULL when absent; put_many: NULL deletes the key */
    uint64_t rev;        /* get_many: the key's revision (0 when absent) */
    uint64_t ttl_ms;     /* put_many: the value expires after ttl_ms (0: never) */
} ah_kv_entry;

/* ABI 1.3: options of kv_put_ex. Set size to sizeof(ah_kv_put_opts). */
typedef struct ah_kv_put_opts {
    uint32_t size;
    uint32_t flags;  /* AH_KV_IF_REV: write only if the key's revision is if_rev */
    uint64_t if_rev; /* with AH_KV_IF_REV: the revision read (0: the key must be absent) */
    uint64_t ttl_ms; /* the value expires (reads as absent) after ttl_ms; 0: never */
} ah_kv_put_opts;

#define AH_KV_IF_REV 1u

typedef void (*ah_done_cb)(ah_ctx *ctx, int status, void *ud);
typedef void (*ah_publish_cb)(ah_ctx *ctx, int status, uint64_t offset, void *ud);
/* ABI 1.2: publish_batch's answer: on success offsets[i] is item i's
 * offset (borrowed for the callback); on failure none was stored. */
typedef void (*ah_publish_batch_cb)(ah_ctx *ctx, int status, const uint64_t *offsets, size_t n,
                                    void *ud);
/* value is borrowed and NULL when status != 0 (AH_ENOTFOUND if absent). */
typedef void (*ah_kv_get_cb)(ah_ctx *ctx, int status, const json_t *value, void *ud);
/* items are borrowed; next is the key to pass as `after` for the next page, or NULL. */
typedef void (*ah_kv_scan_cb)(ah_ctx *ctx, int status, const ah_kv_item *items, size_t n,
                              const char *next, void *ud);
/* ABI 1.3. value borrowed, NULL when status != 0; rev is the key's
 * revision (each write adds one), 0 when absent. */
typedef void (*ah_kv_get_rev_cb)(ah_ctx *ctx, int status, const json_t *value, uint64_t rev,
                                 void *ud);
/* ABI 1.3. The revision written, or AH_ECONFLICT (another revision: nothing written). */
typedef void (*ah_kv_rev_cb)(ah_ctx *ctx, int status, uint64_t rev, void *ud);
/* ABI 1.3. The value after the increment. */
typedef void (*ah_kv_incr_cb)(ah_ctx *ctx, int status, int64_t value, void *ud);
/* ABI 1.3. items[i] answers keys[i] (borrowed for the callback). */
typedef void (*ah_kv_many_cb)(ah_ctx *ctx, int status, const ah_kv_entry *items, size_t n,
                              void *ud);
/* resp is borrowed, valid for the callback only. */
typedef void (*ah_http_cb)(ah_ctx *ctx, const ah_http_response *resp, void *ud);
typedef void (*ah_timer_cb)(ah_ctx *ctx, ah_timer *timer, void *ud);
/* ABI 1.4: the answer of another instance's action. On success status is
 * AH_OK and result (borrowed for the callback) is the action's answer. On
 * failure result is NULL and error_code names the reason (borrowed):
 * the target's own error code when its action answered with an error
 * (status AH_EIO), or "denied" / "cycle" / "depth" (AH_EDENIED),
 * "not_found" (AH_ENOTFOUND: no such instance or action), "invalid_args"
 * (AH_EINVAL: refused by the action's schema), "not_ready" (AH_ECLOSED),
 * "too_large" (AH_ETOOBIG), "timeout" (AH_ETIMEDOUT), "busy" (AH_EBUSY). */
typedef void (*ah_call_cb)(ah_ctx *ctx, int status, const json_t *result, const char *error_code,
                           const char *error_message, void *ud);

/* The services the host offers a plugin. Passed to init; const and valid for
 * the life of the process. Functions returning int return AH_OK when the
 * request was accepted (its callback will run) or a negative AH_E* code
 * (the callback will not run). */
typedef struct ah_host {
    uint32_t size;      /* sizeof(ah_host) as built by the runtime */
    uint16_t abi_major; /* the runtime's ABI */
    uint16_t abi_minor;

    /* Identity and state. */
    const char *(*instance_id)(ah_ctx *ctx);
    void (*set_userdata)(ah_ctx *ctx, void *ud);
    void *(*userdata)(ah_ctx *ctx);

    /* Logging into logs/plugins/<instance>.log. Never log secrets; the host
     * redacts the instance's own secrets anyway. */
    void (*log)(ah_ctx *ctx, ah_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

    /* A secret the manifest declares, or NULL if unset or undeclared.
     * Owned by the runtime, valid for the life of the process. */
    const char *(*secret)(ah_ctx *ctx, const char *name);

    /* Publish `body` (borrowed) to `topic`, which the manifest must declare.
     * The callback runs once the event is durable, with its offset. */
    int (*publish)(ah_ctx *ctx, const char *topic, const json_t *body, const ah_publish_opts *opts,
                   ah_publish_cb cb, void *ud);

    /* Answer a call. reply steals `result` (may be NULL for null). After
     * either function the call handle is freed. */
    int (*reply)(ah_call *call, json_t *result);
    int (*reply_error)(ah_call *call, const char *code, const char *message);

    /* Settle an event. After ack or nack, `ev` is freed. nack asks for a
     * redelivery after retry_after_ms (0: the bus's backoff). */
    int (*ack)(ah_ctx *ctx, const ah_event *ev);
    int (*nack)(ah_ctx *ctx, const ah_event *ev, const char *error, uint32_t retry_after_ms);

    /* Key-value store in the instance's own namespace. Values are JSON.
     * put and delete complete once durable. */
    int (*kv_get)(ah_ctx *ctx, const char *key, ah_kv_get_cb cb, void *ud);
    int (*kv_put)(ah_ctx *ctx, const char *key, const json_t *value, ah_done_cb cb, void *ud);
    int (*kv_delete)(ah_ctx *ctx, const char *key, ah_done_cb cb, void *ud);
    int (*kv_scan)(ah_ctx *ctx, const char *prefix, const char *after, uint32_t limit,
                   ah_kv_scan_cb cb, void *ud);

    /* Egress through the host's broker. */
    int (*http)(ah_ctx *ctx, const ah_http_request *req, ah_http_cb cb, void *ud);

    /* A metric exported as agenthost_plugin_<name>{instance=...,labels}.
     * labels is "k=v,k=v" or NULL. */
    int (*metric)(ah_ctx *ctx, const char *name, ah_metric_kind kind, double value,
                  const char *labels);

    /* Timers on the plugin's loop. repeat_ms 0 means one-shot; a one-shot
     * timer is freed after its callback. timer_stop frees a timer. */
    ah_timer *(*timer_start)(ah_ctx *ctx, uint64_t after_ms, uint64_t repeat_ms, ah_timer_cb cb,
                             void *ud);
    void (*timer_stop)(ah_ctx *ctx, ah_timer *timer);

    /* ---- ABI 1.1 (check with AH_HOST_HAS) ---- */

    /* A partial result of a call still running (a streamed token): the
     * caller receives partials in order, before the final reply. Not
     * durable; `partial` is borrowed. The call handle stays valid. */
    int (*reply_partial)(ah_call *call, const json_t *partial);

    /* A structured record into one of the host's shared logs: channel
     * "llm" writes logs/llm.log. fields (an object, borrowed, may be NULL)
     * are kept as JSON fields; the host adds time, plugin and instance.
     * Unknown channels go to the plugin's own log. */
    int (*log_record)(ah_ctx *ctx, const char *channel, ah_log_level level, const json_t *fields,
                      const char *msg);

    /* ---- ABI 1.2 (check with AH_HOST_HAS) ---- */

    /* Publish 1 to 1,000 events in one commit, all or nothing: the callback
     * runs once every one is durable, with their offsets, or with an error
     * and none stored (one undeclared topic refuses the whole batch).
     * items and what they point to are borrowed for the call only. */
    int (*publish_batch)(ah_ctx *ctx, const ah_publish_item *items, size_t n,
                         ah_publish_batch_cb cb, void *ud);

    /* ---- ABI 1.3 (check with AH_HOST_HAS): KV for concurrent handlers ---- */

    /* kv_get with the key's revision, for a compare-and-swap with kv_put_ex. */
    int (*kv_get_rev)(ah_ctx *ctx, const char *key, ah_kv_get_rev_cb cb, void *ud);
    /* kv_put with options (opts may be NULL): a write only if the revision
     * is still the one read (AH_ECONFLICT otherwise), a time to live. */
    int (*kv_put_ex)(ah_ctx *ctx, const char *key, const json_t *value, const ah_kv_put_opts *opts,
                     ah_kv_rev_cb cb, void *ud);
    /* Add delta to the integer under key (absent: 0) in one atomic step;
     * the callback gets the new value. AH_EINVAL if the value is not an
     * integer or the sum overflows. A TTL set on the key is kept. */
    int (*kv_incr)(ah_ctx *ctx, const char *key, int64_t delta, ah_kv_incr_cb cb, void *ud);
    /* Read 1 to 1,000 keys in one consistent snapshot. */
    int (*kv_get_many)(ah_ctx *ctx, const char *const *keys, size_t n, ah_kv_many_cb cb, void *ud);
    /* Write (or, with a NULL value, delete) 1 to 1,000 keys in one commit,
     * all or nothing. items are borrowed for the call only. */
    int (*kv_put_many)(ah_ctx *ctx, const ah_kv_entry *items, size_t n, ah_done_cb cb, void *ud);

    /* ---- ABI 1.4 (check with AH_HOST_HAS): calling another plugin ---- */

    /* Call `action` of the instance `instance` (another plugin's, as an
     * API client would), asynchronously: cb runs once, later, with its
     * answer. Only what the manifest's `calls` declares (the target's
     * plugin and the action) is allowed; a call may not come back to an
     * instance already in its chain, nor go deeper than 4 instances
     * (docs/plugin-guide.md). args (an object, borrowed for the call) up
     * to 1 MiB, the answer up to 8 MiB. timeout_ms: cb runs with
     * AH_ETIMEDOUT when no answer came by then (a later answer is
     * dropped); 0: 30 s. */
    int (*call)(ah_ctx *ctx, const char *instance, const char *action, const json_t *args,
                uint32_t timeout_ms, ah_call_cb cb, void *ud);

    /* ---- ABI 1.5 (check with AH_HOST_HAS): private storage ---- */

    /* The directory of the instance's private storage, as the plugin sees
     * it ("/data" when confined, the real directory when unconfined), or
     * NULL when the manifest declares none (`"storage": {"private": true,
     * "max_mb": N}`, docs/plugin-guide.md). Regular files and directories
     * may be created, written, synced, renamed and removed beneath it;
     * nowhere else. A write past max_mb in one file fails with EFBIG.
     * Valid for the life of the process. */
    const char *(*storage_dir)(ah_ctx *ctx);

    /* ---- ABI 1.6 (check with AH_HOST_HAS): publish and settle together ---- */

    /* Settle `ev` (a delivery not yet acked or nacked) and publish 0 to
     * 1,000 events it caused in ONE commit, all or nothing: cb runs once,
     * with the offsets once the events and the settle are durable
     * together, or with an error and nothing of it stored: then the event
     * is delivered again (after the bus's backoff, as after a nack; a
     * refused call, an undeclared topic or an oversized batch, counts as
     * a failed attempt the same way). On AH_OK the event is the commit's:
     * do not ack or nack it; `ev` stays valid until cb has run, then it is
     * freed. On another return nothing was sent and `ev` is still the
     * plugin's to settle. items and what they point to are borrowed for
     * the call only; cb may be NULL. */
    int (*commit)(ah_ctx *ctx, const ah_event *ev, const ah_publish_item *items, size_t n,
                  ah_publish_batch_cb cb, void *ud);
} ah_host;

/* True when the host table offers `member` (newer members need this check). */
#define AH_HOST_HAS(host, member)                                                                  \
    ((host)->size >= offsetof(ah_host, member) + sizeof(((const ah_host *)0)->member))

/* The descriptor every plugin exports. */
typedef struct ah_plugin {
    uint16_t abi_major; /* AH_ABI_MAJOR the plugin was built against */
    uint16_t abi_minor; /* AH_ABI_MINOR the plugin was built against */
    uint32_t size;      /* sizeof(ah_plugin) as built */
    const char *name;   /* must equal the manifest's name */
    const char *version;

    /* Called once. config is the instance's validated configuration,
     * borrowed and valid for the life of the process. Return AH_OK, or a
     * negative code to refuse to start (the host reports it). */
    int (*init)(ah_ctx *ctx, const ah_host *host, const json_t *config);

    /* An event from a subscribed topic; settle it with ack or nack, now or
     * later. May be NULL: the runtime then acks every event at once,
     * unhandled (only right for a plugin that subscribes to nothing). */
    void (*on_event)(ah_ctx *ctx, const ah_event *ev);

    /* An action call; answer with reply or reply_error, now or later.
     * args is borrowed for the callback only. */
    void (*call)(ah_ctx *ctx, ah_call *call, const char *action, const json_t *args);

    /* Health probe, answered to the host's ping: AH_OK or a negative code.
     * May be NULL (always healthy). Must not block. */
    int (*health)(ah_ctx *ctx);

    /* Graceful stop: called once; the process exits when it returns. */
    void (*shutdown)(ah_ctx *ctx);
} ah_plugin;

#define AH_EXPORT __attribute__((visibility("default")))

/* Define the plugin's descriptor:
 *   AH_PLUGIN(.name = "echo", .version = "1.0.0", .init = echo_init, ...);
 */
#define AH_PLUGIN(...)                                                                             \
    AH_EXPORT const ah_plugin agenthost_plugin = {.abi_major = AH_ABI_MAJOR,                       \
                                                  .abi_minor = AH_ABI_MINOR,                       \
                                                  .size = sizeof(ah_plugin),                       \
                                                  __VA_ARGS__}

#define AH_PLUGIN_SYMBOL "agenthost_plugin"

/* Helpers from libagenthost-sdk. */
const char *ah_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
