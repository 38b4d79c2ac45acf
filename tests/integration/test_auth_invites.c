/*
 * Invitations and password resets through the real binary: an invited
 * user has no password until the token sets one under the policy; a token
 * works once; a reset ends every session of the user once used; the
 * public route gives one answer for any wrong token and throttles an
 * address that keeps trying; expired tokens are refused alike; a signed-in
 * user can ask for their own reset; a reset of a user who never accepted
 * the invitation is the invitation again. (auth.mail_instance is unset
 * here: tokens are answered. Mailed: test_auth_invite_mail.)
 */
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PW "a-Long-enough-pass-2026"
#define PW2 "b-Other-good-pass-2027"

static th_host H;
static char ed_id[64];

static int setup(void **s)
{
    (void)s;
    if (th_init(&H, "auth-invites") || th_config(&H, "{\"instances\": []}") || th_make_token(&H))
        return -1;
    if (th_make_user(&H, "ed@example.com", "editor", PW, ed_id, sizeof(ed_id))) return -1;
    return th_start(&H, NULL, 15000);
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

/* POST set-password (no credential); the error code into code when given. */
static int set_password(const char *token, const char *pw, char *code)
{
    json_t *req = json_pack("{s:s,s:s}", "token", token, "password", pw);
    char *text = json_dumps(req, JSON_COMPACT), *rb = NULL;
    json_decref(req);
    int st = th_http_raw(&H, "POST", "/api/v1/auth/set-password", "application/json", text,
                         strlen(text), (const char *[]){NULL}, NULL, &rb);
    free(text);
    if (code) {
        json_t *o = json_loads(rb ? rb : "", 0, NULL);
        snprintf(code, 64, "%s",
                 json_string_value(json_object_get(json_object_get(o, "error"), "code")) ?: "");
        json_decref(o);
    }
    free(rb);
    return st;
}

static void test_an_invitation_sets_a_password_once_under_the_policy(void **s)
{
    (void)s;
    json_t *o = NULL, *u = NULL;
    assert_int_equal(th_http(&H, "POST", "/api/v1/invitations",
                             "{\"email\": \"new@example.com\", \"role\": \"analyst\", \"name\": "
                             "\"Newton\"}",
                             NULL, &o),
                     201);
    char token[128], id[64], path[128], code[64];
    snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(o, "token")));
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(o, "user_id")));
    json_decref(o);
    snprintf(path, sizeof(path), "/api/v1/users/%s", id);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &u), 200);
    assert_string_equal(json_string_value(json_object_get(u, "status")), "invited");
    assert_true(json_is_false(json_object_get(u, "password_set")));
    assert_string_equal(json_string_value(json_object_get(u, "role")), "analyst");
    json_decref(u);
    assert_int_equal(th_login(&H, "new@example.com", PW, NULL, NULL), 401);
    /* The token is not kept in the clear anywhere the API serves. */
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &u), 200);
    char *dump = json_dumps(u, 0);
    assert_null(strstr(dump, token + 31));
    free(dump);
    json_decref(u);
    /* Weak passwords are refused and leave the token usable. */
    assert_int_equal(set_password(token, "short", code), 422);
    assert_string_equal(code, "weak_password");
    assert_int_equal(set_password(token, "Newton-is-my-password", code), 422);
    assert_int_equal(set_password(token, PW, NULL), 204);
    assert_int_equal(th_login(&H, "new@example.com", PW, NULL, NULL), 200);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &u), 200);
    assert_string_equal(json_string_value(json_object_get(u, "status")), "active");
    json_decref(u);
    /* Used: the same answer as any wrong token. */
    assert_int_equal(set_password(token, PW2, code), 400);
    assert_string_equal(code, "invalid_token");
    assert_int_equal(th_login(&H, "new@example.com", PW2, NULL, NULL), 401);
    assert_true(th_wait_file(&H, "logs/security.log", "invitation_accepted", 3000));
    /* A taken address, a bad role. */
    assert_int_equal(th_http(&H, "POST", "/api/v1/invitations",
                             "{\"email\": \"new@example.com\", \"role\": \"analyst\"}", NULL, NULL),
                     409);
    assert_int_equal(th_http(&H, "POST", "/api/v1/invitations",
                             "{\"email\": \"x@example.com\", \"role\": \"root\"}", NULL, NULL),
                     422);
    /* An address with more than an address in it (it would go into a mail's To). */
    assert_int_equal(th_http(&H, "POST", "/api/v1/invitations",
                             "{\"email\": \"x@example.com\\r\\nBcc: y@example.com\", \"role\": "
                             "\"viewer\"}",
                             NULL, &o),
                     422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "email");
    json_decref(o);
    assert_int_equal(th_http(&H, "POST", "/api/v1/invitations",
                             "{\"email\": \"x@example.com\", \"role\": \"viewer\", "
                             "\"language\": \"russian\"}",
                             NULL, &o),
                     422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "language");
    json_decref(o);
}

