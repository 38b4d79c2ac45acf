#include "oidc.h"

#include "perm.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct oidc_pending {
    oidc_login v[OIDC_PENDING_MAX];
    size_t n;
};

oidc_pending *oidc_pending_new(void)
{
    if (sodium_init() < 0) return NULL;
    return calloc(1, sizeof(oidc_pending));
}

void oidc_pending_free(oidc_pending *p)
{
    if (!p) return;
    sodium_memzero(p, sizeof(*p));
    free(p);
}

size_t oidc_pending_count(const oidc_pending *p)
{
    return p ? p->n : 0;
}

static void random_b64url(char *out)
{
    unsigned char r[32];
    randombytes_buf(r, sizeof(r));
    sodium_bin2base64(out, OIDC_RANDOM_LEN + 1, r, sizeof(r),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(r, sizeof(r));
}

void oidc_pkce_challenge(const char *verifier, char *out)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)verifier, strlen(verifier));
    sodium_bin2base64(out, OIDC_RANDOM_LEN + 1, h, sizeof(h),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void oidc_pending_start(oidc_pending *p, int64_t now_ms, oidc_login *out)
{
    if (p->n == OIDC_PENDING_MAX) { /* the oldest goes */
        memmove(p->v, p->v + 1, (p->n - 1) * sizeof(p->v[0]));
        p->n--;
    }
    oidc_login *l = &p->v[p->n++];
    random_b64url(l->state);
    random_b64url(l->nonce);
    random_b64url(l->verifier);
    oidc_pkce_challenge(l->verifier, l->challenge);
    l->created_ms = now_ms;
    *out = *l;
}

bool oidc_pending_take(oidc_pending *p, const char *state, int64_t now_ms, oidc_login *out)
{
    size_t sl = state ? strlen(state) : 0;
    bool found = false;
    for (size_t i = 0; i < p->n;) {
        oidc_login *l = &p->v[i];
        bool expired = now_ms - l->created_ms > OIDC_PENDING_TTL_MS;
        bool match = !found && sl == OIDC_RANDOM_LEN && !sodium_memcmp(l->state, state, sl);
        if (match && !expired) {
            *out = *l;
            found = true;
        }
        if (match || expired) { /* used or stale: gone */
            sodium_memzero(l, sizeof(*l));
            memmove(l, l + 1, (p->n - i - 1) * sizeof(*l));
            p->n--;
            continue;
        }
        i++;
    }
    return found;
}

/* The claim at a dotted path ("realm_access.roles"), or NULL. */
static const json_t *claim_at(const json_t *claims, const char *path)
{
    char name[128];
    const json_t *v = claims;
    while (v && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof(name)) return NULL;
        memcpy(name, path, n);
        name[n] = 0;
        v = json_object_get(v, name);
        path += n + (path[n] == '.');
    }
    return v;
}

static bool domain_allowed(const char *email, const char *domains)
{
    if (!domains || !*domains) return true;
    const char *at = strrchr(email, '@');
    if (!at || !at[1]) return false;
    size_t dl = strlen(at + 1);
    for (const char *p = domains; *p;) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        size_t n = strcspn(p, ", \t");
        if (n && n == dl && !strncasecmp(p, at + 1, n)) return true;
        p += n;
    }
    return false;
}

/* The role a claim value maps to, or NULL. */
static const char *mapped(const json_t *map, const json_t *v)
{
    const char *s = json_string_value(v);
    const char *role = s ? json_string_value(json_object_get(map, s)) : NULL;
    return role && auth_role_valid(role) ? role : NULL;
}

static const char *map_role(const json_t *claims, const oidc_mapping *m)
{
    const json_t *v = m->role_claim && *m->role_claim ? claim_at(claims, m->role_claim) : NULL;
    const char *best = NULL;
    int best_rank = 1 << 20;
    const json_t *one = v;
    size_t i = 0, n = json_is_array(v) ? json_array_size(v) : (v ? 1 : 0);
    for (; i < n; i++) {
        if (json_is_array(v)) one = json_array_get(v, i);
        const char *r = mapped(m->role_map, one);
        if (!r) continue;
        const char *const *all = auth_roles();
        for (int k = 0; all[k]; k++)
            if (!strcmp(all[k], r) && k < best_rank) {
                best_rank = k;
                best = all[k];
            }
    }
    if (best) return best;
    return m->default_role && auth_role_valid(m->default_role) ? m->default_role : NULL;
}

int oidc_map_user(const json_t *claims, const oidc_mapping *m, char *email, size_t email_len,
                  char *role, size_t role_len, char *err, size_t errlen)
{
    const char *e = json_string_value(json_object_get(claims, "email"));
    if (!e || !*e || strlen(e) > 254 || !strchr(e, '@') || strlen(e) >= email_len) {
        snprintf(err, errlen,
                 "email: the ID token carries no usable e-mail (ask for the email "
                 "scope)");
        return -1;
    }
    if (m->require_email_verified && !json_is_true(json_object_get(claims, "email_verified"))) {
        snprintf(err, errlen, "email_verified: the provider has not verified this e-mail");
        return -1;
    }
    if (!domain_allowed(e, m->email_domains)) {
        snprintf(err, errlen, "email: its domain is not among auth.oidc.email_domains");
        return -1;
    }
    const char *r = map_role(claims, m);
    if (!r) {
        snprintf(err, errlen, "%s: no value maps to a role, and no default role is set",
                 m->role_claim && *m->role_claim ? m->role_claim : "role_claim");
        return -1;
    }
    snprintf(email, email_len, "%s", e);
    for (char *p = email; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    snprintf(role, role_len, "%s", r);
    return 0;
}
