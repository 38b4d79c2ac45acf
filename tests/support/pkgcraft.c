#include "pkgcraft.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sysmacros.h>
#include <string.h>
#include <unistd.h>

typedef struct digest {
    const char *path;
    char hex[65];
} digest;

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        *len = (size_t)n;
    }
    return buf;
}

/* The entry's bytes (malloc'd) for files. */
static uint8_t *bytes_of(const craft_entry *e, size_t *len)
{
    if (e->from) return (uint8_t *)slurp(e->from, len);
    if (e->zeros) {
        *len = (size_t)e->zeros;
        return calloc(1, *len ? *len : 1);
    }
    *len = e->data ? strlen(e->data) : 0;
    uint8_t *p = malloc(*len + 1);
    if (p && *len) memcpy(p, e->data, *len);
    return p;
}

static int cmp_digest(const void *a, const void *b)
{
    return strcmp(((const digest *)a)->path, ((const digest *)b)->path);
}

static char *digest_list(const craft_entry *e, size_t n)
{
    digest *d = calloc(n ? n : 1, sizeof(*d));
    size_t k = 0, len = 1;
    for (size_t i = 0; i < n; i++) {
        if (e[i].type != CRAFT_FILE) continue;
        size_t blen;
        uint8_t *b = bytes_of(&e[i], &blen), h[32];
        crypto_hash_sha256(h, b, blen);
        free(b);
        d[k].path = e[i].path;
        sodium_bin2hex(d[k].hex, sizeof(d[k].hex), h, sizeof(h));
        len += 66 + strlen(e[i].path) + 1;
        k++;
    }
    qsort(d, k, sizeof(*d), cmp_digest);
    char *out = malloc(len), *p = out;
    *p = 0;
    for (size_t i = 0; i < k; i++)
        p += sprintf(p, "%s  %s\n", d[i].hex, d[i].path);
    free(d);
    return out;
}

