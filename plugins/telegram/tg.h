/*
 * tg.h - the telegram plugin's shared state and its parts: the Bot API
 * client (api.c), updates in (inbound.c: long polling and the webhook),
 * messages out (outbound.c). Internal to the plugin.
 */
#ifndef TG_H
#define TG_H

#include <agenthost/plugin.h>

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum tg_mode { TG_POLLING = 0, TG_WEBHOOK = 1 } tg_mode;

typedef struct tg {
    const ah_host *host;
    ah_ctx *ctx;
    const json_t *config;
    char instance[128];
    const char *token; /* the secret; never logged */
    char base[600];    /* the Bot API root, no trailing slash */
    char bot[80];      /* the bot's username, from getMe */
    tg_mode mode;
    bool ready;           /* getMe answered and the mode is set up */
    bool failed;          /* the token was refused: unhealthy until restarted */
    bool webhook_removed; /* webhook.delete ran: the bot is going away; not set again */
    bool stopping;        /* shutdown began */
    uint32_t backoff_ms;
    /* Long polling. */
    int64_t offset; /* the next update_id to ask for */
    uint32_t poll_timeout_s;
    /* 429 holds, chat id -> Unix ms until which nothing is sent to it. */
    json_t *holds;
    /* Deliveries that came before the bot was ready, settled once it is. */
    const ah_event **waiting;
    size_t nwaiting, capwaiting;
    /* Broadcasts in this process: id -> their state (broadcast.c). */
    json_t *broadcasts;
    /* The scheduler (pace.c): the bot's bucket, and chat id -> its bucket. */
    double bot_tat;
    json_t *pace;
    /* Chats shown "typing" (typing.c): chat id -> its state. */
    json_t *typing;
} tg;

/* ---- api.c ---------------------------------------------------------------------------- */

/* A Bot API answer. ok: the envelope said so; status: HTTP (0: none);
 * error_code/description from the envelope, or the broker's error code in
 * description when there was no answer; retry_after in seconds (429);
 * result borrowed for the callback. */
typedef struct tg_result {
    bool ok;
    int status;
    int error_code;
    const char *description;
    int retry_after;
    int64_t migrate_to;
    const json_t *result;
} tg_result;

typedef void (*tg_api_cb)(tg *t, const tg_result *r, void *ud);

/* Call a Bot API method with params (borrowed; JSON body). timeout_ms 0:
 * the host's default. The callback always runs once, unless this returns
 * nonzero. */
int tg_call(tg *t, const char *method, const json_t *params, uint32_t timeout_ms, tg_api_cb cb,
            void *ud);

/* POST a body already made (content_type: its Content-Type) to a Bot API
 * method; as tg_call. */
int tg_post(tg *t, const char *method, const char *content_type, const void *body, size_t len,
            uint32_t timeout_ms, tg_api_cb cb, void *ud);

/* GET a file Telegram keeps (BASE/file/bot<token>/<file_path>); the
 * callback gets the broker's response (borrowed). */
typedef void (*tg_download_cb)(tg *t, const ah_http_response *resp, void *ud);
int tg_download(tg *t, const char *file_path, uint32_t timeout_ms, tg_download_cb cb, void *ud);

/* A permanent failure (4xx other than 429): retrying cannot help. */
bool tg_permanent(const tg_result *r);

/* ---- inbound.c ------------------------------------------------------------------------- */

/* Start receiving: delete any webhook and poll, or set the webhook. */
void tg_inbound_start(tg *t);
/* A webhook delivery from hooks.INSTANCE: map, publish, then ack. */
void tg_on_hook(tg *t, const ah_event *ev);

/* ---- outbound.c ------------------------------------------------------------------------- */

/* A message.out delivery: send it (idempotently) or ack it as not ours. */
void tg_on_out(tg *t, const ah_event *ev);
/* The action send: {chat_id, text, format, keyboard, attachments, options,
 * idempotency_key}: one message to a chat or a channel (@name) now; with an
 * idempotency_key it is recorded and sent at most once per key (a repeat
 * answers the first ids), without one nothing is written. */
void tg_send_action(tg *t, ah_call *call, const json_t *args);

/* How a message sent for someone else ended: outcome "sent" (now or
 * before), "blocked", "held" (429: again after retry_ms), "failed"
 * (permanent, why says it) or "retry" (transient). */
typedef void (*tg_done_cb)(tg *t, void *ud, const char *outcome, uint32_t retry_ms,
                           const char *why);
/* Send msg (stolen: {chat: {id}, text, ...}) idempotently under the KV key
 * `key`, as message.out deliveries are sent, and tell cb how it ended. */
void tg_send_one(tg *t, json_t *msg, const char *key, tg_done_cb cb, void *ud);

/* ---- broadcast.c ---------------------------------------------------------------------------- */

/* The actions broadcast.start, .status, .pause, .resume, .cancel. */
void tg_broadcast_action(tg *t, ah_call *call, const char *action, const json_t *args);
/* Resume the broadcasts that were running (after a restart). */
void tg_broadcast_resume_all(tg *t);
/* At shutdown: forget them (their state is in KV). */
void tg_broadcast_free_all(tg *t);

/* ---- files.c ----------------------------------------------------------------------------- */

/* The action attachment.fetch: {ref: "telegram:FILE_ID", max_bytes}: getFile,
 * then the bytes through the broker, answered as {ref, name, size,
 * content_b64}. */
void tg_fetch_action(tg *t, ah_call *call, const json_t *args);

/* ---- typing.c ----------------------------------------------------------------------------- */

/* The action typing: {chat_id, on}: "typing" shown in the chat, renewed,
 * from on until off, a message sent to the chat, or a cap. */
void tg_typing_action(tg *t, ah_call *call, const json_t *args);
/* A message went out to chat: stop showing "typing" there. */
void tg_typing_stop(tg *t, const char *chat);
/* Chats shown "typing" now (the action status). */
size_t tg_typing_count(const tg *t);
void tg_typing_free_all(tg *t);

/* ---- upload.c ---------------------------------------------------------------------------- */

/* Telegram's limits on an uploaded file: photos 10 MB, anything else 50 MB. */
#define TG_PHOTO_MAX (10u << 20)
#define TG_UPLOAD_MAX (50u << 20)

/* An attachment given as bytes ({kind, name, mime_type, content_b64}): NULL
 * when it can be uploaded, else why not (into why, naming the field
 * attachments[i]...). */
const char *tg_upload_check(const json_t *attachment, size_t i, char *why, size_t n);
/* Call method with params (borrowed) and the file as multipart/form-data
 * (a random boundary), the file in the part `field`; as tg_call. */
int tg_call_upload(tg *t, const char *method, const json_t *params, const char *field,
                   const json_t *attachment, uint32_t timeout_ms, tg_api_cb cb, void *ud);
/* The file_id Telegram gave an uploaded file in its answer (the Message),
 * or NULL. */
const char *tg_uploaded_file_id(const json_t *message);

/* ---- pace.c ------------------------------------------------------------------------------ */

/* The ms a call to chat must wait to keep within Telegram's limits
 * (config.send_limits); its slot is reserved, so call it once per call. */
uint32_t tg_pace(tg *t, const char *chat);

/* ---- telegram.c ------------------------------------------------------------------------- */

int64_t tg_now_ms(void);
/* getMe answered and receiving is set up: handle what waited. */
void tg_became_ready(tg *t);
/* Mark a chat blocked (true) or reachable again (false), durably. */
void tg_set_blocked(tg *t, const char *chat, bool blocked, const char *why);

#endif
