/*
 * run_input.c - questions and their answers: ask (checked by type,
 * pattern, bounds and a jq condition, re-asked until its retries run out),
 * choice (options as buttons or a numbered list, picked by button, number,
 * label or a match word) and a wait for input. See run.h.
 */
#include "engine/run_priv.h"

#include "engine/template.h"

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- asking -------------------------------------------------------------------- */

/* The options of a choice as a numbered list under the question. */
static char *with_list(run_turn *t, char *text, const json_t *options, st_rc *rc)
{
    size_t len = strlen(text), cap = len + 64;
    char *out = malloc(cap);
    if (!out) return text;
    memcpy(out, text, len + 1);
    free(text);
    size_t i;
    const json_t *o;
    json_array_foreach(options, i, o)
    {
        char *label = run_render(t, json_object_get(o, "label"), "options.label", rc);
        if (!label) {
            free(out);
            return NULL;
        }
        size_t need = len + strlen(label) + 32;
        if (need > cap) {
            char *n = realloc(out, cap = need * 2);
            if (!n) {
                free(label);
                return out;
            }
            out = n;
        }
        len += (size_t)snprintf(out + len, cap - len, "\n%zu. %s", i + 1, label);
        free(label);
    }
    return out;
}

/* The buttons of a choice's options: the label, the option's id as payload. */
static json_t *option_buttons(run_turn *t, const json_t *options, st_rc *rc)
{
    json_t *out = json_array();
    size_t i;
    const json_t *o;
    json_array_foreach(options, i, o)
    {
        char *label = run_render(t, json_object_get(o, "label"), "options.label", rc);
        if (!label) {
            json_decref(out);
            return NULL;
        }
        json_array_append_new(
            out, json_pack("{s:s,s:O}", "label", label, "payload", json_object_get(o, "id")));
        free(label);
    }
    return out;
}

/* Send the question (text: the step's text or its reprompt) and wait. */
static st_rc question(run_turn *t, const json_t *step, const json_t *text)
{
    st_rc rc;
    char *body = run_render(t, text, "text", &rc);
    if (!body) return rc;
    json_t *buttons = NULL;
    const json_t *options = json_object_get(step, "options");
    if (options) {
        const char *layout = str_of(step, "layout");
        if (layout && !strcmp(layout, "list")) {
            if (!(body = with_list(t, body, options, &rc))) return rc;
        } else if (!(buttons = option_buttons(t, options, &rc))) {
            free(body);
            return rc;
        }
    } else {
        buttons = run_buttons(t, json_object_get(step, "buttons"), &rc);
        if (rc != ST_NEXT) {
            free(body);
            return rc;
        }
    }
    run_say(t, body, buttons, NULL);
    json_int_t ms = json_integer_value(json_object_get(step, "timeout_ms"));
    bool timed = options == NULL && ms > 0 && str_of(step, "on_timeout");
    return run_wait(t, timed ? t->now_ms + ms : 0, "timeout");
}

st_rc run_ask(run_turn *t, const json_t *step)
{
    json_object_set_new(run_engine_field(t), "attempts", json_integer(0));
    return question(t, step, json_object_get(step, "text"));
}

/* ---- checking an answer ---------------------------------------------------------- */

static char *trimmed(const char *s)
{
    if (!s) return strdup("");
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return strndup(s, n);
}

/* s without the characters in drop. */
static char *without(const char *s, const char *drop)
{
    char *out = malloc(strlen(s) + 1), *o = out;
    if (!out) return NULL;
    for (; *s; s++)
        if (!strchr(drop, *s)) *o++ = *s;
    *o = '\0';
    return out;
}

static size_t chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static bool is_number(const char *s, bool integer, json_t **value)
{
    char *c = without(s, " _'");
    if (!c || !*c) {
        free(c);
        return false;
    }
    for (char *p = c; *p; p++)
        if (*p == ',') *p = '.'; /* 3,5 is how half of Europe writes 3.5 */
    char *end = NULL;
    errno = 0;
    bool ok = false;
    if (integer) {
        long long v = strtoll(c, &end, 10);
        if ((ok = end && !*end && errno == 0)) *value = json_integer(v);
    } else {
        double v = strtod(c, &end);
        if ((ok = end && !*end && errno == 0 && v == v && v - v == 0)) {
            bool whole = v >= -9e15 && v <= 9e15 && v == (double)(long long)v;
            *value = whole ? json_integer((json_int_t)v) : json_real(v);
        }
    }
    free(c);
    return ok;
}

