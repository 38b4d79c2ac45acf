/* model_gen.c - realistic documents for the data model's benchmarks, each
 * a pure function of its number: ids, times, agents, contacts and
 * conversations come out the same in every process and every run. */
#include "model.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

const uint8_t mb_key[32] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                            7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};

const char *const mb_tags[] = {"vip", "new", "b2b", "wholesale", "returning"};
const size_t mb_ntags = sizeof(mb_tags) / sizeof(mb_tags[0]);

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void mb_id(const char *prefix, int64_t ms, uint64_t seq, char *out)
{
    /* The layout of ids.c: 48 bits of time, then 80 bits (here: seq and a
     * mix of it), as 26 digits of 5 bits, the first holding 3. */
    uint8_t raw[16];
    uint64_t t = ms < 0 ? 0 : (uint64_t)ms, m = seq;
    for (int i = 5; i >= 0; i--, t >>= 8)
        raw[i] = (uint8_t)t;
    for (int i = 13; i >= 6; i--, m >>= 8)
        raw[i] = (uint8_t)m;
    uint64_t mix = seq;
    mix = mb_rand(&mix);
    raw[14] = (uint8_t)mix;
    raw[15] = (uint8_t)(mix >> 8);
    char body[27];
    for (int d = 0; d < 26; d++) {
        int bit = d * 5 - 2, v = 0;
        for (int b = 0; b < 5; b++, bit++) {
            int on = bit >= 0 && (raw[bit / 8] >> (7 - bit % 8)) & 1;
            v = v << 1 | on;
        }
        body[d] = alphabet[v];
    }
    body[26] = 0;
    sprintf(out, "%s_%s", prefix, body);
}

void mb_iso(int64_t ms, char *out)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, 25, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* ---- agents ------------------------------------------------------------------ */

void mb_agent_id(long i, char *out)
{
    mb_id("agt", MB_T0_MS - 86400000LL + i * 1000, (uint64_t)i, out);
}

json_t *mb_agent(long i)
{
    char id[64], name[64], tg[64], web[64], t[32];
    mb_agent_id(i, id);
    snprintf(name, sizeof(name), "Support bot %ld", i);
    snprintf(tg, sizeof(tg), "tg-%ld", i);
    snprintf(web, sizeof(web), "web-%ld", i);
    mb_iso(MB_T0_MS - 86400000LL + i * 1000, t);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:[s,s],s:[s,s],s:[{s:s,s:s},{s:s,s:s}],s:s,s:s,s:s,"
                     "s:s}",
                     "id", id, "name", name, "description",
                     "Answers questions about orders, delivery and returns; hands off to an "
                     "operator when asked.",
                     "status", i % 10 == 9 ? "paused" : "active", "default_language", "ru",
                     "languages", "ru", "en", "tags", "support", i % 2 ? "retail" : "b2b",
                     "channels", "instance", tg, "kind", "telegram", "instance", web, "kind",
                     "webchat", "created_at", t, "created_by", "admin", "updated_at", t,
                     "updated_by", "admin");
}

/* ---- contacts ------------------------------------------------------------------ */

static const char *const first_names[] = {"Анна",  "Иван",  "Мария",   "Пётр",  "Olga",
                                          "James", "Sofia", "Дмитрий", "Елена", "Chen"};
static const size_t nfirst = sizeof(first_names) / sizeof(first_names[0]);

int64_t mb_contact_ms(const mb_gen *g, long i)
{
    return MB_T0_MS + (int64_t)((double)i * (double)MB_SPAN_MS / (double)g->nmax);
}

int64_t mb_conv_ms(const mb_gen *g, long i)
{
    return mb_contact_ms(g, i) + 1000;
}

void mb_contact_id(const mb_gen *g, long i, char *out)
{
    mb_id("con", mb_contact_ms(g, i), (uint64_t)i, out);
}

void mb_conv_id(const mb_gen *g, long i, char *out)
{
    mb_id("cnv", mb_conv_ms(g, i), (uint64_t)i, out);
}

/* An agent: half of the traffic to the busy ones. */
static long pick_agent(uint64_t *r)
{
    uint64_t x = mb_rand(r);
    return x % 2 ? (long)(mb_rand(r) % MB_BUSY_AGENTS) : (long)(mb_rand(r) % MB_AGENTS);
}

json_t *mb_contact(const mb_gen *g, long i)
{
    uint64_t r = (uint64_t)i * 2654435761u + 11;
    char id[64], tg[32], inst[32], email[64], phone[32], first[32], last[32];
    mb_contact_id(g, i, id);
    int64_t t = mb_contact_ms(g, i);
    mb_iso(t, first);
    mb_iso(t + (int64_t)(mb_rand(&r) % (30ull * 86400000)), last);
    snprintf(tg, sizeof(tg), "%ld", 700000000L + i);
    snprintf(inst, sizeof(inst), "tg-%ld", pick_agent(&r));
    snprintf(email, sizeof(email), "customer.%ld@example.com", i);
    snprintf(phone, sizeof(phone), "+7 9%02u %03u-%02u-%02u", (unsigned)(mb_rand(&r) % 100),
             (unsigned)(mb_rand(&r) % 1000), (unsigned)(mb_rand(&r) % 100),
             (unsigned)(mb_rand(&r) % 100));
    unsigned kind = (unsigned)(mb_rand(&r) % 10); /* 0-1 webchat, 2-4 telegram + e-mail */
    json_t *ids = json_array(), *channels = json_array();
    if (kind < 2) {
        char ws[32];
        snprintf(ws, sizeof(ws), "ws-%ld", i);
        json_array_append_new(ids, json_pack("{s:s,s:s}", "channel", "webchat", "id", ws));
        json_array_append_new(channels, json_string("webchat"));
    } else {
        json_array_append_new(ids, json_pack("{s:s,s:s,s:s,s:b}", "channel", "telegram", "id", tg,
                                             "instance", inst, "verified", 1));
        json_array_append_new(channels, json_string("telegram"));
        if (kind < 5) {
            json_array_append_new(ids, json_pack("{s:s,s:s}", "channel", "email", "id", email));
            json_array_append_new(channels, json_string("email"));
        }
    }
    json_t *tags = json_array();
    for (size_t k = 0; k < mb_ntags; k++)
        if (mb_rand(&r) % 100 < 15) json_array_append_new(tags, json_string(mb_tags[k]));
    return json_pack("{s:s,s:o,s:o,s:{s:s,s:s,s:s,s:{s:s,s:i}},s:{s:b,s:b},s:o,s:s,s:s,s:s,s:s,"
                     "s:s,s:s}",
                     "id", id, "identities", ids, "channels", channels, "profile", "name",
                     first_names[mb_rand(&r) % nfirst], "phone", phone, "language",
                     kind % 3 ? "ru" : "en", "attributes", "city", "Москва", "orders",
                     (int)(mb_rand(&r) % 20), "consent", "marketing", (int)(mb_rand(&r) % 2),
                     "data_processing", 1, "tags", tags, "first_seen_at", first, "last_seen_at",
                     last, "created_at", first, "created_by", "channel:telegram", "updated_at",
                     last, "updated_by", "channel:telegram");
}

