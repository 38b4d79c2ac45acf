#include "keys.h"

#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KIND_PUBLIC "agenthost-public-key"
#define KIND_SECRET "agenthost-secret-key"

void key_id_of(const uint8_t pk[crypto_sign_PUBLICKEYBYTES], char out[KEY_ID_HEX + 1])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, pk, crypto_sign_PUBLICKEYBYTES);
    sodium_bin2hex(out, KEY_ID_HEX + 1, h, KEY_ID_HEX / 2);
}

bool key_id_valid(const char *id)
{
    if (!id || strlen(id) != KEY_ID_HEX) return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
    return true;
}

static void set_comment(char *dst, const char *comment)
{
    snprintf(dst, KEY_COMMENT_MAX, "%s", comment ? comment : "");
    /* One printable line. */
    for (char *p = dst; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
}

pkg_seckey *key_generate(const char *comment)
{
    if (sodium_init() < 0) return NULL;
    pkg_seckey *k = sodium_malloc(sizeof(*k));
    if (!k) return NULL;
    memset(k, 0, sizeof(*k));
    crypto_sign_keypair(k->pub.pk, k->sk);
    key_id_of(k->pub.pk, k->pub.id);
    set_comment(k->pub.comment, comment);
    return k;
}

void key_secret_free(pkg_seckey *k)
{
    if (k) sodium_free(k); /* zeroed by libsodium */
}

static char *b64(const uint8_t *p, size_t n)
{
    size_t len = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(len);
    if (s) sodium_bin2base64(s, len, p, n, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

static int unb64(const char *s, uint8_t *out, size_t want)
{
    size_t got = 0;
    const char *end;
    if (!s ||
        sodium_base642bin(out, want, s, strlen(s), NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got != want || *end)
        return -1;
    return 0;
}

char *key_public_text(const pkg_pubkey *k)
{
    char *pk = b64(k->pk, sizeof(k->pk));
    if (!pk) return NULL;
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "kind", KIND_PUBLIC, "algorithm", "ed25519",
                          "key_id", k->id, "comment", k->comment, "public_key", pk);
    free(pk);
    char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return text;
}

/* Create path exclusively with mode and write text plus a newline. */
static int write_new(const char *path, const char *text, unsigned mode, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path,
                 errno == EEXIST ? "already exists; not replacing it" : strerror(errno));
        return -1;
    }
    size_t len = strlen(text);
    bool ok = fchmod(fd, mode) == 0 && write(fd, text, len) == (ssize_t)len &&
              write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    int e = errno;
    if (close(fd) < 0) ok = false;
    if (!ok) {
        unlink(path);
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(e));
        return -1;
    }
    return 0;
}

int key_write_public(const char *path, const pkg_pubkey *k, char *err, size_t errlen)
{
    char *text = key_public_text(k);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = write_new(path, text, 0644, err, errlen);
    free(text);
    return rc;
}

int key_write_secret(const char *path, const pkg_seckey *k, char *err, size_t errlen)
{
    char *sk = b64(k->sk, sizeof(k->sk));
    json_t *o = sk ? json_pack("{s:s,s:s,s:s,s:s,s:s}", "kind", KIND_SECRET, "algorithm", "ed25519",
                               "key_id", k->pub.id, "comment", k->pub.comment, "secret_key", sk)
                   : NULL;
    char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    int rc = -1;
    if (text)
        rc = write_new(path, text, 0600, err, errlen);
    else
        snprintf(err, errlen, "out of memory");
    if (sk) sodium_memzero(sk, strlen(sk));
    if (text) sodium_memzero(text, strlen(text));
    free(sk);
    free(text);
    json_decref(o); /* jansson's copy of the base64 is not wiped: a known limit */
    return rc;
}

/* Parse the common frame of a key file: kind, algorithm, key_id, comment,
 * and the named base64 field. */
