/*
 * api_webchat.h - the web chat channel (docs/channels/webchat.md): what
 * its files share. Not a public header.
 *   api_widgets.c   /api/v1/widgets: the widgets (channel instances)
 *   api_webchat.c   /chat/{widget}/...: sessions, messages, events, history
 *   webchat_pages.c /chat/widget.js, the demo page, uploads
 *   webchat_sse.c   the streams and long polls (webchat_sse.h)
 *   webchat_token.c session tokens and signed identities (webchat_token.h)
 *   webchat_rate.c  the rate limits' one-minute windows (webchat_rate.h)
 */
#ifndef AH_API_WEBCHAT_H
#define AH_API_WEBCHAT_H

#include "api_priv.h"

#include <jansson.h>
#include <stddef.h>

/* The secrets store's instance name of a widget's identity secret. */
void webchat_secret_name(const char *widget_id, char *out, size_t n);

/* The headers a /chat answer carries for req's Origin (CORS), into hs
 * (room for 4 and a NULL; strings in buf). false when the widget does not
 * allow that origin. */
bool webchat_cors(const json_t *widget, http_req *req, char buf[2][400], const char *hs[5]);

/* A refused /chat call, to logs/security.log: what was refused and why. */
void webchat_log_refused(http_req *req, const char *widget, const char *what);

/* A widget by id, enabled: a new reference, or NULL after answering 404
 * (or 503). */
json_t *webchat_widget(docs *d, http_req *req, const char *id);

/* The pages' routes (webchat_pages.c): widget.js, demo, uploads. */
typedef struct wc_pages wc_pages;
int webchat_pages_routes(api_table *t, const api_deps *deps);

#endif