static bool is_email(const char *s)
{
    const char *at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@') || strlen(s) > 254) return false;
    for (const char *p = s; *p; p++)
        if (isspace((unsigned char)*p) || *p == ',' || *p == ';' || *p == '<' || *p == '>')
            return false;
    const char *dot = strrchr(at + 1, '.');
    return dot && dot > at + 1 && dot[1] && !strstr(at, "..");
}

static bool is_phone(const char *s, json_t **value)
{
    char *c = without(s, " -().");
    if (!c) return false;
    const char *d = c[0] == '+' ? c + 1 : c;
    size_t n = strlen(d);
    bool ok = n >= 7 && n <= 15;
    for (const char *p = d; ok && *p; p++)
        ok = isdigit((unsigned char)*p);
    if (ok) *value = json_string(c);
    free(c);
    return ok;
}

static bool valid_day(int y, int m, int d)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1) return false;
    int max = days[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    return d <= max;
}

/* 2026-03-05, 05.03.2026, 05/03/2026 (day first): "2026-03-05". */
static bool is_date(const char *s, json_t **value)
{
    int y, m, d, n = 0;
    char sep;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 && !s[n]) {
    } else if (sscanf(s, "%2d%c%2d%c%4d%n", &d, &sep, &m, &sep, &y, &n) == 5 && !s[n] &&
               (s[2] == '.' || s[2] == '/') && s[5] == s[2]) {
    } else {
        return false;
    }
    if (!valid_day(y, m, d)) return false;
    char buf[16];
    snprintf(buf, sizeof(buf), "%04d-%02d-%02d", y, m, d);
    *value = json_string(buf);
    return true;
}

static bool folded_eq(const char *a, const char *b)
{
    char *fa = tmpl_fold(a, strlen(a)), *fb = tmpl_fold(b, strlen(b));
    bool eq = fa && fb && !strcmp(fa, fb);
    free(fa);
    free(fb);
    return eq;
}

/* Whether ans passes v's checks (all but the jq condition): true with
 * *value (a new reference) the value to store. */
static bool check(const json_t *v, const char *ans, json_t **value)
{
    *value = NULL;
    const char *type = str_of(v, "type");
    if (!type) type = "text";
    bool ok = *ans != '\0';
    if (!ok) return false;
    if (!strcmp(type, "number") || !strcmp(type, "integer")) {
        ok = is_number(ans, !strcmp(type, "integer"), value);
        if (ok) {
            double x = json_number_value(*value);
            const json_t *min = json_object_get(v, "min"), *max = json_object_get(v, "max");
            ok = !(json_is_number(min) && x < json_number_value(min)) &&
                 !(json_is_number(max) && x > json_number_value(max));
        }
    } else if (!strcmp(type, "email")) {
        ok = is_email(ans);
    } else if (!strcmp(type, "phone")) {
        ok = is_phone(ans, value);
    } else if (!strcmp(type, "date")) {
        ok = is_date(ans, value);
    } else if (!strcmp(type, "choice")) {
        ok = false;
        size_t i;
        const json_t *c;
        json_array_foreach(json_object_get(v, "choices"), i,
                           c) if (!ok && folded_eq(ans, json_string_value(c)))
        {
            ok = true;
            *value = json_incref((json_t *)c);
        }
    }
    if (ok) {
        size_t n = chars(ans);
        const json_t *lo = json_object_get(v, "min_length"), *hi = json_object_get(v, "max_length");
        ok = !(json_is_integer(lo) && n < (size_t)json_integer_value(lo)) &&
             !(json_is_integer(hi) && n > (size_t)json_integer_value(hi));
    }
    const char *pattern = str_of(v, "pattern");
    if (ok && pattern) {
        regex_t re;
        ok = regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) == 0;
        if (ok) {
            ok = regexec(&re, ans, 0, NULL, 0) == 0;
            regfree(&re);
        }
    }
    if (ok && !*value) *value = json_string(ans);
    if (!ok) {
        json_decref(*value);
        *value = NULL;
    }
    return ok;
}

/* ---- the outcome of an answer ---------------------------------------------------- */