static json_t *parse_frame(const char *path, const char *text, size_t len, const char *kind,
                           const char *field, char *err, size_t errlen)
{
    if (len > KEY_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %d bytes: not a key file", path, KEY_FILE_MAX);
        return NULL;
    }
    json_error_t je;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(o)) {
        snprintf(err, errlen, "%s: not an agenthost key file (invalid JSON)", path);
        json_decref(o);
        return NULL;
    }
    const char *k = json_string_value(json_object_get(o, "kind"));
    const char *why = NULL;
    if (!k)
        why = "kind: missing: not an agenthost key file";
    else if (strcmp(k, kind) != 0)
        why = !strcmp(k, KIND_SECRET)   ? "this is a secret key; give the .pub file"
              : !strcmp(k, KIND_PUBLIC) ? "this is a public key; signing needs the secret key"
                                        : "kind: not an agenthost key file";
    else if (!json_is_string(json_object_get(o, "algorithm")) ||
             strcmp(json_string_value(json_object_get(o, "algorithm")), "ed25519") != 0)
        why = "algorithm: only ed25519 is supported";
    else if (!key_id_valid(json_string_value(json_object_get(o, "key_id"))))
        why = "key_id: expected 16 lower-case hex digits";
    else if (!json_is_string(json_object_get(o, field)))
        why = !strcmp(field, "public_key") ? "public_key: missing" : "secret_key: missing";
    else if (json_object_get(o, "comment") && !json_is_string(json_object_get(o, "comment")))
        why = "comment: expected a string";
    if (why) {
        snprintf(err, errlen, "%s: %s", path, why);
        json_decref(o);
        return NULL;
    }
    return o;
}

int key_parse_public(const char *path, const char *text, size_t len, pkg_pubkey *out, char *err,
                     size_t errlen)
{
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return -1;
    }
    json_t *o = parse_frame(path, text, len, KIND_PUBLIC, "public_key", err, errlen);
    if (!o) return -1;
    memset(out, 0, sizeof(*out));
    int rc = -1;
    if (unb64(json_string_value(json_object_get(o, "public_key")), out->pk, sizeof(out->pk)) < 0) {
        snprintf(err, errlen, "%s: public_key: expected the base64 of 32 bytes", path);
    } else {
        key_id_of(out->pk, out->id);
        if (strcmp(out->id, json_string_value(json_object_get(o, "key_id"))) != 0) {
            snprintf(err, errlen, "%s: key_id %s does not match the key (%s): the file is damaged",
                     path, json_string_value(json_object_get(o, "key_id")), out->id);
        } else {
            set_comment(out->comment, json_string_value(json_object_get(o, "comment")));
            rc = 0;
        }
    }
    json_decref(o);
    return rc;
}

int key_load_public(const char *path, pkg_pubkey *out, char *err, size_t errlen)
{
    size_t len;
    char *text = ah_read_file(path, KEY_FILE_MAX, &len);
    if (!text) {
        snprintf(err, errlen, "%s: %s", path,
                 errno == EFBIG ? "larger than 4096 bytes: not a key file" : strerror(errno));
        return -1;
    }
    int rc = key_parse_public(path, text, len, out, err, errlen);
    free(text);
    return rc;
}

pkg_seckey *key_load_secret(const char *path, char *err, size_t errlen)
{
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return NULL;
    }
    size_t len;
    char *text = ah_read_file(path, KEY_FILE_MAX, &len);
    if (!text) {
        snprintf(err, errlen, "%s: %s", path,
                 errno == EFBIG ? "larger than 4096 bytes: not a key file" : strerror(errno));
        return NULL;
    }
    json_t *o = parse_frame(path, text, len, KIND_SECRET, "secret_key", err, errlen);
    sodium_memzero(text, len);
    free(text);
    if (!o) return NULL;
    struct stat st;
    if (stat(path, &st) < 0 || (st.st_mode & 077)) {
        snprintf(err, errlen,
                 "%s: permissions %04o let others read the secret key; chmod 600 it first", path,
                 (unsigned)(st.st_mode & 07777));
        json_decref(o);
        return NULL;
    }
    pkg_seckey *k = sodium_malloc(sizeof(*k));
    if (!k) {
        json_decref(o);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memset(k, 0, sizeof(*k));
    const char *why = NULL;
    if (unb64(json_string_value(json_object_get(o, "secret_key")), k->sk, sizeof(k->sk)) < 0) {
        why = "secret_key: expected the base64 of 64 bytes";
    } else {
        crypto_sign_ed25519_sk_to_pk(k->pub.pk, k->sk);
        key_id_of(k->pub.pk, k->pub.id);
        if (strcmp(k->pub.id, json_string_value(json_object_get(o, "key_id"))) != 0)
            why = "key_id does not match the key: the file is damaged";
        set_comment(k->pub.comment, json_string_value(json_object_get(o, "comment")));
    }
    json_decref(o);
    if (why) {
        snprintf(err, errlen, "%s: %s", path, why);
        key_secret_free(k);
        return NULL;
    }
    return k;
}
