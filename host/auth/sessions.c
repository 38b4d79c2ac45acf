#include "sessions.h"

#include "core/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct auth_sessions {
    auth_session *v;
    size_t n;
    int64_t idle_ms, absolute_ms;
    auth_challenge *c;
    size_t nc;
    sessions_challenge_fn on_challenge;
    void *on_challenge_ud;
    char require_2fa[256]; /* ",admin,editor," */
};

auth_sessions *sessions_new(unsigned idle_s, unsigned absolute_s)
{
    auth_sessions *s = calloc(1, sizeof(*s));
    if (!s || sodium_init() < 0) {
        free(s);
        return NULL;
    }
    s->v = calloc(SESSION_MAX, sizeof(*s->v));
    s->c = calloc(SESSION_CHALLENGE_MAX, sizeof(*s->c));
    if (!s->v || !s->c) {
        free(s->v);
        free(s->c);
        free(s);
        return NULL;
    }
    s->idle_ms = (int64_t)idle_s * 1000;
    s->absolute_ms = (int64_t)absolute_s * 1000;
    return s;
}

void sessions_free(auth_sessions *s)
{
    if (!s) return;
    sodium_memzero(s->v, SESSION_MAX * sizeof(*s->v));
    free(s->v);
    sodium_memzero(s->c, SESSION_CHALLENGE_MAX * sizeof(*s->c));
    free(s->c);
    free(s);
}

static void hash_token(const char *token, unsigned char out[32]);

/* A fresh random token: prefix + 64 hex digits, and its hash. */
static void new_token(const char *prefix, char *token, unsigned char hash[32])
{
    unsigned char r[32];
    randombytes_buf(r, sizeof(r));
    memcpy(token, prefix, 4);
    sodium_bin2hex(token + 4, SESSION_TOKEN_LEN - 3, r, sizeof(r));
    sodium_memzero(r, sizeof(r));
    hash_token(token, hash);
}

static void hash_token(const char *token, unsigned char out[32])
{
    crypto_generichash(out, 32, (const unsigned char *)token, strlen(token),
                       (const unsigned char *)"agenthost-session/1", 19);
}

static void drop(auth_sessions *s, size_t i)
{
    s->v[i] = s->v[--s->n];
    sodium_memzero(&s->v[s->n], sizeof(s->v[s->n]));
}

static bool expired(const auth_sessions *s, const auth_session *x, int64_t now)
{
    return now - x->last_ms >= s->idle_ms || now - x->created_ms >= s->absolute_ms;
}

const auth_session *sessions_create(auth_sessions *s, const char *user_id, const char *email,
                                    int64_t epoch, const char *client_ip, int64_t now_ms,
                                    char *token)
{
    if (s->n == SESSION_MAX) { /* the oldest goes */
        size_t oldest = 0;
        for (size_t i = 1; i < s->n; i++)
            if (s->v[i].created_ms < s->v[oldest].created_ms) oldest = i;
        drop(s, oldest);
    }
    auth_session *x = &s->v[s->n++];
    memset(x, 0, sizeof(*x));
    unsigned char id[8], csrf[32];
    randombytes_buf(id, sizeof(id));
    randombytes_buf(csrf, sizeof(csrf));
    new_token("ahs_", token, x->key_hash);
    sodium_bin2hex(x->id, sizeof(x->id), id, sizeof(id));
    sodium_bin2hex(x->csrf, sizeof(x->csrf), csrf, sizeof(csrf));
    snprintf(x->user_id, sizeof(x->user_id), "%s", user_id);
    snprintf(x->email, sizeof(x->email), "%s", email);
    snprintf(x->client_ip, sizeof(x->client_ip), "%s", client_ip ? client_ip : "");
    x->epoch = epoch;
    x->created_ms = x->last_ms = now_ms;
    return x;
}

auth_session *sessions_find(auth_sessions *s, const char *token, int64_t now_ms)
{
    if (!token || strlen(token) != SESSION_TOKEN_LEN || strncmp(token, "ahs_", 4)) return NULL;
    unsigned char h[32];
    hash_token(token, h);
    for (size_t i = 0; i < s->n; i++) {
        if (sodium_memcmp(s->v[i].key_hash, h, sizeof(h)) != 0) continue;
        if (expired(s, &s->v[i], now_ms)) {
            drop(s, i);
            return NULL;
        }
        s->v[i].last_ms = now_ms;
        return &s->v[i];
    }
    return NULL;
}

bool sessions_end(auth_sessions *s, const char *user_id, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].id, id) && (!user_id || !strcmp(s->v[i].user_id, user_id))) {
            drop(s, i);
            return true;
        }
    return false;
}

int sessions_end_user(auth_sessions *s, const char *user_id)
{
    int n = 0;
    for (size_t i = s->n; i-- > 0;)
        if (!strcmp(s->v[i].user_id, user_id)) {
            drop(s, i);
            n++;
        }
    return n;
}