/* ---- conversations ----------------------------------------------------------------- */

static const char *const texts_in[] = {
    "Здравствуйте! Где мой заказ? Обещали доставить вчера.",
    "Номер заказа A-10423, оформляла в понедельник.",
    "Hi, can I change the delivery address for my order?",
    "Да, удобно после шести вечера.",
    "Спасибо, жду курьера.",
    "Can I pay by card on delivery?",
};
static const char *const texts_out[] = {
    "Здравствуйте! Сейчас проверю. Подскажите, пожалуйста, номер заказа.",
    "Заказ A-10423 передан в доставку, курьер приедет сегодня с 18:00 до 21:00.",
    "Of course: send me the new address and I will update the order.",
    "Хорошо, я отметил удобное время. Что-нибудь ещё?",
    "Yes, the courier accepts cards and cash.",
    "Рады помочь! Хорошего вечера.",
};
static const char *const steps[] = {"greeting", "ask_order", "status", "confirm", "done"};
static const char *const states[] = {"ended", "active", "waiting", "handed_off"};

static const char *pick_state(uint64_t *r)
{
    unsigned x = (unsigned)(mb_rand(r) % 100);
    return states[x < 70 ? 0 : x < 85 ? 1 : x < 95 ? 2 : 3];
}

static json_t *messages(uint64_t *r, int64_t t)
{
    json_t *m = json_array();
    for (int k = 0; k < 6; k++) {
        char at[32], mid[32];
        mb_iso(t + k * 45000, at);
        snprintf(mid, sizeof(mid), "m%llu", (unsigned long long)(mb_rand(r) % 1000000000));
        const char *text = k % 2 ? texts_out[mb_rand(r) % 6] : texts_in[mb_rand(r) % 6];
        json_array_append_new(m, json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", mid, "direction",
                                           k % 2 ? "out" : "in", "text", text, "at", at, "step",
                                           steps[k * 5 / 6]));
    }
    return m;
}

json_t *mb_conversation(const mb_gen *g, long i, long ncontacts)
{
    uint64_t r = (uint64_t)i * 40503u + 7;
    char id[64], agent[64], contact[64], scn[64], inst[32], chat[32], start[32], last[32];
    mb_conv_id(g, i, id);
    long a = pick_agent(&r), c = ncontacts > 0 ? (long)(mb_rand(&r) % (uint64_t)ncontacts) : 0;
    mb_agent_id(a, agent);
    mb_contact_id(g, c, contact);
    mb_id("scn", MB_T0_MS - 86400000LL, (uint64_t)a, scn);
    bool web = mb_rand(&r) % 5 == 0;
    snprintf(inst, sizeof(inst), "%s-%ld", web ? "web" : "tg", a);
    snprintf(chat, sizeof(chat), "%ld", 700000000L + c);
    int64_t t = mb_conv_ms(g, i);
    mb_iso(t, start);
    mb_iso(t + 270000 + (int64_t)(mb_rand(&r) % (3ull * 86400000)), last);
    const char *state = pick_state(&r);
    bool ended = !strcmp(state, "ended");
    return json_pack(
        "{s:s,s:s,s:s,s:{s:s,s:s,s:s},s:s,s:{s:s,s:i},s:s,s:s,s:{s:s,s:s,s:s,s:i,s:f},s:o,s:o,"
        "s:s,s:s,s:o,s:s,s:s,s:s,s:s}",
        "id", id, "agent_id", agent, "contact_id", contact, "channel", "kind",
        web ? "webchat" : "telegram", "instance", inst, "chat_id", chat, "state", state, "scenario",
        "scenario_id", scn, "version", (int)(1 + mb_rand(&r) % 5), "current_step",
        ended ? "done" : steps[mb_rand(&r) % 4], "language", mb_rand(&r) % 4 ? "ru" : "en",
        "variables", "name", first_names[mb_rand(&r) % nfirst], "order_id", "A-10423", "city",
        "Москва", "items", (int)(1 + mb_rand(&r) % 5), "total", 1287.5, "messages", messages(&r, t),
        "outcome", ended ? json_string("resolved") : json_null(), "started_at", start,
        "last_activity_at", last, "ended_at", ended ? json_string(last) : json_null(), "created_at",
        start, "created_by", "channel:telegram", "updated_at", last, "updated_by", "engine");
}
