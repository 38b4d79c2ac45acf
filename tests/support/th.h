/*
 * th.h - test harness: runs the real agenthost binary in a temporary
 * directory and talks to it over real HTTP on loopback.
 */
#ifndef TH_H
#define TH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#ifndef TH_BUILD_DIR
#error "TH_BUILD_DIR must be defined by the build"
#endif

typedef struct th_host {
    char dir[512]; /* temporary root: var/, logs/, plugins/, config.json */
    char data[600], logs[600], plugins[600], config[600];
    char token[128]; /* an admin token */
    int port;
    pid_t pid;
    int exit_status; /* how the host ended when th_start saw it exit: code, or 128 + signal */
    char stderr_path[600];
    const char *const *serve_args; /* more arguments of `serve` (NULL-terminated), or NULL */
} th_host;

/* Make a temporary root with an empty plugins dir. */
int th_init(th_host *h, const char *name);
/* Install a built first-party plugin (build/plugins/<name>) by symlinking. */
int th_install_plugin(th_host *h, const char *name);
/* Install a plugin from a directory (copied). */
int th_install_dir(th_host *h, const char *src, const char *as);
/* Write a file under the root (relative path), creating directories. */
int th_write(th_host *h, const char *rel, const char *content);
/* Write config.json from a JSON text (data/logs dirs are filled in). */
int th_config(th_host *h, const char *json_text);
/* Run `agenthost ARGS...` (NULL-terminated) with --data; stdin_text may be
 * NULL. Captures stdout into out (may be NULL). Returns the exit status. */
int th_cli(th_host *h, const char *stdin_text, char *out, size_t outlen, ...);
/* `agenthost secret set <instance> <key>` with value on stdin (before
 * start): 0, or the command's exit status. */
int th_set_secret(th_host *h, const char *instance, const char *key, const char *value);
/* `agenthost user create --email <email> --role <role>` with password on
 * stdin (before start): 0, or the command's exit status; the new user's
 * id into id (n bytes) when id is not NULL. */
int th_make_user(th_host *h, const char *email, const char *role, const char *password, char *id,
                 size_t n);
/* Create an admin token (before start) into h->token. */
int th_make_token(th_host *h);
/* Start `agenthost serve` and wait for the port (<= timeout_ms). env is a
 * NULL-terminated list of extra "K=V", or NULL. TH_HOST_WRAP in the
 * environment puts its words before the command (a profiler). */
int th_start(th_host *h, const char *const *env, int timeout_ms);
/* Start without waiting for the port; returns the pid or -1. */
int th_spawn_serve(th_host *h, const char *const *env);
/* Wait for the serve process to exit (<= timeout_ms): its status, or -1. */
int th_wait_exit(th_host *h, int timeout_ms);
/* Start `agenthost serve` with the fault point `point` armed (core/fault.h:
 * the host dies there, after marking it in the root's fault.mark). As
 * th_start. */
int th_start_fault(th_host *h, const char *point, int timeout_ms);
/* Wait for the host to die (<= timeout_ms) and say whether it was at
 * `point`. */
bool th_died_at(th_host *h, const char *point, int timeout_ms);
/* SIGTERM, wait up to timeout_ms; returns the exit status or -1. */
int th_stop(th_host *h, int timeout_ms);
void th_kill(th_host *h);
/* th_stop, and when the host did not exit 0 (a sanitizer report, a crash,
 * a hang), print the end of its stderr. The teardowns use it: every host a
 * test starts must stop clean. */
int th_stop_clean(th_host *h, int timeout_ms);
/* For the API contract tests: a started host named `name` with one echo
 * instance "echo" (diagnostics on, its webhook secret set to hook_secret),
 * the jq plugin (expression workers), and two dead letters on echo.in
 * (poison events). 0 or -1. */
int th_start_echo_with_dead_letters(th_host *h, const char *name, const char *hook_secret);
/* A file of the source tree (rel: "docs/examples/scenarios/faq-agent.json"),
 * malloc'd and NUL-terminated, or NULL. */
char *th_read_source(const char *rel);
/* Save content (scenario JSON text) as the next version of scenario_id:
 * the HTTP status (201 saved). */
int th_save_version(th_host *h, const char *scenario_id, const char *content);
/* A scenario named `name` with one version of content (a JSON text), and
 * an agent of the same name running it, active, speaking en and ru, with
 * extra (more fields of the agent, "\"hooks\": [...]", or NULL): the
 * agent's id into agent. 0, or -1 with the reason on stderr. */
int th_make_agent(th_host *h, const char *name, const char *content, const char *extra, char *agent,
                  size_t n);
/* Remove the temporary root (unless TH_KEEP is set). */
void th_cleanup(th_host *h);