static char *signature_json(const char *keyfile, const char *list, bool corrupt)
{
    size_t klen;
    char *text = slurp(keyfile, &klen);
    json_t *k = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    uint8_t sk[crypto_sign_SECRETKEYBYTES], sig[crypto_sign_BYTES];
    size_t got = 0;
    const char *b64 = json_string_value(json_object_get(k, "secret_key"));
    if (!b64 || sodium_base642bin(sk, sizeof(sk), b64, strlen(b64), NULL, &got, NULL,
                                  sodium_base64_VARIANT_ORIGINAL) != 0) {
        fprintf(stderr, "pkgcraft: %s: not a secret key\n", keyfile);
        json_decref(k);
        return NULL;
    }
    static const char head[] = "agenthost-package/1\n";
    size_t mlen = strlen(head) + strlen(list);
    char *m = malloc(mlen + 1);
    strcpy(m, head);
    strcat(m, list);
    crypto_sign_detached(sig, NULL, (uint8_t *)m, mlen, sk);
    free(m);
    sodium_memzero(sk, sizeof(sk));
    if (corrupt) sig[7] ^= 0x10;
    char sb[sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(sb, sizeof(sb), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
    json_t *o = json_pack("{s:s,s:s,s:s,s:O,s:s,s:s}", "format", "agenthost-package/1", "algorithm",
                          "ed25519", "digest", "sha256", "key_id", json_object_get(k, "key_id"),
                          "files", list, "signature", sb);
    char *out = json_dumps(o, JSON_INDENT(2));
    json_decref(o);
    json_decref(k);
    return out;
}

static int write_entry(struct archive *a, struct archive_entry *ae, const craft_entry *e)
{
    archive_entry_clear(ae);
    archive_entry_set_pathname(ae, e->path);
    archive_entry_set_mtime(ae, 0, 0);
    switch (e->type) {
    case CRAFT_DIR:
        archive_entry_set_filetype(ae, AE_IFDIR);
        archive_entry_set_perm(ae, 0755);
        return archive_write_header(a, ae) == ARCHIVE_OK ? 0 : -1;
    case CRAFT_SYMLINK:
        archive_entry_set_filetype(ae, AE_IFLNK);
        archive_entry_set_perm(ae, 0777);
        archive_entry_set_symlink(ae, e->target);
        return archive_write_header(a, ae) == ARCHIVE_OK ? 0 : -1;
    case CRAFT_HARDLINK:
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_perm(ae, 0644);
        archive_entry_set_hardlink(ae, e->target);
        archive_entry_set_size(ae, 0);
        return archive_write_header(a, ae) == ARCHIVE_OK ? 0 : -1;
    case CRAFT_CHARDEV:
        archive_entry_set_filetype(ae, AE_IFCHR);
        archive_entry_set_perm(ae, 0666);
        archive_entry_set_rdev(ae, makedev(1, 3));
        return archive_write_header(a, ae) == ARCHIVE_OK ? 0 : -1;
    case CRAFT_FILE:
        break;
    }
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_perm(ae, 0644);
    if (e->zeros) {
        archive_entry_set_size(ae, (la_int64_t)e->zeros);
        if (archive_write_header(a, ae) != ARCHIVE_OK) return -1;
        static const uint8_t z[65536];
        for (uint64_t left = e->zeros; left;) {
            size_t n = left < sizeof(z) ? (size_t)left : sizeof(z);
            if (archive_write_data(a, z, n) != (la_ssize_t)n) return -1;
            left -= n;
        }
        return 0;
    }
    size_t len;
    uint8_t *b = bytes_of(e, &len);
    if (!b) return -1;
    archive_entry_set_size(ae, (la_int64_t)len);
    int rc = archive_write_header(a, ae) == ARCHIVE_OK &&
                     (len == 0 || archive_write_data(a, b, len) == (la_ssize_t)len)
                 ? 0
                 : -1;
    free(b);
    return rc;
}

int craft_package(const char *out, const craft_entry *e, size_t n, const craft_opts *o)
{
    if (sodium_init() < 0) return -1;
    char *sig = NULL;
    if (o && o->key) {
        const craft_entry *se = o->signed_entries ? o->signed_entries : e;
        size_t sn = o->signed_entries ? o->nsigned : n;
        char *list = digest_list(se, sn);
        sig = signature_json(o->key, list, o->corrupt_signature);
        free(list);
        if (!sig) return -1;
    }
    craft_container shape = o ? o->container : CRAFT_TAR_GZ;
    size_t sig_at = !o ? 0 : o->signature_after < n ? o->signature_after : n;
    struct archive *a = archive_write_new();
    struct archive_entry *ae = archive_entry_new();
    if (shape != CRAFT_PLAIN_TAR) archive_write_add_filter_gzip(a);
    if (shape == CRAFT_GZIP_TWICE) archive_write_add_filter_gzip(a);
    if (shape == CRAFT_GNU_TAR_GZ)
        archive_write_set_format_gnutar(a);
    else
        archive_write_set_format_pax_restricted(a);
    if (shape != CRAFT_PLAIN_TAR) archive_write_set_options(a, "gzip:compression-level=1");
    int rc = archive_write_open_filename(a, out) == ARCHIVE_OK ? 0 : -1;
    craft_entry s = {.path = "signature.json", .type = CRAFT_FILE, .data = sig};
    for (size_t i = 0; rc == 0 && i <= n; i++) {
        if (sig && i == sig_at) rc = write_entry(a, ae, &s);
        if (rc == 0 && i < n) rc = write_entry(a, ae, &e[i]);
    }
    if (rc == 0 && archive_write_close(a) != ARCHIVE_OK) rc = -1;
    if (rc) fprintf(stderr, "pkgcraft: %s: %s\n", out, archive_error_string(a));
    archive_write_free(a);
    archive_entry_free(ae);
    free(sig);
    return rc;
}
