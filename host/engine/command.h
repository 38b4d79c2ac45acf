/*
 * command.h - the one command parser every channel shares: a message whose
 * text starts with a command ("/start@foo_bot ref_42") as the message
 * model's "command" ({"name": "start", "bot": "foo_bot", "args": "ref_42"};
 * docs/schemas/message.json). Names are lower-cased; the arguments are the
 * rest of the text, trimmed (a deep link's payload for /start).
 */
#ifndef AH_ENGINE_COMMAND_H
#define AH_ENGINE_COMMAND_H

#include <jansson.h>

/* The command text starts with, as a new object; NULL when it starts with
 * none (not "/", a name longer than 32 characters, or another character
 * right after the name: "/etc/hosts"). */
json_t *command_parse(const char *text);

#endif
