/*
 * fake_telegram_client.h - a test's side of the fake Bot API
 * (tests/fakes/fake_telegram, run with fake_proc.h): a person writes to the
 * bot (an update the host's bot receives), and the test reads what the bot
 * sent back, through the fake's control endpoints (/_fake/...). Each call
 * fails the test (cmocka) when the fake does not answer as it should, and
 * each wait gives up after 30 s.
 */
#ifndef FAKE_TELEGRAM_CLIENT_H
#define FAKE_TELEGRAM_CLIENT_H

#include "fake_proc.h"

#include <jansson.h>
#include <stddef.h>

/* A request to the fake's control endpoints: its JSON answer (the caller's
 * to free); fails the test unless the fake answered 200. */
json_t *ftg_call(const fake_proc *f, const char *method, const char *path, const char *body);
/* The person of private chat `chat` writes `text` to the bot. */
void ftg_say(const fake_proc *f, long long chat, const char *text);
/* Every call the bot made to chat, in order ({method, params, message_id}; a
 * new array). */
json_t *ftg_calls_to(const fake_proc *f, long long chat);
/* The bot's sendMessage calls to chat (whole, in order; a new array), once
 * there are at least n. */
json_t *ftg_wait_sent(const fake_proc *f, long long chat, size_t n);
/* The same, the texts alone (a new array of strings). */
json_t *ftg_wait_texts(const fake_proc *f, long long chat, size_t n);
/* The text of the i-th call of an array ftg_wait_sent answered. */
const char *ftg_text_of(const json_t *sent, size_t i);
/* A counter of the fake's /_fake/stats (a method's calls, "pending", ...). */
long long ftg_stat(const fake_proc *f, const char *name);

#endif
