/*
 * Automatic blocking of a client address (http.block_after,
 * http.block_window_s, http.block_for_s): block_after unauthorised
 * requests (no, bad or revoked credential; an unknown or ended session; a
 * session request without its CSRF token) within block_window_s, and
 * every request from that address, any route, answers 403
 * address_blocked with Retry-After for block_for_s, then it is let in
 * again. A permission the role lacks is not counted: the caller is who
 * they say, and a 403 each time is answer enough. http.auth_fail_limit's
 * short throttle (429 for the rest of a minute) comes first; the block is
 * the longer answer to an address that keeps coming back. The address is the client's as the server
 * sees it: the peer, or X-Forwarded-For's from a trusted proxy (http.trusted_proxies), so a proxy
 * is not blocked for its clients. Each block is a line of logs/security.log (address_blocked).
 */
#include "core/log.h"
#include "core/util.h"
#include "api_priv.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>

#define BLOCK_SLOTS 1024

struct api_block {
    throttle *attempts; /* unauthorised requests per address, in the window */
    throttle *blocked;  /* one entry: blocked until its window ends */
    unsigned after, for_s;
    store *st; /* where blocks are kept across restarts, or NULL */
};

api_block *api_block_new(unsigned after, unsigned window_s, unsigned for_s)
{
    if (!after) return NULL;
    api_block *b = calloc(1, sizeof(*b));
    if (!b) return NULL;
    b->after = after;
    b->for_s = for_s;
    b->attempts = throttle_new(BLOCK_SLOTS, after, (uint64_t)window_s * 1000u);
    b->blocked = throttle_new(BLOCK_SLOTS, 1, (uint64_t)for_s * 1000u);
    if (!b->attempts || !b->blocked) {
        api_block_free(b);
        return NULL;
    }
    return b;
}

void api_block_free(api_block *b)
{
    if (!b) return;
    throttle_free(b->attempts);
    throttle_free(b->blocked);
    free(b);
}

void api_block_note(api_block *b, http_req *req)
{
    if (!b) return;
    const char *ip = http_req_client_ip(req);
    uint64_t now = ah_mono_ms();
    if (throttle_wait_s(b->blocked, ip, now) || throttle_fail(b->attempts, ip, now) != b->after)
        return;
    throttle_fail(b->blocked, ip, now);
    api_persist_block(b->st, ip, ah_now_ms() + (int64_t)b->for_s * 1000);
    log_ctx lc = {.request_id = http_req_id(req)};
    json_t *f = json_pack("{s:s,s:s,s:i,s:i}", "event", "address_blocked", "client_ip", ip,
                          "attempts", (int)b->after, "blocked_for_s", (int)b->for_s);
    log_write("security", LOG_WARN, "api", &lc, f,
              "address blocked after %u unauthorised requests, for %u s", b->after, b->for_s);
    json_decref(f);
}

void api_block_keep(api_block *b, store *st)
{
    if (!b) return;
    b->st = st;
    api_keep_blocks(st, b);
}

bool api_block_restore(api_block *b, const char *ip, int64_t remaining_ms)
{
    uint64_t now = ah_mono_ms(), for_ms = (uint64_t)b->for_s * 1000u;
    if (remaining_ms <= 0 || (uint64_t)remaining_ms > for_ms) return false;
    /* As if blocked for_ms - remaining_ms ago: it ends when it would have. */
    uint64_t since = for_ms - (uint64_t)remaining_ms;
    throttle_fail(b->blocked, ip, now > since ? now - since : 0);
    return throttle_wait_s(b->blocked, ip, now) > 0;
}

bool api_block_refuse(api_block *b, http_req *req)
{
    if (!b) return false;
    unsigned wait = throttle_wait_s(b->blocked, http_req_client_ip(req), ah_mono_ms());
    if (!wait) return false;
    char ra[40];
    snprintf(ra, sizeof(ra), "Retry-After: %u", wait);
    const char *hs[] = {ra, NULL};
    http_req_set_route(req, "(blocked)");
    http_respond_error_h(req, 403, "address_blocked",
                         "this address is blocked for a while after repeated unauthorised "
                         "requests",
                         NULL, hs);
    return true;
}
