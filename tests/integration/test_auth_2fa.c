/*
 * Two-factor login through the real binary: enrolment answers an
 * otpauth:// URI and is on only after a first right code; the password
 * then gives a pending token, not a session; a code already used is
 * refused (replay), a recovery code works once, a pending token dies after
 * its tries; turning 2FA off takes a code and is logged; an admin reset
 * ends the user's sessions; a role that needs 2FA can only enrol until it
 * has one; ten wrong codes across sign-ins lock the second factor (423).
 * Codes are computed with liboath (auth/totp.h) from the secret the host
 * handed out, at the time of the request.
 */
#include "../support/th.h"
#include "auth/totp.h"
#include "auth/users.h"
#include "model/collections.h"
#include "model/docs.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PW "a-Long-enough-pass-2026"

static th_host H;
static char vi_id[64];

static int setup(void **s)
{
    (void)s;
    if (th_init(&H, "auth-2fa") ||
        th_config(&H, "{\"auth\": {\"require_2fa_roles\": \"operator\"}, \"instances\": []}") ||
        th_make_token(&H))
        return -1;
    if (th_make_user(&H, "ed@example.com", "editor", PW, NULL, 0) ||
        th_make_user(&H, "vi@example.com", "viewer", PW, vi_id, sizeof(vi_id)) ||
        th_make_user(&H, "op@example.com", "operator", PW, NULL, 0))
        return -1;
    return th_start(&H, NULL, 15000);
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

typedef struct session {
    char cookie[200]; /* "Cookie: ah_session=..." */
    char csrf[100];   /* "X-CSRF-Token: ..." */
} session;

/* A login answer: the session when a cookie came, else the pending token. */
static void take(const char *rh, const char *rb, session *ss, char *pending)
{
    json_t *o = json_loads(rb, 0, NULL);
    assert_non_null(o);
    const char *sc = strcasestr(rh, "Set-Cookie: ");
    if (pending) {
        assert_null(sc);
        assert_true(json_is_true(json_object_get(o, "two_factor_required")));
        snprintf(pending, 80, "%s", json_string_value(json_object_get(o, "pending_token")));
        assert_int_equal(strlen(pending), 68);
    }
    if (ss) {
        assert_non_null(sc);
        const char *v = strstr(sc, "ah_session=");
        snprintf(ss->cookie, sizeof(ss->cookie), "Cookie: %.*s", (int)strcspn(v, ";\r\n"), v);
        snprintf(ss->csrf, sizeof(ss->csrf), "X-CSRF-Token: %s",
                 json_string_value(json_object_get(o, "csrf_token")));
    }
    json_decref(o);
}

static int post(const char *path, const char *json, const char *const *hs, char **rh, char **rb)
{
    return th_http_raw(&H, "POST", path, "application/json", json, strlen(json), hs, rh, rb);
}

/* POST login: the status; a session or a pending token as it answers. */
static int login(const char *email, session *ss, char *pending, char **body)
{
    char req[256];
    snprintf(req, sizeof(req), "{\"email\": \"%s\", \"password\": \"%s\"}", email, PW);
    char *rh = NULL, *rb = NULL;
    int st = post("/api/v1/auth/login", req, (const char *[]){NULL}, &rh, &rb);
    if (st == 200) take(rh, rb, ss, pending);
    free(rh);
    if (body)
        *body = rb;
    else
        free(rb);
    return st;
}

/* POST login/2fa with a code or recovery code ("field": "value"). */
static int second(const char *pending, const char *field, const char *value, session *ss,
                  char **err)
{
    char req[256];
    snprintf(req, sizeof(req), "{\"pending_token\": \"%s\", \"%s\": \"%s\"}", pending, field,
             value);
    char *rh = NULL, *rb = NULL;
    int st = post("/api/v1/auth/login/2fa", req, (const char *[]){NULL}, &rh, &rb);
    if (st == 200 && ss) take(rh, rb, ss, NULL);
    if (err) {
        json_t *o = json_loads(rb, 0, NULL);
        *err =
            strdup(json_string_value(json_object_get(json_object_get(o, "error"), "code")) ?: "");
        json_decref(o);
    }
    free(rh);
    free(rb);
    return st;
}

static int with(const session *ss, const char *method, const char *path, const char *json,
                char **rb)
{
    const char *hs[3] = {ss->cookie, ss->csrf, NULL};
    return th_http_raw(&H, method, path, json ? "application/json" : NULL, json,
                       json ? strlen(json) : 0, hs, NULL, rb);
}

static void code_at(const char *secret, int64_t offset, char *out)
{
    assert_int_equal(totp_code(secret, (int64_t)time(NULL) + offset, out), 0);
}

/* Enrol and confirm from a session: the secret; the recovery codes into rec. */
static void enrol(const session *ss, const char *email, char *secret, json_t **rec)
{
    char *rb = NULL;
    assert_int_equal(with(ss, "POST", "/api/v1/auth/2fa/enrol", NULL, &rb), 200);
    json_t *o = json_loads(rb, 0, NULL);
    free(rb);
    snprintf(secret, TOTP_SECRET_B32, "%s", json_string_value(json_object_get(o, "secret")));
    char want[200];
    snprintf(want, sizeof(want), "otpauth://totp/agenthost%%3A%s?secret=%s&issuer=agenthost", email,
             secret);
    assert_non_null(strstr(json_string_value(json_object_get(o, "otpauth_uri")), want));
    json_decref(o);
    char code[8], req[64];
    code_at(secret, 0, code);
    code[0] = code[0] == '9' ? '0' : (char)(code[0] + 1); /* wrong */
    snprintf(req, sizeof(req), "{\"code\": \"%s\"}", code);
    assert_int_equal(with(ss, "POST", "/api/v1/auth/2fa/confirm", req, NULL), 401);
    code_at(secret, 0, code);
    snprintf(req, sizeof(req), "{\"code\": \"%s\"}", code);
    assert_int_equal(with(ss, "POST", "/api/v1/auth/2fa/confirm", req, &rb), 200);
    o = json_loads(rb, 0, NULL);
    free(rb);
    *rec = json_incref(json_object_get(o, "recovery_codes"));
    json_decref(o);
    assert_int_equal(json_array_size(*rec), 10);
    /* Confirmed once: enrolling again is refused. */
    assert_int_equal(with(ss, "POST", "/api/v1/auth/2fa/enrol", NULL, NULL), 409);
}

static void test_two_step_login_refuses_replayed_codes_and_spent_recovery_codes(void **s)
{
    (void)s;
    session ss;
    char secret[TOTP_SECRET_B32], pending[80], code[8], next[8];
    json_t *rec = NULL;
    assert_int_equal(login("ed@example.com", &ss, NULL, NULL), 200);
    enrol(&ss, "ed@example.com", secret, &rec);
    code_at(secret, 0, code);
    code_at(secret, 30, next);

    /* The password alone: a pending token, no cookie. */
    assert_int_equal(login("ed@example.com", NULL, pending, NULL), 200);
    char *err = NULL;
    /* The code that confirmed enrolment: used already. */
    assert_int_equal(second(pending, "code", code, NULL, &err), 401);
    assert_string_equal(err, "code_already_used");
    free(err);
    session two;
    assert_int_equal(second(pending, "code", next, &two, NULL), 200);
    assert_int_equal(with(&two, "GET", "/api/v1/agents", NULL, NULL), 200);
    /* The pending token is spent with its use. */
    assert_int_equal(second(pending, "code", next, NULL, &err), 401);
    assert_string_equal(err, "invalid_pending_token");
    free(err);
    /* A new sign-in: that code again is a replay. */
    assert_int_equal(login("ed@example.com", NULL, pending, NULL), 200);
    assert_int_equal(second(pending, "code", next, NULL, &err), 401);
    assert_string_equal(err, "code_already_used");
    free(err);
    assert_true(th_wait_file(&H, "logs/security.log", "2fa_replayed", 3000));
    /* A recovery code works once (any case, without its dash). */
    const char *r0 = json_string_value(json_array_get(rec, 0));
    assert_int_equal(second(pending, "recovery_code", r0, NULL, NULL), 200);
    assert_int_equal(login("ed@example.com", NULL, pending, NULL), 200);
    assert_int_equal(second(pending, "recovery_code", r0, NULL, &err), 401);
    assert_string_equal(err, "invalid_code");
    free(err);
    /* Five tries in all, then the pending token is dead even for a right code. */
    for (int i = 0; i < 4; i++)
        assert_int_equal(second(pending, "code", "000000", NULL, NULL), 401);
    const char *r1 = json_string_value(json_array_get(rec, 1));
    assert_int_equal(second(pending, "recovery_code", r1, NULL, &err), 401);
    assert_string_equal(err, "invalid_pending_token");
    free(err);
    /* Forged pending tokens and bad codes. */
    assert_int_equal(second("ahc_0000000000000000000000000000000000000000000000000000000000000000",
                            "code", next, NULL, NULL),
                     401);
    assert_int_equal(second(pending, "code", "12345", NULL, NULL), 422);
    /* Turning it off takes a code (here a recovery code), and is logged. */
    assert_int_equal(with(&two, "POST", "/api/v1/auth/2fa/disable", "{\"code\": \"000000\"}", NULL),
                     401);
    char req[64];
    snprintf(req, sizeof(req), "{\"recovery_code\": \"%s\"}", r1);
    assert_int_equal(with(&two, "POST", "/api/v1/auth/2fa/disable", req, NULL), 204);
    assert_true(th_wait_file(&H, "logs/security.log", "2fa_disabled", 3000));
    assert_int_equal(login("ed@example.com", &ss, NULL, NULL), 200);
    json_decref(rec);
}

static void test_an_admin_reset_removes_the_factor_and_ends_sessions(void **s)
{
    (void)s;
    session ss;
    char secret[TOTP_SECRET_B32], path[128], pending[80];
    json_t *rec = NULL, *u = NULL;
    assert_int_equal(login("vi@example.com", &ss, NULL, NULL), 200);
    enrol(&ss, "vi@example.com", secret, &rec);
    json_decref(rec);
    snprintf(path, sizeof(path), "/api/v1/users/%s", vi_id);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &u), 200);
    assert_true(json_is_true(json_object_get(u, "two_factor")));
    json_decref(u);
    assert_int_equal(login("vi@example.com", NULL, pending, NULL), 200);
    snprintf(path, sizeof(path), "/api/v1/users/%s/2fa/reset", vi_id);
    assert_int_equal(th_http(&H, "POST", path, NULL, NULL, NULL), 204);
    assert_int_equal(with(&ss, "GET", "/api/v1/agents", NULL, NULL), 401);
    /* A pending sign-in from before the reset is void too. */
    char code[8];
    code_at(secret, 30, code);
    assert_int_equal(second(pending, "code", code, NULL, NULL), 401);
    assert_true(th_wait_file(&H, "logs/security.log", "2fa_reset", 3000));
    assert_int_equal(login("vi@example.com", &ss, NULL, NULL), 200);
    snprintf(path, sizeof(path), "/api/v1/users/%s", vi_id);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &u), 200);
    assert_true(json_is_false(json_object_get(u, "two_factor")));
    json_decref(u);
    assert_int_equal(th_http(&H, "POST", "/api/v1/users/usr_01JAAAAAAAAAAAAAAAAAAAAAAA/2fa/reset",
                             NULL, NULL, NULL),
                     404);
    /* A viewer cannot reset anyone's. */
    snprintf(path, sizeof(path), "/api/v1/users/%s/2fa/reset", vi_id);
    assert_int_equal(with(&ss, "POST", path, NULL, NULL), 403);
}