static void test_a_reset_of_an_invited_user_is_the_invitation_again(void **s)
{
    (void)s;
    json_t *o = NULL;
    char id[64], path[128], token[128];
    assert_int_equal(th_http(&H, "POST", "/api/v1/invitations",
                             "{\"email\": \"again@example.com\", \"role\": \"viewer\"}", NULL, &o),
                     201);
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(o, "user_id")));
    json_decref(o);
    /* The first token lost: the administrator asks for a reset. */
    snprintf(path, sizeof(path), "/api/v1/users/%s/password-reset", id);
    assert_int_equal(th_http(&H, "POST", path, NULL, NULL, &o), 201);
    snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(o, "token")));
    json_decref(o);
    assert_int_equal(set_password(token, PW, NULL), 204);
    snprintf(path, sizeof(path), "/api/v1/users/%s", id);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "active");
    json_decref(o);
    assert_int_equal(th_login(&H, "again@example.com", PW, NULL, NULL), 200);
}

static void test_a_reset_ends_every_session_once_used(void **s)
{
    (void)s;
    th_session a;
    json_t *o = NULL;
    char path[128], token[128], code[64];
    assert_int_equal(th_login(&H, "ed@example.com", PW, &a, NULL), 200);
    snprintf(path, sizeof(path), "/api/v1/users/%s/password-reset", ed_id);
    assert_int_equal(th_http(&H, "POST", path, NULL, NULL, &o), 201);
    snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(o, "token")));
    json_decref(o);
    /* Asked for, not used: the session lives. */
    assert_int_equal(th_session_json(&H, &a, "GET", "/api/v1/agents", NULL, NULL), 200);
    assert_int_equal(set_password(token, PW2, NULL), 204);
    assert_int_equal(th_session_json(&H, &a, "GET", "/api/v1/agents", NULL, NULL), 401);
    assert_int_equal(th_login(&H, "ed@example.com", PW, NULL, NULL), 401);
    assert_int_equal(th_login(&H, "ed@example.com", PW2, &a, NULL), 200);
    assert_int_equal(set_password(token, PW, code), 400);
    assert_string_equal(code, "invalid_token");
    /* My own reset, from my session; a newer token replaces the older. */
    assert_int_equal(th_session_json(&H, &a, "POST", "/api/v1/auth/password-reset", NULL, &o), 201);
    snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(o, "token")));
    json_decref(o);
    assert_int_equal(th_session_json(&H, &a, "POST", "/api/v1/auth/password-reset", NULL, &o), 201);
    assert_int_equal(set_password(token, PW, code), 400);
    assert_int_equal(set_password(json_string_value(json_object_get(o, "token")), PW, NULL), 204);
    json_decref(o);
    assert_int_equal(th_session_json(&H, &a, "GET", "/api/v1/agents", NULL, NULL), 401);
    assert_int_equal(th_login(&H, "ed@example.com", PW, NULL, NULL), 200);
    assert_true(th_wait_file(&H, "logs/security.log", "\"password_reset\"", 3000));
    assert_int_equal(th_http(&H, "POST",
                             "/api/v1/users/usr_01JAAAAAAAAAAAAAAAAAAAAAAA/password-reset", NULL,
                             NULL, NULL),
                     404);
}