/* HTTP: returns the status (0 on transport error); *out gets the parsed
 * JSON body (NULL if none or not JSON). token NULL: the harness's token;
 * "" for none. */
int th_http(th_host *h, const char *method, const char *path, const char *body, const char *token,
            json_t **out);
/* The same with raw response access: headers and body text (malloc'd). */
int th_http_raw(th_host *h, const char *method, const char *path, const char *content_type,
                const char *body, size_t body_len, const char *const *headers, char **resp_headers,
                char **resp_body);
/* A sample's value on the host's /metrics (name with no labels), or -1. */
double th_metric(th_host *h, const char *name);
/* POST /api/v1/instances/<id>/actions/<action> with args JSON text. */
int th_call(th_host *h, const char *id, const char *action, const char *args, json_t **out);
/* The same with an X-Request-Id; returns the status. */
int th_call_traced(th_host *h, const char *id, const char *action, const char *args,
                   const char *request_id);
/* An instance's state string (static buffer), or "" */
const char *th_state(th_host *h, const char *id);
/* Poll until the instance reaches state (<= timeout_ms). */
bool th_wait_state(th_host *h, const char *id, const char *state, int timeout_ms);
/* Poll until a file under the root contains needle. */
bool th_wait_file(th_host *h, const char *rel, const char *needle, int timeout_ms);
/* A loopback port nothing listens on right now (the kernel's choice), or -1. */
int th_free_port(void);
bool th_file_contains(th_host *h, const char *rel, const char *needle);
/* Search every file under logs/ (recursively) for needle. */
bool th_logs_contain(th_host *h, const char *needle);
/* Read a file under the root (malloc'd) or NULL. */
char *th_read(th_host *h, const char *rel);

/* A user's browser session (th_session.c): what POST /api/v1/auth/login
 * set. */
typedef struct th_session {
    char cookie[200];     /* "Cookie: ah_session=..." */
    char csrf[100];       /* "X-CSRF-Token: ..." */
    char id[32];          /* the session's id */
    char set_cookie[400]; /* "Set-Cookie: ..." as the host sent it */
} th_session;
/* Log in with email and password: the status. On 200 with a session
 * cookie, the session into ss (when not NULL); the answer's body into
 * *body (malloc'd) when body is not NULL. */
int th_login(th_host *h, const char *email, const char *password, th_session *ss, char **body);
/* A request as that session (its cookie, and its CSRF token when csrf):
 * the status; the body into *body (malloc'd) when body is not NULL. */
int th_session_http(th_host *h, const th_session *ss, bool csrf, const char *method,
                    const char *path, const char *json, char **body);
/* The same with the CSRF token, the answer parsed: *out the JSON body (NULL
 * when none or not JSON) when out is not NULL. */
int th_session_json(th_host *h, const th_session *ss, const char *method, const char *path,
                    const char *json, json_t **out);

/* A web chat visitor (th_webchat.c): the widget API (/chat/<widget>/...)
 * with the visitor's bearer token (NULL: none). */
/* A request to the widget API: the status; *out the JSON answer when out
 * is not NULL (NULL when none). */
int th_chat_http(th_host *h, const char *method, const char *path, const char *body,
                 const char *token, json_t **out);
/* A new visitor of widget: its token into tok; the status (201). */
int th_chat_session(th_host *h, const char *widget, char *tok, size_t n);
/* The visitor writes text: the status (202). */
int th_chat_say(th_host *h, const char *widget, const char *tok, const char *text);
/* The visitor's history (its messages, a new array) once a message in it
 * says want; NULL when none did within 30 s. */
json_t *th_chat_history(th_host *h, const char *widget, const char *tok, const char *want);
/* The visitor's conversation as the API shows it (GET
 * /api/v1/conversations/<id>; a new object), or NULL. */
json_t *th_chat_conversation(th_host *h, const char *widget, const char *tok);
/* A widget named name for agent (POST /api/v1/widgets): its id into id;
 * the status (201). */
int th_make_widget(th_host *h, const char *name, const char *agent, char *id, size_t n);
/* Whether a message of msgs (a history) says want. */
bool th_chat_has_text(const json_t *msgs, const char *want);

/* Whether one line of the file rel (under the root) contains both a and b. */
bool th_file_line_contains(th_host *h, const char *rel, const char *a, const char *b);

/* A topic's depth (events retained), or -1 if the topic does not exist. */
long long th_topic_depth(th_host *h, const char *topic);
/* Poll until the topic holds at least n events (<= timeout_ms). */
bool th_wait_depth(th_host *h, const char *topic, long long n, int timeout_ms);

/* Utilities. */
void th_sleep_ms(int ms);
long long th_now_ms(void);
json_t *th_get(json_t *o, const char *path); /* "a.b.0.c" */

#endif
