/*
 * driver.h - libcurl's multi interface driven by the host's libuv loop.
 *
 * curl tells the driver which sockets to watch (one uv_poll_t each) and
 * when to wake it (one uv_timer_t); the driver tells curl what happened
 * with curl_multi_socket_action. Thousands of transfers run at once on the
 * loop's thread and nothing blocks: name resolution is curl's threaded
 * resolver (see broker.c), connections and TLS are non-blocking.
 *
 * A finished transfer is removed from the multi handle and reported once
 * through the done callback; the easy handle then belongs to the caller
 * again (to reuse or clean up).
 */
#ifndef AH_BROKER_DRIVER_H
#define AH_BROKER_DRIVER_H

#include <curl/curl.h>
#include <uv.h>

typedef struct driver driver;
typedef void (*driver_done_fn)(void *ud, CURL *easy, CURLcode result);

/* 0, or -1 (out of memory, or libcurl cannot make a multi handle). */
int driver_new(driver **out, uv_loop_t *uv, driver_done_fn done, void *ud);
/* Transfers still running are removed without their callback; the caller
 * owns and frees their easy handles. Closes the driver's handles. */
void driver_free(driver *d);

/* Start a transfer. 0, or -1 (curl refused the handle). */
int driver_add(driver *d, CURL *easy);
/* Stop a running transfer without calling done. */
void driver_remove(driver *d, CURL *easy);

/* Shared connection cache limits and the like go through this. */
CURLM *driver_multi(driver *d);

#endif