static void test_wrong_tokens_get_one_answer_and_are_throttled(void **s)
{
    (void)s;
    char code[64], forged[128];
    /* A real user's id with a made-up secret, an unknown user, nonsense. */
    snprintf(forged, sizeof(forged), "%s.%064d", ed_id, 0);
    assert_int_equal(set_password(forged, PW, code), 400);
    assert_string_equal(code, "invalid_token");
    snprintf(forged, sizeof(forged), "usr_01JAAAAAAAAAAAAAAAAAAAAAAA.%064d", 0);
    assert_int_equal(set_password(forged, PW, code), 400);
    assert_string_equal(code, "invalid_token");
    assert_int_equal(set_password("nonsense", PW, code), 400);
    assert_string_equal(code, "invalid_token");
    assert_true(th_wait_file(&H, "logs/security.log", "token_refused", 3000));
    int st = 400;
    for (int i = 0; i < 20 && st == 400; i++)
        st = set_password("nonsense", PW, NULL);
    assert_int_equal(st, 429);
}

static void test_expired_tokens_are_refused_like_any_wrong_token(void **s)
{
    (void)s;
    /* A host of its own whose tokens last a second. */
    th_host E;
    th_host saved = H;
    assert_int_equal(th_init(&E, "auth-invites-expiry"), 0);
    assert_int_equal(
        th_config(&E, "{\"auth\": {\"invite_ttl_s\": 1, \"reset_ttl_s\": 1}, \"instances\": []}"),
        0);
    assert_int_equal(th_make_token(&E), 0);
    char id[64];
    assert_int_equal(th_make_user(&E, "old@example.com", "viewer", PW, id, sizeof(id)), 0);
    assert_int_equal(th_start(&E, NULL, 15000), 0);
    H = E; /* the helpers talk to H */
    json_t *o = NULL;
    char invite[128], reset[128], path[128], code[64];
    assert_int_equal(th_http(&H, "POST", "/api/v1/invitations",
                             "{\"email\": \"late@example.com\", \"role\": \"viewer\"}", NULL, &o),
                     201);
    snprintf(invite, sizeof(invite), "%s", json_string_value(json_object_get(o, "token")));
    json_decref(o);
    snprintf(path, sizeof(path), "/api/v1/users/%s/password-reset", id);
    assert_int_equal(th_http(&H, "POST", path, NULL, NULL, &o), 201);
    snprintf(reset, sizeof(reset), "%s", json_string_value(json_object_get(o, "token")));
    json_decref(o);
    sleep(2); /* both have expired: they lasted 1 s from their making */
    assert_int_equal(set_password(invite, PW, code), 400);
    assert_string_equal(code, "invalid_token");
    assert_int_equal(set_password(reset, PW2, code), 400);
    assert_string_equal(code, "invalid_token");
    assert_int_equal(th_login(&H, "late@example.com", PW, NULL, NULL), 401);
    assert_int_equal(th_login(&H, "old@example.com", PW, NULL, NULL), 200);
    H = saved;
    assert_int_equal(th_stop_clean(&E, 10000), 0);
    th_cleanup(&E);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_invitation_sets_a_password_once_under_the_policy),
        cmocka_unit_test(test_a_reset_ends_every_session_once_used),
        cmocka_unit_test(test_a_reset_of_an_invited_user_is_the_invitation_again),
        cmocka_unit_test(test_wrong_tokens_get_one_answer_and_are_throttled),
        cmocka_unit_test(test_expired_tokens_are_refused_like_any_wrong_token),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