static void test_a_role_that_needs_2fa_can_only_enrol_until_it_has_it(void **s)
{
    (void)s;
    session ss;
    char *rb = NULL, secret[TOTP_SECRET_B32];
    json_t *rec = NULL;
    assert_int_equal(login("op@example.com", &ss, NULL, &rb), 200);
    assert_non_null(strstr(rb, "\"two_factor_enrolment_required\":true"));
    free(rb);
    assert_int_equal(with(&ss, "GET", "/api/v1/agents", NULL, &rb), 403);
    assert_non_null(strstr(rb, "two_factor_enrolment_required"));
    free(rb);
    assert_true(th_wait_file(&H, "logs/security.log", "two_factor_enrolment_required", 3000));
    enrol(&ss, "op@example.com", secret, &rec);
    json_decref(rec);
    assert_int_equal(with(&ss, "GET", "/api/v1/agents", NULL, NULL), 200);
}

static void test_ten_wrong_codes_across_sign_ins_lock_the_second_factor(void **s)
{
    (void)s;
    /* op enrolled in the test above. Two sign-ins of five wrong codes. */
    char pending[80], *err = NULL;
    for (int k = 0; k < 2; k++) {
        assert_int_equal(login("op@example.com", NULL, pending, NULL), 200);
        for (int i = 0; i < 5; i++)
            assert_int_equal(second(pending, "code", "000000", NULL, NULL), 401);
    }
    /* A third sign-in: locked, whatever the code. */
    assert_int_equal(login("op@example.com", NULL, pending, NULL), 200);
    assert_int_equal(second(pending, "recovery_code", "aaaaa-aaaaa", NULL, &err), 423);
    assert_string_equal(err, "locked");
    free(err);
    assert_true(th_wait_file(&H, "logs/security.log", "2fa_locked", 3000));
}

