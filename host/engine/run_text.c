/*
 * run_text.c - what a turn says: templates rendered in the conversation's
 * language (a missing translation told once), the leaves of a step's
 * arguments, buttons, and the messages sent. See run_priv.h.
 */
#include "engine/run_priv.h"

#include "core/util.h"
#include "engine/lang.h"
#include "engine/template.h"

#include <agenthost/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

char *run_render(run_turn *t, const json_t *text, const char *what, st_rc *rc)
{
    *rc = ST_NEXT;
    const char *src = NULL;
    size_t len = 0;
    bool fell_back = false;
    char err[256] = "";
    const char *want = run_lang(t), *dflt = str_of(t->scenario, "default_language");
    if (lang_pick(text, want, dflt, &src, &len, &fell_back, err, sizeof(err)) != 0) {
        *rc = run_fail(t, "template", "%s: %s", what, err);
        return NULL;
    }
    if (fell_back && t->env->missing_text) {
        char path[200];
        snprintf(path, sizeof(path), "steps.%s.%s", t->st->cur ? t->st->cur : "", what);
        t->env->missing_text(t->env->ud, t, path, want);
    }
    tmpl *tp = NULL;
    tmpl_error te;
    char *out = NULL;
    size_t olen = 0;
    json_t *ctx = NULL;
    tmpl_opts o = {.lang = want};
    if (tmpl_compile(src, len, &tp, &te) == 0) {
        ctx = run_context(t);
        tmpl_render(tp, ctx, &o, &out, &olen, &te);
    }
    tmpl_free(tp);
    json_decref(ctx);
    if (!out) {
        char msg[400];
        tmpl_error_format(&te, what, msg, sizeof(msg));
        *rc = run_fail(t, "template", "%s", msg);
    }
    return out;
}

json_t *run_render_leaves(run_turn *t, const json_t *v, const char *what, st_rc *rc)
{
    *rc = ST_NEXT;
    if (json_is_string(v)) {
        char *s = run_render(t, v, what, rc);
        if (!s) return NULL;
        json_t *j = json_string(s);
        free(s);
        return j ? j : json_string("");
    }
    if (json_is_array(v)) {
        json_t *out = json_array();
        size_t i;
        const json_t *x;
        json_array_foreach(v, i, x)
        {
            json_t *r = run_render_leaves(t, x, what, rc);
            if (!r) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, r);
        }
        return out;
    }
    if (json_is_object(v)) {
        json_t *out = json_object();
        const char *k;
        const json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            json_t *r = run_render_leaves(t, x, what, rc);
            if (!r) {
                json_decref(out);
                return NULL;
            }
            json_object_set_new(out, k, r);
        }
        return out;
    }
    return json_incref((json_t *)v);
}

json_t *run_buttons(run_turn *t, const json_t *buttons, st_rc *rc)
{
    *rc = ST_NEXT;
    if (!json_array_size(buttons)) return NULL;
    json_t *out = json_array();
    size_t i;
    const json_t *b;
    json_array_foreach(buttons, i, b)
    {
        char *label = run_render(t, json_object_get(b, "label"), "buttons.label", rc);
        if (!label) break;
        json_t *o = json_pack("{s:s}", "label", label);
        free(label);
        if (str_of(b, "payload")) json_object_set(o, "payload", json_object_get(b, "payload"));
        if (json_object_get(b, "url")) {
            char *url = run_render(t, json_object_get(b, "url"), "buttons.url", rc);
            if (!url) {
                json_decref(o);
                break;
            }
            json_object_set_new(o, "url", json_string(url));
            free(url);
        }
        json_array_append_new(out, o);
    }
    if (*rc != ST_NEXT) {
        json_decref(out);
        return NULL;
    }
    return out;
}

void run_say(run_turn *t, char *text, json_t *buttons, json_t *attachments)
{
    json_t *m = json_object();
    if (text) json_object_set_new(m, "text", json_string(text));
    if (buttons) json_object_set_new(m, "buttons", buttons);
    if (attachments) json_object_set_new(m, "attachments", attachments);
    if (t->st->cur) json_object_set_new(m, "step", json_string(t->st->cur));
    json_array_append(t->messages, m);
    json_t *kept = json_pack("{s:s,s:s}", "direction", "out", "text", text ? text : "");
    ah_json_set_time(kept, "at", t->now_ms);
    if (t->st->cur) json_object_set_new(kept, "step", json_string(t->st->cur));
    if (json_object_get(m, "attachments"))
        json_object_set(kept, "attachments", json_object_get(m, "attachments"));
    if (json_array_size(json_object_get(m, "buttons")))
        json_object_set(kept, "buttons", json_object_get(m, "buttons"));
    run_keep_message(t, kept);
    /* The same number on the message sent: the commit names the kept one
     * with the platform's id (a failover finds it by that id). */
    json_object_set(m, "seq", json_object_get(kept, "seq"));
    json_decref(m);
    free(text);
}