static st_rc accept(run_turn *t, const json_t *step, json_t *value, const char *next)
{
    const char *var = str_of(step, "var");
    char why[300];
    if (!var)
        json_decref(value);
    else if (run_set_var(t, var, value, why, sizeof(why)) != 0)
        return run_fail(t, "invalid", "%s", why);
    json_object_set_new(run_engine_field(t), "attempts", json_integer(0));
    return run_go(t, next ? next : str_of(step, "next"));
}

/* Not an answer the step takes: say so and ask again, or leave by
 * on_invalid once the retries are spent. */
static st_rc reject(run_turn *t, const json_t *step)
{
    json_t *eng = run_engine_field(t);
    json_int_t attempts = json_integer_value(json_object_get(eng, "attempts")) + 1;
    const json_t *r = json_object_get(step, "retries");
    json_int_t retries = json_is_integer(r) ? json_integer_value(r) : 2;
    if (attempts > retries) {
        json_object_set_new(eng, "attempts", json_integer(0));
        const char *on_invalid = str_of(step, "on_invalid");
        if (on_invalid) return run_go(t, on_invalid);
        return run_fail(t, "invalid_input", "no valid answer after %lld attempts",
                        (long long)attempts);
    }
    json_object_set_new(eng, "attempts", json_integer(attempts));
    const json_t *msg = json_object_get(json_object_get(step, "validate"), "message");
    if (msg) {
        st_rc rc;
        char *text = run_render(t, msg, "validate.message", &rc);
        if (!text) return rc;
        run_say(t, text, NULL, NULL);
    }
    const json_t *again = json_object_get(step, "reprompt");
    return question(t, step, again ? again : json_object_get(step, "text"));
}

static st_rc llm_judge(run_turn *t, const json_t *step, const char *ans);

static void condition_done(run_turn *t, const json_t *outputs, const char *error,
                           const char *message)
{
    struct run_state *s = t->st;
    json_t *value = json_incref(json_object_get(s->mapped, "value"));
    if (error) {
        json_decref(value);
        run_resume(t, run_fail(t, error, "validate.condition: %s", message ? message : error));
        return;
    }
    if (!run_truthy(outputs)) {
        json_decref(value);
        run_resume(t, reject(t, s->step));
        return;
    }
    if (json_object_get(json_object_get(s->step, "validate"), "llm")) {
        json_decref(value); /* kept in s->mapped */
        const char *ans = json_string_value(json_object_get(s->mapped, "answer"));
        run_resume(t, llm_judge(t, s->step, ans ? ans : ""));
        return;
    }
    run_resume(t, accept(t, s->step, value, NULL));
}

/* ---- an LLM as the judge (validate.llm) -------------------------------------------- */

/* The verdict in an answer that should be {"valid": bool, "reason": "..."},
 * perhaps wrapped in prose or a code fence: 1 valid, 0 not (reason set
 * when the model gave one), -1 no verdict found. */
static int verdict(const char *content, char *reason, size_t n)
{
    reason[0] = 0;
    const char *a = content ? strchr(content, '{') : NULL;
    const char *b = content ? strrchr(content, '}') : NULL;
    if (!a || !b || b < a) return -1;
    json_t *j = json_loadb(a, (size_t)(b - a + 1), 0, NULL);
    const json_t *valid = json_object_get(j, "valid");
    int out = json_is_boolean(valid) ? json_is_true(valid) : -1;
    const char *why = json_string_value(json_object_get(j, "reason"));
    if (why) snprintf(reason, n, "%s", why);
    json_decref(j);
    return out;
}

static void llm_judged(run_turn *t, const json_t *result, const char *error, const char *message)
{
    struct run_state *s = t->st;
    json_t *value = json_incref(json_object_get(s->mapped, "value"));
    if (error) {
        json_decref(value);
        run_resume(t, run_fail(t, error, "validate.llm: %s", message ? message : error));
        return;
    }
    char reason[600];
    int v = verdict(json_string_value(json_object_get(result, "content")), reason, sizeof(reason));
    if (v < 0) {
        json_decref(value);
        run_resume(t, run_fail(t, "llm_check", "validate.llm: the model gave no verdict"));
        return;
    }
    if (v) {
        run_resume(t, accept(t, s->step, value, NULL));
        return;
    }
    json_decref(value);
    /* The model's reason, unless the step says what to say itself. */
    if (reason[0] && !json_object_get(json_object_get(s->step, "validate"), "message"))
        run_say(t, strdup(reason), NULL, NULL);
    run_resume(t, reject(t, s->step));
}

