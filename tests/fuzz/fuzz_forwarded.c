/*
 * Fuzz target: X-Forwarded-For behind trusted proxies (http/forwarded.h).
 * The input's first line is the trusted list, the rest the header; the
 * peer is 127.0.0.1 or ::1. Beyond the sanitizers, it traps when the
 * result is not an address, or an address not written in the input.
 */
#include "http/forwarded.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2048) return 0;
    char buf[2049];
    memcpy(buf, data, size);
    buf[size] = 0;
    if (strlen(buf) != size) return 0;
    char *nl = strchr(buf, '\n');
    const char *trusted = buf, *xff = nl ? nl + 1 : NULL;
    if (nl) *nl = 0;
    char ip[64];
    snprintf(ip, sizeof(ip), "%s", size % 2 ? "::1" : "127.0.0.1");
    forwarded_pick(trusted, xff, ip, sizeof(ip));
    unsigned char a[16];
    if (inet_pton(AF_INET, ip, a) != 1 && inet_pton(AF_INET6, ip, a) != 1) __builtin_trap();
    if (strcmp(ip, "::1") && strcmp(ip, "127.0.0.1") && (!xff || !strstr(xff, ip)))
        __builtin_trap();
    return 0;
}
