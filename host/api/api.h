/*
 * api.h - the HTTP API of the host: route families, authentication
 * (bearer API tokens), authorization (each route's row names the
 * permission it needs; the caller's role must hold it), errors in one
 * shape, one line per request in logs/api.log, and request metrics.
 *
 * Each route family (a file of host/api/) registers its own routes with
 * the modules it uses, taken from api_deps; a new family is one file and
 * one line in api.c's list of families.
 */
#ifndef AH_API_H
#define AH_API_H

#include "http/router.h"
#include "http/server.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct api api;
typedef struct store store;
typedef struct secrets secrets;
typedef struct registry registry;
typedef struct supervisor supervisor;
typedef struct bus bus;
typedef struct broker broker;
typedef struct docs docs;
typedef struct expr_pool expr_pool;
typedef struct runtime runtime;
typedef struct auth_sessions auth_sessions;

/* The modules of a running host, for the families to take what they use.
 * All borrowed; they outlive the API. */
typedef struct api_deps {
    store *st;
    secrets *sec;
    registry *reg;
    supervisor *sup;
    bus *bus;
    broker *egress;
    docs *docs;
    expr_pool *expr;           /* NULL: no expression pool */
    runtime *rt;               /* the engine; NULL: its routes are left out */
    struct webhooks *webhooks; /* outgoing webhooks (webhooks/webhooks.h) */
    const char *logs_dir;
    const char *data_dir;        /* web chat uploads go under it (NULL: none taken) */
    ah_loop *loop;               /* the web chat's streams and timers; work off the loop thread */
    const struct api_opts *opts; /* set by api_start */
    auth_sessions *sessions;     /* set by api_start: the web sessions */
    bool tls;                    /* set by api_start: cookies are Secure */
} api_deps;

/* Single sign-on with an OpenID provider (api_oidc.c; docs/security-model.md). */
typedef struct api_oidc_opts {
    const char *issuer;          /* unset: single sign-on is off */
    const char *client_id;       /* the client secret is the secret host/oidc_client_secret */
    const char *redirect_uri;    /* this host's public .../api/v1/auth/oidc/callback */
    const char *scopes;          /* "openid email profile" */
    const char *role_claim;      /* a dotted path into the ID token: "realm_access.roles" */
    const json_t *role_map;      /* {"claim value": "role"} */
    const char *default_role;    /* when no value maps; unset: refused */
    const char *email_domains;   /* "example.com, example.org"; unset: any */
    const char *after_login;     /* where the browser goes once signed in */
    const char *ca_file;         /* the provider's CA (PEM), instead of the system's */
    bool require_email_verified; /* refuse an e-mail the provider has not verified */
    bool link_existing;          /* a user made otherwise may sign in with the provider */
    bool allow_private;          /* the provider on a private or loopback address */
    bool insecure_http;          /* http:// for the provider: tests only */
    unsigned clock_skew_s;       /* on exp, iat, nbf */
    unsigned cache_ttl_s;        /* discovery and keys kept this long */
    unsigned jwks_min_refetch_s; /* an unknown kid fetches the keys again at most this often */
} api_oidc_opts;

typedef struct api_opts {
    unsigned auth_fail_limit; /* failed authentications a minute from one address; 0: 20 */
    unsigned block_after;     /* unauthorised requests that block an address; 0: never */
    unsigned block_window_s;  /* ... counted within this long */
    unsigned block_for_s;     /* ... blocked for this long */
    /* Benchmarks only: authenticate but skip the permission check, to
     * measure what it costs. Never set by the host's options. */
    bool skip_perm_check;
    unsigned session_idle_s;       /* a web session ends after this long unused; 0: 1800 */
    unsigned session_absolute_s;   /* and this long after it began; 0: 43200 */
    const char *require_2fa_roles; /* "admin, editor": roles whose users need a second factor */
    unsigned invite_ttl_s;         /* an invitation token lasts this long; 0: a week */
    unsigned reset_ttl_s;          /* a password reset token lasts this long; 0: an hour */
    const char *mail_instance;     /* the e-mail instance mailing those tokens; NULL: answered */
    const char *public_url;        /* the admin's public base URL, for the links in mails */
    const char *webchat_script;    /* the widget script served at /chat/widget.js */
    unsigned webchat_keepalive_ms; /* SSE keepalive comments; 0: 15000 */
    unsigned webchat_per_ip;       /* web chat streams and polls from one address; 0: 50 */
    unsigned webchat_per_session;  /* ... for one session; 0: 5 */
    api_oidc_opts oidc;
} api_opts;

/* Serve the API on ho->listen. 0, or -1 with err. */
int api_start(api **out, ah_loop *loop, const http_opts *ho, const api_opts *ao,
              const api_deps *deps, char *err, size_t errlen);
void api_stop(api *x);
int api_port(const api *x); /* the port bound (for a listen address HOST:0) */
/* Read http.tls_cert and http.tls_key again (SIGHUP): as
 * http_server_reload_tls. */
int api_reload_tls(api *x, char *err, size_t errlen);

/* Every route (for `agenthost routes --json` and the OpenAPI check), built
 * on the first call and kept: *n routes, or NULL with err (out of memory,
 * or a route whose permission host/auth/perm.h does not list). Not
 * thread-safe. */
const route *api_routes(size_t *n, char *err, size_t errlen);

#endif