json_t *sessions_list(auth_sessions *s, const char *user_id, const char *current_id, int64_t now_ms)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n; i++) {
        const auth_session *x = &s->v[i];
        if (strcmp(x->user_id, user_id) || expired(s, x, now_ms)) continue;
        char c[40], l[40];
        ah_rfc3339_ms(x->created_ms, c, sizeof(c));
        ah_rfc3339_ms(x->last_ms, l, sizeof(l));
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:b}", "id", x->id, "created_at", c,
                                           "last_seen_at", l, "client_ip", x->client_ip, "current",
                                           current_id && !strcmp(x->id, current_id)));
    }
    return a;
}

bool sessions_csrf_ok(const auth_session *ss, const char *presented)
{
    return presented && strlen(presented) == SESSION_CSRF_LEN &&
           sodium_memcmp(ss->csrf, presented, SESSION_CSRF_LEN) == 0;
}

static void challenge_changed(auth_sessions *s, const auth_challenge *c, bool gone)
{
    if (s->on_challenge) s->on_challenge(s->on_challenge_ud, c, gone);
}

static void challenge_drop(auth_sessions *s, size_t i)
{
    challenge_changed(s, &s->c[i], true);
    s->c[i] = s->c[--s->nc];
    sodium_memzero(&s->c[s->nc], sizeof(s->c[s->nc]));
}

void sessions_challenge_create(auth_sessions *s, const char *user_id, const char *email,
                               int64_t epoch, int64_t now_ms, char *token)
{
    if (s->nc == SESSION_CHALLENGE_MAX) {
        size_t oldest = 0;
        for (size_t i = 1; i < s->nc; i++)
            if (s->c[i].created_ms < s->c[oldest].created_ms) oldest = i;
        challenge_drop(s, oldest);
    }
    auth_challenge *x = &s->c[s->nc++];
    memset(x, 0, sizeof(*x));
    new_token("ahc_", token, x->key_hash);
    snprintf(x->user_id, sizeof(x->user_id), "%s", user_id);
    snprintf(x->email, sizeof(x->email), "%s", email);
    x->epoch = epoch;
    x->created_ms = now_ms;
    challenge_changed(s, x, false);
}

/* The index of a token's challenge, or -1. */
static long challenge_at(auth_sessions *s, const char *token)
{
    if (!token || strlen(token) != SESSION_TOKEN_LEN || strncmp(token, "ahc_", 4)) return -1;
    unsigned char h[32];
    hash_token(token, h);
    for (size_t i = 0; i < s->nc; i++)
        if (sodium_memcmp(s->c[i].key_hash, h, sizeof(h)) == 0) return (long)i;
    return -1;
}

bool sessions_challenge_try(auth_sessions *s, const char *token, int64_t now_ms,
                            auth_challenge *out)
{
    long i = challenge_at(s, token);
    if (i < 0) return false;
    auth_challenge *x = &s->c[i];
    if (now_ms - x->created_ms >= SESSION_CHALLENGE_TTL_MS || x->tries >= SESSION_CHALLENGE_TRIES) {
        challenge_drop(s, (size_t)i);
        return false;
    }
    x->tries++;
    *out = *x;
    challenge_changed(s, x, false);
    return true;
}

void sessions_challenge_end(auth_sessions *s, const char *token)
{
    long i = challenge_at(s, token);
    if (i >= 0) challenge_drop(s, (size_t)i);
}

void sessions_on_challenge(auth_sessions *s, sessions_challenge_fn fn, void *ud)
{
    s->on_challenge = fn;
    s->on_challenge_ud = ud;
}

bool sessions_challenge_restore(auth_sessions *s, const auth_challenge *c, int64_t now_ms)
{
    if (now_ms - c->created_ms >= SESSION_CHALLENGE_TTL_MS || c->tries >= SESSION_CHALLENGE_TRIES ||
        c->created_ms > now_ms || s->nc == SESSION_CHALLENGE_MAX)
        return false;
    s->c[s->nc++] = *c;
    return true;
}

void sessions_require_2fa(auth_sessions *s, const char *roles)
{
    size_t at = 0;
    s->require_2fa[at++] = ',';
    for (const char *p = roles ? roles : ""; *p && at + 2 < sizeof(s->require_2fa); p++)
        if (*p != ' ') s->require_2fa[at++] = *p;
    if (s->require_2fa[at - 1] != ',') s->require_2fa[at++] = ',';
    s->require_2fa[at] = 0;
}

bool sessions_2fa_required(const auth_sessions *s, const char *role)
{
    char needle[40];
    if (!role || !role[0] || strlen(role) > 32) return false;
    snprintf(needle, sizeof(needle), ",%s,", role);
    return strstr(s->require_2fa, needle) != NULL;
}

void sessions_set_sso(auth_sessions *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].id, id)) s->v[i].sso = true;
}

const auth_session *sessions_get(auth_sessions *s, const char *user_id, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].id, id) && !strcmp(s->v[i].user_id, user_id)) return &s->v[i];
    return NULL;
}
