#include "master_key.h"

#include "util.h"

#include <agenthost/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ID_TEXT "agenthost master key id/1"

int master_key_read(const char *path, unsigned char key[MASTER_KEY_BYTES], char *err, size_t errlen)
{
    size_t len;
    char *text = ah_read_file(path, 256, &len);
    if (!text) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot read the master key: %s", path, strerror(e));
        return e == ENOENT ? AH_ENOTFOUND : AH_EIO;
    }
    int rc = 0;
    struct stat st;
    size_t bin_len = 0;
    if (stat(path, &st) == 0 && (st.st_mode & 077)) {
        snprintf(err, errlen,
                 "%s: the master key must not be readable by group or others (chmod 600)", path);
        rc = AH_EDENIED;
    } else if (len == MASTER_KEY_BYTES) {
        memcpy(key, text, MASTER_KEY_BYTES);
    } else if (sodium_hex2bin(key, MASTER_KEY_BYTES, text, len, " \r\n", &bin_len, NULL) != 0 ||
               bin_len != MASTER_KEY_BYTES) {
        snprintf(err, errlen, "%s: a master key is 32 bytes or 64 hex digits", path);
        rc = AH_EINVAL;
    }
    sodium_memzero(text, len);
    free(text);
    return rc;
}

int master_key_create(const char *path, unsigned char key[MASTER_KEY_BYTES], char *err,
                      size_t errlen)
{
    char hex[2 * MASTER_KEY_BYTES + 2];
    randombytes_buf(key, MASTER_KEY_BYTES);
    sodium_bin2hex(hex, sizeof(hex) - 1, key, MASTER_KEY_BYTES);
    strcat(hex, "\n");
    int rc = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        /* Another process made it a moment ago: that one is the key. */
        sodium_memzero(hex, sizeof(hex));
        return master_key_read(path, key, err, errlen);
    }
    if (fd < 0 || write(fd, hex, sizeof(hex) - 1) != (ssize_t)sizeof(hex) - 1 || fsync(fd) < 0) {
        snprintf(err, errlen, "%s: cannot create the master key: %s", path, strerror(errno));
        rc = AH_EIO;
        if (fd >= 0) unlink(path);
    }
    if (fd >= 0) close(fd);
    sodium_memzero(hex, sizeof(hex));
    if (rc) sodium_memzero(key, MASTER_KEY_BYTES);
    return rc;
}

void master_key_id(const unsigned char key[MASTER_KEY_BYTES], char out[MASTER_KEY_ID_HEX + 1])
{
    unsigned char h[MASTER_KEY_ID_HEX / 2];
    crypto_generichash(h, sizeof(h), (const unsigned char *)ID_TEXT, strlen(ID_TEXT), key,
                       MASTER_KEY_BYTES);
    sodium_bin2hex(out, MASTER_KEY_ID_HEX + 1, h, sizeof(h));
}