#define CLEAR_SECRET "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

typedef struct cred_arg {
    const char *user_id;
    bool write; /* put a clear secret in, as stored before sealing */
    json_t *cred;
} cred_arg;

static int run_cred(doc_txn *t, void *ud)
{
    cred_arg *a = ud;
    char cid[32];
    uint64_t rev = 0;
    if (users_cred_id(a->user_id, cid)) return -1;
    int rc = doc_get(t, COLL_CREDENTIALS, cid, &a->cred, &rev);
    if (rc || !a->write) return rc;
    json_object_set_new(a->cred, "totp_secret", json_string(CLEAR_SECRET));
    json_object_set_new(a->cred, "totp_enabled", json_true());
    return doc_put(t, COLL_CREDENTIALS, a->cred, rev, NULL);
}

/* The credential of a user, read (or given a clear secret) with the host
 * stopped, straight from its store. */
static json_t *credential(const char *user_id, bool write)
{
    store *st = NULL;
    docs *d = NULL;
    char err[512];
    store_opts o = {.dir = H.data};
    assert_int_equal(store_open(&st, NULL, &o, err, sizeof(err)), 0);
    assert_int_equal(docs_open(&d, st, NULL, NULL, err, sizeof(err)), 0);
    cred_arg a = {user_id, write, NULL};
    doc_error e;
    assert_int_equal(write ? docs_write_now(d, run_cred, &a, &e) : docs_read(d, run_cred, &a, &e),
                     0);
    docs_close(d);
    store_close(st);
    return a.cred;
}

