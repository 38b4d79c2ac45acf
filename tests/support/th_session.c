#include "th.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int th_login(th_host *h, const char *email, const char *password, th_session *ss, char **body)
{
    json_t *req = json_pack("{s:s,s:s}", "email", email, "password", password);
    char *text = json_dumps(req, JSON_COMPACT), *rh = NULL, *rb = NULL;
    json_decref(req);
    int st = th_http_raw(h, "POST", "/api/v1/auth/login", "application/json", text, strlen(text),
                         NULL, &rh, &rb);
    free(text);
    const char *sc = rh ? strcasestr(rh, "Set-Cookie: ") : NULL;
    const char *v = sc ? strstr(sc, "ah_session=") : NULL;
    json_t *o = rb ? json_loads(rb, 0, NULL) : NULL;
    if (st == 200 && ss && v) {
        snprintf(ss->set_cookie, sizeof(ss->set_cookie), "%.*s", (int)strcspn(sc, "\r\n"), sc);
        snprintf(ss->cookie, sizeof(ss->cookie), "Cookie: %.*s", (int)strcspn(v, ";\r\n"), v);
        snprintf(ss->csrf, sizeof(ss->csrf), "X-CSRF-Token: %s",
                 json_string_value(json_object_get(o, "csrf_token")) ?: "");
        snprintf(ss->id, sizeof(ss->id), "%s",
                 json_string_value(json_object_get(o, "session_id")) ?: "");
    }
    json_decref(o);
    free(rh);
    if (body)
        *body = rb;
    else
        free(rb);
    return st;
}

int th_session_http(th_host *h, const th_session *ss, bool csrf, const char *method,
                    const char *path, const char *json, char **body)
{
    const char *hs[3] = {ss->cookie, csrf ? ss->csrf : NULL, NULL};
    return th_http_raw(h, method, path, json ? "application/json" : NULL, json,
                       json ? strlen(json) : 0, hs, NULL, body);
}

int th_session_json(th_host *h, const th_session *ss, const char *method, const char *path,
                    const char *json, json_t **out)
{
    char *rb = NULL;
    int st = th_session_http(h, ss, true, method, path, json, &rb);
    if (out) *out = rb ? json_loads(rb, 0, NULL) : NULL;
    free(rb);
    return st;
}
