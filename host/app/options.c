/*
 * options.c - the host's options, one declaration each. Keys, defaults and
 * ranges are part of the configuration file's contract: change one and the
 * file's users change with it. `make docs` rewrites the table in
 * docs/operations.md from here; test_options fails until it is rewritten.
 */
#include "options.h"

#include <string.h>

#define HS host_settings

static const opt_enum log_levels[] = {
    {"debug", LOG_DEBUG}, {"info", LOG_INFO}, {"warn", LOG_WARN}, {"error", LOG_ERROR}, {0}};

/* One declaration per option, laid out as a table. */
/* clang-format off */
const opt_decl host_options[] = {
    /* log: the host's log files (log.h) */
    {.section = "log", .name = "level", OPT_ENUM(HS, log.min_level, log_levels), .def_str = "info",
     .doc = "Records below this level are dropped."},
    {.section = "log", .name = "stderr", OPT_BOOL(HS, log.to_stderr), .def = 1,
     .doc = "Mirror records to stderr: JSON lines, or a short form on a terminal."},
    {.section = "log", .name = "rotate_mb", OPT_MIB(HS, log.rotate_bytes), .def = 16, .min = 1,
     .max = 10240, .doc = "A log file is rotated past this size."},
    {.section = "log", .name = "keep", OPT_INT(HS, log.keep), .def = 5, .min = 1, .max = 100,
     .doc = "Rotated generations kept per log file."},

    /* store: LMDB (store.h) */
    {.section = "store", .name = "map_mb", OPT_MIB(HS, store.map_size), .def = 64, .min = 1,
     .max = OPT_NO_MAX, .doc = "The LMDB map's initial size; it grows as the store fills."},
    {.section = "store", .name = "max_map_mb", OPT_MIB(HS, store.max_map_size), .def = 65536,
     .min = 1, .max = OPT_NO_MAX, .doc = "The size the LMDB map may grow to."},

    /* supervisor: plugin processes (supervisor.h) */
    {.section = "supervisor", .name = "ping_interval_ms", OPT_MS(HS, supervisor.ping_interval_ms),
     .def = 5000, .min = 10, .max = 600000,
     .doc = "How often each instance is pinged to prove it is alive."},
    {.section = "supervisor", .name = "shutdown_grace_ms", OPT_MS(HS, supervisor.shutdown_grace_ms),
     .def = 5000, .min = 0, .max = 600000,
     .doc = "After SHUTDOWN, how long an instance has to exit before SIGKILL."},
    {.section = "supervisor", .name = "allow_debug_unconfined",
     OPT_BOOL(HS, supervisor.allow_debug_unconfined), .def = 0,
     .doc = "Let `serve --debug-instance ID` run that one instance without its sandbox (no "
            "seccomp, Landlock, namespaces, resource limits or uid drop), under a debugger with "
            "--debug-wrapper; every start is logged to security.log. A developer's machine "
            "only; off, the flag is refused."},

    /* http: the API's server (server.h) */
    {.section = "http", .name = "max_connections", OPT_INT(HS, http.max_connections), .def = 1024,
     .min = 1, .max = 100000,
     .doc = "Open connections, all clients together; each is a descriptor (the host takes the "
            "hard open-files limit at start and warns when it is below this and 256 more)."},
    {.section = "http", .name = "per_ip_connections", OPT_INT(HS, http.per_ip_connections),
     .def = 64, .min = 0, .max = 100000,
     .doc = "Open connections per client address (0: no limit)."},
    {.section = "http", .name = "max_body_kb", OPT_KIB(HS, http.max_body), .def = 8192, .min = 1,
     .max = 1048576, .doc = "Largest request body."},
    {.section = "http", .name = "max_header_kb", OPT_KIB(HS, http.max_header), .def = 32, .min = 1,
     .max = 1024, .doc = "Largest request line and headers together."},
    {.section = "http", .name = "idle_timeout_s", OPT_S(HS, http.idle_timeout_s), .def = 30,
     .min = 1, .max = 3600, .doc = "A connection with nothing to do is closed after this long."},
    {.section = "http", .name = "header_timeout_s", OPT_S(HS, http.header_timeout_s), .def = 10,
     .min = 1, .max = 3600,
     .doc = "A request's line and headers must be complete this long after its first byte (a "
            "TLS handshake's included), or the connection is closed."},
    {.section = "http", .name = "auth_fail_limit", OPT_INT(HS, api.auth_fail_limit), .def = 20,
     .min = 1, .max = 1000000,
     .doc = "Failed authentications from one address within a minute before it gets 429 with "
            "Retry-After."},
    {.section = "http", .name = "block_after", OPT_INT(HS, api.block_after), .def = 50, .min = 0,
     .max = 1000000,
     .doc = "Unauthorised requests (401: no, bad or revoked credential, unknown session; a "
            "missing CSRF token) from one address within block_window_s that block "
            "it: every request from it then answers 403 address_blocked with Retry-After for "
            "block_for_s (logged to security.log as address_blocked). 0: never block."},
    {.section = "http", .name = "block_window_s", OPT_S(HS, api.block_window_s), .def = 600,
     .min = 1, .max = 86400, .doc = "The window in which block_after is counted."},
    {.section = "http", .name = "block_for_s", OPT_S(HS, api.block_for_s), .def = 3600, .min = 1,
     .max = 604800, .doc = "How long a blocked address stays blocked."},
    {.section = "http", .name = "tls_cert", OPT_STRING(HS, http.tls_cert),
     .doc = "PEM certificate file (the chain, leaf first) for HTTPS; both tls_cert and tls_key, "
            "or neither. Read again on SIGHUP: new connections get the new pair; a pair that "
            "cannot be used is logged and the old one kept."},
    {.section = "http", .name = "tls_key", OPT_STRING(HS, http.tls_key),
     .doc = "PEM private key file for HTTPS."},
    {.section = "http", .name = "public_url", OPT_STRING(HS, api.public_url),
     .doc = "The host's address as people's browsers reach it (https://admin.example, behind "
            "a proxy its public name): the base of the links mailed with invitations and "
            "password resets (auth.mail_instance)."},
    {.section = "http", .name = "trusted_proxies", OPT_STRING(HS, http.trusted_proxies),
     .doc = "Comma-separated addresses of reverse proxies whose X-Forwarded-For gives the "
            "client's address (throttles, logs); none by default: the peer is the client."},

    /* auth: signing in to the web admin (docs/security-model.md) */
    {.section = "auth", .name = "require_2fa_roles", OPT_STRING(HS, api.require_2fa_roles),
     .doc = "Comma-separated roles whose users must sign in with a second factor (TOTP); such a "
            "user without one can only enrol it (every other route answers 403 "
            "two_factor_enrolment_required). None by default."},
    {.section = "auth", .name = "invite_ttl_s", OPT_S(HS, api.invite_ttl_s), .def = 604800,
     .min = 1, .max = 2592000,
     .doc = "An invitation token (POST /api/v1/invitations) works once within this long."},
    {.section = "auth", .name = "reset_ttl_s", OPT_S(HS, api.reset_ttl_s), .def = 3600, .min = 1,
     .max = 604800, .doc = "A password reset token works once within this long."},
    {.section = "auth", .name = "mail_instance", OPT_STRING(HS, api.mail_instance),
     .doc = "The e-mail instance (plugin email) that mails invitation and password reset "
            "links (http.public_url/admin/set-password#token=...) in the user's language; the "
            "API then answers sent: true (or false with the reason) and never the token. "
            "Unset: no mail, the token is answered to whoever asked, to hand over."},

    /* oidc: single sign-on with an OpenID provider (docs/security-model.md) */
    {.section = "oidc", .name = "issuer", OPT_STRING(HS, api.oidc.issuer),
     .doc = "The OpenID provider's issuer URL (https; its /.well-known/openid-configuration is "
            "read through the egress broker). Unset: single sign-on is off (its routes answer "
            "404 oidc_off). The client secret is the secret `host` `oidc_client_secret` "
            "(`agenthost secret set host oidc_client_secret`)."},
    {.section = "oidc", .name = "client_id", OPT_STRING(HS, api.oidc.client_id),
     .doc = "The client id registered with the provider (required with issuer)."},
    {.section = "oidc", .name = "redirect_uri", OPT_STRING(HS, api.oidc.redirect_uri),
     .doc = "This host's callback as the browser reaches it, registered with the provider: "
            "https://HOST/api/v1/auth/oidc/callback (required with issuer)."},
    {.section = "oidc", .name = "scopes", OPT_STRING(HS, api.oidc.scopes),
     .def_str = "openid email profile", .doc = "The scopes asked for (openid is required)."},
    {.section = "oidc", .name = "role_claim", OPT_STRING(HS, api.oidc.role_claim),
     .def_str = "roles",
     .doc = "The ID token claim holding the user's groups or roles, a dotted path "
            "(Keycloak: realm_access.roles; a string or an array of strings)."},
    {.section = "oidc", .name = "role_map", OPT_OBJECT(HS, api.oidc.role_map), .def_doc = "none",
     .doc = "Claim values to roles: {\"agenthost-admins\": \"admin\"}; of several values that "
            "map, the strongest role wins (admin, editor, operator, analyst, viewer). The role is "
            "set again at every login (audited)."},
    {.section = "oidc", .name = "default_role", OPT_STRING(HS, api.oidc.default_role),
     .doc = "The role of a user none of whose claim values map; unset: such a user is refused."},
    {.section = "oidc", .name = "email_domains", OPT_STRING(HS, api.oidc.email_domains),
     .doc = "Comma-separated e-mail domains allowed to sign in (unset: any the provider "
            "vouches for)."},
    {.section = "oidc", .name = "require_email_verified",
     OPT_BOOL(HS, api.oidc.require_email_verified), .def = 1,
     .doc = "Refuse an ID token whose email_verified is not true."},
    {.section = "oidc", .name = "link_existing", OPT_BOOL(HS, api.oidc.link_existing), .def = 0,
     .doc = "Let a user made by other means (CLI, invitation) sign in through the provider with "
            "the same e-mail; the account is then bound to the provider's subject (audited). "
            "Off: such a login is refused (409 oidc_account_not_linked)."},
    {.section = "oidc", .name = "after_login", OPT_STRING(HS, api.oidc.after_login),
     .def_str = "/admin/", .doc = "Where the browser is sent (303) once signed in: a path on "
            "this host."},
    {.section = "oidc", .name = "ca_file", OPT_STRING(HS, api.oidc.ca_file),
     .doc = "PEM CA certificates to trust for the provider instead of the system's."},
    {.section = "oidc", .name = "allow_private", OPT_BOOL(HS, api.oidc.allow_private), .def = 0,
     .doc = "The provider is on a private or loopback address (a Keycloak inside the network): "
            "the broker refuses those otherwise."},
    {.section = "oidc", .name = "insecure_http", OPT_BOOL(HS, api.oidc.insecure_http), .def = 0,
     .doc = "Allow an http:// provider. Tests and development only: tokens then cross the "
            "network in the clear."},
    {.section = "oidc", .name = "clock_skew_s", OPT_S(HS, api.oidc.clock_skew_s), .def = 60,
     .min = 0, .max = 300, .doc = "Clock skew allowed on an ID token's exp, iat and nbf."},
    {.section = "oidc", .name = "cache_ttl_s", OPT_S(HS, api.oidc.cache_ttl_s), .def = 3600,
     .min = 1, .max = 86400, .doc = "The discovery document and the signing keys are kept this "
            "long."},
    {.section = "oidc", .name = "jwks_min_refetch_s", OPT_S(HS, api.oidc.jwks_min_refetch_s),
     .def = 60, .min = 0, .max = 86400,
     .doc = "An ID token whose kid the kept keys lack fetches them again (key rotation), at most "
            "this often."},

    /* webchat: the web chat channel (docs/channels/webchat.md) */
    {.section = "webchat", .name = "script", OPT_STRING(HS, api.webchat_script),
     .doc = "The widget script served at /chat/widget.js (built by make widget into "
            "admin/widget/dist/widget.js; unset: that file in the source tree the host was built "
            "from). Missing: /chat/widget.js answers 404 widget_script_missing."},
    {.section = "webchat", .name = "keepalive_ms", OPT_MS(HS, api.webchat_keepalive_ms),
     .def = 15000, .min = 100, .max = 600000,
     .doc = "A comment line on every open SSE stream this often, so proxies keep it open and a "
            "client that left is noticed."},
    {.section = "webchat", .name = "connections_per_ip", OPT_INT(HS, api.webchat_per_ip),
     .def = 50, .min = 1, .max = 1000000,
     .doc = "SSE streams and long polls open at once from one address; past it 429."},
    {.section = "webchat", .name = "connections_per_session",
     OPT_INT(HS, api.webchat_per_session), .def = 5, .min = 1, .max = 1000,
     .doc = "SSE streams and long polls open at once for one session (tabs); past it 429."},

    /* bus: events (bus.h) */
    {.section = "bus", .name = "max_event_kb", OPT_KIB(HS, bus.max_event_bytes), .def = 1024,
     .min = 1, .max = 65536, .doc = "Largest event: key, headers and body together."},
    {.section = "bus", .name = "idempotency_window_s", OPT_S_AS_MS(HS, bus.idempotency_window_ms),
     .def = 86400, .min = 1, .max = OPT_NO_MAX,
     .doc = "How long a publish's idempotency key is remembered."},
    {.section = "bus", .name = "ack_timeout_ms", OPT_MS(HS, bus.ack_timeout_ms), .def = 30000,
     .min = 10, .max = OPT_NO_MAX,
     .doc = "Consumer default: an event not acknowledged within this is delivered again."},
    {.section = "bus", .name = "max_attempts", OPT_INT(HS, bus.max_attempts), .def = 5, .min = 1,
     .max = 1000, .doc = "Consumer default: deliveries of an event before it is dead-lettered."},
    {.section = "bus", .name = "backoff_ms", OPT_MS(HS, bus.backoff_ms), .def = 500, .min = 1,
     .max = OPT_NO_MAX,
     .doc = "Consumer default: the first wait before a redelivery; it grows exponentially."},
    {.section = "bus", .name = "max_backoff_ms", OPT_MS(HS, bus.max_backoff_ms), .def = 60000,
     .min = 1, .max = OPT_NO_MAX, .doc = "Consumer default: the longest wait before a redelivery."},
    {.section = "bus", .name = "max_in_flight", OPT_INT(HS, bus.max_in_flight), .def = 256,
     .min = 1, .max = 100000,
     .doc = "Consumer default: events delivered and not yet acknowledged."},
    {.section = "bus", .name = "retention_max_count", OPT_INT(HS, bus.retention_max_count),
     .def = 0, .min = 0, .max = OPT_NO_MAX,
     .doc = "Keep at most this many events per topic (0: no limit)."},
    {.section = "bus", .name = "retention_max_mb", OPT_MIB(HS, bus.retention_max_bytes), .def = 0,
     .min = 0, .max = OPT_NO_MAX, .doc = "Keep at most this much per topic (0: no limit)."},
    {.section = "bus", .name = "retention_max_age_s", OPT_S_AS_MS(HS, bus.retention_max_age_ms),
     .def = 604800, .min = 0, .max = OPT_NO_MAX,
     .doc = "Drop events older than this (0: keep forever)."},
    {.section = "bus", .name = "sweep_interval_ms", OPT_MS(HS, bus.sweep_interval_ms), .def = 1000,
     .min = 10, .max = 3600000, .doc = "How often retention runs."},
    {.section = "bus", .name = "topics", OPT_OBJECT(HS, bus.topic_overrides), .def_doc = "none",
     .doc = "Per-topic retention by pattern, the first match winning: {\"PATTERN\": {max_count, "
            "max_bytes, max_age_s, drop_unacked}}; drop_unacked lets retention drop events a "
            "consumer has not acknowledged."},

    /* broker: egress for plugins (broker.h; docs/architecture.md, Egress broker) */
    {.section = "broker", .name = "connect_timeout_ms", OPT_MS(HS, broker.connect_timeout_ms),
     .def = 10000, .min = 1, .max = 600000, .doc = "Deadline of one connection attempt."},
    {.section = "broker", .name = "timeout_ms", OPT_MS(HS, broker.timeout_ms), .def = 60000,
     .min = 1, .max = 3600000,
     .doc = "Total deadline of a request (retries included) when the plugin gives none."},
    {.section = "broker", .name = "max_timeout_ms", OPT_MS(HS, broker.max_timeout_ms),
     .def = 600000, .min = 1, .max = 3600000, .doc = "The longest deadline a plugin may ask for."},
    {.section = "broker", .name = "idle_timeout_ms", OPT_MS(HS, broker.idle_timeout_ms),
     .def = 60000, .min = 1, .max = 3600000,
     .doc = "A stream fails when no byte arrives for this long."},
    {.section = "broker", .name = "max_request_kb", OPT_KIB(HS, broker.max_request_bytes),
     .def = 8192, .min = 1, .max = 16384, .doc = "Largest request body a plugin may send."},
    {.section = "broker", .name = "max_response_kb", OPT_KIB(HS, broker.max_response_bytes),
     .def = 8192, .min = 1, .max = 1048576, .doc = "Largest response body kept whole."},
    {.section = "broker", .name = "max_stream_kb", OPT_KIB(HS, broker.max_stream_bytes),
     .def = 32768, .min = 1, .max = 1048576, .doc = "Largest streamed response body, all chunks."},
    {.section = "broker", .name = "max_in_flight", OPT_INT(HS, broker.max_in_flight), .def = 16000,
     .min = 1, .max = 100000,
     .doc = "Requests in flight for the whole host (each may hold a socket)."},
    {.section = "broker", .name = "max_retries", OPT_INT(HS, broker.max_retries), .def = 2,
     .min = 0, .max = 10, .doc = "Retries of a failed request, when it is safe to repeat."},
    {.section = "broker", .name = "retry_base_ms", OPT_MS(HS, broker.retry_base_ms), .def = 250,
     .min = 1, .max = 600000,
     .doc = "The first wait before a retry; it grows exponentially, with jitter."},
    {.section = "broker", .name = "retry_max_ms", OPT_MS(HS, broker.retry_max_ms), .def = 8000,
     .min = 1, .max = 600000, .doc = "The longest wait before a retry."},
    {.section = "broker", .name = "max_retry_after_ms", OPT_MS(HS, broker.max_retry_after_ms),
     .def = 30000, .min = 0, .max = 3600000,
     .doc = "A longer Retry-After is returned to the plugin instead of waited for."},
    {.section = "broker", .name = "breaker_failures", OPT_INT(HS, broker.breaker_failures),
     .def = 5, .min = 1, .max = 1000,
     .doc = "Consecutive failures of a destination that open its circuit breaker."},
    {.section = "broker", .name = "breaker_cooldown_ms", OPT_MS(HS, broker.breaker_cooldown_ms),
     .def = 30000, .min = 1, .max = 3600000,
     .doc = "How long an open breaker refuses requests before one is tried again."},
    {.section = "broker", .name = "max_redirects", OPT_INT(HS, broker.max_redirects), .def = 5,
     .min = 0, .max = 20, .doc = "Redirects followed per request (0: none)."},
    {.section = "broker", .name = "max_idle_connections", OPT_INT(HS, broker.max_idle_connections),
     .def = 1024, .min = 1, .max = 100000,
     .doc = "Idle connections kept open for reuse (each holds a file descriptor)."},

    /* expressions: the jq worker pool (expr.h; ADR 0016) */
    {.section = "expressions", .name = "workers", OPT_INT(HS, expr.workers), .def = 2, .min = 0,
     .max = 64, .doc = "jq worker processes (instances jq-1 .. jq-N); 0: no expressions."},
    {.section = "expressions", .name = "timeout_ms", OPT_MS(HS, expr.timeout_ms), .def = 200,
     .min = 10, .max = 10000,
     .doc = "An expression's deadline when its caller gives none, in CPU time its worker spends "
            "(a worker kept waiting for a core is not cut before ten times it in wall time); past "
            "it its worker is killed and restarted."},
    {.section = "expressions", .name = "compile_timeout_ms", OPT_MS(HS, expr.compile_timeout_ms),
     .def = 2000, .min = 10, .max = 10000,
     .doc = "The deadline of a compile-only check (validation on save)."},
    {.section = "expressions", .name = "memory_mb", OPT_INT(HS, expr.memory_mb), .def = 256,
     .min = 32, .max = 65536,
     .doc = "Each worker's memory in MiB (RLIMIT_AS); an expression that exhausts it fails with "
            "memory."},
    {.section = "expressions", .name = "queue", OPT_INT(HS, expr.queue), .def = 1024, .min = 0,
     .max = 1000000,
     .doc = "Calls that may wait for a free worker; past it a call is refused as busy."},
    {.section = "expressions", .name = "queue_timeout_ms", OPT_MS(HS, expr.queue_timeout_ms),
     .def = 1000, .min = 1, .max = 600000,
     .doc = "How long a call may wait for a free worker before it fails as busy."},
    {.section = "expressions", .name = "max_outputs", OPT_INT(HS, expr.max_outputs), .def = 100,
     .min = 1, .max = 1000000,
     .doc = "Outputs an expression may produce when its caller gives no bound."},
    {.section = "expressions", .name = "max_output_kb", OPT_INT(HS, expr.max_output_kb),
     .def = 1024, .min = 1, .max = 8192,
     .doc = "KiB of compact JSON an expression's outputs may take together."},
    {.section = "expressions", .name = "cache_entries", OPT_INT(HS, expr.cache_entries),
     .def = 256, .min = 1, .max = 65536,
     .doc = "Compiled programs each worker keeps (about 20 KiB each)."},

    /* engine: agents at work (runtime/runtime.h) */
    {.section = "engine", .name = "max_in_flight", OPT_INT(HS, engine.max_in_flight), .def = 64,
     .min = 1, .max = 100000,
     .doc = "Inputs (messages, agent starts) the engine handles at once; one conversation's "
            "always one at a time, in order."},
    {.section = "engine", .name = "queue_per_conversation", OPT_INT(HS, engine.queue_per_conv),
     .def = 100, .min = 1, .max = 100000,
     .doc = "Turns that may wait behind a busy conversation; past it an input stays on the bus "
            "and comes back a second later (nothing is dropped)."},
    {.section = "engine", .name = "flood_per_minute", OPT_INT(HS, engine.flood_per_minute),
     .def = 60, .min = 1, .max = 1000000,
     .doc = "Messages one chat may send a minute; the rest of that minute's are dropped, "
            "logged to events.log and counted (agenthost_engine_dropped_total)."},
    {.section = "engine", .name = "timer_scan_ms", OPT_MS(HS, engine.timer_scan_ms), .def = 250,
     .min = 10, .max = 60000,
     .doc = "How often the timers of waiting steps (waits, question timeouts) are looked for: "
            "a timer fires at most this late."},
    {.section = "engine", .name = "turn_timeout_ms", OPT_MS(HS, engine.turn_timeout_ms),
     .def = 300000, .min = 1000, .max = 86400000,
     .doc = "A turn's bound from its input to its commit; an input whose turn takes longer is "
            "delivered again."},
    {.section = "engine", .name = "example_agent", OPT_BOOL(HS, example_agent), .def = 1,
     .doc = "On a first start (the host makes its first admin token), also make the example "
            "agent \"Onboarding\" (docs/examples/scenarios/onboarding-survey.json) to talk to "
            "over the REST channel."},
    {.section = "engine", .name = "simulation_sessions", OPT_INT(HS, engine.sim_sessions),
     .def = 100, .min = 1, .max = 10000,
     .doc = "Simulation sessions (POST /api/v1/agents/{id}/simulations) kept at once; past it a "
            "new one is refused (429) until one ends or expires."},
    {.section = "engine", .name = "simulation_idle_ms", OPT_MS(HS, engine.sim_idle_ms),
     .def = 1800000, .min = 100, .max = 86400000,
     .doc = "A simulation session unused this long is gone (its id answers 404)."},
    {.section = "engine", .name = "http_allow", OPT_ARRAY(HS, engine.http_allow),
     .def_doc = "none",
     .doc = "Where http.request steps may go: egress entries as in an instance's egress "
            "({\"host\", \"scheme\", \"port\", \"private\"}); none allows nothing."},

    /* webhooks: outgoing webhooks (webhooks/webhooks.h, docs/webhooks.md) */
    {.section = "webhooks", .name = "allow", OPT_ARRAY(HS, webhooks.allow), .def_doc = "none",
     .doc = "Where webhooks may be delivered: egress entries ({\"host\", \"scheme\", \"port\", "
            "\"private\"}); a subscription's URL must match one. None allows nothing."},
    {.section = "webhooks", .name = "max_attempts", OPT_INT(HS, webhooks.max_attempts), .def = 8,
     .min = 1, .max = 100,
     .doc = "Attempts to deliver an event before it is dead (in the delivery log, status dead, "
            "re-deliverable by hand)."},
    {.section = "webhooks", .name = "backoff_ms", OPT_MS(HS, webhooks.backoff_ms), .def = 1000,
     .min = 10, .max = 3600000,
     .doc = "The first retry's delay; each next one doubles, up to max_backoff_ms, with jitter "
            "(between half and all of it)."},
    {.section = "webhooks", .name = "max_backoff_ms", OPT_MS(HS, webhooks.max_backoff_ms),
     .def = 600000, .min = 10, .max = 86400000, .doc = "The longest delay between two attempts."},
    {.section = "webhooks", .name = "timeout_ms", OPT_MS(HS, webhooks.timeout_ms), .def = 10000,
     .min = 100, .max = 120000,
     .doc = "One attempt, from the request to the subscriber's answer: longer is a failure."},
    {.section = "webhooks", .name = "concurrency", OPT_INT(HS, webhooks.concurrency), .def = 4,
     .min = 1, .max = 256,
     .doc = "Requests in flight per subscription (events of one conversation go one at a time)."},
    {.section = "webhooks", .name = "log_retention_days", OPT_INT(HS, retention.webhook_log_days),
     .def = 30, .min = 0, .max = 36500,
     .doc = "Delivery-log entries older than this are removed (checked hourly); 0 keeps them "
            "forever."},

    /* audit: the trail of changes (model/audit.h) */
    {.section = "audit", .name = "retention_days", OPT_INT(HS, retention.audit_days), .def = 365,
     .min = 0, .max = 36500,
     .doc = "Audit entries older than this are removed (checked hourly); 0 keeps them forever."},

    /* the plugin instances (its schema: etc/config.schema.json) */
    {.name = "instances", OPT_ARRAY(HS, instances), .def_doc = "one per installed plugin",
     .doc = "Plugin instances to run: [{id, plugin, enabled, required, config, limits, restart, "
            "egress, consumer}], detailed below."},
    {0}};
/* clang-format on */

const opt_decl *const host_option_tables[] = {config_options, host_options, NULL};

int host_settings_defaults(host_settings *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    return optmap_apply(host_options, NULL, s, err, errlen);
}

int host_config_finalize(config *c, host_settings *s, const char *path, char *err, size_t errlen)
{
    host_settings scratch;
    if (!s) s = &scratch;
    memset(s, 0, sizeof(*s)); /* the fields no option fills are the caller's */
    return config_finalize(c, host_options, s, path, err, errlen);
}
