/*
 * deadline.h - the header deadline of the HTTP server: once the first
 * byte of a request has come (a TLS handshake's included), its line and
 * headers must be complete within header_timeout_s, or the connection is
 * closed without an answer and the closing is logged to security.log
 * (event header_timeout). This is what stops a client that keeps a
 * connection by trickling header bytes (slow loris): the idle timeout
 * never fires for it, since a byte comes now and then. A connection that
 * sends nothing (an idle kept-alive one) is left to the idle timeout.
 *
 * The watch learns of connections through libmicrohttpd's
 * MHD_OPTION_NOTIFY_CONNECTION (deadline_notify, with the watch as its
 * cls), of the request's progress from the server (headers complete,
 * request done), and of its first byte from the kernel (TCP_INFO). A sweep
 * every quarter of the timeout (a second at most) closes the late ones with
 * shutdown(2), which libmicrohttpd sees as the client leaving: it closes
 * the connection itself. So a request is cut between header_timeout_s and
 * about one and a half times it after its first byte. Single-threaded, on
 * the host's loop.
 */
#ifndef AH_HTTP_DEADLINE_H
#define AH_HTTP_DEADLINE_H

#include "core/loop.h"

#include <microhttpd.h>

typedef struct deadline_watch deadline_watch;

/* kick(ud) is called after a sweep closed a connection, so the server runs
 * libmicrohttpd at once. 0 or AH_ENOMEM. */
int deadline_start(deadline_watch **out, ah_loop *loop, unsigned header_timeout_s,
                   void (*kick)(void *ud), void *ud);
/* Stop the sweep; the watch is freed once its timer has closed. Call after
 * MHD_stop_daemon (which reports every connection closed). */
void deadline_stop(deadline_watch *w);

/* The MHD_NotifyConnectionCallback: tracks connections (cls is the watch). */
void deadline_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode toe);
/* The current request's headers are complete: no deadline until it ends. */
void deadline_headers_done(struct MHD_Connection *conn);
/* The request ended (answered and sent): the next one's clock starts. */
void deadline_request_done(struct MHD_Connection *conn);

#endif