/* Ask the LLM whether ans is what validate.llm.prompt wants. */
static st_rc llm_judge(run_turn *t, const json_t *step, const char *ans)
{
    const json_t *llm = json_object_get(json_object_get(step, "validate"), "llm");
    st_rc rc;
    char *prompt = run_render(t, json_object_get(llm, "prompt"), "validate.llm.prompt", &rc);
    if (!prompt) return rc;
    char *question = run_render(t, json_object_get(step, "text"), "text", &rc);
    if (!question) {
        free(prompt);
        return rc;
    }
    char *system = NULL;
    if (asprintf(&system,
                 "You check one answer a person gave to a question in a conversation.\n"
                 "The question: %s\nA valid answer: %s\n"
                 "Reply with JSON only: {\"valid\": true} or {\"valid\": false, \"reason\": "
                 "\"what is wrong, one short sentence in the language of the conversation (%s)\"}.",
                 question, prompt, run_lang(t)) < 0)
        system = NULL;
    free(prompt);
    free(question);
    if (!system) return run_fail(t, "internal", "out of memory");
    json_t *args = json_pack("{s:[{s:s,s:s},{s:s,s:s}],s:f}", "messages", "role", "system",
                             "content", system, "role", "user", "content", ans, "temperature", 0.0);
    free(system);
    t->env->call(t->env->ud, t, "llm.chat", json_string_value(json_object_get(llm, "instance")),
                 NULL, args, run_step_timeout(t, step), llm_judged);
    json_decref(args);
    return ST_ASYNC;
}

static const json_t *match_option(const json_t *options, const char *payload, const char *ans)
{
    size_t i;
    const json_t *o;
    if (payload) json_array_foreach(options, i, o) if (!strcmp(payload, str_of(o, "id"))) return o;
    if (!*ans) return NULL;
    char *end = NULL;
    long n = strtol(ans, &end, 10);
    if (end && !*end && n >= 1 && (size_t)n <= json_array_size(options))
        return json_array_get(options, (size_t)n - 1);
    json_array_foreach(options, i, o)
    {
        if (folded_eq(ans, str_of(o, "id"))) return o;
        const json_t *label = json_object_get(o, "label");
        if (json_is_string(label) && folded_eq(ans, json_string_value(label))) return o;
        const char *lang;
        const json_t *l;
        json_object_foreach((json_t *)label, lang,
                            l) if (folded_eq(ans, json_string_value(l))) return o;
        size_t j;
        const json_t *w;
        json_array_foreach(json_object_get(o, "match"), j,
                           w) if (folded_eq(ans, json_string_value(w))) return o;
    }
    return NULL;
}

st_rc run_answer(run_turn *t, const json_t *step)
{
    struct run_state *s = t->st;
    const char *kind = str_of(step, "kind");
    const char *payload = str_of(t->input, "payload");
    char *ans = trimmed(str_of(t->input, "text"));
    if (!ans) return run_fail(t, "internal", "out of memory");
    if (!*ans && payload) {
        free(ans);
        ans = strdup(payload);
    }
    st_rc rc;
    if (!strcmp(kind, "wait")) {
        rc = accept(t, step, json_string(ans), NULL);
    } else if (!strcmp(kind, "choice")) {
        const json_t *o = match_option(json_object_get(step, "options"), payload, ans);
        rc = o ? accept(t, step, json_incref(json_object_get(o, "id")), str_of(o, "next"))
               : reject(t, step);
    } else {
        const json_t *v = json_object_get(step, "validate");
        json_t *value = NULL;
        if (!check(v, ans, &value)) {
            rc = reject(t, step);
        } else if (str_of(v, "condition")) { /* then the LLM's check, if any */
            json_decref(s->mapped);
            s->mapped = json_pack("{s:o,s:s}", "value", value, "answer", ans);
            json_t *ctx = run_context(t);
            json_object_set(ctx, "value", value);
            json_decref(s->ctx);
            s->ctx = ctx;
            t->env->eval(t->env->ud, t, str_of(v, "condition"), s->ctx, condition_done);
            rc = ST_ASYNC;
        } else if (json_object_get(v, "llm")) {
            json_decref(s->mapped);
            s->mapped = json_pack("{s:o,s:s}", "value", value, "answer", ans);
            rc = llm_judge(t, step, ans);
        } else {
            rc = accept(t, step, value, NULL);
        }
    }
    free(ans);
    return rc;
}
