/*
 * command.c - commands at the start of a message (command.h).
 */
#include "engine/command.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#define NAME_MAX_LEN 32
#define BOT_MAX_LEN 64
#define ARGS_MAX_LEN 4096

static bool word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

json_t *command_parse(const char *text)
{
    if (!text || text[0] != '/') return NULL;
    const char *p = text + 1;
    char name[NAME_MAX_LEN + 1], bot[BOT_MAX_LEN + 1] = "";
    size_t n = 0;
    while (word_char(*p) && n < NAME_MAX_LEN)
        name[n++] = (char)tolower((unsigned char)*p++);
    name[n] = 0;
    if (!n || word_char(*p)) return NULL;
    if (*p == '@') {
        size_t b = 0;
        p++;
        while (word_char(*p) && b < BOT_MAX_LEN)
            bot[b++] = *p++;
        bot[b] = 0;
        if (!b || word_char(*p)) return NULL;
    }
    if (*p && !isspace((unsigned char)*p)) return NULL;
    while (isspace((unsigned char)*p))
        p++;
    size_t len = strlen(p);
    while (len && isspace((unsigned char)p[len - 1]))
        len--;
    if (len > ARGS_MAX_LEN) len = ARGS_MAX_LEN;
    while (len && ((unsigned char)p[len] & 0xC0) == 0x80) /* not inside a character */
        len--;
    json_t *c = json_pack("{s:s}", "name", name);
    if (bot[0]) json_object_set_new(c, "bot", json_string(bot));
    if (len) json_object_set_new(c, "args", json_stringn(p, len));
    return c;
}