static void test_a_secret_stored_in_the_clear_is_sealed_at_start_and_still_works(void **s)
{
    (void)s;
    char pat[64], pending[80], code[16];
    assert_int_equal(th_stop_clean(&H, 10000), 0);
    assert_int_equal(th_make_user(&H, "pat@example.com", "editor", PW, pat, sizeof(pat)), 0);
    json_decref(credential(pat, true)); /* as an older host stored it */
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    assert_true(th_wait_file(&H, "logs/security.log", "sealed the second-factor secrets", 5000));
    /* The secret works as before: sealed, then opened for the check. */
    assert_int_equal(login("pat@example.com", NULL, pending, NULL), 200);
    code_at(CLEAR_SECRET, 0, code);
    session ss;
    assert_int_equal(second(pending, "code", code, &ss, NULL), 200);
    /* A secret enrolled through the API now. */
    char secret[64];
    json_t *rec = NULL;
    assert_int_equal(login("vi@example.com", &ss, NULL, NULL), 200);
    enrol(&ss, "vi@example.com", secret, &rec);
    json_decref(rec);
    /* In the store: no secret in the clear, a sealed one that is not it. */
    assert_int_equal(th_stop_clean(&H, 10000), 0);
    json_t *c = credential(pat, false);
    assert_null(json_object_get(c, "totp_secret"));
    const char *sealed = json_string_value(json_object_get(c, "totp_secret_sealed"));
    assert_non_null(sealed);
    assert_null(strstr(sealed, CLEAR_SECRET));
    assert_int_equal(strncmp(sealed, "s1.", 3), 0);
    json_decref(c);
    c = credential(vi_id, false);
    assert_null(json_object_get(c, "totp_secret"));
    assert_null(json_object_get(c, "totp_pending"));
    sealed = json_string_value(json_object_get(c, "totp_secret_sealed"));
    assert_non_null(sealed);
    assert_null(strstr(sealed, secret));
    json_decref(c);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
}

static void test_a_pending_sign_in_outlives_a_restart(void **s)
{
    (void)s;
    char pending[80], code[16];
    /* pat's second factor is the clear secret sealed above. */
    assert_int_equal(login("pat@example.com", NULL, pending, NULL), 200);
    assert_int_equal(second(pending, "code", "000000", NULL, NULL), 401); /* a try spent */
    assert_int_equal(th_stop_clean(&H, 10000), 0);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    /* The next step's code: the one before was used by the test above. */
    code_at(CLEAR_SECRET, 30, code);
    session ss;
    assert_int_equal(second(pending, "code", code, &ss, NULL), 200);
    /* Used: gone, here and in the store. */
    assert_int_equal(th_stop_clean(&H, 10000), 0);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    code_at(CLEAR_SECRET, 30, code);
    assert_int_equal(second(pending, "code", code, NULL, NULL), 401);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_step_login_refuses_replayed_codes_and_spent_recovery_codes),
        cmocka_unit_test(test_an_admin_reset_removes_the_factor_and_ends_sessions),
        cmocka_unit_test(test_a_role_that_needs_2fa_can_only_enrol_until_it_has_it),
        cmocka_unit_test(test_ten_wrong_codes_across_sign_ins_lock_the_second_factor),
        cmocka_unit_test(test_a_secret_stored_in_the_clear_is_sealed_at_start_and_still_works),
        cmocka_unit_test(test_a_pending_sign_in_outlives_a_restart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
